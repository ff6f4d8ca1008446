"""The state lock, with real other processes holding it: refused at once naming the holder,
waited for with a timeout, released when the holder dies, force-unlock."""

from __future__ import annotations

import os
import signal
import socket
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from kcplan.errors import LockHeld, StateError
from kcplan.state import lock as lk
from kcplan.state.store import StateStore

HOLDER = """
import sys, time
from pathlib import Path
from kcplan.state.store import StateStore
store = StateStore(Path(sys.argv[1]))
with store.locked(sys.argv[2]):
    print("locked", flush=True)
    time.sleep(float(sys.argv[3]))
print("released", flush=True)
"""


@pytest.fixture
def holders() -> Iterator[list[subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []
    yield started
    for proc in started:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=30)


def hold(holders: list[subprocess.Popen[str]], state: Path, command: str = "apply",
         seconds: float = 120) -> subprocess.Popen[str]:
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(state), command, str(seconds)],
                            stdout=subprocess.PIPE, text=True)
    holders.append(proc)
    assert proc.stdout is not None and proc.stdout.readline() == "locked\n"
    return proc


def test_second_holder_is_refused_at_once_naming_the_holder(tmp_path: Path, holders: list) -> None:
    store = StateStore(tmp_path / "dev.state.json")
    proc = hold(holders, store.path, "apply")
    with pytest.raises(LockHeld) as err, store.locked("plan"):
        pass
    info = lk.read_info(store.lock_path)
    assert info is not None and info.pid == proc.pid and info.command == "apply"
    assert err.value.message == (
        f"the state {store.path} is locked by 'kcplan apply' (pid {proc.pid} on host {socket.gethostname()}, "
        f"user {info.user}) since {info.since}")
    assert "--lock-timeout" in err.value.hint and "force-unlock" in err.value.hint
    assert proc.poll() is None


def test_lock_timeout_gives_up_and_says_so(tmp_path: Path, holders: list) -> None:
    store = StateStore(tmp_path / "dev.state.json")
    hold(holders, store.path)
    with pytest.raises(LockHeld) as err, store.locked("plan", timeout=0.3):
        pass
    assert err.value.message.endswith("; gave up after waiting 0.3 s")


def test_lock_timeout_waits_for_the_holder_to_finish(tmp_path: Path, holders: list) -> None:
    store = StateStore(tmp_path / "dev.state.json")
    proc = hold(holders, store.path, seconds=1.0)
    with store.locked("plan", timeout=60) as held:
        assert held.held and held.info.command == "plan"
        assert proc.stdout is not None and proc.stdout.readline() == "released\n"
    assert lk.read_info(store.lock_path) is None  # emptied on release


def test_lock_is_released_when_the_holder_is_killed(tmp_path: Path, holders: list) -> None:
    store = StateStore(tmp_path / "dev.state.json")
    proc = hold(holders, store.path)
    assert lk.is_held(store.lock_path)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert not lk.is_held(store.lock_path)
    with store.locked("plan") as held:
        assert held.info.pid == os.getpid()


def test_lock_file_is_0600_whatever_the_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        store = StateStore(tmp_path / "sub" / "dev.state.json")
        with store.locked("plan"):
            assert stat.S_IMODE(store.lock_path.stat().st_mode) == 0o600
            assert lk.read_info(store.lock_path) is not None
    finally:
        os.umask(old)


def test_force_unlock_of_a_stale_lock_file(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "dev.state.json")
    store.lock_path.write_text('{"pid": 99999999, "host": "gone", "user": "u", "command": "apply", "since": "t"}')
    was_held, info = lk.force_unlock(store.lock_path)
    assert was_held is False and info is not None and info.host == "gone"
    assert not store.lock_path.exists()
    assert lk.force_unlock(store.lock_path) == (False, None)


def test_force_unlock_refuses_a_live_holder_unless_forced(tmp_path: Path, holders: list) -> None:
    store = StateStore(tmp_path / "dev.state.json")
    proc = hold(holders, store.path)
    with pytest.raises(StateError) as err:
        lk.force_unlock(store.lock_path)
    assert f"pid {proc.pid}" in err.value.message and "--force" in err.value.hint
    assert store.lock_path.exists()
    was_held, info = lk.force_unlock(store.lock_path, force=True)
    assert was_held and info is not None and info.pid == proc.pid
    with store.locked("plan") as held:  # a fresh lock file; the old holder keeps the unlinked one
        assert held.held
    assert proc.poll() is None


def test_one_process_cannot_take_its_own_store_lock_twice(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "dev.state.json")
    with store.locked("plan"), pytest.raises(StateError), store.locked("plan"):
        pass
