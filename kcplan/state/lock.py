"""The state lock: ``fcntl.flock`` on ``<state>.lock``, so it dies with its holder.

The lock file also holds who took it (pid, host, user, command, since) so that a second
kcplan can say who is in the way. The file itself is never the lock: an empty or stale file
means nothing; only a live flock does. ``force_unlock`` unlinks the file; a waiter that locked
the old inode notices (inode check) and locks the new file instead.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import getpass
import json
import os
import socket
import time
import uuid
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from kcplan.errors import LockHeld, StateError
from kcplan.state.model import utc_now

POLL_SECONDS = 0.1


@dataclass(frozen=True)
class LockInfo:
    pid: int
    host: str
    user: str
    command: str
    since: str
    lock_id: str = ""  # what 'kcplan state force-unlock LOCK_ID' names

    def describe(self) -> str:
        return f"'kcplan {self.command}' (pid {self.pid} on host {self.host}, user {self.user}) since {self.since}"

    def age_seconds(self, now: datetime | None = None) -> float | None:
        try:
            since = datetime.fromisoformat(self.since.replace("Z", "+00:00"))
        except ValueError:
            return None
        if since.tzinfo is None:
            since = since.replace(tzinfo=UTC)
        return ((now or datetime.now(UTC)) - since).total_seconds()

    @classmethod
    def current(cls, command: str) -> LockInfo:
        try:
            user = getpass.getuser()
        except (KeyError, OSError):
            user = str(os.getuid())
        return cls(os.getpid(), socket.gethostname(), user, command, utc_now(), str(uuid.uuid4()))

    @classmethod
    def from_json(cls, raw: bytes | str) -> LockInfo | None:
        """The holder written in a lock file or object (None when empty or not a lock record)."""
        try:
            data = json.loads(raw or "null")
            return cls(int(data["pid"]), str(data["host"]), str(data["user"]), str(data["command"]),
                       str(data["since"]), str(data.get("lock_id", "")))
        except (ValueError, TypeError, KeyError, AttributeError):
            return None


def read_info(lock_path: Path) -> LockInfo | None:
    """Who wrote the lock file last (None when empty, missing or unreadable)."""
    try:
        return LockInfo.from_json(lock_path.read_bytes())
    except OSError:
        return None


def _open(lock_path: Path) -> int:
    try:
        lock_path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except OSError as exc:
        raise StateError(f"cannot open the state lock file {lock_path}: {exc.strerror or exc}") from None
    with contextlib.suppress(OSError):
        os.fchmod(fd, 0o600)
    return fd


def _try_flock(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        if exc.errno in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
            return False
        raise
    return True


def _same_file(fd: int, lock_path: Path) -> bool:
    try:
        return os.stat(lock_path).st_ino == os.fstat(fd).st_ino
    except FileNotFoundError:
        return False


class StateLock:
    """A held lock; ``release()`` (or leaving the ``with`` block) frees it."""

    def __init__(self, path: Path, fd: int, info: LockInfo) -> None:
        self.path = path
        self.info = info
        self._fd: int | None = fd

    @property
    def held(self) -> bool:
        return self._fd is not None and _same_file(self._fd, self.path)

    def release(self) -> None:
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        with contextlib.suppress(OSError):
            if _same_file(fd, self.path):
                os.ftruncate(fd, 0)
        with contextlib.suppress(OSError):
            fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)

    def __enter__(self) -> StateLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def _held_error(lock_path: Path, state_path: Path, waited: float) -> LockHeld:
    info = read_info(lock_path)
    who = info.describe() if info else "another kcplan (holder unknown)"
    msg = f"the state {state_path} is locked by {who}"
    if waited > 0:
        msg += f"; gave up after waiting {waited:g} s"
    return LockHeld(msg)


def acquire(lock_path: Path, command: str, *, timeout: float = 0.0, state_path: Path | None = None) -> StateLock:
    """Take the lock at once, or wait up to ``timeout`` seconds; LockHeld names the holder."""
    deadline = time.monotonic() + max(timeout, 0.0)
    while True:
        fd = _open(lock_path)
        if not _try_flock(fd):
            os.close(fd)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise _held_error(lock_path, state_path or lock_path, timeout)
            time.sleep(min(POLL_SECONDS, remaining))
            continue
        if not _same_file(fd, lock_path):  # force-unlocked while we waited: lock the new file
            os.close(fd)
            continue
        info = LockInfo.current(command)
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, json.dumps(asdict(info)).encode(), 0)
        except OSError:
            # Disk full / quota: the flock is held all the same; others then see "holder unknown".
            # Reads go on; a state write fails later with its own clear message.
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)
        return StateLock(lock_path, fd, info)


def is_held(lock_path: Path) -> bool:
    """True when some process holds the flock right now."""
    if not lock_path.exists():
        return False
    fd = _open(lock_path)
    try:
        if _try_flock(fd):
            fcntl.flock(fd, fcntl.LOCK_UN)
            return False
        return True
    finally:
        os.close(fd)


def force_unlock(lock_path: Path, *, force: bool = False) -> tuple[bool, LockInfo | None]:
    """Remove the lock file. Returns (was_held, last holder info).

    A lock held by a live process is only removed with ``force`` (the holder keeps running,
    unaware: only for a process that is stuck for good).
    """
    if not lock_path.exists():
        return False, None
    info = read_info(lock_path)
    fd = _open(lock_path)
    try:
        held = not _try_flock(fd)
        if held and not force:
            who = info.describe() if info else "a live process (holder unknown)"
            raise StateError(
                f"the state lock {lock_path} is held right now by {who}",
                "That process is alive; wait for it. If it is stuck for good, stop it, or run "
                "'kcplan state force-unlock --force'.",
            )
        with contextlib.suppress(FileNotFoundError):
            os.unlink(lock_path)
        return held, info
    finally:
        os.close(fd)
