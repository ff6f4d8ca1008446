"""State folder not writable, disk full, and file modes: through the real CLI (``python -m kcplan``).

Offline commands that write: ``kcplan state rm`` (state, backup, lock) and ``kcplan plan --refresh=false
--out FILE`` (lock, plan file). Every failure must be exit 1 with a clear 'Error:' line, no traceback,
the previous state byte-for-byte intact, no temp file left, and no request to the cluster (the
environment points at a FaultProxy whose log must stay empty).

How each condition is made (root can write anywhere, so plain permissions prove nothing for root):

- "folder not writable": a non-root user gets ``chmod 0500``; root gets ``chattr +i`` (an immutable
  folder: files in it can still be opened, none can be created or renamed; the same effect).
- "read-only file system": a read-only bind mount of the folder (root only; else chmod 0500 of the
  folder and 0400 of its files).
- "disk full": a 256 KiB tmpfs mounted on the folder and filled up (root only; real ENOSPC), and, for
  every user, RLIMIT_FSIZE set in the kcplan process (writes past it fail with EFBIG; SIGXFSZ ignored).
"""

from __future__ import annotations

import contextlib
import os
import resource
import signal
import stat
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from kcplan.config.sensitive import SensitiveKeys
from kcplan.state.model import ManagedConnector, State
from kcplan.state.store import StateStore
from tests.faultproxy import FaultProxy, closed_port_url
from tests.helpers import SRC, run_kcplan, write_project

ROOT_USER = os.geteuid() == 0


class Project:
    def __init__(self, root: Path, url: str) -> None:
        self.root = root
        self.env_dir = write_project(root, f"{{ connect_url: '{url}' }}\n") / "environments" / "dev"
        self.kcplan_dir = root / ".kcplan"
        self.state_path = self.kcplan_dir / "dev.state.json"

    def seed_state(self, connectors: int = 6) -> bytes:
        """A state (serial 2, so a backup exists too) written through the store; returns its bytes."""
        store = StateStore(self.state_path)
        salt = "ab" * 16
        with store.locked("test"):
            state = store.save(State(kafka_cluster_id="c").with_salt(salt))
            for i in range(connectors):
                state = state.with_connector(ManagedConnector.record(
                    f"conn-{i}", {"connector.class": SRC, "file": f"/data/in-{i}.txt" + "x" * 200,
                                  "topic": f"topic-{i}", "tasks.max": "1"},
                    sensitive=SensitiveKeys(), salt=salt, applied_at="2025-01-01T00:00:00Z"))
            store.save(state)
        return self.state_path.read_bytes()

    def kcplan(self, *args: str, preexec: Callable[[], None] | None = None) -> subprocess.CompletedProcess[str]:
        return run_kcplan(self.root, *args, "-e", "dev", env={"PYTHONDONTWRITEBYTECODE": "1"}, timeout=120,
                          preexec_fn=preexec)

    def snapshot(self) -> dict[str, bytes]:
        return {p.name: p.read_bytes() for p in self.kcplan_dir.iterdir() if p.is_file() and "lock" not in p.name}


@pytest.fixture
def proxy() -> Iterator[FaultProxy]:
    """Where the environment points: every request would be recorded (none may come)."""
    with FaultProxy(closed_port_url()) as counting:
        yield counting


@pytest.fixture
def project(tmp_path: Path, proxy: FaultProxy) -> Iterator[Project]:
    yield Project(tmp_path / "proj", proxy.url)
    assert proxy.seen == [], "an offline command sent requests to the cluster"


def clear_failure(result: subprocess.CompletedProcess[str], *phrases: str) -> None:
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr, result.stderr
    lines = result.stderr.splitlines()
    first_error = next((i for i, line in enumerate(lines) if line.startswith("Error: ")), None)
    assert first_error is not None, result.stderr
    assert all(line.startswith("Warning: ") for line in lines[:first_error]), result.stderr
    for phrase in phrases:
        assert phrase in result.stderr, (phrase, result.stderr)


def no_temp_files(folder: Path) -> None:
    assert not [p.name for p in folder.iterdir() if ".tmp-" in p.name]


# -- ways to make a folder unwritable -------------------------------------------------------------------

def _run(*cmd: str) -> None:
    done = subprocess.run(list(cmd), capture_output=True, text=True, timeout=30)
    if done.returncode != 0:
        pytest.fail(f"{' '.join(cmd)} failed: {done.stderr}", pytrace=False)


@contextlib.contextmanager
def no_new_files(folder: Path) -> Iterator[str]:
    """Nothing can be created, renamed or removed in ``folder``; yields the expected OS message."""
    if ROOT_USER:
        _run("chattr", "+i", str(folder))
        try:
            yield "Operation not permitted"
        finally:
            _run("chattr", "-i", str(folder))
    else:
        folder.chmod(0o500)
        try:
            yield "Permission denied"
        finally:
            folder.chmod(0o700)


@contextlib.contextmanager
def read_only(folder: Path) -> Iterator[str]:
    if ROOT_USER:
        _run("mount", "--bind", str(folder), str(folder))
        try:
            _run("mount", "-o", "remount,bind,ro", str(folder))
            yield "Read-only file system"
        finally:
            _run("umount", str(folder))
    else:
        modes = {p: p.stat().st_mode for p in folder.iterdir()}
        for p in modes:
            p.chmod(0o400)
        folder.chmod(0o500)
        try:
            yield "Permission denied"
        finally:
            folder.chmod(0o700)
            for p, mode in modes.items():
                p.chmod(stat.S_IMODE(mode))


