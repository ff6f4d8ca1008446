"""Faults injected by the proxy during apply (issue 7): rebalance answers, lost answers, non-JSON and
truncated answers, refused connections. Standalone worker behind tests/faultproxy.py; every run has a
recorded seed and ends with ``assert_converged`` (tests/applyproject.py).

a. 30% of ALL requests (plan and apply, reads and writes) answered 409 "conflicting operation" or
   500 "rebalance is expected": both applies exit 0 with no extra apply, and the worker gets exactly
   one write per planned change (a retried rebalance answer never doubles a write).
b. Half of the writes applied but their answers lost (500 "Request timed out" or connection dropped):
   exact forwarded writes per connector: creates/updates/deletes exactly once (read back finds them),
   a run-state change at most once more (only after its first answer was lost); an apply of an
   unchanged project sends no write at all.
c. One request kind per run answered with non-JSON (HTTP 200, 500 or 502) or a truncated body:
   exit 0/1/3 (as the fault implies), no traceback, a readable message, the state file valid and
   true, and the next apply converges.
d. The proxy refuses connections for a few seconds in the middle of an apply: a clear error or a
   success, the state true, converged after at most one more apply.

CI runs 1 seed of a, b and d and 2 combinations of c. KCPLAN_APPLY_FAULT_RUNS=N runs N seeds of a, b, d
and the whole matrix of c (12 request kinds x 4 faults, then more seeded picks up to N if N > 48);
KCPLAN_RELIABILITY_SEED=S starts the seeds at S (run i uses S+i; every failure names its seed).
bench/reliability/run_apply_faults.py runs the large counts and writes the results.
"""

from __future__ import annotations

import json
import os
import random
import re
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from kcplan.state.store import StateStore
from tests.applyproject import Project, assert_converged, live_configs
from tests.faultproxy import FaultProxy, Rule
from tests.helpers import delete_connectors, wait_until
from tests.reliability.seeds import base_seed

RUNS = int(os.environ.get("KCPLAN_APPLY_FAULT_RUNS", "1"))
LOST_FAULTS = ("timeout500", "drop")
UNKNOWN = "may or may not have happened"


# -- helpers --------------------------------------------------------------------------------------------

Write = tuple[str, str]  # (method, path)


def forwarded_writes(proxy: FaultProxy) -> dict[str, list[Write]]:
    """Writes the worker really got, per connector, in arrival order."""
    out: dict[str, list[Write]] = {}
    for seen in list(proxy.seen):
        if seen.method in ("POST", "PUT", "PATCH", "DELETE") and seen.forwarded \
                and "/connector-plugins/" not in seen.path:
            out.setdefault(seen.connector or "?", []).append((seen.method, seen.path))
    return out


def faulted_writes(proxy: FaultProxy, faults: tuple[str, ...]) -> list[tuple[str | None, str, str]]:
    return [(s.connector, s.method, s.path) for s in list(proxy.seen)
            if s.fault in faults and s.method != "GET"]


def write_for(name: str, op: str) -> Write:
    return {"create": ("POST", "/connectors"), "update": ("PUT", f"/connectors/{name}/config"),
            "delete": ("DELETE", f"/connectors/{name}"), "pause": ("PUT", f"/connectors/{name}/pause"),
            "resume": ("PUT", f"/connectors/{name}/resume"), "stop": ("PUT", f"/connectors/{name}/stop")}[op]


def failed_names(result_text: str) -> dict[str, str]:
    """Connector -> failure line, from apply's progress lines ('  ! NAME: create failed: ...')."""
    return {m.group(1): m.group(0) for m in re.finditer(r"^  ! (\S+): .*$", result_text, re.MULTILINE)}


def delete_all(worker: str, names: list[str]) -> None:
    """One DELETE each; a request that fails fails the test."""
    delete_connectors(worker, names, errors="raise")


