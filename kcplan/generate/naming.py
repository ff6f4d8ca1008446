"""Names the generator makes up: connector file names, secret variable names, library names.

Each is a pure function of the connector name (and key), so a second run names things the same way;
a clash (two names that differ only in case or punctuation) gets a short digest of the original.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Hashable
from typing import TypeVar

_SAFE_FILE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
_NOT_VAR = re.compile(r"[^A-Z0-9]+")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
SECRET_PREFIX = "KCPLAN_SECRET_"
K = TypeVar("K", bound=Hashable)


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:8]


def file_stem(name: str) -> str:
    """The file name (without .jsonnet) for a connector: the name itself when it is a safe file name,
    otherwise a slug of it plus a digest of the name (so two awkward names never share a file)."""
    if _SAFE_FILE.match(name) and not name.endswith("."):
        return name
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-._")[:60] or "connector"
    return f"{slug}-{_digest(name)}"


def file_stems(names: list[str]) -> dict[str, str]:
    """file_stem for each name; names whose stems clash ignoring case (macOS, Windows) get the digest."""
    stems = {n: file_stem(n) for n in names}
    tagged = {n for n, stem in stems.items() if stem != n}
    return _disambiguate(stems, lambda n: f"-{_digest(n)}", str.lower, tagged)


def secret_variable(connector: str, key: str) -> str:
    """KCPLAN_SECRET_<CONNECTOR>__<KEY>, upper case, other characters as '_' (an environment variable)."""
    def part(text: str) -> str:
        return _NOT_VAR.sub("_", text.upper()).strip("_") or "X"
    return f"{SECRET_PREFIX}{part(connector)}__{part(key)}"


def secret_variables(pairs: list[tuple[str, str]]) -> dict[tuple[str, str], str]:
    """secret_variable for each (connector, key); pairs whose names clash get a digest suffix."""
    names = {p: secret_variable(*p) for p in pairs}
    return _disambiguate(names, lambda p: f"_{_digest(p[0] + chr(0) + p[1]).upper()}")


def class_short(connector_class: str) -> str:
    """'org.apache.kafka.connect.file.FileStreamSinkConnector' -> 'file-stream-sink'."""
    last = connector_class.rsplit(".", 1)[-1]
    last = last[: -len("Connector")] if last.endswith("Connector") and last != "Connector" else last
    words = _CAMEL.sub("-", last).lower()
    return re.sub(r"[^a-z0-9-]+", "-", words).strip("-") or "connector"


def class_shorts(classes: list[str]) -> dict[str, str]:
    """class_short for each class; two classes with one short name get a digest of the full name."""
    return _disambiguate({c: class_short(c) for c in classes}, lambda c: f"-{_digest(c)}", str.lower)


def _disambiguate(names: dict[K, str], tag: Callable[[K], str], fold: Callable[[str], str] = str,
                  tagged: set[K] | None = None) -> dict[K, str]:
    """``names`` with each clash (equal after ``fold``) resolved by appending ``tag(key)`` to the names
    not tagged yet; repeated, since a tagged name can meet a literal one (a connector named 'a-<digest>')."""
    out, done = dict(names), set(tagged or ())
    while True:
        groups: dict[str, list[K]] = {}
        for key, name in out.items():
            groups.setdefault(fold(name), []).append(key)
        clashing = [k for group in groups.values() if len(group) > 1 for k in group if k not in done]
        if not clashing:
            return out
        for key in clashing:
            out[key] += tag(key)
            done.add(key)
