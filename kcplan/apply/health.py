"""Health verification after an apply: poll until every touched connector is healthy, FAILED, or time runs out.

One ``GET /connectors?expand=status`` per interval (``ConnectClient.statuses``) covers every touched connector.
Each connector has an :class:`Expectation` (desired state, plan action, when its last write returned); a
:class:`Judge` per connector reads the stream of observations and decides. Judges are pure (no I/O, no clock):
the rules are unit-tested with literal statuses and times. What counts as healthy or FAILED, the fencing
(turnover) rule for updates, the quiet + herder-probe rule, "unverified" at the deadline, and the measured
premises behind them (how far Connect's status lags behind a config write): docs/health.md.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Literal

from kcplan.apply.pictures import (
    FAILED,
    PENDING,
    REACHED,
    Failure,
    Seen,
    assess,
    between_generations,
    describe,
    failed_parts,
    failures_of,
    signature,
    task_signature,
    tasks_between_generations,
)
from kcplan.config.sensitive import scrub
from kcplan.connect.api import ConnectApi
from kcplan.connect.models import ConnectorStatus
from kcplan.errors import KcplanError

DesiredState = Literal["RUNNING", "PAUSED", "STOPPED", "ABSENT"]
Verdict = Literal["healthy", "failed", "unverified"]

SETTLE = 10.0  # s of a quiet cluster before a fenced connector without turnover evidence is judged
HOLD = 2.0  # s a healthy picture must last (over >= 2 polls) before it counts; RUNNING: the stability window if longer
MIN_POLLS = 2
FENCED_ACTIONS = frozenset({"update", "replace"})
ADAPT = 2.0  # settle >= ADAPT x the longest quiet stretch seen to end in a change during this verification
SETTLE_MAX = 60.0  # ... but no more than this (an overloaded worker answering slowly must not double it forever)
PROBE_SLOW = 1.0  # s: a herder round trip slower than this means the worker is busy (rebalancing)
PROGRESS_EVERY = 10.0  # s between "still waiting" lines


@dataclass(frozen=True)
class Expectation:
    """What one connector should look like after the apply, and when its last write returned."""

    name: str
    state: DesiredState
    action: str  # the plan action: create/update/replace/pause/resume/stop/delete
    written_at: float  # time.monotonic() when the last write for it returned


@dataclass(frozen=True)
class HealthResult:
    name: str
    verdict: Verdict
    state: str | None  # connector state last seen; "ABSENT" when not listed, None when never seen
    tasks_running: int
    tasks_total: int
    failures: tuple[Failure, ...]
    detail: str  # why failed / unverified (and notes such as a restart), human readable
    worker: str = ""  # the connector's worker last seen
    restarted: bool = False  # kcplan restarted its failed tasks (--restart-failed)


# -- the decision for one connector ------------------------------------------------------------------


@dataclass
class Judge:
    """Decides one expectation from observations (t, picture); see docs/health.md for the rule."""

    expectation: Expectation
    settle: float = SETTLE
    hold: float = HOLD
    fenced: bool = field(init=False)
    fence_from: float = field(init=False)
    restarted: bool = field(default=False, init=False)
    restarted_what: str = field(default="", init=False)
    _first: tuple[object, ...] | None = field(default=None, init=False)
    _first_tasks: tuple[object, ...] | None = field(default=None, init=False)
    _turnover: bool = field(default=False, init=False)
    _task_turnover: bool = field(default=False, init=False)
    _polls: int = field(default=0, init=False)
    _last: Seen = field(default=None, init=False)
    _last_t: float | None = field(default=None, init=False)
    _reached_since: float | None = field(default=None, init=False)
    _reached_polls: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        exp = self.expectation
        self.fenced = exp.action in FENCED_ACTIONS and exp.state in ("RUNNING", "PAUSED")
        self.fence_from = exp.written_at

    @property
    def name(self) -> str:
        return self.expectation.name

    @property
    def observed(self) -> bool:
        return self._polls > 0

    @property
    def last(self) -> Seen:
        return self._last

    @property
    def evidence(self) -> bool:
        """True once a poll proved the status is from after the write (or none is needed). A FAILED task
        needs turnover of the tasks themselves: a connector restarts before its tasks, so its own
        UNASSIGNED can be listed next to the old generation's task statuses (docs/health.md)."""
        if not self.fenced:
            return True
        if any(f.task != "connector" for f in failures_of(self._last)):
            return self._task_turnover
        return self._turnover

    def observe(self, t: float, seen: Seen) -> None:
        """A poll sent at ``t`` (monotonic) saw ``seen``; polls sent before the write are ignored."""
        if t < self.fence_from:
            return
        sig, tasks = signature(seen), task_signature(seen)
        if self._first is None:
            self._first, self._first_tasks = sig, tasks
        if sig != self._first or between_generations(seen):
            self._turnover = True
        if tasks != self._first_tasks or tasks_between_generations(seen):
            self._task_turnover = True
        self._polls += 1
        if assess(self.expectation.state, seen) == REACHED:
            if self._reached_since is None:
                self._reached_since, self._reached_polls = t, 0
            self._reached_polls += 1
        else:
            self._reached_since, self._reached_polls = None, 0
        self._last, self._last_t = seen, t

    def decide(self, now: float, quiet_since: float, settle: float | None = None) -> HealthResult | None:
        """The verdict, or None to keep polling. ``quiet_since``: when the cluster last changed;
        ``settle``: the quiet needed without turnover evidence (default: the judge's own)."""
        if not self._polls:
            return None
        outcome = assess(self.expectation.state, self._last)
        if outcome == PENDING:
            return None
        if not self.evidence:
            calm_from = max(quiet_since, self.fence_from)
            if now - calm_from < (self.settle if settle is None else settle) or self._polls < MIN_POLLS:
                return None
        if outcome == REACHED and self.expectation.state in ("RUNNING", "PAUSED"):
            since = self._reached_since if self._reached_since is not None else now
            if now - since < self.hold or self._reached_polls < MIN_POLLS:
                return None
        return self._result("healthy" if outcome == REACHED else "failed", self._verdict_detail(outcome))

    def expire(self, now: float, problem: str | None = None) -> HealthResult:
        """The deadline passed without a verdict: 'unverified', saying what was seen last."""
        exp = self.expectation
        waited = f"{max(0.0, now - exp.written_at):.0f} s after the write"
        if not self._polls:
            why = f"could not read the status ({problem})" if problem else "no status read after the write"
            return self._result("unverified", f"{why}; {waited}")
        outcome = assess(exp.state, self._last)
        if outcome == PENDING:
            why = describe(exp.state, self._last)
        elif not self.evidence:
            shown = "looks healthy" if outcome == REACHED else "shows FAILED"
            why = (f"{shown}, but no restart was seen since the {self._fence_reason()} and the cluster never "
                   "stayed quiet long enough: the status may predate the change")
        else:
            held = now - self._reached_since if self._reached_since is not None else 0.0
            why = f"{describe(exp.state, self._last)} (healthy for {held:.0f} s of the {self.hold:g} s needed)"
        if problem:
            why += f"; last poll failed: {problem}"
        return self._result("unverified", f"{why}; {waited}")

    def rearm(self, t: float, what: str) -> None:
        """kcplan restarted ``what`` ("task 0", "connector, task 1") at ``t``: only later statuses count."""
        self.restarted = True
        self.restarted_what = what
        self.fenced = True
        self.fence_from = t
        self._first, self._first_tasks, self._polls = None, None, 0
        self._turnover = self._task_turnover = False
        self._reached_since, self._reached_polls = None, 0

    # -- pieces ---------------------------------------------------------------------------------------

    def _fence_reason(self) -> str:
        return "restart" if self.restarted else self.expectation.action

    def _verdict_detail(self, outcome: str) -> str:
        if outcome == FAILED:
            where = failed_parts(failures_of(self._last))
            again = f" again after kcplan restarted {self.restarted_what} once" if self.restarted else ""
            return f"{where} FAILED{again}"
        return f"healthy after kcplan restarted {self.restarted_what} once" if self.restarted else ""

    def _result(self, verdict: Verdict, detail: str) -> HealthResult:
        seen = self._last
        desired = self.expectation.state
        if seen is None:
            state = "ABSENT" if self._polls else None
            running = total = 0
            worker = ""
        else:
            state, worker = seen.state, seen.worker_id
            total = len(seen.tasks)
            running = sum(1 for t in seen.tasks if t.state == "RUNNING")
        if verdict == "healthy" and desired == "ABSENT":
            state = "ABSENT"
        return HealthResult(
            name=self.name, verdict=verdict, state=state, tasks_running=running, tasks_total=total,
            failures=failures_of(seen), detail=detail, worker=worker, restarted=self.restarted,
        )


