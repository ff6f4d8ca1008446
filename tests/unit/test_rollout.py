"""Safe rollouts, pure parts: the stability window of the health check, the waves of --canary/--wave-size,
their summary, and the option checks of 'kcplan apply' (literal inputs, exact outputs)."""

from __future__ import annotations

from pathlib import Path

import pytest

from kcplan.apply import health
from kcplan.apply.health import Expectation
from kcplan.apply.options import DEFAULT_VERIFY_STABLE, STABLE_ENV, default_verify_stable
from kcplan.apply.steps import Outcome, Step, StepResult
from kcplan.apply.waves import merge_outcomes, plan_waves
from kcplan.connect.models import ConnectorStatus, TaskStatus
from kcplan.plan.model import Action, Change, Plan
from kcplan.views.apply_view import render_waves
from tests.helpers import LOCAL_SETTINGS, run_kcplan, write_project
from tests.unit.test_health import FakeClock, Script

TRACE = "org.apache.kafka.connect.errors.DataException: JsonConverter with schemas.enable requires ...\n\tat X\n"


def status(name: str, state: str) -> ConnectorStatus:
    return ConnectorStatus(name=name, state="RUNNING", tasks=(TaskStatus(0, state, "w1:8083",
                                                                         TRACE if state == "FAILED" else None),))


def run_verify(answers: list[dict[str, ConnectorStatus]], exps: list[Expectation], stable: float,
               timeout: float = 120) -> tuple[list[health.HealthResult], float]:
    clock = FakeClock()
    results = health.verify(Script(list(answers), clock), exps, timeout=timeout, interval=1.0, stable=stable,
                            clock=clock, sleep=clock.sleep)
    return results, clock.now - 100.0


def test_a_task_failing_inside_the_window_makes_the_verdict_failed() -> None:
    polls = [{"s": status("s", "RUNNING")}] * 5 + [{"s": status("s", "FAILED")}]
    exp = [Expectation("s", "RUNNING", "create", 99.0)]
    without, _ = run_verify(polls, exp, stable=0)
    assert [r.verdict for r in without] == ["healthy"]  # 2 s of RUNNING were enough before the window
    with_window, _ = run_verify(polls, exp, stable=30)
    assert [(r.verdict, r.detail) for r in with_window] == [("failed", "task 0 FAILED")]
    assert with_window[0].failures[0].trace == TRACE


def test_the_windows_of_all_connectors_run_at_once() -> None:
    polls = [{"a": status("a", "RUNNING"), "b": status("b", "RUNNING")}]
    exps = [Expectation("a", "RUNNING", "create", 99.0), Expectation("b", "RUNNING", "create", 99.0)]
    results, took = run_verify(polls, exps, stable=30)
    assert [r.verdict for r in results] == ["healthy", "healthy"]
    assert 30 <= took < 33  # one window, not two


def test_a_window_not_over_at_the_deadline_is_unverified_and_says_how_far_it_got() -> None:
    results, _ = run_verify([{"s": status("s", "RUNNING")}], [Expectation("s", "RUNNING", "create", 99.0)],
                            stable=30, timeout=12)
    assert results[0].verdict == "unverified"
    assert results[0].detail == "RUNNING, tasks: 1 RUNNING (healthy for 12 s of the 30 s needed); 13 s after the write"


def test_paused_and_stopped_connectors_do_not_wait_for_the_window() -> None:
    paused = ConnectorStatus(name="p", state="PAUSED", tasks=(TaskStatus(0, "PAUSED", "w1:8083"),))
    results, took = run_verify([{"p": paused}], [Expectation("p", "PAUSED", "pause", 99.0)], stable=30)
    assert [r.verdict for r in results] == ["healthy"]
    assert took < 5


def change(name: str, action: Action = Action.CREATE, canary: bool = False) -> Change:
    return Change(name=name, action=action, canary=canary, desired_config={"name": name})


def plan(*changes: Change) -> Plan:
    return Plan(env="dev", digest_salt="s", changes=changes)


