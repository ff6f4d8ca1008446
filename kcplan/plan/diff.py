"""Key-by-key differences of two flat configs, and the same as RFC 6902 JSON Patch operations.

Both work on what may be shown: values of sensitive keys (and digests) become
``(sensitive value)``; placeholders stay as written. Comparison is by text, a digest
matching the digest of the plain value on the other side.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jsonpointer

from kcplan.config.sensitive import MASK, SensitiveKeys
from kcplan.plan.model import KeyChange
from kcplan.state.digest import is_digest, values_equal


def shown(key: str, value: str | None, cls: str, sensitive: SensitiveKeys) -> tuple[str | None, bool]:
    """(value to display, masked?) for one value; None stays None (key absent)."""
    if value is None:
        return None, False
    if is_digest(value) or sensitive.hides(key, value, cls):
        return MASK, True
    return value, False


def masked(config: Mapping[str, str], sensitive: SensitiveKeys) -> dict[str, str]:
    """The config as it may be shown, keys sorted."""
    cls = config.get("connector.class", "")
    return {k: str(shown(k, config[k], cls, sensitive)[0]) for k in sorted(config)}


def configs_equal(a: Mapping[str, str], b: Mapping[str, str], salt: str) -> bool:
    if a.keys() != b.keys():
        return False
    return all(values_equal(a[k], b[k], salt) for k in a)


def key_changes(
    old: Mapping[str, str],
    new: Mapping[str, str],
    sensitive: SensitiveKeys,
    salt: str,
) -> tuple[KeyChange, ...]:
    """Every key whose value differs (added, removed or changed), sorted by key."""
    old_cls = old.get("connector.class", "")
    new_cls = new.get("connector.class", "")
    out: list[KeyChange] = []
    for key in sorted(old.keys() | new.keys()):
        before, after = old.get(key), new.get(key)
        if before is not None and after is not None and values_equal(before, after, salt):
            continue
        old_v, old_h = shown(key, before, old_cls, sensitive)
        new_v, new_h = shown(key, after, new_cls, sensitive)
        out.append(KeyChange(key=key, old=old_v, new=new_v, old_hidden=old_h, new_hidden=new_h))
    return tuple(out)


def patch_ops(keys: tuple[KeyChange, ...]) -> tuple[dict[str, Any], ...]:
    """RFC 6902 JSON Patch from the masked old config to the masked new one, one op per key.

    Built from the key changes (add / remove / replace, in key order) rather than by
    ``jsonpatch.make_patch``, whose op order follows set iteration (differs between runs) and
    which turns a removed key plus an added key of equal value into a ``move``. A secret that
    changes looks the same on both sides once masked; it still gets its ``replace``.
    """
    ops: list[dict[str, Any]] = []
    for k in keys:
        path = "/" + jsonpointer.escape(k.key)
        if k.kind == "add":
            ops.append({"op": "add", "path": path, "value": k.new})
        elif k.kind == "remove":
            ops.append({"op": "remove", "path": path})
        else:
            ops.append({"op": "replace", "path": path, "value": k.new})
    return tuple(ops)