def no_crash(result: Any, allowed: tuple[int, ...], seed: int) -> str:
    text = f"exit {result.returncode}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    assert result.returncode in allowed, f"seed {seed}: exit {result.returncode} not in {allowed}\n{text}"
    for marker in ("Traceback", "internal error", "  File \""):
        assert marker not in result.stdout + result.stderr, f"seed {seed}: {marker!r} in output\n{text}"
    return text


def check_state_true(project: Project, watched: list[str], excused: set[str], seed: int,
                     before: tuple[str | None, int] | None = None) -> None:
    """The state file loads (parses and validates), its lineage is kept and its serial did not go back;
    every connector it records is on the cluster with the recorded config and run state, and no watched
    connector is on the cluster unrecorded, except ``excused`` ones (a write whose outcome kcplan
    reported as unknown)."""
    state = StateStore(project.state_path).load()
    if before is not None:
        assert state.lineage == before[0] and state.serial >= before[1], \
            f"seed {seed}: lineage/serial {state.lineage}/{state.serial}, before {before}"
    live = live_configs(project.worker, watched)
    for name, rec in state.connectors.items():
        if name in excused:
            continue
        assert name in live, f"seed {seed}: state records {name}, the cluster does not have it"
        assert {k: v for k, v in live[name].items() if k != "name"} == \
            {k: v for k, v in rec.config.items() if k != "name"}, f"seed {seed}: {name} config differs from state"
        wait_until(lambda n=name, s=rec.state: project.live_state(n) == s,  # type: ignore[misc]
                   f"seed {seed}: {name} {rec.state} on the cluster as the state records", 30)
    unrecorded = sorted(set(live) - set(state.connectors) - excused)
    assert not unrecorded, f"seed {seed}: on the cluster, not in the state: {unrecorded}"


@dataclass
class Layout:
    """Declared connectors of one project: name -> (config extras, run state) or absent."""

    project: Project
    decl: dict[str, tuple[dict[str, Any], str]]

    def body(self, name: str) -> dict[str, Any]:
        extra, state = self.decl[name]
        config = self.project.source(name, **extra)
        return config if state == "RUNNING" else {"name": name, "config": config, "state": state}

    def write(self) -> dict[str, dict[str, Any]]:
        for path in self.project.connectors.glob("*.jsonnet"):
            if path.stem not in self.decl:
                path.unlink()
        for name in self.decl:
            self.project.declare(name, self.body(name))
        return self.desired()

    def desired(self) -> dict[str, dict[str, Any]]:
        return {name: self.project.source(name, **extra) for name, (extra, _s) in self.decl.items()}


# -- a. 30% of all requests answered with a rebalance message --------------------------------------------

