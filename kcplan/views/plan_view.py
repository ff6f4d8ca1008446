"""Plan -> text for people (Terraform-style diff) and JSON for machines (docs/plan-format.md).

Only the view knows symbols, wording and colours; the Plan already holds masked values.
"""

from __future__ import annotations

import json
from typing import Any

from kcplan import __version__
from kcplan.config.models import OffsetsOp
from kcplan.config.sensitive import MASK
from kcplan.connect.models import offset_json
from kcplan.plan.model import Action, Change, Drift, KeyChange, Plan
from kcplan.views.style import PLAIN, Palette

JSON_FORMAT_VERSION = 1
_SYMBOL = {
    Action.CREATE: ("+", "green"),
    Action.UPDATE: ("~", "yellow"),
    Action.DELETE: ("-", "red"),
    Action.REPLACE: ("-/+", "red"),
    Action.PAUSE: ("~", "yellow"),
    Action.RESUME: ("~", "yellow"),
    Action.STOP: ("~", "yellow"),
    Action.ADOPT: ("=", "cyan"),
    Action.FORGET: ("-", "red"),
    Action.OFFSETS: ("~", "yellow"),
}
_KEY_SYMBOL = {"add": ("+", "green"), "remove": ("-", "red"), "change": ("~", "yellow")}


def _value(value: str | None, hidden: bool) -> str:
    return MASK if hidden else json.dumps(value, ensure_ascii=False)


def key_line(k: KeyChange, note: str = "", palette: Palette = PLAIN) -> str:
    sym, col = _KEY_SYMBOL[k.kind]
    if k.kind == "add":
        text = _value(k.new, k.new_hidden)
    elif k.kind == "remove":
        text = _value(k.old, k.old_hidden)
    elif k.old_hidden and k.new_hidden:
        text = MASK
    else:
        text = f"{_value(k.old, k.old_hidden)} -> {_value(k.new, k.new_hidden)}"
    return f"      {palette.colour(sym, col)} {k.key}: {text}{note}"


def symbol(action: Action) -> str:
    """The one-character (or -/+) symbol of an action, as the text diff shows it."""
    return _SYMBOL[action][0]


def change_note(c: Change) -> str:
    """What the title line says after the connector's name (e.g. " (initial state PAUSED)"), or ""."""
    if c.action in (Action.PAUSE, Action.RESUME, Action.STOP):
        return f" ({c.state_from} -> {c.state_to})"
    note = ""
    if c.action in (Action.CREATE, Action.REPLACE) and c.state_to and c.state_to != "RUNNING":
        note += f" (initial state {c.state_to})"
    if c.action is Action.REPLACE:
        note += " (connector.class changed: delete, then create)"
    elif c.action is Action.ADOPT:
        note += " (already matches the code: recorded in state, no change to the cluster)"
    elif c.action is Action.FORGET:
        note += " (already gone from the cluster: removed from state only)"
    elif c.action is Action.DELETE:
        note += " (no longer declared in the code)"
    if c.adopting and c.action not in (Action.ADOPT, Action.CREATE):
        note += " (taking over an unmanaged connector)"
    return note


def _title(c: Change, palette: Palette) -> str:
    sym, col = _SYMBOL[c.action]
    return f"  {palette.colour(sym, col)} {c.action.value} {palette.colour(c.name, 'bold')}{change_note(c)}"


def _change_lines(c: Change, palette: Palette) -> list[str]:
    lines = [_title(c, palette)]
    for k in c.keys:
        note = "  (forces replacement)" if c.action is Action.REPLACE and k.key == "connector.class" else ""
        lines.append(key_line(k, note, palette))
    if c.action is Action.UPDATE and c.run_state_change:
        lines.append(f"      {palette.colour('~', 'yellow')} run state: {c.state_from} -> {c.state_to}")
    if c.offsets is not None:
        lines += offsets_lines(c, palette)
    return lines


def offsets_lines(c: Change, palette: Palette = PLAIN) -> list[str]:
    """The offsets operation: what it does, the token it replaces, and the sequence apply runs."""
    op = c.offsets
    assert op is not None
    sym = palette.colour("~", "yellow")
    before = f" (applied before: '{c.offsets_from}')" if c.offsets_from else ""
    what = "reset (delete every offset: start over)" if op.kind == "reset" else "set"
    lines = [f"      {sym} offsets: {what}, token '{op.token}'{before}"]
    for e in op.entries:
        offset = "reset" if e["offset"] is None else offset_json(e["offset"])
        lines.append(f"          {offset_json(e['partition'])} -> {offset}")
    back = c.state_to or "RUNNING"
    lines.append(f"          apply: stop, {'delete' if op.kind == 'reset' else 'alter'} the offsets, then {back}")
    return lines


def _drift_lines(d: Drift, palette: Palette) -> list[str]:
    if d.deleted:
        return [f"  {palette.colour('-', 'red')} {palette.colour(d.name, 'bold')} has been deleted"]
    lines = [f"  {palette.colour('~', 'yellow')} {palette.colour(d.name, 'bold')} has changed"]
    lines += [key_line(k, palette=palette) for k in d.keys]
    if "run_state" in d.kinds:
        lines.append(f"      {palette.colour('~', 'yellow')} run state: {d.applied_state} -> {d.live_state}")
    return lines


