"""Shared stub for commands that a later issue builds."""

from __future__ import annotations

import argparse

from kcplan.errors import UsageError


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("rest", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)


def not_built(name: str) -> int:
    raise UsageError(f"'kcplan {name}' is not built yet", "See the open issues for when it lands.")
