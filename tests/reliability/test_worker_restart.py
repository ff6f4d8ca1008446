"""A worker of a REAL 2-worker distributed Connect cluster SIGKILLed during an apply, then restarted.

The module starts its own cluster (kcplan.sandbox, distributed, 2 workers on their own Apache Kafka broker): the
shared ``distributed_urls`` cluster is used by other tests and must not lose a worker. Each run (seeded):

1. a baseline apply (no fault) creates 2 connectors: the state now has a lineage and a serial;
2. the faulted apply creates 4-5 more, updates one baseline connector and deletes the other, with both
   worker URLs in ``connect_url``; after a seeded number of finished steps (plus up to 0.5 s) one seeded
   worker is SIGKILLed (``kill_worker``), and restarted after a seeded 2-6 s (``restart_worker``);
3. checks: kcplan exits 0, 1 or 3 with a readable summary, never a traceback, never "no Connect worker
   answered" (one worker is up at every moment: kcplan must fail over to it); the state file parsed at
   every sample taken during the apply and after it, kept its lineage, and its serial never went back;
   the state is true: every connector whose state record differs from the cluster is named in kcplan's
   output as failed or not done (exit 1), none when it exits 0 or 3;
4. ``assert_converged``: at most one more apply, then plan shows nothing, cluster == desired == state.

The workers run with scheduled.rebalance.max.delay.ms=10 s (Connect's default, 5 minutes, leaves new
connectors unassigned that long after a worker loss; kcplan then ends "unverified at the deadline", exit 3)
and session.timeout.ms=6 s, to keep a run near 100 s on this machine.

CI runs KCPLAN_WORKER_RESTART_RUNS (else KCPLAN_RELIABILITY_RUNS, else 1) runs; KCPLAN_RELIABILITY_SEED
repeats a sequence (run i uses seed + i). The seed of each run is printed and part of every failure.
"""

from __future__ import annotations

import json
import os
import random
import re
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests

from kcplan import sandbox
from kcplan.errors import KcplanError
from kcplan.state.store import StateStore
from tests.applyproject import Project, assert_converged, ok
from tests.helpers import delete_connectors
from tests.reliability.seeds import base_seed

# Its own 2-worker cluster: slow, and on one Kafka line only (not `integration`, which CI runs twice).
pytestmark = pytest.mark.distributed

RUNS = int(os.environ.get("KCPLAN_WORKER_RESTART_RUNS") or os.environ.get("KCPLAN_RELIABILITY_RUNS") or "1")
STARTUP_TIMEOUT = float(os.environ.get("KCPLAN_TEST_STARTUP_TIMEOUT", "180"))
APPLY_TIMEOUT = 600.0
# Connect holds the connectors and tasks of a worker that left for scheduled.rebalance.max.delay.ms (default
# 5 minutes) before it assigns them elsewhere: new connectors stay unassigned that long and the apply ends
# "unverified at the deadline" (exit 3, seen with the default). 10 s keeps a run within the CI budget.
# A killed worker is noticed after session.timeout.ms (default 10 s); 6 s (the broker's minimum in Kafka)
# with heartbeats every 2 s shortens each run without changing what happens.
WORKER_PROPS = {"scheduled.rebalance.max.delay.ms": "10000", "session.timeout.ms": "6000",
                "heartbeat.interval.ms": "2000"}
_PROGRESS = re.compile(r"\[(\d+)/(\d+)\]\s*$")


BASE_SEED = base_seed()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Root of this module's own distributed sandbox (2 workers); stopped at the end."""
    root = tmp_path_factory.mktemp("sandbox-restart")
    try:
        sandbox.start_sandbox(root, mode="distributed", workers=2, timeout=STARTUP_TIMEOUT, stop_with_parent=True,
                              extra_worker_props=WORKER_PROPS)
    except KcplanError as exc:
        pytest.fail(f"could not start the distributed sandbox: {exc.message}\n{exc.hint}", pytrace=False)
    try:
        yield root
    finally:
        sandbox.stop_sandbox(root, grace=5)   # a test cluster needs no graceful stop


