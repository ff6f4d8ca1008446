"""Replace a file at once: a reader (or a crash) sees the old file or the new one, never half of either.

The state file and its backup, plan files, drift's ``--output`` (node_exporter's textfile collector
reads it any time), the sandbox record and pulled schemas are all written here: a temp file in the
same folder (a rename is atomic only within one file system), every byte written and fsynced, renamed
over the target, then the folder fsynced so the rename survives a power cut too. A failure removes
the temp file and leaves the target as it was.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import tempfile
from collections.abc import Callable
from pathlib import Path


def temp_prefix(path: Path) -> str:
    """How the temp files of ``path`` are named: ``.<name>.tmp-<random>`` (StateStore removes stale ones)."""
    return f".{path.name}.tmp-"


def write_atomic(path: Path | str, data: bytes | str, *, mode: int = 0o644, fsync_dir: bool = True,
                 before_replace: Callable[[], None] | None = None) -> None:
    """Replace ``path`` by ``data`` (a str as UTF-8), with permission bits ``mode`` whatever the umask.

    ``before_replace`` runs once the data is safe in the temp file, just before the rename (the state
    store hard-links its backup there). Raises OSError; the temp file is gone then.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=temp_prefix(path), dir=path.parent)
    try:
        try:
            os.fchmod(fd, mode)
            _write_all(fd, data.encode() if isinstance(data, str) else data)
            os.fsync(fd)
        finally:
            os.close(fd)
        if before_replace is not None:
            before_replace()
        os.replace(tmp, path)
    except BaseException:  # Ctrl-C included: no temp file is left behind
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    if fsync_dir:
        _fsync_folder(path.parent)


def replace_by_link(source: Path, target: Path, *, mode: int) -> None:
    """Make ``target`` the file ``source`` is, at once: a hard link (cheap, no data written), or an
    atomic copy where the file system has no hard links. The folder is not fsynced: the caller's
    next write in it does that."""
    tmp = target.with_name(temp_prefix(target) + secrets.token_hex(4))
    try:
        os.link(source, tmp)
    except OSError:
        write_atomic(target, source.read_bytes(), mode=mode, fsync_dir=False)
        return
    try:
        os.chmod(tmp, mode)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _fsync_folder(folder: Path) -> None:
    """Make the renames in ``folder`` durable."""
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_all(fd: int, data: bytes) -> None:
    """os.write may write less than asked (a signal, a pipe, some file systems): loop until all is out."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]
