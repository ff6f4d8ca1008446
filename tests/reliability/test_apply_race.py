"""Two kcplan processes on the same state at the same instant: exactly one proceeds, the other names it.

Against the REAL standalone worker (``connect_url``) through a FaultProxy that sees every request. Each
run starts two processes back to back (``Popen`` twice in a row, order seeded; in half the runs where an
apply starts first, the other follows 0.3-1 s later) on one project:

- ``apply plan.out`` vs ``apply plan.out``;
- ``apply -e dev --auto-approve`` vs ``apply plan.out``;
- ``plan --out`` vs ``apply plan.out``: ``plan`` only reads the state, but it takes the state lock all the
  same (docs/plan-format.md: "Every command that writes state, and `plan`, takes it"), for the time it
  reads the state and the cluster. So it is the same race: whichever locks first proceeds, the other exits 1
  naming it ('kcplan plan' or 'kcplan apply'), and a losing apply writes nothing.

The proxy delays the very first request it sees (only the lock holder sends any: the loser fails before
it opens a connection) and every create, so the winner holds the lock for seconds while the other process
starts. Checks per run: exit codes exactly {0, 1}; the loser's ``Error:`` names the winner's pid, host and
command; the writes the proxy saw are exactly one apply's (or none when the plan won); then
``assert_converged``.

Run i plays pairing i % 3 with seed KCPLAN_RELIABILITY_SEED + i. CI: KCPLAN_APPLY_RACE_RUNS (else
KCPLAN_RELIABILITY_RUNS, else 3) runs, so each pairing once. Also: ``--lock-timeout`` waits, then either
names the holder ("gave up after waiting N s") or proceeds once the holder is done.
"""

from __future__ import annotations

import os
import random
import socket
import subprocess
import time
from collections.abc import Callable

import pytest
import requests

from tests.applyproject import Project, assert_converged, ok, writes
from tests.faultproxy import FaultProxy
from tests.reliability.seeds import base_seed

RUNS = int(os.environ.get("KCPLAN_APPLY_RACE_RUNS") or os.environ.get("KCPLAN_RELIABILITY_RUNS") or "3")
PAIRINGS = ("apply-file vs apply-file", "apply-env vs apply-file", "plan vs apply-file")
HOST = socket.gethostname()


BASE_SEED = base_seed()


def _argv(project: Project, kind: str) -> list[str]:
    if kind == "apply-file":
        return project.argv("apply", str(project.plan_file), "--verify-timeout", "90")
    if kind == "apply-env":
        return project.argv("apply", "-e", "dev", "--auto-approve", "--verify-timeout", "90")
    assert kind == "plan"
    return project.argv("plan", "-e", "dev", "--out", str(project.root / "other-plan.out"))


def _command(kind: str) -> str:
    return "plan" if kind == "plan" else "apply"


def _race(project: Project, first: str, second: str,
          stagger: float) -> list[tuple[str, subprocess.Popen[str], str, str]]:
    """Start both back to back (the second ``stagger`` s later), wait for both; (kind, process, stdout,
    stderr) in start order."""
    procs = []
    for kind in (first, second):
        if procs and stagger:
            time.sleep(stagger)
        procs.append((kind, subprocess.Popen(_argv(project, kind), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                             text=True, env=project.env(), stdin=subprocess.DEVNULL)))
    done = []
    for kind, proc in procs:
        out, err = proc.communicate(timeout=300)
        done.append((kind, proc, out, err))
    return done


