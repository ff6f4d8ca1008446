"""kcplan.plan.drift: live cluster vs state, from literal states and live connectors."""

from __future__ import annotations

from kcplan.config.sensitive import MASK, SensitiveKeys
from kcplan.connect.models import ConnectorStatus, LiveConnector, TaskStatus
from kcplan.plan import drift
from kcplan.plan.model import Drift, KeyChange, RunState
from kcplan.state.model import ManagedConnector, State
from tests.helpers import SRC

SALT = "00112233445566778899aabbccddeeff"
SENSITIVE = SensitiveKeys()
BASE = {"connector.class": SRC, "file": "/tmp/in.txt", "topic": "t", "tasks.max": "1"}


def record(name: str, config: dict[str, str], state: RunState = "RUNNING",
           sensitive: SensitiveKeys = SENSITIVE) -> ManagedConnector:
    return ManagedConnector.record(name, config, sensitive=sensitive, salt=SALT, state=state,
                                   applied_at="2025-01-01T00:00:00Z")


def live(name: str, config: dict[str, str], state: str | None = "RUNNING",
         tasks: tuple[TaskStatus, ...] = ()) -> LiveConnector:
    status = None if state is None else ConnectorStatus(name=name, state=state, tasks=tasks)
    return LiveConnector(name=name, config={**config, "name": name}, type="source", status=status)


def state_of(*records: ManagedConnector) -> State:
    return State(lineage="l-1", serial=4, digest_salt=SALT, connectors={r.name: r for r in records})


def test_equal_connector_has_no_drift() -> None:
    assert drift.connector_drift("a", record("a", BASE), live("a", BASE), SENSITIVE, SALT) is None


def test_changed_added_and_removed_keys_in_key_order() -> None:
    changed = {**{k: v for k, v in BASE.items() if k != "topic"}, "tasks.max": "2", "batch.size": "10"}
    found = drift.connector_drift("a", record("a", BASE), live("a", changed), SENSITIVE, SALT)
    assert found == Drift(name="a", applied_state="RUNNING", live_state="RUNNING", keys=(
        KeyChange(key="batch.size", old=None, new="10"),
        KeyChange(key="tasks.max", old="1", new="2"),
        KeyChange(key="topic", old="t", new=None),
    ))
    assert drift.kinds_of(found) == ["changed"]


def test_sensitive_value_changed_is_reported_without_values() -> None:
    rec = record("a", {**BASE, "my.password": "hunter2"})
    found = drift.connector_drift("a", rec, live("a", {**BASE, "my.password": "swordfish"}), SENSITIVE, SALT)
    assert found is not None
    assert found.keys == (KeyChange(key="my.password", old=MASK, new=MASK, old_hidden=True, new_hidden=True),)
    assert "hunter2" not in repr(found) and "swordfish" not in repr(found)


def test_sensitive_value_unchanged_is_no_drift() -> None:
    rec = record("a", {**BASE, "my.password": "hunter2"})
    assert drift.connector_drift("a", rec, live("a", {**BASE, "my.password": "hunter2"}), SENSITIVE, SALT) is None


def test_a_digested_key_stays_masked_even_if_no_longer_called_sensitive() -> None:
    rec = record("a", {**BASE, "conn.opaque": "v1"}, sensitive=SensitiveKeys(extra_keys=["conn.opaque"]))
    found = drift.connector_drift("a", rec, live("a", {**BASE, "conn.opaque": "v2-plain"}), SENSITIVE, SALT)
    assert found is not None
    assert found.keys == (KeyChange(key="conn.opaque", old=MASK, new=MASK, old_hidden=True, new_hidden=True),)


def test_deleted_by_hand() -> None:
    found = drift.connector_drift("a", record("a", BASE, state="PAUSED"), None, SENSITIVE, SALT)
    assert found == Drift(name="a", deleted=True, applied_state="PAUSED")
    assert drift.kinds_of(found) == ["deleted"]


def test_run_state_changed_by_hand() -> None:
    pairs: tuple[tuple[RunState, RunState], ...] = (
        ("RUNNING", "PAUSED"), ("RUNNING", "STOPPED"), ("PAUSED", "RUNNING"), ("STOPPED", "PAUSED"))
    for applied, now in pairs:
        found = drift.connector_drift("a", record("a", BASE, state=applied), live("a", BASE, now), SENSITIVE, SALT)
        assert found == Drift(name="a", applied_state=applied, live_state=now), (applied, now)
        assert drift.kinds_of(found) == ["run_state"]


def test_failed_unassigned_or_unknown_state_is_not_run_state_drift() -> None:
    for now in ("FAILED", "UNASSIGNED", "RESTARTING", None):
        assert drift.connector_drift("a", record("a", BASE), live("a", BASE, now), SENSITIVE, SALT) is None, now


def test_run_state_rule() -> None:
    expected = {"RUNNING": "RUNNING", "PAUSED": "PAUSED", "STOPPED": "STOPPED", "FAILED": "RUNNING",
                "UNASSIGNED": "RUNNING", "RESTARTING": "RUNNING", None: "RUNNING"}
    for now, want in expected.items():
        assert drift.run_state_of(live("a", BASE, now)) == want, now


def test_detect_counts_kinds_unmanaged_and_failures() -> None:
    state = state_of(
        record("changed-and-paused", BASE),
        record("gone", BASE),
        record("same", BASE),
    )
    cluster = {
        "changed-and-paused": live("changed-and-paused", {**BASE, "tasks.max": "3"}, "PAUSED"),
        "same": live("same", BASE, "RUNNING", tasks=(TaskStatus(0, "FAILED", "w", "boom"), TaskStatus(1, "FAILED"))),
        "by-hand": live("by-hand", BASE),
    }
    report = drift.detect("prod", state, cluster, SENSITIVE)
    assert [d.name for d in report.drift] == ["changed-and-paused", "gone"]
    assert report.unmanaged == ("by-hand",)
    assert report.counts() == {"changed": 1, "deleted": 1, "run_state": 1, "unmanaged": 1}
    assert (report.env, report.state_serial, report.managed, report.live) == ("prod", 4, 3, 3)
    assert (report.failed_connectors, report.failed_tasks, report.drifted, report.has_drift) == (1, 2, 3, True)


def test_detect_without_drift() -> None:
    report = drift.detect("prod", state_of(record("a", BASE)), {"a": live("a", BASE)}, SENSITIVE)
    assert (report.has_drift, report.drift, report.unmanaged, report.drifted) == (False, (), (), 0)
    assert report.counts() == {"changed": 0, "deleted": 0, "run_state": 0, "unmanaged": 0}
