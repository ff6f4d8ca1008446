"""kcplan apply [PLAN_FILE]: apply a saved plan (or plan, show and confirm), then verify health.

With a plan file nothing is written until the plan is proven fresh (kcplan.apply.freshness): same
state lineage/serial, same cluster, every touched connector as it was planned, and the code still
rendering the same configs (secrets by digest; their plain values come from this re-render only).
The state lock is held from the first read to the last write. Exit codes: 0 applied and healthy,
1 error / failed action / interrupted, 3 applied but unhealthy or unverified at the deadline.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import cast

from kcplan import exit_codes
from kcplan.apply import freshness
from kcplan.apply.executor import Executor
from kcplan.apply.health import DesiredState, Expectation, masked, verify
from kcplan.apply.interrupts import Abandon, Interrupts
from kcplan.apply.options import DEFAULT_VERIFY_TIMEOUT, ApplyOptions
from kcplan.apply.rollback import rollback_steps
from kcplan.apply.runner import StepRunner
from kcplan.apply.steps import Outcome, build_steps, verify_targets
from kcplan.commands._messages import print_warnings
from kcplan.commands._options import add_lock_timeout, add_render_options, positive_seconds
from kcplan.commands._planning import load_environment, make_plan, refuse_offsets_problems
from kcplan.config.sensitive import SensitiveKeys, scrub
from kcplan.connect.client import ConnectClient
from kcplan.connect.models import LiveConnector
from kcplan.errors import KcplanError, PlanError, UsageError
from kcplan.plan import planfile
from kcplan.plan.model import Plan
from kcplan.state.model import State
from kcplan.state.store import StateStore
from kcplan.views.apply_output import ApplyView, make_view

CONFIRM = "Do you want to perform these actions? Only 'yes' will be accepted."


def _parallelism(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if not 1 <= value <= 64:
        raise argparse.ArgumentTypeError("must be between 1 and 64")
    return value


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("plan_file", nargs="?", type=Path, metavar="PLAN_FILE",
                        help="a plan saved by 'kcplan plan --out'; without it: plan -e ENV, show, confirm")
    parser.add_argument("--auto-approve", action="store_true",
                        help="without PLAN_FILE: apply without asking (needed when stdin is not a terminal)")
    parser.add_argument("--parallelism", type=_parallelism, metavar="N",
                        help="at most N writes at a time (default: the environment's 'parallelism' setting, 32 "
                             "unless set; measured in README 'Apply')")
    parser.add_argument("--no-verify", action="store_true", help="skip the health verification")
    parser.add_argument("--verify-timeout", type=positive_seconds, default=DEFAULT_VERIFY_TIMEOUT, metavar="SECONDS",
                        help=f"how long to wait for the connectors to be healthy (default {DEFAULT_VERIFY_TIMEOUT:g})")
    parser.add_argument("--restart-failed", action="store_true",
                        help="restart failed tasks once during verification (onlyFailed=true)")
    parser.add_argument("--rollback-on-failure", action="store_true",
                        help="connectors that end FAILED: restore the previous config, delete new ones")
    parser.add_argument("--verbose", action="store_true", help="full stack traces of failures")
    parser.add_argument("--json", action="store_true",
                        help="print the result as JSON on stdout (the plan, progress and summary go to stderr)")
    parser.add_argument("--target", action="append", default=[], metavar="NAME_OR_GLOB",
                        help="without PLAN_FILE: plan and apply only these connectors (shell glob; repeatable)")
    parser.add_argument("--adopt", action="store_true",
                        help="without PLAN_FILE: take over declared connectors not managed yet")
    add_lock_timeout(parser)
    add_render_options(parser)


def run(args: argparse.Namespace) -> int:
    options = ApplyOptions.from_args(args)
    view = make_view(options.json, bool(args.no_color))
    try:
        code = _apply_env(args, options, view) if options.plan_file is None else _apply_file(args, options, view)
    except Abandon:  # a second signal outside the steps (e.g. while verifying): nothing is under way
        code = exit_codes.ERROR
    code = view.finish(code)
    if view.report.apply and view.report.apply.get("abandoned"):
        _exit_now(code)
    return code


def _exit_now(code: int) -> None:
    """After a second signal: leave without joining the abandoned steps' threads (their requests may
    hang up to the request timeout); everything to say and save was written before this."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


