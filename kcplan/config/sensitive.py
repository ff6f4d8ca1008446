"""Which config keys are sensitive: decided here and only here.

Sources: (a) the per-class schema / plugin definition (PASSWORD type), (b) name patterns,
(c) the environment settings' ``sensitive_keys``. Config-provider placeholders such as
``${file:/path:key}`` are references, not secrets, and are shown as written.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

_PATTERNS = re.compile(
    r"(password|passwd|secret|token|credential|api[._-]?key|access[._-]?key|private[._-]?key"
    r"|sasl\.jaas\.config|\.key$|\.key\.password$|^key$)",
    re.IGNORECASE,
)
_PLACEHOLDER = re.compile(r"^\$\{[A-Za-z0-9_.-]+:[^}]*\}$")

MASK = "(sensitive value)"


def is_placeholder(value: str) -> bool:
    """True for a config-provider reference like ${file:/x:y}, ${env:VAR}, ${vault:...}."""
    return bool(_PLACEHOLDER.match(value.strip()))


class SensitiveKeys:
    """Answers 'is this key of this connector class sensitive?'."""

    def __init__(
        self,
        by_class: Mapping[str, Iterable[str]] | None = None,
        extra_keys: Iterable[str] = (),
    ) -> None:
        self._by_class = {cls: frozenset(keys) for cls, keys in (by_class or {}).items()}
        self._extra = frozenset(extra_keys)

    def is_sensitive(self, key: str, connector_class: str = "") -> bool:
        if key in self._extra or key in self._by_class.get(connector_class, ()):
            return True
        return bool(_PATTERNS.search(key))

    def hides(self, key: str, value: str, connector_class: str = "") -> bool:
        """True when this value must be masked (sensitive key and not a placeholder)."""
        return self.is_sensitive(key, connector_class) and not is_placeholder(value)

    def mask_config(self, config: Mapping[str, str]) -> dict[str, str]:
        cls = config.get("connector.class", "")
        return {k: (MASK if self.hides(k, v, cls) else v) for k, v in config.items()}
