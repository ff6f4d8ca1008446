"""The state store: atomic 0600 writes, backup, serial/lineage rules, corrupt files, failed writes."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from kcplan.config.sensitive import SensitiveKeys
from kcplan.errors import StateError
from kcplan.state.digest import digest, is_digest
from kcplan.state.model import ManagedConnector, State
from kcplan.state.store import StateStore
from tests.helpers import SRC

SK = SensitiveKeys()


def record(name: str, salt: str, **config: str) -> ManagedConnector:
    return ManagedConnector.record(name, {"connector.class": SRC, **config}, sensitive=SK, salt=salt,
                                   applied_at="2025-01-01T00:00:00Z")


def first_save(store: StateStore) -> State:
    with store.locked("test"):
        return store.save(State(kafka_cluster_id="cluster-A").with_salt("ab" * 16)
                          .with_connector(record("a", "ab" * 16, topic="t")))


def test_missing_file_is_an_empty_state(tmp_path: Path) -> None:
    state = StateStore(tmp_path / ".kcplan" / "dev.state.json").load()
    assert state == State() and not state.exists and state.connectors == {}


def test_first_write_creates_lineage_serial_1_and_mode_0600(tmp_path: Path, umask_000: None) -> None:
    store = StateStore(tmp_path / ".kcplan" / "dev.state.json")
    saved = first_save(store)
    assert saved.serial == 1 and saved.digest_salt == "ab" * 16
    assert saved.lineage is not None and str(uuid.UUID(saved.lineage)) == saved.lineage
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o600
    assert stat.S_IMODE(store.lock_path.stat().st_mode) == 0o600
    assert not store.backup_path.exists()
    doc = json.loads(store.path.read_text())
    assert doc == {
        "format_version": 1, "lineage": saved.lineage, "serial": 1, "kafka_cluster_id": "cluster-A",
        "digest_salt": "ab" * 16,
        "connectors": {"a": {"name": "a", "config": {"connector.class": SRC, "name": "a", "topic": "t"},
                             "state": "RUNNING", "prevent_destroy": False,
                             "applied_at": "2025-01-01T00:00:00Z"}},
    }
    assert StateStore(store.path).load() == saved


def test_a_new_state_without_salt_gets_a_random_one(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "s.json")
    with store.locked("test"):
        a = store.save(State())
    other = StateStore(tmp_path / "t.json")
    with other.locked("test"):
        b = other.save(State())
    assert a.digest_salt and b.digest_salt and a.digest_salt != b.digest_salt and a.lineage != b.lineage


def test_serial_increments_lineage_stays_and_backup_keeps_the_previous(tmp_path: Path, umask_000: None) -> None:
    store = StateStore(tmp_path / "dev.state.json")
    one = first_save(store)
    before = store.path.read_bytes()
    with store.locked("test"):
        two = store.save(one.with_connector(record("b", one.digest_salt or "", topic="u")))
        three = store.save(two.without("a"))
    assert (two.serial, three.serial) == (2, 3)
    assert one.lineage == two.lineage == three.lineage
    assert json.loads(store.backup_path.read_text())["serial"] == 2
    assert stat.S_IMODE(store.backup_path.stat().st_mode) == 0o600
    assert sorted(StateStore(store.path).load().connectors) == ["b"]
    assert before != store.path.read_bytes()
    leftovers = sorted(p.name for p in tmp_path.iterdir())
    assert leftovers == ["dev.state.json", "dev.state.json.backup", "dev.state.json.lock"]


def test_unchanged_content_writes_nothing(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "dev.state.json")
    one = first_save(store)
    mtime = store.path.stat().st_mtime_ns
    with store.locked("test"):
        again = store.save(store.load())
    assert again.serial == one.serial == 1 and store.path.stat().st_mtime_ns == mtime
    assert not store.backup_path.exists()


def test_save_needs_the_lock(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "dev.state.json")
    with pytest.raises(StateError) as err:
        store.save(State())
    assert "without holding its lock" in err.value.message
    assert not store.path.exists()


def test_save_refuses_a_state_that_is_not_based_on_the_stored_one(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "dev.state.json")
    one = first_save(store)
    with store.locked("test"):
        store.save(one.with_connector(record("b", "ab" * 16)))
        with pytest.raises(StateError) as err:
            store.save(one.without("a"))  # still serial 1: stale
        assert "changed since it was read" in err.value.message
        with pytest.raises(StateError):
            store.save(State())  # a new lineage over an existing file
    assert sorted(store.load().connectors) == ["a", "b"]


def test_secrets_are_stored_only_as_digests(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "dev.state.json")
    salt = "cd" * 16
    rec = record("a", salt, **{"db.password": "PLAIN-SECRET", "file.ref": "x",
                               "sasl.jaas.config": "${file:/etc/jaas.properties:cfg}"})
    with store.locked("test"):
        store.save(State().with_salt(salt).with_connector(rec))
    text = store.path.read_text()
    assert "PLAIN-SECRET" not in text
    cfg = json.loads(text)["connectors"]["a"]["config"]
    assert cfg["db.password"] == digest("PLAIN-SECRET", salt) and is_digest(cfg["db.password"])
    assert cfg["sasl.jaas.config"] == "${file:/etc/jaas.properties:cfg}"  # placeholders as written
    assert cfg["file.ref"] == "x"


def test_corrupt_file_names_the_file_and_the_backup(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "dev.state.json")
    first_save(store)
    store.path.write_text('{"format_version": 1, "lineage": ')
    with pytest.raises(StateError) as err:
        store.load()
    assert err.value.message.startswith(f"the state file {store.path} is corrupt: not valid JSON")
    assert "no backup exists" not in err.value.hint.lower() and "There is no backup" in err.value.hint
    shutil.copy(store.path, store.backup_path)
    store.path.write_text('{"format_version": 1, "lineage": "x", "serial": "many"}')
    with pytest.raises(StateError) as err:
        StateStore(store.path).load()
    assert err.value.message == f"the state file {store.path} is corrupt: serial: Input should be a valid integer, " \
                                "unable to parse string as an integer"
    assert f"The previous state is in {store.backup_path}" in err.value.hint


def test_other_corruptions(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "dev.state.json")
    for text, detail in [("[]", "the top level is not a JSON object"),
                         ('{"serial": 1}', "'lineage' or 'digest_salt' is missing"),
                         ("", "not valid JSON"),
                         ('{"lineage": "l", "digest_salt": "s", "connectors": {"a": {"name": "a", '
                          '"config": {"k": null}}}}', "connectors.a.config")]:
        store.path.write_text(text)
        with pytest.raises(StateError) as err:
            StateStore(store.path).load()
        assert detail in err.value.message


def test_state_written_by_a_newer_kcplan(tmp_path: Path) -> None:
    path = tmp_path / "dev.state.json"
    path.write_text('{"format_version": 2, "lineage": "l", "serial": 3}')
    with pytest.raises(StateError) as err:
        StateStore(path).load()
    assert err.value.message == f"the state file {path} has format version 2; this kcplan reads version 1 only"


def test_numbers_and_booleans_in_a_hand_edited_state_become_strings(tmp_path: Path) -> None:
    path = tmp_path / "dev.state.json"
    path.write_text(json.dumps({"format_version": 1, "lineage": "l", "serial": 3, "digest_salt": "ab",
                                "connectors": {"a": {"name": "a", "config": {"tasks.max": 2, "x": False,
                                                                             "r": 1.5}}}}))
    assert StateStore(path).load().connectors["a"].config == {"tasks.max": "2", "x": "false", "r": "1.5"}


@pytest.fixture
def read_only_folder() -> Iterator[Path]:
    """A folder where no new file can be created: chmod 0555 for a normal user; for root (whom
    permissions do not stop) the immutable attribute (chattr +i)."""
    base = Path(tempfile.mkdtemp(prefix="kcplan-ro-"))
    yield base
    if os.geteuid() == 0:
        subprocess.run(["chattr", "-i", str(base)], check=False)
    os.chmod(base, 0o755)
    shutil.rmtree(base)


def _make_read_only(base: Path) -> None:
    if os.geteuid() == 0:
        if not shutil.which("chattr"):
            pytest.fail("running as root needs chattr to make a folder read-only")
        subprocess.run(["chattr", "+i", str(base)], check=True)
    else:
        os.chmod(base, 0o555)


def test_write_into_a_read_only_folder_fails_cleanly_and_keeps_the_state(read_only_folder: Path) -> None:
    store = StateStore(read_only_folder / "dev.state.json")
    one = first_save(store)
    before = store.path.read_bytes()
    _make_read_only(read_only_folder)
    with store.locked("test"), pytest.raises(StateError) as err:
        store.save(one.without("a"))
    reason = err.value.message.removeprefix(f"could not write the state file {store.path}: ")
    assert reason in ("Permission denied", "Operation not permitted"), err.value.message
    assert err.value.hint == ("Nothing was changed: the previous state file is intact. Check free space and "
                              f"permissions of {read_only_folder}, then run the command again.")
    assert store.path.read_bytes() == before
    assert StateStore(store.path).load() == one
    assert sorted(p.name for p in read_only_folder.iterdir()) == ["dev.state.json", "dev.state.json.lock"]


def test_update_from_many_threads_loses_no_change(tmp_path: Path) -> None:
    """apply saves after every finished action, from several threads at once."""
    from concurrent.futures import ThreadPoolExecutor

    store = StateStore(tmp_path / "dev.state.json")
    first_save(store)
    with store.locked("apply"), ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda i: store.update(lambda s: s.with_connector(record(f"c{i:02d}", "ab" * 16))),
                      range(24)))
    final = StateStore(store.path).load()
    assert final.serial == 25 and len(final.connectors) == 25


def test_taking_the_lock_removes_temp_files_a_killed_writer_left(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "dev.state.json")
    with store.locked("apply"):
        store.save(State(connectors={"a": ManagedConnector(name="a", config={"x": "1"})}))
    stale = [tmp_path / ".dev.state.json.tmp-4242-deadbeef", tmp_path / ".dev.state.json.backup.tmp-4242-cafe"]
    others = [tmp_path / ".prod.state.json.tmp-1-ab", tmp_path / "dev.state.json.tmp-notours",
              tmp_path / ".dev.state.json.lock.tmp-1-ab"]
    for path in stale + others:
        path.write_text("{half a sta")
    with store.locked("plan"):
        assert [p.name for p in stale if p.exists()] == []
        assert [p.exists() for p in others] == [True, True, True]
        assert store.load().connectors["a"].config == {"x": "1"}