def run_rebalances(root: Path, proxy: FaultProxy, worker: str, seed: int,
                   make_name: Callable[[str], str]) -> dict[str, int]:
    rng = random.Random(seed)
    names = [make_name(f"r{i}") for i in range(10)]
    project = Project(root, proxy.url, worker)
    layout = Layout(project, {n: ({}, "RUNNING") for n in names})
    layout.decl[names[8]] = ({}, "PAUSED")
    layout.decl[names[9]] = ({}, "STOPPED")
    rule = proxy.add_random(("rebalance", "rebalance500"), 0.3, seed=seed)
    stats: Counter[str] = Counter()
    try:
        # round 1: ten creates (two with an initial state)
        layout.write()
        proxy.seen.clear()
        project.plan()
        result = project.kcplan("apply", str(project.plan_file), "--verify-timeout", "120")
        text = no_crash(result, (0,), seed)
        assert forwarded_writes(proxy) == {n: [write_for(n, "create")] for n in names}, f"seed {seed}\n{text}"
        _count(stats, proxy)
        # round 2: updates, deletes, pauses; the rest unchanged
        order = rng.sample(range(8), 8)
        upd, gone, paused = order[:3], order[3:5], order[5:7]
        expected: dict[str, list[Write]] = {}
        for i in upd:
            layout.decl[names[i]] = ({"tasks.max": 2} if rng.random() < 0.5 else {"topic": f"{names[i]}-2"},
                                     "RUNNING")
            expected[names[i]] = [write_for(names[i], "update")]
        for i in gone:
            del layout.decl[names[i]]
            expected[names[i]] = [write_for(names[i], "delete")]
        for i in paused:
            layout.decl[names[i]] = ({}, "PAUSED")
            expected[names[i]] = [write_for(names[i], "pause")]
        layout.write()
        proxy.seen.clear()
        project.plan()
        result = project.kcplan("apply", str(project.plan_file), "--verify-timeout", "120")
        text = no_crash(result, (0,), seed)
        assert forwarded_writes(proxy) == expected, f"seed {seed}: writes\n{text}"
        _count(stats, proxy)
        # round 3: a resume, alone (see Flipper: a resume next to another run-state write can deadlock
        # the standalone worker)
        layout.decl[names[8]] = ({}, "RUNNING")
        desired = layout.write()
        proxy.seen.clear()
        project.plan()
        result = project.kcplan("apply", str(project.plan_file), "--verify-timeout", "120")
        text = no_crash(result, (0,), seed)
        assert forwarded_writes(proxy) == {names[8]: [write_for(names[8], "resume")]}, f"seed {seed}\n{text}"
        _count(stats, proxy)
        assert rule.served > 0
        rule.active = False
        extra = assert_converged(project, desired, names=names)
        assert extra == 0, f"seed {seed}: an apply under rebalance answers left work behind"
    finally:
        rule.active = False
        delete_all(worker, names)
    return dict(stats)


def _count(stats: Counter[str], proxy: FaultProxy) -> None:
    for seen in list(proxy.seen):
        stats["requests"] += 1
        stats[seen.fault] += 1


def _each_seed(what: str, run: Callable[[int], str], reset: Callable[[], None]) -> None:
    """Run the scenario once per seed (RUNS of them from base_seed(2**31)), print one line per seed, and fail
    at the end with every failing seed's message (so one bad seed does not hide the others)."""
    base = base_seed(2**31)
    print(f"\n{what} scenario: seeds {base}..{base + RUNS - 1} (KCPLAN_RELIABILITY_SEED={base})")
    failures: list[str] = []
    for seed in range(base, base + RUNS):
        reset()
        try:
            summary = run(seed)
        except (AssertionError, pytest.fail.Exception) as exc:
            failures.append(f"seed {seed}: {exc}")
            print(f"seed {seed}: FAILED")
            continue
        print(f"seed {seed}: ok; {summary}")
    assert not failures, "\n\n".join(failures)


def test_rebalance_answers_on_30_percent_of_all_requests(
        tmp_path: Path, proxy: FaultProxy, connect_url: str, unique_name: Callable[..., str]) -> None:
    def one(seed: int) -> str:
        stats = run_rebalances(tmp_path / f"a-{seed}", proxy, connect_url, seed, unique_name)
        return (f"{stats.get('rebalance', 0)} x 409 + {stats.get('rebalance500', 0)} x 500 "
                f"rebalance answers out of {stats['requests']} requests")
    _each_seed("rebalance", one, proxy.clear_random)


# -- b. writes applied, their answers lost --------------------------------------------------------------

