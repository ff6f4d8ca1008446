"""kcplan plan: render, read state and cluster (under the state lock), print the diff, save it.

The planning itself (kcplan.commands._planning) is shared with ``import`` and ``apply -e ENV``.
``-e a,b`` / ``-e all`` plans several environments concurrently (kcplan.commands._environments): one
that fails is reported on stderr and does not hide the others. ``--out`` takes one environment: a
plan file is the plan of one state and one cluster, and ``kcplan apply FILE`` applies exactly one.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from kcplan import exit_codes
from kcplan.commands._environments import env_names, per_env
from kcplan.commands._messages import print_error, print_warnings
from kcplan.commands._options import add_lock_timeout, add_render_options, palette
from kcplan.commands._planning import load_environment, make_plan
from kcplan.errors import UsageError
from kcplan.plan import planfile
from kcplan.plan.model import Plan
from kcplan.state.model import utc_now
from kcplan.views.plan_markdown import EnvPlan, render_markdown
from kcplan.views.plan_view import JSON_FORMAT_VERSION, plan_json, render_json, render_plan


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
    parser.add_argument("--format", choices=("text", "json", "markdown"), default=None,
                        help="text (default), json (docs/plan-format.md), or markdown for a pull-request comment")
    parser.add_argument("--json", action="store_true", help="the same as --format json")
    parser.add_argument("--adopt", action="store_true",
                        help="take over declared connectors that exist on the cluster but are not managed yet")
    add_lock_timeout(parser)
    add_render_options(parser)
    parser.epilog = (parser.epilog or "") + (
        "\n-e may be repeated or comma-separated (or 'all'): environments are planned concurrently.\n"
        "exit: 0 planned; with --detailed-exitcode 2 when some environment has changes or conflicts;\n"
        "1 error (with several environments: when any of them could not be planned).\n")


def output_format(args: argparse.Namespace) -> str:
    if args.json and args.format not in (None, "json"):
        raise UsageError(f"--json and --format {args.format} contradict each other", "Give one of them.")
    return "json" if args.json else str(args.format or "text")


def run(args: argparse.Namespace) -> int:
    fmt = output_format(args)
    if args.out is not None and args.out.is_dir():
        raise UsageError(f"--out {args.out} is a folder", "Give a file name, e.g. --out plan.out.")
    envs = env_names(args)
    if len(envs) > 1 and args.out is not None:
        raise UsageError(f"--out saves the plan of one environment, and -e names {len(envs)} ({', '.join(envs)})",
                         "Plan all of them to review (no --out), then save the one to apply: "
                         "kcplan plan -e ENV --out plan.out.")
    if len(envs) == 1:  # as before -e all existed; `-e all` of a one-environment project names it here
        return _run_one(args, fmt, None if envs[0] == args.env else envs[0])
    results = per_env(envs, lambda env: _plan_env(args, env, prefix=True))
    plans = [p for _env, p, _err in results if p is not None]
    errors = [(env, err) for env, _p, err in results if err is not None]
    if fmt == "json":
        doc = {"format_version": JSON_FORMAT_VERSION, "environments": [plan_json(p) for p in plans],
               "errors": {env: err.message for env, err in errors}}
        sys.stdout.write(json.dumps(doc, indent=2, ensure_ascii=False) + "\n")
    elif fmt == "markdown":
        sys.stdout.write(render_markdown([EnvPlan(env, p, err.message if err else None) for env, p, err in results]))
    else:
        for plan in plans:
            sys.stdout.write(render_plan(plan, palette(args)) + "\n")
        sys.stdout.write("Environments:\n" + "".join(f"  {env}: {_summary_line(p)}\n" for env, p, _e in results))
    for env, err in errors:
        print_error(err.message, err.hint, env=env)
    if errors:
        return exit_codes.ERROR
    return _exit_code(args, plans)


def _plan_env(args: argparse.Namespace, env: str | None, *, prefix: bool = False, out: Path | None = None) -> Plan:
    """Render, lock the state, plan (and save to ``out``) one environment (None: the one -e names)."""
    ctx, desired = load_environment(args, env)
    print_warnings(f"environment '{ctx.env_name}': {w}" if prefix else w for w in desired.warnings)
    store = ctx.state_store()
    with store.locked("plan", timeout=args.lock_timeout):
        prior = store.load()
        plan = make_plan(ctx, desired, prior, refresh=args.refresh, targets=args.target, adopt=args.adopt)
        if out is not None:
            planfile.write(out, plan, utc_now())
    return plan


def _run_one(args: argparse.Namespace, fmt: str, env: str | None) -> int:
    plan = _plan_env(args, env, out=args.out)
    saved = None if args.out is None else str(args.out)
    if fmt == "json":
        sys.stdout.write(render_json(plan))
    elif fmt == "markdown":
        sys.stdout.write(render_markdown([EnvPlan(plan.env, plan)], saved=saved))
    else:
        sys.stdout.write(render_plan(plan, palette(args)))
    if args.out is not None:
        note = f"\nSaved the plan to: {args.out}\nTo apply exactly this plan, run: kcplan apply {args.out}\n"
        (sys.stdout if fmt == "text" else sys.stderr).write(note)
    return _exit_code(args, [plan])


def _summary_line(plan: Plan | None) -> str:
    if plan is None:
        return "not planned (the error is on stderr)"
    s = plan.summary()
    line = f"{s.add} to add, {s.change} to change, {s.destroy} to destroy" if plan.has_changes else "no changes"
    if plan.conflicts:
        line += f"; {len(plan.conflicts)} conflict{'s' if len(plan.conflicts) != 1 else ''}"
    return line + "."


def _exit_code(args: argparse.Namespace, plans: list[Plan]) -> int:
    if args.detailed_exitcode and any(p.has_changes or p.conflicts for p in plans):
        return exit_codes.CHANGES
    return exit_codes.OK
