"""Offsets operations (KIP-875) from plan to state, pure parts only: the planner, the steps, what the state
records, the read-back after a lost answer, the worker checks, freshness, the plan file's consistency rule,
the plan view and rollback. Literal inputs, exact expected outputs; the worker side is in
tests/integration/test_offsets*.py."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kcplan.apply import freshness
from kcplan.apply.rollback import rollback_steps
from kcplan.apply.runner import offsets_match
from kcplan.apply.steps import ONE_AT_A_TIME, PHASES, Step, StepResult, build_steps, record
from kcplan.config.models import ConnectorSpec, OffsetsOp
from kcplan.config.sensitive import SensitiveKeys
from kcplan.connect.models import ConnectorOffset
from kcplan.plan import planfile
from kcplan.plan.model import Action, Change, Plan, RunState
from kcplan.plan.offsets_check import offsets_problems, set_targets
from kcplan.plan.planner import live_fingerprint
from kcplan.state.model import ManagedConnector, State
from kcplan.views.plan_view import plan_json, render_plan
from kcplan.views.style import PLAIN
from tests.unit.test_planner import SINK, SRC, live, plan, prior, rec, spec

SALT = "5a" * 16
SK = SensitiveKeys()
AT = "2025-01-01T00:00:00Z"
P0 = {"kafka_topic": "orders", "kafka_partition": 0}
P1 = {"kafka_topic": "orders", "kafka_partition": 1}
RESET_A = OffsetsOp(token="a", kind="reset")
RESET_B = OffsetsOp(token="b", kind="reset")
SET = OffsetsOp(token="skip-bad-row", kind="set", entries=(
    {"partition": P0, "offset": {"kafka_offset": 42}},
    {"partition": P1, "offset": None},
))


def with_offsets(s: ConnectorSpec, op: OffsetsOp | None) -> ConnectorSpec:
    return s.model_copy(update={"offsets": op})


def with_token(r: ManagedConnector, token: str | None) -> ManagedConnector:
    return r.model_copy(update={"offsets_token": token})


def cfg(name: str, **extra: str) -> dict[str, str]:
    return {"connector.class": SRC, "name": name, "topic": "t", **extra}


def make_plan(*changes: Change) -> Plan:
    return Plan(env="dev", kafka_cluster_id="c1", state_lineage="lin", state_serial=3, digest_salt=SALT,
                changes=changes)


def offsets_change(name: str = "a", op: OffsetsOp = RESET_A, *, state: RunState = "RUNNING",
                   offsets_from: str | None = None) -> Change:
    return Change(name=name, action=Action.OFFSETS, state_from=state, state_to=state, desired_config=cfg(name),
                  live_exists=True, offsets=op, offsets_from=offsets_from)


# -- the planner ----------------------------------------------------------------------------------

def test_a_new_token_on_an_unchanged_connector_is_an_offsets_change() -> None:
    lv = live("a", {"topic": "t"})
    p = plan([with_offsets(spec("a", {"topic": "t"}), RESET_A)], prior(rec("a", {"topic": "t"})), [lv])
    assert p.changes == (Change(
        name="a", action=Action.OFFSETS, state_from="RUNNING", state_to="RUNNING",
        desired_config={"connector.class": SRC, "name": "a", "topic": "t"}, live_exists=True,
        live_fingerprint=live_fingerprint(lv, SALT), source="environments/dev/connectors/a.jsonnet",
        offsets=RESET_A, offsets_from=None),)
    assert p.has_changes and p.unchanged == ()
    assert tuple(p.summary()) == (0, 1, 0, 0, 0)


def test_the_token_the_state_records_is_a_noop() -> None:
    state = prior(with_token(rec("a", {"topic": "t"}), "a"))
    p = plan([with_offsets(spec("a", {"topic": "t"}), RESET_A)], state, [live("a", {"topic": "t"})])
    assert p.changes == (Change(name="a", action=Action.NOOP),)
    assert not p.has_changes


def test_another_token_than_the_states_says_which_one_it_replaces() -> None:
    state = prior(with_token(rec("a", {"topic": "t"}), "a"))
    p = plan([with_offsets(spec("a", {"topic": "t"}), RESET_B)], state, [live("a", {"topic": "t"})])
    (c,) = p.changes
    assert (c.action, c.offsets, c.offsets_from) == (Action.OFFSETS, RESET_B, "a")


def test_removing_the_offsets_key_does_nothing_even_when_the_state_has_a_token() -> None:
    state = prior(with_token(rec("a", {"topic": "t"}), "a"))
    p = plan([spec("a", {"topic": "t"})], state, [live("a", {"topic": "t"})])
    assert p.changes == (Change(name="a", action=Action.NOOP),)


def test_an_update_carries_the_new_operation() -> None:
    state = prior(with_token(rec("a", {"topic": "t"}), "a"))
    p = plan([with_offsets(spec("a", {"topic": "u"}, state="PAUSED"), SET)], state, [live("a", {"topic": "t"})])
    (c,) = p.changes
    assert (c.action, c.run_state_change, c.offsets, c.offsets_from) == (Action.UPDATE, Action.PAUSE, SET, "a")
    assert [(k.key, k.old, k.new) for k in c.keys] == [("topic", "t", "u")]


def test_a_run_state_change_carries_the_new_operation() -> None:
    p = plan([with_offsets(spec("a", {"topic": "t"}, state="STOPPED"), RESET_A)], prior(rec("a", {"topic": "t"})),
             [live("a", {"topic": "t"})])
    (c,) = p.changes
    assert (c.action, c.state_from, c.state_to, c.offsets) == (Action.STOP, "RUNNING", "STOPPED", RESET_A)


def test_a_create_carries_a_reset() -> None:
    p = plan([with_offsets(spec("a", {"topic": "t"}), RESET_A)], State(), [], salt=SALT)
    (c,) = p.changes
    assert (c.action, c.offsets, c.offsets_from, c.state_to) == (Action.CREATE, RESET_A, None, "RUNNING")
    assert tuple(p.summary()) == (1, 0, 0, 0, 0)


def test_a_replace_carries_a_new_operation() -> None:
    state = prior(with_token(rec("a", {"topic": "t"}), "a"))
    p = plan([with_offsets(spec("a", {"topics": "t"}, cls=SINK), RESET_B)], state, [live("a", {"topic": "t"})])
    (c,) = p.changes
    assert (c.action, c.offsets, c.offsets_from) == (Action.REPLACE, RESET_B, "a")


def test_an_unmanaged_identical_connector_is_adopted_with_its_operation() -> None:
    lv = live("a", {"topic": "t"})
    p = plan([with_offsets(spec("a", {"topic": "t"}), RESET_A)], prior(), [lv])
    assert p.changes == (Change(
        name="a", action=Action.ADOPT, state_to="RUNNING",
        desired_config={"connector.class": SRC, "name": "a", "topic": "t"}, live_exists=True,
        live_fingerprint=live_fingerprint(lv, SALT), adopting=True, source="environments/dev/connectors/a.jsonnet",
        offsets=RESET_A),)


def test_an_unmanaged_different_connector_stays_a_conflict_without_adopt() -> None:
    p = plan([with_offsets(spec("a", {"topic": "t"}), RESET_A)], prior(), [live("a", {"topic": "other"})])
    assert p.changes == ()
    assert [(c.name, c.action, c.offsets) for c in p.conflicts] == [("a", Action.UPDATE, None)]


def test_without_refresh_the_state_alone_decides() -> None:
    state = prior(with_token(rec("a", {"topic": "t"}), "a"), with_token(rec("b", {"topic": "t"}), "b"))
    p = plan([with_offsets(spec("a", {"topic": "t"}), RESET_B), with_offsets(spec("b", {"topic": "t"}), RESET_B),
              with_offsets(spec("c", {"topic": "t"}), RESET_A)], state, refresh=False)
    assert not p.refreshed
    assert [(c.name, c.action, c.offsets, c.offsets_from, c.live_exists, c.live_fingerprint) for c in p.changes] == [
        ("a", Action.OFFSETS, RESET_B, "a", True, None),
        ("b", Action.NOOP, None, None, False, None),
        ("c", Action.CREATE, RESET_A, None, False, None),
    ]


# -- build_steps ----------------------------------------------------------------------------------

def test_an_offsets_change_is_one_offsets_step_in_phase_5() -> None:
    steps = build_steps(make_plan(offsets_change("a", SET, state="PAUSED")), {"a": cfg("a")}, initial_state=True)
    assert [(s.name, s.op, s.action, s.target, s.phase, s.offsets) for s in steps] == [
        ("a", "offsets", Action.OFFSETS, "PAUSED", 5, SET)]
    assert steps[0].digested == cfg("a") and steps[0].writes


def test_phase_5_runs_one_at_a_time() -> None:
    assert PHASES["offsets"] == 5
    assert 5 in ONE_AT_A_TIME


def test_an_update_with_a_run_state_change_and_offsets_leaves_the_run_state_to_the_offsets_step() -> None:
    c = Change(name="a", action=Action.UPDATE, state_from="RUNNING", state_to="PAUSED", desired_config=cfg("a", x="1"),
               live_exists=True, offsets=RESET_A)
    steps = build_steps(make_plan(c), {"a": cfg("a", x="1")}, initial_state=True)
    assert [(s.op, s.target, s.keeps, s.phase) for s in steps] == [
        ("update", None, "RUNNING", 1), ("offsets", "PAUSED", None, 5)]


def test_a_run_state_change_with_offsets_is_the_offsets_step_alone() -> None:
    c = Change(name="a", action=Action.STOP, state_from="RUNNING", state_to="STOPPED", desired_config=cfg("a"),
               live_exists=True, offsets=RESET_A)
    steps = build_steps(make_plan(c), {"a": cfg("a")}, initial_state=True)
    assert [(s.op, s.target, s.phase) for s in steps] == [("offsets", "STOPPED", 5)]


@pytest.mark.parametrize(("initial_state", "state_to", "expected"), [
    (True, "RUNNING", [("create", "STOPPED", 1), ("offsets", "RUNNING", 5)]),
    (True, "PAUSED", [("create", "STOPPED", 1), ("offsets", "PAUSED", 5)]),
    (False, "RUNNING", [("create", "RUNNING", 1), ("offsets", "RUNNING", 5)]),
    (False, "PAUSED", [("create", "RUNNING", 1), ("offsets", "PAUSED", 5)]),
])
def test_a_create_with_offsets_starts_stopped_where_the_worker_allows(
        initial_state: bool, state_to: RunState, expected: list[tuple[str, str, int]]) -> None:
    c = Change(name="a", action=Action.CREATE, state_to=state_to, desired_config=cfg("a"), offsets=RESET_A)
    steps = build_steps(make_plan(c), {"a": cfg("a")}, initial_state=initial_state)
    assert [(s.op, s.target, s.phase) for s in steps] == expected
    assert steps[-1].offsets == RESET_A


def test_a_replace_with_offsets_deletes_creates_stopped_then_runs_the_operation() -> None:
    c = Change(name="a", action=Action.REPLACE, state_to="RUNNING", desired_config=cfg("a"), live_exists=True,
               offsets=RESET_A)
    steps = build_steps(make_plan(c), {"a": cfg("a")}, initial_state=True)
    assert [(s.op, s.target, s.phase) for s in steps] == [("delete", None, 0), ("create", "STOPPED", 1),
                                                          ("offsets", "RUNNING", 5)]


def test_other_connectors_steps_are_left_as_they_are() -> None:
    plan_ = make_plan(
        Change(name="a", action=Action.CREATE, state_to="PAUSED", desired_config=cfg("a"), offsets=RESET_A),
        Change(name="b", action=Action.CREATE, state_to="PAUSED", desired_config=cfg("b")),
        Change(name="c", action=Action.PAUSE, state_from="RUNNING", state_to="PAUSED", desired_config=cfg("c")),
    )
    steps = build_steps(plan_, {n: cfg(n) for n in "abc"}, initial_state=False)
    assert [(s.name, s.op, s.target, s.phase) for s in steps] == [
        ("a", "create", "RUNNING", 1), ("b", "create", "RUNNING", 1), ("b", "run_state", "PAUSED", 2),
        ("c", "run_state", "PAUSED", 2), ("a", "offsets", "PAUSED", 5)]


# -- record ---------------------------------------------------------------------------------------

def landed(step: Step, reached: RunState | None = "RUNNING", ok: bool = True) -> StepResult:
    return StepResult(step, ok, reached)


STATE = State(lineage="lin", serial=3, digest_salt=SALT, connectors={
    "a": ManagedConnector(name="a", config=cfg("a"), applied_at="before", offsets_token="old")})


def offsets_step(op: OffsetsOp = RESET_B, target: RunState = "RUNNING") -> Step:
    return Step("a", "offsets", Action.OFFSETS, config=cfg("a"), digested=cfg("a"), target=target, offsets=op)


def test_a_landed_offsets_step_records_its_token() -> None:
    new = record(STATE, landed(offsets_step(target="PAUSED"), "PAUSED"), AT)
    assert new.connectors == {"a": ManagedConnector(name="a", config=cfg("a"), state="PAUSED", applied_at=AT,
                                                    offsets_token="b")}


def test_a_landed_offsets_step_on_a_connector_new_to_the_state_records_its_token() -> None:
    step = Step("n", "offsets", Action.ADOPT, config=cfg("n"), digested=cfg("n"), target="RUNNING", offsets=SET)
    new = record(STATE, landed(step), AT)
    assert new.connectors["n"] == ManagedConnector(name="n", config=cfg("n"), applied_at=AT,
                                                   offsets_token="skip-bad-row")
    assert new.connectors["a"] == STATE.connectors["a"]


def test_other_steps_keep_the_token_the_state_has() -> None:
    update = Step("a", "update", Action.UPDATE, config=cfg("a", x="2"), digested=cfg("a", x="2"), keeps="RUNNING")
    run_state = Step("a", "run_state", Action.PAUSE, config=cfg("a"), digested=cfg("a"), target="PAUSED")
    assert record(STATE, landed(update), AT).connectors["a"] == ManagedConnector(
        name="a", config=cfg("a", x="2"), applied_at=AT, offsets_token="old")
    assert record(STATE, landed(run_state, "PAUSED"), AT).connectors["a"].offsets_token == "old"


def test_an_update_after_the_offsets_step_keeps_the_new_token() -> None:
    after = record(STATE, landed(offsets_step()), AT)
    update = Step("a", "update", Action.UPDATE, config=cfg("a", x="2"), digested=cfg("a", x="2"), keeps="RUNNING")
    assert record(after, landed(update), AT).connectors["a"].offsets_token == "b"


def test_a_create_of_a_connector_new_to_the_state_has_no_token() -> None:
    create = Step("n", "create", Action.CREATE, config=cfg("n"), digested=cfg("n"), target="RUNNING")
    assert record(STATE, landed(create), AT).connectors["n"].offsets_token is None


def test_a_delete_drops_the_record_with_its_token() -> None:
    assert record(STATE, landed(Step("a", "delete", Action.DELETE), None), AT).connectors == {}


def test_a_failed_offsets_step_leaves_the_state_unchanged() -> None:
    assert record(STATE, landed(offsets_step(), None, ok=False), AT) is STATE



def test_a_replace_keeps_the_token_so_the_operation_does_not_run_again() -> None:
    declared = with_offsets(spec("a", {"topics": "t"}, cls=SINK), RESET_A)
    state = prior(with_token(rec("a", {"topic": "t"}), "a"))
    p = plan([declared], state, [live("a", {"topic": "t"})])
    assert [(c.action, c.offsets) for c in p.changes] == [(Action.REPLACE, None)]
    for step in build_steps(p, {"a": {**declared.config}}, initial_state=True):
        state = record(state, landed(step, step.target), AT)
    assert state.connectors["a"].offsets_token == "a"

# -- the state file -------------------------------------------------------------------------------

def test_to_json_omits_a_missing_token_and_writes_a_set_one() -> None:
    state = State(lineage="lin", serial=1, digest_salt=SALT, connectors={
        "a": ManagedConnector(name="a", config={"name": "a", "topic": "t"}, applied_at=AT),
        "b": ManagedConnector(name="b", config={"name": "b", "topic": "t"}, applied_at=AT, offsets_token="r1")})
    doc = json.loads(state.to_json())
    assert doc["connectors"] == {
        "a": {"name": "a", "config": {"name": "a", "topic": "t"}, "state": "RUNNING", "prevent_destroy": False,
              "applied_at": AT},
        "b": {"name": "b", "config": {"name": "b", "topic": "t"}, "state": "RUNNING", "prevent_destroy": False,
              "applied_at": AT, "offsets_token": "r1"},
    }
    assert State.model_validate(doc) == state
    assert State.model_validate_json(state.to_json()) == state


def test_a_state_file_with_a_token_loads_it() -> None:
    text = json.dumps({"format_version": 1, "lineage": "lin", "serial": 2, "kafka_cluster_id": None,
                       "digest_salt": SALT, "connectors": {"a": {
                           "name": "a", "config": {"name": "a"}, "state": "STOPPED", "prevent_destroy": True,
                           "applied_at": AT, "offsets_token": "2026-12-04-replay"}}})
    state = State.model_validate_json(text)
    assert state.connectors["a"] == ManagedConnector(name="a", config={"name": "a"}, state="STOPPED",
                                                     prevent_destroy=True, applied_at=AT,
                                                     offsets_token="2026-12-04-replay")
    assert json.loads(state.to_json()) == json.loads(text)


# -- offsets_match: the read-back after a lost answer ---------------------------------------------

def test_a_reset_is_done_when_no_partition_has_an_offset() -> None:
    assert offsets_match([], RESET_A)
    assert offsets_match([ConnectorOffset(P0, None), ConnectorOffset(P1, None)], RESET_A)
    assert not offsets_match([ConnectorOffset(P0, None), ConnectorOffset(P1, {"kafka_offset": 0})], RESET_A)


def test_a_set_is_done_when_every_entry_is_there_whatever_the_key_order() -> None:
    reported = [ConnectorOffset({"kafka_partition": 0, "kafka_topic": "orders"}, {"kafka_offset": 42}),
                ConnectorOffset({"kafka_partition": 2, "kafka_topic": "orders"}, {"kafka_offset": 7})]
    assert offsets_match(reported, SET)  # P1 absent: its offset None is done
    with_null = [*reported, ConnectorOffset({"kafka_partition": 1, "kafka_topic": "orders"}, None)]
    assert offsets_match(with_null, SET)
    sorted_op = OffsetsOp(token="s", kind="set", entries=(
        {"partition": {"kafka_partition": 0, "kafka_topic": "orders"}, "offset": {"kafka_offset": 42}},))
    assert offsets_match([ConnectorOffset(P0, {"kafka_offset": 42})], sorted_op)
    nested = OffsetsOp(token="n", kind="set", entries=({"partition": {"f": "/x"}, "offset": {"b": 2, "a": 1}},))
    assert offsets_match([ConnectorOffset({"f": "/x"}, {"a": 1, "b": 2})], nested)


@pytest.mark.parametrize("reported", [
    [],
    [ConnectorOffset(P0, {"kafka_offset": 41})],
    [ConnectorOffset(P0, None)],
    [ConnectorOffset(P0, {"kafka_offset": 42}), ConnectorOffset(P1, {"kafka_offset": 3})],
    [ConnectorOffset({"kafka_topic": "orders", "kafka_partition": "0"}, {"kafka_offset": 42})],
    [ConnectorOffset(P0, {"kafka_offset": 42, "extra": 1})],
], ids=["nothing", "other-offset", "null-offset", "reset-entry-still-set", "partition-as-string", "extra-field"])
def test_a_set_is_not_done_otherwise(reported: list[ConnectorOffset]) -> None:
    assert not offsets_match(reported, SET)


# -- offsets_problems / set_targets ---------------------------------------------------------------

def test_an_older_worker_refuses_every_operation_naming_its_version() -> None:
    one = make_plan(offsets_change("a"))
    assert offsets_problems(one, "3.5.1", False, {}) == [
        "'a' declares an offsets operation; altering offsets needs Kafka Connect 3.6 or newer, the worker runs 3.5.1"]
    two = make_plan(offsets_change("a"), offsets_change("b", SET), Change(name="c", action=Action.NOOP))
    assert offsets_problems(two, "", False, {}) == [
        "'a', 'b' declare an offsets operation; altering offsets needs Kafka Connect 3.6 or newer, the worker "
        "runs an unknown version"]


def test_a_plan_without_operations_has_no_problem_even_on_an_older_worker() -> None:
    assert offsets_problems(make_plan(Change(name="a", action=Action.NOOP)), "3.5.1", False, {}) == []


def test_set_targets_are_the_sets_on_connectors_that_exist() -> None:
    plan_ = make_plan(
        offsets_change("a", SET),
        offsets_change("b", RESET_A),
        Change(name="c", action=Action.CREATE, state_to="RUNNING", desired_config=cfg("c"), offsets=SET),
        Change(name="d", action=Action.REPLACE, state_to="RUNNING", desired_config=cfg("d"), offsets=SET),
        Change(name="e", action=Action.UPDATE, state_from="RUNNING", state_to="RUNNING",
               desired_config=cfg("e", x="1"), offsets=SET),
        Change(name="f", action=Action.NOOP),
    )
    assert set_targets(plan_) == ["a", "e"]


def test_a_set_on_a_connector_the_plan_creates_is_refused() -> None:
    plan_ = make_plan(
        Change(name="c", action=Action.CREATE, state_to="RUNNING", desired_config=cfg("c"), offsets=SET),
        Change(name="d", action=Action.REPLACE, state_to="RUNNING", desired_config=cfg("d"), offsets=SET),
        Change(name="r", action=Action.CREATE, state_to="RUNNING", desired_config=cfg("r"), offsets=RESET_A))
    assert offsets_problems(plan_, "3.7.0", True, {}) == [
        "connector 'c': offsets.set 'skip-bad-row' needs the partitions the connector reports, and this plan "
        "creates it: apply it first, then declare the set",
        "connector 'd': offsets.set 'skip-bad-row' needs the partitions the connector reports, and this plan "
        "creates it: apply it first, then declare the set",
    ]


def test_a_set_naming_a_partition_the_connector_does_not_report_is_refused() -> None:
    reported = {"a": [ConnectorOffset(P0, {"kafka_offset": 1}),
                      ConnectorOffset({"kafka_topic": "orders", "kafka_partition": 2}, None)]}
    assert offsets_problems(make_plan(offsets_change("a", SET)), "3.7.0", True, reported) == [
        "connector 'a': offsets.set 'skip-bad-row' names partition(s) the connector does not report: "
        '{"kafka_partition": 1, "kafka_topic": "orders"}; it reports '
        '{"kafka_partition": 0, "kafka_topic": "orders"}, {"kafka_partition": 2, "kafka_topic": "orders"}']
    assert offsets_problems(make_plan(offsets_change("a", SET)), "3.7.0", True, {}) == [
        "connector 'a': offsets.set 'skip-bad-row' names partition(s) the connector does not report: "
        '{"kafka_partition": 0, "kafka_topic": "orders"}, {"kafka_partition": 1, "kafka_topic": "orders"}; '
        "it reports none yet"]


def test_more_reported_partitions_than_shown_are_counted() -> None:
    reported = {"a": [ConnectorOffset({"p": i}, None) for i in range(7)]}
    op = OffsetsOp(token="t", kind="set", entries=({"partition": {"p": 9}, "offset": None},))
    assert offsets_problems(make_plan(offsets_change("a", op)), "3.7.0", True, reported) == [
        "connector 'a': offsets.set 't' names partition(s) the connector does not report: {\"p\": 9}; it reports "
        '{"p": 0}, {"p": 1}, {"p": 2}, {"p": 3}, {"p": 4} and 2 more']


def test_a_matching_set_and_a_reset_have_no_problem() -> None:
    reported = {"a": [ConnectorOffset({"kafka_partition": 1, "kafka_topic": "orders"}, None),
                      ConnectorOffset({"kafka_partition": 0, "kafka_topic": "orders"}, {"kafka_offset": 9})]}
    assert offsets_problems(make_plan(offsets_change("a", SET)), "3.7.0", True, reported) == []
    assert offsets_problems(make_plan(offsets_change("b", RESET_A)), "3.7.0", True, {}) == []


# -- freshness ------------------------------------------------------------------------------------

def fresh_spec(op: OffsetsOp | None) -> ConnectorSpec:
    return ConnectorSpec(name="a", config=cfg("a"), offsets=op)


def test_the_code_must_still_declare_the_planned_operation() -> None:
    plan_ = make_plan(offsets_change("a", RESET_A))
    assert freshness.render_problems(plan_, freshness.Rendered({"a": fresh_spec(RESET_A)}, SK)) == []
    assert freshness.render_problems(plan_, freshness.Rendered({"a": fresh_spec(RESET_B)}, SK)) == [
        "connector 'a': the code now declares another offsets operation ('b', the plan 'a')"]
    assert freshness.render_problems(plan_, freshness.Rendered({"a": fresh_spec(None)}, SK)) == [
        "connector 'a': the code now declares another offsets operation (none, the plan 'a')"]


def test_the_same_token_with_other_entries_is_another_operation() -> None:
    plan_ = make_plan(offsets_change("a", SET))
    other = SET.model_copy(update={"entries": SET.entries[:1]})
    assert freshness.render_problems(plan_, freshness.Rendered({"a": fresh_spec(other)}, SK)) == [
        "connector 'a': the code now declares another offsets operation ('skip-bad-row', the plan 'skip-bad-row')"]


# -- the plan file --------------------------------------------------------------------------------

def test_an_offsets_change_without_its_operation_is_inconsistent() -> None:
    bad = make_plan(Change(name="a", action=Action.OFFSETS, state_from="RUNNING", state_to="RUNNING",
                           desired_config=cfg("a")))
    assert planfile.inconsistency(bad) == "changes.0 (connector 'a', offsets): the offsets operation is missing"


@pytest.mark.parametrize("action", [Action.DELETE, Action.FORGET, Action.NOOP])
def test_an_operation_on_a_change_that_writes_no_config_is_inconsistent(action: Action) -> None:
    bad = make_plan(offsets_change("a"), Change(name="b", action=action, offsets=RESET_A))
    assert planfile.inconsistency(bad) == (
        f"changes.1 (connector 'b', {action.value}): a {action.value} carries no offsets operation")


def test_consistent_plans_with_operations_pass_and_round_trip(tmp_path: Path) -> None:
    p = make_plan(offsets_change("a", SET, offsets_from="old"),
                  Change(name="b", action=Action.CREATE, state_to="RUNNING", desired_config=cfg("b"), offsets=RESET_A))
    assert planfile.inconsistency(p) is None
    planfile.write(tmp_path / "plan.out", p, AT)
    assert planfile.read(tmp_path / "plan.out").plan == p


# -- the plan view --------------------------------------------------------------------------------

def view_plan() -> Plan:
    state = prior(with_token(rec("a", {"topic": "t"}), "r1"), rec("b", {"topic": "t"}, state="PAUSED"))
    return plan([with_offsets(spec("a", {"topic": "t"}), RESET_B),
                 with_offsets(spec("b", {"topic": "t"}, state="PAUSED"), SET)],
                state, [live("a", {"topic": "t"}), live("b", {"topic": "t"}, state="PAUSED")])


def test_the_human_plan_shows_the_operation_and_what_apply_does() -> None:
    assert render_plan(view_plan(), PLAIN) == """\
