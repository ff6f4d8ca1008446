"""kcplan apply [PLAN_FILE]: apply a saved plan (or plan, show and confirm), then verify health.

With a plan file nothing is written until the plan is proven fresh (kcplan.apply.freshness): same
state lineage/serial, same cluster, every touched connector as it was planned, and the code still
rendering the same configs (secrets by digest; their plain values come from this re-render only).
The state lock is held from the first read to the last write. Exit codes: 0 applied and healthy,
1 error / failed action / interrupted, 3 applied but unhealthy or unverified at the deadline.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import cast

from kcplan.apply import freshness
from kcplan.apply.executor import Executor, Interrupts, Outcome, StepResult, StepRunner, build_steps, verify_targets
from kcplan.apply.health import DesiredState, Expectation, masked, verify
from kcplan.apply.rollback import rollback_steps
from kcplan.commands._options import add_render_options, print_warnings, render_inputs
from kcplan.commands.plan import load_environment, make_plan
from kcplan.commands.state import add_lock_timeout
from kcplan.config.render import load_desired
from kcplan.config.sensitive import SensitiveKeys, scrub
from kcplan.connect.client import ConnectClient
from kcplan.connect.models import LiveConnector
from kcplan.context import Context
from kcplan.errors import KcplanError, PlanError, UsageError
from kcplan.plan import planfile
from kcplan.plan.model import Plan
from kcplan.state.model import State
from kcplan.state.store import StateStore
from kcplan.views import apply_json
from kcplan.views.apply_view import progress_line, render_summary
from kcplan.views.health_view import render_health
from kcplan.views.plan_view import render_plan

EXIT_OK, EXIT_ERROR, EXIT_UNHEALTHY = 0, 1, 3
DEFAULT_VERIFY_TIMEOUT = 180.0
CONFIRM = "Do you want to perform these actions? Only 'yes' will be accepted."


def _parallelism(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if not 1 <= value <= 64:
        raise argparse.ArgumentTypeError("must be between 1 and 64")
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError("must be more than 0")
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
    parser.add_argument("--verify-timeout", type=_seconds, default=DEFAULT_VERIFY_TIMEOUT, metavar="SECONDS",
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
    args.report = apply_json.Report(env=args.env or "")
    if not args.json:
        return _apply_env(args) if args.plan_file is None else _apply_file(args)
    with contextlib.redirect_stdout(sys.stderr):  # the human output; stdout carries only the document
        code = _apply_env(args) if args.plan_file is None else _apply_file(args)
    sys.stdout.write(apply_json.render_json(args.report, code))
    return code


# -- the two ways in ---------------------------------------------------------------------------------


def _apply_file(args: argparse.Namespace) -> int:
    if args.target or args.adopt:
        raise UsageError("--target and --adopt are fixed by the saved plan",
                         "Pass them to 'kcplan plan --out FILE' instead.")
    path: Path = args.plan_file
    plan = planfile.read(path).plan
    args.report.env = plan.env
    if args.env and args.env != plan.env:
        raise UsageError(f"the plan {path} is for environment '{plan.env}', not '{args.env}'",
                         f"Leave out -e, or make a plan for '{args.env}'.")
    if not plan.actions:
        print("The plan has no changes: nothing to apply.")
        return EXIT_OK
    inputs = render_inputs(args)
    ctx = Context(Path(args.project_dir), plan.env, bool(args.debug), dict(inputs.ext_vars))
    desired = load_desired(ctx.project_dir, ctx.env_name, ext_vars=inputs.ext_vars, tla_vars=inputs.tla_vars,
                           extra_sensitive_keys=ctx.settings.sensitive_keys)
    rendered = freshness.Rendered(desired.connectors, desired.sensitive)
    store = StateStore(ctx.state_path)
    with store.locked("apply", timeout=args.lock_timeout), ctx.client() as client:
        state = store.load()
        freshness.raise_if_stale(freshness.state_problems(plan, state), str(path), plan.env)
        live = freshness.read_live(client, plan)
        problems = (freshness.cluster_problems(plan, client.server_info().kafka_cluster_id or None)
                    + freshness.live_problems(plan, state, live)
                    + freshness.render_problems(plan, rendered))
        freshness.raise_if_stale(problems, str(path), plan.env)
        return _execute(args, ctx, client, store, state, plan, freshness.write_configs(plan, rendered), live,
                        desired.sensitive)


def _apply_env(args: argparse.Namespace) -> int:
    if not args.auto_approve and not sys.stdin.isatty():
        raise UsageError("'kcplan apply' without a plan file asks for confirmation, but stdin is not a terminal",
                         "Pass --auto-approve, or save a plan with 'kcplan plan -e ENV --out FILE' and run "
                         "'kcplan apply FILE'.")
    ctx, desired = load_environment(args)
    print_warnings(desired.warnings)
    rendered = freshness.Rendered(desired.connectors, desired.sensitive)
    store = StateStore(ctx.state_path)
    with store.locked("apply", timeout=args.lock_timeout), ctx.client() as client:
        state = store.load()
        plan = make_plan(ctx, desired, state, targets=args.target, adopt=args.adopt)
        sys.stdout.write(render_plan(plan))
        if not plan.actions:
            return EXIT_OK
        if not args.auto_approve and not _confirm():
            print("Apply cancelled; nothing was changed.")
            return EXIT_ERROR
        live = freshness.read_live(client, plan)  # the cluster may have changed while the plan was read
        problems = (freshness.cluster_problems(plan, client.server_info().kafka_cluster_id or None)
                    + freshness.live_problems(plan, state, live))
        if problems:
            raise PlanError("the cluster changed since the plan above was made; nothing was changed:\n  - "
                            + "\n  - ".join(problems), f"Run 'kcplan apply -e {ctx.env_name}' again.")
        return _execute(args, ctx, client, store, state, plan, freshness.write_configs(plan, rendered), live,
                        desired.sensitive)


def _confirm() -> bool:
    sys.stdout.write(f"\n{CONFIRM}\n  Enter a value: ")
    sys.stdout.flush()
    return sys.stdin.readline().strip() == "yes"


# -- execute, verify, roll back -------------------------------------------------------------------------


def _progress(result: StepResult, done: int, total: int) -> None:
    print(progress_line(result, done, total), file=sys.stderr, flush=True)


def _execute(args: argparse.Namespace, ctx: Context, client: ConnectClient, store: StateStore, state: State,
             plan: Plan, configs: Mapping[str, Mapping[str, str]], live: Mapping[str, LiveConnector],
             sensitive: SensitiveKeys) -> int:
    """Run the plan's steps, then verify health (and roll back when asked). ``live`` is the snapshot
    read at the start: the only place the previous configs of updated connectors are known."""
    report: apply_json.Report = args.report
    report.env = plan.env
    initial_state = client.server_info().supports("initial_state")
    steps = build_steps(plan, configs, initial_state=initial_state)
    base = state.with_salt(plan.digest_salt).with_cluster_id(plan.kafka_cluster_id or state.kafka_cluster_id)
    parallelism = args.parallelism or ctx.settings.parallelism
    print(f"Applying {len(plan.actions)} change(s) to environment '{plan.env}' ({len(steps)} step(s), "
          f"up to {parallelism} at a time):", file=sys.stderr, flush=True)
    with Interrupts() as interrupts:
        executor = Executor(StepRunner(client), store, base, parallelism=parallelism, progress=_progress,
                            interrupts=interrupts)
        outcome = executor.run(steps)
        report.apply = apply_json.outcome_doc(outcome)
        print()
        sys.stdout.write(render_summary(outcome))
        if outcome.interrupted or outcome.save_error:
            return EXIT_ERROR
        code = EXIT_ERROR if outcome.failures else EXIT_OK
        if args.no_verify:
            print("Health not verified (--no-verify).")
            return code
        interrupts.raise_first = True
        # a worker's trace may quote config values: mask the secrets of the new and the previous configs
        secrets = {value for config in [*configs.values(), *(c.config for c in live.values())]
                   for value in sensitive.secret_values(config)}
        try:
            failed = _verify(args, client, outcome, "", report, secrets)
            if failed is None:
                return code
            if args.rollback_on_failure and failed:
                interrupts.raise_first = False
                if not _rollback(args, client, executor, state, plan, live, sensitive, failed, initial_state,
                                 secrets):
                    return EXIT_ERROR
        except KeyboardInterrupt:
            print("\nHealth verification interrupted; the apply itself finished and the state records it.")
            return EXIT_ERROR
    return EXIT_ERROR if outcome.failures else EXIT_UNHEALTHY


def _verify(args: argparse.Namespace, client: ConnectClient, outcome: Outcome, title: str,
            record: apply_json.Report, secrets: Collection[str]) -> list[str] | None:
    """Health check of what the outcome wrote: None when all is healthy, else the FAILED names.
    The results go into ``record`` (the report, or its rollback part) for --json; ``secrets`` are
    masked in the traces and details shown."""
    expectations = [Expectation(name=n, state=cast(DesiredState, s), action=a, written_at=t)
                    for n, s, a, t in verify_targets(outcome)]
    if not expectations:
        return None
    print(f"\n{title}Verifying the health of {len(expectations)} connector(s) (up to {args.verify_timeout:g} s):",
          file=sys.stderr, flush=True)
    try:
        results = verify(client, expectations, timeout=args.verify_timeout, restart_failed=args.restart_failed,
                         progress=lambda line: print(scrub(line, secrets), file=sys.stderr, flush=True))
    except KcplanError as exc:
        print(f"\nHealth could not be verified: {exc.message}")
        record.health_error = exc.message
        return []
    results = [masked(r, secrets) for r in results]
    record.health = apply_json.health_doc(results, args.verbose)
    print()
    sys.stdout.write(render_health(results, args.verbose))
    bad = [r for r in results if r.verdict != "healthy"]
    if not bad:
        return None
    shown = ", ".join(f"{r.name} ({'FAILED' if r.verdict == 'failed' else 'unverified at the deadline'})"
                      for r in bad)
    print(f"Applied, but not healthy: {shown}.")
    return [r.name for r in bad if r.verdict == "failed"]


def _rollback(args: argparse.Namespace, client: ConnectClient, executor: Executor, prior: State, plan: Plan,
              live: Mapping[str, LiveConnector], sensitive: SensitiveKeys, failed: list[str],
              initial_state: bool, secrets: Collection[str]) -> bool:
    """Roll back the FAILED connectors; False when a rollback step failed or was interrupted."""
    steps, notes = rollback_steps(failed, plan, live, prior, sensitive, plan.digest_salt,
                                  initial_state=initial_state)
    for note in notes:
        print(f"Not rolled back: {note}")
    if not steps:
        return True
    names = sorted({s.name for s in steps})
    print(f"\nRolling back {len(names)} connector(s) that ended FAILED (--rollback-on-failure): {', '.join(names)}",
          file=sys.stderr, flush=True)
    back = Executor(StepRunner(client), executor.store, executor.state, parallelism=executor.parallelism,
                    progress=_progress, interrupts=executor.interrupts)
    outcome = back.run(steps)
    executor.state = back.state
    rolled = apply_json.Report(env=plan.env, apply=apply_json.outcome_doc(outcome))
    args.report.rollback = rolled
    print()
    sys.stdout.write(render_summary(outcome, what="Rollback"))
    if outcome.interrupted or outcome.save_error:
        return False
    executor.interrupts.raise_first = True
    _verify(args, client, outcome, "Rollback: ", rolled, secrets)
    return not outcome.failures
