"""kcplan validate: every problem of the environment's connector configs, in one run.

Offline by default (Jsonnet, base rules, schemas/); ``--online`` also asks the cluster
(PUT /connector-plugins/CLASS/config/validate) for each connector, concurrently.
"""

from __future__ import annotations

import argparse
from concurrent.futures import ThreadPoolExecutor

from kcplan import exit_codes
from kcplan.commands._messages import print_warnings
from kcplan.commands._options import add_render_options, render_inputs
from kcplan.config.layout import settings_sensitive_keys
from kcplan.config.models import ConnectorSpec
from kcplan.config.render import SPEC_HINT, Problem, Rendered, render_environment
from kcplan.config.sensitive import SensitiveKeys
from kcplan.connect.classify import GENERAL_KEY, redact_url
from kcplan.connect.client import ConnectClient
from kcplan.connect.models import plugin_versions
from kcplan.context import Context, require_env
from kcplan.errors import ApiError, AuthFailed, SpecError


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--online", action="store_true",
                        help="also validate each connector on the cluster (needs the environment's "
                             "Connect URL and credentials)")
    add_render_options(parser)
    parser.epilog = (parser.epilog or "") + (
        "\noffline, the settings file is read only for sensitive_keys: ext vars that are not set\n"
        "(e.g. the cluster's credentials) read as empty strings there.\n"
        "exit: 0 all connectors valid, 1 any problem (all are listed).\n")


def run(args: argparse.Namespace) -> int:
    env = require_env(args)
    inputs = render_inputs(args)
    ctx = Context.from_args(args, inputs.ext_vars) if args.online else None
    extra = (ctx.settings.sensitive_keys if ctx
             else settings_sensitive_keys(args.project_dir, env, inputs.ext_vars))
    rendered = render_environment(args.project_dir, env, ext_vars=inputs.ext_vars,
                                  tla_vars=inputs.tla_vars, extra_sensitive_keys=extra)
    print_warnings(rendered.warnings)
    problems = list(rendered.problems)
    used_plugins = ""
    if ctx is not None:
        client = ctx.client()
        problems += validate_online(client, list(rendered.connectors.values()),
                                    rendered.sensitive, ctx.settings.parallelism)
        used_plugins = plugins_line(rendered.classes, plugin_versions(client.plugins()))
    if problems:
        raise SpecError([str(p) for p in problems], SPEC_HINT)
    print(summary(rendered, online_url=redact_url(ctx.settings.connect_url[0]) if ctx else None))
    if used_plugins:
        print(used_plugins)
    return exit_codes.OK


def summary(rendered: Rendered, online_url: str | None = None) -> str:
    count = len(rendered.connectors)
    files = len(rendered.files)
    where = f"offline and on {online_url}" if online_url else "offline"
    return (f"{count} connector{'s' if count != 1 else ''} valid "
            f"(environment {rendered.env_name!r}, {files} file{'s' if files != 1 else ''}, {where})")


def plugins_line(classes: set[str], versions: dict[str, list[str]]) -> str:
    """'plugins: CLASS VERSION, ...': the installed versions of the classes used (several on 4.1+, KIP-891)."""
    shown = [f"{cls} {' and '.join(versions[cls])}" for cls in sorted(classes) if cls in versions]
    return f"plugins: {', '.join(shown)}" if shown else ""


def validate_online(client: ConnectClient, specs: list[ConnectorSpec], sensitive: SensitiveKeys,
                    parallelism: int) -> list[Problem]:
    """The cluster's per-key errors for each connector (secret values scrubbed), in name order."""

    def one(spec: ConnectorSpec) -> list[Problem]:
        try:
            errors = client.validate_config(spec.connector_class, spec.config)
        except AuthFailed:
            raise
        except ApiError as exc:  # e.g. a class the cluster does not have
            told = f" ({exc.specific_hint})" if exc.specific_hint else ""  # e.g. what a 4.x 500 means
            message = sensitive.scrub(exc.message + told, spec.config)
            return [Problem(spec.source, f"the cluster could not validate it: {message}",
                            f"connector {spec.name!r}")]
        return [Problem(spec.source, sensitive.scrub(message, spec.config), f"connector {spec.name!r}",
                        None if key == GENERAL_KEY else key)
                for key, messages in sorted(errors.items()) for message in messages]

    ordered = sorted(specs, key=lambda s: s.name)
    with ThreadPoolExecutor(max_workers=max(1, parallelism)) as pool:
        results = list(pool.map(one, ordered))
    return [p for result in results for p in result]
