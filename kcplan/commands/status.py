"""kcplan status: the on-call report, from ONE GET /connectors?expand=status per environment
(plus one config read per connector with a FAILED part, to mask its secrets in the worker's traces).

Several environments are fetched concurrently and reported together; one that cannot be reached
does not hide the others (its error goes to stderr and the exit code is 1).
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from typing import TYPE_CHECKING

from kcplan import exit_codes
from kcplan.commands._environments import concurrently, env_names, per_env
from kcplan.commands._messages import print_error, print_warnings
from kcplan.commands._options import palette
from kcplan.connect.models import ConnectorStatus, LiveConnector
from kcplan.context import Context
from kcplan.errors import KcplanError, StateError
from kcplan.selection import matches, unmatched
from kcplan.views import status_view
from kcplan.views.status_view import StatusRow

if TYPE_CHECKING:
    from kcplan.config.sensitive import SensitiveKeys
    from kcplan.connect.client import ConnectClient


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--format", choices=("table", "json", "markdown"), default="table")
    parser.add_argument("--failed", action="store_true", help="only connectors with a FAILED connector or task")
    parser.add_argument("--traces", action="store_true", help="full stack traces of failures")
    parser.add_argument("--connector", action="append", default=[], metavar="NAME_OR_GLOB",
                        help="only these connectors (repeatable, shell globs)")
    parser.epilog = (parser.epilog or "") + (
        "\n-e may be repeated or comma-separated (or 'all'): environments are fetched concurrently.\n"
        "exit: 0 nothing FAILED, 3 some connector or task FAILED, 1 error.\n")


def read_statuses(client: ConnectClient) -> dict[str, LiveConnector]:
    """Every connector's status (type included) from ONE ``GET /connectors?expand=status``.

    Not ``expand=info`` as well: the report needs no configs, and the info expansion costs the worker
    40-50x more (0.13-0.2 s against 0.003 s for 1,000 connectors, over 2 s when its heap is tight:
    bench/status/results.md). Workers older than 2.3 get one status request per connector, a few at
    a time (ConnectClient.statuses). The configs stay empty here.
    """
    return {name: LiveConnector(name=name, config={}, type=st.type, status=st)
            for name, st in client.statuses().items()}


def mask_traces(client: ConnectClient, sensitive: SensitiveKeys,
                live: dict[str, LiveConnector]) -> dict[str, LiveConnector]:
    """The statuses with the secrets of each FAILED connector's config masked in its traces.

    A worker's trace may quote config values (a file name, a JDBC URL with its password), and the
    status answer carries no config: the config of each connector with a failure is read (one
    ``GET /connectors/NAME/config`` each, a few at a time; none when nothing failed). A connector whose
    config cannot be read (deleted meanwhile) keeps its trace as the worker wrote it.
    """
    failing = [name for name, c in live.items() if c.status is not None and _has_failure(c.status)]
    if not failing:
        return live
    from kcplan.config.sensitive import scrub

    def secrets_of(name: str) -> list[str]:
        try:
            return sensitive.secret_values(client.get_config(name))
        except KcplanError:
            return []

    found = dict(zip(failing, concurrently(secrets_of, failing), strict=True))
    masked = dict(live)
    for name, secrets in found.items():
        status = live[name].status
        if secrets and status is not None:
            tasks = tuple(replace(t, trace=t.trace and scrub(t.trace, secrets)) for t in status.tasks)
            masked[name] = replace(live[name], status=replace(
                status, trace=status.trace and scrub(status.trace, secrets), tasks=tasks))
    return masked


def _has_failure(status: ConnectorStatus) -> bool:
    return status.state == "FAILED" or any(t.state == "FAILED" for t in status.tasks)


def _fetch(args: argparse.Namespace, env: str) -> list[StatusRow]:
    ctx = Context(args.project_dir, env, bool(args.debug))
    with ctx.client() as client:
        live = mask_traces(client, ctx.sensitive, read_statuses(client))
    managed = _managed_names(ctx)
    rows = [status_view.build_row(env, connector, None if managed is None else name in managed)
            for name, connector in sorted(live.items())]
    rows = [r for r in rows if matches(r.name, args.connector)]
    if args.failed:
        rows = [r for r in rows if r.failed]
    return rows


def _managed_names(ctx: Context) -> set[str] | None:
    """Names in the environment's state file (read-only, no lock: status never writes state).

    An unreadable state must not stop an on-call report: warn, and show MANAGED as '?'.
    """
    try:
        return set(ctx.state_store().load().connectors)
    except StateError as exc:
        print_warnings([f"environment '{ctx.env_name}': {exc.message} (MANAGED shows '?')"])
        return None


def run(args: argparse.Namespace) -> int:
    envs = env_names(args)
    results = per_env(envs, lambda env: _fetch(args, env))
    rows = [row for _env, env_rows, _err in results for row in env_rows or []]
    errors = [(env, err) for env, _rows, err in results if err is not None]
    multi = len(envs) > 1
    if args.format == "json":
        print(status_view.render_json(rows, args.traces, errors={env: err.message for env, err in errors}))
    elif args.format == "markdown":
        print(status_view.render_markdown(rows, multi, args.traces))
    else:
        print(status_view.render_table(rows, multi, args.traces, palette(args)))
    if not args.failed:
        names = [r.name for r in rows]
        print_warnings(f"--connector {p!r} matches no connector" for p in unmatched(args.connector, names))
    for env, err in errors:
        print_error(err.message, err.hint, env=env)
    if errors:
        return exit_codes.ERROR
    return exit_codes.UNHEALTHY if any(row.failed for row in rows) else exit_codes.OK
