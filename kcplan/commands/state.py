"""kcplan state list | show | pull | rm | force-unlock | migrate: look at, edit or move the state.

None of these talks to the cluster: ``rm`` only stops kcplan from managing a connector. The state is
the environment's backend (settings ``state``: the local file, or an S3 object; README 'State').
"""

from __future__ import annotations

import argparse
import json
import sys

from tabulate import tabulate

from kcplan import exit_codes
from kcplan.commands._messages import print_warnings
from kcplan.commands._options import add_lock_timeout, palette
from kcplan.context import Context
from kcplan.errors import StateError, UsageError
from kcplan.heal import attempts
from kcplan.plan.diff import masked
from kcplan.state.model import State
from kcplan.state.store import StateStore
from kcplan.views.style import Palette


def configure(parser: argparse.ArgumentParser) -> None:
    from kcplan.cli import add_global_options  # the same -C/-e/--debug/--no-color after the subcommand

    sub = parser.add_subparsers(dest="state_command", metavar="SUBCOMMAND")
    commands = {
        "list": "List the connectors kcplan manages",
        "show": "Show what kcplan last applied to one connector (secrets masked)",
        "rm": "Stop managing connectors (the connectors on the cluster are not touched)",
        "pull": "Print the whole state as JSON (secrets are digests in it)",
        "force-unlock": "Remove a stale state lock",
        "migrate": "Copy the state between the local file and the S3 object of the settings",
    }
    parsers = {}
    for name, help_text in commands.items():
        parsers[name] = sub.add_parser(name, help=help_text, description=help_text)
        add_global_options(parsers[name], suppress=True)
    parsers["show"].add_argument("name", metavar="NAME")
    parsers["rm"].add_argument("names", nargs="+", metavar="NAME")
    add_lock_timeout(parsers["rm"])
    parsers["force-unlock"].add_argument(
        "lock_id", nargs="?", metavar="LOCK_ID",
        help="the id of the lock to remove, as the locked error shows it (required for S3 state)")
    parsers["migrate"].add_argument(
        "--to", required=True, choices=("s3", "local"),
        help="s3: copy the local file to the settings' S3 object; local: copy the S3 object to the local file")
    add_lock_timeout(parsers["migrate"])
    parsers["force-unlock"].add_argument(
        "--force", action="store_true",
        help="remove the lock even while a live process holds it (only for a process that is stuck for good)")


def run(args: argparse.Namespace) -> int:
    command = args.state_command
    if not command:
        raise UsageError("'kcplan state' needs a subcommand: list, show NAME, pull, rm NAME..., force-unlock, "
                         "migrate --to s3|local", "e.g. 'kcplan state list -e dev'.")
    ctx = Context.from_args(args)
    if command == "migrate":
        return _migrate(ctx, args.to, args.lock_timeout)
    store = ctx.state_store()
    if command == "list":
        return _list(ctx, store, palette(args))
    if command == "show":
        return _show(store, args.name, ctx.env_name)
    if command == "pull":
        return _pull(store, ctx.env_name)
    if command == "rm":
        return _rm(store, args.names, args.lock_timeout, ctx.env_name)
    return _force_unlock(store, args.lock_id, args.force)


def _describe(store: StateStore, state: State) -> str:
    return (f"State {store.location} (lineage {state.lineage}, serial {state.serial}, "
            f"Kafka cluster {state.kafka_cluster_id or '?'})")


def _list(ctx: Context, store: StateStore, colours: Palette) -> int:
    state = store.load()
    if not state.exists:
        print(f"No state yet for environment '{ctx.env_name}' ({store.location} does not exist): "
              "kcplan manages no connectors there.")
        return exit_codes.OK
    rows = [[name, rec.connector_class.rsplit(".", 1)[-1], colours.state(rec.state),
             "yes" if rec.prevent_destroy else "no", rec.applied_at]
            for name, rec in sorted(state.connectors.items())]
    print(_describe(store, state) + f": {len(rows)} managed connector{'s' if len(rows) != 1 else ''}")
    if rows:
        print()
        print(tabulate(rows, headers=["NAME", "CLASS", "STATE", "PREVENT_DESTROY", "APPLIED_AT"],
                       tablefmt="plain"))
    return exit_codes.OK


