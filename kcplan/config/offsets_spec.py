"""The ``offsets`` key of a wrapped connector file -> an OffsetsOp, or the problems with it (pure).

Two shapes, each keyed by a token that the state records once the operation ran:

    offsets: { reset: '2026-12-04-replay' }                                     // start over
    offsets: { id: 'skip-bad-row', set: [ { partition: {...}, offset: {...} } ] }  // move to these

``offset: null`` in a ``set`` entry resets that one partition, as Connect's PATCH allows.
"""

from __future__ import annotations

from typing import Any

from kcplan.config.models import OffsetsOp
from kcplan.values import json_type

MAX_TOKEN = 200
_SHAPES = "{reset: 'TOKEN'} or {id: 'TOKEN', set: [{partition: {...}, offset: {...}}]}"

Problems = list[tuple[str, str]]  # (key, message)


def _got(value: Any) -> str:
    """What was given, for messages: 'an empty array', 'a blank string', 'a number'."""
    if isinstance(value, str) and not value.strip():
        return "a blank string" if value else "an empty string"
    if isinstance(value, list | dict) and not value:
        return f"an empty {'array' if isinstance(value, list) else 'object'}"
    return json_type(value)


def _token(value: Any, key: str, problems: Problems) -> str | None:
    if not isinstance(value, str) or not value.strip():
        problems.append((key, f"must be a non-empty string (the token that makes the operation run once), "
                              f"got {_got(value)}"))
        return None
    if len(value) > MAX_TOKEN or not value.isprintable():
        problems.append((key, f"must be printable and at most {MAX_TOKEN} characters"))
        return None
    return value


def _entries(value: Any, problems: Problems) -> tuple[dict[str, Any], ...]:
    if not isinstance(value, list) or not value:
        problems.append(("offsets.set", f"must be a non-empty array of {{partition, offset}}, got {_got(value)}"))
        return ()
    out: list[dict[str, Any]] = []
    for i, entry in enumerate(value):
        key = f"offsets.set[{i}]"
        if not isinstance(entry, dict) or set(entry) != {"partition", "offset"}:
            problems.append((key, "must be an object with exactly the keys partition and offset"))
            continue
        if not isinstance(entry["partition"], dict) or not entry["partition"]:
            problems.append((key + ".partition", f"must be a non-empty object, got {_got(entry['partition'])}"))
            continue
        if entry["offset"] is not None and not isinstance(entry["offset"], dict):
            problems.append((key + ".offset", f"must be an object or null, got {json_type(entry['offset'])}"))
            continue
        out.append({"partition": entry["partition"], "offset": entry["offset"]})
    return tuple(out)


def parse_offsets(value: Any) -> tuple[OffsetsOp | None, Problems]:
    """(the operation, []) or (None, problems as (key, message)); a missing key is (None, [])."""
    if value is None:
        return None, []
    if not isinstance(value, dict):
        return None, [("offsets", f"must be an object, {_SHAPES}; got {json_type(value)}")]
    problems: Problems = []
    if set(value) == {"reset"}:
        token = _token(value["reset"], "offsets.reset", problems)
        return (OffsetsOp(token=token, kind="reset") if token else None), problems
    if set(value) == {"id", "set"}:
        token = _token(value["id"], "offsets.id", problems)
        entries = _entries(value["set"], problems)
        if problems or token is None:
            return None, problems
        return OffsetsOp(token=token, kind="set", entries=entries), []
    return None, [("offsets", f"must be {_SHAPES}; got the keys {', '.join(sorted(value)) or '(none)'}")]
