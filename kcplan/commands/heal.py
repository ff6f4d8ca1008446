"""kcplan heal: restart the FAILED connectors and tasks of managed connectors, with backoff. For cron.

One ``GET /connectors?expand=status``, the state (which connectors are managed) and heal's attempts
file; kcplan/heal/policy.py decides; each restart is ``POST /connectors/NAME/restart?includeTasks=true
&onlyFailed=true``. The state lock is held from reading the record to writing it: an apply under way
is not disturbed (its own verification restarts), and two heals never count the same restart twice.
The record is written BEFORE the restarts are sent, so a kill in between errs on waiting longer.
--dry-run takes no lock, sends no restart and writes nothing.
"""

from __future__ import annotations

import argparse
import time
import traceback
from dataclasses import replace
from typing import TYPE_CHECKING

from kcplan import exit_codes
from kcplan.commands._messages import print_error, print_warnings
from kcplan.commands._options import add_lock_timeout, whole_number
from kcplan.commands._output import add_output, emit, refuse_folder
from kcplan.context import Context
from kcplan.errors import ApiError, ConnectionFailed, KcplanError, StateError, UnknownOutcome, UsageError
from kcplan.heal import attempts
from kcplan.heal.policy import RESTART, HealOptions, Outcome, decide, refused
from kcplan.selection import unmatched
from kcplan.views import heal_view
from kcplan.views.heal_view import HealReport

if TYPE_CHECKING:
    from kcplan.connect.client import ConnectClient


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--connector", action="append", default=[], metavar="NAME_OR_GLOB",
                        help="only these connectors (repeatable, shell globs)")
    parser.add_argument("--max-restarts", type=whole_number(0), metavar="N",
                        help="give up on a connector after N restarts (default: never give up)")
    parser.add_argument("--dry-run", action="store_true",
                        help="report what would be restarted; restart nothing, write nothing")
    parser.add_argument("--include-unmanaged", action="store_true",
                        help="heal connectors that are not in the state too (default: report them only)")
    parser.add_argument("--format", choices=("text", "json", "prometheus"), default="text")
    add_output(parser)
    add_lock_timeout(parser)
    parser.epilog = (parser.epilog or "") + (
        "\nRestarts FAILED connectors/tasks of managed connectors; attempt k waits k^2+k minutes after the\n"
        "last restart (0, 2, 6, 12, 20, 30, 42, 56, then 60). Attempts are kept in <state>.heal.json\n"
        "(beside the state, in its backend: a file or an S3 object); a connector healthy at two runs\n"
        "10 minutes apart has its record forgotten (docs/heal.md).\n"
        "exit: 0 nothing FAILED, 3 some FAILED connector or task remains (restarted now, waiting for its\n"
        "backoff, or given up), 1 error (with --format prometheus/json the failed run is still reported).\n")


def _options(args: argparse.Namespace) -> HealOptions:
    return HealOptions(patterns=tuple(args.connector), max_restarts=args.max_restarts,
                       include_unmanaged=bool(args.include_unmanaged))


def _restart(client: ConnectClient, outcome: Outcome, previous: dict[str, attempts.Attempts]) -> Outcome:
    """Send the restarts decided; one refused (or never sent) is not counted, one whose answer was
    lost is (it may have happened). Either is reported with its error, and the run exits 1."""
    for d in outcome.decisions:
        if d.action != RESTART:
            continue
        try:
            client.restart(d.name, include_tasks=True, only_failed=True)
        except (ApiError, ConnectionFailed) as exc:
            outcome = refused(outcome, previous, d.name, exc.message)
        except UnknownOutcome as exc:
            decisions = tuple(replace(x, error=exc.message) if x.name == d.name else x for x in outcome.decisions)
            outcome = Outcome(decisions, outcome.record)
    return outcome


def heal_env(args: argparse.Namespace, env: str, now: float) -> HealReport:
    """One run for ``env``; KcplanError on failure (nothing restarted then)."""
    from kcplan.plan.cluster_guard import check_same_cluster

    ctx = Context(args.project_dir, env, bool(args.debug))
    store = ctx.state_store()
    report = HealReport(env=env, checked_at=now, dry_run=bool(args.dry_run), max_restarts=args.max_restarts)

    def run_once() -> HealReport:
        state = store.load()
        previous = attempts.load(store.backend)
        with ctx.client() as client:
            cluster_id = client.server_info().kafka_cluster_id or None
            if state.exists:
                check_same_cluster(env, state.kafka_cluster_id, cluster_id, [client.current_url])
            elif not args.include_unmanaged:
                raise StateError(
                    f"no state file for environment '{env}' ({store.location}): kcplan manages no connector there",
                    f"heal restarts managed connectors only; run 'kcplan apply -e {env}' or 'kcplan import -e "
                    f"{env} NAME...' first, or pass --include-unmanaged.")
            statuses = client.statuses()
            outcome = decide(statuses, set(state.connectors), previous, now, _options(args))
            print_warnings(f"--connector {p} matches no connector" for p in unmatched(args.connector, statuses))
            if args.dry_run:
                return _with(report, outcome)
            if outcome.record != previous:
                attempts.save(store.backend, outcome.record)
            restarted = _restart(client, outcome, previous)
        if restarted.record != outcome.record:
            attempts.save(store.backend, restarted.record)
        return _with(report, restarted)

    if args.dry_run:
        return run_once()
    with store.locked("heal", timeout=args.lock_timeout):
        return run_once()


def _with(report: HealReport, outcome: Outcome) -> HealReport:
    return replace(report, outcome=outcome)


def run(args: argparse.Namespace) -> int:
    if len(args.envs) > 1:
        raise UsageError("heal takes one environment (-e NAME)", "Run one 'kcplan heal -e NAME' per environment.")
    env = args.env or ""
    now = time.time()
    refuse_folder(args.output)
    try:
        if not env:
            from kcplan.context import require_env
            env = require_env(args)
        report = heal_env(args, env, now)
    except KcplanError as exc:
        if args.format == "text" or not env:
            raise
        if args.debug:
            traceback.print_exc()
        print_error(exc.message, exc.hint)
        report = HealReport(env=env, checked_at=now, error=exc.message, dry_run=bool(args.dry_run),
                            max_restarts=args.max_restarts)
    if args.format == "prometheus":
        text = heal_view.render_prometheus(report)
    else:
        text = (heal_view.render_json if args.format == "json" else heal_view.render_text)(report) + "\n"
    emit(args.output, text)
    assert report.outcome is not None or report.error is not None
    if report.outcome is None:
        return exit_codes.ERROR
    if any(d.error for d in report.outcome.decisions):
        return exit_codes.ERROR
    return exit_codes.UNHEALTHY if report.outcome.failing else exit_codes.OK
