"""Executing steps: phase by phase on a bounded pool, every result recorded and saved at once.

Workers only talk to Connect (runner.StepRunner); the main thread alone turns results into the state
(steps.record) and saves it atomically under the lock the caller holds, so after any failure or
interrupt the state file says exactly what happened on the cluster (docs/apply-phases.md).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import TYPE_CHECKING

from kcplan.apply.interrupts import Abandon, Interrupts, say
from kcplan.apply.runner import StepRunner
from kcplan.apply.steps import ONE_AT_A_TIME, Outcome, Step, StepResult, record
from kcplan.errors import StateError
from kcplan.state.model import State, utc_now

if TYPE_CHECKING:
    from kcplan.state.store import StateStore


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
        pool = ThreadPoolExecutor(max_workers=self.parallelism, thread_name_prefix="kcplan-apply")
        try:
            for phase in sorted({s.phase for s in steps}):
                todo = [s for s in steps if s.phase == phase]
                self._run_phase(pool, todo, outcome, total)
        except Abandon:
            under_way = list(self._in_flight.values())
            self._in_flight.clear()
            outcome.abandoned = sorted(s.name for s in under_way)
            seen = {id(r.step) for r in outcome.results} | {id(s) for s in
                                                             outcome.skipped + outcome.not_started + under_way}
            outcome.not_started.extend(s for s in steps if id(s) not in seen)
        finally:
            pool.shutdown(wait=not outcome.abandoned, cancel_futures=True)
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
                step = self._in_flight.pop(future)
                try:
                    self._finish(future.result(), outcome, total)
                except Abandon:
                    if not any(r.step is step for r in outcome.results):  # abandoned before it was recorded
                        self._in_flight[future] = step
                    raise
        outcome.not_started.extend(reversed(pending))

    def _finish(self, result: StepResult, outcome: Outcome, total: int) -> None:
        with self.interrupts.critical():
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
                say(f"Error: {exc.message}\nStarting nothing new; waiting for the steps under way.\n")
            outcome.save_error = exc
            return
        self._dirty.clear()

    def _final_save(self, outcome: Outcome) -> None:
        if self._dirty:
            self._save(outcome)
        outcome.unsaved = sorted(self._dirty)
