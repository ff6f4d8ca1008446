"""The restarts heal has made, kept across cron runs in ``<state>.heal.json`` beside the state file.

Written only by a holder of the state lock (the command takes it), replaced atomically and fsynced
(kcplan/atomic_write.py) so a kill leaves the old record or the new one, 0600 like the state. A
missing file is an empty record; an unreadable one is a StateError naming it (heal must not start
counting from 0 by itself: that would restart a crash-looping connector at once).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from kcplan.atomic_write import write_atomic
from kcplan.errors import StateError
from kcplan.heal.policy import Attempts

FORMAT_VERSION = 1
FILE_MODE = 0o600


def attempts_path(state_path: Path) -> Path:
    return state_path.with_name(state_path.name + ".heal.json")


def _unreadable(path: Path, detail: str) -> StateError:
    return StateError(
        f"cannot read heal's attempts file {path}: {detail}",
        f"Fix or delete {path} (deleting it forgets the restarts made so far: the next run restarts "
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


def load(path: Path) -> dict[str, Attempts]:
    """The record in ``path``; {} when the file does not exist."""
    try:
        raw = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeError) as exc:
        raise _unreadable(path, getattr(exc, "strerror", None) or str(exc)) from None
    try:
        data = json.loads(raw)
        if not isinstance(data, dict) or data.get("format_version") != FORMAT_VERSION:
            raise ValueError(f"not a format_version {FORMAT_VERSION} attempts file")
        connectors = data.get("connectors")
        if not isinstance(connectors, dict):
            raise ValueError("'connectors' is not an object")
        return {str(name): _attempts(name, item) for name, item in connectors.items()}
    except (ValueError, KeyError, TypeError) as exc:
        raise _unreadable(path, str(exc)) from None


def to_json(record: Mapping[str, Attempts]) -> str:
    connectors = {
        name: {"restarts": a.restarts, "last_restart": a.last_restart, "connector_failed": a.connector_failed,
               "tasks": list(a.tasks), "healthy_since": a.healthy_since}
        for name, a in sorted(record.items())
    }
    return json.dumps({"format_version": FORMAT_VERSION, "connectors": connectors}, indent=2) + "\n"


def save(path: Path, record: Mapping[str, Attempts]) -> None:
    """Replace the file atomically (an empty record still writes a file: 'nothing pending')."""
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        write_atomic(path, to_json(record), mode=FILE_MODE)
    except OSError as exc:
        raise StateError(
            f"could not write heal's attempts file {path}: {exc.strerror or exc}",
            f"The restarts above were made but not recorded; check free space and permissions of "
            f"{path.parent}: the next run may restart sooner than the backoff allows.",
        ) from None
