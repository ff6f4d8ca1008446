"""The pure planner: literal inputs, exact expected plans (every action, drift kind, safety rule)."""

from __future__ import annotations

import pytest

from kcplan.config.models import ConnectorSpec, Lifecycle, RunState
from kcplan.config.sensitive import MASK, SensitiveKeys
from kcplan.connect.models import ConnectorStatus, LiveConnector
from kcplan.errors import PlanError
from kcplan.plan.model import Action, Change, Drift, KeyChange, Summary
from kcplan.plan.planner import build_plan, live_fingerprint
from kcplan.state.digest import digest
from kcplan.state.model import ManagedConnector, State
from tests.helpers import SINK, SRC

SALT = "5a" * 16
SK = SensitiveKeys()
APPLIED = "2025-01-01T00:00:00Z"


def spec(name: str, config: dict[str, str] | None = None, *, cls: str = SRC, state: RunState = "RUNNING",
         prevent_destroy: bool = False) -> ConnectorSpec:
    return ConnectorSpec(name=name, config={"connector.class": cls, "name": name, **(config or {})},
                         state=state, lifecycle=Lifecycle(prevent_destroy=prevent_destroy),
                         source=f"environments/dev/connectors/{name}.jsonnet")


def live(name: str, config: dict[str, str] | None = None, *, cls: str = SRC,
         state: str | None = "RUNNING") -> LiveConnector:
    return LiveConnector(name=name, config={"connector.class": cls, "name": name, **(config or {})},
                         type="source", status=ConnectorStatus(name=name, state=state))


def rec(name: str, config: dict[str, str] | None = None, *, cls: str = SRC, state: RunState = "RUNNING",
        prevent_destroy: bool = False) -> ManagedConnector:
    return ManagedConnector.record(name, {"connector.class": cls, **(config or {})}, sensitive=SK, salt=SALT,
                                   state=state, prevent_destroy=prevent_destroy,
                                   applied_at=APPLIED)


def prior(*records: ManagedConnector) -> State:
    return State(lineage="lin-1", serial=7, kafka_cluster_id="cluster-A", digest_salt=SALT,
                 connectors={r.name: r for r in records})


def plan(desired=(), state=None, lives=(), refresh=True, **kw):  # type: ignore[no-untyped-def]
    return build_plan(
        {s.name: s for s in desired}, SK, state if state is not None else prior(),
        {lv.name: lv for lv in lives} if refresh else None,
        env="dev", kafka_cluster_id="cluster-A", connect_urls=["http://connect:8083"], **kw,
    )


def only(p):  # type: ignore[no-untyped-def]
    assert len(p.changes) == 1, p.changes
    return p.changes[0]


# -- every action -------------------------------------------------------------------------------

def test_create_when_declared_and_absent_everywhere() -> None:
    p = plan([spec("a", {"topic": "t", "tasks.max": "1"})], state=State(), salt=SALT)
    assert p.changes == (Change(
        name="a",
        action=Action.CREATE,
        keys=(
            KeyChange(key="connector.class", new=SRC),
            KeyChange(key="name", new="a"),
            KeyChange(key="tasks.max", new="1"),
            KeyChange(key="topic", new="t"),
        ),
        state_to="RUNNING",
        desired_config={"connector.class": SRC, "name": "a", "topic": "t", "tasks.max": "1"},
        source="environments/dev/connectors/a.jsonnet",
        patch=(
            {"op": "add", "path": "/connector.class", "value": SRC},
            {"op": "add", "path": "/name", "value": "a"},
            {"op": "add", "path": "/tasks.max", "value": "1"},
            {"op": "add", "path": "/topic", "value": "t"},
        ),
    ),)
    assert p.summary() == Summary(add=1, change=0, destroy=0, adopt=0, forget=0)
    assert p.drift == () and p.unmanaged == () and p.conflicts == ()
    assert (p.state_lineage, p.state_serial, p.refreshed) == (None, 0, True)


def test_create_keeps_a_paused_desired_state_for_initial_state() -> None:
    c = only(plan([spec("a", state="PAUSED")], state=State(), salt=SALT))
    assert (c.action, c.state_from, c.state_to) == (Action.CREATE, None, "PAUSED")


