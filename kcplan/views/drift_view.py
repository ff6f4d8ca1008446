"""Drift reports -> a table for people, JSON for scripts, Prometheus text for node_exporter.

Values come masked from kcplan.plan.drift already; this module only chooses words and layout.
The Prometheus text follows the exposition format (HELP/TYPE lines, every sample of a metric
together) so node_exporter's textfile collector reads it as is.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from tabulate import tabulate

from kcplan.plan.drift import KINDS, DriftReport, kinds_of
from kcplan.plan.model import Drift, KeyChange
from kcplan.views.plan_view import key_line
from kcplan.views.style import PLAIN, Palette

JSON_FORMAT_VERSION = 1
MAX_KEYS_IN_ROW = 4  # the table row names this many changed keys; the key section below lists all
_HOW = {"PAUSED": "paused", "STOPPED": "stopped", "RUNNING": "resumed"}


@dataclass(frozen=True)
class DriftCheck:
    """One environment's check: a report, or the error that stopped it; ``checked_at`` in Unix seconds."""

    env: str
    checked_at: float
    report: DriftReport | None = None
    error: str | None = None


# -- table ------------------------------------------------------------------------------------------

def _detail(d: Drift) -> str:
    if d.deleted:
        return f"deleted by hand (applied {d.applied_state})"
    parts = []
    if d.keys:
        names = [k.key for k in d.keys]
        shown = ", ".join(names[:MAX_KEYS_IN_ROW]) + (f" and {len(names) - MAX_KEYS_IN_ROW} more"
                                                      if len(names) > MAX_KEYS_IN_ROW else "")
        parts.append(f"changed by hand: {shown}")
    if d.applied_state != d.live_state:
        how = _HOW.get(d.live_state or "", "run state changed")
        parts.append(f"{how} by hand (applied {d.applied_state}, live {d.live_state})")
    return "; ".join(parts)


def _kind_text(kinds: list[str], palette: Palette) -> str:
    colour = "red" if "deleted" in kinds else ("cyan" if kinds == ["unmanaged"] else "yellow")
    return palette.colour(", ".join(kinds), colour)


def _rows(checks: Sequence[DriftCheck], multi: bool, palette: Palette) -> list[list[str]]:
    rows = []
    for check in checks:
        if check.report is None:
            continue
        items: list[tuple[str, list[str], str]] = [(d.name, kinds_of(d), _detail(d)) for d in check.report.drift]
        items += [(name, ["unmanaged"], "created by hand (not in the state)") for name in check.report.unmanaged]
        for name, kinds, detail in sorted(items):
            rows.append(([check.env] if multi else []) + [name, _kind_text(kinds, palette), detail])
    return rows


def _key_sections(checks: Sequence[DriftCheck], multi: bool, palette: Palette) -> list[str]:
    lines: list[str] = []
    for check in checks:
        for d in check.report.drift if check.report else ():
            if d.keys:
                lines.append(f"  {check.env}: {d.name}" if multi else f"  {d.name}")
                lines += [key_line(k, palette=palette) for k in d.keys]
    return lines


def _counts_text(counts: dict[str, int]) -> str:
    return ", ".join(f"{counts[k]} {k}" for k in KINDS if counts[k])


def summary_line(report: DriftReport) -> str:
    managed = f"{report.managed} managed (state serial {report.state_serial})"
    if not report.has_drift:
        line = f"{report.env}: no drift; {managed} match the cluster, none unmanaged."
    else:
        n = report.drifted
        line = (f"{report.env}: drift in {n} connector{'s' if n != 1 else ''} "
                f"({_counts_text(report.counts())}); {managed}.")
    if report.failed_connectors:
        line += (f" Not drift, but unhealthy: {_count_of(report.failed_connectors, 'connector')} with FAILED "
                 f"parts ({_count_of(report.failed_tasks, 'FAILED task')}): 'kcplan status -e {report.env} --failed'.")
    return line


