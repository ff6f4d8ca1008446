"""One step against Connect, on a worker thread: write, and read back when the answer was lost.

A write is sent again at most once, and only when the read-back shows it did not happen. The runner
never touches the state: the executor's main thread records its results.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from kcplan.apply.steps import Op, Step, StepResult
from kcplan.errors import Conflict, ConnectError, KcplanError, NotFound, UnknownOutcome
from kcplan.plan.model import RunState

if TYPE_CHECKING:
    from kcplan.connect.api import ConnectApi


class ForeignConnector(KcplanError):
    """The connector exists on the cluster with a config kcplan did not write."""

    default_hint = "Someone created or changed it since the plan: run 'kcplan plan' again and review it."



class StepRunner:
    """Runs one step with the client; never touches the state."""

    def __init__(self, client: ConnectApi) -> None:
        self.client = client
        self._ops: dict[Op, Callable[[Step], tuple[RunState | None, str]]] = {
            "adopt": self._adopt, "forget": self._forget, "delete": self._delete, "create": self._create,
            "update": self._update, "run_state": self._run_state}

    def run(self, step: Step) -> StepResult:
        began = time.monotonic()
        reached: RunState | None = None
        error: KcplanError | None = None
        ok, note = False, ""
        try:
            reached, note = self._ops[step.op](step)
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