def test_update_lists_only_the_keys_that_differ() -> None:
    lv = live("a", {"topic": "t", "tasks.max": "1", "file": "/x"})
    c = only(plan([spec("a", {"topic": "t", "tasks.max": "2", "batch.size": "10"})],
                  prior(rec("a", {"topic": "t", "tasks.max": "1", "file": "/x"})), [lv]))
    assert c.action is Action.UPDATE
    assert c.keys == (
        KeyChange(key="batch.size", new="10"),
        KeyChange(key="file", old="/x"),
        KeyChange(key="tasks.max", old="1", new="2"),
    )
    assert c.patch == (
        {"op": "add", "path": "/batch.size", "value": "10"},
        {"op": "remove", "path": "/file"},
        {"op": "replace", "path": "/tasks.max", "value": "2"},
    )
    assert (c.state_from, c.state_to, c.run_state_change) == ("RUNNING", "RUNNING", None)
    assert c.live_exists and c.live_fingerprint == live_fingerprint(lv, SALT)
    assert c.desired_config == {"connector.class": SRC, "name": "a", "topic": "t", "tasks.max": "2",
                                "batch.size": "10"}
    assert not c.adopting


def test_delete_only_what_the_state_manages_and_the_code_no_longer_declares() -> None:
    lv = live("old", {"topic": "t"})
    p = plan([], prior(rec("old", {"topic": "t"})), [lv, live("manual")])
    assert p.changes == (Change(name="old", action=Action.DELETE, state_from="RUNNING", live_exists=True,
                                live_fingerprint=live_fingerprint(lv, SALT)),)
    assert p.unmanaged == ("manual",)
    assert p.summary() == Summary(add=0, change=0, destroy=1, adopt=0, forget=0)


def test_delete_of_a_connector_already_gone_is_a_state_only_forget() -> None:
    p = plan([], prior(rec("old", {"topic": "t"})), [])
    assert p.changes == (Change(name="old", action=Action.FORGET),)
    assert p.drift == (Drift(name="old", deleted=True, applied_state="RUNNING"),)
    assert p.summary() == Summary(add=0, change=0, destroy=0, adopt=0, forget=1)
    assert p.has_changes


def test_replace_when_connector_class_changes() -> None:
    lv = live("a", {"topic": "t"})
    c = only(plan([spec("a", {"topics": "t"}, cls=SINK)], prior(rec("a", {"topic": "t"})), [lv]))
    assert c.action is Action.REPLACE
    assert c.keys == (
        KeyChange(key="connector.class", old=SRC, new=SINK),
        KeyChange(key="topic", old="t"),
        KeyChange(key="topics", new="t"),
    )
    assert (c.state_from, c.state_to) == (None, "RUNNING")
    assert c.live_fingerprint == live_fingerprint(lv, SALT)


@pytest.mark.parametrize(("live_state", "want", "action"), [
    ("RUNNING", "PAUSED", Action.PAUSE),
    ("RUNNING", "STOPPED", Action.STOP),
    ("PAUSED", "RUNNING", Action.RESUME),
    ("STOPPED", "RUNNING", Action.RESUME),
    ("STOPPED", "PAUSED", Action.PAUSE),
    ("PAUSED", "STOPPED", Action.STOP),
])
def test_run_state_changes(live_state: RunState, want: RunState, action: Action) -> None:
    state = prior(rec("a", {"topic": "t"}, state=live_state))
    c = only(plan([spec("a", {"topic": "t"}, state=want)], state, [live("a", {"topic": "t"}, state=live_state)]))
    assert (c.action, c.keys, c.state_from, c.state_to) == (action, (), live_state, want)
    assert plan([spec("a", {"topic": "t"}, state=want)], state,
                [live("a", {"topic": "t"}, state=live_state)]).summary().change == 1


@pytest.mark.parametrize("live_state", ["FAILED", "UNASSIGNED", "RESTARTING", None])
def test_failed_or_unknown_live_state_counts_as_meant_to_run(live_state: str | None) -> None:
    c = only(plan([spec("a", {"topic": "t"})], prior(rec("a", {"topic": "t"})),
                  [live("a", {"topic": "t"}, state=live_state)]))
    assert c.action is Action.NOOP


def test_update_with_a_run_state_change_is_one_update() -> None:
    c = only(plan([spec("a", {"topic": "u"}, state="PAUSED")], prior(rec("a", {"topic": "t"})),
                  [live("a", {"topic": "t"})]))
    assert (c.action, c.run_state_change, c.state_from, c.state_to) == (Action.UPDATE, Action.PAUSE,
                                                                        "RUNNING", "PAUSED")


