"""The local backend: the state is a file on this disk (the default; docs/reliability.md).

A write goes to a temp file in the same folder (0600 whatever the umask), is fsynced, the previous
state is hard-linked to ``<state>.backup``, the temp file is renamed over the state and the folder is
fsynced: a failed or killed write leaves the previous file as it was. The lock is an flock on
``<state>.lock`` (kcplan/state/lock.py), so it dies with its holder.
"""

from __future__ import annotations

import contextlib
import glob
import os
from pathlib import Path

from kcplan.atomic_write import replace_by_link, temp_prefix, write_atomic
from kcplan.errors import StateError
from kcplan.state import lock as state_lock
from kcplan.state.backends.base import Stored, VersionConflict, check_lock_id
from kcplan.state.lock import LockInfo

FILE_MODE = 0o600


def _stat_version(path: Path) -> str | None:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return f"{st.st_ino}:{st.st_size}:{st.st_mtime_ns}"


class LocalBackend:
    trust_cache_while_locked = False  # a stat is cheap, and tests edit the file under a held lock

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.backup_path = self._beside(".backup")
        self.lock_path = self._beside(".lock")
        self.location = str(self.path)
        self.backup_location = str(self.backup_path)

    def read(self) -> Stored:
        version = _stat_version(self.path)
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return Stored(None, None)
        except OSError as exc:
            raise StateError(f"cannot read the state file {self.path}: {exc.strerror or exc}") from None
        return Stored(data, version)

    def peek_version(self) -> str | None:
        return _stat_version(self.path)

    def write(self, data: bytes, expected: str | None, previous: bytes | None) -> str:
        if _stat_version(self.path) != expected:  # under the flock: only a forced unlock lets this happen
            raise VersionConflict()
        folder = self.path.parent
        try:
            folder.mkdir(mode=0o700, parents=True, exist_ok=True)
            write_atomic(self.path, data, mode=FILE_MODE, before_replace=self._backup)
        except OSError as exc:
            raise StateError(
                f"could not write the state file {self.path}: {exc.strerror or exc}",
                f"Nothing was changed: the previous state file is intact. Check free space and "
                f"permissions of {folder}, then run the command again.",
            ) from None
        return _stat_version(self.path) or ""

    def _backup(self) -> None:
        """Keep the previous state as <state>.backup (a hard link: atomic and cheap)."""
        if self.path.exists():
            replace_by_link(self.path, self.backup_path, mode=FILE_MODE)

    def has_backup(self) -> bool:
        return self.backup_path.exists()

    def lock(self, command: str, timeout: float) -> state_lock.StateLock:
        held = state_lock.acquire(self.lock_path, command, timeout=timeout, state_path=self.path)
        self._remove_stale_temp_files()
        return held

    def _remove_stale_temp_files(self) -> None:
        """Temp files of the state and backup left by a writer that was killed before its rename: only a
        lock holder writes them, and we hold the lock, so every one found now is stale. Best effort (a
        read-only folder keeps them; they are never read)."""
        for written in (self.path, self.backup_path):
            for stale in written.parent.glob(glob.escape(temp_prefix(written)) + "*"):
                with contextlib.suppress(OSError):
                    stale.unlink()

    def holder(self) -> LockInfo | None:
        return state_lock.read_info(self.lock_path)

    def force_unlock(self, lock_id: str | None, force: bool) -> tuple[bool | None, LockInfo | None]:
        check_lock_id(lock_id, self.holder(), self.location)
        return state_lock.force_unlock(self.lock_path, force=force)

    def _beside(self, suffix: str) -> Path:
        """``<state>SUFFIX`` in the state's folder: the backup, the lock and the companions."""
        return self.path.with_name(self.path.name + suffix)

    def companion_location(self, suffix: str) -> str:
        return str(self._beside(suffix))

    def read_companion(self, suffix: str) -> bytes | None:
        path = self._beside(suffix)
        try:
            return path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise StateError(f"cannot read {path}: {exc.strerror or exc}") from None

    def write_companion(self, suffix: str, data: bytes) -> None:
        path = self._beside(suffix)
        try:
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            write_atomic(path, data, mode=FILE_MODE)
        except OSError as exc:
            raise StateError(f"could not write {path}: {exc.strerror or exc}",
                             f"Check free space and permissions of {path.parent}.") from None
