"""kcplan schemas: pull per-class schemas from a live cluster (so validation works offline), or list them."""

from __future__ import annotations

import argparse
from pathlib import Path

from kcplan import exit_codes
from kcplan.commands._options import add_render_options, render_inputs
from kcplan.config.render import render_environment
from kcplan.config.schemas import (
    ClassSchema,
    from_plugin_config,
    load_schemas,
    parse_schema,
    schema_path,
    short_names,
    write_schema,
)
from kcplan.connect.models import plugin_versions
from kcplan.context import Context, require_env
from kcplan.errors import NotFound, UsageError


def configure(parser: argparse.ArgumentParser) -> None:
    from kcplan.cli import add_global_options  # so that 'schemas pull -e ENV' works like other commands

    sub = parser.add_subparsers(dest="action", metavar="ACTION")
    pull = sub.add_parser("pull", help="write schemas/<class>.json from the cluster's plugin definitions",
                          description="Write schemas/<class>.json from GET /connector-plugins/CLASS/config "
                                      "(type PASSWORD = sensitive). Without CLASS: the classes the "
                                      "environment's connectors use.")
    pull.add_argument("classes", nargs="*", metavar="CLASS", help="connector classes (default: those in use)")
    pull.add_argument("--all", action="store_true", help="every source and sink plugin of the cluster")
    pull.add_argument("--force", action="store_true", help="also replace hand-written schema files")
    add_render_options(pull)
    listing = sub.add_parser("list", help="the schema files of the project: class, origin, keys, sensitive keys")
    for nested in (pull, listing):
        add_global_options(nested, suppress=True)


def run(args: argparse.Namespace) -> int:
    if args.action == "list":
        return list_schemas(args.project_dir)
    if args.action != "pull":
        raise UsageError("say what to do: 'kcplan schemas pull -e ENV [CLASS...]' or 'kcplan schemas list'")
    env = require_env(args)
    inputs = render_inputs(args)
    ctx = Context.from_args(args, inputs.ext_vars)
    client = ctx.client()
    if args.classes:
        classes = list(dict.fromkeys(args.classes))
    elif args.all:
        classes = sorted(str(p["class"]) for p in client.plugins()
                         if p.get("type") in ("source", "sink") and p.get("class"))
    else:
        rendered = render_environment(args.project_dir, env, ext_vars=inputs.ext_vars, tla_vars=inputs.tla_vars)
        classes = sorted(rendered.classes)
        if not classes:
            raise UsageError(f"environment {env!r} has no connectors, so no classes to pull",
                             "Name the classes (kcplan schemas pull -e ENV CLASS...) or pass --all.")
    info = client.server_info()
    versions = plugin_versions(client.plugins())
    installed = list(versions)
    for cls in dict.fromkeys(full_class_name(c, installed) for c in classes):
        try:
            definitions = client.plugin_config(cls)
        except NotFound:
            raise UsageError(f"the cluster has no connector plugin {cls!r}",
                             "See the installed ones with: curl <connect-url>/connector-plugins") from None
        version = " and ".join(versions.get(cls, ["unknown"]))
        schema = from_plugin_config(cls, definitions,
                                    f"pulled from a Connect {info.version} worker (plugin version {version})")
        print(_write(args.project_dir, schema, args.force, version))
    return exit_codes.OK


def full_class_name(name: str, installed: list[str]) -> str:
    """The installed class an alias such as 'FileStreamSource' stands for (the name itself if none)."""
    if name in installed:
        return name
    matches = [cls for cls in installed if name in short_names(cls)]
    return matches[0] if len(matches) == 1 else name


def _write(project_dir: Path, schema: ClassSchema, force: bool, version: str) -> str:
    path = schema_path(project_dir, schema.connector_class)
    shown = f"schemas/{path.name}"
    if path.is_file() and not force:
        try:
            old = parse_schema(path.read_text(encoding="utf-8"), schema.connector_class)
        except ValueError:
            old = None
        if old is None or old.origin != "pulled":
            return f"kept {shown}: it is hand-written (--force replaces it)"
    write_schema(project_dir, schema)
    sensitive = sorted(schema.sensitive_keys())
    detail = f"sensitive: {', '.join(sensitive)}" if sensitive else "none sensitive"
    return f"wrote {shown} ({len(schema.keys)} keys; {detail}; plugin version {version})"


def list_schemas(project_dir: Path) -> int:
    schemas = load_schemas(project_dir)
    if not len(schemas):
        print("no schema files in schemas/")
        return exit_codes.OK
    for schema in schemas:
        sensitive = ", ".join(sorted(schema.sensitive_keys())) or "-"
        required = sum(1 for k in schema.keys.values() if k.required)
        print(f"{schema.connector_class}  ({schema.origin}; {len(schema.keys)} keys, {required} required; "
              f"sensitive: {sensitive})")
    return exit_codes.OK
