"""kcplan drift: is the live cluster still what kcplan last applied? For cron and alerting.

Compares the cluster with the state file (not with the code: pending code changes are 'plan's
business). Read-only: no lock is taken and nothing is written but ``--output``, which is replaced
atomically (node_exporter's textfile collector must never read half a file). When a check fails,
``--format prometheus`` still reports it (kcplan_drift_check_success 0) so the alert can fire.
"""

from __future__ import annotations

import argparse
import time
import traceback
from collections.abc import Sequence
from pathlib import Path

from kcplan import exit_codes
from kcplan.commands._environments import concurrently, env_names
from kcplan.commands._messages import print_error
from kcplan.commands._options import palette
from kcplan.commands._output import add_output, emit, refuse_folder
from kcplan.context import Context
from kcplan.errors import KcplanError, StateError
from kcplan.plan.cluster_guard import check_same_cluster
from kcplan.selection import select
from kcplan.views import drift_view
from kcplan.views.drift_view import DriftCheck
from kcplan.views.style import PLAIN


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--format", choices=("table", "json", "prometheus"), default="table",
                        help="prometheus: gauges in the text exposition format (node_exporter textfile collector)")
    parser.add_argument("--connector", action="append", default=[], metavar="NAME_OR_GLOB",
                        help="only these connectors, managed or not (repeatable, shell globs); e.g. the "
                             "connectors of one team on a shared cluster")
    add_output(parser)
    parser.epilog = (parser.epilog or "") + (
        "\nCompares the live cluster with the state file (what kcplan last applied), not with the code.\n"
        "Drift kinds: changed (config keys), deleted, run_state (paused/stopped/resumed), unmanaged.\n"
        "-e may be repeated or comma-separated (or 'all').\n"
        "exit: 0 no drift, 2 drift found, 1 error (with --format prometheus the failed check is still\n"
        "written, as kcplan_drift_check_success 0).\n")


def check_env(project_dir: Path, env: str, patterns: Sequence[str] = (), debug: bool = False) -> DriftCheck:
    """Read the state and the cluster (GET / and one expand request), compare; KcplanError on failure.

    ``patterns`` narrows both sides to the matching connector names (all when empty).
    """
    from kcplan.config.schemas import load_schemas
    from kcplan.config.sensitive import SensitiveKeys
    from kcplan.plan.drift import detect

    ctx = Context(project_dir, env, debug)
    store = ctx.state_store()
    state = store.load()
    if not state.exists:
        raise StateError(
            f"no state file for environment '{env}' ({store.location}): kcplan has applied nothing there yet",
            f"drift compares the cluster with what kcplan last applied; run 'kcplan apply -e {env}' or record "
            f"existing connectors with 'kcplan import -e {env} NAME...' first.",
        )
    sensitive = SensitiveKeys.from_schemas(load_schemas(project_dir), ctx.settings.sensitive_keys)
    with ctx.client() as client:
        cluster_id = client.server_info().kafka_cluster_id or None
        check_same_cluster(env, state.kafka_cluster_id, cluster_id, [client.current_url])
        live = client.list_connectors()
    if patterns:
        live = select(live, patterns)
        state = state.model_copy(update={"connectors": select(state.connectors, patterns)})
    return DriftCheck(env=env, checked_at=time.time(), report=detect(env, state, live, sensitive))


def run(args: argparse.Namespace) -> int:
    envs = env_names(args)
    refuse_folder(args.output)

    def one(env: str) -> DriftCheck:
        try:
            return check_env(args.project_dir, env, args.connector, bool(args.debug))
        except KcplanError as exc:
            if args.debug:
                traceback.print_exc()
            print_error(exc.message, exc.hint, env=env if len(envs) > 1 else None)
            return DriftCheck(env=env, checked_at=time.time(), error=exc.message)

    checks = concurrently(one, envs)
    failed = any(c.report is None for c in checks)
    if args.format == "prometheus":
        text = drift_view.render_prometheus(checks)
    elif args.format == "json":
        text = drift_view.render_json(checks) + "\n"
    elif failed and all(c.report is None for c in checks):
        text = ""  # the errors are on stderr; a table would be empty
    else:
        text = drift_view.render_table(checks, palette(args) if args.output is None else PLAIN) + "\n"
    emit(args.output, text)
    if failed:
        return exit_codes.ERROR
    return exit_codes.CHANGES if any(c.report is not None and c.report.has_drift for c in checks) else exit_codes.OK
