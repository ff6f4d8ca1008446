"""Which config keys are sensitive: decided here and only here.

Sources: (a) the per-class schema / plugin definition (PASSWORD type), (b) name patterns,
(c) the environment settings' ``sensitive_keys`` (exact keys or shell globs such as ``*.secret``).
Config-provider placeholders such as ``${file:/path:key}`` are references, not secrets, and are
shown as written.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable, Mapping
from typing import Protocol

_PATTERNS = re.compile(
    r"(password|passwd|secret|token|credential|api[._-]?key|access[._-]?key|private[._-]?key"
    r"|sasl\.jaas\.config|user\.info|\.key$|\.key\.password$|^key$)",
    re.IGNORECASE,
)
_PLACEHOLDER = re.compile(r"^\$\{[A-Za-z0-9_.-]+:[^}]*\}$")
_GLOB_CHARS = frozenset("*?[")

MASK = "(sensitive value)"


def scrub(text: str, secrets: Iterable[str]) -> str:
    """Replace every secret value in ``text`` by MASK (longest first, so overlaps stay hidden)."""
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        text = text.replace(secret, MASK)
    return text


def is_placeholder(value: str) -> bool:
    """True for a config-provider reference like ${file:/x:y}, ${env:VAR}, ${vault:...}."""
    return bool(_PLACEHOLDER.match(value.strip()))


class SchemaLike(Protocol):
    """What SensitiveKeys needs from a per-class schema (kcplan.config.schemas.ClassSchema)."""

    @property
    def names(self) -> tuple[str, ...]: ...  # the class name and the aliases Connect accepts

    def sensitive_keys(self) -> frozenset[str]: ...


class SensitiveKeys:
    """Answers 'is this key of this connector class sensitive?'."""

    def __init__(
        self,
        by_class: Mapping[str, Iterable[str]] | None = None,
        extra_keys: Iterable[str] = (),
    ) -> None:
        self._by_class = {cls: frozenset(keys) for cls, keys in (by_class or {}).items()}
        extra = list(extra_keys)
        self._extra = frozenset(k for k in extra if not _GLOB_CHARS.intersection(k))
        self._globs = tuple(k for k in extra if _GLOB_CHARS.intersection(k))

    @classmethod
    def from_schemas(cls, schemas: Iterable[SchemaLike], extra_keys: Iterable[str] = ()) -> SensitiveKeys:
        """Sensitive keys of every schema (under each name of its class) plus the settings' list."""
        by_class: dict[str, frozenset[str]] = {}
        for schema in schemas:
            keys = schema.sensitive_keys()
            for name in schema.names:
                by_class[name] = by_class.get(name, frozenset()) | keys
        return cls(by_class, extra_keys)

    def with_class_keys(self, by_class: Mapping[str, Iterable[str]]) -> SensitiveKeys:
        """These keys plus more per class (e.g. a live plugin's PASSWORD definitions)."""
        merged = {cls: set(keys) for cls, keys in self._by_class.items()}
        for cls, keys in by_class.items():
            merged.setdefault(cls, set()).update(keys)
        return SensitiveKeys(merged, [*self._extra, *self._globs])

    def is_sensitive(self, key: str, connector_class: str = "") -> bool:
        if key in self._extra or key in self._by_class.get(connector_class, ()):
            return True
        if any(fnmatch.fnmatchcase(key, glob) for glob in self._globs):
            return True
        return bool(_PATTERNS.search(key))

    def hides(self, key: str, value: str, connector_class: str = "") -> bool:
        """True when this value must be masked (sensitive key and not a placeholder)."""
        return self.is_sensitive(key, connector_class) and not is_placeholder(value)

    def mask_config(self, config: Mapping[str, str]) -> dict[str, str]:
        cls = config.get("connector.class", "")
        return {k: (MASK if self.hides(k, v, cls) else v) for k, v in config.items()}

    def secret_values(self, config: Mapping[str, str]) -> list[str]:
        """The values this config must never show (longest first, for scrub)."""
        cls = config.get("connector.class", "")
        values = {v for k, v in config.items() if v and self.hides(k, v, cls)}
        return sorted(values, key=len, reverse=True)

    def scrub(self, text: str, config: Mapping[str, str]) -> str:
        """Replace every secret value of ``config`` in ``text`` (e.g. a server message) by MASK."""
        return scrub(text, self.secret_values(config))
