"""Where apply's words go: a human view and a JSON view owning the streams and the --json report.

The command says what happened (a plan, a step done, a summary, health results); the view decides the
stream: the human view puts results on stdout and progress on stderr, the JSON view puts everything
human on stderr and one JSON document on stdout at the end (as Terraform's views.Apply).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any, TextIO

from kcplan.apply.health import HealthResult
from kcplan.apply.steps import Outcome, StepResult
from kcplan.plan.model import Plan
from kcplan.views import apply_json
from kcplan.views.apply_view import progress_line, render_summary, render_waves
from kcplan.views.health_view import render_health
from kcplan.views.plan_view import render_plan
from kcplan.views.style import Palette


class ApplyView:
    """Human output: the plan, summaries and health on ``out``; progress on ``err``."""

    def __init__(self, out: TextIO | None = None, err: TextIO | None = None, *, no_color: bool = False) -> None:
        self.out = out or sys.stdout
        self.err = err or sys.stderr
        self.out_colours = Palette.for_stream(no_color, self.out)
        self.err_colours = Palette.for_stream(no_color, self.err)
        self.report = apply_json.Report()
        self._record = self.report  # the part of the report being filled in (apply, then rollback)

    def plan(self, plan: Plan) -> None:
        self.report.env = plan.env
        self.out.write(render_plan(plan, self.out_colours))

    def result(self, text: str) -> None:
        """A line of the command's result (e.g. "nothing to apply")."""
        print(text, file=self.out, flush=True)

    def progress(self, text: str) -> None:
        print(text, file=self.err, flush=True)

    def step_done(self, result: StepResult, done: int, total: int) -> None:
        self.progress(progress_line(result, done, total, self.err_colours))

    def ask(self, question: str) -> None:
        self.out.write(f"\n{question}\n  Enter a value: ")
        self.out.flush()

    def outcome(self, outcome: Outcome, *, rollback: bool = False) -> None:
        doc = apply_json.outcome_doc(outcome)
        if rollback:
            self.report.rollback = self._record = apply_json.Report(env=self.report.env, apply=doc)
        else:
            self.report.apply = doc
        self.out.write("\n" + render_summary(outcome, what="Rollback" if rollback else "Apply",
                                              palette=self.out_colours))
        self.out.flush()

    def health(self, results: Sequence[HealthResult], verbose: bool) -> None:
        """Results of one verification; a later wave's are added to the earlier ones'."""
        self._record.health = (self._record.health or []) + apply_json.health_doc(results, verbose)
        self.out.write("\n" + render_health(list(results), verbose, self.out_colours))

    def waves(self, waves: Sequence[dict[str, Any]], total: Outcome) -> None:
        """The end of a rollout in waves: each wave's status, and the totals over the waves applied."""
        self.report.waves = list(waves)
        self.report.apply = apply_json.outcome_doc(total)
        self.out.write("\n" + render_waves(waves, total, self.out_colours))

    def health_error(self, message: str) -> None:
        self._record.health_error = message
        self.result(f"\nHealth could not be verified: {message}")

    def finish(self, code: int) -> int:
        """The end of the command: flush; returns the exit code."""
        self.out.flush()
        return code


class JsonApplyView(ApplyView):
    """--json: the human text on stderr, the report as one JSON document on stdout at the end."""

    def __init__(self, out: TextIO | None = None, err: TextIO | None = None, *, no_color: bool = False) -> None:
        self._document = out or sys.stdout
        super().__init__(out=err or sys.stderr, err=err or sys.stderr, no_color=no_color)

    def finish(self, code: int) -> int:
        super().finish(code)
        self._document.write(apply_json.render_json(self.report, code))
        self._document.flush()
        return code


def make_view(json: bool, no_color: bool) -> ApplyView:
    return JsonApplyView(no_color=no_color) if json else ApplyView(no_color=no_color)