def _require(state: State, names: list[str], env: str) -> None:
    missing = [n for n in names if n not in state.connectors]
    if missing:
        known = sorted(state.connectors)
        shown = ", ".join(known[:20]) + (f" ... ({len(known)} in all)" if len(known) > 20 else "")
        raise UsageError(
            f"not managed in environment '{env}': {', '.join(missing)}",
            f"Managed connectors: {shown or 'none'} ('kcplan state list').",
        )


def _show(store: StateStore, name: str, env: str) -> int:
    from kcplan.config.sensitive import SensitiveKeys

    state = store.load()
    _require(state, [name], env)
    rec = state.connectors[name]
    doc = {"name": rec.name, "config": masked(rec.config, SensitiveKeys()), "state": rec.state,
           "prevent_destroy": rec.prevent_destroy, "applied_at": rec.applied_at}
    sys.stdout.write(json.dumps(doc, indent=2, ensure_ascii=False) + "\n")
    return exit_codes.OK


def _rm(store: StateStore, names: list[str], timeout: float, env: str) -> int:
    with store.locked("state rm", timeout=timeout):
        state = store.load()
        _require(state, names, env)
        for name in names:
            state = state.without(name)
        saved = store.save(state)
    print(f"Removed from the state of '{env}' (serial {saved.serial}): {', '.join(sorted(set(names)))}.")
    print("The connectors on the cluster are untouched; kcplan now lists them as not managed.")
    return exit_codes.OK


def _pull(store: StateStore, env: str) -> int:
    state = store.load()
    if not state.exists:
        raise StateError(f"no state yet for environment '{env}' ({store.location} does not exist)",
                         f"kcplan has applied nothing there; 'kcplan apply -e {env}' or 'kcplan import -e {env}' "
                         "makes one.")
    sys.stdout.write(state.to_json())
    return exit_codes.OK


def _force_unlock(store: StateStore, lock_id: str | None, force: bool) -> int:
    was_held, info = store.backend.force_unlock(lock_id, force)
    who = f" (last taken by {info.describe()})" if info else ""
    if info is None and not was_held:
        print(f"The state {store.location} is not locked.")
    elif was_held is None:
        print(f"Removed the lock of {store.location}{who}.")
        print_warnings(["if that process still runs, its next state write fails (the state is written only "
                        "over the version it read), and nothing it saved before is lost."])
    elif was_held:
        print(f"Removed the lock {store.lock_path} held by a live process{who}.")
        print_warnings(["that process still runs and may still write the state."])
    else:
        print(f"Removed the stale lock file {store.lock_path}{who}; nobody held it.")
    return exit_codes.OK


def _migrate(ctx: Context, to: str, timeout: float) -> int:
    """Copy the state from the other backend into ``to``, under both locks; the source stays as it is."""
    source = ctx.state_store("local" if to == "s3" else "s3")
    target = ctx.state_store(to)
    with source.locked("state migrate", timeout=timeout), target.locked("state migrate", timeout=timeout):
        state = source.load()
        if not state.exists:
            raise StateError(f"nothing to migrate: there is no state at {source.location}",
                             "Check 'state_path' / 'state' in the environment's settings.")
        copied = target.copy_in(state)
        heal_copied = _copy_heal_record(source, target)
    if not copied:
        print(f"{target.location} holds this state already (lineage {state.lineage}, serial {state.serial}).")
    else:
        print(f"Copied the state of '{ctx.env_name}' (lineage {state.lineage}, serial {state.serial}, "
              f"{len(state.connectors)} connectors) from {source.location} to {target.location}.")
    if heal_copied:
        print(f"Copied heal's restart record to {target.backend.companion_location(attempts.SUFFIX)}.")
    print(f"The source {source.location} is left as it was. "
          + (f"Set state.backend: '{to}' in the settings to use the copy."
             if ctx.settings.state.backend != to else "The settings already use the copy."))
    return exit_codes.OK


def _copy_heal_record(source: StateStore, target: StateStore) -> bool:
    """heal's backoff record goes with the state, unless the target has its own already (never overwritten)."""
    record = source.backend.read_companion(attempts.SUFFIX)
    if record is None or target.backend.read_companion(attempts.SUFFIX) is not None:
        return False
    target.backend.write_companion(attempts.SUFFIX, record)
    return True
