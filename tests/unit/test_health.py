"""Health verdicts from literal status sequences and times (kcplan.apply.health's pure decision logic)."""

from __future__ import annotations

import pytest

from kcplan.apply import health
from kcplan.apply.health import Expectation, Judge, Quiet, assess, between_generations
from kcplan.connect.models import ConnectorStatus, TaskStatus
from kcplan.errors import ConnectionFailed

TRACE = ("org.apache.kafka.common.config.ConfigException: Invalid value bogus for configuration acks\n"
         "\tat X.y(X.java:1)\n")


def task(id_: int, state: str, worker: str = "w1:8083", trace: str | None = None) -> TaskStatus:
    return TaskStatus(id=id_, state=state, worker_id=worker, trace=trace)


def st(state: str | None, *tasks: TaskStatus, worker: str = "w1:8083", trace: str | None = None) -> ConnectorStatus:
    return ConnectorStatus(name="c", state=state, worker_id=worker, trace=trace, tasks=tasks)


RUNNING_1 = st("RUNNING", task(0, "RUNNING"))
FAILED_1 = st("RUNNING", task(0, "FAILED", trace=TRACE))
UNASSIGNED_1 = st("RUNNING", task(0, "UNASSIGNED"))


def judge(action: str, state: str = "RUNNING", written_at: float = 10.0, settle: float = 10.0) -> Judge:
    return Judge(Expectation("c", state, action, written_at), settle=settle)  # type: ignore[arg-type]


def feed(j: Judge, polls: list[tuple[float, ConnectorStatus | None]], quiet_since: float | None = None,
         ) -> list[tuple[float, str | None]]:
    """Observe each (t, seen) and decide right away (the cluster changed at every poll unless
    ``quiet_since`` says otherwise); returns the verdicts, None = keep polling."""
    out = []
    for t, seen in polls:
        j.observe(t, seen)
        verdict = j.decide(t, t if quiet_since is None else quiet_since)
        out.append((t, verdict.verdict if verdict else None))
    return out


@pytest.mark.parametrize(("desired", "seen", "expected"), [
    ("RUNNING", RUNNING_1, "reached"),
    ("RUNNING", st("RUNNING"), "pending"),  # tasks: [] is not healthy
    ("RUNNING", st("RUNNING", task(0, "RUNNING"), task(1, "UNASSIGNED")), "pending"),
    ("RUNNING", st("RUNNING", task(0, "RUNNING"), task(1, "FAILED")), "failed"),  # connector stays RUNNING
    ("RUNNING", st("FAILED", trace=TRACE), "failed"),
    ("RUNNING", st(None), "pending"),
    ("RUNNING", None, "pending"),
    ("RUNNING", st("PAUSED", task(0, "PAUSED")), "pending"),
    ("PAUSED", st("PAUSED", task(0, "PAUSED")), "reached"),
    ("PAUSED", st("PAUSED"), "reached"),
    ("PAUSED", st("PAUSED", task(0, "RUNNING")), "pending"),  # tasks pause a moment after the connector
    ("PAUSED", st("PAUSED", task(0, "FAILED")), "failed"),
    ("STOPPED", st("STOPPED"), "reached"),
    ("STOPPED", st("STOPPED", task(0, "RUNNING")), "pending"),  # tasks go after the next rebalance
    ("STOPPED", st("STOPPED", task(0, "FAILED", trace=TRACE)), "pending"),  # ... failed ones too
    ("ABSENT", None, "reached"),
    ("ABSENT", RUNNING_1, "pending"),
    ("ABSENT", FAILED_1, "pending"),
])
def test_assess(desired: str, seen: ConnectorStatus | None, expected: str) -> None:
    assert assess(desired, seen) == expected


