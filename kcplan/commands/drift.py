"""kcplan drift: is the live cluster still what kcplan last applied? For cron and alerting.

Compares the cluster with the state file (not with the code: pending code changes are 'plan's
business). Read-only: no lock is taken and nothing is written but ``--output``, which is replaced
atomically (node_exporter's textfile collector must never read half a file). When a check fails,
``--format prometheus`` still reports it (kcplan_drift_check_success 0) so the alert can fire.
"""

from __future__ import annotations

import argparse
import contextlib
import fnmatch
import os
import secrets
import sys
import time
import traceback
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from kcplan.commands.status import MAX_ENV_PARALLELISM, env_names, print_env_error
from kcplan.context import Context
from kcplan.errors import KcplanError, PlanError, StateError, UsageError
from kcplan.views import drift_view
from kcplan.views.drift_view import DriftCheck

EXIT_OK, EXIT_ERROR, EXIT_DRIFT = 0, 1, 2
OUTPUT_MODE = 0o644  # node_exporter usually runs as another user than the cron job


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--format", choices=("table", "json", "prometheus"), default="table",
                        help="prometheus: gauges in the text exposition format (node_exporter textfile collector)")
    parser.add_argument("--connector", action="append", default=[], metavar="NAME_OR_GLOB",
                        help="only these connectors, managed or not (repeatable, shell globs); e.g. the "
                             "connectors of one team on a shared cluster")
    parser.add_argument("--output", metavar="FILE", type=Path,
                        help="write the report to FILE instead of stdout, atomically (temp file + rename)")
    parser.epilog = (parser.epilog or "") + (
        "\nCompares the live cluster with the state file (what kcplan last applied), not with the code.\n"
        "Drift kinds: changed (config keys), deleted, run_state (paused/stopped/resumed), unmanaged.\n"
        "-e may be repeated or comma-separated (or 'all').\n"
        "exit: 0 no drift, 2 drift found, 1 error (with --format prometheus the failed check is still\n"
        "written, as kcplan_drift_check_success 0).\n")


def _in_scope(name: str, patterns: Sequence[str]) -> bool:
    return not patterns or any(fnmatch.fnmatchcase(name, p) for p in patterns)


def check_env(project_dir: Path, env: str, patterns: Sequence[str] = (), debug: bool = False) -> DriftCheck:
    """Read the state and the cluster (GET / and one expand request), compare; KcplanError on failure.

    ``patterns`` narrows both sides to the matching connector names (all when empty).
    """
    from kcplan.config.schemas import load_schemas
    from kcplan.config.sensitive import SensitiveKeys
    from kcplan.plan.drift import detect
    from kcplan.state.store import StateStore

    ctx = Context(project_dir, env, debug)
    state = StateStore(ctx.state_path).load()
    if not state.exists:
        raise StateError(
            f"no state file for environment '{env}' ({ctx.state_path}): kcplan has applied nothing there yet",
            f"drift compares the cluster with what kcplan last applied; run 'kcplan apply -e {env}' or record "
            f"existing connectors with 'kcplan import -e {env} NAME...' first.",
        )
    sensitive = SensitiveKeys.from_schemas(load_schemas(project_dir), ctx.settings.sensitive_keys)
    with ctx.client() as client:
        cluster_id = client.server_info().kafka_cluster_id or None
        if state.kafka_cluster_id and cluster_id and state.kafka_cluster_id != cluster_id:
            raise PlanError(
                f"the state of environment '{env}' belongs to Kafka cluster {state.kafka_cluster_id}, but "
                f"{client.current_url} answers for cluster {cluster_id}",
                "Check the Connect URL of the environment (and KCPLAN_CONNECT_URL), or the state file path.",
            )
        live = client.list_connectors()
    if patterns:
        live = {n: c for n, c in live.items() if _in_scope(n, patterns)}
        state = state.model_copy(update={"connectors": {n: r for n, r in state.connectors.items()
                                                        if _in_scope(n, patterns)}})
    return DriftCheck(env=env, checked_at=time.time(), report=detect(env, state, live, sensitive))


def write_atomic(path: Path, text: str) -> None:
    """Replace ``path`` by ``text`` at once: a temp file in the same folder, fsync, rename."""
    folder = path.parent
    tmp = folder / f".{path.name}.tmp-{os.getpid()}-{secrets.token_hex(4)}"
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, OUTPUT_MODE)
        try:
            os.fchmod(fd, OUTPUT_MODE)
            os.write(fd, text.encode())
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise UsageError(f"cannot write --output {path}: {exc.strerror or exc}",
                         f"Check that the folder {folder} exists and is writable.") from None


def run(args: argparse.Namespace) -> int:
    envs = env_names(args)
    if args.output is not None and args.output.is_dir():
        raise UsageError(f"--output {args.output} is a folder",
                         "Give a file name, e.g. --output /var/lib/node_exporter/textfile/kcplan.prom.")

    def one(env: str) -> DriftCheck:
        try:
            return check_env(args.project_dir, env, args.connector, bool(args.debug))
        except KcplanError as exc:
            if args.debug:
                traceback.print_exc()
            print_env_error(env, exc, multi=len(envs) > 1)
            return DriftCheck(env=env, checked_at=time.time(), error=exc.message)

    with ThreadPoolExecutor(max_workers=min(MAX_ENV_PARALLELISM, len(envs))) as pool:
        checks = list(pool.map(one, envs))
    failed = any(c.report is None for c in checks)
    if args.format == "prometheus":
        text = drift_view.render_prometheus(checks)
    elif args.format == "json":
        text = drift_view.render_json(checks) + "\n"
    elif failed and all(c.report is None for c in checks):
        text = ""  # the errors are on stderr; a table would be empty
    else:
        text = drift_view.render_table(checks) + "\n"
    if args.output is not None:
        write_atomic(args.output, text)
    else:
        sys.stdout.write(text)
    if failed:
        return EXIT_ERROR
    return EXIT_DRIFT if any(c.report is not None and c.report.has_drift for c in checks) else EXIT_OK
