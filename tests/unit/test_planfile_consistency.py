"""planfile.loads refuses plans no planner writes (found by tests/property: such a plan, with a valid
checksum, made 'kcplan apply FILE' die with 'internal error: ValueError' in build_steps)."""

from __future__ import annotations

import pytest

from kcplan.errors import PlanError
from kcplan.plan import planfile
from kcplan.plan.model import Action, Change, Plan

CONFIG = {"connector.class": "org.apache.kafka.connect.file.FileStreamSourceConnector", "name": "a"}


def plan_of(*changes: Change) -> Plan:
    return Plan(env="dev", digest_salt="ab" * 16, changes=changes)


def loads(plan: Plan) -> planfile.PlanFile:
    return planfile.loads(planfile.dumps(plan, "2025-01-01T00:00:00Z"), "p.plan")


def test_plans_the_planner_writes_are_accepted() -> None:
    plan = plan_of(Change(name="a", action=Action.CREATE, desired_config=CONFIG, state_to="RUNNING"),
                   Change(name="b", action=Action.DELETE), Change(name="c", action=Action.FORGET),
                   Change(name="d", action=Action.NOOP),
                   Change(name="e", action=Action.PAUSE, desired_config={**CONFIG, "name": "e"},
                          state_from="RUNNING", state_to="PAUSED"))
    assert loads(plan).plan == plan


@pytest.mark.parametrize("action", [Action.CREATE, Action.UPDATE, Action.REPLACE, Action.ADOPT])
def test_a_writing_action_without_config_is_refused(action: Action) -> None:
    with pytest.raises(PlanError) as info:
        loads(plan_of(Change(name="gone-1", action=action, state_to="RUNNING")))
    assert info.value.message == (f"the plan file p.plan is broken at changes.0 (connector 'gone-1', "
                                  f"{action.value}): desired_config is missing")


def test_a_pause_to_another_state_is_refused() -> None:
    with pytest.raises(PlanError, match=r"changes\.0 \(connector 'a', pause\): state_to must be PAUSED, "
                                        r"not RUNNING$"):
        loads(plan_of(Change(name="a", action=Action.PAUSE, desired_config=CONFIG, state_to="RUNNING")))


def test_a_connector_named_twice_is_refused() -> None:
    with pytest.raises(PlanError, match=r"changes\.1 \(connector 'a', delete\): the connector appears twice"):
        loads(plan_of(Change(name="a", action=Action.CREATE, desired_config=CONFIG),
                      Change(name="a", action=Action.DELETE)))
