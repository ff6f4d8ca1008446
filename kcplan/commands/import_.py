"""kcplan import: record live connectors as managed (no write to the cluster), then show what
the code would change about them. With --generate, first write their connector files (docs/generate.md).

Secrets of the imported configs are stored only as digests, and generated files read them with
std.extVar. A connector imported but not declared in the code will be deleted by the next apply;
the plan shown says so.
"""

from __future__ import annotations

import argparse
import os
import sys

from kcplan import exit_codes
from kcplan.commands import _generate_run as gen
from kcplan.commands._messages import print_warnings
from kcplan.commands._options import add_lock_timeout, add_render_options, palette, render_inputs
from kcplan.commands._planning import load_environment, shown_urls
from kcplan.config.render import Desired, load_desired
from kcplan.config.sensitive import SensitiveKeys
from kcplan.connect.models import LiveConnector
from kcplan.context import Context
from kcplan.errors import UsageError
from kcplan.generate.build import Generated
from kcplan.plan.cluster_guard import check_same_cluster
from kcplan.plan.model import Plan
from kcplan.plan.planner import build_plan, live_run_state
from kcplan.selection import literal, selector
from kcplan.state.digest import new_salt
from kcplan.state.model import ManagedConnector, State, utc_now
from kcplan.views.generate_view import render_generated
from kcplan.views.import_json import import_json
from kcplan.views.plan_view import render_plan


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("names", nargs="*", metavar="NAME", help="live connectors to record as managed")
    parser.add_argument("--all", action="store_true", help="every live connector kcplan does not manage yet")
    parser.add_argument("--connector", action="append", default=[], metavar="GLOB",
                        help="live connectors whose name matches GLOB (repeatable)")
    parser.add_argument("--generate", action="store_true",
                        help="also write a connector file for each one not declared in the code yet "
                             "(secrets as std.extVar references, listed in environments/ENV/SECRETS.md)")
    parser.add_argument("--defaults", action="store_true",
                        help="with --generate: keys shared by all connectors of a class go to one "
                             "<class>.libsonnet that each file extends")
    parser.add_argument("--dry-run", action="store_true",
                        help="with --generate: list the files and variables, write and import nothing")
    parser.add_argument("--force", action="store_true", help="with --generate: overwrite existing files")
    parser.add_argument("--json", action="store_true",
                        help="print one JSON object (imported connectors, generated files, variable names, "
                             "the plan of the imported ones) instead of the text report")
    add_lock_timeout(parser)
    add_render_options(parser)


def _check_options(args: argparse.Namespace) -> None:
    chosen = sum(bool(x) for x in (args.names, args.connector, args.all))
    if chosen != 1:
        raise UsageError("give connector names, --connector GLOB or --all (one of them)",
                         "e.g. 'kcplan import -e prod orders-sink' or 'kcplan import -e prod --generate --all'.")
    extra = [o for o, on in (("--defaults", args.defaults), ("--dry-run", args.dry_run), ("--force", args.force)) if on]
    if extra and not args.generate:
        raise UsageError(f"{', '.join(extra)} only work with --generate",
                         f"e.g. 'kcplan import -e ENV --generate {' '.join(extra)} --all'.")


def _choose(args: argparse.Namespace, live: dict[str, LiveConnector], prior: State) -> list[str]:
    unmanaged = sorted(n for n in live if n not in prior.connectors)
    if args.all:
        return unmanaged
    if args.connector:
        chosen = selector(args.connector)
        return [n for n in unmanaged if chosen(n)]
    names = list(dict.fromkeys(args.names))
    missing = [n for n in names if n not in live]
    if missing:
        shown = ", ".join(unmanaged[:20]) + (f" ... ({len(unmanaged)} in all)" if len(unmanaged) > 20 else "")
        raise UsageError(f"not on the cluster: {', '.join(missing)}",
                         f"Connectors there that kcplan does not manage: {shown or 'none'}.")
    return names


