"""`kcplan apply --json`: the document built from literal outcomes and health results."""

from __future__ import annotations

import json

from kcplan.apply.health import Failure, HealthResult
from kcplan.apply.steps import Outcome, Step, StepResult
from kcplan.errors import InvalidConfig
from kcplan.plan.model import Action
from kcplan.views.apply_json import Report, health_doc, outcome_doc, render_json

TRACE = "org.apache.kafka.common.config.ConfigException: Invalid value bogus for acks\n\tat org.apache.Foo.bar()"


def test_outcome_with_a_failure_a_skip_and_a_state_only_step() -> None:
    create = Step("a", "create", Action.CREATE, config={"x": "1"}, target="RUNNING")
    bad = Step("b", "update", Action.UPDATE, config={"x": "2"}, keeps="RUNNING")
    later = Step("b", "run_state", Action.UPDATE, target="PAUSED")
    gone = Step("c", "delete", Action.DELETE)
    adopt = Step("d", "adopt", Action.ADOPT, target="RUNNING")
    error = InvalidConfig("b: the worker rejected the config", 400, errors={"x": ["bad"]})
    outcome = Outcome(results=[StepResult(create, True, "RUNNING", 1.25, 2.0),
                               StepResult(bad, False, None, 0.5, 1.0, error),
                               StepResult(gone, True, None, 0.1, 3.0, note="already gone"),
                               StepResult(adopt, True, "RUNNING", 0.0, 3.0)],
                      skipped=[later], seconds=4.5)
    assert outcome_doc(outcome) == {
        "complete": False, "interrupted": False,
        "counts": {"added": 1, "changed": 0, "destroyed": 1, "adopted": 1, "forgotten": 0, "failed": 1},
        "steps": [
            {"connector": "a", "step": "create", "action": "create", "ok": True, "seconds": 1.25},
            {"connector": "b", "step": "update", "action": "update", "ok": False, "seconds": 0.5,
             "error": "b: the worker rejected the config"},
            {"connector": "c", "step": "delete", "action": "delete", "ok": True, "seconds": 0.1,
             "note": "already gone"},
            {"connector": "d", "step": "adopt", "action": "adopt", "ok": True, "seconds": 0.0}],
        "skipped": [{"connector": "b", "step": "pause", "action": "update"}],
        "not_started": [], "abandoned": [], "state_save_error": None, "unsaved": [], "seconds": 4.5}


def test_health_traces_are_cut_to_their_first_line_unless_verbose() -> None:
    failed = HealthResult("b", "failed", "RUNNING", 0, 1, (Failure("0", "w1:8083", TRACE),), "task 0 FAILED",
                          worker="w1:8083")
    healthy = HealthResult("a", "healthy", "RUNNING", 2, 2, (), "")
    assert health_doc([healthy, failed], verbose=False) == [
        {"connector": "a", "verdict": "healthy", "state": "RUNNING", "tasks_running": 2, "tasks_total": 2,
         "worker": None, "restarted": False, "detail": None, "failures": []},
        {"connector": "b", "verdict": "failed", "state": "RUNNING", "tasks_running": 0, "tasks_total": 1,
         "worker": "w1:8083", "restarted": False, "detail": "task 0 FAILED",
         "failures": [{"task": "0", "worker": "w1:8083",
                       "trace": "org.apache.kafka.common.config.ConfigException: Invalid value bogus for acks"}]}]
    assert health_doc([failed], verbose=True)[0]["failures"][0]["trace"] == TRACE


def test_document_with_a_rollback_part() -> None:
    report = Report(env="prod", apply={"complete": True}, health=[], rollback=Report(env="prod", apply={"x": 1}))
    assert json.loads(render_json(report, 3)) == {
        "format_version": 1, "env": "prod", "exit_code": 3, "apply": {"complete": True}, "health": [],
        "health_error": None,
        "rollback": {"apply": {"x": 1}, "health": None, "health_error": None, "rollback": None}, "waves": None}
