"""Reading and writing the state file: atomic, backed up, 0600, under the lock.

A write (kcplan.atomic_write) goes to a temp file in the same folder (created 0600 whatever the
umask), is fsynced, the previous state is hard-linked to ``<state>.backup``, the temp file is
renamed over the state, and the folder is fsynced. A failed write leaves the previous file as it was.
``save`` refuses to write without the lock, or over a state that changed since it was read.
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

from pydantic import ValidationError

from kcplan.atomic_write import replace_by_link, temp_prefix, write_atomic
from kcplan.errors import StateError
from kcplan.state import lock as state_lock
from kcplan.state.digest import new_salt
from kcplan.state.model import FORMAT_VERSION, State

_FILE_MODE = 0o600


def _stat_key(path: Path) -> tuple[int, int, int] | None:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return (st.st_ino, st.st_size, st.st_mtime_ns)


class StateStore:
    """One environment's state file, its backup and its lock."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.backup_path = self.path.with_name(self.path.name + ".backup")
        self.lock_path = self.path.with_name(self.path.name + ".lock")
        self._lock: state_lock.StateLock | None = None
        self._cache: tuple[tuple[int, int, int] | None, State] | None = None
        self._mutex = threading.RLock()  # apply's worker threads save one at a time

    # -- reading ---------------------------------------------------------------------------

    def _corrupt(self, detail: str) -> StateError:
        if self.backup_path.exists():
            hint = (f"Nothing was changed. The previous state is in {self.backup_path}: check it and copy it "
                    f"over {self.path.name}, or move the broken file away and record the live connectors "
                    "again with 'kcplan import'.")
        else:
            hint = (f"Nothing was changed. There is no backup ({self.backup_path}): move the broken file "
                    "away and record the live connectors again with 'kcplan import'.")
        return StateError(f"the state file {self.path} is corrupt: {detail}", hint)

    def load(self) -> State:
        """The stored state; an empty State (no lineage) when the file does not exist yet."""
        key = _stat_key(self.path)
        if self._cache and key is not None and self._cache[0] == key:
            return self._cache[1]
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return State()
        except OSError as exc:
            raise StateError(f"cannot read the state file {self.path}: {exc.strerror or exc}") from None
        state = self._parse(raw)
        self._cache = (key, state)
        return state

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
                f"the state file {self.path} has format version {version}; this kcplan reads "
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
    def locked(self, command: str, timeout: float = 0.0) -> Iterator[state_lock.StateLock]:
        """Hold the state lock for the block (waiting up to ``timeout`` s); LockHeld otherwise."""
        if self._lock is not None:
            raise StateError(f"internal: the state lock {self.lock_path} is already held by this process")
        held = state_lock.acquire(self.lock_path, command, timeout=timeout, state_path=self.path)
        self._lock = held
        self._cache = None
        self._remove_stale_temp_files()
        try:
            yield held
        finally:
            self._lock = None
            self._cache = None
            held.release()

    def _remove_stale_temp_files(self) -> None:
        """Temp files of the state and backup left by a writer that was killed before its rename: only a
        lock holder writes them, and we hold the lock, so every one found now is stale. Best effort (a
        read-only folder keeps them; they are never read)."""
        for written in (self.path, self.backup_path):
            for stale in written.parent.glob(glob.escape(temp_prefix(written)) + "*"):
                with contextlib.suppress(OSError):
                    stale.unlink()

    def lock_info(self) -> state_lock.LockInfo | None:
        return state_lock.read_info(self.lock_path)

    # -- writing ---------------------------------------------------------------------------

    def update(self, change: Callable[[State], State]) -> State:
        """Read, change and save in one step (thread-safe): ``store.update(lambda s: s.without(n))``."""
        with self._mutex:
            return self.save(change(self.load()))

    def save(self, state: State) -> State:
        """Write ``state`` as the next serial and return what was written.

        ``state`` must derive from the stored one (same lineage and serial) or be new
        (no lineage) while no state file exists. Unchanged content writes nothing.
        """
        with self._mutex:
            return self._save(state)

    def _save(self, state: State) -> State:
        if self._lock is None or not self._lock.held:
            raise StateError(f"internal: state {self.path} saved without holding its lock")
        current = self.load()
        if state.lineage is None:
            if current.exists:
                raise StateError(f"the state file {self.path} was created by someone else meanwhile",
                                 "Run the command again.")
            state = state.model_copy(update={"lineage": str(uuid.uuid4()),
                                             "digest_salt": state.digest_salt or new_salt()})
        else:
            if state.lineage != current.lineage or state.serial != current.serial:
                raise StateError(
                    f"the state file {self.path} changed since it was read (lineage/serial "
                    f"{current.lineage}/{current.serial}, expected {state.lineage}/{state.serial})",
                    "Run the command again.",
                )
            if (state.kafka_cluster_id == current.kafka_cluster_id
                    and state.digest_salt == current.digest_salt
                    and state.connectors == current.connectors):
                return current
        new = state.model_copy(update={"serial": current.serial + 1, "format_version": FORMAT_VERSION})
        self._write(new.to_json().encode())
        self._cache = (_stat_key(self.path), new)
        return new

    def _write(self, data: bytes) -> None:
        folder = self.path.parent
        try:
            folder.mkdir(mode=0o700, parents=True, exist_ok=True)
            write_atomic(self.path, data, mode=_FILE_MODE, before_replace=self._backup)
        except OSError as exc:
            raise StateError(
                f"could not write the state file {self.path}: {exc.strerror or exc}",
                f"Nothing was changed: the previous state file is intact. Check free space and "
                f"permissions of {folder}, then run the command again.",
            ) from None

    def _backup(self) -> None:
        """Keep the previous state as <state>.backup (a hard link: atomic and cheap)."""
        if self.path.exists():
            replace_by_link(self.path, self.backup_path, mode=_FILE_MODE)