def test_noop_when_desired_state_and_live_agree() -> None:
    p = plan([spec("a", {"topic": "t"})], prior(rec("a", {"topic": "t"})), [live("a", {"topic": "t"})])
    assert p.changes == (Change(name="a", action=Action.NOOP),)
    assert not p.has_changes and p.actions == () and p.unchanged == ("a",)


def test_adopt_when_live_matches_the_code_but_the_state_does_not_manage_it() -> None:
    lv = live("a", {"topic": "t"}, state="PAUSED")
    c = only(plan([spec("a", {"topic": "t"}, state="PAUSED", prevent_destroy=True)], prior(), [lv]))
    assert c == Change(name="a", action=Action.ADOPT, state_to="PAUSED",
                       desired_config={"connector.class": SRC, "name": "a", "topic": "t"},
                       prevent_destroy=True, live_exists=True, live_fingerprint=live_fingerprint(lv, SALT),
                       adopting=True, source="environments/dev/connectors/a.jsonnet")


def test_adopt_also_refreshes_a_state_record_that_lags_behind() -> None:
    # changed by hand to exactly what the code now says; and prevent_destroy newly set
    p = plan([spec("a", {"topic": "new"}, prevent_destroy=True)], prior(rec("a", {"topic": "old"})),
             [live("a", {"topic": "new"})])
    c = only(p)
    assert (c.action, c.adopting, c.keys, c.prevent_destroy) == (Action.ADOPT, False, (), True)
    assert p.drift == (Drift(name="a", keys=(KeyChange(key="topic", old="old", new="new"),),
                             applied_state="RUNNING", live_state="RUNNING"),)
    p2 = plan([spec("a", {"topic": "t"}, prevent_destroy=True)], prior(rec("a", {"topic": "t"})),
              [live("a", {"topic": "t"})])
    assert only(p2).action is Action.ADOPT and p2.drift == ()


# -- drift --------------------------------------------------------------------------------------

def test_drift_config_changed_by_hand_and_the_update_that_reverts_it() -> None:
    p = plan([spec("a", {"topic": "t", "tasks.max": "1"})], prior(rec("a", {"topic": "t", "tasks.max": "1"})),
             [live("a", {"topic": "t", "tasks.max": "3", "extra": "x"})])
    assert p.drift == (Drift(name="a", keys=(KeyChange(key="extra", new="x"),
                                             KeyChange(key="tasks.max", old="1", new="3")),
                             applied_state="RUNNING", live_state="RUNNING"),)
    assert p.drift[0].kinds == ["config"]
    c = only(p)
    assert c.action is Action.UPDATE
    assert c.keys == (KeyChange(key="extra", old="x"), KeyChange(key="tasks.max", old="3", new="1"))


def test_drift_deleted_by_hand_plans_a_create() -> None:
    p = plan([spec("a", {"topic": "t"})], prior(rec("a", {"topic": "t"})), [])
    assert p.drift == (Drift(name="a", deleted=True, applied_state="RUNNING"),)
    assert p.drift[0].kinds == ["deleted"]
    assert only(p).action is Action.CREATE


def test_drift_paused_by_hand_plans_a_resume() -> None:
    p = plan([spec("a", {"topic": "t"})], prior(rec("a", {"topic": "t"})),
             [live("a", {"topic": "t"}, state="PAUSED")])
    assert p.drift == (Drift(name="a", applied_state="RUNNING", live_state="PAUSED"),)
    assert p.drift[0].kinds == ["run_state"]
    assert only(p).action is Action.RESUME


def test_drift_is_reported_for_managed_connectors_the_code_dropped() -> None:
    p = plan([], prior(rec("a", {"topic": "t"})), [live("a", {"topic": "u"})])
    assert [d.name for d in p.drift] == ["a"]
    assert only(p).action is Action.DELETE


# -- unmanaged, conflicts, --adopt ---------------------------------------------------------------

def test_unmanaged_connectors_are_listed_and_never_touched() -> None:
    p = plan([spec("a", {"topic": "t"})], prior(rec("a", {"topic": "t"})),
             [live("a", {"topic": "t"}), live("zeta"), live("manual", state="PAUSED")])
    assert p.unmanaged == ("manual", "zeta")
    assert [c.name for c in p.changes] == ["a"] and not p.has_changes