def _count_of(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def render_table(checks: Sequence[DriftCheck], palette: Palette = PLAIN) -> str:
    """Drifted connectors (one row each), the changed keys, one summary line per environment."""
    multi = len(checks) > 1
    rows = _rows(checks, multi, palette)
    out: list[str] = []
    if rows:
        headers = (["ENV"] if multi else []) + ["NAME", "DRIFT", "DETAIL"]
        out += [tabulate(rows, headers=headers, tablefmt="plain", disable_numparse=True), ""]
        keys = _key_sections(checks, multi, palette)
        if keys:
            out += ["Changed keys (applied -> live):", *keys, ""]
    out += [summary_line(c.report) for c in checks if c.report is not None]
    drifted = [c.env for c in checks if c.report is not None and c.report.has_drift]
    if drifted:
        out.append(f"Next: 'kcplan plan -e {drifted[0]}' shows what apply would change back; "
                   f"'kcplan import -e {drifted[0]} NAME' takes over an unmanaged connector.")
    return "\n".join(out)


# -- JSON -------------------------------------------------------------------------------------------

def iso_time(unix_seconds: float) -> str:
    return datetime.fromtimestamp(unix_seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _key_json(k: KeyChange) -> dict[str, Any]:
    return {"key": k.key, "action": k.kind, "old": k.old, "new": k.new, "sensitive": k.old_hidden or k.new_hidden}


def _drift_json(d: Drift) -> dict[str, Any]:
    return {"name": d.name, "kinds": kinds_of(d), "keys": [_key_json(k) for k in d.keys],
            "run_state": {"applied": d.applied_state, "live": None if d.deleted else d.live_state}}


def _check_json(check: DriftCheck) -> dict[str, Any]:
    item: dict[str, Any] = {"env": check.env, "ok": check.report is not None, "error": check.error,
                            "checked_at": iso_time(check.checked_at)}
    r = check.report
    if r is not None:
        connectors = [_drift_json(d) for d in r.drift]
        connectors += [{"name": n, "kinds": ["unmanaged"], "keys": [], "run_state": None} for n in r.unmanaged]
        item.update({
            "drift": r.has_drift, "state_serial": r.state_serial, "managed": r.managed, "live": r.live,
            "failed_connectors": r.failed_connectors, "failed_tasks": r.failed_tasks, "counts": r.counts(),
            "connectors": sorted(connectors, key=lambda c: c["name"]),
        })
    return item


def render_json(checks: Sequence[DriftCheck]) -> str:
    return json.dumps({
        "format_version": JSON_FORMAT_VERSION,
        "drift": any(c.report is not None and c.report.has_drift for c in checks),
        "ok": all(c.report is not None for c in checks),
        "environments": [_check_json(c) for c in checks],
    }, indent=2)


# -- Prometheus text exposition format --------------------------------------------------------------

def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _sample(metric: str, labels: dict[str, str], value: float | int) -> str:
    text = ",".join(f'{k}="{_label(v)}"' for k, v in labels.items())
    number = str(value) if isinstance(value, int) else f"{value:.3f}"
    return f"{metric}{{{text}}} {number}"


def _metric(name: str, help_text: str, samples: Iterable[str]) -> list[str]:
    """HELP and TYPE, then the samples; nothing at all for a metric without samples."""
    lines = list(samples)
    return [f"# HELP {name} {help_text}", f"# TYPE {name} gauge", *lines] if lines else []


def render_prometheus(checks: Sequence[DriftCheck]) -> str:
    """Gauges per environment; an environment whose check failed has only success 0 and the time."""
    ok = [(c.env, c.report) for c in checks if c.report is not None]
    out: list[str] = []
    out += _metric("kcplan_drift_check_success",
                   "1 if the last kcplan drift check of the environment succeeded, 0 if it failed.",
                   (_sample("kcplan_drift_check_success", {"env": c.env}, int(c.report is not None))
                    for c in checks))
    out += _metric("kcplan_drift_check_timestamp_seconds", "Unix time of the last kcplan drift check.",
                   (_sample("kcplan_drift_check_timestamp_seconds", {"env": c.env}, float(c.checked_at))
                    for c in checks))
    out += _metric("kcplan_drift_detected",
                   "1 if some connector differs from what kcplan last applied, or is not managed by kcplan.",
                   (_sample("kcplan_drift_detected", {"env": env}, int(r.has_drift)) for env, r in ok))
    out += _metric("kcplan_drift_connectors",
                   "Connectors that differ from what kcplan last applied, by kind "
                   "(changed, deleted, run_state, unmanaged).",
                   (_sample("kcplan_drift_connectors", {"env": env, "kind": kind}, count)
                    for env, r in ok for kind, count in r.counts().items()))
    out += _metric("kcplan_connector_drift", "1 for each drifted connector and kind of drift.",
                   (_sample("kcplan_connector_drift", {"env": env, "connector": name, "kind": kind}, 1)
                    for env, r in ok for name, kind in _per_connector(r)))
    out += _metric("kcplan_managed_connectors", "Connectors in the kcplan state file.",
                   (_sample("kcplan_managed_connectors", {"env": env}, r.managed) for env, r in ok))
    out += _metric("kcplan_live_connectors", "Connectors on the cluster.",
                   (_sample("kcplan_live_connectors", {"env": env}, r.live) for env, r in ok))
    out += _metric("kcplan_failed_connectors", "Connectors on the cluster with the connector or a task FAILED.",
                   (_sample("kcplan_failed_connectors", {"env": env}, r.failed_connectors) for env, r in ok))
    out += _metric("kcplan_failed_tasks", "FAILED tasks on the cluster.",
                   (_sample("kcplan_failed_tasks", {"env": env}, r.failed_tasks) for env, r in ok))
    return "\n".join(out) + "\n"


def _per_connector(report: DriftReport) -> list[tuple[str, str]]:
    pairs = [(d.name, kind) for d in report.drift for kind in kinds_of(d)]
    pairs += [(name, "unmanaged") for name in report.unmanaged]
    return sorted(pairs)
