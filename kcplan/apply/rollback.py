"""--rollback-on-failure: steps that undo the apply for connectors that ended FAILED.

The previous config of a connector is known only as it was live when the apply started (the plan
file holds it digested at most): the caller passes that snapshot, kept in memory, never on disk.
A connector created by this apply is deleted; an updated or replaced one gets its previous config
(and run state) back; a run-state change is reversed. The steps run through the same executor, so
the state is recorded after each one: the previous config (digested), or, for a connector kcplan
did not manage before this apply, no record at all, as before.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from kcplan.apply.steps import Step
from kcplan.config.sensitive import SensitiveKeys
from kcplan.connect.models import LiveConnector
from kcplan.plan.model import Action, Plan
from kcplan.plan.planner import live_run_state
from kcplan.state.digest import digest_config
from kcplan.state.model import State

_REVERSIBLE = (Action.UPDATE, Action.REPLACE, Action.PAUSE, Action.RESUME, Action.STOP)


def rollback_steps(
    failed: Iterable[str],
    plan: Plan,
    previous: Mapping[str, LiveConnector],
    prior: State,
    sensitive: SensitiveKeys,
    salt: str,
    *,
    initial_state: bool,
) -> tuple[list[Step], list[str]]:
    """(steps in phase order, notes on connectors that cannot be rolled back)."""
    steps: list[Step] = []
    notes: list[str] = []
    for name in sorted(set(failed)):
        change = plan.change_for(name)
        if change is not None and change.offsets is not None:
            notes.append(f"{name}: its offsets operation '{change.offsets.token}' cannot be undone; its "
                         "offsets stay as this apply left them")
        if change is None or change.action not in (Action.CREATE, *_REVERSIBLE):
            continue
        if change.action is Action.CREATE:
            steps.append(Step(name, "delete", change.action, rollback=True))
            continue
        prev = previous.get(name)
        if prev is None:
            notes.append(f"{name}: its previous config is not known (it was not on the cluster when the apply "
                         "started); left as it is")
            continue
        config = {**prev.config, "name": name}
        state = live_run_state(prev)
        rec = prior.get(name)
        common: dict[str, Any] = {
            "action": change.action, "config": config, "digested": digest_config(config, sensitive, salt),
            "prevent_destroy": rec.prevent_destroy if rec else change.prevent_destroy,
            "forget": rec is None, "rollback": True, "offsets_token": rec.offsets_token if rec else None,
        }
        if change.action is Action.UPDATE:
            steps.append(Step(name, "update", keeps=change.state_to, **common))
            if change.run_state_change:
                steps.append(Step(name, "run_state", target=state, **common))
        elif change.action is Action.REPLACE:
            steps.append(Step(name, "delete", change.action, rollback=True))
            if initial_state or state == "RUNNING":
                steps.append(Step(name, "create", target=state, **common))
            else:  # an older worker: create it running, then pause/stop it
                steps.append(Step(name, "create", target="RUNNING", **common))
                steps.append(Step(name, "run_state", target=state, **common))
        else:
            steps.append(Step(name, "run_state", target=state, **common))
    return sorted(steps, key=lambda s: s.phase), notes