def run_lost_answers(root: Path, proxy: FaultProxy, worker: str, seed: int,
                     make_name: Callable[[str], str]) -> dict[str, int]:
    rng = random.Random(seed)
    names = [make_name(f"l{i}") for i in range(8)]
    project = Project(root, proxy.url, worker)
    layout = Layout(project, {n: ({}, "RUNNING") for n in names})
    layout.decl[names[7]] = ({}, "PAUSED")
    rule = proxy.add_random(LOST_FAULTS, 0.5, seed=seed, method="WRITE")
    stats: Counter[str] = Counter()
    try:
        layout.write()
        project.plan()
        proxy.seen.clear()
        result = project.kcplan("apply", str(project.plan_file), "--verify-timeout", "120")
        text = no_crash(result, (0,), seed)
        _check_writes(proxy, {n: "create" for n in names}, result.stderr, seed, text, stats)
        # round 2
        order = rng.sample(range(7), 7)
        ops: dict[str, str] = {}
        for i in order[:2]:
            layout.decl[names[i]] = ({"tasks.max": 2}, "RUNNING")
            ops[names[i]] = "update"
        for i in order[2:4]:
            del layout.decl[names[i]]
            ops[names[i]] = "delete"
        layout.decl[names[order[4]]] = ({}, "PAUSED")
        ops[names[order[4]]] = "pause"
        layout.decl[names[order[5]]] = ({}, "STOPPED")
        ops[names[order[5]]] = "stop"
        layout.write()  # names[order[6]] and names[7]: unchanged, must get no write
        project.plan()
        proxy.seen.clear()
        result = project.kcplan("apply", str(project.plan_file), "--verify-timeout", "120")
        text = no_crash(result, (0,), seed)
        _check_writes(proxy, ops, result.stderr, seed, text, stats)
        # round 3: a resume, alone (see Flipper)
        layout.decl[names[7]] = ({}, "RUNNING")
        desired = layout.write()
        project.plan()
        proxy.seen.clear()
        result = project.kcplan("apply", str(project.plan_file), "--verify-timeout", "120")
        text = no_crash(result, (0,), seed)
        _check_writes(proxy, {names[7]: "resume"}, result.stderr, seed, text, stats)
        # nothing to do: an apply (lost answers still on) sends no write at all
        proxy.seen.clear()
        result = project.kcplan("apply", "-e", "dev", "--auto-approve")
        text = no_crash(result, (0,), seed)
        assert "No changes" in result.stdout, f"seed {seed}\n{text}"
        assert forwarded_writes(proxy) == {} and proxy.seen, f"seed {seed}: writes with nothing to do\n{text}"
        assert rule.served > 0
        rule.active = False
        assert assert_converged(project, desired, names=names) == 0, f"seed {seed}"
    finally:
        rule.active = False
        delete_all(worker, names)
    return dict(stats)


def _check_writes(proxy: FaultProxy, ops: dict[str, str], stderr: str, seed: int, text: str,
                  stats: Counter[str]) -> None:
    """Exactly one forwarded write per planned change; a run-state write at most once more, and only
    when its first answer was lost. A config write (create/update/delete) whose answer was lost is read
    back as done, and its progress line says so."""
    got = forwarded_writes(proxy)
    faulted = {(n, m, p) for n, m, p in faulted_writes(proxy, LOST_FAULTS)}
    assert sorted(got) == sorted(ops), f"seed {seed}: writes went to {sorted(got)}, planned {sorted(ops)}\n{text}"
    for name, op in ops.items():
        want = write_for(name, op)
        lost = (name, *want) in faulted
        if op in ("pause", "resume", "stop") and len(got[name]) == 2:
            assert lost and got[name] == [want, want], f"seed {seed}: {name}: {got[name]}\n{text}"
            stats["run-state writes sent twice"] += 1
        else:
            assert got[name] == [want], f"seed {seed}: {name}: {got[name]} (planned {op})\n{text}"
        line = next((ln for ln in stderr.splitlines() if re.match(rf"^  \S {re.escape(name)}: ", ln)), "")
        if op in ("create", "update", "delete"):
            assert ("answer lost; read back: it had happened" in line) == lost, f"seed {seed}: {line!r}\n{text}"
        elif not lost:
            assert "answer lost" not in line, f"seed {seed}: {line!r}\n{text}"
    stats["lost answers"] += len(faulted)
    stats["writes"] += sum(len(w) for w in got.values())


