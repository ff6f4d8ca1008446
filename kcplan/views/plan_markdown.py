"""Plans -> Markdown for a pull-request comment (``kcplan plan --format markdown``): pure, objects in, string out.

One heading per environment with its counts, the diff of each connector in a collapsible
``<details>`` block with a fenced ``diff`` inside, drift and conflicts, warnings, and a last line
that says how to apply. Written for GitHub's renderer (GitLab's renders it the same): text from the
plan (names, values, messages) is escaped for the place it lands in: a code span, a table cell, HTML
(``<summary>``) or a fence longer than any run of backticks it holds. The Plan holds no secret
values (sensitive ones are masked there already); nothing here could unmask one.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Sequence
from typing import NamedTuple

from kcplan.config.sensitive import MASK
from kcplan.plan.model import CHANGES, Action, Change, Drift, KeyChange, Plan
from kcplan.views.plan_view import change_note, offsets_lines, symbol

_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>|~#&!])")
_BACKTICKS = re.compile(r"`+")


class EnvPlan(NamedTuple):
    """One environment's outcome: its plan, or the one-line error that kept it from being planned."""

    env: str
    plan: Plan | None = None
    error: str | None = None


# -- escaping ------------------------------------------------------------------------------------

def text(value: str) -> str:
    """Plain Markdown text: every character that could start markup backslash-escaped, on one line."""
    return _MD_SPECIAL.sub(r"\\\1", " ".join(value.splitlines()))


def code(value: str) -> str:
    """An inline code span holding ``value`` verbatim (CommonMark: a longer backtick run than any inside)."""
    value = " ".join(value.splitlines())
    run = max((len(m) for m in _BACKTICKS.findall(value)), default=0)
    ticks = "`" * (run + 1)
    pad = " " if value.startswith("`") or value.endswith("`") or run else ""
    return f"{ticks}{pad}{value}{pad}{ticks}"


def cell(value: str) -> str:
    """Markdown for a table cell: a pipe ends the cell even inside a code span, so it is escaped too."""
    return value.replace("|", "\\|")


def html_code(value: str) -> str:
    return f"<code>{html.escape(value, quote=False)}</code>"


def fenced(lines: Sequence[str], info: str = "diff") -> list[str]:
    """A fenced block whose fence is longer than any backtick run in its lines."""
    run = max((len(m) for line in lines for m in _BACKTICKS.findall(line)), default=0)
    fence = "`" * max(3, run + 1)
    return [f"{fence}{info}", *lines, fence]


# -- counts --------------------------------------------------------------------------------------

def counts(plan: Plan) -> str:
    """'1 to add, 2 to change, 0 to replace, 0 to destroy' (each connector counted once), or 'no changes'."""
    acts = [c.action for c in plan.actions]
    if not acts:
        return "no changes"
    parts = [f"{acts.count(Action.CREATE)} to add", f"{sum(a in CHANGES for a in acts)} to change",
             f"{acts.count(Action.REPLACE)} to replace", f"{acts.count(Action.DELETE)} to destroy"]
    parts += [f"{acts.count(a)} to {a.value}" for a in (Action.ADOPT, Action.FORGET) if a in acts]
    return ", ".join(parts)


def _extras(plan: Plan) -> str:
    parts = []
    if plan.conflicts:
        parts.append(f"{len(plan.conflicts)} conflict{'s' if len(plan.conflicts) != 1 else ''}")
    if plan.drift:
        parts.append(f"{len(plan.drift)} changed outside kcplan")
    return "".join(f"; {p}" for p in parts)


# -- diff lines ----------------------------------------------------------------------------------

def _value(value: str | None, hidden: bool) -> str:
    return MASK if hidden else json.dumps(value, ensure_ascii=False)


def key_lines(k: KeyChange, note: str = "") -> list[str]:
    """A key as diff lines: '+' added, '-' removed, '-' then '+' changed (masked values stay masked)."""
    if k.kind == "add":
        return [f"+ {k.key}: {_value(k.new, k.new_hidden)}{note}"]
    if k.kind == "remove":
        return [f"- {k.key}: {_value(k.old, k.old_hidden)}{note}"]
    return [f"- {k.key}: {_value(k.old, k.old_hidden)}", f"+ {k.key}: {_value(k.new, k.new_hidden)}{note}"]


def _run_state_lines(before: str | None, after: str | None) -> list[str]:
    return [f"- run state: {before}", f"+ run state: {after}"]


def change_lines(c: Change) -> list[str]:
    lines: list[str] = []
    for k in c.keys:
        note = "  (forces replacement)" if c.action is Action.REPLACE and k.key == "connector.class" else ""
        lines += key_lines(k, note)
    if c.action in (Action.PAUSE, Action.RESUME, Action.STOP) or (
            c.action is Action.UPDATE and c.run_state_change):
        lines += _run_state_lines(c.state_from, c.state_to)
    if c.offsets is not None:
        lines += [line.removeprefix("      ") for line in offsets_lines(c)]
    return lines


def drift_lines(d: Drift) -> list[str]:
    lines = [line for k in d.keys for line in key_lines(k)]
    if "run_state" in d.kinds:
        lines += _run_state_lines(d.applied_state, d.live_state)
    return lines