def run(args: argparse.Namespace) -> int:
    _check_options(args)
    ctx, desired = load_environment(args)
    warnings: list[str] = []  # the plugins'; the render's are shown after any generated files are read back
    store = ctx.state_store()
    generated: Generated | None = None
    with store.locked("import", timeout=args.lock_timeout), ctx.client() as client:
        prior = store.load()
        cluster_id = client.server_info().kafka_cluster_id or None
        live = client.list_connectors()
        check_same_cluster(ctx.env_name, prior.kafka_cluster_id, cluster_id, [client.current_url])
        names = _choose(args, live, prior)
        already = [n for n in names if n in prior.connectors]
        todo = [n for n in names if n not in prior.connectors]
        # The plugins' PASSWORD keys count as secrets too: digests in the state, ext vars in generated files.
        classes = sorted({live[n].config.get("connector.class", "") for n in todo} - {""})
        sensitive = gen.plugin_sensitive(client, desired.sensitive, classes, warnings)
        if args.generate:
            fresh = [n for n in todo if n not in desired.connectors]
            generated = gen.prepare(ctx, live, fresh, sensitive, args.defaults)
            if not args.force:
                gen.refuse_existing(ctx.project_dir, generated)
            print_warnings(warnings)
            warnings = []
            if args.dry_run:
                print_warnings(list(desired.warnings))
                if args.json:
                    _print_json(ctx, prior, dry_run=True, imported=todo, already=already, not_declared=[],
                                generated=generated, plan=None)
                else:
                    sys.stdout.write(_report(ctx, generated, dry_run=True))
                return exit_codes.OK
            gen.write(ctx, generated)
        saved = store.save(_recorded(prior, todo, live, desired, sensitive, cluster_id)) if todo else prior
    print_warnings(warnings)
    for name in already:
        print(f"{name}: already managed, left as it is.", file=sys.stderr)
    if generated is not None and generated.files:
        if not args.json:
            sys.stdout.write(_report(ctx, generated, dry_run=False) + "\n")
        desired = _render_generated(args, ctx, generated)
    print_warnings(list(desired.warnings))
    undeclared = [n for n in todo if n not in desired.connectors]
    if undeclared:
        print_warnings([f"not declared in the code, so the next apply would delete them: {', '.join(undeclared)}"])
    plan = build_plan(desired.connectors, sensitive, saved, live, env=ctx.env_name,
                      kafka_cluster_id=cluster_id, connect_urls=shown_urls(ctx),
                      targets=[literal(n) for n in todo]) if todo else None
    if args.json:
        _print_json(ctx, saved, dry_run=False, imported=todo, already=already, not_declared=undeclared,
                    generated=generated, plan=plan)
        return exit_codes.OK
    if plan is None:
        print("Nothing imported." if not args.all else "Nothing to import: kcplan manages every live connector.")
        return exit_codes.OK
    print(f"Imported {len(todo)} connector{'s' if len(todo) != 1 else ''} into the state of '{ctx.env_name}' "
          f"(serial {saved.serial}): {', '.join(todo)}")
    print("\nWhat the code would change about them:\n")
    sys.stdout.write(render_plan(plan, palette(args)))
    return exit_codes.OK


def _recorded(prior: State, todo: list[str], live: dict[str, LiveConnector], desired: Desired,
              sensitive: SensitiveKeys, cluster_id: str | None) -> State:
    salt = prior.digest_salt or new_salt()
    state = prior.with_salt(salt).with_cluster_id(cluster_id or prior.kafka_cluster_id)
    now = utc_now()
    for name in todo:
        spec = desired.connectors.get(name)
        state = state.with_connector(ManagedConnector.record(
            name, live[name].config, sensitive=sensitive, salt=salt,
            state=live_run_state(live[name]),
            prevent_destroy=spec.lifecycle.prevent_destroy if spec else False, applied_at=now))
    return state


def _secrets_file(ctx: Context) -> str:
    return os.path.relpath(gen.secrets_path(ctx), ctx.project_dir)


def _print_json(ctx: Context, state: State, *, dry_run: bool, imported: list[str], already: list[str],
                not_declared: list[str], generated: Generated | None, plan: Plan | None) -> None:
    sys.stdout.write(import_json(env=ctx.env_name, dry_run=dry_run, imported=imported, already_managed=already,
                                 not_declared=not_declared, state_serial=state.serial if state.exists else None,
                                 generated=generated, secrets_file=_secrets_file(ctx), plan=plan))


def _report(ctx: Context, generated: Generated, dry_run: bool) -> str:
    return render_generated(generated, env=ctx.env_name, secrets_file=_secrets_file(ctx), dry_run=dry_run)


def _render_generated(args: argparse.Namespace, ctx: Context, generated: Generated) -> Desired:
    """The environment rendered again with the new files; their secrets come from memory (the values
    just read from the cluster), so the plan below shows whether the files match the live configs."""
    inputs = render_inputs(args)
    return load_desired(ctx.project_dir, ctx.env_name, ext_vars={**generated.secret_values, **inputs.ext_vars},
                        tla_vars=inputs.tla_vars, extra_sensitive_keys=ctx.settings.sensitive_keys)
