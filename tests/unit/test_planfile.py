"""The saved plan file: round trip, 0600, versioning, corruption and edits detected, no secrets."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from kcplan.errors import PlanError
from kcplan.plan import planfile
from kcplan.plan.model import Action
from tests.unit.test_planner import live, plan, prior, rec, spec

CREATED = "2025-02-03T04:05:06Z"


def secret_plan():  # type: ignore[no-untyped-def]
    return plan([spec("a", {"db.password": "TOPSECRET-1", "topic": "t"}), spec("b", {"api.key": "TOPSECRET-2"})],
                prior(rec("a", {"db.password": "TOPSECRET-3", "topic": "t"})),
                [live("a", {"db.password": "TOPSECRET-4", "topic": "t"}), live("m", {"token": "TOPSECRET-5"})])


def test_round_trip_gives_the_same_plan(tmp_path: Path) -> None:
    p = secret_plan()
    path = tmp_path / "plan.out"
    planfile.write(path, p, CREATED)
    saved = planfile.read(path)
    assert saved.plan == p
    assert (saved.kcplan_version, saved.created_at, saved.format_version) == ("0.1.0", CREATED, 1)
    assert [c.action for c in saved.plan.changes] == [Action.UPDATE, Action.CREATE]


def test_file_layout(tmp_path: Path) -> None:
    path = tmp_path / "plan.out"
    planfile.write(path, secret_plan(), CREATED)
    doc = json.loads(path.read_text())
    assert list(doc) == ["kind", "format_version", "kcplan_version", "created_at", "checksum", "plan"]
    assert (doc["kind"], doc["format_version"]) == ("kcplan-plan", 1)
    assert doc["checksum"].startswith("sha256:") and len(doc["checksum"]) == 7 + 64
    body = doc["plan"]
    assert (body["env"], body["kafka_cluster_id"], body["state_lineage"], body["state_serial"]) == (
        "dev", "cluster-A", "lin-1", 7)
    assert body["changes"][0]["live_fingerprint"].startswith("hmac-sha256:")
    assert body["changes"][0]["desired_config"]["db.password"].startswith("hmac-sha256:")


def test_written_0600_whatever_the_umask(tmp_path: Path, umask_000: None) -> None:
    path = tmp_path / "plan.out"
    planfile.write(path, secret_plan(), CREATED)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    path.chmod(0o644)
    planfile.write(path, secret_plan(), CREATED)  # replaced, not rewritten in place
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["plan.out"]  # no temp file left


def test_no_plaintext_secret_in_the_file(tmp_path: Path) -> None:
    path = tmp_path / "plan.out"
    planfile.write(path, secret_plan(), CREATED)
    assert "TOPSECRET" not in path.read_text()


def _expect_error(path: Path, text: str) -> str:
    with pytest.raises(PlanError) as err:
        planfile.read(path)
    assert text in err.value.message, err.value.message
    assert "kcplan plan" in err.value.hint
    return err.value.message


def test_truncated_file(tmp_path: Path) -> None:
    path = tmp_path / "plan.out"
    planfile.write(path, secret_plan(), CREATED)
    path.write_bytes(path.read_bytes()[:200])
    _expect_error(path, f"the plan file {path} is not valid JSON (truncated or edited?)")


def test_edited_file_is_detected_by_checksum(tmp_path: Path) -> None:
    path = tmp_path / "plan.out"
    planfile.write(path, secret_plan(), CREATED)
    doc = json.loads(path.read_text())
    doc["plan"]["changes"][0]["action"] = "delete"
    path.write_text(json.dumps(doc))
    _expect_error(path, f"the plan file {path} was changed after kcplan wrote it (checksum mismatch)")


def test_edited_file_with_a_fixed_checksum_still_fails_validation(tmp_path: Path) -> None:
    path = tmp_path / "plan.out"
    planfile.write(path, secret_plan(), CREATED)
    doc = json.loads(path.read_text())
    doc["plan"]["changes"][0]["action"] = "explode"
    doc["checksum"] = planfile.checksum(doc["plan"])
    path.write_text(json.dumps(doc))
    _expect_error(path, f"the plan file {path} is broken at changes.0.action:")


def test_other_files_and_versions(tmp_path: Path) -> None:
    path = tmp_path / "x.json"
    path.write_text('{"hello": 1}')
    _expect_error(path, f"{path} is not a kcplan plan file")
    path.write_text('[1, 2]')
    _expect_error(path, f"{path} is not a kcplan plan file")
    planfile.write(path, secret_plan(), CREATED)
    doc = json.loads(path.read_text())
    doc["format_version"] = 2
    path.write_text(json.dumps(doc))
    _expect_error(path, f"the plan file {path} has format version 2; this kcplan (0.1.0) reads version 1")
    _expect_error(tmp_path / "missing.out", f"the plan file {tmp_path / 'missing.out'} does not exist")
    (tmp_path / "bin.out").write_bytes(b"\xff\xfe\x00")
    _expect_error(tmp_path / "bin.out", "is not valid JSON")


def test_unwritable_destination_is_a_plan_error(tmp_path: Path) -> None:
    with pytest.raises(PlanError) as err:
        planfile.write(tmp_path / "no-such-dir" / "plan.out", secret_plan(), CREATED)
    assert err.value.message.startswith(f"could not write the plan file {tmp_path / 'no-such-dir' / 'plan.out'}")
