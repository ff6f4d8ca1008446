"""The plan as frozen data: what the planner decided, what views print, what apply executes.

Vocabulary (one action per connector):
    create   +    not on the cluster: create it (with its desired run state)
    update   ~    differing keys only (and the run state, when that differs too)
    delete   -    managed, no longer declared: delete it
    replace  -/+  connector.class changed: delete, then create
    pause / resume / stop   ~   only the run state differs
    adopt    =    the cluster already matches the code: record it in state, no write to Connect
    forget   -    managed, no longer declared, already gone from the cluster: state only
    offsets  ~    only a declared offsets operation is new (its token is not in the state)
    no-op         nothing to do
Any other action may carry an offsets operation too (``Change.offsets``): apply runs it after the
connector's other writes. No value of a sensitive key is held here: displays are masked, desired
configs are digested.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Literal, NamedTuple

from pydantic import BaseModel, ConfigDict

from kcplan.config.models import OffsetsOp

RunState = Literal["RUNNING", "PAUSED", "STOPPED"]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Action(StrEnum):
    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"
    REPLACE = "replace"
    PAUSE = "pause"
    RESUME = "resume"
    STOP = "stop"
    ADOPT = "adopt"
    FORGET = "forget"
    OFFSETS = "offsets"
    NOOP = "no-op"


ADDS = frozenset({Action.CREATE, Action.REPLACE})
CHANGES = frozenset({Action.UPDATE, Action.PAUSE, Action.RESUME, Action.STOP, Action.OFFSETS})
DESTROYS = frozenset({Action.DELETE, Action.REPLACE})
STATE_ONLY = frozenset({Action.ADOPT, Action.FORGET})
RUN_STATE_ACTIONS: dict[str, Action] = {"RUNNING": Action.RESUME, "PAUSED": Action.PAUSE,
                                        "STOPPED": Action.STOP}


class KeyChange(_Frozen):
    """One config key, old -> new, as displayed (``*_hidden``: the value is masked)."""

    key: str
    old: str | None = None
    new: str | None = None
    old_hidden: bool = False
    new_hidden: bool = False

    @property
    def kind(self) -> Literal["add", "remove", "change"]:
        if self.old is None:
            return "add"
        if self.new is None:
            return "remove"
        return "change"


class Change(_Frozen):
    """What happens to one connector.

    ``state_from``/``state_to``: run state before (live, or state with --refresh=false) and
    desired after. ``desired_config``: the config to apply with secrets as digests (None for
    delete/forget/no-op). ``live_fingerprint``: fingerprint of the live connector this change
    was computed against (None when it was absent, or when the plan was not refreshed).
    ``offsets``: the offsets operation to run (its token is not the one the state records, which
    is ``offsets_from``). ``canary``: declared ``canary: true``, first in 'apply --canary N'.
    """

    name: str
    action: Action
    keys: tuple[KeyChange, ...] = ()
    state_from: RunState | None = None
    state_to: RunState | None = None
    desired_config: dict[str, str] | None = None
    prevent_destroy: bool = False
    live_exists: bool = False
    live_fingerprint: str | None = None
    adopting: bool = False
    source: str = ""
    patch: tuple[dict[str, Any], ...] = ()
    offsets: OffsetsOp | None = None
    offsets_from: str | None = None
    canary: bool = False

    @property
    def run_state_change(self) -> Action | None:
        """pause/resume/stop this change also makes (for update), or None."""
        if self.state_from is None or self.state_to is None or self.state_from == self.state_to:
            return None
        return RUN_STATE_ACTIONS[self.state_to]


class Drift(_Frozen):
    """A managed connector whose live side differs from what kcplan last applied."""

    name: str
    deleted: bool = False
    keys: tuple[KeyChange, ...] = ()
    applied_state: RunState | None = None
    live_state: RunState | None = None

    @property
    def kinds(self) -> list[str]:
        if self.deleted:
            return ["deleted"]
        out = ["config"] if self.keys else []
        if self.applied_state != self.live_state:
            out.append("run_state")
        return out


class Summary(NamedTuple):
    add: int
    change: int
    destroy: int
    adopt: int
    forget: int

    @property
    def cluster_changes(self) -> int:
        return self.add + self.change + self.destroy


class Plan(_Frozen):
    """Everything one ``kcplan plan`` decided, and what it was based on."""

    env: str
    kafka_cluster_id: str | None = None
    connect_urls: tuple[str, ...] = ()
    state_lineage: str | None = None
    state_serial: int = 0
    digest_salt: str
    refreshed: bool = True
    targets: tuple[str, ...] = ()
    adopt: bool = False
    changes: tuple[Change, ...] = ()
    drift: tuple[Drift, ...] = ()
    unmanaged: tuple[str, ...] = ()
    conflicts: tuple[Change, ...] = ()
    warnings: tuple[str, ...] = ()

    @property
    def actions(self) -> tuple[Change, ...]:
        """Every change that does something (no-ops left out)."""
        return tuple(c for c in self.changes if c.action is not Action.NOOP)

    @property
    def unchanged(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.changes if c.action is Action.NOOP)

    @property
    def has_changes(self) -> bool:
        return bool(self.actions)

    def summary(self) -> Summary:
        acts = [c.action for c in self.changes]
        return Summary(
            add=sum(a in ADDS for a in acts),
            change=sum(a in CHANGES for a in acts),
            destroy=sum(a in DESTROYS for a in acts),
            adopt=acts.count(Action.ADOPT),
            forget=acts.count(Action.FORGET),
        )

    def change_for(self, name: str) -> Change | None:
        return next((c for c in self.changes if c.name == name), None)
