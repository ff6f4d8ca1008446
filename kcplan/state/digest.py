"""Salted digests: how secrets are kept comparable without being kept.

State files and plan files hold ``hmac-sha256:<hex>`` (HMAC-SHA256 keyed with the state's
``digest_salt``) instead of the value of a sensitive key. The salt is per state lineage, so
equal passwords in two projects give different digests and no precomputed table helps.
Fingerprints of live configs use the same HMAC over canonical JSON.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from collections.abc import Mapping
from typing import Any

from kcplan.config.sensitive import SensitiveKeys

PREFIX = "hmac-sha256:"
_HEX_LEN = 64


def new_salt() -> str:
    """A fresh random salt (32 hex digits) for a new state lineage or plan."""
    return secrets.token_hex(16)


def digest(value: str, salt: str) -> str:
    """``hmac-sha256:<hex>`` of one value, keyed with the salt."""
    mac = hmac.new(salt.encode(), value.encode(), hashlib.sha256).hexdigest()
    return PREFIX + mac


def is_digest(value: object) -> bool:
    """True for a string produced by :func:`digest` (prefix and 64 hex digits)."""
    if not isinstance(value, str) or not value.startswith(PREFIX) or len(value) != len(PREFIX) + _HEX_LEN:
        return False
    return all(c in "0123456789abcdef" for c in value[len(PREFIX):])


def digest_config(config: Mapping[str, str], sensitive: SensitiveKeys, salt: str) -> dict[str, str]:
    """The config with every value that must be hidden replaced by its digest.

    Placeholders (``${file:...}``) stay as written; values already digested stay as they are.
    """
    cls = config.get("connector.class", "")
    out: dict[str, str] = {}
    for key, value in config.items():
        if not is_digest(value) and sensitive.hides(key, value, cls):
            out[key] = digest(value, salt)
        else:
            out[key] = value
    return out


def values_equal(a: str, b: str, salt: str) -> bool:
    """Equal as kcplan compares values: text, or digest against the digest of the plain side."""
    if a == b:
        return True
    a_dig, b_dig = is_digest(a), is_digest(b)
    if a_dig and not b_dig:
        return digest(b, salt) == a
    if b_dig and not a_dig:
        return digest(a, salt) == b
    return False


def canonical_json(data: Any) -> str:
    """One byte-exact JSON text per value (sorted keys, no spaces) for fingerprints and checksums."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def fingerprint(data: Any, salt: str) -> str:
    """HMAC of the canonical JSON of ``data``; reveals nothing about the values inside."""
    return digest(canonical_json(data), salt)