def test_lost_answers_never_write_twice(
        tmp_path: Path, proxy: FaultProxy, connect_url: str, unique_name: Callable[..., str]) -> None:
    _each_seed("lost-answer", lambda seed: str(run_lost_answers(tmp_path / f"b-{seed}", proxy, connect_url, seed,
                                                                unique_name)), proxy.clear_random)


# -- c. non-JSON and truncated answers, one request kind at a time ---------------------------------------

# kind -> (method, path regex) of the requests kcplan sends during apply; (trigger) a lost write that
# makes kcplan read back with that request
KINDS: dict[str, tuple[str, str]] = {
    "server info": ("GET", r"^/$"),
    "names": ("GET", r"^/connectors$"),
    "expand listing": ("GET", r"^/connectors\?expand=status&expand=info$"),
    "status polls": ("GET", r"^/connectors\?expand=status$"),
    "config read-back": ("GET", r"^/connectors/[^/?]+/config$"),
    "status read-back": ("GET", r"^/connectors/[^/?]+/status$"),
    "create": ("POST", r"^/connectors$"),
    "update": ("PUT", r"^/connectors/[^/?]+/config$"),
    "delete": ("DELETE", r"^/connectors/[^/?]+$"),
    "pause": ("PUT", r"^/connectors/[^/?]+/pause$"),
    "resume": ("PUT", r"^/connectors/[^/?]+/resume$"),
    "stop": ("PUT", r"^/connectors/[^/?]+/stop$"),
}
VARIANTS: dict[str, dict[str, Any]] = {
    "nonjson 200": {"fault": "nonjson", "status": 200},
    "nonjson 500": {"fault": "nonjson", "status": 500},
    "nonjson 502": {"fault": "nonjson", "status": 502},
    "truncate": {"fault": "truncate"},
}


READS = ("server info", "names", "expand listing", "status polls", "config read-back", "status read-back")


def expected_exit(kind: str, variant: str, times: int) -> int:
    """What the client's policy makes of the fault (kcplan/connect/client.py), served ``times`` times.

    Truncated answers: a read is retried, a write was forwarded and is read back as done (answers
    without a body, e.g. pause's 202, are not cut at all). 502: a read is retried; a write is an
    unknown outcome, read back as not done and sent once more; lost twice, the step fails. 500 from
    something that is not Connect: a plain error, not retried. 200 with a page that is not JSON: a read
    fails, a write is an unknown outcome (read back, sent once more). Health polls ride out any error
    until the verify deadline. The first contact (GET /) gives up at once only when NOTHING comes back
    (a silent or wrong port must not hang); a cut-off GET / is retried like any read."""
    read = kind in READS
    if variant == "truncate" or kind == "status polls":
        return 0
    if variant == "nonjson 500":
        return 1
    if variant == "nonjson 502":
        return 0 if read or times == 1 else 1
    return 1 if read or times > 1 else 0  # nonjson 200


def c_matrix(seed: int, count: int, only: str = "", full: bool = False) -> list[tuple[str, str, int]]:
    """(kind, variant, seed) of each run: ``count`` seeded picks; with ``full`` every combination once
    (then more seeded picks up to ``count``). ``only`` (KCPLAN_APPLY_FAULT_ONLY, e.g. 'truncate' or
    'pause/nonjson 200'): just the combinations 'kind/variant' that contain one of its comma-separated parts."""
    rng = random.Random(seed)
    parts = [part.strip() for part in only.split(",") if part.strip()]
    combos = [(k, v) for k in KINDS for v in VARIANTS if not parts or any(x in f"{k}/{v}" for x in parts)]
    count = max(count, len(combos)) if full else count
    if count >= len(combos):
        rng.shuffle(combos)
        picked = combos + [rng.choice(combos) for _ in range(count - len(combos))]
    else:
        picked = rng.sample(combos, count)
    return [(k, v, seed + i) for i, (k, v) in enumerate(picked)]


