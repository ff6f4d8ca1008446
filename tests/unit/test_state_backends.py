"""The pure parts of the state backends: lock records, lock ids, the state settings, copy_in's rules
(on the local backend; the S3 backend runs against a real S3 server in tests/integration/test_state_s3.py)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import ValidationError

from kcplan.config.environment import Settings
from kcplan.errors import StateError
from kcplan.state.backends.base import check_lock_id
from kcplan.state.lock import LockInfo
from kcplan.state.model import State
from kcplan.state.store import StateStore

HOLDER = LockInfo(4242, "runner-7", "ci", "apply", "2026-12-07T10:00:00Z", "1b4e28ba-2fa1-11d2-883f-0016d3cca427")


def test_lock_record_round_trips_through_its_json() -> None:
    raw = ('{"pid": 4242, "host": "runner-7", "user": "ci", "command": "apply", "since": "2026-12-07T10:00:00Z", '
           '"lock_id": "1b4e28ba-2fa1-11d2-883f-0016d3cca427"}')
    assert LockInfo.from_json(raw) == HOLDER
    assert LockInfo.from_json(raw.encode()) == HOLDER


@pytest.mark.parametrize("raw", ["", "null", "[]", '{"pid": "x"}', "{not json", '{"pid": 1, "host": "h"}'])
def test_what_is_not_a_lock_record_reads_as_none(raw: str) -> None:
    assert LockInfo.from_json(raw) is None


def test_a_record_from_before_lock_ids_has_an_empty_id() -> None:
    raw = '{"pid": 1, "host": "h", "user": "u", "command": "plan", "since": "2026-01-01T00:00:00Z"}'
    assert LockInfo.from_json(raw) == LockInfo(1, "h", "u", "plan", "2026-01-01T00:00:00Z", "")


def test_age_is_measured_from_since() -> None:
    assert HOLDER.age_seconds(datetime(2026, 12, 7, 10, 5, 30, tzinfo=UTC)) == 330.0
    assert LockInfo(1, "h", "u", "c", "yesterday").age_seconds() is None


def test_a_fresh_lock_record_names_this_process_and_a_new_id() -> None:
    one, two = LockInfo.current("apply"), LockInfo.current("apply")
    assert one.command == "apply" and one.pid == two.pid and one.lock_id != two.lock_id and len(one.lock_id) == 36


def test_force_unlock_of_another_lock_id_is_refused_with_the_id_that_is_there() -> None:
    with pytest.raises(StateError) as err:
        check_lock_id("0000", HOLDER, "s3://b/k")
    assert err.value.message == ("the lock of s3://b/k has the id 1b4e28ba-2fa1-11d2-883f-0016d3cca427, not 0000: "
                                 "it is another lock now, taken by 'kcplan apply' (pid 4242 on host runner-7, "
                                 "user ci) since 2026-12-07T10:00:00Z")
    assert err.value.hint == ("Nothing was removed. If that holder is gone too, run 'kcplan state force-unlock "
                              "1b4e28ba-2fa1-11d2-883f-0016d3cca427'.")
    check_lock_id(HOLDER.lock_id, HOLDER, "s3://b/k")  # the right id, no lock, or no id given: no error
    check_lock_id("0000", None, "s3://b/k")
    check_lock_id(None, HOLDER, "s3://b/k")


def test_state_settings_default_to_local_and_s3_needs_bucket_and_key() -> None:
    assert Settings.model_validate({"connect_url": "http://c:8083"}).state.backend == "local"
    s3 = Settings.model_validate({"connect_url": "http://c:8083", "state": {
        "backend": "s3", "bucket": "acme-kcplan", "key": "prod/kcplan.state.json", "region": "eu-west-1"}}).state
    assert (s3.bucket, s3.key, s3.region, s3.endpoint_url, s3.timeout) == (
        "acme-kcplan", "prod/kcplan.state.json", "eu-west-1", None, 30.0)
    with pytest.raises(ValidationError) as err:
        Settings.model_validate({"connect_url": "http://c:8083", "state": {"backend": "s3", "bucket": "acme"}})
    assert "the s3 state backend needs 'bucket' and 'key'" in str(err.value)
    with pytest.raises(ValidationError):
        Settings.model_validate({"connect_url": "http://c:8083", "state": {"backend": "gcs"}})


def saved(store: StateStore, cluster: str = "c1") -> State:
    with store.locked("test"):
        return store.save(State(kafka_cluster_id=cluster).with_salt("ab" * 16))


def test_copy_in_writes_the_state_as_it_is_once(tmp_path: Path) -> None:
    source = saved(StateStore(tmp_path / "a.json"))
    target = StateStore(tmp_path / "b.json")
    with target.locked("state migrate"):
        assert target.copy_in(source) is True
        assert target.copy_in(source) is False
    assert target.load() == source and target.load().serial == 1


def test_copy_in_refuses_another_lineage_and_a_newer_serial(tmp_path: Path) -> None:
    source = saved(StateStore(tmp_path / "a.json"))
    other = StateStore(tmp_path / "b.json")
    there = saved(other)
    with other.locked("state migrate"), pytest.raises(StateError) as err:
        other.copy_in(source)
    assert err.value.message == (f"{tmp_path / 'b.json'} holds another state (lineage {there.lineage}, serial 1), "
                                 f"not a copy of lineage {source.lineage}")
    newer = StateStore(tmp_path / "c.json")
    with newer.locked("state migrate"):
        newer.copy_in(source.model_copy(update={"serial": 5}))
        with pytest.raises(StateError) as err:
            newer.copy_in(source)
    assert err.value.message == f"{tmp_path / 'c.json'} holds a newer serial (5) of this state than the source (1)"
    assert other.load() == there  # nothing written by the refusals
