"""Canary waves (pure): which connectors of a plan each wave of 'kcplan apply --canary N' holds.

The first wave holds N connectors that change the cluster, declared canaries (``canary: true``) first,
then plan order (by name); the rest follows in waves of ``--wave-size`` (default: all at once). State-only
actions (adopt, forget) touch no connector and go with the first wave. Without --canary and --wave-size
there is one wave: the whole plan, as before. Rationale: docs/apply-phases.md.
"""

from __future__ import annotations

from collections.abc import Sequence

from kcplan.apply.steps import Outcome
from kcplan.plan.model import STATE_ONLY, Plan


def plan_waves(plan: Plan, canary: int | None = None, wave_size: int | None = None) -> list[tuple[str, ...]]:
    """The connector names of each wave, in order; one wave when neither option is given."""
    actions = plan.actions
    if canary is None and wave_size is None:
        return [tuple(c.name for c in actions)] if actions else []
    writes = [c for c in actions if c.action not in STATE_ONLY]
    ordered = [c.name for c in writes if c.canary] + [c.name for c in writes if not c.canary]
    first = canary if canary is not None else wave_size
    assert first is not None and first >= 1
    rest = ordered[first:]
    size = wave_size or max(len(rest), 1)
    waves = [tuple(c.name for c in actions if c.action in STATE_ONLY) + tuple(ordered[:first])]
    waves += [tuple(rest[i:i + size]) for i in range(0, len(rest), size)]
    return [w for w in waves if w]


def merge_outcomes(outcomes: Sequence[Outcome]) -> Outcome:
    """The outcomes of several waves as one (the totals of the summary and of --json)."""
    merged = Outcome()
    for o in outcomes:
        merged.results += o.results
        merged.skipped += o.skipped
        merged.not_started += o.not_started
        merged.abandoned += o.abandoned
        merged.unsaved += o.unsaved
        merged.interrupted = merged.interrupted or o.interrupted
        merged.save_error = merged.save_error or o.save_error
        merged.seconds += o.seconds
    return merged
