"""Executing a plan: small steps in phases, bounded concurrency, the state saved after each step.

A plan becomes steps (``build_steps``). Phase 0 deletes (a replace's delete too) and records the
state-only actions (adopt/forget); phase 1 creates and updates (a replace's create too); phase 2
pauses; phase 3 resumes, ONE AT A TIME; phase 4 stops. A connector has at most one step per phase,
so the steps of a phase are independent and run concurrently, at most ``parallelism`` at a time
(resumes: one). A connector whose step failed gets no later step; other connectors go on.

Why run-state changes get phases of their own: on a standalone worker (Connect 3.9 measured here) a
pause or resume takes the config store's lock and then the herder's, while stop, config writes,
deletes and the task reconfiguration that a resume starts in the background take them in the other
order; run at the same moment they deadlock the worker's REST API for good (seen with one pause and
one stop; and with resumes of connectors whose config was just updated running next to pauses or
other resumes). Pauses never deadlock each other; resumes do (through their background task), so
they go one by one, after every pause. A resume's background task can still outlive its request;
distributed workers have one herder thread and none of this.

Workers only talk to Connect (``StepRunner``) and return a StepResult. The main thread alone turns
results into the state (``record``) and saves it (atomically, under the lock the caller holds), so
after any failure or interrupt the state file says exactly what happened on the cluster.

Writes whose answer was lost (UnknownOutcome) are resolved by reading back before anything else;
a write is sent again at most once, and only when the read-back shows it did not happen.

Signals (``Interrupts``): the first SIGINT/SIGTERM starts nothing new, lets the running steps finish
and their results be saved; the second exits at once.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from types import FrameType
from typing import TYPE_CHECKING, Any, Literal

from kcplan.errors import Conflict, ConnectError, KcplanError, NotFound, StateError, UnknownOutcome
from kcplan.plan.model import Action, Plan, RunState
from kcplan.state.model import ManagedConnector, State, utc_now

if TYPE_CHECKING:
    from kcplan.connect.api import ConnectApi
    from kcplan.state.store import StateStore

Op = Literal["delete", "create", "update", "run_state", "adopt", "forget"]
PHASES: dict[str, int] = {"delete": 0, "adopt": 0, "forget": 0, "create": 1, "update": 1}
RUN_STATE_PHASES: dict[str, int] = {"PAUSED": 2, "RUNNING": 3, "STOPPED": 4}
ONE_AT_A_TIME = frozenset({3})  # resumes (see the module docstring)
EXIT_INTERRUPTED = 1


class ForeignConnector(KcplanError):
    """The connector exists on the cluster with a config kcplan did not write."""

    default_hint = "Someone created or changed it since the plan: run 'kcplan plan' again and review it."


@dataclass(frozen=True)
class Step:
    """One write (or state-only record) for one connector.

    ``config``: the plain config to write; ``digested``: the same with secrets as digests (what the
    state records). ``target``: the run state a create or run-state change reaches; ``keeps``: the
    run state an update leaves as it is (a create with a target other than RUNNING uses POST's
    initial_state). ``forget``: when done, the state drops the connector
    (rollback of a connector kcplan did not manage before).
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
    save_error: StateError | None = None
    unsaved: list[str] = field(default_factory=list)  # connectors changed on the cluster, not in the state file
    seconds: float = 0.0

    @property
    def failures(self) -> list[StepResult]:
        return [r for r in self.results if not r.ok]

    @property
    def failed_names(self) -> set[str]:
        return {r.step.name for r in self.failures}


# -- plan -> steps (pure) -----------------------------------------------------------------------------


def build_steps(plan: Plan, configs: Mapping[str, Mapping[str, str]], *, initial_state: bool) -> list[Step]:
    """The steps of a plan, in phase order (within a phase: plan order, which is by name).

    ``configs``: plain configs to write per connector (from freshness.write_configs);
    ``initial_state``: the worker takes initial_state in POST /connectors (Connect 3.7+); without it a
    connector meant to be PAUSED/STOPPED is created RUNNING and paused/stopped in a later phase.
    """
    steps: list[Step] = []
    for c in plan.actions:
        common: dict[str, Any] = {"name": c.name, "action": c.action, "prevent_destroy": c.prevent_destroy,
                                  "digested": c.desired_config, "config": configs.get(c.name)}
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
    for step in steps:
        if step.op in ("create", "update") and step.config is None:
            raise ValueError(f"no config to write for connector {step.name!r}")
    return sorted(steps, key=lambda s: s.phase)


