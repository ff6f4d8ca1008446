"""One step against Connect, on a worker thread: write, and read back when the answer was lost.

A write is sent again at most once, and only when the read-back shows it did not happen. The runner
never touches the state: the executor's main thread records its results. An offsets step is a short
sequence (stop, wait until stopped, DELETE or PATCH the offsets, desired run state); when the worker
refuses the offsets, the connector is brought back to the run state it had.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from kcplan.apply.steps import Op, Step, StepResult
from kcplan.config.models import OffsetsOp
from kcplan.connect.models import ConnectorOffset, ConnectorStatus, offset_json
from kcplan.errors import ApiError, Conflict, ConnectError, KcplanError, NotFound, UnknownOutcome
from kcplan.plan.model import RunState

if TYPE_CHECKING:
    from kcplan.connect.api import ConnectApi


class ForeignConnector(KcplanError):
    """The connector exists on the cluster with a config kcplan did not write."""

    default_hint = "Someone created or changed it since the plan: run 'kcplan plan' again and review it."


class OffsetsNotChanged(KcplanError):
    """An offsets operation did not happen (the worker refused it, or the connector would not stop)."""

    default_hint = "Its token is not recorded: fix the cause and apply again ('kcplan plan' shows it)."


STOP_WAIT_SECONDS = 60.0  # a stop that takes longer is reported, the offsets left as they were
POLL_SECONDS = 0.25


def offsets_match(reported: list[ConnectorOffset], op: OffsetsOp) -> bool:
    """Do the connector's offsets show the operation done? (the read-back after a lost answer)"""
    if op.kind == "reset":
        return not [o for o in reported if o.offset is not None]
    now = {offset_json(o.partition): o.offset for o in reported}
    return all(now.get(offset_json(e["partition"])) == e["offset"] for e in op.entries)


def _as_run_state(state: str | None) -> RunState:
    return "PAUSED" if state == "PAUSED" else "STOPPED" if state == "STOPPED" else "RUNNING"


class StepRunner:
    """Runs one step with the client; never touches the state."""

    def __init__(self, client: ConnectApi) -> None:
        self.client = client
        self._ops: dict[Op, Callable[[Step], tuple[RunState | None, str]]] = {
            "adopt": self._adopt, "forget": self._forget, "delete": self._delete, "create": self._create,
            "update": self._update, "run_state": self._run_state,
            "offsets": self._offsets}

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

    def _offsets(self, step: Step) -> tuple[RunState | None, str]:
        assert step.offsets is not None and step.target is not None
        name, op = step.name, step.offsets
        status = self.client.status(name)
        before = _as_run_state(status.state)
        try:
            self._stop_and_wait(name, status)
            note = self._alter_offsets(name, op)
        except KcplanError as exc:
            raise OffsetsNotChanged(f"the offsets of '{name}' were not changed: {exc.message}; "
                                    f"{self._restore(name, before)}", exc.hint) from None
        again = self._set_run_state(name, step.target) if step.target != "STOPPED" else ""
        return step.target, "; ".join(n for n in (note, again) if n)

    def _stop_and_wait(self, name: str, status: ConnectorStatus) -> None:
        """STOPPED with no tasks: what the worker requires before it alters offsets (``status``: as read now)."""
        if status.state != "STOPPED":
            self._set_run_state(name, "STOPPED")
        deadline = time.monotonic() + STOP_WAIT_SECONDS
        while status.state != "STOPPED" or status.tasks:
            if time.monotonic() > deadline:
                raise KcplanError(f"it did not stop within {STOP_WAIT_SECONDS:.0f} s (now {status.state}, "
                                  f"{len(status.tasks)} task(s))")
            time.sleep(POLL_SECONDS)
            status = self.client.status(name)

    def _alter_offsets(self, name: str, op: OffsetsOp) -> str:
        """DELETE or PATCH, retried while the worker has not yet seen the stop (a 400 naming STOPPED)."""
        entries = [ConnectorOffset(partition=e["partition"], offset=e["offset"]) for e in op.entries]

        def write() -> None:
            if op.kind == "reset":
                self.client.reset_offsets(name)
            else:
                self.client.alter_offsets(name, entries)

        deadline = time.monotonic() + STOP_WAIT_SECONDS
        while True:
            try:
                return self._resolved(write, lambda: offsets_match(self.client.offsets(name), op))
            except ApiError as exc:
                if exc.status != 400 or "STOPPED state" not in exc.message or time.monotonic() > deadline:
                    raise
                time.sleep(POLL_SECONDS)

    def _restore(self, name: str, before: RunState) -> str:
        try:
            current = self.client.status(name).state
            if current != before:
                self._set_run_state(name, before)
            return f"the connector is {before} again, as before"
        except KcplanError as exc:
            return f"bringing it back to {before} failed too ({exc.message}): it may be STOPPED"

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
