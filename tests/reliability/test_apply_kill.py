"""SIGKILL at a random moment of a 20-connector apply (see applykill.py for what each run checks).

CI runs KCPLAN_RELIABILITY_RUNS (default 3) kills on one project against the real standalone worker:
the first one during the project's first apply (no state file yet), the others during mixed applies
(deletes, creates, updates, run-state changes, replaces). bench/reliability/run_apply_kills.py runs
200 and writes the results. The seed is printed (and part of every failure message);
KCPLAN_RELIABILITY_SEED repeats a run.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from kcplan.state.model import State
from tests.helpers import SINK, SRC
from tests.reliability.applykill import Problem, Report, Scenario, Want, expected_actions, parse_state, phase_of
from tests.reliability.seeds import base_seed

RUNS = int(os.environ.get("KCPLAN_RELIABILITY_RUNS", "3"))


def test_sigkill_at_a_random_moment_of_an_apply_loses_nothing(
        tmp_path: Path, connect_url: str, unique_name: Callable[..., str]) -> None:
    seed = base_seed()
    print(f"\napply kill test: seed {seed} (KCPLAN_RELIABILITY_SEED={seed} repeats it), {RUNS} runs")
    scenario = Scenario(tmp_path / "proj", connect_url, lambda: unique_name("k"), random.Random(seed))
    report = Report(seed)
    began = time.monotonic()
    try:
        for index in range(RUNS):
            result = scenario.run(index)
            report.results.append(result)
            print(f"  run {index} ({result.kind}, {result.steps} steps, P={result.parallelism}, {result.moment}): "
                  f"killed in {result.phase}, serial {result.serial_before}->{result.serial_after}, "
                  f"{result.tmp_left} temp files, next plan {result.cluster_work} cluster + {result.state_work} "
                  f"state-only")
            if result.problem:
                break  # the project is in an unknown state now; later runs would only repeat the failure
    finally:
        scenario.close()
        report.seconds = time.monotonic() - began
    print(report.summary())
    problems = [f"run {r.index} ({r.kind}, {r.moment}, killed in {r.phase}): {r.problem}" for r in report.failed]
    assert not problems, f"seed {seed}: " + "\n".join(problems)
    assert [r.kind for r in report.results] == ["first apply"] + ["mixed"] * (RUNS - 1)
    # every run planned work and its apply started; the state never went back over the runs
    assert all(r.steps > 0 or r.phase == "startup" for r in report.results), report.results
    serials = [s for r in report.results for s in (r.serial_before, r.serial_after) if s is not None]
    assert serials == sorted(serials), f"seed {seed}: serials {serials}"


# -- the checker itself catches what it must (literal inputs) -------------------------------------------------

CFG = {"name": "a", "connector.class": SRC, "file": "/tmp/a.txt", "topic": "a-topic", "tasks.max": "1"}


def _records(**states: str) -> dict[str, dict[str, object]]:
    return {n: {"name": n, "config": {**CFG, "name": n}, "state": s} for n, s in states.items()}


def _want(name: str, state: str = "RUNNING", **extra: str) -> Want:
    return Want({**CFG, "name": name, **extra}, state)


def test_expected_actions_where_cluster_and_code_differ() -> None:
    desired = {"new": _want("new"), "upd": _want("upd", topic="moved"), "pau": _want("pau", "PAUSED"),
               "res": _want("res"), "stp": _want("stp", "STOPPED"),
               "rep": Want({**CFG, "name": "rep", "connector.class": SINK}, "RUNNING")}
    live = {n: {**CFG, "name": n} for n in ("upd", "pau", "res", "stp", "rep", "gone")}
    run_states = {"upd": "RUNNING", "pau": "RUNNING", "res": "PAUSED", "stp": "RUNNING", "rep": "RUNNING",
                  "gone": "RUNNING"}
    records = _records(upd="RUNNING", pau="RUNNING", res="PAUSED", stp="RUNNING", rep="RUNNING", gone="RUNNING",
                       old="RUNNING")
    names = ["new", "upd", "pau", "res", "stp", "rep", "gone", "old", "other"]
    actions, conflicts = expected_actions(desired, names, live, run_states, records)
    assert actions == {"new": "create", "upd": "update", "pau": "pause", "res": "resume", "stp": "stop",
                       "rep": "replace", "gone": "delete", "old": "forget"}
    assert conflicts == set()


def test_expected_actions_where_only_the_state_lags() -> None:
    desired = {"landed": _want("landed"), "updated": _want("updated", topic="moved"), "same": _want("same"),
               "paused": _want("paused", "PAUSED")}
    live = {"landed": {**CFG, "name": "landed"}, "updated": {**CFG, "name": "updated", "topic": "moved"},
            "same": {**CFG, "name": "same"}, "paused": {**CFG, "name": "paused"}}
    run_states = {"landed": "RUNNING", "updated": "RUNNING", "same": "RUNNING", "paused": "PAUSED"}
    records = _records(updated="RUNNING", same="RUNNING", paused="RUNNING")
    actions, conflicts = expected_actions(desired, list(desired), live, run_states, records)
    assert actions == {"landed": "adopt", "updated": "adopt", "paused": "adopt"}  # 'same': nothing to do
    assert conflicts == set()


def test_expected_actions_unmanaged_and_different_is_a_conflict() -> None:
    desired = {"x": _want("x", topic="mine")}
    actions, conflicts = expected_actions(desired, ["x"], {"x": {**CFG, "name": "x"}}, {"x": "RUNNING"}, {})
    assert (actions, conflicts) == ({}, {"x"})


def test_phase_of_reads_the_progress_output() -> None:
    start = ["Applying 3 change(s) to environment 'dev' (4 step(s), up to 2 at a time):"]
    steps = ["  + a: created (0.1 s)  [1/4]", "  ~ b: updated (0.3 s)  [2/4]"]
    assert phase_of([], False) == "startup"
    assert phase_of(start, False) == "steps 0/4"
    assert phase_of(start + steps, False) == "steps 2/4"
    assert phase_of(start + steps + ["", "Verifying the health of 2 connector(s) (up to 120 s):"], False) \
        == "verification"
    assert phase_of(start + steps, True) == "after the end"


def test_parse_state_rejects_broken_files() -> None:
    good = State(lineage="l-1", serial=3, digest_salt="ab" * 16).to_json().encode()
    assert parse_state(good, "x").serial == 3
    for raw, why in ((good[: len(good) // 2], "not valid JSON"), (b"", "not valid JSON"),
                     (b'{"serial": "three"}', "not a valid State"),
                     (State(serial=3).to_json().encode(), "lineage or digest_salt missing")):
        with pytest.raises(Problem, match=why):
            parse_state(raw, "x")
