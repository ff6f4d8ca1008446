"""Apply's words: one progress line per finished step, and the summary with every failure.

Progress goes to stderr (a long apply shows it moves); the summary is the command's result.
Messages are the client's (server message included, secrets already scrubbed).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from kcplan.apply.steps import Outcome, Step, StepResult
from kcplan.plan.model import ADDS, CHANGES, DESTROYS, Action
from kcplan.views.style import PLAIN, Palette

_SYMBOL = {"delete": ("-", "red"), "create": ("+", "green"), "update": ("~", "yellow"),
           "run_state": ("~", "yellow"), "adopt": ("=", "cyan"), "forget": ("-", "red"),
           "offsets": ("~", "yellow")}
_RUN_VERB = {"PAUSED": "paused", "RUNNING": "resumed", "STOPPED": "stopped"}
_RUN_NOUN = {"PAUSED": "pause", "RUNNING": "resume", "STOPPED": "stop"}


def seconds(value: float) -> str:
    return f"{value:.1f} s"


def _done_text(step: Step) -> str:
    if step.op == "delete":
        if step.rollback:
            return "deleted"
        return "deleted (replace: created again next)" if step.action is Action.REPLACE else "deleted"
    if step.op == "create":
        return "created" + (f" ({step.target})" if step.target and step.target != "RUNNING" else "")
    if step.op == "update":
        return "previous config restored" if step.rollback else "updated"
    if step.op == "run_state":
        return _RUN_VERB[step.target or "RUNNING"]
    if step.op == "adopt":
        return "recorded in state (already matched the code)"
    if step.op == "offsets" and step.offsets is not None:
        what = "offsets reset" if step.offsets.kind == "reset" else "offsets set"
        return f"{what} ('{step.offsets.token}'), {step.target}"
    return "removed from state (already gone from the cluster)"


def step_noun(step: Step) -> str:
    return _RUN_NOUN[step.target or "RUNNING"] if step.op == "run_state" else step.op


def _lines(text: str) -> list[str]:
    """The message's lines, stripped, each only once (Connect repeats a validation message per task)."""
    return list(dict.fromkeys(line.strip() for line in text.strip().splitlines() if line.strip()))


def one_line(text: str, limit: int = 240) -> str:
    """A message on one progress line: its lines joined, cut at ``limit`` characters."""
    flat = " ".join(_lines(text))
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def progress_line(result: StepResult, done: int, total: int, palette: Palette = PLAIN) -> str:
    """e.g. '  + orders-sink: created (1.2 s)  [3/20]'."""
    step = result.step
    prefix = "rollback: " if step.rollback else ""
    if result.ok:
        sym, col = _SYMBOL[step.op]
        text = f"{prefix}{_done_text(step)}"
    else:
        sym, col = "!", "red"
        reason = one_line(result.error.message) if result.error else "failed"
        text = f"{prefix}{step_noun(step)} failed: {reason}"
    note = f"; {result.note}" if result.note else ""
    return f"  {palette.colour(sym, col)} {step.name}: {text} ({seconds(result.seconds)}{note})  [{done}/{total}]"


def _indent(text: str, by: str) -> str:
    return ("\n" + by).join(_lines(text))


def _connector_actions(outcome: Outcome) -> dict[str, Action]:
    steps = [r.step for r in outcome.results] + outcome.skipped + outcome.not_started
    return {s.name: s.action for s in steps}


def finished_actions(outcome: Outcome) -> list[Action]:
    """The plan action of every connector whose steps all finished."""
    actions = _connector_actions(outcome)
    unfinished = outcome.failed_names | {s.name for s in outcome.skipped + outcome.not_started}
    return [a for n, a in actions.items() if n not in unfinished]


def action_counts(outcome: Outcome) -> dict[str, int]:
    """Terraform's added/changed/destroyed over finished connectors, plus the state-only actions."""
    finished = finished_actions(outcome)
    return {"added": sum(a in ADDS for a in finished), "changed": sum(a in CHANGES for a in finished),
            "destroyed": sum(a in DESTROYS for a in finished), "adopted": finished.count(Action.ADOPT),
            "forgotten": finished.count(Action.FORGET)}


