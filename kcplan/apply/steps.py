"""A plan as steps (pure): one write, or state-only record, per connector and phase.

Phases: 0 deletes and state-only records, 1 creates and updates, 2 pauses, 3 resumes (one at a time),
4 stops, 5 offsets operations (one at a time: each stops its connector, alters its offsets and brings
it to its desired run state, so it replaces the connector's run-state step); why run-state changes
get phases of their own is in docs/apply-phases.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from kcplan.config.models import OffsetsOp
from kcplan.errors import KcplanError, StateError
from kcplan.plan.model import Action, Plan, RunState
from kcplan.state.model import ManagedConnector, State

Op = Literal["delete", "create", "update", "run_state", "adopt", "forget", "offsets"]
PHASES: dict[str, int] = {"delete": 0, "adopt": 0, "forget": 0, "create": 1, "update": 1, "offsets": 5}
RUN_STATE_PHASES: dict[str, int] = {"PAUSED": 2, "RUNNING": 3, "STOPPED": 4}
ONE_AT_A_TIME = frozenset({3, 5})  # resumes: standalone workers deadlock on concurrent ones


@dataclass(frozen=True)
class Step:
    """One write (or state-only record) for one connector.

    ``config``: the plain config to write; ``digested``: the same with secrets as digests (what the
    state records). ``target``: the run state a create or run-state change reaches; ``keeps``: the
    run state an update leaves as it is (a create with a target other than RUNNING uses POST's
    initial_state). ``forget``: when done, the state drops the connector
    (rollback of a connector kcplan did not manage before). ``offsets``: the operation an offsets
    step runs (the state records its token when it lands); ``offsets_token``: the token the state
    recorded before the apply, kept when a step makes the record anew (the create of a replace).
    """

    name: str
    op: Op
    action: Action
    config: Mapping[str, str] | None = None
    digested: Mapping[str, str] | None = None
    target: RunState | None = None
    keeps: RunState | None = None
    prevent_destroy: bool = False
    forget: bool = False
    rollback: bool = False
    offsets: OffsetsOp | None = None
    offsets_token: str | None = None

    @property
    def phase(self) -> int:
        if self.op == "run_state":
            return RUN_STATE_PHASES[self.target or "RUNNING"]
        return PHASES[self.op]

    @property
    def writes(self) -> bool:
        return self.op not in ("adopt", "forget")


@dataclass(frozen=True)
class StepResult:
    """What one step did: ``ok`` means its write is on the cluster (the state records it, with run
    state ``reached``); a failed step changed nothing, or its outcome could not be read back."""

    step: Step
    ok: bool
    reached: RunState | None = None
    seconds: float = 0.0
    finished_at: float = 0.0
    error: KcplanError | None = None
    note: str = ""


@dataclass
class Outcome:
    """Everything an execution did, for the summary, health checks and the exit code."""

    results: list[StepResult] = field(default_factory=list)
    skipped: list[Step] = field(default_factory=list)  # an earlier step of the connector failed
    not_started: list[Step] = field(default_factory=list)  # interrupted, or the state could not be saved
    interrupted: bool = False
    abandoned: list[str] = field(default_factory=list)  # under way at a second signal: may have happened
    save_error: StateError | None = None
    unsaved: list[str] = field(default_factory=list)  # connectors changed on the cluster, not in the state file
    seconds: float = 0.0

    @property
    def failures(self) -> list[StepResult]:
        return [r for r in self.results if not r.ok]

    @property
    def failed_names(self) -> set[str]:
        return {r.step.name for r in self.failures}


def build_steps(plan: Plan, configs: Mapping[str, Mapping[str, str]], *, initial_state: bool) -> list[Step]:
    """The steps of a plan, in phase order (within a phase: plan order, which is by name).

    ``configs``: plain configs to write per connector (from freshness.write_configs);
    ``initial_state``: the worker takes initial_state in POST /connectors (Connect 3.7+); without it a
    connector meant to be PAUSED/STOPPED is created RUNNING and paused/stopped in a later phase.
    """
    steps: list[Step] = []
    for c in plan.actions:
        common: dict[str, Any] = {"name": c.name, "action": c.action, "prevent_destroy": c.prevent_destroy,
                                  "digested": c.desired_config, "config": configs.get(c.name),
                                  "offsets_token": c.offsets_from}
        if c.action in (Action.DELETE, Action.REPLACE):
            steps.append(Step(c.name, "delete", c.action))
        if c.action is Action.FORGET:
            steps.append(Step(c.name, "forget", c.action))
        elif c.action is Action.ADOPT:
            steps.append(Step(op="adopt", target=c.state_to, **common))
        elif c.action in (Action.CREATE, Action.REPLACE):
            target = c.state_to or "RUNNING"
            if initial_state or target == "RUNNING":
                steps.append(Step(op="create", target=target, **common))
            else:  # an older worker: create it running, then pause/stop it in the run-state phases
                steps.append(Step(op="create", target="RUNNING", **common))
                steps.append(Step(op="run_state", target=target, **common))
        elif c.action is Action.UPDATE:
            steps.append(Step(op="update", keeps=c.state_from or "RUNNING", **common))
            if c.run_state_change:
                steps.append(Step(op="run_state", target=c.state_to, **common))
        elif c.action in (Action.PAUSE, Action.RESUME, Action.STOP):
            steps.append(Step(op="run_state", target=c.state_to, **common))
        if c.offsets is not None:
            steps = _with_offsets_step(steps, c.name, Step(op="offsets", target=c.state_to or "RUNNING",
                                                           offsets=c.offsets, **common), initial_state)
    for step in steps:
        if step.op in ("create", "update") and step.config is None:
            raise ValueError(f"no config to write for connector {step.name!r}")
    return sorted(steps, key=lambda s: s.phase)


def _with_offsets_step(steps: list[Step], name: str, offsets: Step, initial_state: bool) -> list[Step]:
    """The offsets step reaches the desired run state itself: it replaces the connector's run-state step,
    and a connector created for it starts STOPPED where the worker allows (no record handled twice)."""
    out: list[Step] = []
    for step in steps:
        if step.name == name and step.op == "run_state":
            continue
        if step.name == name and step.op == "create" and initial_state:
            step = replace(step, target="STOPPED")
        out.append(step)
    return [*out, offsets]


def record(state: State, result: StepResult, applied_at: str) -> State:
    """The state after one step (pure): a landed step is recorded, anything else leaves it as it was."""
    step = result.step
    if not result.ok:
        return state
    if step.op in ("delete", "forget") or step.forget:
        return state.without(step.name)
    if step.digested is None or result.reached is None:
        raise ValueError(f"step {step.op} of {step.name!r} landed without a config or run state to record")
    before = state.get(step.name)
    token = before.offsets_token if before else step.offsets_token
    if step.op == "offsets" and step.offsets is not None:
        token = step.offsets.token
    return state.with_connector(ManagedConnector(
        name=step.name, config=dict(step.digested), state=result.reached,
        prevent_destroy=step.prevent_destroy, applied_at=applied_at, offsets_token=token))


def verify_targets(outcome: Outcome) -> list[tuple[str, str, str, float]]:
    """(name, expected state or ABSENT, plan action, when its last write returned) for every connector
    whose steps all succeeded and wrote something; the health check waits for these."""
    last: dict[str, StepResult] = {}
    for r in outcome.results:
        if r.step.writes:
            last[r.step.name] = r
    failed = outcome.failed_names | {s.name for s in outcome.skipped + outcome.not_started}
    out: list[tuple[str, str, str, float]] = []
    for name, r in sorted(last.items()):
        if name in failed:
            continue
        expected = "ABSENT" if r.step.op == "delete" else (r.reached or "RUNNING")
        out.append((name, expected, r.step.action.value, r.finished_at))
    return out