def test_declared_unmanaged_and_different_is_a_conflict_not_an_overwrite() -> None:
    lv = live("a", {"topic": "theirs"})
    p = plan([spec("a", {"topic": "ours"})], prior(), [lv])
    assert p.changes == ()
    assert p.conflicts == (Change(
        name="a", action=Action.UPDATE, keys=(KeyChange(key="topic", old="theirs", new="ours"),),
        state_from="RUNNING", state_to="RUNNING",
        desired_config={"connector.class": SRC, "name": "a", "topic": "ours"},
        live_exists=True, live_fingerprint=live_fingerprint(lv, SALT), adopting=True,
        source="environments/dev/connectors/a.jsonnet",
        patch=({"op": "replace", "path": "/topic", "value": "ours"},),
    ),)
    assert not p.has_changes and p.unmanaged == ()


def test_adopt_flag_takes_over_a_conflicting_connector() -> None:
    p = plan([spec("a", {"topic": "ours"})], prior(), [live("a", {"topic": "theirs"})], adopt=True)
    c = only(p)
    assert (c.action, c.adopting, p.conflicts, p.adopt) == (Action.UPDATE, True, (), True)


def test_conflict_on_run_state_only() -> None:
    p = plan([spec("a", {"topic": "t"})], prior(), [live("a", {"topic": "t"}, state="PAUSED")])
    assert p.changes == () and [(c.name, c.action) for c in p.conflicts] == [("a", Action.RESUME)]


# -- prevent_destroy ---------------------------------------------------------------------------

def test_prevent_destroy_fails_a_plan_that_would_delete() -> None:
    with pytest.raises(PlanError) as err:
        plan([], prior(rec("keep-me", {"topic": "t"}, prevent_destroy=True)), [live("keep-me", {"topic": "t"})])
    assert err.value.message == ("lifecycle.prevent_destroy forbids this plan:\n"
                                 "  'keep-me' would be deleted: it is no longer declared in the code")
    assert "kcplan state rm" in err.value.hint


def test_prevent_destroy_fails_a_replace() -> None:
    with pytest.raises(PlanError) as err:
        plan([spec("keep-me", {"topics": "t"}, cls=SINK, prevent_destroy=True)],
             prior(rec("keep-me", {"topic": "t"}, prevent_destroy=True)), [live("keep-me", {"topic": "t"})])
    assert err.value.message == (
        "lifecycle.prevent_destroy forbids this plan:\n"
        "  'keep-me' (environments/dev/connectors/keep-me.jsonnet) would be replaced (deleted, then created): "
        f"connector.class changes from {SRC} to {SINK}")


def test_prevent_destroy_allows_updates_and_forgetting_what_is_already_gone() -> None:
    p = plan([spec("keep-me", {"topic": "u"}, prevent_destroy=True)],
             prior(rec("keep-me", {"topic": "t"}, prevent_destroy=True),
                   rec("gone", {"topic": "t"}, prevent_destroy=True)),
             [live("keep-me", {"topic": "t"})])
    assert [(c.name, c.action) for c in p.changes] == [("gone", Action.FORGET), ("keep-me", Action.UPDATE)]


def test_prevent_destroy_only_checks_targeted_connectors() -> None:
    p = plan([spec("b", {"topic": "t"})], prior(rec("keep-me", {"topic": "t"}, prevent_destroy=True)),
             [live("keep-me", {"topic": "t"})], targets=["b"])
    assert [(c.name, c.action) for c in p.changes] == [("b", Action.CREATE)]


# -- targeting ----------------------------------------------------------------------------------

def test_target_globs_restrict_the_actions_but_not_the_report() -> None:
    p = plan([spec("orders-a", {"topic": "t"}), spec("orders-b"), spec("payments")],
             prior(rec("orders-a", {"topic": "x"}), rec("legacy")),
             [live("orders-a", {"topic": "y"}), live("legacy"), live("manual")],
             targets=["orders-*", "nothing-*"])
    assert [(c.name, c.action) for c in p.changes] == [("orders-a", Action.UPDATE), ("orders-b", Action.CREATE)]
    assert [d.name for d in p.drift] == ["orders-a"]
    assert p.unmanaged == ("manual",)
    assert p.targets == ("orders-*", "nothing-*")
    assert p.warnings == ("--target 'nothing-*' matches no connector",)


def test_target_exact_name() -> None:
    p = plan([spec("a"), spec("b")], State(), [], targets=["b"], salt=SALT)
    assert [c.name for c in p.changes] == ["b"] and p.warnings == ()


# -- --refresh=false ------------------------------------------------------------------------------