def record(state: State, result: StepResult, applied_at: str) -> State:
    """The state after one step (pure): a landed step is recorded, anything else leaves it as it was."""
    step = result.step
    if not result.ok:
        return state
    if step.op in ("delete", "forget") or step.forget:
        return state.without(step.name)
    if step.digested is None or result.reached is None:
        raise ValueError(f"step {step.op} of {step.name!r} landed without a config or run state to record")
    return state.with_connector(ManagedConnector(
        name=step.name, config=dict(step.digested), state=result.reached,
        prevent_destroy=step.prevent_destroy, applied_at=applied_at))


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


# -- one step against Connect (worker threads) ------------------------------------------------------


class StepRunner:
    """Runs one step with the client; never touches the state."""

    def __init__(self, client: ConnectApi) -> None:
        self.client = client

    def run(self, step: Step) -> StepResult:
        began = time.monotonic()
        reached: RunState | None = None
        error: KcplanError | None = None
        ok, note = False, ""
        try:
            reached, note = getattr(self, "_" + step.op)(step)
            ok = True
        except KcplanError as exc:
            error = exc
        except Exception as exc:  # a bug: keep going with the others, the state stays true
            error = KcplanError(f"internal error: {type(exc).__name__}",
                                "This is a bug in kcplan; 'kcplan plan' shows what is left to do.")
        now = time.monotonic()
        return StepResult(step, ok, reached, now - began, now, error, note)

    # -- the ops ---------------------------------------------------------------------------------

    def _adopt(self, step: Step) -> tuple[RunState | None, str]:
        return step.target, ""

    def _forget(self, step: Step) -> tuple[RunState | None, str]:
        return None, ""

    def _delete(self, step: Step) -> tuple[RunState | None, str]:
        name = step.name
        return None, self._resolved(lambda: self.client.delete(name), lambda: self._config_now(name) is None)

    def _create(self, step: Step) -> tuple[RunState | None, str]:
        name, config, target = step.name, dict(step.config or {}), step.target or "RUNNING"

        def done() -> bool:
            now = self._config_now(name)
            if now is None:
                return False
            if now != config:
                raise ForeignConnector(f"connector '{name}' exists on the cluster with another config; "
                                       "it was not written")
            return True

        def write() -> None:
            try:
                self.client.create(name, config, target if target != "RUNNING" else None)
            except Conflict:
                if not done():  # 'already exists' but gone again: let the caller see the conflict
                    raise
                # else: ours from an earlier attempt (its answer lost), or identical anyway

        return target, self._resolved(write, done)

    def _update(self, step: Step) -> tuple[RunState | None, str]:
        name, config = step.name, dict(step.config or {})

        def done() -> bool:
            now = self._config_now(name)
            if now is None:
                raise ForeignConnector(f"connector '{name}' was deleted from the cluster during the apply")
            return now == config

        note = self._resolved(lambda: self.client.put_config(name, config), done)
        return step.keeps, note

    def _run_state(self, step: Step) -> tuple[RunState | None, str]:
        assert step.target is not None
        return step.target, self._set_run_state(step.name, step.target)

    # -- helpers ---------------------------------------------------------------------------------

    def _set_run_state(self, name: str, target: RunState) -> str:
        write = {"PAUSED": self.client.pause, "RUNNING": self.client.resume, "STOPPED": self.client.stop}[target]
        return self._resolved(lambda: write(name), lambda: self.client.status(name).state == target)

    def _config_now(self, name: str) -> dict[str, str] | None:
        try:
            return {**self.client.get_config(name), "name": name}
        except NotFound:
            return None

    def _resolved(self, write: Callable[[], object], done: Callable[[], bool]) -> str:
        """Write; when the answer is lost, read back and write once more only if it did not happen."""
        try:
            write()
            return ""
        except UnknownOutcome as lost:
            if self._read_back(done, lost):
                return "answer lost; read back: it had happened"
        try:
            write()
            return "answer lost; read back: not done; written once more"
        except UnknownOutcome as lost_again:
            if self._read_back(done, lost_again):
                return "answer lost twice; read back: done"
            raise

    @staticmethod
    def _read_back(done: Callable[[], bool], lost: UnknownOutcome) -> bool:
        try:
            return done()
        except ConnectError as exc:
            raise UnknownOutcome(f"{lost.message}; reading it back failed too: {exc.message}",
                                 lost.hint) from None


# -- signals ----------------------------------------------------------------------------------------


