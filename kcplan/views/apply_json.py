"""`kcplan apply --json`: the apply's result as one JSON document on stdout, for CI pipelines.

Built from the same objects as the text views (Outcome, HealthResult), so it says nothing the text does
not: secrets were scrubbed before these objects existed. Progress still goes to stderr line by line.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from kcplan.apply.health import HealthResult
from kcplan.apply.steps import Outcome, Step, StepResult
from kcplan.views.apply_view import action_counts, step_noun

FORMAT_VERSION = 1


def _step(step: Step) -> dict[str, Any]:
    return {"connector": step.name, "step": step_noun(step), "action": step.action.value}


def _result(result: StepResult) -> dict[str, Any]:
    out = {**_step(result.step), "ok": result.ok, "seconds": round(result.seconds, 3)}
    if result.error is not None:
        out["error"] = result.error.message
        if result.error.specific_hint:
            out["hint"] = result.error.specific_hint
    if result.note:
        out["note"] = result.note
    return out


def outcome_doc(outcome: Outcome) -> dict[str, Any]:
    """Every step's result, what was skipped or not started, and Terraform-style counts."""
    return {
        "complete": not (outcome.failures or outcome.interrupted or outcome.save_error or outcome.not_started),
        "interrupted": outcome.interrupted,
        "counts": {**action_counts(outcome), "failed": len(outcome.failed_names)},
        "steps": [_result(r) for r in outcome.results],
        "skipped": [_step(s) for s in outcome.skipped],
        "not_started": [_step(s) for s in outcome.not_started],
        "abandoned": list(outcome.abandoned),
        "state_save_error": outcome.save_error.message if outcome.save_error else None,
        "unsaved": list(outcome.unsaved),
        "seconds": round(outcome.seconds, 3),
    }


def health_doc(results: Sequence[HealthResult], verbose: bool) -> list[dict[str, Any]]:
    """One entry per verified connector; traces cut to their first line unless ``verbose``."""
    return [{
        "connector": r.name, "verdict": r.verdict, "state": r.state,
        "tasks_running": r.tasks_running, "tasks_total": r.tasks_total, "worker": r.worker or None,
        "restarted": r.restarted, "detail": r.detail or None,
        "failures": [{"task": f.task, "worker": f.worker, "trace": f.trace if verbose else f.first_line}
                     for f in r.failures],
    } for r in results]


@dataclass
class Report:
    """What an apply did, filled in as it goes (None: that part did not run); ``rollback`` has the same shape."""

    env: str = ""
    apply: dict[str, Any] | None = None
    health: list[dict[str, Any]] | None = None
    health_error: str | None = None  # verification itself failed (e.g. the cluster became unreachable)
    rollback: Report | None = None
    waves: list[dict[str, Any]] | None = None  # apply --canary/--wave-size: {wave, connectors, status} each

    def doc(self) -> dict[str, Any]:
        return {"apply": self.apply, "health": self.health, "health_error": self.health_error,
                "rollback": self.rollback.doc() if self.rollback else None}


def render_json(report: Report, exit_code: int) -> str:
    """The whole document; ``health`` None means not verified (--no-verify, or nothing to verify)."""
    doc = {"format_version": FORMAT_VERSION, "env": report.env, "exit_code": exit_code, **report.doc(),
           "waves": report.waves}
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
