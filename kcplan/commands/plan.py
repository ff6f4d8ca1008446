"""kcplan plan: render, read state and cluster (under the state lock), print the diff, save it.

``make_plan`` is the one place that turns a rendered environment and a state into a Plan;
``import`` and ``apply -e ENV`` reuse it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from kcplan.commands._options import add_render_options, print_warnings, render_inputs
from kcplan.commands.state import add_lock_timeout
from kcplan.config.render import Desired, load_desired
from kcplan.context import Context
from kcplan.errors import UsageError
from kcplan.plan import planfile
from kcplan.plan.model import Plan
from kcplan.plan.planner import build_plan
from kcplan.state.digest import new_salt
from kcplan.state.model import State, utc_now
from kcplan.state.store import StateStore
from kcplan.views.plan_view import render_json, render_plan

EXIT_CHANGES = 2


def parse_bool(text: str) -> bool:
    value = text.strip().lower()
    if value in ("true", "yes", "1", "on"):
        return True
    if value in ("false", "no", "0", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", metavar="FILE", type=Path,
                        help="save the plan (0600) for 'kcplan apply FILE' and 'kcplan show FILE'")
    parser.add_argument("--detailed-exitcode", action="store_true",
                        help="exit 0 when there is nothing to do, 2 when there are changes or conflicts")
    parser.add_argument("--target", action="append", default=[], metavar="NAME_OR_GLOB",
                        help="plan only these connectors (shell glob; repeatable)")
    parser.add_argument("--refresh", type=parse_bool, default=True, metavar="true|false",
                        help="--refresh=false plans against the state alone, without contacting the cluster")
    parser.add_argument("--json", action="store_true", help="machine-readable plan (docs/plan-format.md)")
    parser.add_argument("--adopt", action="store_true",
                        help="take over declared connectors that exist on the cluster but are not managed yet")
    add_lock_timeout(parser)
    add_render_options(parser)


def load_environment(args: argparse.Namespace) -> tuple[Context, Desired]:
    """Settings and rendered connectors of the environment named by -e."""
    inputs = render_inputs(args)
    ctx = Context.from_args(args, ext_vars=inputs.ext_vars)
    desired = load_desired(ctx.project_dir, ctx.env_name, ext_vars=inputs.ext_vars, tla_vars=inputs.tla_vars,
                           extra_sensitive_keys=ctx.settings.sensitive_keys)
    return ctx, desired


def shown_urls(ctx: Context) -> list[str]:
    """The environment's Connect URLs as plans show and store them: without ``user:password@``."""
    from kcplan.connect.classify import redact_url

    return [redact_url(u) for u in ctx.settings.connect_url]


def make_plan(ctx: Context, desired: Desired, prior: State, *, refresh: bool = True,
              targets: list[str] | None = None, adopt: bool = False) -> Plan:
    """Read the cluster (one GET / and one expand request) unless refresh is off, then plan."""
    cluster_id: str | None = None
    live = None
    urls = shown_urls(ctx)
    if refresh:
        with ctx.client() as client:
            cluster_id = client.server_info().kafka_cluster_id or None
            live = client.list_connectors()
    return build_plan(
        desired.connectors, desired.sensitive, prior, live,
        env=ctx.env_name, salt=prior.digest_salt or new_salt(), kafka_cluster_id=cluster_id,
        connect_urls=urls, targets=list(targets or []), adopt=adopt,
    )


def run(args: argparse.Namespace) -> int:
    if args.out is not None and args.out.is_dir():
        raise UsageError(f"--out {args.out} is a folder", "Give a file name, e.g. --out plan.out.")
    ctx, desired = load_environment(args)
    print_warnings(desired.warnings)
    store = StateStore(ctx.state_path)
    with store.locked("plan", timeout=args.lock_timeout):
        prior = store.load()
        plan = make_plan(ctx, desired, prior, refresh=args.refresh, targets=args.target, adopt=args.adopt)
        if args.out is not None:
            planfile.write(args.out, plan, utc_now())
    sys.stdout.write(render_json(plan) if args.json else render_plan(plan))
    if args.out is not None:
        note = f"\nSaved the plan to: {args.out}\nTo apply exactly this plan, run: kcplan apply {args.out}\n"
        (sys.stderr if args.json else sys.stdout).write(note)
    if args.detailed_exitcode and (plan.has_changes or plan.conflicts):
        return EXIT_CHANGES
    return 0