def test_pictures_between_generations() -> None:
    assert between_generations(None)
    assert between_generations(st(None))
    assert between_generations(st("RUNNING"))
    assert between_generations(UNASSIGNED_1)
    assert between_generations(st("RESTARTING", task(0, "RUNNING")))
    assert not between_generations(RUNNING_1)
    assert not between_generations(FAILED_1)
    assert not between_generations(st("PAUSED", task(0, "PAUSED")))


def test_create_is_healthy_once_running_held_over_two_polls() -> None:
    j = judge("create")
    assert feed(j, [(11, None), (12, st("RUNNING")), (13, RUNNING_1), (14, RUNNING_1), (15, RUNNING_1)]) == [
        (11, None), (12, None), (13, None), (14, None), (15, "healthy")]
    result = j.decide(15, 15)
    assert result is not None
    assert (result.state, result.tasks_running, result.tasks_total, result.failures, result.detail) == (
        "RUNNING", 1, 1, (), "")


def test_create_failed_task_is_final_at_once_with_trace_and_worker() -> None:
    j = judge("create")
    j.observe(11, st("RUNNING", task(0, "RUNNING"), task(1, "FAILED", worker="w2:8083", trace=TRACE)))
    result = j.decide(11, 11)
    assert result is not None
    assert (result.verdict, result.tasks_running, result.tasks_total, result.detail) == ("failed", 1, 2,
                                                                                         "task 1 FAILED")
    assert result.failures == (health.Failure("1", "w2:8083", TRACE),)
    assert result.failures[0].first_line == (
        "org.apache.kafka.common.config.ConfigException: Invalid value bogus for configuration acks")


def test_update_stale_old_generation_running_is_not_healthy() -> None:
    """Distributed: after an update the OLD task shows RUNNING until it is stopped (here for 5 polls
    while the cluster is busy), then UNASSIGNED through the rebalance, then the new task FAILS."""
    j = judge("update")
    verdicts = feed(j, [(11, RUNNING_1), (12, RUNNING_1), (13, RUNNING_1), (14, RUNNING_1), (15, RUNNING_1),
                        (16, UNASSIGNED_1), (21, FAILED_1)])
    assert verdicts == [(11, None), (12, None), (13, None), (14, None), (15, None), (16, None), (21, "failed")]


def test_update_stale_failed_from_previous_generation_is_not_failed() -> None:
    """A FAILED task is not rewritten to UNASSIGNED: the old FAILED stays until the new task runs."""
    j = judge("update")
    verdicts = feed(j, [(11, FAILED_1), (12, FAILED_1), (13, FAILED_1), (17, RUNNING_1), (18, RUNNING_1),
                        (19, RUNNING_1)])
    assert verdicts == [(11, None), (12, None), (13, None), (17, None), (18, None), (19, "healthy")]


def test_fix_is_not_failed_on_the_old_task_next_to_the_restarting_connector() -> None:
    """Apache Kafka restarts the connector before its tasks: its own UNASSIGNED is listed next to the OLD
    FAILED task (docs/health.md, measured on 3.9.2 and 4.3.1). Only a change of the tasks proves them new."""
    j = judge("update")
    old_failed = st("UNASSIGNED", task(0, "FAILED", trace=TRACE))
    verdicts = feed(j, [(11, old_failed), (12, FAILED_1), (13, RUNNING_1), (14, RUNNING_1), (15, RUNNING_1)])
    assert verdicts == [(11, None), (12, None), (13, None), (14, None), (15, "healthy")]


def test_update_failing_after_task_turnover_is_failed_at_once() -> None:
    j = judge("update")
    verdicts = feed(j, [(11, st("UNASSIGNED", task(0, "RUNNING"))), (12, UNASSIGNED_1), (13, FAILED_1)])
    assert verdicts == [(11, None), (12, None), (13, "failed")]


def test_connector_failing_after_its_own_turnover_is_failed_at_once() -> None:
    """The connector's own status is rewritten by the new generation: its FAILED after UNASSIGNED is new."""
    j = judge("update")
    verdicts = feed(j, [(11, st("UNASSIGNED", task(0, "RUNNING"))),
                        (12, st("FAILED", task(0, "RUNNING"), trace=TRACE))])
    assert verdicts == [(11, None), (12, "failed")]