# -- the two ways in ---------------------------------------------------------------------------------


def _apply_file(args: argparse.Namespace, options: ApplyOptions, view: ApplyView) -> int:
    if options.targets or options.adopt:
        raise UsageError("--target and --adopt are fixed by the saved plan",
                         "Pass them to 'kcplan plan --out FILE' instead.")
    path = cast(Path, options.plan_file)
    plan = planfile.read(path).plan
    view.report.env = plan.env
    if options.env and options.env != plan.env:
        raise UsageError(f"the plan {path} is for environment '{plan.env}', not '{options.env}'",
                         f"Leave out -e, or make a plan for '{options.env}'.")
    if not plan.actions:
        view.result("The plan has no changes: nothing to apply.")
        return exit_codes.OK
    ctx, desired = load_environment(args, plan.env)
    rendered = freshness.Rendered(desired.connectors, desired.sensitive)
    store = StateStore(ctx.state_path)
    with store.locked("apply", timeout=options.lock_timeout), ctx.client() as client:
        state = store.load()
        freshness.raise_if_stale(freshness.state_problems(plan, state), str(path), plan.env)
        live = freshness.read_live(client, plan)
        problems = (freshness.cluster_problems(plan, client.server_info().kafka_cluster_id or None)
                    + freshness.live_problems(plan, state, live)
                    + freshness.render_problems(plan, rendered))
        freshness.raise_if_stale(problems, str(path), plan.env)
        refuse_offsets_problems(client, plan)
        run = _Run(options, view, client, store, state, plan, live, desired.sensitive,
                   parallelism=options.parallelism or ctx.settings.parallelism)
        return run.execute(freshness.write_configs(plan, rendered))


def _apply_env(args: argparse.Namespace, options: ApplyOptions, view: ApplyView) -> int:
    if not options.auto_approve and not sys.stdin.isatty():
        raise UsageError("'kcplan apply' without a plan file asks for confirmation, but stdin is not a terminal",
                         "Pass --auto-approve, or save a plan with 'kcplan plan -e ENV --out FILE' and run "
                         "'kcplan apply FILE'.")
    ctx, desired = load_environment(args)
    print_warnings(desired.warnings)
    rendered = freshness.Rendered(desired.connectors, desired.sensitive)
    store = StateStore(ctx.state_path)
    with store.locked("apply", timeout=options.lock_timeout), ctx.client() as client:
        state = store.load()
        plan = make_plan(ctx, desired, state, targets=list(options.targets), adopt=options.adopt)
        view.plan(plan)
        if not plan.actions:
            return exit_codes.OK
        if not options.auto_approve and not _confirm(view):
            view.result("Apply cancelled; nothing was changed.")
            return exit_codes.ERROR
        live = freshness.read_live(client, plan)  # the cluster may have changed while the plan was read
        problems = (freshness.cluster_problems(plan, client.server_info().kafka_cluster_id or None)
                    + freshness.live_problems(plan, state, live))
        if problems:
            raise PlanError("the cluster changed since the plan above was made; nothing was changed:\n  - "
                            + "\n  - ".join(problems), f"Run 'kcplan apply -e {ctx.env_name}' again.")
        run = _Run(options, view, client, store, state, plan, live, desired.sensitive,
                   parallelism=options.parallelism or ctx.settings.parallelism)
        return run.execute(freshness.write_configs(plan, rendered))


def _confirm(view: ApplyView) -> bool:
    view.ask(CONFIRM)
    return sys.stdin.readline().strip() == "yes"


