"""kcplan import: record live connectors as managed (no write to the cluster), then show what
the code would change about them.

Secrets of the imported configs are stored only as digests. A connector imported but not
declared in the code will be deleted by the next apply; the plan shown says so.
"""

from __future__ import annotations

import argparse
import sys

from kcplan import exit_codes
from kcplan.commands._messages import print_warnings
from kcplan.commands._options import add_lock_timeout, add_render_options, palette
from kcplan.commands._planning import load_environment, shown_urls
from kcplan.errors import UsageError
from kcplan.plan.cluster_guard import check_same_cluster
from kcplan.plan.planner import build_plan, live_run_state
from kcplan.selection import literal
from kcplan.state.digest import new_salt
from kcplan.state.model import ManagedConnector, utc_now
from kcplan.views.plan_view import render_plan


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("names", nargs="*", metavar="NAME", help="live connectors to record as managed")
    parser.add_argument("--all", action="store_true", help="every live connector kcplan does not manage yet")
    add_lock_timeout(parser)
    add_render_options(parser)


def run(args: argparse.Namespace) -> int:
    if bool(args.names) == bool(args.all):
        raise UsageError("give connector names or --all (not both)",
                         "e.g. 'kcplan import -e prod orders-sink' or 'kcplan import -e prod --all'.")
    ctx, desired = load_environment(args)
    print_warnings(desired.warnings)
    store = ctx.state_store()
    with store.locked("import", timeout=args.lock_timeout), ctx.client() as client:
        prior = store.load()
        cluster_id = client.server_info().kafka_cluster_id or None
        live = client.list_connectors()
        check_same_cluster(ctx.env_name, prior.kafka_cluster_id, cluster_id, [client.current_url])
        unmanaged = sorted(n for n in live if n not in prior.connectors)
        if args.all:
            names = unmanaged
        else:
            names = list(dict.fromkeys(args.names))
            missing = [n for n in names if n not in live]
            if missing:
                shown = ", ".join(unmanaged[:20]) + (f" ... ({len(unmanaged)} in all)" if len(unmanaged) > 20 else "")
                raise UsageError(f"not on the cluster: {', '.join(missing)}",
                                 f"Connectors there that kcplan does not manage: {shown or 'none'}.")
        already = [n for n in names if n in prior.connectors]
        todo = [n for n in names if n not in prior.connectors]
        salt = prior.digest_salt or new_salt()
        state = prior.with_salt(salt).with_cluster_id(cluster_id or prior.kafka_cluster_id)
        now = utc_now()
        for name in todo:
            spec = desired.connectors.get(name)
            state = state.with_connector(ManagedConnector.record(
                name, live[name].config, sensitive=desired.sensitive, salt=salt,
                state=live_run_state(live[name]),
                prevent_destroy=spec.lifecycle.prevent_destroy if spec else False, applied_at=now))
        saved = store.save(state) if todo else prior
    for name in already:
        print(f"{name}: already managed, left as it is.", file=sys.stderr)
    if not todo:
        print("Nothing imported." if not args.all else "Nothing to import: kcplan manages every live connector.")
        return exit_codes.OK
    print(f"Imported {len(todo)} connector{'s' if len(todo) != 1 else ''} into the state of '{ctx.env_name}' "
          f"(serial {saved.serial}): {', '.join(todo)}")
    undeclared = [n for n in todo if n not in desired.connectors]
    if undeclared:
        print_warnings([f"not declared in the code, so the next apply would delete them: {', '.join(undeclared)}"])
    plan = build_plan(desired.connectors, desired.sensitive, saved, live, env=ctx.env_name,
                      kafka_cluster_id=cluster_id, connect_urls=shown_urls(ctx),
                      targets=[literal(n) for n in todo])
    print("\nWhat the code would change about them:\n")
    sys.stdout.write(render_plan(plan, palette(args)))
    return exit_codes.OK