def test_update_without_turnover_is_judged_after_a_quiet_settle_window() -> None:
    """Standalone applies the update inside the PUT: the first status is already the new one, but
    nothing shows it. The picture counts once the whole cluster stayed unchanged for ``settle`` s."""
    j = judge("update", written_at=10.0, settle=10.0)
    verdicts = feed(j, [(t, RUNNING_1) for t in (11, 12, 15, 19, 20, 21)], quiet_since=11.0)
    assert verdicts == [(11, None), (12, None), (15, None), (19, None), (20, None), (21, "healthy")]


def test_update_settle_window_counts_from_the_last_change_on_the_cluster() -> None:
    j = judge("update", written_at=10.0, settle=10.0)
    for t in (11, 12, 13):
        j.observe(t, FAILED_1)
    assert j.decide(21, quiet_since=12.0) is None  # something changed at 12: 9 s of quiet only
    result = j.decide(22, quiet_since=12.0)
    assert result is not None and result.verdict == "failed"


def test_update_never_quiet_and_no_turnover_expires_unverified() -> None:
    j = judge("update", written_at=10.0)
    feed(j, [(t, RUNNING_1) for t in range(11, 40)])
    result = j.expire(40)
    assert (result.verdict, result.state, result.tasks_running) == ("unverified", "RUNNING", 1)
    assert result.detail == ("looks healthy, but no restart was seen since the update and the cluster never "
                             "stayed quiet long enough: the status may predate the change; 30 s after the write")


def test_polls_sent_before_the_write_returned_do_not_count() -> None:
    j = judge("create", written_at=10.0)
    j.observe(9.5, RUNNING_1)
    assert not j.observed
    assert j.decide(30, 0) is None


def test_replace_waits_past_stale_absence_and_stale_task() -> None:
    """Replace = delete + create: not listed for a while, then the old task's UNASSIGNED, then new."""
    j = judge("replace")
    verdicts = feed(j, [(11, None), (15, st("RUNNING", task(0, "UNASSIGNED", worker="w2:8083"))),
                        (20, st("RUNNING")), (25, RUNNING_1), (26, RUNNING_1), (27, RUNNING_1)])
    assert verdicts[-1] == (27, "healthy")
    assert [v for _, v in verdicts[:-1]] == [None] * 5


def test_delete_absent_is_healthy() -> None:
    j = judge("delete", state="ABSENT")
    assert feed(j, [(11, RUNNING_1), (12, None)]) == [(11, None), (12, "healthy")]
    result = j.decide(12, 12)
    assert result is not None and (result.state, result.tasks_total) == ("ABSENT", 0)


def test_delete_still_listed_at_deadline() -> None:
    j = judge("delete", state="ABSENT")
    feed(j, [(11, RUNNING_1)])
    assert j.expire(20).detail == "still listed (RUNNING, tasks: 1 RUNNING); 10 s after the write"


def test_pause_waits_for_the_tasks() -> None:
    j = judge("pause", state="PAUSED")
    verdicts = feed(j, [(11, st("PAUSED", task(0, "RUNNING"))), (12, st("PAUSED", task(0, "PAUSED"))),
                        (13, st("PAUSED", task(0, "PAUSED"))), (14, st("PAUSED", task(0, "PAUSED")))])
    assert verdicts == [(11, None), (12, None), (13, None), (14, "healthy")]


def test_stop_needs_the_tasks_gone() -> None:
    j = judge("stop", state="STOPPED")
    assert feed(j, [(11, st("STOPPED", task(0, "RUNNING"))), (16, st("STOPPED"))]) == [(11, None), (16, "healthy")]


def test_resume_running_is_judged_on_sight() -> None:
    j = judge("resume")
    assert feed(j, [(11, st("RUNNING", task(0, "PAUSED"))), (12, RUNNING_1), (14, RUNNING_1)]) == [
        (11, None), (12, None), (14, "healthy")]