def _conflict_lines(c: Change, palette: Palette) -> list[str]:
    where = f" (declared in {c.source})" if c.source else ""
    lines = [f"  {palette.colour('!', 'red')} {palette.colour(c.name, 'bold')}{where}: --adopt would "
             f"{c.action.value} it"]
    lines += [key_line(k, palette=palette) for k in c.keys]
    if c.run_state_change:
        lines.append(f"      {palette.colour('~', 'yellow')} run state: {c.state_from} -> {c.state_to}")
    return lines


def _header(plan: Plan) -> str:
    if not plan.refreshed:
        return (f'Plan for environment "{plan.env}" against the state alone '
                "(--refresh=false: the cluster was not contacted).")
    urls = ", ".join(plan.connect_urls) or "?"
    return f'Plan for environment "{plan.env}" (Kafka cluster {plan.kafka_cluster_id or "?"} at {urls}).'


def render_plan(plan: Plan, palette: Palette = PLAIN) -> str:
    """The human diff, ending with the summary line."""
    out = [_header(plan), ""]
    if plan.drift:
        out.append(palette.colour("Changes made outside kcplan", "bold")
                   + " (the cluster differs from what kcplan last applied):")
        out.append("")
        for d in plan.drift:
            out += _drift_lines(d, palette)
        out.append("")
    if plan.unmanaged:
        out.append(palette.colour("Connectors on the cluster not managed by kcplan", "bold") + " (left untouched):")
        out += [f"    {name}" for name in plan.unmanaged]
        out.append("")
    if plan.conflicts:
        out.append(palette.colour("Conflicts", "bold") + ": declared in the code and present on the cluster, "
                   "but not managed by kcplan.")
        out.append("Left untouched: take them over with --adopt, or record them as they are with "
                   "'kcplan import NAME'.")
        out.append("")
        for c in plan.conflicts:
            out += _conflict_lines(c, palette)
        out.append("")
    actions = plan.actions
    if actions:
        out.append("kcplan will perform the following actions:")
        out.append("")
        for c in actions:
            out += _change_lines(c, palette)
            out.append("")
        s = plan.summary()
        out.append(palette.colour("Plan:", "bold") + f" {s.add} to add, {s.change} to change, {s.destroy} to destroy.")
        if s.adopt or s.forget:
            out.append(f"State only (no change to the cluster): {s.adopt} to adopt, {s.forget} to forget.")
    elif plan.conflicts:
        n = len(plan.conflicts)
        out.append(f"No changes to apply. {n} conflict{'s' if n != 1 else ''} need{'s' if n == 1 else ''} "
                   "--adopt or 'kcplan import' (see above).")
    elif plan.refreshed:
        out.append("No changes. The cluster matches the configuration.")
    else:
        out.append("No changes. The state matches the configuration (the cluster was not contacted).")
    out += [f"Warning: {w}" for w in plan.warnings]
    return "\n".join(out) + "\n"


# -- JSON ---------------------------------------------------------------------------------------

def _key_json(k: KeyChange) -> dict[str, Any]:
    return {"key": k.key, "action": k.kind, "old": k.old, "new": k.new,
            "sensitive": k.old_hidden or k.new_hidden}


def _change_json(c: Change) -> dict[str, Any]:
    run_state = None
    if c.state_from is not None or c.state_to is not None:
        run_state = {"from": c.state_from, "to": c.state_to}
    return {
        "name": c.name,
        "action": c.action.value,
        "run_state": run_state,
        "adopting": c.adopting,
        "prevent_destroy": c.prevent_destroy,
        "source": c.source or None,
        "keys": [_key_json(k) for k in c.keys],
        "patch": list(c.patch),
        "offsets": _offsets_json(c.offsets, c.offsets_from),
    }


def _offsets_json(op: OffsetsOp | None, applied_before: str | None) -> dict[str, Any] | None:
    if op is None:
        return None
    return {"kind": op.kind, "token": op.token, "applied_before": applied_before,
            "set": [dict(e) for e in op.entries] if op.kind == "set" else None}


def _drift_json(d: Drift) -> dict[str, Any]:
    return {
        "name": d.name,
        "kinds": d.kinds,
        "keys": [_key_json(k) for k in d.keys],
        "run_state": {"applied": d.applied_state, "live": d.live_state},
    }


def plan_json(plan: Plan, kcplan_version: str = __version__) -> dict[str, Any]:
    """The documented machine-readable plan (no secrets, no digests, no fingerprints)."""
    s = plan.summary()
    return {
        "format_version": JSON_FORMAT_VERSION,
        "kcplan_version": kcplan_version,
        "env": plan.env,
        "kafka_cluster_id": plan.kafka_cluster_id,
        "connect_urls": list(plan.connect_urls),
        "state": {"lineage": plan.state_lineage, "serial": plan.state_serial},
        "refreshed": plan.refreshed,
        "targets": list(plan.targets),
        "adopt": plan.adopt,
        "has_changes": plan.has_changes,
        "summary": {"add": s.add, "change": s.change, "destroy": s.destroy, "adopt": s.adopt,
                    "forget": s.forget, "conflicts": len(plan.conflicts), "drift": len(plan.drift),
                    "unmanaged": len(plan.unmanaged)},
        "changes": [_change_json(c) for c in plan.actions],
        "unchanged": list(plan.unchanged),
        "drift": [_drift_json(d) for d in plan.drift],
        "unmanaged": list(plan.unmanaged),
        "conflicts": [_change_json(c) for c in plan.conflicts],
        "warnings": list(plan.warnings),
    }


def render_json(plan: Plan, kcplan_version: str = __version__) -> str:
    return json.dumps(plan_json(plan, kcplan_version), indent=2, ensure_ascii=False) + "\n"
