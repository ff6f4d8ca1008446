"""kcplan plan: render, read state and cluster (under the state lock), print the diff, save it.

The planning itself (kcplan.commands._planning) is shared with ``import`` and ``apply -e ENV``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from kcplan import exit_codes
from kcplan.commands._messages import print_warnings
from kcplan.commands._options import add_lock_timeout, add_render_options, palette
from kcplan.commands._planning import load_environment, make_plan
from kcplan.errors import UsageError
from kcplan.plan import planfile
from kcplan.state.model import utc_now
from kcplan.views.plan_view import render_json, render_plan


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


def run(args: argparse.Namespace) -> int:
    if args.out is not None and args.out.is_dir():
        raise UsageError(f"--out {args.out} is a folder", "Give a file name, e.g. --out plan.out.")
    ctx, desired = load_environment(args)
    print_warnings(desired.warnings)
    store = ctx.state_store()
    with store.locked("plan", timeout=args.lock_timeout):
        prior = store.load()
        plan = make_plan(ctx, desired, prior, refresh=args.refresh, targets=args.target, adopt=args.adopt)
        if args.out is not None:
            planfile.write(args.out, plan, utc_now())
    sys.stdout.write(render_json(plan) if args.json else render_plan(plan, palette(args)))
    if args.out is not None:
        note = f"\nSaved the plan to: {args.out}\nTo apply exactly this plan, run: kcplan apply {args.out}\n"
        (sys.stderr if args.json else sys.stdout).write(note)
    if args.detailed_exitcode and (plan.has_changes or plan.conflicts):
        return exit_codes.CHANGES
    return exit_codes.OK
