"""heal's attempts record beside a local state: round trip, 0600, missing = empty, unreadable = a
StateError naming it. (Beside an S3 state: tests/integration/test_heal_cli.py.)"""

from __future__ import annotations

from pathlib import Path

import pytest

from kcplan.errors import StateError
from kcplan.heal import attempts
from kcplan.heal.policy import Attempts
from kcplan.state.backends.local import LocalBackend


def test_the_record_is_beside_the_state() -> None:
    backend = LocalBackend(Path("/x/.kcplan/prod.state.json"))
    assert backend.companion_location(attempts.SUFFIX) == "/x/.kcplan/prod.state.json.heal.json"


def test_round_trip_and_mode(tmp_path: Path) -> None:
    backend = LocalBackend(tmp_path / "sub" / "dev.state.json")
    path = tmp_path / "sub" / "dev.state.json.heal.json"
    record = {"b": Attempts(2, 1.5, True, (0, 3), healthy_since=9.0), "a": Attempts(1, 2.0)}
    attempts.save(backend, record)
    assert attempts.load(backend) == record
    assert path.stat().st_mode & 0o777 == 0o600
    assert path.read_text() == """\
{
  "format_version": 1,
  "connectors": {
    "a": {
      "restarts": 1,
      "last_restart": 2.0,
      "connector_failed": false,
      "tasks": [],
      "healthy_since": null
    },
    "b": {
      "restarts": 2,
      "last_restart": 1.5,
      "connector_failed": true,
      "tasks": [
        0,
        3
      ],
      "healthy_since": 9.0
    }
  }
}
"""
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temp file left


def test_missing_is_empty(tmp_path: Path) -> None:
    assert attempts.load(LocalBackend(tmp_path / "none.state.json")) == {}


@pytest.mark.parametrize("text, detail", [
    ("{not json", "Expecting property name"),
    ('{"format_version": 2, "connectors": {}}', "not a format_version 1 attempts file"),
    ('{"format_version": 1, "connectors": []}', "'connectors' is not an object"),
    ('{"format_version": 1, "connectors": {"a": {"restarts": 1}}}', "'last_restart'"),
])
def test_unreadable_names_the_file_and_the_next_step(tmp_path: Path, text: str, detail: str) -> None:
    path = tmp_path / "dev.state.json.heal.json"
    path.write_text(text)
    with pytest.raises(StateError) as caught:
        attempts.load(LocalBackend(tmp_path / "dev.state.json"))
    assert caught.value.message.startswith(f"cannot read heal's attempts file {path}: ")
    assert detail in caught.value.message
    assert caught.value.hint.startswith(f"Fix or delete {path} ")


def test_not_utf8_is_unreadable(tmp_path: Path) -> None:
    (tmp_path / "dev.state.json.heal.json").write_bytes(b"\xff\xfe")
    with pytest.raises(StateError) as caught:
        attempts.load(LocalBackend(tmp_path / "dev.state.json"))
    assert caught.value.message.startswith(f"cannot read heal's attempts file {tmp_path}/dev.state.json.heal.json: ")


def test_a_failed_write_names_the_file_and_what_heal_did(tmp_path: Path) -> None:
    (tmp_path / "blocker").write_text("a file where the state folder should be")
    backend = LocalBackend(tmp_path / "blocker" / "dev.state.json")
    with pytest.raises(StateError) as caught:
        attempts.save(backend, {"a": Attempts(1, 2.0)})
    assert caught.value.message == f"could not write {tmp_path}/blocker/dev.state.json.heal.json: File exists"
    assert caught.value.hint == ("heal stopped: no further restart was sent, and restarts sent before are not "
                                 "recorded (the next run may restart sooner than the backoff allows). Check free "
                                 f"space and permissions of {tmp_path}/blocker.")
