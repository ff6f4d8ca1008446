"""The restarts heal has made, kept across cron runs in ``<state>.heal.json`` beside the state.

It is a companion of the state in its backend (kcplan/state/backends): a file beside a local state
(replaced atomically, fsynced, 0600), an object beside an S3 one, so heal run from fresh CI runners
keeps its backoff. Written only by a holder of the state lock (the command takes it). A missing record
is empty; an unreadable one is a StateError naming it (heal must not start counting from 0 by itself:
that would restart a crash-looping connector at once).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from kcplan.errors import StateError
from kcplan.heal.policy import Attempts
from kcplan.state.backends.base import StateBackend

FORMAT_VERSION = 1
SUFFIX = ".heal.json"


def _unreadable(where: str, detail: str) -> StateError:
    return StateError(
        f"cannot read heal's attempts file {where}: {detail}",
        f"Fix or delete {where} (deleting it forgets the restarts made so far: the next run restarts "
        f"every FAILED connector at once), then run 'kcplan heal' again.",
    )


def _attempts(name: str, item: Any) -> Attempts:
    if not isinstance(item, dict):
        raise ValueError(f"entry {name!r} is not an object")
    healthy = item.get("healthy_since")
    return Attempts(
        restarts=int(item["restarts"]),
        last_restart=float(item["last_restart"]),
        connector_failed=bool(item.get("connector_failed", False)),
        tasks=tuple(int(t) for t in item.get("tasks", [])),
        healthy_since=None if healthy is None else float(healthy),
    )


def load(backend: StateBackend) -> dict[str, Attempts]:
    """The record beside the backend's state; {} when there is none. A backend's read error (it names
    the file or object) passes through."""
    raw = backend.read_companion(SUFFIX)
    if raw is None:
        return {}
    try:
        data = json.loads(raw.decode("utf-8"))
        if not isinstance(data, dict) or data.get("format_version") != FORMAT_VERSION:
            raise ValueError(f"not a format_version {FORMAT_VERSION} attempts file")
        connectors = data.get("connectors")
        if not isinstance(connectors, dict):
            raise ValueError("'connectors' is not an object")
        return {str(name): _attempts(name, item) for name, item in connectors.items()}
    except (ValueError, KeyError, TypeError) as exc:  # UnicodeDecodeError is a ValueError
        raise _unreadable(backend.companion_location(SUFFIX), str(exc)) from None


def to_json(record: Mapping[str, Attempts]) -> str:
    connectors = {
        name: {"restarts": a.restarts, "last_restart": a.last_restart, "connector_failed": a.connector_failed,
               "tasks": list(a.tasks), "healthy_since": a.healthy_since}
        for name, a in sorted(record.items())
    }
    return json.dumps({"format_version": FORMAT_VERSION, "connectors": connectors}, indent=2) + "\n"


def save(backend: StateBackend, record: Mapping[str, Attempts]) -> None:
    """Replace the record (an empty one is still written: 'nothing pending'). A backend's write error
    (it names the file or object) gets heal's consequence as its hint."""
    try:
        backend.write_companion(SUFFIX, to_json(record).encode())
    except StateError as exc:
        raise StateError(exc.message, "heal stopped: no further restart was sent, and restarts sent before are "
                                      "not recorded (the next run may restart sooner than the backoff allows). "
                                      + (exc.hint or "")) from None
