"""Connectors chosen by name or shell glob (plan/apply --target, status/drift --connector, import).

One rule everywhere: case-sensitive ``fnmatch`` (connector names are case-sensitive in Connect, and
``fnmatch.fnmatch`` would fold case on some platforms), and no patterns means every connector.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TypeVar

T = TypeVar("T")
_GLOB_CHARS = frozenset("*?[")


def selector(patterns: Sequence[str]) -> Callable[[str], bool]:
    """``matches`` with the patterns read once: plain names (no glob character) are looked up in a set,
    so choosing among n connectors by n names (import, --target of a long list) stays linear."""
    if not patterns:
        return lambda _name: True
    plain = frozenset(p for p in patterns if not _GLOB_CHARS.intersection(p))
    globs = [p for p in patterns if p not in plain]
    return lambda name: name in plain or any(fnmatch.fnmatchcase(name, p) for p in globs)


def matches(name: str, patterns: Sequence[str]) -> bool:
    """Is ``name`` selected? Always, when there are no patterns."""
    return selector(patterns)(name)


def select(by_name: Mapping[str, T], patterns: Sequence[str]) -> dict[str, T]:
    """The entries whose name is selected, in their order."""
    chosen = selector(patterns)
    return {name: value for name, value in by_name.items() if chosen(name)}


def unmatched(patterns: Sequence[str], names: Iterable[str]) -> list[str]:
    """The patterns that select none of ``names`` (worth a warning: a typo selects nothing)."""
    names = list(names)
    present = frozenset(names)
    return [p for p in patterns
            if (p not in present if not _GLOB_CHARS.intersection(p)
                else not any(fnmatch.fnmatchcase(n, p) for n in names))]


def literal(name: str) -> str:
    """A pattern that matches exactly ``name``, whatever glob characters it holds."""
    return "".join(f"[{c}]" if c in "*?[" else c for c in name)
