"""kcplan heal's report -> a table for people, JSON for scripts, Prometheus text for node_exporter.

Objects in, strings out (no I/O, no clock: the check time comes in the report). No trace or config
value is ever shown: failures are named by part (connector, task ids); 'kcplan status --failed' has
the (masked) traces. Prometheus naming and layout follow drift_view (gauges, HELP/TYPE lines).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from tabulate import tabulate

from kcplan.heal.policy import FORGOTTEN, GAVE_UP, GONE, RESTART, UNMANAGED, WAIT, Decision, Outcome
from kcplan.views.drift_view import _metric, _sample, iso_time

JSON_FORMAT_VERSION = 1
_WORDS = {RESTART: "restarted", WAIT: "waiting", GAVE_UP: "gave up", UNMANAGED: "not touched (unmanaged)",
          FORGOTTEN: "healthy again, record forgotten", GONE: "deleted, record dropped"}


@dataclass(frozen=True)
class HealReport:
    """One environment's run: the outcome, or the error that stopped it; ``checked_at`` in Unix seconds."""

    env: str
    checked_at: float
    outcome: Outcome | None = None
    error: str | None = None
    dry_run: bool = False
    max_restarts: int | None = None


def parts(d: Decision) -> str:
    """'connector, tasks 0, 2' / 'task 1' / '' (not failed)."""
    items = ["connector"] if d.connector_failed else []
    if d.failed_tasks:
        ids = ", ".join(str(t) for t in d.failed_tasks)
        items.append(f"task{'s' if len(d.failed_tasks) > 1 else ''} {ids}")
    return ", ".join(items)


def _action(d: Decision, dry_run: bool) -> str:
    if dry_run and d.action == RESTART:
        return "would restart"
    return _WORDS[d.action]


def _detail(d: Decision, report: HealReport) -> str:
    if d.error:
        return f"restart refused: {d.error}"
    if d.action == RESTART:
        nxt = f"; next not before {iso_time(d.due_at)}" if d.due_at is not None else ""
        return f"restart {d.restarts}{nxt}"
    if d.action == WAIT:
        return (f"{d.restarts} restart{'' if d.restarts == 1 else 's'} made; next due "
                f"{iso_time(d.due_at) if d.due_at is not None else 'now'}")
    if d.action == GAVE_UP:
        return f"{d.restarts} restarts made (--max-restarts {report.max_restarts})"
    if d.action == UNMANAGED:
        return "--include-unmanaged to heal it"
    return f"after {d.restarts} restart{'' if d.restarts == 1 else 's'}"


def _counts(outcome: Outcome) -> dict[str, int]:
    counts = {RESTART: 0, WAIT: 0, GAVE_UP: 0, UNMANAGED: 0}
    for d in outcome.decisions:
        if d.action in counts:
            counts[d.action] += 1
    return counts


def summary_line(report: HealReport) -> str:
    assert report.outcome is not None
    c = _counts(report.outcome)
    failing = c[RESTART] + c[WAIT] + c[GAVE_UP]
    if not failing:
        line = f"{report.env}: nothing FAILED among the connectors heal looks after."
    else:
        verb = "would restart" if report.dry_run else "restarted"
        line = (f"{report.env}: {failing} FAILED: {c[RESTART]} {verb}, {c[WAIT]} waiting for their backoff, "
                f"{c[GAVE_UP]} given up.")
    if c[UNMANAGED]:
        line += f" {c[UNMANAGED]} FAILED unmanaged not touched."
    if report.dry_run:
        line += " Dry run: nothing restarted, nothing recorded."
    return line


def render_text(report: HealReport) -> str:
    """One row per connector heal acted on or reported, then a summary line and the next step."""
    assert report.outcome is not None
    rows = [[d.name, _action(d, report.dry_run), parts(d), _detail(d, report)] for d in report.outcome.decisions]
    out: list[str] = []
    if rows:
        out += [tabulate(rows, headers=["NAME", "ACTION", "FAILED", "DETAIL"], tablefmt="plain",
                         disable_numparse=True), ""]
    out.append(summary_line(report))
    if report.outcome.failing:
        out.append(f"Traces: 'kcplan status -e {report.env} --failed --traces'.")
    return "\n".join(out)


# -- JSON -------------------------------------------------------------------------------------------

def _decision_json(d: Decision, dry_run: bool) -> dict[str, Any]:
    return {"name": d.name, "action": d.action, "restarted": d.action == RESTART and not dry_run,
            "managed": d.managed, "restarts": d.restarts, "connector_failed": d.connector_failed,
            "failed_tasks": list(d.failed_tasks),
            "next_restart_at": iso_time(d.due_at) if d.due_at is not None else None, "error": d.error}


def render_json(report: HealReport) -> str:
    item: dict[str, Any] = {"format_version": JSON_FORMAT_VERSION, "env": report.env,
                            "ok": report.outcome is not None, "error": report.error,
                            "checked_at": iso_time(report.checked_at), "dry_run": report.dry_run,
                            "max_restarts": report.max_restarts}
    if report.outcome is not None:
        item["failing"] = report.outcome.failing
        item["counts"] = _counts(report.outcome)
        item["connectors"] = [_decision_json(d, report.dry_run) for d in report.outcome.decisions]
    return json.dumps(item, indent=2)


# -- Prometheus ---------------------------------------------------------------------------------------

def _per(report: HealReport, actions: Sequence[str]) -> list[Decision]:
    return [d for d in report.outcome.decisions if d.action in actions] if report.outcome else []


def render_prometheus(report: HealReport) -> str:
    """Gauges; a run that failed has only success 0 and the time (so the alert can fire)."""
    env = {"env": report.env}
    out: list[str] = []
    out += _metric("kcplan_heal_check_success", "1 if the last kcplan heal run of the environment succeeded.",
                   [_sample("kcplan_heal_check_success", env, int(report.outcome is not None))])
    out += _metric("kcplan_heal_check_timestamp_seconds", "Unix time of the last kcplan heal run.",
                   [_sample("kcplan_heal_check_timestamp_seconds", env, float(report.checked_at))])
    if report.outcome is None:
        return "\n".join(out) + "\n"
    c = _counts(report.outcome)
    failing = _per(report, (RESTART, WAIT, GAVE_UP))
    out += _metric("kcplan_heal_failed_connectors",
                   "Connectors heal looks after with the connector or a task FAILED at this run.",
                   [_sample("kcplan_heal_failed_connectors", env, len(failing))])
    out += _metric("kcplan_heal_restarted_connectors", "Connectors restarted by this run (0 with --dry-run).",
                   [_sample("kcplan_heal_restarted_connectors", env, 0 if report.dry_run else c[RESTART])])
    out += _metric("kcplan_heal_gave_up_connectors", "FAILED connectors heal gave up on (--max-restarts reached).",
                   [_sample("kcplan_heal_gave_up_connectors", env, c[GAVE_UP])])
    out += _metric("kcplan_heal_connector_failed", "1 for each FAILED connector heal looks after.",
                   (_sample("kcplan_heal_connector_failed", {**env, "connector": d.name}, 1) for d in failing))
    out += _metric("kcplan_heal_connector_restarts",
                   "Restarts made since the connector's record began (a gauge: forgotten once it is healthy).",
                   (_sample("kcplan_heal_connector_restarts", {**env, "connector": d.name}, d.restarts)
                    for d in failing))
    out += _metric("kcplan_heal_connector_gave_up", "1 for each connector heal gave up on.",
                   (_sample("kcplan_heal_connector_gave_up", {**env, "connector": d.name}, 1)
                    for d in _per(report, (GAVE_UP,))))
    return "\n".join(out) + "\n"
