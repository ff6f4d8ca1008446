"""Apply's pure parts: plan -> steps, step results -> state, freshness checks, rollback steps, and the
executor's scheduling (phases, skips, saves, interrupts) with a scripted step runner and a real state
file. Talking to Connect is tested against the real worker (tests/integration/test_apply_*.py)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from kcplan.apply import freshness
from kcplan.apply.executor import Executor
from kcplan.apply.rollback import rollback_steps
from kcplan.apply.steps import Outcome, Step, StepResult, build_steps, record, verify_targets
from kcplan.config.models import ConnectorSpec
from kcplan.config.sensitive import SensitiveKeys
from kcplan.connect.models import ConnectorStatus, LiveConnector
from kcplan.errors import ApiError, InvalidConfig, PlanError
from kcplan.plan.model import Action, Change, Plan
from kcplan.plan.planner import live_fingerprint
from kcplan.state.digest import digest
from kcplan.state.model import ManagedConnector, State
from kcplan.state.store import StateStore
from kcplan.views.apply_json import _result as result_doc
from kcplan.views.apply_view import progress_line, render_summary

SRC = "org.apache.kafka.connect.file.FileStreamSourceConnector"
SALT = "5a" * 16
SK = SensitiveKeys()
AT = "2025-01-01T00:00:00Z"


def cfg(name: str, **extra: str) -> dict[str, str]:
    return {"connector.class": SRC, "name": name, "topic": "t", **extra}


def live(name: str, state: str = "RUNNING", **extra: str) -> LiveConnector:
    return LiveConnector(name=name, config=cfg(name, **extra), type="source",
                         status=ConnectorStatus(name=name, state=state))


def change(name: str, action: Action, **kw: object) -> Change:
    return Change(name=name, action=action, **kw)  # type: ignore[arg-type]


def make_plan(*changes: Change, lineage: str | None = "lin", serial: int = 3, refreshed: bool = True) -> Plan:
    return Plan(env="dev", kafka_cluster_id="c1", state_lineage=lineage, state_serial=serial, digest_salt=SALT,
                refreshed=refreshed, changes=changes)


# -- build_steps ------------------------------------------------------------------------------------

def test_steps_come_in_phases_delete_then_write_then_run_state() -> None:
    plan = make_plan(
        change("a", Action.CREATE, state_to="PAUSED", desired_config=cfg("a")),
        change("b", Action.DELETE, state_from="RUNNING"),
        change("c", Action.UPDATE, state_from="RUNNING", state_to="STOPPED", desired_config=cfg("c", x="1")),
        change("d", Action.REPLACE, state_to="RUNNING", desired_config=cfg("d")),
        change("e", Action.PAUSE, state_from="RUNNING", state_to="PAUSED", desired_config=cfg("e")),
        change("f", Action.ADOPT, state_to="RUNNING", desired_config=cfg("f")),
        change("g", Action.FORGET),
        change("h", Action.NOOP),
    )
    configs = {n: cfg(n, secret="plain") for n in "acdef"}
    steps = build_steps(plan, configs, initial_state=True)
    # pauses, resumes and stops get phases of their own: on a standalone worker they deadlock each other
    assert [(s.name, s.op, s.target, s.phase) for s in steps] == [
        ("b", "delete", None, 0), ("d", "delete", None, 0), ("f", "adopt", "RUNNING", 0), ("g", "forget", None, 0),
        ("a", "create", "PAUSED", 1), ("c", "update", None, 1), ("d", "create", "RUNNING", 1),
        ("e", "run_state", "PAUSED", 2), ("c", "run_state", "STOPPED", 4),
    ]
    a = steps[4]
    assert a.config == configs["a"] and a.digested == cfg("a")
    assert steps[5].keeps == "RUNNING"


def test_without_initial_state_support_a_create_runs_first_and_is_paused_later() -> None:
    plan = make_plan(change("a", Action.CREATE, state_to="STOPPED", desired_config=cfg("a")))
    steps = build_steps(plan, {"a": cfg("a")}, initial_state=False)
    assert [(s.op, s.target, s.phase) for s in steps] == [("create", "RUNNING", 1), ("run_state", "STOPPED", 4)]


def test_a_write_without_its_plain_config_is_refused() -> None:
    plan = make_plan(change("a", Action.UPDATE, state_from="RUNNING", state_to="RUNNING", desired_config=cfg("a")))
    with pytest.raises(ValueError, match="no config to write for connector 'a'"):
        build_steps(plan, {}, initial_state=True)


# -- record -----------------------------------------------------------------------------------------

def result(step: Step, ok: bool = True, reached: str | None = "RUNNING",
           error: Exception | None = None, seconds: float = 1.25, at: float = 10.0) -> StepResult:
    return StepResult(step, ok, reached, seconds, at, error)  # type: ignore[arg-type]


STATE = State(lineage="lin", serial=3, kafka_cluster_id="c1", digest_salt=SALT, connectors={
    "old": ManagedConnector(name="old", config=cfg("old"), applied_at=AT)})


def test_a_landed_write_is_recorded_with_its_digested_config_and_reached_state() -> None:
    digested = cfg("a", pw=digest("s3cret", SALT))
    step = Step("a", "create", Action.CREATE, config=cfg("a", pw="s3cret"), digested=digested, target="PAUSED",
                prevent_destroy=True)
    new = record(STATE, result(step, reached="PAUSED"), AT)
    assert new.connectors["a"] == ManagedConnector(name="a", config=digested, state="PAUSED", prevent_destroy=True,
                                                   applied_at=AT)
    assert "s3cret" not in new.to_json()


def test_failed_steps_leave_the_state_as_it_was() -> None:
    step = Step("old", "update", Action.UPDATE, config=cfg("old", x="2"), digested=cfg("old", x="2"), keeps="RUNNING")
    assert record(STATE, result(step, ok=False), AT) is STATE


def test_deletes_forgets_and_rollbacks_of_unmanaged_connectors_drop_the_record() -> None:
    for step in (Step("old", "delete", Action.DELETE), Step("old", "forget", Action.FORGET),
                 Step("old", "update", Action.UPDATE, config=cfg("old"), digested=cfg("old"), keeps="RUNNING",
                      forget=True, rollback=True)):
        assert record(STATE, result(step, reached=None if step.op != "update" else "RUNNING"), AT).connectors == {}


# -- verify_targets ---------------------------------------------------------------------------------

def test_only_connectors_whose_every_step_succeeded_are_verified() -> None:
    upd = Step("u", "update", Action.UPDATE, config=cfg("u"), digested=cfg("u"), keeps="RUNNING")
    pause = Step("u", "run_state", Action.UPDATE, digested=cfg("u"), target="PAUSED")
    bad = Step("x", "create", Action.CREATE, config=cfg("x"), digested=cfg("x"), target="RUNNING")
    rdel = Step("r", "delete", Action.REPLACE)
    rcre = Step("r", "create", Action.REPLACE, config=cfg("r"), digested=cfg("r"), target="RUNNING")
    gone = Step("d", "delete", Action.DELETE)
    adopt = Step("f", "adopt", Action.ADOPT, digested=cfg("f"), target="RUNNING")
    later = Step("s", "run_state", Action.UPDATE, digested=cfg("s"), target="PAUSED")
    supd = Step("s", "update", Action.UPDATE, config=cfg("s"), digested=cfg("s"), keeps="RUNNING")
    outcome = Outcome(results=[
        result(upd, at=1.0), result(pause, reached="PAUSED", at=2.0), result(bad, ok=False),
        result(rdel, reached=None, at=3.0), result(rcre, at=4.0), result(gone, reached=None, at=5.0),
        result(adopt), result(supd, at=6.0)], not_started=[later])
    assert verify_targets(outcome) == [("d", "ABSENT", "delete", 5.0), ("r", "RUNNING", "replace", 4.0),
                                       ("u", "PAUSED", "update", 2.0)]


# -- the executor loop (a scripted runner stands in for Connect; the state store is real) -----------

class Scripted:
    """Answers steps from a script: name -> error to raise (as a failed result), else success."""

    def __init__(self, fail: dict[str, Exception] | None = None, on_run: object = None) -> None:
        self.fail = fail or {}
        self.ran: list[tuple[str, str]] = []
        self.on_run = on_run
        self.lock = threading.Lock()

    def run(self, step: Step) -> StepResult:
        with self.lock:
            self.ran.append((step.name, step.op))
        if callable(self.on_run):
            self.on_run(step)
        if step.name in self.fail:
            return StepResult(step, False, None, 0.5, 1.0, self.fail[step.name])  # type: ignore[arg-type]
        reached = None if step.op in ("delete", "forget") else (step.target or step.keeps)
        return StepResult(step, True, reached, 0.5, 1.0)


def new_store(tmp_path: Path) -> StateStore:
    return StateStore(tmp_path / "dev.state.json")


def test_a_failed_step_stops_only_its_own_connector_and_every_result_is_saved(tmp_path: Path) -> None:
    plan = make_plan(
        change("a", Action.CREATE, state_to="RUNNING", desired_config=cfg("a")),
        change("b", Action.UPDATE, state_from="RUNNING", state_to="PAUSED", desired_config=cfg("b", x="2")),
        change("c", Action.CREATE, state_to="RUNNING", desired_config=cfg("c")),
        lineage=None, serial=0)
    steps = build_steps(plan, {n: cfg(n) for n in "abc"}, initial_state=True)
    error = InvalidConfig("PUT /connectors/b/config failed with HTTP 400: bad", 400)
    runner = Scripted({"b": error})
    store = new_store(tmp_path)
    lines: list[str] = []
    with store.locked("apply"):
        ex = Executor(runner, store, State().with_salt(SALT), parallelism=2,  # type: ignore[arg-type]
                      progress=lambda r, d, t: lines.append(progress_line(r, d, t)))
        outcome = ex.run(steps)
    saved = store.load()
    assert sorted(saved.connectors) == ["a", "c"] and saved.serial == 2 and saved.digest_salt == SALT
    assert [s.name for s in outcome.skipped] == ["b"] and ("b", "run_state") not in runner.ran
    assert sorted(line.rsplit("  [", 1)[0] for line in lines) == [
        "  ! b: update failed: PUT /connectors/b/config failed with HTTP 400: bad (0.5 s)",
        "  + a: created (0.5 s)", "  + c: created (0.5 s)"]
    assert sorted(line.rsplit("  [", 1)[1] for line in lines) == ["1/4]", "2/4]", "3/4]"]
    assert render_summary(outcome).splitlines() == [
        f"Apply finished with errors: 2 added, 0 changed, 0 destroyed; 1 failed ({outcome.seconds:.1f} s).",
        "",
        "Failed:",
        "  b (update): PUT /connectors/b/config failed with HTTP 400: bad",
        "Not done, because an earlier step of the same connector failed: b (pause)",
        "The state records every finished step; 'kcplan plan' shows what is left to do.",
    ]


def test_after_an_interrupt_nothing_new_starts_and_the_running_steps_are_recorded(tmp_path: Path) -> None:
    plan = make_plan(*(change(n, Action.CREATE, state_to="RUNNING", desired_config=cfg(n)) for n in "abcdef"),
                     lineage=None, serial=0)
    steps = build_steps(plan, {n: cfg(n) for n in "abcdef"}, initial_state=True)
    store = new_store(tmp_path)
    with store.locked("apply"):
        ex = Executor(Scripted(), store, State().with_salt(SALT), parallelism=2)  # type: ignore[arg-type]

        def interrupt_at_c(step: Step) -> None:
            if step.name == "c":
                ex.interrupts.count = 1  # what the first SIGINT does

        ex.runner.on_run = interrupt_at_c  # type: ignore[attr-defined]
        outcome = ex.run(steps)
    done = {r.step.name for r in outcome.results}
    assert {"a", "b", "c"} <= done and len(done) <= 4
    assert outcome.interrupted and sorted(done | {s.name for s in outcome.not_started}) == list("abcdef")
    assert sorted(store.load().connectors) == sorted(done)
    assert render_summary(outcome).splitlines()[0].startswith(f"Apply interrupted: {len(done)} added, 0 changed")


def test_a_state_that_cannot_be_written_stops_the_apply_and_names_what_is_unrecorded(tmp_path: Path) -> None:
    plan = make_plan(*(change(n, Action.CREATE, state_to="RUNNING", desired_config=cfg(n)) for n in "abc"),
                     lineage=None, serial=0)
    steps = build_steps(plan, {n: cfg(n) for n in "abc"}, initial_state=True)
    store = new_store(tmp_path)
    with store.locked("apply"):
        store.path.mkdir()  # a folder where the state file should be: every save fails
        outcome = Executor(Scripted(), store, State().with_salt(SALT), parallelism=1).run(steps)  # type: ignore[arg-type]
    assert outcome.save_error is not None and "dev.state.json" in outcome.save_error.message
    assert [r.step.name for r in outcome.results] == ["a"] and outcome.unsaved == ["a"]
    assert [s.name for s in outcome.not_started] == ["b", "c"]


# -- freshness --------------------------------------------------------------------------------------

def test_state_serial_lineage_and_salt_must_be_the_plans() -> None:
    plan = make_plan(serial=3)
    state = State(lineage="lin", serial=3, digest_salt=SALT)
    assert freshness.state_problems(plan, state) == []
    assert freshness.state_problems(plan, state.model_copy(update={"serial": 4})) == [
        "the state changed since the plan (serial 3 -> 4): another apply, import or 'state rm' ran, or this plan "
        "was applied already"]
    assert "another one" in freshness.state_problems(plan, state.model_copy(update={"lineage": "x"}))[0]
    assert "removed since the plan" in freshness.state_problems(plan, State())[0]
    assert "created since the plan" in freshness.state_problems(make_plan(lineage=None, serial=0), state)[0]
    assert "salt" in freshness.state_problems(plan, state.model_copy(update={"digest_salt": "ab" * 16}))[0]


def test_another_cluster_is_refused() -> None:
    assert freshness.cluster_problems(make_plan(), "c1") == []
    assert freshness.cluster_problems(make_plan(), "c2") == [
        "the Connect URL now answers for Kafka cluster c2, the plan was made against cluster c1"]


def test_live_fingerprints_of_touched_connectors_must_match() -> None:
    before = {"u": live("u"), "p": live("p"), "d": live("d")}
    plan = make_plan(
        change("u", Action.UPDATE, live_fingerprint=live_fingerprint(before["u"], SALT), desired_config=cfg("u")),
        change("p", Action.PAUSE, live_fingerprint=live_fingerprint(before["p"], SALT), desired_config=cfg("p")),
        change("d", Action.DELETE, live_fingerprint=live_fingerprint(before["d"], SALT)),
        change("n", Action.CREATE, desired_config=cfg("n")),
        change("x", Action.NOOP),
    )
    assert freshness.live_problems(plan, STATE, {**before, "x": live("x", "PAUSED")}) == []
    now = {"u": live("u", tasks="9"), "p": live("p", "PAUSED"), "n": live("n")}
    assert freshness.live_problems(plan, STATE, now) == [
        "connector 'u': config was changed on the cluster since the plan",
        "connector 'p': run state changed on the cluster (RUNNING -> PAUSED) since the plan",
        "connector 'd': was deleted from the cluster since the plan",
        "connector 'n': was created on the cluster by someone else since the plan",
    ]


def test_an_unrefreshed_plan_compares_live_with_the_state_record() -> None:
    plan = make_plan(change("old", Action.UPDATE, desired_config=cfg("old", x="1")),
                     change("new", Action.CREATE, desired_config=cfg("new")), refreshed=False)
    assert freshness.live_problems(plan, STATE, {"old": live("old")}) == []
    assert freshness.live_problems(plan, STATE, {"old": live("old", "PAUSED"), "new": live("new")}) == [
        "connector 'old' on the cluster differs from what the state records (the plan was made with --refresh=false)",
        "connector 'new' exists on the cluster now; the plan (--refresh=false) expected it absent",
    ]


def spec(name: str, state: str = "RUNNING", **extra: str) -> ConnectorSpec:
    return ConnectorSpec(name=name, config=cfg(name, **extra), state=state)  # type: ignore[arg-type]


def test_the_code_must_render_the_planned_configs_and_secrets_come_from_the_render() -> None:
    planned = cfg("a", **{"db.password": digest("s3cret", SALT)})
    plan = make_plan(change("a", Action.CREATE, state_to="RUNNING", desired_config=planned),
                     change("b", Action.UPDATE, state_to="PAUSED", desired_config=cfg("b", x="1")),
                     change("c", Action.CREATE, state_to="RUNNING", desired_config=cfg("c")),
                     change("d", Action.DELETE))
    same = freshness.Rendered({"a": spec("a", **{"db.password": "s3cret"}), "b": spec("b", "PAUSED", x="1"),
                               "c": spec("c")}, SK)
    assert freshness.render_problems(plan, same) == []
    assert freshness.write_configs(plan, same) == {"a": cfg("a", **{"db.password": "s3cret"}),
                                                    "b": cfg("b", x="1"), "c": cfg("c")}
    changed = freshness.Rendered({"a": spec("a", **{"db.password": "other"}), "b": spec("b", "RUNNING", x="2")}, SK)
    assert freshness.render_problems(plan, changed) == [
        "connector 'a': the code now renders a different value for db.password (secret values are compared by "
        "digest)",
        "connector 'b': the code now renders a different value for x (secret values are compared by digest)",
        "connector 'b': the code now declares run state RUNNING, the plan PAUSED",
        "connector 'c' is no longer declared in the code",
    ]


def test_a_stale_plan_error_lists_every_problem_and_says_to_plan_again() -> None:
    freshness.raise_if_stale([], "plan.out", "dev")
    with pytest.raises(PlanError) as info:
        freshness.raise_if_stale(["one", "two"], "plan.out", "dev")
    assert info.value.message == "the saved plan plan.out is stale; nothing was changed:\n  - one\n  - two"
    assert info.value.hint == "Run 'kcplan plan -e dev --out plan.out' again, review it, and apply the new plan."


# -- rollback ---------------------------------------------------------------------------------------

def test_rollback_deletes_new_connectors_and_restores_previous_configs_and_run_states() -> None:
    plan = make_plan(
        change("new", Action.CREATE, state_to="RUNNING", desired_config=cfg("new")),
        change("old", Action.UPDATE, state_from="PAUSED", state_to="RUNNING", desired_config=cfg("old", x="2")),
        change("adopted", Action.UPDATE, state_from="RUNNING", state_to="RUNNING", desired_config=cfg("adopted"),
               adopting=True),
        change("rep", Action.REPLACE, state_to="RUNNING", desired_config=cfg("rep")),
        change("res", Action.RESUME, state_from="STOPPED", state_to="RUNNING", desired_config=cfg("res")),
        change("gone", Action.DELETE),
    )
    previous = {"old": live("old", "PAUSED", x="1", **{"db.password": "pw"}), "adopted": live("adopted", y="0"),
                "rep": live("rep", "STOPPED"), "res": live("res", "STOPPED")}
    state = State(lineage="lin", serial=3, digest_salt=SALT, connectors={
        n: ManagedConnector(name=n, config=cfg(n), prevent_destroy=n == "old", applied_at=AT)
        for n in ("old", "rep", "res")})
    steps, notes = rollback_steps(["new", "old", "adopted", "rep", "res", "gone", "unknown"], plan, previous, state,
                                  SK, SALT, initial_state=True)
    assert notes == []
    assert [(s.name, s.op, s.target, s.forget) for s in steps] == [
        ("new", "delete", None, False), ("rep", "delete", None, False),
        ("adopted", "update", None, True), ("old", "update", None, False), ("rep", "create", "STOPPED", False),
        ("old", "run_state", "PAUSED", False), ("res", "run_state", "STOPPED", False),
    ]
    old = steps[3]
    assert old.config == cfg("old", x="1", **{"db.password": "pw"}) and old.keeps == "RUNNING" and old.rollback
    assert old.digested == cfg("old", x="1", **{"db.password": digest("pw", SALT)}) and old.prevent_destroy
    assert steps[4].target == "STOPPED"


def test_rollback_without_a_known_previous_config_says_so() -> None:
    plan = make_plan(change("u", Action.UPDATE, state_from="RUNNING", state_to="RUNNING", desired_config=cfg("u")))
    steps, notes = rollback_steps(["u"], plan, {}, STATE, SK, SALT, initial_state=True)
    assert steps == [] and notes == [
        "u: its previous config is not known (it was not on the cluster when the apply started); left as it is"]


def test_a_failure_with_a_specific_hint_shows_it_in_the_summary_and_the_json() -> None:
    create = Step("x", "create", Action.CREATE, config=cfg("x"), digested=cfg("x"), target="RUNNING")
    explained = ApiError("POST /connectors failed with HTTP 500: NPE", 500, hint="a plugin version is missing")
    summary = render_summary(Outcome(results=[result(create, ok=False, error=explained)]))
    assert summary.splitlines()[2:5] == ["Failed:", "  x (create): POST /connectors failed with HTTP 500: NPE",
                                         "    a plugin version is missing"]
    assert result_doc(result(create, ok=False, error=explained, seconds=0.5)) == {
        "connector": "x", "step": "create", "action": "create", "ok": False, "seconds": 0.5,
        "error": "POST /connectors failed with HTTP 500: NPE", "hint": "a plugin version is missing"}
    generic = ApiError("POST /connectors failed with HTTP 500: NPE", 500)  # the class's own hint is not repeated
    assert "hint" not in result_doc(result(create, ok=False, error=generic))
    assert render_summary(Outcome(results=[result(create, ok=False, error=generic)])).splitlines()[4].startswith(
        "The state records")


# -- view -------------------------------------------------------------------------------------------

def test_progress_lines() -> None:
    create = Step("orders-sink", "create", Action.CREATE, config=cfg("o"), digested=cfg("o"), target="RUNNING")
    assert progress_line(result(create, seconds=1.2), 3, 20) == "  + orders-sink: created (1.2 s)  [3/20]"
    paused = Step("p", "create", Action.CREATE, config=cfg("p"), digested=cfg("p"), target="PAUSED")
    lost = StepResult(paused, True, "PAUSED", 0.04, 1.0, None, "answer lost; read back: it had happened")
    assert progress_line(lost, 1, 2) == \
        "  + p: created (PAUSED) (0.0 s; answer lost; read back: it had happened)  [1/2]"
    stop = Step("s", "run_state", Action.UPDATE, digested=cfg("s"), target="STOPPED")
    invalid = InvalidConfig("HTTP 400: the config is invalid:\n  bad topics\n  bad topics\n  " + "x" * 300, 400)
    assert progress_line(result(stop, ok=False, error=invalid), 2, 2) == \
        "  ! s: stop failed: HTTP 400: the config is invalid: bad topics " + "x" * 193 + "... (1.2 s)  [2/2]"
    summary = render_summary(Outcome(results=[result(stop, ok=False, error=InvalidConfig(
        "HTTP 400: the config is invalid:\n  bad topics\n  bad topics", 400))]))
    assert summary.splitlines()[2:4] == ["Failed:", "  s (stop): HTTP 400: the config is invalid:"]
    assert summary.splitlines()[4:6] == ["    bad topics", "The state records every finished step; 'kcplan plan' "
                                         "shows what is left to do."]
    back = Step("u", "update", Action.UPDATE, config=cfg("u"), digested=cfg("u"), keeps="RUNNING", rollback=True)
    assert progress_line(result(back), 1, 1) == "  ~ u: rollback: previous config restored (1.2 s)  [1/1]"


def test_summary_of_a_clean_apply_counts_like_terraform() -> None:
    steps = [Step("a", "create", Action.CREATE, config=cfg("a"), digested=cfg("a"), target="RUNNING"),
             Step("r", "delete", Action.REPLACE),
             Step("r", "create", Action.REPLACE, config=cfg("r"), digested=cfg("r"), target="RUNNING"),
             Step("p", "run_state", Action.PAUSE, digested=cfg("p"), target="PAUSED"),
             Step("f", "adopt", Action.ADOPT, digested=cfg("f"), target="RUNNING")]
    outcome = Outcome(results=[result(s) for s in steps], seconds=2.04)
    assert render_summary(outcome) == \
        "Apply complete: 2 added, 1 changed, 1 destroyed; state only: 1 adopted, 0 forgotten (2.0 s).\n"
    rollback = Outcome(results=[result(Step("a", "delete", Action.CREATE, rollback=True), reached=None),
                                result(Step("u", "update", Action.UPDATE, config=cfg("u"), digested=cfg("u"),
                                            keeps="RUNNING", rollback=True))], seconds=1.0)
    assert render_summary(rollback, what="Rollback") == \
        "Rollback complete: 1 restored to their previous config, 1 created by this apply deleted (1.0 s).\n"


def test_the_first_interrupt_only_asks_to_stop_or_raises_while_waiting_for_health(
        capfd: pytest.CaptureFixture[str]) -> None:
    import signal as sig

    from kcplan.apply.interrupts import Interrupts

    interrupts = Interrupts()
    interrupts.under_way = lambda: ["a", "b"]
    interrupts._handle(sig.SIGINT, None)
    assert interrupts.requested and interrupts.count == 1
    assert capfd.readouterr().err == ("\nInterrupted (SIGINT): starting nothing new; waiting for 2 step(s) under way "
                                      "(a, b) to finish, then saving the state. Interrupt again to exit at once.\n")
    waiting = Interrupts()
    with waiting.raising(), pytest.raises(KeyboardInterrupt):
        waiting._handle(sig.SIGTERM, None)
    assert waiting.count == 1
    waiting.count = 0
    waiting._handle(sig.SIGTERM, None)  # outside raising() again: only asks to stop
    assert waiting.requested


def test_a_second_interrupt_abandons_at_once_unless_a_result_is_being_saved(
        capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    import signal as sig

    from kcplan.apply import interrupts as module
    from kcplan.apply.interrupts import Abandon, Interrupts

    interrupts = Interrupts()
    interrupts.under_way = lambda: ["a"]
    interrupts._handle(sig.SIGINT, None)
    capfd.readouterr()
    with pytest.raises(Abandon), interrupts.critical():
        interrupts._handle(sig.SIGINT, None)  # deferred to the end of the block: the save finishes first
        assert interrupts.count == 2
    assert capfd.readouterr().err == (
        "\nWarning: SIGINT again: exiting at once, without waiting for 1 step(s) under way (a); saving what "
        "finished. The abandoned steps may still happen without being recorded in the state.\n")

    def no_exit(code: int) -> None:
        raise SystemExit(code)

    monkeypatch.setattr(module.os, "_exit", no_exit)
    with pytest.raises(SystemExit) as exited:
        interrupts._handle(sig.SIGTERM, None)
    assert exited.value.code == 1
    assert "SIGTERM a third time: exiting without saving the state" in capfd.readouterr().err


def test_a_second_signal_abandons_the_steps_under_way_and_saves_the_finished_ones(tmp_path: Path) -> None:
    import os
    import signal as sig

    from kcplan.apply.interrupts import Interrupts

    names = "abcdef"
    plan = make_plan(*(change(n, Action.CREATE, state_to="RUNNING", desired_config=cfg(n)) for n in names),
                     lineage=None, serial=0)
    steps = build_steps(plan, {n: cfg(n) for n in names}, initial_state=True)
    store = new_store(tmp_path)
    release = threading.Event()

    def hang_at_c(step: Step) -> None:
        if step.name != "c":
            return
        os.kill(os.getpid(), sig.SIGINT)
        while ex.interrupts.count < 1:  # two signals sent together may arrive as one
            time.sleep(0.01)
        os.kill(os.getpid(), sig.SIGINT)
        release.wait(30)  # a request that does not come back

    try:
        with store.locked("apply"), Interrupts() as interrupts:
            ex = Executor(Scripted(on_run=hang_at_c), store, State().with_salt(SALT), parallelism=1,  # type: ignore[arg-type]
                          interrupts=interrupts)
            outcome = ex.run(steps)
    finally:
        release.set()
    done = {r.step.name for r in outcome.results}
    assert outcome.abandoned == ["c"] and outcome.interrupted
    assert done == {"a", "b"} and [s.name for s in outcome.not_started] == ["d", "e", "f"]
    assert sorted(done | set(outcome.abandoned) | {s.name for s in outcome.not_started}) == list(names)
    assert sorted(store.load().connectors) == sorted(done)
    assert ("Abandoned while under way (a second interrupt): c. They may still happen without being recorded "
            "in the state") in render_summary(outcome)


def test_pauses_then_resumes_one_at_a_time_then_stops(tmp_path: Path) -> None:
    """Standalone Connect deadlocks on resumes next to pauses or other resumes: the executor never overlaps them."""
    names = {"p1": "PAUSED", "p2": "PAUSED", "p3": "PAUSED", "r1": "RUNNING", "r2": "RUNNING", "r3": "RUNNING",
             "s1": "STOPPED"}
    actions = {"PAUSED": Action.PAUSE, "RUNNING": Action.RESUME, "STOPPED": Action.STOP}
    state_from = {"PAUSED": "RUNNING", "RUNNING": "PAUSED", "STOPPED": "RUNNING"}
    plan = make_plan(*(change(n, actions[t], state_from=state_from[t], state_to=t, desired_config=cfg(n))
                       for n, t in names.items()))
    steps = build_steps(plan, {n: cfg(n) for n in names}, initial_state=True)
    active: list[str] = []
    overlaps: list[tuple[str, ...]] = []
    order: list[str] = []
    lock = threading.Lock()

    def on_run(step: Step) -> None:
        with lock:
            active.append(step.name)
            order.append(step.name)
            overlaps.append(tuple(sorted(active)))
        time.sleep(0.05)
        with lock:
            active.remove(step.name)

    store = new_store(tmp_path)
    with store.locked("apply"):
        Executor(Scripted(on_run=on_run), store, State().with_salt(SALT), parallelism=8).run(steps)  # type: ignore[arg-type]
    assert sorted(order[:3]) == ["p1", "p2", "p3"] and order[3:6] == ["r1", "r2", "r3"] and order[6] == "s1"
    assert max(len(o) for o in overlaps if o[0].startswith("p")) >= 2  # pauses still run together
    assert all(o in (("r1",), ("r2",), ("r3",)) for o in overlaps if any(n.startswith("r") for n in o))
