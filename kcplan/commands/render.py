"""kcplan render: the rendered, validated connector configs, secrets masked (offline)."""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence

from kcplan import exit_codes
from kcplan.commands._messages import print_warnings
from kcplan.commands._options import add_render_options, palette, render_inputs
from kcplan.config.layout import settings_sensitive_keys
from kcplan.config.models import ConnectorSpec
from kcplan.config.render import load_desired
from kcplan.config.sensitive import SensitiveKeys
from kcplan.context import require_env
from kcplan.errors import UsageError
from kcplan.views.style import PLAIN, Palette


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("names", nargs="*", metavar="NAME", help="only these connectors (default: all)")
    parser.add_argument("--json", action="store_true", help="JSON: a list of {name, config, state, lifecycle, source}")
    parser.add_argument("--show-sensitive", action="store_true",
                        help="print values of sensitive keys instead of '(sensitive value)'")
    add_render_options(parser)


def run(args: argparse.Namespace) -> int:
    env = require_env(args)
    inputs = render_inputs(args)
    desired = load_desired(
        args.project_dir, env, ext_vars=inputs.ext_vars, tla_vars=inputs.tla_vars,
        extra_sensitive_keys=settings_sensitive_keys(args.project_dir, env, inputs.ext_vars),
    )
    print_warnings(desired.warnings)
    specs = select(desired.connectors, args.names, env)
    sensitive = None if args.show_sensitive else desired.sensitive
    print(render_json(specs, sensitive) if args.json else render_text(specs, sensitive, palette(args)), end="")
    return exit_codes.OK


def select(connectors: dict[str, ConnectorSpec], names: Sequence[str], env: str) -> list[ConnectorSpec]:
    """The named connectors (all when none are named), sorted by name."""
    missing = [n for n in names if n not in connectors]
    if missing:
        known = sorted(connectors)
        shown = ", ".join(known[:20]) + (f" ... ({len(known)} in all)" if len(known) > 20 else "")
        raise UsageError(
            f"no connector named {', '.join(repr(m) for m in missing)} in environment {env!r}",
            f"Connectors in {env}: {shown or 'none'}.",
        )
    chosen = names or list(connectors)
    return [connectors[n] for n in sorted(set(chosen))]


def _config(spec: ConnectorSpec, sensitive: SensitiveKeys | None) -> dict[str, str]:
    return sensitive.mask_config(spec.config) if sensitive else dict(spec.config)


def render_text(specs: list[ConnectorSpec], sensitive: SensitiveKeys | None, colours: Palette = PLAIN) -> str:
    """Per connector a header, then its config as sorted 'key = value' lines."""
    blocks = []
    for spec in specs:
        extras = [] if spec.state == "RUNNING" else [f"state: {colours.state(spec.state)}"]
        if spec.lifecycle.prevent_destroy:
            extras.append("prevent_destroy")
        header = f"# {colours.colour(spec.name, 'bold')} ({spec.source})"
        if extras:
            header += " [" + ", ".join(extras) + "]"
        config = _config(spec, sensitive)
        blocks.append("\n".join([header, *(f"{k} = {config[k]}" for k in sorted(config))]) + "\n")
    return "\n".join(blocks)


def render_json(specs: list[ConnectorSpec], sensitive: SensitiveKeys | None) -> str:
    items = [{
        "name": spec.name,
        "config": dict(sorted(_config(spec, sensitive).items())),
        "state": spec.state,
        "lifecycle": spec.lifecycle.model_dump(),
        "source": spec.source,
    } for spec in specs]
    return json.dumps(items, indent=2, ensure_ascii=False) + "\n"
