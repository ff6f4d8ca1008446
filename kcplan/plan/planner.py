"""build_plan: desired + prior state + live cluster -> Plan. Pure: no I/O, no clock, no randomness.

Three-way: actions come from desired vs live (or vs state with --refresh=false); drift comes
from state vs live; connectors on the cluster that the state does not manage are listed and
never touched, unless declared and identical (adopted, no write) or ``adopt=True``. A declared
offsets operation whose token the state does not record rides on the connector's change (or makes
an ``offsets`` change of its own).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from kcplan.config.models import ConnectorSpec, OffsetsOp
from kcplan.config.sensitive import SensitiveKeys
from kcplan.connect.models import LiveConnector
from kcplan.errors import PlanError
from kcplan.plan import diff
from kcplan.plan.cluster_guard import check_same_cluster
from kcplan.plan.drift import connector_drift
from kcplan.plan.drift import run_state_of as live_run_state
from kcplan.plan.model import RUN_STATE_ACTIONS, Action, Change, Drift, Plan, RunState
from kcplan.selection import selector, unmatched
from kcplan.state.digest import digest_config, fingerprint
from kcplan.state.model import ManagedConnector, State


def live_fingerprint(live: LiveConnector | None, salt: str) -> str | None:
    """Fingerprint of a live connector (config + run state); None when absent.

    apply recomputes it for every connector a plan touches and refuses a stale plan.
    """
    if live is None:
        return None
    return fingerprint({"config": {**live.config, "name": live.name}, "state": live_run_state(live)}, salt)


@dataclass(frozen=True)
class _Side:
    """One connector as one source has it: config (name included) and run state."""

    config: Mapping[str, str]
    state: RunState

    @property
    def cls(self) -> str:
        return self.config.get("connector.class", "")


def _desired_side(spec: ConnectorSpec) -> _Side:
    return _Side({**spec.config, "name": spec.name}, spec.state)


def _live_side(live: LiveConnector) -> _Side:
    return _Side({**live.config, "name": live.name}, live_run_state(live))


def _state_side(rec: ManagedConnector) -> _Side:
    return _Side({**rec.config, "name": rec.name}, rec.state)


@dataclass(frozen=True)
class _PlanInputs:
    """What every connector's change is computed with."""

    sensitive: SensitiveKeys
    salt: str
    refreshed: bool


def _converge(name: str, spec: ConnectorSpec, have: _Side, inputs: _PlanInputs, *, adopting: bool,
              live: LiveConnector | None) -> Change:
    """The one action that turns ``have`` into ``spec``."""
    want = _desired_side(spec)
    keys = diff.key_changes(have.config, want.config, inputs.sensitive, inputs.salt)
    if want.cls != have.cls:
        action = Action.REPLACE
    elif keys:
        action = Action.UPDATE
    elif want.state != have.state:
        action = RUN_STATE_ACTIONS[want.state]
    else:
        action = Action.NOOP
    return Change(
        name=name,
        action=action,
        keys=keys,
        state_from=have.state if action is not Action.REPLACE else None,
        state_to=want.state,
        desired_config=digest_config(want.config, inputs.sensitive, inputs.salt),
        prevent_destroy=spec.lifecycle.prevent_destroy,
        live_exists=live is not None or not inputs.refreshed,
        live_fingerprint=live_fingerprint(live, inputs.salt),
        adopting=adopting,
        source=spec.source,
        patch=diff.patch_ops(keys),
        canary=spec.canary,
    )


def _create(name: str, spec: ConnectorSpec, inputs: _PlanInputs) -> Change:
    want = _desired_side(spec)
    keys = diff.key_changes({}, want.config, inputs.sensitive, inputs.salt)
    return Change(
        name=name,
        action=Action.CREATE,
        keys=keys,
        state_to=want.state,
        desired_config=digest_config(want.config, inputs.sensitive, inputs.salt),
        prevent_destroy=spec.lifecycle.prevent_destroy,
        source=spec.source,
        patch=diff.patch_ops(keys),
        canary=spec.canary,
    )


def _record_matches(rec: ManagedConnector, spec: ConnectorSpec, salt: str) -> bool:
    """Does the state already record exactly what the code declares?"""
    return (rec.state == spec.state
            and rec.prevent_destroy == spec.lifecycle.prevent_destroy
            and diff.configs_equal(_state_side(rec).config, _desired_side(spec).config, salt))


def _adopt(change: Change) -> Change:
    return change.model_copy(update={"action": Action.ADOPT, "state_from": None})


def _pending_offsets(spec: ConnectorSpec, rec: ManagedConnector | None) -> OffsetsOp | None:
    """The declared offsets operation when its token is not the one the state records."""
    applied = rec.offsets_token if rec else None
    return spec.offsets if spec.offsets is not None and spec.offsets.token != applied else None


def _with_offsets(change: Change, spec: ConnectorSpec, rec: ManagedConnector | None) -> Change:
    """Attach the pending offsets operation, and the token the state records (``offsets_from``: apply
    keeps it when a replace deletes and creates the connector)."""
    pending = _pending_offsets(spec, rec)
    applied = rec.offsets_token if rec else None
    if pending is None and (applied is None or change.action is Action.NOOP):
        return change
    update: dict[str, object] = {"offsets": pending, "offsets_from": applied}
    if pending is not None and change.action is Action.NOOP:
        update["action"] = Action.OFFSETS
    return change.model_copy(update=update)


