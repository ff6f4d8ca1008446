"""kcplan heal's decisions across simulated cron runs: literal statuses, an injected clock, exact records."""

from __future__ import annotations

import itertools

from kcplan.connect.models import ConnectorStatus, TaskStatus
from kcplan.heal.policy import (
    FORGOTTEN,
    GAVE_UP,
    GONE,
    RESTART,
    UNMANAGED,
    WAIT,
    Attempts,
    Decision,
    HealOptions,
    Outcome,
    backoff_minutes,
    decide,
    refused,
)

T0 = 1_800_000_000.0
MIN = 60.0


def failed_task(name: str, *ids: int) -> ConnectorStatus:
    tasks = tuple(TaskStatus(i, "FAILED" if i in ids else "RUNNING") for i in range(max(ids, default=0) + 1))
    return ConnectorStatus(name, "RUNNING", tasks=tasks)


def failed_connector(name: str) -> ConnectorStatus:
    return ConnectorStatus(name, "FAILED", tasks=())


def healthy(name: str) -> ConnectorStatus:
    return ConnectorStatus(name, "RUNNING", tasks=(TaskStatus(0, "RUNNING"),))


def test_backoff_schedule_is_n_squared_plus_n_capped_at_60() -> None:
    assert [backoff_minutes(k) for k in range(10)] == [0, 2, 6, 12, 20, 30, 42, 56, 60, 60]


def test_first_restart_is_immediate_and_records_the_failed_tasks() -> None:
    out = decide({"a": failed_task("a", 1)}, {"a"}, {}, T0, HealOptions())
    assert out.decisions == (Decision("a", RESTART, 1, False, (1,), due_at=T0 + 2 * MIN),)
    assert out.record == {"a": Attempts(1, T0, False, (1,))}


def test_connector_failed_itself() -> None:
    out = decide({"a": failed_connector("a")}, {"a"}, {}, T0, HealOptions())
    assert out.decisions == (Decision("a", RESTART, 1, True, (), due_at=T0 + 2 * MIN),)
    assert out.record == {"a": Attempts(1, T0, True, ())}


def test_cron_every_minute_follows_the_backoff_to_the_cap() -> None:
    """A connector that stays FAILED, heal run every minute for 7 hours: restarts at 0, 2, 8, 20, 40, ..."""
    record: dict[str, Attempts] = {}
    restarted_at: list[int] = []
    for minute in range(7 * 60):
        out = decide({"a": failed_task("a", 0)}, {"a"}, record, T0 + minute * MIN, HealOptions())
        (d,) = out.decisions
        if d.action == RESTART:
            restarted_at.append(minute)
        else:
            assert d.action == WAIT and d.due_at == T0 + restarted_at[-1] * MIN + backoff_minutes(d.restarts) * MIN
        record = out.record
        assert out.failing
    gaps = [b - a for a, b in itertools.pairwise(restarted_at)]
    assert gaps == [2, 6, 12, 20, 30, 42, 56, 60, 60, 60, 60]
    assert restarted_at[:4] == [0, 2, 8, 20]
    assert record["a"].restarts == len(restarted_at) == 12


def test_waiting_keeps_the_record_and_reports_when_due() -> None:
    prev = {"a": Attempts(2, T0, False, (0,))}
    out = decide({"a": failed_task("a", 0)}, {"a"}, prev, T0 + 5 * MIN, HealOptions())
    assert out.decisions == (Decision("a", WAIT, 2, False, (0,), due_at=T0 + 6 * MIN),)
    assert out.record == prev
    out = decide({"a": failed_task("a", 0)}, {"a"}, prev, T0 + 6 * MIN, HealOptions())
    assert out.decisions == (Decision("a", RESTART, 3, False, (0,), due_at=T0 + 6 * MIN + 12 * MIN),)


def test_max_restarts_gives_up_and_stays_given_up() -> None:
    options = HealOptions(max_restarts=2)
    record: dict[str, Attempts] = {}
    actions = []
    for minute in (0, 1, 2, 8, 100, 1000):
        out = decide({"a": failed_task("a", 0)}, {"a"}, record, T0 + minute * MIN, options)
        actions.append(out.decisions[0].action)
        record = out.record
    assert actions == [RESTART, WAIT, RESTART, GAVE_UP, GAVE_UP, GAVE_UP]
    assert record == {"a": Attempts(2, T0 + 2 * MIN, False, (0,))}
    assert out.decisions == (Decision("a", GAVE_UP, 2, False, (0,)),)


def test_max_restarts_zero_never_restarts_but_reports_failed() -> None:
    out = decide({"a": failed_task("a", 0)}, {"a"}, {}, T0, HealOptions(max_restarts=0))
    assert out == Outcome((Decision("a", GAVE_UP, 0, False, (0,)),), {})
    assert out.failing


