"""Connectors chosen by name or shell glob (plan/apply --target, status/drift --connector, import).

One rule everywhere: case-sensitive ``fnmatch`` (connector names are case-sensitive in Connect, and
``fnmatch.fnmatch`` would fold case on some platforms), and no patterns means every connector.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Mapping, Sequence
from typing import TypeVar

T = TypeVar("T")


def matches(name: str, patterns: Sequence[str]) -> bool:
    """Is ``name`` selected? Always, when there are no patterns."""
    return not patterns or any(fnmatch.fnmatchcase(name, p) for p in patterns)


def select(by_name: Mapping[str, T], patterns: Sequence[str]) -> dict[str, T]:
    """The entries whose name is selected, in their order."""
    return {name: value for name, value in by_name.items() if matches(name, patterns)}


def unmatched(patterns: Sequence[str], names: Iterable[str]) -> list[str]:
    """The patterns that select none of ``names`` (worth a warning: a typo selects nothing)."""
    names = list(names)
    return [p for p in patterns if not any(fnmatch.fnmatchcase(n, p) for n in names)]


def literal(name: str) -> str:
    """A pattern that matches exactly ``name``, whatever glob characters it holds."""
    return "".join(f"[{c}]" if c in "*?[" else c for c in name)
