"""SIGKILL during state writes: zero broken state files (see statekill.py for what each run checks).

CI runs KCPLAN_RELIABILITY_RUNS (default 20) kills; bench/reliability/run_state_kills.py runs 1,000 and
writes the results. The seed is printed (and part of every failure message); KCPLAN_RELIABILITY_SEED
repeats a run.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from kcplan.state.model import State
from tests.reliability.seeds import base_seed
from tests.reliability.state_writer import content_for
from tests.reliability.statekill import LINEAGE, SALT, check_files, initial_state, run_kills

RUNS = int(os.environ.get("KCPLAN_RELIABILITY_RUNS", "20"))


def test_sigkill_during_state_writes_never_breaks_the_state(tmp_path: Path) -> None:
    seed = base_seed()
    print(f"\nstate kill test: seed {seed} (KCPLAN_RELIABILITY_SEED={seed} repeats it), {RUNS} runs")
    report = run_kills(tmp_path, RUNS, seed)
    print(report.summary())
    problems = [f"run {r.index} (killed {r.delay:.3f} s after ready): {r.problem}" for r in report.broken]
    assert not problems, f"seed {seed}: " + "; ".join(problems)
    # the runs really wrote: a test that killed idle writers would prove nothing
    assert report.writes >= RUNS, f"seed {seed}: only {report.writes} saves in {RUNS} runs"
    serials = [r.serial for r in report.results]
    assert all(s is not None for s in serials) and serials == sorted(serials), serials  # type: ignore[type-var]


# -- the checker itself catches what it must (literal broken files) -----------------------------------------

@pytest.fixture
def good(tmp_path: Path) -> Path:
    path = tmp_path / ".kcplan" / "dev.state.json"
    initial_state(path)
    return path


def test_checker_accepts_a_good_state(good: Path) -> None:
    assert check_files(good, LINEAGE, 1) == (1, None)


def test_checker_reports_a_truncated_state(good: Path) -> None:
    good.write_bytes(good.read_bytes()[:1000])
    serial, problem = check_files(good, LINEAGE, 1)
    assert serial is None and problem is not None and problem.startswith("state file broken:")


def test_checker_reports_an_empty_or_missing_state(good: Path) -> None:
    good.write_bytes(b"")
    assert (check_files(good, LINEAGE, 1)[1] or "").startswith("state file broken:")
    good.unlink()
    assert check_files(good, LINEAGE, 1) == (None, "state file missing")


def test_checker_reports_serial_going_back_and_other_lineage(good: Path) -> None:
    assert check_files(good, LINEAGE, 2) == (1, "serial went back: 1 on disk, 2 was saved before")
    other = LINEAGE.replace("c0de", "beef")
    assert check_files(good, other, 1) == (1, f"state file: lineage changed to {LINEAGE}")


def test_checker_reports_content_of_another_serial(good: Path) -> None:
    text = good.read_text().replace('"serial": 1,', '"serial": 2,')
    good.write_text(text)
    assert content_for(1, SALT) != content_for(2, SALT)
    assert check_files(good, LINEAGE, 1) == (2, "state file: content is not what serial 2 was saved with")


def test_checker_reports_a_broken_backup(good: Path) -> None:
    backup = good.with_name(good.name + ".backup")
    backup.write_text(good.read_text()[:-20])
    assert (check_files(good, LINEAGE, 1)[1] or "").startswith("backup broken:")


def test_checker_reports_a_backup_newer_than_the_state(good: Path) -> None:
    backup = good.with_name(good.name + ".backup")
    backup.write_text(good.read_text())
    assert check_files(good, LINEAGE, 1) == (1, None)  # same serial: a kill between link and rename
    newer = State(lineage=LINEAGE, serial=2, kafka_cluster_id="kill-test", digest_salt=SALT,
                  connectors=content_for(2, SALT))
    backup.write_text(newer.to_json())
    assert check_files(good, LINEAGE, 1) == (1, "backup serial 2 is newer than the state's 1")
