"""Terminal colours: a Palette chosen once per command for its stream and passed to the views.

Colours only on a terminal, never with --no-color or NO_COLOR. No module-level switch: a view gets
its palette as an argument (PLAIN by default), so tests and library callers never see ANSI codes
they did not ask for.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TextIO

_CODES = {"green": "32", "yellow": "33", "red": "31", "bold": "1", "dim": "2", "cyan": "36"}

STATE_COLOURS = {
    "RUNNING": "green",
    "PAUSED": "yellow",
    "STOPPED": "yellow",
    "UNASSIGNED": "yellow",
    "RESTARTING": "yellow",
    "FAILED": "red",
}


@dataclass(frozen=True)
class Palette:
    """ANSI colours when ``enabled``, plain text otherwise."""

    enabled: bool = False

    @classmethod
    def for_stream(cls, no_color: bool, stream: TextIO) -> Palette:
        """Colours for ``stream``: only a terminal, and neither --no-color nor NO_COLOR."""
        return cls(not no_color and "NO_COLOR" not in os.environ and stream.isatty())

    def colour(self, text: str, name: str) -> str:
        if not self.enabled or name not in _CODES:
            return text
        return f"\033[{_CODES[name]}m{text}\033[0m"

    def state(self, text: str) -> str:
        """Colour a connector/task state name the kcctl way."""
        return self.colour(text, STATE_COLOURS.get(text, ""))


PLAIN = Palette()