@pytest.mark.parametrize("run", range(RUNS))
def test_two_processes_on_one_state_at_once(project: Project, proxy: FaultProxy,
                                            unique_name: Callable[..., str], run: int) -> None:
    seed = BASE_SEED + run
    rng = random.Random(seed)
    pairing = PAIRINGS[run % len(PAIRINGS)]
    a, b = pairing.split(" vs ")
    first, second = (a, b) if rng.random() < 0.5 else (b, a)
    count = rng.randint(2, 4)
    hold = rng.uniform(1.5, 2.5)      # the winner's first request waits this long, the lock held
    create_delay = rng.uniform(0.5, 1.5)
    # Started at the same instant, 'plan' (fewer imports, no plan file to read) always locked first in 51
    # runs. Half the runs with an apply started first give it a head start of 0.3-1 s (still within the
    # seconds it holds the lock) so that a plan refused by a running apply is raced too.
    stagger = rng.uniform(0.3, 1.0) if first != "plan" and rng.random() < 0.5 else 0.0
    tag = (f"seed {seed} (KCPLAN_RELIABILITY_SEED={BASE_SEED}, run {run}): {first} started "
           f"{f'{stagger:.2f} s' if stagger else 'just'} before {second}")
    names = [unique_name(f"r{i}") for i in range(count)]
    desired = {n: project.source(n) for n in names}
    for name, body in desired.items():
        project.declare(name, body)
    project.plan()
    proxy.seen.clear()
    proxy.add("*", r"", "delay", seconds=hold)
    proxy.add("POST", r"^/connectors$", "delay", seconds=create_delay, times=count)

    results = _race(project, first, second, stagger)
    report = tag + "".join(f"\n--- {k} (pid {p.pid}) exit {p.returncode}\nstdout:\n{o}\nstderr:\n{e}"
                           for k, p, o, e in results)
    for _kind, _proc, _out, err in results:
        assert "Traceback" not in err and "internal error" not in err, report
    codes = sorted(p.returncode for _k, p, _o, _e in results)
    assert codes == [0, 1], report
    (win_kind, winner, win_out, _), = [r for r in results if r[1].returncode == 0]
    (lose_kind, _loser, lose_out, lose_err), = [r for r in results if r[1].returncode == 1]
    holder = f"is locked by 'kcplan {_command(win_kind)}' (pid {winner.pid} on host {HOST}, user "
    assert lose_err.startswith(f"Error: the state {project.state_path} {holder}"), report
    assert "Wait for the other kcplan to finish, retry with --lock-timeout SECONDS" in lose_err, report
    assert "Apply " not in lose_out and "Saved the plan" not in lose_out, report

    expected = [] if win_kind == "plan" else [("POST", "/connectors")] * count
    assert sorted(writes(proxy)) == expected, report
    if win_kind == "plan":
        assert "Saved the plan to: " in win_out and not project.state_path.exists(), report
    else:
        assert f"Apply complete: {count} added, 0 changed, 0 destroyed" in win_out, report
        assert sorted(project.state()) == sorted(names), report
    extra = assert_converged(project, desired, names=names)
    print(f"{tag}: {win_kind} (pid {winner.pid}) won, {lose_kind} refused naming it; "
          f"{len(expected)} writes; converged after {extra} more apply")


# -- --lock-timeout -------------------------------------------------------------------------------------


def _start_holding_apply(project: Project, proxy: FaultProxy, names: list[str],
                         seconds: float) -> subprocess.Popen[str]:
    """An apply that holds the lock for a while: started, and seen writing (so it holds the lock)."""
    for name in names:
        project.declare(name, project.source(name))
    project.plan()
    proxy.add("POST", r"^/connectors$", "delay", seconds=seconds, times=len(names))
    proc = subprocess.Popen(project.argv("apply", str(project.plan_file), "--parallelism", "1", "--no-verify"),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=project.env(),
                            stdin=subprocess.DEVNULL)
    assert proc.stderr is not None
    line = proc.stderr.readline()
    assert line.startswith("Applying "), line + proc.stderr.read()
    return proc


def test_lock_timeout_waits_then_names_the_holder(project: Project, proxy: FaultProxy,
                                                  unique_name: Callable[..., str]) -> None:
    names = [unique_name(f"w{i}") for i in range(2)]
    holder = _start_holding_apply(project, proxy, names, seconds=3.0)
    try:
        started = time.monotonic()
        waited = project.kcplan("plan", "-e", "dev", "--lock-timeout", "1")
        took = time.monotonic() - started
        ok(waited, 1)
        assert waited.stderr.startswith(
            f"Error: the state {project.state_path} is locked by 'kcplan apply' (pid {holder.pid} on host {HOST}, "
            "user "), waited.stderr
        assert "; gave up after waiting 1 s\n" in waited.stderr, waited.stderr
        assert holder.poll() is None   # the holder was still at work: it was a real wait, not a free lock
        print(f"--lock-timeout 1 gave up after {took:.1f} s")
    finally:
        out, err = holder.communicate(timeout=120)
    assert holder.returncode == 0, out + err


def test_lock_timeout_proceeds_once_the_holder_is_done(project: Project, proxy: FaultProxy,
                                                       unique_name: Callable[..., str]) -> None:
    names = [unique_name(f"p{i}") for i in range(2)]
    holder = _start_holding_apply(project, proxy, names, seconds=1.5)
    try:
        waiting = project.kcplan("plan", "-e", "dev", "--detailed-exitcode", "--lock-timeout", "120")
    finally:
        out, err = holder.communicate(timeout=120)
    assert holder.returncode == 0, out + err
    # it read the state the holder wrote: nothing left to do (without waiting it would have failed at once,
    # or planned the two creates)
    ok(waiting, 0)
    assert "No changes." in waiting.stdout, waiting.stdout
    assert requests.get(f"{project.worker}/connectors/{names[0]}/config", timeout=30).status_code == 200
