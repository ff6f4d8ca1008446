"""kcplan offsets get -e ENV NAME...: the committed offsets of connectors (Connect 3.5+), read-only.

Resetting or setting offsets is a reviewed change, not a command: the ``offsets`` key of a connector
file, through plan and apply (kcplan/config/offsets_spec.py, README "Offsets").
"""

from __future__ import annotations

import argparse
import sys

from kcplan import exit_codes
from kcplan.connect.classify import redact_url
from kcplan.connect.models import ConnectorOffset
from kcplan.context import Context
from kcplan.errors import NotFound, UsageError
from kcplan.views.offsets_view import render_offsets, render_offsets_json


def configure(parser: argparse.ArgumentParser) -> None:
    from kcplan.cli import add_global_options  # the same -C/-e/--debug/--no-color after the subcommand

    sub = parser.add_subparsers(dest="offsets_command", metavar="SUBCOMMAND")
    help_text = "Show the committed offsets of connectors (partition and offset per row)"
    get = sub.add_parser("get", help=help_text, description=help_text)
    add_global_options(get, suppress=True)
    get.add_argument("names", nargs="+", metavar="NAME", help="connector names, as on the cluster")
    get.add_argument("--json", action="store_true", help="print one JSON document instead of the table")


def run(args: argparse.Namespace) -> int:
    if args.offsets_command != "get":
        raise UsageError("'kcplan offsets' needs a subcommand: get NAME...", "e.g. 'kcplan offsets get -e dev orders'.")
    ctx = Context.from_args(args)
    offsets: dict[str, list[ConnectorOffset]] = {}
    with ctx.client() as client:
        for name in dict.fromkeys(args.names):
            try:
                offsets[name] = client.offsets(name)
            except NotFound:
                raise NotFound(f"connector '{name}' is not on the cluster at {redact_url(client.current_url)}",
                               404, hint=f"'kcplan status -e {ctx.env_name}' lists the connectors.") from None
    out = render_offsets_json(ctx.env_name, offsets) if args.json else render_offsets(offsets)
    sys.stdout.write(out)
    return exit_codes.OK
