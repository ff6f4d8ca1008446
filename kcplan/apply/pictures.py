"""Pictures of one connector's status: what a poll shows, and what it means against a desired state.

Pure functions over ``ConnectorStatus``; the health judge (``kcplan/apply/health.py``) decides from them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from kcplan.connect.models import ConnectorStatus

TRANSITIONAL = frozenset({"UNASSIGNED", "RESTARTING"})
REACHED, FAILED, PENDING = "reached", "failed", "pending"

Seen = ConnectorStatus | None  # None: not listed


@dataclass(frozen=True)
class Failure:
    """A FAILED connector ("connector") or task (its id), where it ran and the worker's trace."""

    task: str
    worker: str
    trace: str

    @property
    def first_line(self) -> str:
        lines = self.trace.strip().splitlines()
        return lines[0].strip() if lines else ""


def _first_line(text: str | None) -> str:
    lines = (text or "").strip().splitlines()
    return lines[0] if lines else ""


def task_signature(seen: Seen) -> tuple[object, ...]:
    """What a poll shows of one connector's tasks."""
    if seen is None:
        return ("ABSENT",)
    return tuple(sorted((t.id, t.state, t.worker_id, _first_line(t.trace)) for t in seen.tasks))


def signature(seen: Seen) -> tuple[object, ...]:
    """What a poll shows of one connector; two equal signatures are indistinguishable pictures."""
    if seen is None:
        return ("ABSENT",)
    return (seen.state, seen.worker_id, _first_line(seen.trace), task_signature(seen))


def tasks_between_generations(seen: Seen) -> bool:
    """Tasks the old generation cannot show: not listed, no status, none while RUNNING, one restarting."""
    if seen is None or seen.state is None:
        return True
    if seen.state == "RUNNING" and not seen.tasks:
        return True
    return any(t.state in TRANSITIONAL for t in seen.tasks)


def between_generations(seen: Seen) -> bool:
    """A picture the old generation cannot show once it runs: the tasks above, or the connector restarting."""
    return tasks_between_generations(seen) or (seen is not None and seen.state in TRANSITIONAL)


def failures_of(seen: Seen) -> tuple[Failure, ...]:
    if seen is None:
        return ()
    found = [Failure("connector", seen.worker_id, seen.trace or "")] if seen.state == "FAILED" else []
    found += [Failure(str(t.id), t.worker_id, t.trace or "")
              for t in sorted(seen.tasks, key=lambda t: t.id) if t.state == "FAILED"]
    return tuple(found)


def failed_parts(failures: Iterable[Failure]) -> str:
    """'task 0', 'connector, task 2': what failed, for messages."""
    return ", ".join("connector" if f.task == "connector" else f"task {f.task}" for f in failures)


def assess(desired: str, seen: Seen) -> str:
    """REACHED, FAILED or PENDING: the picture against the desired state (no freshness involved)."""
    if desired == "ABSENT":
        return REACHED if seen is None else PENDING
    if seen is None or seen.state is None:
        return PENDING
    if desired == "STOPPED":  # stopping removes the tasks, failed ones too: nothing can fail
        return REACHED if seen.state == "STOPPED" and not seen.tasks else PENDING
    if failures_of(seen):
        return FAILED
    states = {t.state for t in seen.tasks}
    if desired == "RUNNING":
        return REACHED if seen.state == "RUNNING" and seen.tasks and states == {"RUNNING"} else PENDING
    if desired == "PAUSED":
        return REACHED if seen.state == "PAUSED" and states <= {"PAUSED"} else PENDING
    raise ValueError(f"unknown desired state {desired!r}")


def describe(desired: str, seen: Seen) -> str:
    """What a not-yet picture shows, for 'unverified' details."""
    if desired == "ABSENT":
        return "still listed" + (f" ({describe('RUNNING', seen)})" if seen is not None else "")
    if seen is None:
        return "not listed (no status reported yet)"
    if seen.state is None:
        return "no status reported yet"
    counts: dict[str, int] = {}
    for task in seen.tasks:
        counts[task.state] = counts.get(task.state, 0) + 1
    if not seen.tasks:
        tasks = "no tasks"
    else:
        tasks = ", ".join(f"{n} {state}" for state, n in sorted(counts.items()))
        tasks = f"tasks: {tasks}"
    return f"{seen.state}, {tasks}"