def _urls(root: Path) -> list[str]:
    info = sandbox.load_info(root)
    assert info is not None
    return info.urls


def _refused(url: str) -> bool:
    host, port = url.removeprefix("http://").split(":")
    with socket.socket() as sock:
        sock.settimeout(2)
        return sock.connect_ex((host, int(port))) != 0


# -- the sandbox helpers themselves --------------------------------------------------------------------


def test_worker_helpers_refuse_what_they_cannot_do(cluster: Path) -> None:
    """Instant checks; the kill and the restart themselves are checked inside the scenario below."""
    with pytest.raises(sandbox.SandboxError, match=r"has no worker-3 \(workers: worker-1, worker-2\)"):
        sandbox.kill_worker(cluster, 3)
    with pytest.raises(sandbox.SandboxError, match=r"worker-2 \(pid \d+\) is still running"):
        sandbox.restart_worker(cluster, 2)
    with pytest.raises(sandbox.SandboxError, match=r"no sandbox is recorded under"):
        sandbox.kill_worker(cluster / "elsewhere", 1)


def _check_killed(cluster: Path, victim: int, before: sandbox.ProcessInfo) -> None:
    """kill_worker did what it says: the process and its listening socket are gone; a second kill refuses."""
    assert not sandbox.is_alive(before) and _refused(str(before.url))
    with pytest.raises(sandbox.SandboxError, match=rf"worker-{victim} \(pid {before.pid}\) is not running"):
        sandbox.kill_worker(cluster, victim)


def _check_restarted(cluster: Path, before: sandbox.ProcessInfo, pids: dict[str, int]) -> None:
    """restart_worker started the same worker again: new pid, same port, URL and properties, old log kept."""
    info = sandbox.load_info(cluster)
    assert info is not None
    fresh = next(w for w in info.workers if w.name == before.name)
    assert fresh.pid != before.pid and sandbox.is_alive(fresh)
    assert (fresh.port, fresh.url, fresh.config, fresh.log) == (before.port, before.url, before.config, before.log)
    assert info.pids == {**pids, before.name: fresh.pid}
    kept = sorted(Path(before.log).parent.glob(Path(before.log).name + ".*"))
    assert kept and "Joined group" in kept[-1].read_text()   # the killed worker's log, kept
    assert "Joined group" in Path(fresh.log).read_text()     # the new process joined the group again


# -- the scenario --------------------------------------------------------------------------------------


@dataclass
class Watch:
    """What the watcher saw while the faulted apply ran."""

    stdout: list[str] = field(default_factory=list)
    stderr: list[str] = field(default_factory=list)
    serials: list[int] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def writing(self) -> bool:
        """The apply has read the cluster, found the plan fresh and started its writes."""
        return any(line.startswith("Applying ") for line in list(self.stderr))

    def done_steps(self) -> int:
        found = [int(m.group(1)) for line in list(self.stderr) if (m := _PROGRESS.search(line))]
        return max(found, default=0)