def test_healthy_record_expires_after_two_runs_ten_minutes_apart() -> None:
    prev = {"a": Attempts(3, T0, False, (0,))}
    first = decide({"a": healthy("a")}, {"a"}, prev, T0 + 1 * MIN, HealOptions())
    assert first.decisions == ()
    assert first.record == {"a": Attempts(3, T0, False, (0,), healthy_since=T0 + 1 * MIN)}
    again = decide({"a": healthy("a")}, {"a"}, first.record, T0 + 10 * MIN, HealOptions())
    assert (again.decisions, again.record) == ((), first.record)  # 9 minutes healthy: kept
    gone = decide({"a": healthy("a")}, {"a"}, again.record, T0 + 11 * MIN, HealOptions())
    assert gone.decisions == (Decision("a", FORGOTTEN, 3),)
    assert gone.record == {}
    assert not gone.failing
    # a failure after that starts again at attempt 0: at once
    later = decide({"a": failed_task("a", 0)}, {"a"}, gone.record, T0 + 12 * MIN, HealOptions())
    assert later.decisions[0].action == RESTART and later.record["a"].restarts == 1


def test_a_failure_between_healthy_runs_resets_the_healthy_clock() -> None:
    prev = {"a": Attempts(1, T0, False, (0,), healthy_since=T0 + 1 * MIN)}
    out = decide({"a": failed_task("a", 0)}, {"a"}, prev, T0 + 1.5 * MIN, HealOptions())
    assert out.decisions[0].action == WAIT
    assert out.record == {"a": Attempts(1, T0, False, (0,))}
    out = decide({"a": healthy("a")}, {"a"}, out.record, T0 + 20 * MIN, HealOptions())
    assert out.record["a"].healthy_since == T0 + 20 * MIN and out.decisions == ()


def test_unmanaged_is_reported_never_restarted_unless_included() -> None:
    statuses = {"mine": failed_task("mine", 0), "theirs": failed_task("theirs", 0)}
    out = decide(statuses, {"mine"}, {}, T0, HealOptions())
    assert out.decisions == (Decision("mine", RESTART, 1, False, (0,), due_at=T0 + 2 * MIN),
                             Decision("theirs", UNMANAGED, 0, False, (0,), managed=False))
    assert set(out.record) == {"mine"}
    out = decide({"theirs": failed_task("theirs", 0)}, {"mine"}, {}, T0, HealOptions())
    assert not out.failing  # only an unmanaged one failed: nothing heal looks after
    out = decide(statuses, {"mine"}, {}, T0, HealOptions(include_unmanaged=True))
    assert [(d.name, d.action, d.managed) for d in out.decisions] == [("mine", RESTART, True),
                                                                        ("theirs", RESTART, False)]


def test_healthy_connectors_without_record_say_nothing() -> None:
    out = decide({"a": healthy("a"), "b": ConnectorStatus("b", None)}, {"a", "b"}, {}, T0, HealOptions())
    assert out == Outcome((), {})


def test_no_status_yet_keeps_the_record_as_it_is() -> None:
    prev = {"a": Attempts(1, T0)}
    out = decide({"a": ConnectorStatus("a", None)}, {"a"}, prev, T0 + 100 * MIN, HealOptions())
    assert out == Outcome((), prev)


def test_connector_gone_from_the_cluster_is_dropped() -> None:
    prev = {"a": Attempts(4, T0, False, (0,)), "b": Attempts(1, T0)}
    out = decide({"b": failed_task("b", 0)}, {"a", "b"}, prev, T0 + 1 * MIN, HealOptions())
    assert out.decisions == (Decision("a", GONE, 4), Decision("b", WAIT, 1, False, (0,), due_at=T0 + 2 * MIN))
    assert out.record == {"b": Attempts(1, T0)}


def test_patterns_narrow_the_run_and_keep_other_records() -> None:
    prev = {"team-b-x": Attempts(1, T0)}
    statuses = {"team-a-x": failed_task("team-a-x", 0), "team-b-x": healthy("team-b-x")}
    out = decide(statuses, set(statuses), prev, T0 + 30 * MIN, HealOptions(patterns=("team-a-*",)))
    assert [d.name for d in out.decisions] == ["team-a-x"]
    assert out.record == {"team-a-x": Attempts(1, T0 + 30 * MIN, False, (0,)), "team-b-x": Attempts(1, T0)}


def test_refused_restart_restores_the_old_record() -> None:
    prev = {"a": Attempts(1, T0, False, (0,))}
    out = decide({"a": failed_task("a", 0), "b": failed_task("b", 0)}, {"a", "b"}, prev, T0 + 2 * MIN, HealOptions())
    after = refused(refused(out, prev, "a", "rebalancing"), prev, "b", "gone")
    assert after.record == prev
    assert after.decisions == (Decision("a", WAIT, 1, False, (0,), error="rebalancing"),
                               Decision("b", WAIT, 0, False, (0,), error="gone"))
