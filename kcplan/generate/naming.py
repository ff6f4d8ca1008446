"""Names the generator makes up: connector file names, secret variable names, library names.

Each is a pure function of the connector name (and key), so a second run names things the same way;
a clash (two names that differ only in case or punctuation) gets a short digest of the original.
"""

from __future__ import annotations

import hashlib
import re

_SAFE_FILE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
_NOT_VAR = re.compile(r"[^A-Z0-9]+")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
SECRET_PREFIX = "KCPLAN_SECRET_"


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
    by_folded: dict[str, list[str]] = {}
    for name, stem in stems.items():
        by_folded.setdefault(stem.lower(), []).append(name)
    for clashing in by_folded.values():
        if len(clashing) > 1:
            for name in clashing:
                if not stems[name].endswith(_digest(name)):
                    stems[name] = f"{stems[name]}-{_digest(name)}"
    return stems


def secret_variable(connector: str, key: str) -> str:
    """KCPLAN_SECRET_<CONNECTOR>__<KEY>, upper case, other characters as '_' (an environment variable)."""
    def part(text: str) -> str:
        return _NOT_VAR.sub("_", text.upper()).strip("_") or "X"
    return f"{SECRET_PREFIX}{part(connector)}__{part(key)}"


def secret_variables(pairs: list[tuple[str, str]]) -> dict[tuple[str, str], str]:
    """secret_variable for each (connector, key); pairs whose names clash get a digest suffix."""
    names = {p: secret_variable(*p) for p in pairs}
    counts: dict[str, int] = {}
    for var in names.values():
        counts[var] = counts.get(var, 0) + 1
    return {p: (var if counts[var] == 1 else f"{var}_{_digest(p[0] + chr(0) + p[1]).upper()}")
            for p, var in names.items()}


def class_short(connector_class: str) -> str:
    """'org.apache.kafka.connect.file.FileStreamSinkConnector' -> 'file-stream-sink'."""
    last = connector_class.rsplit(".", 1)[-1]
    last = last[: -len("Connector")] if last.endswith("Connector") and last != "Connector" else last
    words = _CAMEL.sub("-", last).lower()
    return re.sub(r"[^a-z0-9-]+", "-", words).strip("-") or "connector"


def class_shorts(classes: list[str]) -> dict[str, str]:
    """class_short for each class; two classes with one short name get a digest of the full name."""
    shorts = {c: class_short(c) for c in classes}
    counts: dict[str, int] = {}
    for short in shorts.values():
        counts[short] = counts.get(short, 0) + 1
    return {c: (s if counts[s] == 1 else f"{s}-{_digest(c)}") for c, s in shorts.items()}