class Flipper:
    """Four connectors cycling through four phases, so that every apply sends each kind of config
    write and one kind of run-state write: phase i declares upd with tasks.max 1 + i % 2 (an update),
    t0 in even and t1 in odd phases (a create and a delete), and rs RUNNING, PAUSED, RUNNING, STOPPED
    (0 -> 1 pause, 1 -> 2 resume, 2 -> 3 stop, 3 -> 0 resume).

    One run-state write per apply, never a pause or resume next to a resume: Connect 3.9's standalone
    herder deadlocks for good when a pause/resume takes its locks (config store, then herder) while the
    task reconfiguration a resume starts in the background holds them the other way round (seen here
    with a pause and a resume in one apply; jstack: MemoryConfigBackingStore.putTargetState vs
    StandaloneHerder.updateConnectorTasks). That would take the shared test worker down with it."""

    RUN_STATES = ("RUNNING", "PAUSED", "RUNNING", "STOPPED")
    NEEDS = {"pause": (1,), "resume": (2, 0), "stop": (3,)}  # the phases reached by that write

    def __init__(self, project: Project, make_name: Callable[[str], str]) -> None:
        self.project = project
        self.upd, self.t0, self.t1, self.rs = (make_name(h) for h in ("upd", "t0", "t1", "rs"))
        self.names = [self.upd, self.t0, self.t1, self.rs]
        self.phase = -1

    def layout(self, phase: int) -> Layout:
        return Layout(self.project, {
            self.upd: ({"tasks.max": 1 + phase % 2}, "RUNNING"),
            (self.t0 if phase % 2 == 0 else self.t1): ({}, "RUNNING"),
            self.rs: ({}, self.RUN_STATES[phase]),
        })

    def start(self, kind: str) -> None:
        """The first apply creates everything right in the phase before one that sends ``kind``."""
        self.go((self.NEEDS.get(kind, (1,))[0] - 1) % 4)

    def target_for(self, kind: str) -> int:
        """The next phase, once it is one whose apply sends ``kind`` (clean applies until then)."""
        while (self.phase + 1) % 4 not in self.NEEDS.get(kind, range(4)):
            self.go((self.phase + 1) % 4)
        return (self.phase + 1) % 4

    def go(self, phase: int) -> None:
        desired = self.layout(phase).write()
        self.project.plan()
        self.project.apply("--no-verify")
        assert_converged(self.project, desired, names=self.names)
        self.phase = phase

    def trigger(self, proxy: FaultProxy, kind: str) -> None:
        """Read-back kinds only happen after a lost answer: lose one (the write happens)."""
        if kind == "config read-back":
            proxy.add("PUT", rf"^/connectors/{self.upd}/config$", "timeout500")
        elif kind == "status read-back":
            proxy.add("PUT", rf"^/connectors/{self.rs}/(pause|resume|stop)$", "timeout500")


def run_bad_answer(flipper: Flipper, proxy: FaultProxy, kind: str, variant: str, seed: int) -> str:
    rng = random.Random(seed)
    project = flipper.project
    target = flipper.target_for(kind)
    layout = flipper.layout(target)
    desired = layout.write()
    project.plan()
    before = StateStore(project.state_path).load()
    times = rng.choice((1, 2, 3))
    method, path = KINDS[kind]
    proxy.seen.clear()
    flipper.trigger(proxy, kind)
    rule = proxy.add(method, path, **VARIANTS[variant], times=times)
    result = project.kcplan("apply", str(project.plan_file), "--verify-timeout", "60")
    text = no_crash(result, (0, 1, 3), seed)
    served = proxy.faults_done(rule.fault)
    assert served >= 1, f"seed {seed}: {kind}/{variant}: the fault was never served\n{text}"
    if kind.endswith("read-back"):
        assert proxy.faults_done("timeout500") == 1, f"seed {seed}: the lost write was not sent\n{text}"
    want = expected_exit(kind, variant, times)
    assert result.returncode == want, f"seed {seed}: {kind}/{variant} x{times}: expected exit {want}\n{text}"
    if result.returncode != 0:
        assert re.search(r"^Error: |^  ! \S+: .* failed: |not healthy|could not be verified",
                         result.stdout + result.stderr, re.MULTILINE), f"seed {seed}: no readable message\n{text}"
    failed = failed_names(result.stderr)
    excused = {n for n, line in failed.items() if UNKNOWN in line}
    check_state_true(project, flipper.names, excused, seed, (before.lineage, before.serial))
    rule.times = 0
    extra = assert_converged(project, desired, names=flipper.names)
    flipper.phase = target
    return f"exit {result.returncode}, fault served {served}x (of {times}), {extra} extra apply"