class Quiet:
    """When did any connector on the cluster last change its picture (or appear / disappear), and how
    long was the longest quiet stretch that still ended in a change (so: quiet that proved nothing)?"""

    def __init__(self) -> None:
        self._last: dict[str, tuple[object, ...]] | None = None
        self.since: float | None = None
        self.longest = 0.0

    def observe(self, t: float, statuses: Mapping[str, ConnectorStatus]) -> float:
        pictures = {name: signature(status) for name, status in statuses.items()}
        if self._last is None or pictures != self._last:
            if self.since is not None:
                self.longest = max(self.longest, t - self.since)
            self.since = t
        self._last = pictures
        assert self.since is not None
        return self.since

    def touch(self, t: float) -> None:
        """Activity seen another way at ``t`` (a busy herder): the quiet starts again."""
        if self.since is not None:
            self.longest = max(self.longest, t - self.since)
        self.since = t

    def settle(self, minimum: float) -> float:
        """The quiet a fenced connector needs here: ``minimum``, or twice the longest quiet stretch this
        cluster has shown to be followed by more changes (at most SETTLE_MAX), whichever is longer."""
        return max(minimum, min(ADAPT * self.longest, SETTLE_MAX))


# -- the polling loop -----------------------------------------------------------------------------------


def verify(client: ConnectApi, expectations: Iterable[Expectation], *, timeout: float, interval: float = 1.0,
           restart_failed: bool = False, progress: Callable[[str], None] | None = None,
           settle: float = SETTLE, stable: float = 0.0, clock: Callable[[], float] = time.monotonic,
           sleep: Callable[[float], None] = time.sleep) -> list[HealthResult]:
    """Poll ``client.statuses()`` once per ``interval`` until every expectation has a verdict or
    ``timeout`` seconds have passed; results come back in the order of ``expectations``.

    ``stable``: the stability window: a connector expected RUNNING counts as healthy only once it has
    looked healthy for that long (a task FAILED meanwhile makes it failed); all windows run at once.

    With ``restart_failed``, a connector found FAILED gets ONE
    ``restart(name, include_tasks=True, only_failed=True)`` and is then judged again on statuses from
    after the restart. Connect errors while polling are retried until the deadline (the writes are done;
    a failed poll must not end the apply); the last one is named in 'unverified' details.
    """
    say = progress or (lambda _line: None)
    interval = max(interval, 0.05)
    judges: dict[str, Judge] = {}
    for exp in expectations:
        old = judges.get(exp.name)
        if old is None or exp.written_at >= old.expectation.written_at:
            judges[exp.name] = Judge(exp, settle=settle, hold=max(HOLD, stable) if exp.state == "RUNNING" else HOLD)
    order = list(judges)
    results: dict[str, HealthResult] = {}
    quiet = Quiet()
    began = clock()
    deadline = began + max(0.0, timeout)
    problem: str | None = None
    next_note = began + PROGRESS_EVERY
    while True:
        sent = clock()
        try:
            statuses = client.statuses()
        except KcplanError as exc:
            problem = exc.message
            statuses = None
        now = clock()
        if statuses is not None:
            problem = None
            quiet_since = quiet.observe(sent, statuses)
            decided: list[tuple[Judge, HealthResult]] = []
            for name in order:
                if name in results:
                    continue
                judge = judges[name]
                judge.observe(sent, statuses.get(name))
                verdict = judge.decide(now, quiet_since, quiet.settle(judge.settle))
                if verdict is not None:
                    decided.append((judge, verdict))
            if any(not judge.evidence for judge, _ in decided) and _herder_busy(client, decided):
                quiet.touch(clock())  # the quiet was a rebalance in progress: judge those later
                decided = [(judge, verdict) for judge, verdict in decided if judge.evidence]
            for judge, verdict in decided:
                if verdict.verdict == "failed" and restart_failed and not judge.restarted:
                    final = _restart(client, judge, verdict, clock, say)
                    if final is None:
                        continue
                    verdict = final
                results[judge.name] = verdict
                say(_progress_line(verdict))
        if len(results) == len(order):
            break
        now = clock()
        if now + interval > deadline:
            for name in order:
                if name not in results:
                    results[name] = judges[name].expire(now, problem)
                    say(_progress_line(results[name]))
            break
        if now >= next_note:
            waiting = len(order) - len(results)
            say(f"waiting for {waiting} of {len(order)} connector(s) ({now - began:.0f} s of {timeout:g} s)")
            next_note = now + PROGRESS_EVERY
        sleep(max(0.0, interval - (clock() - sent)))
    return [results[name] for name in order]


