"""SIGKILL during state writes: the harness shared by the test and bench/reliability/run_state_kills.py.

Each run starts ``state_writer.py`` (a separate Python process saving states through StateStore as fast
as it can), waits for it to hold the lock, sleeps a random time and SIGKILLs it. Then the files are
checked (:func:`check_files`):

- the state file parses and validates (StateStore.load), its lineage is the one the run began with;
- its serial never goes back: not below the last serial the writer reported saved, nor below the serial
  found after the previous kill;
- its content is exactly what the writer saves for that serial (no mix of two writes);
- the backup, when there is one, passes the same checks with a serial not above the state's;
- the lock is free at once (a flock dies with its holder).

Temp files a kill left behind (killed between creating the temp file and renaming it) are counted:
they are the evidence that kills landed in the middle of writes.
"""

from __future__ import annotations

import os
import random
import select
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from kcplan.errors import KcplanError, StateError
from kcplan.state import lock as lk
from kcplan.state.model import State
from kcplan.state.store import StateStore
from tests.helpers import REPO, temp_files
from tests.reliability.state_writer import content_for

WRITER = Path(__file__).with_name("state_writer.py")
LINEAGE = "3f1c2a9e-0000-4000-8000-00000000c0de"
SALT = "5a1f" * 8


@dataclass
class RunResult:
    index: int
    delay: float           # seconds between 'ready' and SIGKILL
    acked: int | None      # last serial the writer reported saved before it died
    serial: int | None     # serial on disk after the kill
    writes: int            # saves the writer reported in this run
    tmp_left: int          # temp files this kill left (it hit between create and rename)
    problem: str | None    # None: all checks passed


@dataclass
class Report:
    seed: int
    mode: str
    max_delay: float
    results: list[RunResult] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def broken(self) -> list[RunResult]:
        return [r for r in self.results if r.problem]

    @property
    def writes(self) -> int:
        return sum(r.writes for r in self.results)

    @property
    def mid_write(self) -> int:
        return sum(1 for r in self.results if r.tmp_left)

    def summary(self) -> str:
        return (f"{len(self.results)} SIGKILLs ({self.mode} writer, seed {self.seed}, delay 0-{self.max_delay:g} s): "
                f"{len(self.broken)} broken, {self.writes} saves completed, {self.mid_write} kills left a "
                f"temp file (killed mid-write), {self.seconds:.1f} s")


def initial_state(path: Path) -> State:
    """A fresh state with a fixed lineage and salt, written as serial 1."""
    state = State(lineage=LINEAGE, serial=1, kafka_cluster_id="kill-test", digest_salt=SALT,
                  connectors=content_for(1, SALT))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(state.to_json())
    os.chmod(path, 0o600)
    return state


def _load(path: Path, what: str) -> tuple[State | None, str | None]:
    try:
        state = StateStore(path).load()
    except StateError as exc:
        return None, f"{what} broken: {exc.message}"
    if not state.exists:
        return None, f"{what} missing"
    return state, None


def _check_one(state: State, what: str, lineage: str) -> str | None:
    if state.lineage != lineage:
        return f"{what}: lineage changed to {state.lineage}"
    assert state.digest_salt is not None
    if state.connectors != content_for(state.serial, state.digest_salt):
        return f"{what}: content is not what serial {state.serial} was saved with"
    return None


def check_files(path: Path, lineage: str, min_serial: int) -> tuple[int | None, str | None]:
    """(serial on disk, problem or None) after a kill."""
    state, problem = _load(path, "state file")
    if state is None:
        return None, problem
    problem = _check_one(state, "state file", lineage)
    if problem:
        return state.serial, problem
    if state.serial < min_serial:
        return state.serial, f"serial went back: {state.serial} on disk, {min_serial} was saved before"
    backup_path = path.with_name(path.name + ".backup")
    if backup_path.exists():
        backup, problem = _load(backup_path, "backup")
        if backup is None:
            return state.serial, problem
        problem = _check_one(backup, "backup", lineage)
        if problem:
            return state.serial, problem
        # Equal serials are fine: a kill between linking the backup and renaming the new state leaves
        # the backup as a second name of the (intact) current state.
        if backup.serial > state.serial:
            return state.serial, f"backup serial {backup.serial} is newer than the state's {state.serial}"
    try:
        lk.acquire(path.with_name(path.name + ".lock"), "kill-check", timeout=0).release()
    except KcplanError as exc:
        return state.serial, f"the lock outlived its holder: {exc.message}"
    return state.serial, None


def _read_line(proc: subprocess.Popen[str], timeout: float) -> str | None:
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    return proc.stdout.readline() if ready else None


def one_kill(path: Path, index: int, rng: random.Random, mode: str, max_delay: float,
             min_serial: int) -> RunResult:
    before = temp_files(path)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.Popen([sys.executable, str(WRITER), str(path), mode], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, cwd=REPO)
    delay = rng.uniform(0, max_delay)
    try:
        first = _read_line(proc, 60)
        if first is None or first.strip() != "ready":
            proc.kill()
            _out, err = proc.communicate(timeout=30)
            return RunResult(index, delay, None, None, 0, 0,
                             f"writer did not start: {first!r} {err.strip()[-500:]}")
        time.sleep(delay)
        crashed = proc.poll() is not None
        if not crashed:
            os.kill(proc.pid, signal.SIGKILL)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    if crashed:
        return RunResult(index, delay, None, None, 0, 0, f"writer died on its own: {err.strip()[-500:]}")
    serials = [int(line) for line in out.split() if line.isdigit()]
    acked = serials[-1] if serials else None
    serial, problem = check_files(path, LINEAGE, max(min_serial, acked or 0))
    left = len(temp_files(path) - before)
    return RunResult(index, delay, acked, serial, len(serials), left, problem)


def run_kills(folder: Path, runs: int, seed: int, *, mode: str = "atomic", max_delay: float = 0.25,
              progress: bool = False) -> Report:
    """``runs`` kills of writers on one state file in ``folder``; a broken file is counted, then repaired
    (rewritten as the last good serial) so the next run starts from a valid state."""
    path = folder / ".kcplan" / "dev.state.json"
    initial_state(path)
    rng = random.Random(seed)
    report = Report(seed, mode, max_delay)
    began = time.monotonic()
    good = 1
    for index in range(runs):
        result = one_kill(path, index, rng, mode, max_delay, good)
        report.results.append(result)
        if result.problem:
            repaired = State(lineage=LINEAGE, serial=good, kafka_cluster_id="kill-test", digest_salt=SALT,
                             connectors=content_for(good, SALT))
            path.write_text(repaired.to_json())
            path.with_name(path.name + ".backup").unlink(missing_ok=True)
        elif result.serial is not None:
            good = result.serial
        if progress and (index + 1) % 50 == 0:
            print(f"  {index + 1}/{runs}: {len(report.broken)} broken so far", file=sys.stderr, flush=True)
    report.seconds = time.monotonic() - began
    return report