# -- execute, verify, roll back -------------------------------------------------------------------------


@dataclass
class _Run:
    """One apply of a fresh plan: its steps, their verification and, when asked, the rollback.
    ``live`` is the snapshot read at the start: the only place the previous configs are known."""

    options: ApplyOptions
    view: ApplyView
    client: ConnectClient
    store: StateStore
    prior: State
    plan: Plan
    live: Mapping[str, LiveConnector]
    sensitive: SensitiveKeys
    parallelism: int

    def execute(self, configs: Mapping[str, Mapping[str, str]]) -> int:
        plan = self.plan
        initial_state = self.client.server_info().supports("initial_state")
        steps = build_steps(plan, configs, initial_state=initial_state)
        base = self.prior.with_salt(plan.digest_salt).with_cluster_id(
            plan.kafka_cluster_id or self.prior.kafka_cluster_id)
        self.view.report.env = plan.env
        self.view.progress(f"Applying {len(plan.actions)} change(s) to environment '{plan.env}' ({len(steps)} "
                           f"step(s), up to {self.parallelism} at a time):")
        with Interrupts() as interrupts:
            executor = Executor(StepRunner(self.client), self.store, base, parallelism=self.parallelism,
                                progress=self.view.step_done, interrupts=interrupts)
            outcome = executor.run(steps)
            self.view.outcome(outcome)
            if outcome.interrupted or outcome.save_error:
                return exit_codes.ERROR
            code = exit_codes.ERROR if outcome.failures else exit_codes.OK
            if not self.options.verify:
                self.view.result("Health not verified (--no-verify).")
                return code
            # a worker's trace may quote config values: mask the secrets of the new and the previous configs
            secrets = {value for config in [*configs.values(), *(c.config for c in self.live.values())]
                       for value in self.sensitive.secret_values(config)}
            try:
                with interrupts.raising():
                    failed = self._verify(outcome, "", secrets)
                if failed is None:
                    return code
                if (self.options.rollback_on_failure and failed
                        and not self._rollback(executor, failed, initial_state, secrets)):
                    return exit_codes.ERROR
            except KeyboardInterrupt:
                self.view.result("\nHealth verification interrupted; the apply itself finished and the state "
                                 "records it.")
                return exit_codes.ERROR
        return exit_codes.ERROR if outcome.failures else exit_codes.UNHEALTHY

    def _verify(self, outcome: Outcome, title: str, secrets: Collection[str]) -> list[str] | None:
        """Health check of what the outcome wrote: None when all is healthy, else the FAILED names.
        ``secrets`` are masked in the traces and details shown."""
        expectations = [Expectation(name=n, state=cast(DesiredState, s), action=a, written_at=t)
                        for n, s, a, t in verify_targets(outcome)]
        if not expectations:
            return None
        timeout = self.options.verify_timeout
        self.view.progress(f"\n{title}Verifying the health of {len(expectations)} connector(s) "
                           f"(up to {timeout:g} s):")
        try:
            results = verify(self.client, expectations, timeout=timeout, restart_failed=self.options.restart_failed,
                             progress=lambda line: self.view.progress(scrub(line, secrets)))
        except KcplanError as exc:
            self.view.health_error(exc.message)
            return []
        results = [masked(r, secrets) for r in results]
        self.view.health(results, self.options.verbose)
        bad = [r for r in results if r.verdict != "healthy"]
        if not bad:
            return None
        shown = ", ".join(f"{r.name} ({'FAILED' if r.verdict == 'failed' else 'unverified at the deadline'})"
                          for r in bad)
        self.view.result(f"Applied, but not healthy: {shown}.")
        return [r.name for r in bad if r.verdict == "failed"]

    def _rollback(self, executor: Executor, failed: list[str], initial_state: bool,
                  secrets: Collection[str]) -> bool:
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
            self._verify(outcome, "Rollback: ", secrets)
        return not outcome.failures