@dataclass
class _PlanParts:
    """The plan's lists, filled connector by connector."""

    changes: list[Change]
    drift: list[Drift]
    unmanaged: list[str]
    conflicts: list[Change]


def _plan_one(name: str, spec: ConnectorSpec | None, rec: ManagedConnector | None,
              live: LiveConnector | None, inputs: _PlanInputs, adopt: bool, parts: _PlanParts) -> None:
    """The change (or conflict) for one in-scope connector that is declared or managed."""
    if spec is None:
        assert rec is not None
        if live is None and inputs.refreshed:
            parts.changes.append(Change(name=name, action=Action.FORGET, prevent_destroy=rec.prevent_destroy))
        else:
            parts.changes.append(Change(
                name=name, action=Action.DELETE, prevent_destroy=rec.prevent_destroy,
                state_from=live_run_state(live) if live else rec.state, live_exists=True,
                live_fingerprint=live_fingerprint(live, inputs.salt)))
        return
    if inputs.refreshed:
        if live is None:
            parts.changes.append(_with_offsets(_create(name, spec, inputs), spec, rec))
            return
        have = _live_side(live)
    else:
        if rec is None:
            parts.changes.append(_with_offsets(_create(name, spec, inputs), spec, rec))
            return
        have = _state_side(rec)
    change = _converge(name, spec, have, inputs, adopting=rec is None, live=live)
    if change.action is Action.NOOP:
        if rec is None or not _record_matches(rec, spec, inputs.salt):
            change = _adopt(change)
        elif _pending_offsets(spec, rec) is None:
            change = Change(name=name, action=Action.NOOP)
    elif rec is None and not adopt:
        parts.conflicts.append(change)
        return
    parts.changes.append(_with_offsets(change, spec, rec))


def _check_prevent_destroy(changes: list[Change], desired: Mapping[str, ConnectorSpec]) -> None:
    problems: list[str] = []
    for c in changes:
        if c.action is Action.DELETE and c.prevent_destroy:
            problems.append(f"'{c.name}' would be deleted: it is no longer declared in the code")
        elif c.action is Action.REPLACE and c.prevent_destroy:
            old_cls = next((k.old for k in c.keys if k.key == "connector.class"), "?")
            where = f" ({desired[c.name].source})" if c.name in desired and desired[c.name].source else ""
            problems.append(f"'{c.name}'{where} would be replaced (deleted, then created): connector.class "
                            f"changes from {old_cls} to {(c.desired_config or {}).get('connector.class')}")
    if problems:
        raise PlanError(
            "lifecycle.prevent_destroy forbids this plan:\n  " + "\n  ".join(problems),
            "To destroy on purpose, set prevent_destroy: false in the connector's file and apply that "
            "first; to stop managing a connector without touching it, run 'kcplan state rm NAME'.",
        )


def build_plan(
    desired: Mapping[str, ConnectorSpec],
    sensitive: SensitiveKeys,
    prior: State,
    live: Mapping[str, LiveConnector] | None,
    *,
    env: str,
    salt: str | None = None,
    kafka_cluster_id: str | None = None,
    connect_urls: Sequence[str] = (),
    targets: Sequence[str] = (),
    adopt: bool = False,
) -> Plan:
    """Plan one environment. ``live=None`` plans against the state alone (--refresh=false).

    ``salt`` is used only when the state has none yet (no state file): the caller makes a fresh
    one, and apply writes the new state with the plan's salt. Raises PlanError when the state
    belongs to another cluster or when lifecycle.prevent_destroy forbids the plan.
    """
    use_salt = prior.digest_salt or salt
    if not use_salt:
        raise ValueError("build_plan needs a salt when the state has none")
    refreshed = live is not None
    if refreshed:
        check_same_cluster(env, prior.kafka_cluster_id, kafka_cluster_id, connect_urls)
    inputs = _PlanInputs(sensitive, use_salt, refreshed)
    live_map: Mapping[str, LiveConnector] = live or {}
    parts = _PlanParts([], [], [], [])
    names = desired.keys() | prior.connectors.keys() | live_map.keys()
    targeted = selector(targets)
    for name in sorted(names):
        spec, rec, lv = desired.get(name), prior.get(name), live_map.get(name)
        if refreshed and rec is not None and (found := connector_drift(name, rec, lv, inputs.sensitive, inputs.salt)):
            parts.drift.append(found)
        if spec is None and rec is None:
            parts.unmanaged.append(name)
        elif targeted(name):
            _plan_one(name, spec, rec, lv, inputs, adopt, parts)
    _check_prevent_destroy(parts.changes, desired)
    warnings = tuple(f"--target {t!r} matches no connector" for t in unmatched(targets, names))
    return Plan(
        env=env,
        kafka_cluster_id=kafka_cluster_id if refreshed else prior.kafka_cluster_id,
        connect_urls=tuple(connect_urls),
        state_lineage=prior.lineage,
        state_serial=prior.serial,
        digest_salt=use_salt,
        refreshed=refreshed,
        targets=tuple(targets),
        adopt=adopt,
        changes=tuple(parts.changes),
        drift=tuple(parts.drift),
        unmanaged=tuple(parts.unmanaged),
        conflicts=tuple(parts.conflicts),
        warnings=warnings,
    )