def _reader(stream: Any, into: list[str]) -> threading.Thread:
    def run() -> None:
        for line in iter(stream.readline, ""):
            into.append(line)
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def _sample_state(path: Path, watch: Watch, lineage: str) -> None:
    """The state file must parse at any moment (atomic writes) with the same lineage."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        watch.problems.append(f"state file unreadable during the apply: {exc}")
        return
    if data.get("lineage") != lineage:
        watch.problems.append(f"lineage changed during the apply: {data.get('lineage')}")
    watch.serials.append(int(data["serial"]))


def _project(tmp: Path, urls: list[str]) -> Project:
    project = Project(tmp, urls[0])
    project.settings_path.write_text(f"{{ connect_url: {json.dumps(urls)}, request_timeout: 120 }}\n")
    return project


def _mismatches(project: Project, names: list[str]) -> dict[str, str]:
    """Connectors whose state record differs from the cluster (config compared by key/value,
    digests by key), with what differs."""
    state = project.state()
    found: dict[str, str] = {}
    for name in names:
        live = _live_config(project.worker, name)
        record = state.get(name)
        if record is None and live is None:
            continue
        if record is None:
            found[name] = "on the cluster, not in the state"
        elif live is None:
            found[name] = "in the state, not on the cluster"
        else:
            recorded = record["config"]
            if sorted(recorded) != sorted(live) or any(
                    v != live[k] and not str(v).startswith("hmac-sha256:") for k, v in recorded.items()):
                found[name] = "config in the state differs from the cluster"
    return found


def _summary(out: str) -> str:
    """The apply summary (counts, Failed:, Not done/Not started, Error:), without the health table that
    names every connector."""
    start = out.find("Apply ")
    if start < 0:
        return ""
    table = out.find("\nNAME ", start)
    return out[start:table if table >= 0 else len(out)]


def _live_config(url: str, name: str) -> dict[str, str] | None:
    """GET .../config, retried while the cluster rebalances (500/409 for a while after a restart)."""
    deadline = time.monotonic() + 180
    while True:
        reply = requests.get(f"{url}/connectors/{name}/config", timeout=120)
        if reply.status_code == 200:
            config: dict[str, str] = reply.json()
            return config
        if reply.status_code == 404:
            return None
        if time.monotonic() > deadline:
            reply.raise_for_status()
        time.sleep(1)


@pytest.mark.parametrize("run", range(RUNS))
def test_worker_killed_and_restarted_during_an_apply(cluster: Path, tmp_path: Path, run: int) -> None:
    seed = BASE_SEED + run
    rng = random.Random(seed)
    tag = f"seed {seed} (KCPLAN_RELIABILITY_SEED={BASE_SEED}, run {run})"
    print(f"\nworker restart: {tag}")
    sandbox.wait_ready(cluster, STARTUP_TIMEOUT)   # the previous run's restart has settled
    urls = _urls(cluster)
    project = _project(tmp_path / "proj", urls)
    prefix = f"wr{seed % 10**8}-{os.getpid()}"
    keep, drop = f"{prefix}-keep", f"{prefix}-drop"
    news = [f"{prefix}-n{i}" for i in range(rng.randint(4, 5))]
    names = [keep, drop, *news]
    try:
        _scenario(cluster, project, rng, tag, keep, drop, news)
    finally:
        # all at once (each DELETE can block for a rebalance): later runs start on a clean cluster
        delete_connectors(urls[0], names, attempts=10, threads=len(names) or 1, errors="retry",
                          done=lambda status: status in (204, 404))


def _scenario(cluster: Path, project: Project, rng: random.Random, tag: str, keep: str, drop: str,
              news: list[str]) -> None:
    names = [keep, drop, *news]
    for name in (keep, drop):
        project.declare(name, project.source(name))
    project.plan()
    ok(project.kcplan("apply", str(project.plan_file), "--no-verify"))
    baseline = json.loads(project.state_path.read_text())
    lineage, serial0 = baseline["lineage"], int(baseline["serial"])

    desired = {keep: project.source(keep, **{"tasks.max": 2})}
    desired.update({n: project.source(n) for n in news})
    for name, body in desired.items():
        project.declare(name, body)
    (project.connectors / f"{drop}.jsonnet").unlink()
    out = project.plan()
    assert f"Plan: {len(news)} to add, 1 to change, 1 to destroy." in out, out
    steps = len(news) + 2

    victim = rng.choice([1, 2])
    parallelism = rng.choice([1, 2, 4, 8])
    kill_after = rng.randint(0, steps - 2)     # finished steps before the kill
    jitter = rng.uniform(0, 0.5)
    restart_delay = rng.uniform(2, 6)
    plan_text = (f"{tag}: {steps} steps, parallelism {parallelism}, SIGKILL worker-{victim} after "
                 f"{kill_after} finished steps + {jitter:.2f} s, restart {restart_delay:.1f} s later")
    print(plan_text)

    watch = Watch()
    info = sandbox.load_info(cluster)
    assert info is not None
    pids = info.pids
    victim_before = info.workers[victim - 1]
    proc = subprocess.Popen(
        project.argv("apply", str(project.plan_file), "--parallelism", str(parallelism), "--verify-timeout", "180"),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=project.env(), stdin=subprocess.DEVNULL)
    readers = [_reader(proc.stdout, watch.stdout), _reader(proc.stderr, watch.stderr)]
    began = time.monotonic()
    killed_at: float | None = None
    killed_after_steps = -1
    restarted = False
    try:
        while proc.poll() is None:
            _sample_state(project.state_path, watch, lineage)
            now = time.monotonic()
            if killed_at is None and watch.writing() and watch.done_steps() >= kill_after:
                time.sleep(jitter)
                if proc.poll() is not None:
                    break
                killed_after_steps = watch.done_steps()
                victim_before = sandbox.kill_worker(cluster, victim)
                killed_at = time.monotonic()
                _check_killed(cluster, victim, victim_before)
            elif killed_at is not None and not restarted and now - killed_at >= restart_delay:
                sandbox.restart_worker(cluster, victim, wait=False, stop_with_parent=True)
                restarted = True
            if now - began > APPLY_TIMEOUT:
                proc.kill()
                pytest.fail(f"{plan_text}: apply still running after {APPLY_TIMEOUT:g} s")
            time.sleep(0.05)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        for reader in readers:
            reader.join(timeout=10)
        if killed_at is not None and not restarted:   # the apply ended first: still the seeded delay
            time.sleep(max(0.0, killed_at + restart_delay - time.monotonic()))
            sandbox.restart_worker(cluster, victim, wait=False, stop_with_parent=True)
    _sample_state(project.state_path, watch, lineage)
    out, err, code = "".join(watch.stdout), "".join(watch.stderr), proc.returncode
    report = f"{plan_text}\nexit {code}\nstdout:\n{out}\nstderr:\n{err}"
    lost = sum("answer lost" in line for line in watch.stderr)
    failed = sum(line.lstrip().startswith("! ") for line in watch.stderr)
    verdict = next((line.strip() for line in watch.stdout if line.startswith("Verified: ")), "not verified")
    when = "during the writes" if killed_after_steps < steps else "after the writes, during verification"
    print(f"{tag}: exit {code}, killed {when} ({killed_after_steps} steps finished), {lost} answers lost and "
          f"read back, {failed} steps failed; {verdict}; apply took {time.monotonic() - began:.1f} s")

    assert killed_at is not None, f"the apply ended before the kill: the run proves nothing\n{report}"
    assert code in (0, 1, 3), report
    assert "Traceback" not in err and "internal error" not in err, report
    # one worker was up at every moment: "no worker answered" would mean kcplan did not fail over
    assert "no Connect worker answered" not in out + err, report
    summary = {0: "Apply complete: ", 1: "Apply finished with errors: ", 3: "Apply complete: "}[code]
    assert summary in out or (code == 1 and "Error: " in err), report
    assert not watch.problems, f"{watch.problems}\n{report}"
    assert watch.serials == sorted(watch.serials) and watch.serials[0] >= serial0, \
        f"serial went back: {watch.serials}\n{report}"
    loaded = StateStore(project.state_path).load()
    assert loaded.lineage == lineage and loaded.serial == watch.serials[-1], report

    sandbox.wait_ready(cluster, STARTUP_TIMEOUT)
    _check_restarted(cluster, victim_before, pids)
    wrong = _mismatches(project, names)
    if code in (0, 3):
        assert not wrong, f"state untrue after exit {code}: {wrong}\n{report}"
    else:
        said = _summary(out) + (err[err.index("Error: "):] if "Error: " in err else "")
        unreported = {n: why for n, why in wrong.items() if n not in said}
        assert not unreported, f"state differs from the cluster without a word: {unreported}\n{report}"
    extra = assert_converged(project, desired, names=names, apply_args=("--verify-timeout", "180"))
    print(f"{tag}: converged after {extra} more apply; state differed on {sorted(wrong)}")