def test_bad_answers_of_each_request_kind(
        tmp_path: Path, proxy: FaultProxy, connect_url: str, unique_name: Callable[..., str]) -> None:
    base = base_seed(2**31)
    only = os.environ.get("KCPLAN_APPLY_FAULT_ONLY", "")
    runs = c_matrix(base, 2 if RUNS == 1 else RUNS, only, full=RUNS > 1)
    print(f"\nbad-answer scenario: {len(runs)} runs from seed {base} (KCPLAN_RELIABILITY_SEED={base})")
    flipper = Flipper(Project(tmp_path / "c", proxy.url, connect_url), unique_name)
    failures: list[str] = []
    try:
        flipper.start(runs[0][0])
        for kind, variant, seed in runs:
            proxy.rules.clear()
            try:
                outcome = run_bad_answer(flipper, proxy, kind, variant, seed)
            except (AssertionError, pytest.fail.Exception) as exc:
                failures.append(f"seed {seed} ({kind}, {variant}): {exc}")
                print(f"seed {seed}: {kind}, {variant}: FAILED")
                proxy.rules.clear()
                _recover(flipper)
                continue
            print(f"seed {seed}: {kind}, {variant}: ok; {outcome}")
    finally:
        delete_all(connect_url, flipper.names)
    assert not failures, "\n\n".join(failures)


def _recover(flipper: Flipper) -> None:
    """After a failed run: bring the project to a known phase so later runs still mean something."""
    target = (flipper.phase + 1) % 4
    flipper.layout(target).write()
    flipper.project.plan()
    flipper.project.kcplan("apply", str(flipper.project.plan_file), "--verify-timeout", "60")
    flipper.phase = target


# -- d. connections refused in the middle of an apply ----------------------------------------------------

def run_refused(root: Path, proxy: FaultProxy, worker: str, seed: int, make_name: Callable[[str], str]) -> str:
    rng = random.Random(seed)
    names = [make_name(f"d{i}") for i in range(8)]
    project = Project(root, proxy.url, worker)
    layout = Layout(project, {n: ({}, "RUNNING") for n in names})
    try:
        desired = layout.write()
        project.plan()
        proxy.seen.clear()
        # writes take a while (1 s each, all at once); the refusal starts 0-2.5 s after the first write
        # arrived: among the writes under way, or during the health verification after them
        slow = proxy.add("POST", r"^/connectors$", "delay", seconds=1.0, times=len(names))
        after, down = rng.uniform(0.0, 2.5), rng.uniform(2.0, 5.0)
        refusal = threading.Thread(target=_refuse_after_first_write, args=(proxy, slow, after, down), daemon=True)
        refusal.start()
        result = project.kcplan("apply", str(project.plan_file), "--verify-timeout", "90")
        refusal.join()
        text = no_crash(result, (0, 1, 3), seed)
        if result.returncode != 0:
            assert re.search(r"^Error: |^  ! \S+: .* failed: |not healthy|could not be verified",
                             result.stdout + result.stderr, re.MULTILINE), f"seed {seed}: no message\n{text}"
        failed = failed_names(result.stderr)
        excused = {n for n, line in failed.items() if UNKNOWN in line}
        if project.state_path.exists():
            check_state_true(project, names, excused, seed)
        else:
            assert live_configs(worker, names).keys() <= excused, f"seed {seed}: no state, but connectors\n{text}"
        extra = assert_converged(project, desired, names=names)
        return (f"exit {result.returncode} (refused {down:.1f} s from {after:.1f} s), {len(failed)} failed steps "
                f"({len(excused)} unknown outcome), {extra} extra apply")
    finally:
        delete_all(worker, names)