class Interrupts:
    """SIGINT/SIGTERM while applying: the first one asks to stop starting steps (or, with
    ``raise_first``, raises KeyboardInterrupt, e.g. while waiting for health); the second exits at once."""

    def __init__(self) -> None:
        self.count = 0
        self.raise_first = False
        self.under_way: Callable[[], list[str]] = list
        self._old: dict[int, Any] = {}

    @property
    def requested(self) -> bool:
        return self.count > 0

    def __enter__(self) -> Interrupts:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._old[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)
        self._old.clear()

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.count += 1
        name = signal.Signals(signum).name
        if self.count > 1:
            _say(f"\nWarning: {name} again: exiting at once. Changes under way may have happened without "
                 "being recorded in the state; run 'kcplan plan' to see what is left to do.\n")
            os._exit(EXIT_INTERRUPTED)
        if self.raise_first:
            raise KeyboardInterrupt
        busy = self.under_way()
        waiting = (f"waiting for {len(busy)} step(s) under way ({', '.join(busy[:5])}"
                   f"{', ...' if len(busy) > 5 else ''}) to finish, then " if busy else "")
        _say(f"\nInterrupted ({name}): starting nothing new; {waiting}saving the state. "
             "Interrupt again to exit at once.\n")


def _say(text: str) -> None:
    """Write from a signal handler: os.write, never the buffered sys.stderr (no reentrancy errors)."""
    with contextlib.suppress(OSError, ValueError):
        os.write(sys.stderr.fileno(), text.encode())


# -- the main loop ----------------------------------------------------------------------------------


class Executor:
    """Runs steps phase by phase on a bounded pool; records and saves every result (main thread only)."""

    def __init__(
        self,
        runner: StepRunner,
        store: StateStore,
        state: State,
        *,
        parallelism: int,
        progress: Callable[[StepResult, int, int], None] = lambda r, done, total: None,
        interrupts: Interrupts | None = None,
    ) -> None:
        self.runner = runner
        self.store = store
        self.state = state
        self.parallelism = max(1, parallelism)
        self.progress = progress
        self.interrupts = interrupts or Interrupts()
        self._dirty: set[str] = set()
        self._in_flight: dict[Future[StepResult], Step] = {}

    def run(self, steps: Sequence[Step]) -> Outcome:
        began = time.monotonic()
        outcome = Outcome()
        total = len(steps)
        self.interrupts.under_way = lambda: sorted(s.name for s in self._in_flight.values())
        with ThreadPoolExecutor(max_workers=self.parallelism, thread_name_prefix="kcplan-apply") as pool:
            for phase in sorted({s.phase for s in steps}):
                todo = [s for s in steps if s.phase == phase]
                self._run_phase(pool, todo, outcome, total)
        self._final_save(outcome)
        outcome.interrupted = self.interrupts.requested
        outcome.seconds = time.monotonic() - began
        return outcome

    def _stopping(self, outcome: Outcome) -> bool:
        return self.interrupts.requested or outcome.save_error is not None

    def _run_phase(self, pool: ThreadPoolExecutor, todo: list[Step], outcome: Outcome, total: int) -> None:
        pending: list[Step] = []
        for step in todo:
            if step.name in outcome.failed_names or any(s.name == step.name for s in outcome.skipped):
                outcome.skipped.append(step)
            else:
                pending.append(step)
        pending.reverse()  # pop() from the end keeps plan order
        limit = 1 if todo and todo[0].phase in ONE_AT_A_TIME else self.parallelism
        while pending or self._in_flight:
            while pending and len(self._in_flight) < limit and not self._stopping(outcome):
                step = pending.pop()
                self._in_flight[pool.submit(self.runner.run, step)] = step
            if not self._in_flight:
                break
            done, _ = wait(list(self._in_flight), timeout=0.25, return_when=FIRST_COMPLETED)
            for future in done:
                self._in_flight.pop(future)
                self._finish(future.result(), outcome, total)
        outcome.not_started.extend(reversed(pending))

    def _finish(self, result: StepResult, outcome: Outcome, total: int) -> None:
        outcome.results.append(result)
        new = record(self.state, result, utc_now())
        if new is not self.state:
            self.state = new
            self._dirty.add(result.step.name)
            self._save(outcome)
        self.progress(result, len(outcome.results), total)

    def _save(self, outcome: Outcome) -> None:
        try:
            self.state = self.store.save(self.state)
        except StateError as exc:
            if outcome.save_error is None:
                _say(f"Error: {exc.message}\nStarting nothing new; waiting for the steps under way.\n")
            outcome.save_error = exc
            return
        self._dirty.clear()

    def _final_save(self, outcome: Outcome) -> None:
        if self._dirty:
            self._save(outcome)
        outcome.unsaved = sorted(self._dirty)