def test_refresh_false_plans_against_the_state_alone() -> None:
    state = prior(rec("same", {"topic": "t", "db.password": "pw"}), rec("changed", {"topic": "t"}),
                  rec("dropped"), rec("paused", state="PAUSED"))
    p = plan([spec("same", {"topic": "t", "db.password": "pw"}), spec("changed", {"topic": "u"}),
              spec("new"), spec("paused")], state, refresh=False)
    assert [(c.name, c.action) for c in p.changes] == [
        ("changed", Action.UPDATE), ("dropped", Action.DELETE), ("new", Action.CREATE),
        ("paused", Action.RESUME), ("same", Action.NOOP)]
    assert all(c.live_fingerprint is None for c in p.changes)
    assert p.changes[0].keys == (KeyChange(key="topic", old="t", new="u"),)
    assert (p.refreshed, p.drift, p.unmanaged, p.kafka_cluster_id) == (False, (), (), "cluster-A")
    assert (p.state_lineage, p.state_serial) == ("lin-1", 7)


# -- no false drift -------------------------------------------------------------------------------

def test_numbers_in_the_state_file_equal_the_strings_connect_returns() -> None:
    state = State.model_validate({
        "lineage": "lin-1", "serial": 1, "digest_salt": SALT, "kafka_cluster_id": "cluster-A",
        "connectors": {"a": {"name": "a", "config": {"connector.class": SRC, "name": "a", "tasks.max": 1,
                                                     "errors.log.enable": True, "ratio": 2.0}}},
    })
    p = plan([spec("a", {"tasks.max": "1", "errors.log.enable": "true", "ratio": "2"})], state,
             [live("a", {"tasks.max": "1", "errors.log.enable": "true", "ratio": "2"})])
    assert p.drift == () and only(p).action is Action.NOOP


def test_key_order_does_not_matter() -> None:
    cfg = {"topic": "t", "file": "/f", "tasks.max": "1"}
    backwards = dict(reversed(list({"connector.class": SRC, "name": "a", **cfg}.items())))
    lv = LiveConnector(name="a", config=backwards, status=ConnectorStatus(name="a", state="RUNNING"))
    p = plan([spec("a", cfg)], prior(rec("a", dict(reversed(list(cfg.items()))))), [lv])
    assert p.drift == () and only(p).action is Action.NOOP


def test_placeholders_are_compared_and_shown_as_text() -> None:
    ref = "${file:/etc/secrets.properties:db.password}"
    p = plan([spec("a", {"db.password": ref})], prior(rec("a", {"db.password": ref})),
             [live("a", {"db.password": ref})])
    assert p.drift == () and only(p).action is Action.NOOP
    assert prior(rec("a", {"db.password": ref})).connectors["a"].config["db.password"] == ref
    other = "${file:/etc/other.properties:db.password}"
    c = only(plan([spec("a", {"db.password": other})], prior(rec("a", {"db.password": ref})),
                  [live("a", {"db.password": ref})]))
    assert c.keys == (KeyChange(key="db.password", old=ref, new=other),)


def test_sensitive_values_compare_by_digest_without_false_drift() -> None:
    p = plan([spec("a", {"db.password": "hunter2"})], prior(rec("a", {"db.password": "hunter2"})),
             [live("a", {"db.password": "hunter2"})])
    assert p.drift == () and only(p).action is Action.NOOP


def test_sensitive_value_changes_are_seen_but_masked() -> None:
    p = plan([spec("a", {"db.password": "new-secret"})], prior(rec("a", {"db.password": "old-secret"})),
             [live("a", {"db.password": "by-hand"})])
    masked = KeyChange(key="db.password", old=MASK, new=MASK, old_hidden=True, new_hidden=True)
    assert p.drift == (Drift(name="a", keys=(masked,), applied_state="RUNNING", live_state="RUNNING"),)
    c = only(p)
    assert c.keys == (masked,)
    assert c.patch == ({"op": "replace", "path": "/db.password", "value": MASK},)
    assert c.desired_config is not None and c.desired_config["db.password"] == digest("new-secret", SALT)


def test_secret_replaced_by_a_placeholder_shows_the_placeholder_only() -> None:
    ref = "${env:DB_PASSWORD}"
    c = only(plan([spec("a", {"db.password": ref})], prior(rec("a", {"db.password": "pw"})),
                  [live("a", {"db.password": "pw"})]))
    assert c.keys == (KeyChange(key="db.password", old=MASK, new=ref, old_hidden=True),)