def test_waves_put_declared_canaries_first_then_plan_order_and_state_only_actions_in_the_first() -> None:
    p = plan(change("a"), change("b"), change("c", Action.ADOPT), change("d", Action.UPDATE), change("e"),
             change("f", canary=True), Change(name="g", action=Action.NOOP))
    assert plan_waves(p) == [("a", "b", "c", "d", "e", "f")]
    assert plan_waves(p, canary=2) == [("c", "f", "a"), ("b", "d", "e")]
    assert plan_waves(p, canary=1, wave_size=2) == [("c", "f"), ("a", "b"), ("d", "e")]
    assert plan_waves(p, wave_size=4) == [("c", "f", "a", "b", "d"), ("e",)]
    assert plan_waves(p, canary=10) == [("c", "f", "a", "b", "d", "e")]
    assert plan_waves(plan(), canary=2) == []


def test_merged_outcomes_add_up() -> None:
    one, two = Step("a", "create", Action.CREATE), Step("b", "create", Action.CREATE)
    first = Outcome(results=[StepResult(one, True, "RUNNING")], seconds=1.5)
    second = Outcome(results=[StepResult(two, False)], skipped=[two], interrupted=True, seconds=2.0)
    merged = merge_outcomes([first, second])
    assert [r.step.name for r in merged.results] == ["a", "b"]
    assert (merged.skipped, merged.interrupted, merged.seconds, merged.failed_names) == ([two], True, 3.5, {"b"})


def test_the_rollout_summary_names_the_wave_that_stopped_and_what_was_not_touched() -> None:
    done = Outcome(results=[StepResult(Step("f", "create", Action.CREATE), True, "RUNNING"),
                            StepResult(Step("a", "create", Action.CREATE), True, "RUNNING")], seconds=1.0)
    waves = [{"wave": 1, "connectors": ["f", "a"], "status": "unhealthy"},
             {"wave": 2, "connectors": ["b", "c"], "status": "not started"}]
    assert render_waves(waves, done) == (
        "Waves: 0 of 2 healthy; wave 1 (f, a) unhealthy: the rollout stopped there.\n"
        "Rollout complete: 2 added, 0 changed, 0 destroyed (1.0 s).\n"
        "Not touched (later waves): b, c. The state does not record them; 'kcplan plan' shows them.\n")


@pytest.mark.parametrize(("value", "expected"), [
    (None, DEFAULT_VERIFY_STABLE), ("0", 0.0), ("12.5", 12.5), ("-1", DEFAULT_VERIFY_STABLE),
    ("soon", DEFAULT_VERIFY_STABLE)])
def test_the_default_window_comes_from_the_environment_when_it_is_a_number(
        monkeypatch: pytest.MonkeyPatch, value: str | None, expected: float) -> None:
    if value is None:
        monkeypatch.delenv(STABLE_ENV, raising=False)
    else:
        monkeypatch.setenv(STABLE_ENV, value)
    assert default_verify_stable() == expected


def test_option_mistakes_are_refused_before_anything_is_read(tmp_path: Path) -> None:
    root = write_project(tmp_path / "p", LOCAL_SETTINGS)
    plan_file = root / "plan.out"
    plan_file.write_text("not a plan: never read")
    window = run_kcplan(root, "apply", str(plan_file), "--verify-stable", "60", "--verify-timeout", "30")
    assert window.returncode == 1
    assert "--verify-stable 60 must be shorter than --verify-timeout 30" in window.stderr
    waves = run_kcplan(root, "apply", str(plan_file), "--canary", "1", "--no-verify")
    assert waves.returncode == 1
    assert "--canary and --wave-size need the health verification between waves" in waves.stderr
    zero = run_kcplan(root, "apply", str(plan_file), "--wave-size", "0")
    assert zero.returncode == 1 and "argument --wave-size: must be 1 or more" in zero.stderr
    assert "Traceback" not in window.stderr + waves.stderr + zero.stderr
