"""Options shared by several commands: the Jsonnet inputs of every command that renders an
environment, and ``--lock-timeout`` of every command that takes the state lock.

``--ext-str``/``--ext-str-file`` and ``--tla-str``/``--tla-str-file`` work as in the jsonnet CLI;
every environment variable is an ext var too, and so is ``env`` (the environment name).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from kcplan.errors import UsageError
from kcplan.views.style import Palette


@dataclass(frozen=True)
class RenderInputs:
    """Ext vars and top-level args from the command line (environment variables are added later)."""

    ext_vars: dict[str, str] = field(default_factory=dict)
    tla_vars: dict[str, str] = field(default_factory=dict)


def palette(args: argparse.Namespace, stream: TextIO | None = None) -> Palette:
    """The colours for a command's output on ``stream`` (stdout by default), given --no-color."""
    return Palette.for_stream(bool(getattr(args, "no_color", False)), stream or sys.stdout)


def add_render_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("Jsonnet inputs (environment variables are ext vars too, "
                                      "and so is 'env', the environment name)")
    group.add_argument("--ext-str", action="append", default=[], metavar="NAME[=VALUE]",
                       help="external variable for std.extVar (without =VALUE: from the environment)")
    group.add_argument("--ext-str-file", action="append", default=[], metavar="NAME=PATH",
                       help="external variable read from a file")
    group.add_argument("--tla-str", action="append", default=[], metavar="NAME[=VALUE]",
                       help="top-level argument for connector files that are functions")
    group.add_argument("--tla-str-file", action="append", default=[], metavar="NAME=PATH",
                       help="top-level argument read from a file")


def render_inputs(args: argparse.Namespace) -> RenderInputs:
    """The values of add_render_options' options; a malformed one is a UsageError."""
    ext_vars = _pairs(getattr(args, "ext_str", []), "--ext-str")
    ext_vars.update(_files(getattr(args, "ext_str_file", []), "--ext-str-file"))
    tla_vars = _pairs(getattr(args, "tla_str", []), "--tla-str")
    tla_vars.update(_files(getattr(args, "tla_str_file", []), "--tla-str-file"))
    return RenderInputs(ext_vars, tla_vars)


def add_lock_timeout(parser: argparse.ArgumentParser) -> None:
    """--lock-timeout, for every command that takes the state lock."""
    parser.add_argument("--lock-timeout", type=seconds, default=0.0, metavar="SECONDS",
                        help="wait up to SECONDS for a state lock held by another kcplan (default: fail at once)")


def whole_number(low: int, high: int | None = None) -> Callable[[str], int]:
    """An argparse type: a whole number from ``low`` to ``high`` (no upper bound when None)."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if value < low or (high is not None and value > high):
            if high is not None:
                raise argparse.ArgumentTypeError(f"must be between {low} and {high}")
            raise argparse.ArgumentTypeError("must not be negative" if low == 0 else f"must be {low} or more")
        return value
    return parse


def seconds(text: str) -> float:
    """A number of seconds, 0 or more (argparse type)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError("must not be negative")
    return value


def positive_seconds(text: str) -> float:
    """A number of seconds, more than 0 (argparse type)."""
    value = seconds(text)
    if value == 0:
        raise argparse.ArgumentTypeError("must be more than 0")
    return value


def _split(item: str, option: str, need_value: bool) -> tuple[str, str | None]:
    name, sep, value = item.partition("=")
    if not name or (need_value and not sep):
        form = "NAME=PATH" if need_value else "NAME=VALUE or NAME"
        raise UsageError(f"{option} expects {form}, got {item!r}")
    return name, (value if sep else None)


def _pairs(items: list[str], option: str) -> dict[str, str]:
    values: dict[str, str] = {}
    for item in items:
        name, value = _split(item, option, need_value=False)
        if value is None:
            if name not in os.environ:
                raise UsageError(f"{option} {name}: no value given and no environment variable {name}",
                                 f"Pass {option} {name}=VALUE or set {name}.")
            value = os.environ[name]
        values[name] = value
    return values


def _files(items: list[str], option: str) -> dict[str, str]:
    values: dict[str, str] = {}
    for item in items:
        name, path = _split(item, option, need_value=True)
        try:
            values[name] = Path(path or "").read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
            raise UsageError(f"{option} {name}: cannot read {path}: {reason}") from None
    return values
