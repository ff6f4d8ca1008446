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
from pathlib import Path
from typing import cast

from kcplan import exit_codes
from kcplan.apply import freshness
from kcplan.apply.interrupts import Abandon
from kcplan.apply.options import DEFAULT_VERIFY_STABLE, DEFAULT_VERIFY_TIMEOUT, STABLE_ENV, ApplyOptions
from kcplan.commands._apply_run import ApplyRun
from kcplan.commands._messages import print_warnings
from kcplan.commands._options import add_lock_timeout, add_render_options, positive_seconds, seconds, whole_number
from kcplan.commands._planning import load_environment, make_plan, refuse_offsets_problems
from kcplan.errors import PlanError, UsageError
from kcplan.plan import planfile
from kcplan.views.apply_output import ApplyView, make_view

CONFIRM = "Do you want to perform these actions? Only 'yes' will be accepted."


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("plan_file", nargs="?", type=Path, metavar="PLAN_FILE",
                        help="a plan saved by 'kcplan plan --out'; without it: plan -e ENV, show, confirm")
    parser.add_argument("--auto-approve", action="store_true",
                        help="without PLAN_FILE: apply without asking (needed when stdin is not a terminal)")
    parser.add_argument("--parallelism", type=whole_number(1, 64), metavar="N",
                        help="at most N writes at a time (default: the environment's 'parallelism' setting, 32 "
                             "unless set; measured in README 'Apply')")
    parser.add_argument("--no-verify", action="store_true", help="skip the health verification")
    parser.add_argument("--verify-timeout", type=positive_seconds, default=DEFAULT_VERIFY_TIMEOUT, metavar="SECONDS",
                        help=f"how long to wait for the connectors to be healthy (default {DEFAULT_VERIFY_TIMEOUT:g})")
    parser.add_argument("--verify-stable", type=seconds, default=None, metavar="SECONDS",
                        help=f"a touched connector must stay healthy this long before it counts, so failures on the "
                             f"first records are caught (default ${STABLE_ENV}, else {DEFAULT_VERIFY_STABLE:g}; 0: "
                             "healthy once seen healthy for 2 s)")
    parser.add_argument("--canary", type=whole_number(1), metavar="N",
                        help="apply and verify N changed connectors first (declared 'canary: true' ones first, then "
                             "plan order); the rest only when all N are healthy")
    parser.add_argument("--wave-size", type=whole_number(1), metavar="M",
                        help="after the first wave, go on in waves of M connectors (default: the rest at once)")
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
    _check(options)
    view = make_view(options.json, bool(args.no_color))
    try:
        code = _apply_env(args, options, view) if options.plan_file is None else _apply_file(args, options, view)
    except Abandon:  # a second signal outside the steps (e.g. while verifying): nothing is under way
        code = exit_codes.ERROR
    code = view.finish(code)
    if view.report.apply and view.report.apply.get("abandoned"):
        _exit_now(code)
    return code


def _check(options: ApplyOptions) -> None:
    """Option combinations that cannot work, refused before anything is read."""
    if options.verify and options.verify_stable >= options.verify_timeout:
        raise UsageError(f"--verify-stable {options.verify_stable:g} must be shorter than --verify-timeout "
                         f"{options.verify_timeout:g}",
                         "Give a longer --verify-timeout, or a shorter --verify-stable (0 turns the window off).")
    if (options.canary or options.wave_size) and not options.verify:
        raise UsageError("--canary and --wave-size need the health verification between waves",
                         "Leave out --no-verify.")


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
    store = ctx.state_store()
    with store.locked("apply", timeout=options.lock_timeout), ctx.client() as client:
        state = store.load()
        freshness.raise_if_stale(freshness.state_problems(plan, state), str(path), plan.env)
        live = freshness.read_live(client, plan)
        problems = (freshness.cluster_problems(plan, client.server_info().kafka_cluster_id or None)
                    + freshness.live_problems(plan, state, live)
                    + freshness.render_problems(plan, rendered))
        freshness.raise_if_stale(problems, str(path), plan.env)
        refuse_offsets_problems(client, plan)
        run = ApplyRun(options, view, client, store, state, plan, live, desired.sensitive,
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
    store = ctx.state_store()
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
        run = ApplyRun(options, view, client, store, state, plan, live, desired.sensitive,
                   parallelism=options.parallelism or ctx.settings.parallelism)
        return run.execute(freshness.write_configs(plan, rendered))


def _confirm(view: ApplyView) -> bool:
    view.ask(CONFIRM)
    return sys.stdin.readline().strip() == "yes"