def _herder_busy(client: ConnectApi, decided: list[tuple[Judge, HealthResult]]) -> bool:
    """One herder round trip to every configured worker before trusting a quiet cluster:
    ``GET /connectors/NAME/config`` is served by each worker's herder thread, so it stalls or answers
    409/500 while that worker is in a rebalance (the stretches in which pending restarts show no
    status change). Every worker is asked: the connector's own worker may be mid-rebalance while the
    others answer at once. Standalone answers at once."""
    name = next(judge.name for judge, _ in decided if not judge.evidence)
    try:
        seconds = client.herder_round_trip(name)
    except KcplanError:
        return True
    return bool(seconds > PROBE_SLOW)


def _restart(client: ConnectApi, judge: Judge, verdict: HealthResult, clock: Callable[[], float],
             say: Callable[[str], None]) -> HealthResult | None:
    """Restart the failed tasks once; None to keep polling, or the final verdict if the restart failed."""
    what = failed_parts(verdict.failures)
    say(f"restarting {judge.name}: {what} FAILED (--restart-failed, once)")
    try:
        client.restart(judge.name, include_tasks=True, only_failed=True)
    except KcplanError as exc:
        judge.restarted = True
        return replace(verdict, restarted=True, detail=f"{verdict.detail}; restarting it failed: {exc.message}")
    judge.rearm(clock(), what)
    return None


def masked(result: HealthResult, secrets: Iterable[str]) -> HealthResult:
    """``result`` with every one of ``secrets`` in its traces and detail replaced by the mask: a worker's
    trace may quote a config value (a file name, a JDBC URL with its password, an echoed property)."""
    shown = [s for s in secrets if s]
    if not shown:
        return result
    failures = tuple(replace(f, trace=scrub(f.trace, shown)) for f in result.failures)
    return replace(result, failures=failures, detail=scrub(result.detail, shown))


def _progress_line(result: HealthResult) -> str:
    tasks = f"{result.tasks_running}/{result.tasks_total} tasks RUNNING"
    head = f"{result.verdict:<10} {result.name}: {result.state or '-'}, {tasks}"
    return f"{head} ({result.detail})" if result.detail else head


def summary(results: Iterable[HealthResult]) -> dict[str, int]:
    counts = {"healthy": 0, "failed": 0, "unverified": 0}
    for result in results:
        counts[result.verdict] += 1
    return counts