Plan for environment "dev" (Kafka cluster cluster-A at http://connect:8083).

kcplan will perform the following actions:

  ~ offsets a
      ~ offsets: reset (delete every offset: start over), token 'b' (applied before: 'r1')
          apply: stop, delete the offsets, then RUNNING

  ~ offsets b
      ~ offsets: set, token 'skip-bad-row'
          {"kafka_partition": 0, "kafka_topic": "orders"} -> {"kafka_offset": 42}
          {"kafka_partition": 1, "kafka_topic": "orders"} -> reset
          apply: stop, alter the offsets, then PAUSED

Plan: 0 to add, 2 to change, 0 to destroy.
"""


def test_an_update_shows_its_keys_its_run_state_then_its_operation() -> None:
    p = plan([with_offsets(spec("a", {"topic": "u"}, state="STOPPED"), RESET_A)], prior(rec("a", {"topic": "t"})),
             [live("a", {"topic": "t"})])
    lines = render_plan(p, PLAIN).splitlines()
    assert lines[4:9] == [
        "  ~ update a",
        '      ~ topic: "t" -> "u"',
        "      ~ run state: RUNNING -> STOPPED",
        "      ~ offsets: reset (delete every offset: start over), token 'a'",
        "          apply: stop, delete the offsets, then STOPPED",
    ]


def test_the_json_plan_has_the_operation_of_each_change() -> None:
    doc = plan_json(view_plan(), "0.0.0")
    assert [(c["name"], c["action"], c["offsets"]) for c in doc["changes"]] == [
        ("a", "offsets", {"kind": "reset", "token": "b", "applied_before": "r1", "set": None}),
        ("b", "offsets", {"kind": "set", "token": "skip-bad-row", "applied_before": None, "set": [
            {"partition": P0, "offset": {"kafka_offset": 42}},
            {"partition": P1, "offset": None},
        ]}),
    ]
    assert doc["summary"]["change"] == 2
    json.dumps(doc)  # serialisable as it is


# -- rollback -------------------------------------------------------------------------------------

def test_rollback_says_an_operation_cannot_be_undone() -> None:
    plan_ = make_plan(
        offsets_change("a", RESET_A),
        Change(name="b", action=Action.CREATE, state_to="RUNNING", desired_config=cfg("b"), offsets=RESET_B),
        Change(name="c", action=Action.CREATE, state_to="RUNNING", desired_config=cfg("c")),
    )
    steps, notes = rollback_steps(["a", "b", "c"], plan_, {}, STATE, SK, SALT, initial_state=True)
    assert notes == [
        "a: its offsets operation 'a' cannot be undone; its offsets stay as this apply left them",
        "b: its offsets operation 'b' cannot be undone; its offsets stay as this apply left them",
    ]
    assert [(s.name, s.op, s.rollback) for s in steps] == [("b", "delete", True), ("c", "delete", True)]
