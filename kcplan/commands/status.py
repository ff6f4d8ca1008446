"""kcplan status: the on-call report, from ONE expand=status&expand=info request per environment."""

from __future__ import annotations

import argparse
import fnmatch
from concurrent.futures import ThreadPoolExecutor

from kcplan.config.environment import available_envs
from kcplan.context import Context, require_env
from kcplan.errors import UsageError
from kcplan.views import status_view
from kcplan.views.status_view import StatusRow

EXIT_OK, EXIT_UNHEALTHY = 0, 3


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--format", choices=("table", "json", "markdown"), default="table")
    parser.add_argument("--failed", action="store_true", help="only connectors with a FAILED connector or task")
    parser.add_argument("--traces", action="store_true", help="full stack traces of failures")
    parser.add_argument("--connector", action="append", default=[], metavar="NAME_OR_GLOB",
                        help="only these connectors (repeatable, shell globs)")
    parser.epilog = (parser.epilog or "") + (
        "\n-e may be repeated or comma-separated (or 'all'): environments are fetched concurrently.\n"
        "exit: 0 nothing FAILED, 3 some connector or task FAILED, 1 error.\n")


def _env_names(args: argparse.Namespace) -> list[str]:
    names = list(args.envs) or [require_env(args)]
    if names == ["all"]:
        names = available_envs(args.project_dir)
        if not names:
            raise UsageError(f"no environments found under {args.project_dir / 'environments'}")
    return names


def _fetch(args: argparse.Namespace, env: str) -> list[StatusRow]:
    ctx = Context(args.project_dir, env, bool(args.debug))
    live = ctx.client().list_connectors()
    managed = _managed_names(ctx)
    rows = [status_view.build_row(env, connector, name in managed) for name, connector in sorted(live.items())]
    if args.connector:
        rows = [r for r in rows if any(fnmatch.fnmatchcase(r.name, pat) for pat in args.connector)]
    if args.failed:
        rows = [r for r in rows if r.failed]
    return rows


def _managed_names(ctx: Context) -> set[str]:
    """Names in the environment's state file (read-only, no lock: status never writes state)."""
    from kcplan.state.store import StateStore

    return set(StateStore(ctx.state_path).load().connectors)


def run(args: argparse.Namespace) -> int:
    envs = _env_names(args)
    with ThreadPoolExecutor(max_workers=min(8, len(envs))) as pool:
        results = list(pool.map(lambda env: _fetch(args, env), envs))
    rows = [row for env_rows in results for row in env_rows]
    multi = len(envs) > 1
    if args.format == "json":
        print(status_view.render_json(rows, args.traces))
    elif args.format == "markdown":
        print(status_view.render_markdown(rows, multi, args.traces))
    else:
        print(status_view.render_table(rows, multi, args.traces))
    return EXIT_UNHEALTHY if any(row.failed for row in rows) else EXIT_OK