@pytest.mark.parametrize(("seen", "detail"), [
    (None, "not listed (no status reported yet); 20 s after the write"),
    (st(None), "no status reported yet; 20 s after the write"),
    (st("RUNNING"), "RUNNING, no tasks; 20 s after the write"),
    (st("RUNNING", task(0, "RUNNING"), task(1, "UNASSIGNED"), task(2, "UNASSIGNED")),
     "RUNNING, tasks: 1 RUNNING, 2 UNASSIGNED; 20 s after the write"),
])
def test_unverified_says_what_was_seen_last(seen: ConnectorStatus | None, detail: str) -> None:
    j = judge("create")
    j.observe(11, seen)
    result = j.expire(30)
    assert (result.verdict, result.detail) == ("unverified", detail)


def test_unverified_when_no_poll_worked() -> None:
    result = judge("create").expire(30, problem="no Connect worker answered")
    assert result.detail == "could not read the status (no Connect worker answered); 20 s after the write"
    assert result.state is None


def test_after_a_restart_only_later_statuses_count() -> None:
    j = judge("create")
    j.observe(11, FAILED_1)
    first = j.decide(11, 11)
    assert first is not None and first.verdict == "failed"
    j.rearm(12.0, "task 0")
    j.observe(11.5, RUNNING_1)  # sent before the restart: ignored
    j.observe(13, FAILED_1)  # the same FAILED: maybe not restarted yet
    assert j.decide(13, 13) is None
    j.observe(14, st("RUNNING", task(0, "RESTARTING")))
    j.observe(15, FAILED_1)
    again = j.decide(15, 15)
    assert again is not None
    assert (again.verdict, again.restarted, again.detail) == (
        "failed", True, "task 0 FAILED again after kcplan restarted task 0 once")


def test_quiet_tracks_the_last_change_anywhere() -> None:
    q = Quiet()
    other = ConnectorStatus(name="other", state="RUNNING", tasks=(task(0, "RUNNING"),))
    assert q.observe(1, {"c": RUNNING_1, "other": other}) == 1
    assert q.observe(2, {"c": RUNNING_1, "other": other}) == 1
    moved = ConnectorStatus(name="other", state="RUNNING", tasks=(task(0, "RUNNING", worker="w2:8083"),))
    assert q.observe(3, {"c": RUNNING_1, "other": moved}) == 3
    assert q.observe(4, {"c": RUNNING_1}) == 4  # a connector disappeared
    assert q.observe(5, {"c": RUNNING_1}) == 4


# -- the polling loop, with a scripted status source and a fake clock ----------------------------------


class Script:
    """Answers statuses() from a list (one entry per poll; an exception is raised); records restarts."""

    def __init__(self, answers: list[dict[str, ConnectorStatus] | Exception], clock: FakeClock) -> None:
        self.answers = answers
        self.clock = clock
        self.polls = 0
        self.restarts: list[tuple[str, bool, bool]] = []
        self.probes: list[str] = []
        self.busy_probes = 0

    def statuses(self) -> dict[str, ConnectorStatus]:
        answer = self.answers[min(self.polls, len(self.answers) - 1)]
        self.polls += 1
        if isinstance(answer, Exception):
            raise answer
        return answer

    def restart(self, name: str, include_tasks: bool = False, only_failed: bool = False) -> None:
        self.restarts.append((name, include_tasks, only_failed))

    def herder_round_trip(self, name: str) -> float:
        """The herder probe: slow (3 s, a rebalance) while ``busy_probes`` lasts."""
        self.probes.append(name)
        if self.busy_probes:
            self.busy_probes -= 1
            self.clock.now += 3.0
            return 3.0
        return 0.01


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += max(seconds, 0.001)