UNWRITABLE = {"no-new-files": no_new_files, "read-only": read_only}


@pytest.mark.parametrize("how", sorted(UNWRITABLE))
def test_state_folder_not_writable(project: Project, how: str) -> None:
    before = project.seed_state()
    files = project.snapshot()
    with UNWRITABLE[how](project.kcplan_dir) as os_message:
        result = project.kcplan("state", "rm", "conn-1")
    clear_failure(result, os_message, str(project.kcplan_dir))
    assert project.state_path.read_bytes() == before and project.snapshot() == files
    no_temp_files(project.kcplan_dir)
    assert "conn-1" in project.kcplan("state", "list").stdout  # still managed, state still readable


@pytest.mark.parametrize("how", sorted(UNWRITABLE))
def test_plan_file_folder_not_writable(project: Project, tmp_path: Path, how: str) -> None:
    project.seed_state()
    out_dir = tmp_path / "plans"
    out_dir.mkdir()
    with UNWRITABLE[how](out_dir) as os_message:
        result = project.kcplan("plan", "--refresh=false", "--out", str(out_dir / "plan.json"))
    clear_failure(result, "could not write the plan file", os_message)
    assert list(out_dir.iterdir()) == []


# -- disk full ------------------------------------------------------------------------------------------

@contextlib.contextmanager
def full_tmpfs(folder: Path) -> Iterator[None]:
    """A 256 KiB tmpfs on ``folder`` (its files copied in), then filled to the last byte."""
    saved = {p.name: p.read_bytes() for p in folder.iterdir()}
    _run("mount", "-t", "tmpfs", "-o", "size=256k,mode=0700", "tmpfs", str(folder))
    try:
        for name, data in saved.items():
            (folder / name).write_bytes(data)
            (folder / name).chmod(0o600)
        fd = os.open(folder / "filler", os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            for chunk in (b"\0" * 4096, b"\0"):
                with contextlib.suppress(OSError):
                    while True:
                        os.write(fd, chunk)
        finally:
            os.close(fd)
        yield
    finally:
        _run("umount", str(folder))


def _fsize_limit(limit: int) -> Callable[[], None]:
    def preexec() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # else the kernel kills the process at the limit
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return preexec


@pytest.mark.skipif(not ROOT_USER, reason="mounting a tmpfs needs root; the RLIMIT_FSIZE test covers others")
def test_disk_full_state_write(project: Project) -> None:
    project.seed_state()
    with full_tmpfs(project.kcplan_dir):
        before = project.state_path.read_bytes()
        files = project.snapshot()
        result = project.kcplan("state", "rm", "conn-1")
        clear_failure(result, "No space left on device")
        assert project.state_path.read_bytes() == before and project.snapshot() == files
        no_temp_files(project.kcplan_dir)
        assert "conn-1" in project.kcplan("state", "list").stdout


def test_file_size_limit_state_write(project: Project) -> None:
    before = project.seed_state()
    assert len(before) > 2048
    files = project.snapshot()
    result = project.kcplan("state", "rm", "conn-1", preexec=_fsize_limit(2048))
    clear_failure(result, "could not write the state file", "File too large",
                  "the previous state file is intact")
    assert project.state_path.read_bytes() == before and project.snapshot() == files
    no_temp_files(project.kcplan_dir)


def test_file_size_limit_plan_file(project: Project, tmp_path: Path) -> None:
    project.seed_state()
    out = tmp_path / "plan.json"
    result = project.kcplan("plan", "--refresh=false", "--out", str(out), preexec=_fsize_limit(1024))
    clear_failure(result, "could not write the plan file", "File too large")
    assert not out.exists()
    assert not [p for p in tmp_path.iterdir() if ".tmp-" in p.name]


# -- 0600 whatever the umask --------------------------------------------------------------------------------

@pytest.mark.parametrize("umask", [0o000, 0o022, 0o077])
def test_files_kcplan_writes_are_0600_whatever_the_umask(project: Project, tmp_path: Path, umask: int) -> None:
    def set_umask() -> None:
        os.umask(umask)

    plan = tmp_path / "plan.json"
    # a fresh project: kcplan makes .kcplan/ itself (the lock), then the plan file
    assert project.kcplan("plan", "--refresh=false", "--out", str(plan), preexec=set_umask).returncode == 0
    assert stat.S_IMODE(project.kcplan_dir.stat().st_mode) == 0o700
    project.seed_state()
    result = project.kcplan("state", "rm", "conn-1", preexec=set_umask)
    assert result.returncode == 0, result.stderr
    result = project.kcplan("plan", "--refresh=false", "--out", str(plan), preexec=set_umask)
    assert result.returncode == 0, result.stderr
    written = [plan, *project.kcplan_dir.iterdir()]
    names = {p.name for p in written}
    assert {"plan.json", "dev.state.json", "dev.state.json.backup", "dev.state.json.lock"} <= names, names
    modes = {p.name: oct(stat.S_IMODE(p.stat().st_mode)) for p in written}
    assert set(modes.values()) == {"0o600"}, modes


def test_plan_works_when_not_even_the_lock_holder_info_fits(project: Project) -> None:
    """The lock is the flock; the holder info in the lock file is a courtesy: a plan that only reads
    must not die when the disk cannot take those 150 bytes (it used to: 'internal error: OSError')."""
    project.seed_state()
    result = project.kcplan("plan", "--refresh=false", preexec=_fsize_limit(64))
    assert result.returncode == 0, result.stderr
    assert "conn-1" in result.stdout