def render_summary(outcome: Outcome, *, what: str = "Apply", palette: Palette = PLAIN) -> str:
    """Counts per plan action (Terraform's add/change/destroy), then every failure and what was left."""
    n = action_counts(outcome)
    counts = f"{n['added']} added, {n['changed']} changed, {n['destroyed']} destroyed"
    if what == "Rollback":
        finished = finished_actions(outcome)
        deleted = sum(a is Action.CREATE for a in finished)
        counts = f"{len(finished) - deleted} restored to their previous config, {deleted} created by this apply deleted"
    if n["adopted"] or n["forgotten"]:
        counts += f"; state only: {n['adopted']} adopted, {n['forgotten']} forgotten"
    failures = outcome.failures
    took = seconds(outcome.seconds)
    if outcome.interrupted:
        head = f"{what} interrupted: {counts}"
    elif failures or outcome.save_error:
        head = f"{what} finished with errors: {counts}"
    else:
        head = f"{what} complete: {counts}"
    if failures:
        head += f"; {len(outcome.failed_names)} failed"
    lines = [palette.colour(head + f" ({took}).", "bold")]
    if failures:
        lines.append("")
        lines.append(palette.colour("Failed:", "red"))
        for r in failures:
            message = r.error.message if r.error else "failed"
            if r.error and r.error.specific_hint:  # e.g. what a Connect 4.x 500 means
                message += f"\n{r.error.specific_hint}"
            lines.append(f"  {r.step.name} ({step_noun(r.step)}): {_indent(message, '    ')}")
    if outcome.skipped:
        shown = ", ".join(f"{s.name} ({step_noun(s)})" for s in outcome.skipped)
        lines.append(f"Not done, because an earlier step of the same connector failed: {shown}")
    if outcome.abandoned:
        lines.append("Abandoned while under way (a second interrupt): " + ", ".join(outcome.abandoned)
                     + ". They may still happen without being recorded in the state: 'kcplan plan' reads the "
                     "cluster and shows them.")
    if outcome.not_started:
        shown = ", ".join(f"{s.name} ({step_noun(s)})" for s in outcome.not_started)
        lines.append(f"Not started: {shown}")
    if outcome.save_error:
        lines.append(f"Error: {outcome.save_error.message}")
        if outcome.unsaved:
            lines.append("Changed on the cluster but NOT recorded in the state file: "
                         + ", ".join(outcome.unsaved) + ". 'kcplan plan' reads the cluster and shows them "
                         "(as adopt, or as conflicts to import).")
    if failures or outcome.interrupted or outcome.not_started or outcome.skipped:
        lines.append("The state records every finished step; 'kcplan plan' shows what is left to do.")
    return "\n".join(lines) + "\n"


def render_waves(waves: Sequence[Mapping[str, Any]], total: Outcome, palette: Palette = PLAIN) -> str:
    """e.g. 'Waves: 1 of 3 healthy; wave 2 (b, c) unhealthy: stopped; not started: d, e (...)'."""
    healthy = sum(w["status"] == "healthy" for w in waves)
    stopped = [w for w in waves if w["status"] not in ("healthy", "not started")]
    left = [name for w in waves if w["status"] == "not started" for name in w["connectors"]]
    line = f"Waves: {healthy} of {len(waves)} healthy"
    for w in stopped:
        line += f"; wave {w['wave']} ({', '.join(w['connectors'])}) {w['status']}: the rollout stopped there"
    lines = [palette.colour(line + ".", "bold"), render_summary(total, what="Rollout", palette=palette).rstrip("\n")]
    if left:
        lines.append(f"Not touched (later waves): {', '.join(left)}. The state does not record them; "
                     "'kcplan plan' shows them.")
    return "\n".join(lines) + "\n"