def test_drift_masks_a_key_stored_as_digest_even_when_no_longer_called_sensitive() -> None:
    """The state holds a digest for conn.opaque (it was sensitive when applied); a later settings
    change that drops it from sensitive_keys must not make the plan print the live secret."""
    was_sensitive = SensitiveKeys(extra_keys=["conn.opaque"])
    record = ManagedConnector.record("a", {"connector.class": SRC, "conn.opaque": "VALUE-ONE"},
                                     sensitive=was_sensitive, salt=SALT, state="RUNNING", applied_at=APPLIED)
    p = plan([spec("a", {"conn.opaque": "VALUE-ONE"})], prior(record), [live("a", {"conn.opaque": "VALUE-TWO"})])
    assert "VALUE-TWO" not in p.drift[0].model_dump_json()
    assert p.drift[0].keys == (KeyChange(key="conn.opaque", old=MASK, new=MASK, old_hidden=True, new_hidden=True),)


def test_name_key_is_always_the_connector_name() -> None:
    # a record written without 'name' in its config still matches live and desired
    state = State.model_validate({"lineage": "lin-1", "serial": 1, "digest_salt": SALT,
                                  "connectors": {"a": {"name": "a", "config": {"connector.class": SRC}}}})
    p = plan([spec("a")], state, [live("a")])
    assert p.drift == () and only(p).action is Action.NOOP


def test_no_plaintext_secret_anywhere_in_the_plan() -> None:
    p = plan([spec("a", {"db.password": "SEKRIT-1", "sasl.jaas.config": "user SEKRIT-2"}),
              spec("b", {"api.key": "SEKRIT-3"})],
             prior(rec("a", {"db.password": "SEKRIT-4"})),
             [live("a", {"db.password": "SEKRIT-5"}), live("b", {"api.key": "SEKRIT-6"}),
              live("c", {"token": "SEKRIT-7"})], adopt=False)
    dumped = p.model_dump_json()
    assert "SEKRIT" not in dumped
    assert [c.name for c in p.conflicts] == ["b"]


# -- plan metadata --------------------------------------------------------------------------------

def test_plan_records_what_it_was_based_on() -> None:
    p = plan([], prior(), [])
    assert (p.env, p.kafka_cluster_id, p.connect_urls, p.state_lineage, p.state_serial, p.digest_salt) == (
        "dev", "cluster-A", ("http://connect:8083",), "lin-1", 7, SALT)


def test_a_state_of_another_cluster_is_refused() -> None:
    with pytest.raises(PlanError) as err:
        build_plan({}, SK, prior(), {}, env="dev", kafka_cluster_id="cluster-B",
                   connect_urls=["http://connect:8083"])
    assert err.value.message == ("the state of environment 'dev' belongs to Kafka cluster cluster-A, but "
                                 "http://connect:8083 answers for cluster cluster-B")


def test_a_new_state_uses_the_given_salt_and_a_salt_is_required() -> None:
    assert plan([spec("a")], State(), [], salt="ab" * 16).digest_salt == "ab" * 16
    assert plan([spec("a")], prior(), [], salt="ab" * 16).digest_salt == SALT  # the state's wins
    with pytest.raises(ValueError):
        plan([spec("a")], State(), [])


def test_fingerprint_follows_config_and_run_state_and_hides_values() -> None:
    base = live_fingerprint(live("a", {"db.password": "pw"}), SALT)
    assert base is not None and base.startswith("hmac-sha256:") and "pw" not in base[12:]
    assert live_fingerprint(live("a", {"db.password": "pw"}), SALT) == base
    assert live_fingerprint(live("a", {"db.password": "pw2"}), SALT) != base
    assert live_fingerprint(live("a", {"db.password": "pw"}, state="PAUSED"), SALT) != base
    assert live_fingerprint(live("a", {"db.password": "pw"}, state="FAILED"), SALT) == base
    assert live_fingerprint(None, SALT) is None


def test_summary_counts_replace_as_add_and_destroy_like_terraform() -> None:
    p = plan([spec("c", cls=SINK), spec("n"), spec("u", {"topic": "2"}), spec("p", state="PAUSED")],
             prior(rec("c"), rec("d"), rec("u", {"topic": "1"}), rec("p"), rec("f")),
             [live("c"), live("d"), live("u", {"topic": "1"}), live("p")])
    assert [(c.name, c.action) for c in p.changes] == [
        ("c", Action.REPLACE), ("d", Action.DELETE), ("f", Action.FORGET), ("n", Action.CREATE),
        ("p", Action.PAUSE), ("u", Action.UPDATE)]
    assert p.summary() == Summary(add=2, change=2, destroy=2, adopt=0, forget=1)
