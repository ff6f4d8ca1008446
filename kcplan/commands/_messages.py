"""``Error:`` and ``Warning:`` lines on stderr: one format for every command and the CLI's own errors.

An error is its message, then its hint (the next step) on the line below; with several environments
reported together the message names its environment.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable


def print_error(message: str, hint: str | None = None, env: str | None = None) -> None:
    where = f"environment '{env}': " if env is not None else ""
    print(f"Error: {where}{message}", file=sys.stderr)
    if hint:
        print(hint, file=sys.stderr)


def print_warnings(warnings: Iterable[str]) -> None:
    for warning in warnings:
        print(f"Warning: {warning}", file=sys.stderr)
