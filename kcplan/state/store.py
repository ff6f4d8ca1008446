"""Reading and writing one environment's state through its backend: parsed, checked, under the lock.

The backend (kcplan/state/backends/) stores bytes and versions; this module owns what a state means.
``save`` refuses to write without the lock, or over a state that changed since it was read (the
backend's compare-and-swap makes that hold even against a writer whose lock was forced away).
"""

from __future__ import annotations

import contextlib
import json
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

from pydantic import ValidationError

from kcplan.errors import StateError
from kcplan.state.backends.base import HeldLock, StateBackend, VersionConflict
from kcplan.state.backends.local import LocalBackend
from kcplan.state.digest import new_salt
from kcplan.state.lock import LockInfo
from kcplan.state.model import FORMAT_VERSION, State


class StateStore:
    """One environment's state, its backup and its lock (``StateStore(path)``: the local file)."""

    def __init__(self, backend: StateBackend | Path | str) -> None:
        self.backend: StateBackend = backend if not isinstance(backend, (Path, str)) else LocalBackend(Path(backend))
        self.location = self.backend.location
        self._lock: HeldLock | None = None
        self._cache: tuple[str | None, bytes | None, State] | None = None  # version, bytes, parsed
        self._mutex = threading.RLock()  # apply's worker threads save one at a time

    # The local file's paths, for the commands and tests that deal with files.
    @property
    def path(self) -> Path:
        return self._local().path

    @property
    def lock_path(self) -> Path:
        return self._local().lock_path

    @property
    def backup_path(self) -> Path:
        return self._local().backup_path

    def _local(self) -> LocalBackend:
        if not isinstance(self.backend, LocalBackend):
            raise StateError(f"internal: the state {self.location} is not a local file")
        return self.backend

    # -- reading ---------------------------------------------------------------------------

    def _corrupt(self, detail: str) -> StateError:
        if self.backend.has_backup():
            hint = (f"Nothing was changed. The previous state is in {self.backend.backup_location}: check it and "
                    f"copy it over {Path(self.location).name}, or move the broken one away and record the live "
                    "connectors again with 'kcplan import'.")
        else:
            hint = (f"Nothing was changed. There is no backup ({self.backend.backup_location}): move the broken "
                    "one away and record the live connectors again with 'kcplan import'.")
        return StateError(f"the state file {self.location} is corrupt: {detail}", hint)

    def load(self) -> State:
        """The stored state; an empty State (no lineage) when there is none yet."""
        return self._read()[2]

    def _read(self) -> tuple[str | None, bytes | None, State]:
        if self._cache is not None:
            if self._lock is not None and self.backend.trust_cache_while_locked:
                return self._cache
            version = self.backend.peek_version()
            if version is not None and version == self._cache[0]:
                return self._cache
        stored = self.backend.read()
        if stored.data is None:
            return (None, None, State())
        self._cache = (stored.version, stored.data, self._parse(stored.data))
        return self._cache

    def _parse(self, raw: bytes) -> State:
        try:
            data = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            raise self._corrupt(f"not valid JSON ({exc})") from None
        if not isinstance(data, dict):
            raise self._corrupt("the top level is not a JSON object")
        version = data.get("format_version")
        if isinstance(version, int) and version > FORMAT_VERSION:
            raise StateError(
                f"the state file {self.location} has format version {version}; this kcplan reads "
                f"version {FORMAT_VERSION} only",
                "Upgrade kcplan: a newer kcplan wrote this state.",
            )
        try:
            state = State.model_validate(data)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "(top level)"
            raise self._corrupt(f"{where}: {first['msg']}") from None
        if state.lineage is None or not state.digest_salt:
            raise self._corrupt("'lineage' or 'digest_salt' is missing")
        return state

    # -- locking ---------------------------------------------------------------------------

    @contextlib.contextmanager
    def locked(self, command: str, timeout: float = 0.0) -> Iterator[HeldLock]:
        """Hold the state lock for the block (waiting up to ``timeout`` s); LockHeld otherwise."""
        if self._lock is not None:
            raise StateError(f"internal: the state lock of {self.location} is already held by this process")
        held = self.backend.lock(command, timeout)
        self._lock = held
        self._cache = None
        try:
            yield held
        finally:
            self._lock = None
            self._cache = None
            held.release()

    def lock_info(self) -> LockInfo | None:
        return self.backend.holder()

    # -- writing ---------------------------------------------------------------------------

    def update(self, change: Callable[[State], State]) -> State:
        """Read, change and save in one step (thread-safe): ``store.update(lambda s: s.without(n))``."""
        with self._mutex:
            return self.save(change(self.load()))

    def save(self, state: State) -> State:
        """Write ``state`` as the next serial and return what was written.

        ``state`` must derive from the stored one (same lineage and serial) or be new
        (no lineage) while no state exists. Unchanged content writes nothing.
        """
        with self._mutex:
            return self._save(state)

    def _save(self, state: State) -> State:
        if self._lock is None or not self._lock.held:
            raise StateError(f"internal: state {self.location} saved without holding its lock")
        version, raw, current = self._read()
        if state.lineage is None:
            if current.exists:
                raise StateError(f"the state file {self.location} was created by someone else meanwhile",
                                 "Run the command again.")
            state = state.model_copy(update={"lineage": str(uuid.uuid4()),
                                             "digest_salt": state.digest_salt or new_salt()})
        else:
            if state.lineage != current.lineage or state.serial != current.serial:
                raise self._changed(f"lineage/serial {current.lineage}/{current.serial}, expected "
                                    f"{state.lineage}/{state.serial}")
            if (state.kafka_cluster_id == current.kafka_cluster_id
                    and state.digest_salt == current.digest_salt
                    and state.connectors == current.connectors):
                return current
        new = state.model_copy(update={"serial": current.serial + 1, "format_version": FORMAT_VERSION})
        self._write(new, version, raw, "someone else wrote it, e.g. after a forced unlock")
        return new

    def copy_in(self, state: State) -> bool:
        """Write ``state`` as it is (its lineage and serial: a migration, not a change); False when it is
        there already. Refused over another lineage or a newer serial, so a copy never loses work."""
        with self._mutex:
            if self._lock is None or not self._lock.held:
                raise StateError(f"internal: state {self.location} copied without holding its lock")
            version, raw, current = self._read()
            if current.exists and current.lineage != state.lineage:
                raise StateError(f"{self.location} holds another state (lineage {current.lineage}, serial "
                                 f"{current.serial}), not a copy of lineage {state.lineage}",
                                 "Nothing was copied. Point the settings at another key or file, or move that "
                                 "state away first if it is really not needed.")
            if current.exists and current.serial > state.serial:
                raise StateError(f"{self.location} holds a newer serial ({current.serial}) of this state than "
                                 f"the source ({state.serial})", "Nothing was copied: migrate the other way.")
            if current.exists and current == state:
                return False
            self._write(state, version, raw, "someone else wrote it meanwhile")
            return True

    def _write(self, state: State, version: str | None, raw: bytes | None, conflict: str) -> None:
        """Compare-and-swap ``state`` over the ``version`` read; on a conflict the cache is dropped and the
        error says ``conflict``."""
        data = state.to_json().encode()
        try:
            written = self.backend.write(data, version, raw)
        except VersionConflict:
            self._cache = None
            raise self._changed(conflict) from None
        self._cache = (written, data, state)

    def _changed(self, detail: str) -> StateError:
        return StateError(f"the state file {self.location} changed since it was read ({detail})",
                          "Nothing was written over it. Run the command again: it plans from the state as it is now.")
