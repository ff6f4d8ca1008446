"""Drift: the live cluster against the state file (what kcplan last applied), never against the code.

Pure functions over literal inputs (no I/O, no clock). ``connector_drift`` is the per-connector
comparison that both ``kcplan drift`` and the planner's drift section use.

Kinds of drift, as ``kcplan drift`` reports them:
    changed    config keys differ (added, removed or changed by hand)
    deleted    managed, but gone from the cluster
    run_state  paused, stopped or resumed by hand
    unmanaged  on the cluster, not in the state (created by hand)
Values of sensitive keys are never held in the result: they show as ``(sensitive value)``, and a
key whose applied value was kept as a digest is masked on the live side too.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from kcplan.config.sensitive import MASK, SensitiveKeys
from kcplan.connect.models import LiveConnector
from kcplan.plan import diff
from kcplan.plan.model import Drift, KeyChange, RunState
from kcplan.state.digest import is_digest
from kcplan.state.model import ManagedConnector, State

KINDS = ("changed", "deleted", "run_state", "unmanaged")


def run_state_of(live: LiveConnector) -> RunState:
    """PAUSED and STOPPED as such; RUNNING, FAILED, UNASSIGNED or no status yet all mean 'meant to
    run'. The planner plans with the same rule (it imports this as live_run_state)."""
    state = live.run_state
    if state == "PAUSED":
        return "PAUSED"
    if state == "STOPPED":
        return "STOPPED"
    return "RUNNING"


def _mask_digested(keys: tuple[KeyChange, ...], applied: Mapping[str, str]) -> tuple[KeyChange, ...]:
    """A key kcplan stored as a digest is a secret, whatever the sensitive-key settings say today."""
    out = []
    for k in keys:
        if is_digest(applied.get(k.key)) and k.new is not None and not k.new_hidden:
            k = k.model_copy(update={"new": MASK, "new_hidden": True})
        out.append(k)
    return tuple(out)


def connector_drift(name: str, rec: ManagedConnector, live: LiveConnector | None,
                    sensitive: SensitiveKeys, salt: str) -> Drift | None:
    """How one managed connector differs on the cluster from what kcplan applied; None when equal."""
    if live is None:
        return Drift(name=name, deleted=True, applied_state=rec.state)
    applied = {**rec.config, "name": rec.name}
    keys = diff.key_changes(applied, {**live.config, "name": live.name}, sensitive, salt)
    keys = _mask_digested(keys, applied)
    live_state = run_state_of(live)
    if not keys and live_state == rec.state:
        return None
    return Drift(name=name, keys=keys, applied_state=rec.state, live_state=live_state)


@dataclass(frozen=True)
class DriftReport:
    """One environment's drift plus the counts the cron gauges need."""

    env: str
    state_serial: int
    managed: int
    live: int
    drift: tuple[Drift, ...]
    unmanaged: tuple[str, ...]
    failed_connectors: int
    failed_tasks: int

    @property
    def has_drift(self) -> bool:
        return bool(self.drift or self.unmanaged)

    def counts(self) -> dict[str, int]:
        """Connectors per kind (a connector changed and paused by hand counts in both)."""
        found = {kind: 0 for kind in KINDS}
        for d in self.drift:
            for kind in kinds_of(d):
                found[kind] += 1
        found["unmanaged"] = len(self.unmanaged)
        return found

    @property
    def drifted(self) -> int:
        """Connectors with any kind of drift (each counted once)."""
        return len(self.drift) + len(self.unmanaged)


def kinds_of(d: Drift) -> list[str]:
    """The drift kinds of one managed connector, in KINDS order."""
    if d.deleted:
        return ["deleted"]
    out = ["changed"] if d.keys else []
    if d.applied_state != d.live_state:
        out.append("run_state")
    return out


def detect(env: str, state: State, live: Mapping[str, LiveConnector], sensitive: SensitiveKeys) -> DriftReport:
    """Compare every managed connector with the cluster, and list what the state does not manage."""
    salt = state.digest_salt or ""
    drift = []
    for name in sorted(state.connectors):
        found = connector_drift(name, state.connectors[name], live.get(name), sensitive, salt)
        if found is not None:
            drift.append(found)
    unmanaged = tuple(sorted(n for n in live if n not in state.connectors))
    statuses = [c.status for c in live.values() if c.status is not None]
    return DriftReport(
        env=env,
        state_serial=state.serial,
        managed=len(state.connectors),
        live=len(live),
        drift=tuple(drift),
        unmanaged=unmanaged,
        failed_connectors=sum(1 for s in statuses if s.failed),
        failed_tasks=sum(1 for s in statuses for t in s.tasks if t.state == "FAILED"),
    )