def _refuse_after_first_write(proxy: FaultProxy, slow: Rule, after: float, down: float) -> None:
    total, deadline = slow.times, time.monotonic() + 120
    while slow.times == total and time.monotonic() < deadline:  # the rule counts down as writes arrive
        time.sleep(0.02)
    time.sleep(after)
    proxy.down()
    time.sleep(down)
    proxy.up()


def test_connections_refused_during_apply(
        tmp_path: Path, proxy: FaultProxy, connect_url: str, unique_name: Callable[..., str]) -> None:
    _each_seed("refused-connection", lambda seed: str(run_refused(tmp_path / f"d-{seed}", proxy, connect_url, seed,
                                                                  unique_name)), proxy.rules.clear)


# -- the proxy's new modes do what the scenarios rely on ------------------------------------------------

def test_random_faults_are_repeatable_per_seed_and_refusal_reopens_the_port(connect_url: str) -> None:
    def codes(seed: int) -> list[int]:
        with FaultProxy(connect_url) as p:
            p.add_random(("rebalance", "rebalance500"), 0.3, seed=seed, method="GET")
            return [requests.get(p.url + "/connectors", timeout=30).status_code for _ in range(30)]

    first = codes(11)
    assert first == codes(11) and first != codes(12)
    assert set(first) == {200, 409, 500}
    with FaultProxy(connect_url) as p:
        p.add_random("timeout500", 1.0, seed=1, method="WRITE")
        assert requests.get(p.url + "/connectors", timeout=30).status_code == 200  # reads untouched
        p.down()
        with pytest.raises(requests.ConnectionError):
            requests.get(p.url + "/", timeout=10)
        p.up()
        assert requests.get(p.url + "/", timeout=30).status_code == 200
        assert json.loads(requests.get(p.url + "/", timeout=30).text)["version"]
        assert [(s.method, s.path, s.forwarded) for s in p.seen][-1] == ("GET", "/", True)



def test_a_page_that_is_not_json_answering_a_write_is_an_unknown_outcome(
        proxy: FaultProxy, unique_name: Callable[..., str], tmp_path: Path) -> None:
    """A login page or gateway answering 200 to a write has not been shown to pass it on: kcplan must not
    take it for done (it used to: the state then recorded a create, delete or pause that never happened)."""
    from kcplan.connect.client import ConnectClient
    from kcplan.errors import UnknownOutcome

    name = unique_name()
    config = {"connector.class": "org.apache.kafka.connect.file.FileStreamSourceConnector",
              "file": str(tmp_path / "in.txt"), "topic": f"{name}-t", "tasks.max": "1"}
    client = ConnectClient([proxy.url])
    proxy.add("POST", r"^/connectors$", "nonjson", status=200)
    with pytest.raises(UnknownOutcome) as info:
        client.create(name, config)
    assert "not from Kafka Connect" in info.value.message and "Please sign in" in info.value.message
    assert name not in client.connector_names()  # the page answered; the worker never saw the write
    client.create(name, config)
    proxy.add("PUT", rf"^/connectors/{name}/pause$", "nonjson", status=200)
    with pytest.raises(UnknownOutcome):
        client.pause(name)
    assert client.status(name).state == "RUNNING"
    proxy.add("DELETE", rf"^/connectors/{name}$", "nonjson", status=200)
    with pytest.raises(UnknownOutcome):
        client.delete(name)
    assert name in client.connector_names()
    client.delete(name)  # empty answers (204) stay fine
    assert name not in client.connector_names()
