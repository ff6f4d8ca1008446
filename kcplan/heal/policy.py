"""When to restart a FAILED connector: Strimzi's autoRestart backoff, decided without I/O or clock.

Attempt k (k restarts already made) is due k^2+k minutes after the last restart (the first at once),
capped at 60 minutes; with ``max_restarts`` kcplan gives up after that many. A connector seen healthy
at two runs at least ``forget_after`` apart (with no FAILED seen between) has its record forgotten, so
a later failure starts again at attempt 0. Pure: the caller passes the statuses, the managed names,
the previous record and ``now`` (Unix seconds); tests simulate weeks of cron runs without sleeping.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field, replace

from kcplan.connect.models import ConnectorStatus
from kcplan.selection import matches

CAP_MINUTES = 60
FORGET_AFTER_SECONDS = 600.0  # healthy for 10 minutes (two runs that far apart) -> the count starts again

# what a decision says; the first three are failures that remain after this run
RESTART, WAIT, GAVE_UP = "restart", "wait", "gave_up"
UNMANAGED, FORGOTTEN, GONE = "unmanaged", "forgotten", "gone"


def backoff_minutes(k: int) -> int:
    """Minutes attempt ``k`` waits after the last restart: 0, 2, 6, 12, 20, 30, 42, 56, 60, 60, ..."""
    return min(k * k + k, CAP_MINUTES)


@dataclass(frozen=True)
class Attempts:
    """One connector's restarts so far: how many, when the last one was sent, which parts were FAILED
    then (the connector itself and/or task ids), and since when it has been seen healthy (None: not)."""

    restarts: int
    last_restart: float
    connector_failed: bool = False
    tasks: tuple[int, ...] = ()
    healthy_since: float | None = None


@dataclass(frozen=True)
class HealOptions:
    patterns: tuple[str, ...] = ()
    max_restarts: int | None = None
    include_unmanaged: bool = False
    forget_after: float = FORGET_AFTER_SECONDS


@dataclass(frozen=True)
class Decision:
    """What heal does about one connector at this run. ``restarts``: the count after this run;
    ``due_at``: when the next restart is allowed (WAIT, and RESTART for the one after)."""

    name: str
    action: str
    restarts: int = 0
    connector_failed: bool = False
    failed_tasks: tuple[int, ...] = ()
    due_at: float | None = None
    managed: bool = True
    error: str | None = None

    @property
    def failing(self) -> bool:
        return self.action in (RESTART, WAIT, GAVE_UP)


@dataclass(frozen=True)
class Outcome:
    decisions: tuple[Decision, ...]
    record: dict[str, Attempts] = field(default_factory=dict)

    @property
    def failing(self) -> bool:
        return any(d.failing for d in self.decisions)


def due_at(attempts: Attempts) -> float:
    return attempts.last_restart + backoff_minutes(attempts.restarts) * 60.0


def _failed_parts(status: ConnectorStatus) -> tuple[bool, tuple[int, ...]]:
    return status.state == "FAILED", tuple(sorted(t.id for t in status.tasks if t.state == "FAILED"))


def _failed(name: str, status: ConnectorStatus, prev: Attempts | None, now: float,
            options: HealOptions, managed: bool) -> tuple[Decision, Attempts | None]:
    conn, tasks = _failed_parts(status)
    done = prev.restarts if prev else 0
    base = Decision(name, WAIT, done, conn, tasks, managed=managed)
    if options.max_restarts is not None and done >= options.max_restarts:
        return replace(base, action=GAVE_UP), prev and replace(prev, healthy_since=None)
    if prev is not None and now < due_at(prev):
        return replace(base, due_at=due_at(prev)), replace(prev, healthy_since=None)
    new = Attempts(done + 1, now, conn, tasks)
    return replace(base, action=RESTART, restarts=done + 1, due_at=due_at(new)), new


def _healthy(name: str, prev: Attempts, now: float, options: HealOptions) -> tuple[Decision | None, Attempts | None]:
    if prev.healthy_since is None:
        return None, replace(prev, healthy_since=now)
    if now - prev.healthy_since >= options.forget_after:
        return Decision(name, FORGOTTEN, prev.restarts), None
    return None, prev


def decide(statuses: Mapping[str, ConnectorStatus], managed: Collection[str],
           previous: Mapping[str, Attempts], now: float, options: HealOptions) -> Outcome:
    """The decisions of one run (sorted by name) and the record to keep for the next one.

    Connectors not selected by ``options.patterns``, and unmanaged ones (unless included), keep their
    record untouched; a FAILED unmanaged one is reported (UNMANAGED) but never restarted. A recorded
    connector that is no longer on the cluster is dropped (GONE). A connector without a status yet
    (state None) is neither failed nor healthy: its record stays as it is.
    """
    decisions: list[Decision] = []
    record: dict[str, Attempts] = {}
    for name in sorted(set(statuses) | set(previous)):
        prev = previous.get(name)
        status = statuses.get(name)
        if not matches(name, options.patterns):
            if prev is not None:
                record[name] = prev
            continue
        if status is None:
            decisions.append(Decision(name, GONE, prev.restarts if prev else 0))
            continue
        is_managed = name in managed
        if not is_managed and not options.include_unmanaged:
            if status.failed:
                conn, tasks = _failed_parts(status)
                decisions.append(Decision(name, UNMANAGED, 0, conn, tasks, managed=False))
            if prev is not None:
                record[name] = prev
            continue
        decision: Decision | None = None
        kept: Attempts | None = prev
        if status.failed:
            decision, kept = _failed(name, status, prev, now, options, is_managed)
        elif prev is not None and status.state is not None:
            decision, kept = _healthy(name, prev, now, options)
        if decision is not None:
            decisions.append(decision)
        if kept is not None:
            record[name] = kept
    return Outcome(tuple(decisions), record)


def refused(outcome: Outcome, previous: Mapping[str, Attempts], name: str, error: str) -> Outcome:
    """The outcome after Connect refused the restart of ``name`` (nothing restarted): its old record
    back, and its decision a WAIT due at once, with the error."""
    record = dict(outcome.record)
    if name in previous:
        record[name] = previous[name]
    else:
        record.pop(name, None)
    decisions = tuple(replace(d, action=WAIT, restarts=d.restarts - 1, due_at=None, error=error)
                      if d.name == name and d.action == RESTART else d for d in outcome.decisions)
    return Outcome(decisions, record)
