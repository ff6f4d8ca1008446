"""Can the plan's offsets operations run? Checked (pure) before anything is written, by plan and apply.

Refused: any operation on a worker older than Connect 3.6 (no PATCH/DELETE offsets), and a ``set``
whose partitions are not among those the connector reports (a typo in a partition would otherwise
add an offset the connector never reads), including a ``set`` on a connector this plan creates.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from kcplan.connect.models import ConnectorOffset, offset_json
from kcplan.plan.model import Action, Plan

SHOWN = 5  # partitions named in a message at most


def set_targets(plan: Plan) -> list[str]:
    """Connectors with a ``set`` operation whose current partitions must be read (they exist now)."""
    return [c.name for c in plan.actions
            if c.offsets is not None and c.offsets.kind == "set" and c.action not in (Action.CREATE, Action.REPLACE)]


def offsets_problems(plan: Plan, worker_version: str, supported: bool,
                     reported: Mapping[str, Sequence[ConnectorOffset]]) -> list[str]:
    """Every reason the plan's offsets operations cannot run ([] when they can)."""
    with_ops = [c for c in plan.actions if c.offsets is not None]
    if not with_ops:
        return []
    if not supported:
        names = ", ".join(f"'{c.name}'" for c in with_ops)
        return [f"{names} declare{'s' if len(with_ops) == 1 else ''} an offsets operation; altering offsets "
                f"needs Kafka Connect 3.6 or newer, the worker runs {worker_version or 'an unknown version'}"]
    problems: list[str] = []
    for c in with_ops:
        op = c.offsets
        assert op is not None
        if op.kind != "set":
            continue
        if c.action in (Action.CREATE, Action.REPLACE):
            problems.append(f"connector '{c.name}': offsets.set '{op.token}' needs the partitions the connector "
                            "reports, and this plan creates it: apply it first, then declare the set")
            continue
        known = {offset_json(o.partition) for o in reported.get(c.name, ())}
        unknown = [e["partition"] for e in op.entries if offset_json(e["partition"]) not in known]
        if unknown:
            have = sorted(known)[:SHOWN]
            problems.append(
                f"connector '{c.name}': offsets.set '{op.token}' names partition(s) the connector does not report: "
                + ", ".join(offset_json(p) for p in unknown[:SHOWN])
                + f"; it reports {', '.join(have) if have else 'none yet'}"
                + (f" and {len(known) - SHOWN} more" if len(known) > SHOWN else ""))
    return problems
