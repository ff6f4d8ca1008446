"""Terminal colours: only on a terminal, never with --no-color or NO_COLOR."""

from __future__ import annotations

import os
import sys
from typing import TextIO

_CODES = {"green": "32", "yellow": "33", "red": "31", "bold": "1", "dim": "2", "cyan": "36"}
_enabled: bool | None = None

STATE_COLOURS = {
    "RUNNING": "green",
    "PAUSED": "yellow",
    "STOPPED": "yellow",
    "UNASSIGNED": "yellow",
    "RESTARTING": "yellow",
    "FAILED": "red",
}


def configure(no_color: bool, stream: TextIO = sys.stdout) -> None:
    """Decide once per process whether output gets ANSI colours."""
    global _enabled
    _enabled = not no_color and "NO_COLOR" not in os.environ and stream.isatty()


def colour(text: str, name: str) -> str:
    if not _enabled or name not in _CODES:
        return text
    return f"\033[{_CODES[name]}m{text}\033[0m"


def state(text: str) -> str:
    """Colour a connector/task state name the kcctl way."""
    return colour(text, STATE_COLOURS.get(text, ""))
