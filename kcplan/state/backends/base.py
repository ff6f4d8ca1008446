"""The one interface a state backend implements; StateStore (kcplan/state/store.py) does the rest.

A backend stores bytes, not States: parsing, lineage and serial checks live in the store once. Every
write is a compare-and-swap on the version the store read, so two writers can never both win, even
when a lock was forced away from a live holder. A later backend (PostgreSQL, GCS) is one new module.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from kcplan.errors import StateError
from kcplan.state.lock import LockInfo


@dataclass(frozen=True)
class Stored:
    """The state's bytes and an opaque version token (S3: the ETag; local: inode, size, mtime)."""

    data: bytes | None
    version: str | None


class VersionConflict(Exception):
    """The stored state is not the version the writer read: someone else wrote it meanwhile."""


class HeldLock(Protocol):
    info: LockInfo

    @property
    def held(self) -> bool: ...

    def release(self) -> None: ...


class StateBackend(Protocol):
    location: str         # shown in messages: a path, or s3://bucket/key
    backup_location: str
    trust_cache_while_locked: bool  # True: reads under our own lock need no request (S3)

    def read(self) -> Stored: ...

    def peek_version(self) -> str | None:
        """The current version if it is cheap to learn (a stat), else None (then the store reads)."""
        ...

    def write(self, data: bytes, expected: str | None, previous: bytes | None) -> str:
        """Keep ``previous`` as the backup, then replace the state if its version is still ``expected``
        (None: only if there is none yet); returns the new version, or raises VersionConflict."""
        ...

    def has_backup(self) -> bool: ...

    def lock(self, command: str, timeout: float) -> HeldLock:
        """Take the lock at once or within ``timeout`` s; LockHeld names the holder and its age."""
        ...

    def holder(self) -> LockInfo | None: ...

    def force_unlock(self, lock_id: str | None, force: bool) -> tuple[bool | None, LockInfo | None]:
        """Remove the lock: (held by a live process: True/False, or None when that cannot be known;
        the last holder). With ``lock_id`` only the lock of that id is removed."""
        ...

    # Companions: small records kept beside the state (``<state>SUFFIX``, e.g. heal's attempts), written
    # only by a holder of the state lock, so a plain replace is enough (no version check).

    def companion_location(self, suffix: str) -> str: ...

    def read_companion(self, suffix: str) -> bytes | None:
        """The companion's bytes, None when there is none; a StateError when it cannot be read."""
        ...

    def write_companion(self, suffix: str, data: bytes) -> None:
        """Replace the companion atomically (0600 on disk); a StateError when it cannot be written."""
        ...


def check_lock_id(lock_id: str | None, info: LockInfo | None, location: str) -> None:
    """A force-unlock names the lock it means: refuse when the lock there now has another id."""
    if lock_id is not None and info is not None and info.lock_id and lock_id != info.lock_id:
        raise StateError(f"the lock of {location} has the id {info.lock_id}, not {lock_id}: it is another lock "
                         f"now, taken by {info.describe()}",
                         f"Nothing was removed. If that holder is gone too, run 'kcplan state force-unlock "
                         f"{info.lock_id}'.")
