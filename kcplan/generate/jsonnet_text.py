"""Jsonnet source text for generated files (pure): one key per line, stable order, strings quoted.

Every value is written as the string Connect returned, so the file renders to exactly the live
config. A value given as a ``Secret`` becomes ``std.extVar('NAME')``: the secret never enters the text.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_KEYWORDS = frozenset({
    "assert", "else", "error", "false", "for", "function", "if", "import", "importstr", "importbin", "in",
    "local", "null", "self", "super", "tailstrict", "then", "true",
})
INDENT = "  "


@dataclass(frozen=True)
class Secret:
    """A value to be read from an ext var at render time."""

    variable: str


Value = str | Secret


def string(text: str) -> str:
    """A Jsonnet string literal (JSON's escapes are Jsonnet's too)."""
    return json.dumps(text, ensure_ascii=False)


def field_name(key: str) -> str:
    return key if _IDENT.match(key) and key not in _KEYWORDS else string(key)


def value_text(value: Value) -> str:
    if isinstance(value, Secret):
        return f"std.extVar({string(value.variable)})"
    return string(value)


def ordered(config: Mapping[str, Value]) -> list[tuple[str, Value]]:
    """'name' first (when present), then the other keys sorted."""
    head = [("name", config["name"])] if "name" in config else []
    return head + sorted((k, v) for k, v in config.items() if k != "name")


def object_text(config: Mapping[str, Value], depth: int = 0) -> str:
    """``{ key: value, ... }`` over several lines, indented ``depth`` levels."""
    if not config:
        return "{}"
    pad = INDENT * (depth + 1)
    lines = [f"{pad}{field_name(k)}: {value_text(v)}," for k, v in ordered(config)]
    return "{\n" + "\n".join(lines) + "\n" + INDENT * depth + "}"