def test_verify_restarts_failed_tasks_once_and_reports_in_order() -> None:
    clock = FakeClock()
    a_failed = ConnectorStatus(name="a", state="RUNNING", tasks=(task(0, "FAILED", trace=TRACE),))
    b_ok = ConnectorStatus(name="b", state="RUNNING", tasks=(task(0, "RUNNING"),))
    script = Script([{"a": a_failed, "b": b_ok}], clock)
    exps = [Expectation("b", "RUNNING", "create", 99.0), Expectation("a", "RUNNING", "create", 99.0)]
    lines: list[str] = []
    results = health.verify(script, exps, timeout=60, interval=1.0, restart_failed=True, progress=lines.append,
                            settle=5.0, clock=clock, sleep=clock.sleep)
    assert [(r.name, r.verdict, r.restarted) for r in results] == [("b", "healthy", False), ("a", "failed", True)]
    assert script.restarts == [("a", True, True)]
    assert results[1].detail == "task 0 FAILED again after kcplan restarted task 0 once"
    assert lines[0] == "restarting a: task 0 FAILED (--restart-failed, once)"
    assert script.polls < 15  # decided once the cluster stayed quiet for 5 s after the restart


def test_verify_deadline_and_poll_errors_give_unverified() -> None:
    clock = FakeClock()
    script = Script([ConnectionFailed("GET /connectors: no Connect worker answered")], clock)
    results = health.verify(script, [Expectation("a", "RUNNING", "create", 99.0)], timeout=5, interval=1.0,
                            clock=clock, sleep=clock.sleep)
    assert [(r.verdict, r.state) for r in results] == [("unverified", None)]
    assert results[0].detail.startswith("could not read the status (GET /connectors: no Connect worker answered)")
    assert 4 <= script.polls <= 6


def test_verify_trusts_a_quiet_cluster_only_after_a_prompt_herder_round_trip() -> None:
    """An update shows no restart (standalone, or a turnover between polls): judged after ``settle`` s
    of quiet, but only once a GET .../config answers promptly (a slow one is a rebalance in progress)."""
    clock = FakeClock()
    running = ConnectorStatus(name="a", state="RUNNING", tasks=(task(0, "RUNNING"),))
    script = Script([{"a": running}], clock)
    script.busy_probes = 1
    results = health.verify(script, [Expectation("a", "RUNNING", "update", 99.0)], timeout=120, interval=1.0,
                            settle=5.0, clock=clock, sleep=clock.sleep)
    assert [(r.verdict, r.detail) for r in results] == [("healthy", "")]
    # the first probe (after 5 s of quiet) was slow: the quiet restarts at 108, and since 8 s of quiet
    # proved nothing, this cluster now needs twice that (16 s) before the next, prompt, probe
    assert script.probes == ["a", "a"]
    assert 100.0 + 8 + 16 <= clock.now < 100.0 + 8 + 16 + 2


def test_verify_needs_no_probe_with_turnover_evidence() -> None:
    clock = FakeClock()
    script = Script([{"a": ConnectorStatus(name="a", state="RUNNING", tasks=(task(0, "UNASSIGNED"),))},
                     {"a": ConnectorStatus(name="a", state="RUNNING", tasks=(task(0, "RUNNING"),))}], clock)
    results = health.verify(script, [Expectation("a", "RUNNING", "update", 99.0)], timeout=60, interval=1.0,
                            clock=clock, sleep=clock.sleep)
    assert [r.verdict for r in results] == ["healthy"]
    assert script.probes == []


def test_quiet_settle_grows_with_quiet_that_proved_nothing_up_to_a_cap() -> None:
    q = Quiet()
    q.observe(0, {"c": RUNNING_1})
    assert q.settle(10.0) == 10.0
    q.observe(8, {"c": FAILED_1})  # 8 s of quiet, then a change: quiet is worth less here
    assert q.settle(10.0) == 16.0
    q.touch(200)  # a busy herder after a long quiet
    assert q.settle(10.0) == health.SETTLE_MAX