def _block(summary: str, lines: Sequence[str]) -> list[str]:
    """A collapsible block (its diff inside), or one line when there is nothing to unfold; a blank line after
    either (an HTML block runs on to the next blank line)."""
    if not lines:
        return [f"<p>{summary}</p>", ""]
    return [f"<details><summary>{summary}</summary>", "", *fenced(lines), "", "</details>", ""]


def _change_summary(c: Change) -> str:
    return f"{html.escape(symbol(c.action))} {c.action.value} {html_code(c.name)}{html.escape(change_note(c))}"


# -- sections ------------------------------------------------------------------------------------

def _where(plan: Plan) -> str:
    if not plan.refreshed:
        where = "Planned against the state alone (`--refresh=false`): the cluster was not contacted"
    else:
        urls = ", ".join(code(u) for u in plan.connect_urls) or "?"
        where = f"Kafka cluster {code(plan.kafka_cluster_id or '?')} at {urls}"
    if plan.state_lineage is None:
        return f"{where}; no state yet (kcplan has applied nothing here)."
    return f"{where}; state serial {plan.state_serial} (lineage {code(plan.state_lineage)})."


def env_section(plan: Plan) -> list[str]:
    out = [f"### {code(plan.env)}: {counts(plan)}{_extras(plan)}", "", _where(plan), ""]
    if plan.drift:
        n = len(plan.drift)
        out += ["> [!WARNING]",
                f"> {n} connector{'s' if n != 1 else ''} changed outside kcplan (the cluster differs from what "
                "kcplan last applied); the changes below put the code's version back.", ""]
        for d in plan.drift:
            what = "has been deleted" if d.deleted else "has changed"
            out += _block(f"{'-' if d.deleted else '~'} {html_code(d.name)} {what} outside kcplan", drift_lines(d))
    if plan.conflicts:
        out += ["> [!NOTE]",
                "> Declared in the code and present on the cluster, but not managed by kcplan: left untouched. "
                "Take them over with `--adopt`, or record them as they are with `kcplan import NAME`.", ""]
        for c in plan.conflicts:
            where = f" (declared in {html_code(c.source)})" if c.source else ""
            out += _block(f"! {html_code(c.name)}{where}: <code>--adopt</code> would {c.action.value} it",
                          change_lines(c))
    if plan.actions:
        for c in plan.actions:
            out += _block(_change_summary(c), change_lines(c))
    elif not plan.conflicts:
        matches = "cluster" if plan.refreshed else "state"
        out += [f"No changes. The {matches} matches the configuration.", ""]
    if plan.unmanaged:
        n = len(plan.unmanaged)
        out += [f"<details><summary>{n} connector{'s' if n != 1 else ''} on the cluster not managed by kcplan "
                "(left untouched)</summary>", ""]
        out += [f"- {html_code(name)}" for name in plan.unmanaged]
        out += ["", "</details>", ""]
    out += [f"> **Warning:** {text(w)}" for w in plan.warnings]
    if plan.warnings:
        out.append("")
    return out


def _error_section(env: str, error: str) -> list[str]:
    return [f"### {code(env)}: not planned", "", *fenced(error.splitlines() or [""], "text"), ""]


def _apply_line(results: Sequence[EnvPlan], saved: str | None) -> list[str]:
    failed = [r.env for r in results if r.plan is None]
    pending = [r.env for r in results if r.plan is not None and r.plan.has_changes]
    out = []
    if failed:
        out.append(f"Not planned: {', '.join(code(e) for e in failed)}. Fix the errors above and plan again.")
    if not pending:
        if not failed:
            out.append("Nothing to apply.")
        return out
    if saved is not None and len(results) == 1:
        out.append(f"To apply exactly this plan: {code(f'kcplan apply {saved}')}.")
    elif len(pending) == 1:
        out.append(f"To apply: {code(f'kcplan plan -e {pending[0]} --out plan.out')}, then "
                   f"{code('kcplan apply plan.out')}.")
    else:
        out.append(f"To apply, in each of {', '.join(code(e) for e in pending)}: "
                   f"{code('kcplan plan -e ENV --out plan.out')}, then {code('kcplan apply plan.out')}.")
    out.append("A saved plan is refused when the state, the cluster or the code changed after it was made: "
               "plan again then.")
    return out


def render_markdown(results: Sequence[EnvPlan], saved: str | None = None) -> str:
    """The PR comment: a table of environments (when several), a section each, how to apply.

    ``saved``: the plan file of a single environment's ``--out``, named in the last line.
    """
    out = ["## kcplan plan", ""]
    if len(results) > 1:
        out += ["| environment | plan |", "|---|---|"]
        for r in results:
            outcome = f"{counts(r.plan)}{_extras(r.plan)}" if r.plan is not None else "**error** (below)"
            out.append(f"| {cell(code(r.env))} | {outcome} |")
        out.append("")
    for r in results:
        out += env_section(r.plan) if r.plan is not None else _error_section(r.env, r.error or "failed")
    out += _apply_line(results, saved)
    return "\n".join(out) + "\n"
