"""One apply of a fresh plan, in waves: steps, verification with the stability window, rollback.

Without --canary/--wave-size the whole plan is one wave. With them each wave is applied and verified
before the next one starts; a wave that fails (a step failed, or a connector FAILED or unverified)
stops the apply, and the connectors of later waves are not touched: the state records exactly the
waves applied, and the next plan shows the rest (kcplan/apply/waves.py).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import cast

from kcplan import exit_codes
from kcplan.apply.executor import Executor
from kcplan.apply.health import DesiredState, Expectation, masked, verify
from kcplan.apply.interrupts import Interrupts
from kcplan.apply.options import ApplyOptions
from kcplan.apply.rollback import rollback_steps
from kcplan.apply.runner import StepRunner
from kcplan.apply.steps import Outcome, Step, build_steps, verify_targets
from kcplan.apply.waves import merge_outcomes, plan_waves
from kcplan.config.sensitive import SensitiveKeys, scrub
from kcplan.connect.client import ConnectClient
from kcplan.connect.models import LiveConnector
from kcplan.errors import KcplanError
from kcplan.plan.model import Plan
from kcplan.state.model import State
from kcplan.state.store import StateStore
from kcplan.views.apply_output import ApplyView

_WAVE_STATUS = {exit_codes.OK: "healthy", exit_codes.UNHEALTHY: "unhealthy", exit_codes.ERROR: "errors"}


@dataclass
class ApplyRun:
    """``live`` is the snapshot read at the start: the only place the previous configs are known."""

    options: ApplyOptions
    view: ApplyView
    client: ConnectClient
    store: StateStore
    prior: State
    plan: Plan
    live: Mapping[str, LiveConnector]
    sensitive: SensitiveKeys
    parallelism: int
    _secrets: set[str] = field(default_factory=set)

    def execute(self, configs: Mapping[str, Mapping[str, str]]) -> int:
        plan = self.plan
        initial_state = self.client.server_info().supports("initial_state")
        steps = build_steps(plan, configs, initial_state=initial_state)
        waves = plan_waves(plan, self.options.canary, self.options.wave_size)
        base = self.prior.with_salt(plan.digest_salt).with_cluster_id(
            plan.kafka_cluster_id or self.prior.kafka_cluster_id)
        # a worker's trace may quote config values: mask the secrets of the new and the previous configs
        self._secrets = {value for config in [*configs.values(), *(c.config for c in self.live.values())]
                         for value in self.sensitive.secret_values(config)}
        self.view.report.env = plan.env
        in_waves = f", in {len(waves)} waves" if len(waves) > 1 else ""
        self.view.progress(f"Applying {len(plan.actions)} change(s) to environment '{plan.env}' ({len(steps)} "
                           f"step(s), up to {self.parallelism} at a time{in_waves}):")
        with Interrupts() as interrupts:
            executor = Executor(StepRunner(self.client), self.store, base, parallelism=self.parallelism,
                                progress=self.view.step_done, interrupts=interrupts)
            if len(waves) <= 1:
                return self._wave(executor, steps, initial_state)
            return self._waves(executor, steps, waves, initial_state)

    def _waves(self, executor: Executor, steps: list[Step], waves: Sequence[tuple[str, ...]],
               initial_state: bool) -> int:
        outcomes: list[Outcome] = []
        report: list[dict[str, object]] = []
        code = exit_codes.OK
        for index, names in enumerate(waves, 1):
            if code != exit_codes.OK:
                report.append({"wave": index, "connectors": list(names), "status": "not started"})
                continue
            self.view.progress(f"\nWave {index} of {len(waves)} ({len(names)} connector(s)): {', '.join(names)}")
            wanted = set(names)
            code = self._wave(executor, [s for s in steps if s.name in wanted], initial_state, outcomes)
            report.append({"wave": index, "connectors": list(names), "status": _WAVE_STATUS[code]})
        self.view.waves(report, merge_outcomes(outcomes))
        return code

    def _wave(self, executor: Executor, steps: list[Step], initial_state: bool,
              outcomes: list[Outcome] | None = None) -> int:
        """Apply ``steps``, verify what they wrote, roll back when asked; the exit code of this part."""
        outcome = executor.run(steps)
        if outcomes is not None:
            outcomes.append(outcome)
        self.view.outcome(outcome)
        if outcome.interrupted or outcome.save_error:
            return exit_codes.ERROR
        code = exit_codes.ERROR if outcome.failures else exit_codes.OK
        if not self.options.verify:
            self.view.result("Health not verified (--no-verify).")
            return code
        try:
            with executor.interrupts.raising():
                failed = self._verify(outcome, "")
            if failed is None:
                return code
            if (self.options.rollback_on_failure and failed
                    and not self._rollback(executor, failed, initial_state)):
                return exit_codes.ERROR
        except KeyboardInterrupt:
            self.view.result("\nHealth verification interrupted; the apply itself finished and the state "
                             "records it.")
            return exit_codes.ERROR
        return exit_codes.ERROR if outcome.failures else exit_codes.UNHEALTHY

    def _verify(self, outcome: Outcome, title: str) -> list[str] | None:
        """Health check of what the outcome wrote: None when all is healthy, else the FAILED names.
        Secrets are masked in the traces and details shown."""
        expectations = [Expectation(name=n, state=cast(DesiredState, s), action=a, written_at=t)
                        for n, s, a, t in verify_targets(outcome)]
        if not expectations:
            return None
        timeout, stable = self.options.verify_timeout, self.options.verify_stable
        window = f", each healthy for {stable:g} s" if stable > 0 else ""
        self.view.progress(f"\n{title}Verifying the health of {len(expectations)} connector(s) "
                           f"(up to {timeout:g} s{window}):")
        try:
            results = verify(self.client, expectations, timeout=timeout, restart_failed=self.options.restart_failed,
                             stable=stable,
                             progress=lambda line: self.view.progress(scrub(line, self._secrets)))
        except KcplanError as exc:
            self.view.health_error(exc.message)
            return []
        results = [masked(r, self._secrets) for r in results]
        self.view.health(results, self.options.verbose)
        bad = [r for r in results if r.verdict != "healthy"]
        if not bad:
            return None
        shown = ", ".join(f"{r.name} ({'FAILED' if r.verdict == 'failed' else 'unverified at the deadline'})"
                          for r in bad)
        self.view.result(f"Applied, but not healthy: {shown}.")
        return [r.name for r in bad if r.verdict == "failed"]

    def _rollback(self, executor: Executor, failed: list[str], initial_state: bool) -> bool:
        """Roll back the FAILED connectors with the same executor (its state and lock); False when a
        rollback step failed or was interrupted."""
        steps, notes = rollback_steps(failed, self.plan, self.live, self.prior, self.sensitive,
                                      self.plan.digest_salt, initial_state=initial_state)
        for note in notes:
            self.view.result(f"Not rolled back: {note}")
        if not steps:
            return True
        names = sorted({s.name for s in steps})
        self.view.progress(f"\nRolling back {len(names)} connector(s) that ended FAILED (--rollback-on-failure): "
                           f"{', '.join(names)}")
        outcome = executor.run(steps)
        self.view.outcome(outcome, rollback=True)
        if outcome.interrupted or outcome.save_error:
            return False
        with executor.interrupts.raising():
            self._verify(outcome, "Rollback: ")
        return not outcome.failures
