"""Is a saved plan still the truth? Checked before apply sends any write (docs/plan-format.md).

A plan is stale when the state moved (lineage/serial), the cluster is another one, a connector the
plan touches changed on the cluster since the plan (its live fingerprint), or the code renders a
different config (secrets included: compared by digest) or offsets operation for a connector the
plan writes. Every
problem is listed, so the user learns everything that changed at once.

The configs apply writes come from here too: the plan file holds secrets only as digests, so the
plain values are taken from the re-render, and only after their digests matched.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from kcplan.config.models import ConnectorSpec
from kcplan.config.sensitive import SensitiveKeys
from kcplan.connect.models import LiveConnector
from kcplan.errors import NotFound, PlanError
from kcplan.plan import diff
from kcplan.plan.cluster_guard import other_cluster
from kcplan.plan.model import Change, Plan
from kcplan.plan.planner import live_fingerprint, live_run_state
from kcplan.state.digest import digest_config, fingerprint
from kcplan.state.model import State

if TYPE_CHECKING:
    from kcplan.connect.client import ConnectClient

_RUN_STATES = ("RUNNING", "PAUSED", "STOPPED")


@dataclass(frozen=True)
class Rendered:
    """The re-rendered environment, as far as freshness needs it."""

    connectors: Mapping[str, ConnectorSpec]
    sensitive: SensitiveKeys


def state_problems(plan: Plan, state: State) -> list[str]:
    """The state must be the one the plan was made from (Terraform's lineage/serial rule)."""
    if plan.state_lineage != state.lineage:
        if state.lineage is None:
            return [f"the state file was removed since the plan (the plan was made from state lineage "
                    f"{plan.state_lineage}, serial {plan.state_serial})"]
        if plan.state_lineage is None:
            return [f"a state file was created since the plan (now lineage {state.lineage}, serial "
                    f"{state.serial}): another apply or import ran"]
        return [f"the state file is another one (lineage {state.lineage}, the plan was made from "
                f"{plan.state_lineage})"]
    if plan.state_serial != state.serial:
        return [f"the state changed since the plan (serial {plan.state_serial} -> {state.serial}): "
                "another apply, import or 'state rm' ran, or this plan was applied already"]
    if state.digest_salt and state.digest_salt != plan.digest_salt:
        return ["the state's digest salt differs from the plan's (the state was replaced)"]
    return []


def cluster_problems(plan: Plan, cluster_id: str | None) -> list[str]:
    if other_cluster(plan.kafka_cluster_id, cluster_id):
        return [f"the Connect URL now answers for Kafka cluster {cluster_id}, the plan was made against "
                f"cluster {plan.kafka_cluster_id}"]
    return []


def _what_changed(change: Change, now: LiveConnector | None, salt: str) -> str:
    if now is None:
        return "was deleted from the cluster"
    if change.live_fingerprint is None:
        return "was created on the cluster by someone else"
    state = live_run_state(now)
    for other in _RUN_STATES:
        same_config = fingerprint({"config": {**now.config, "name": now.name}, "state": other}, salt)
        if other != state and same_config == change.live_fingerprint:
            return f"run state changed on the cluster ({other} -> {state})"
    return "config was changed on the cluster"


def live_problems(plan: Plan, state: State, live: Mapping[str, LiveConnector]) -> list[str]:
    """Every connector the plan touches must be as it was when planned.

    A refreshed plan compares live fingerprints; a plan made with --refresh=false compares the
    live connector with the state's record instead (it is what that plan was computed from).
    """
    problems: list[str] = []
    for change in plan.actions:
        now = live.get(change.name)
        if plan.refreshed:
            if live_fingerprint(now, plan.digest_salt) != change.live_fingerprint:
                problems.append(f"connector '{change.name}': {_what_changed(change, now, plan.digest_salt)} "
                                "since the plan")
            continue
        rec = state.get(change.name)
        if rec is None:
            if now is not None:
                problems.append(f"connector '{change.name}' exists on the cluster now; the plan "
                                "(--refresh=false) expected it absent")
        elif now is None:
            problems.append(f"connector '{change.name}' is not on the cluster; the plan (--refresh=false) "
                            "expected it as the state records it")
        elif (live_run_state(now) != rec.state
              or not diff.configs_equal({**now.config, "name": now.name}, rec.config, plan.digest_salt)):
            problems.append(f"connector '{change.name}' on the cluster differs from what the state records "
                            "(the plan was made with --refresh=false)")
    return problems


def render_problems(plan: Plan, rendered: Rendered) -> list[str]:
    """The code must still render exactly the config (and run state) the plan writes."""
    problems: list[str] = []
    for change in plan.actions:
        if change.desired_config is None:
            continue
        spec = rendered.connectors.get(change.name)
        if spec is None:
            problems.append(f"connector '{change.name}' is no longer declared in the code")
            continue
        now = digest_config({**spec.config, "name": spec.name}, rendered.sensitive, plan.digest_salt)
        keys = sorted(k for k in now.keys() | change.desired_config.keys()
                      if now.get(k) != change.desired_config.get(k))
        if keys:
            problems.append(f"connector '{change.name}': the code now renders a different value for "
                            f"{', '.join(keys)} (secret values are compared by digest)")
        if change.state_to is not None and spec.state != change.state_to:
            problems.append(f"connector '{change.name}': the code now declares run state {spec.state}, "
                            f"the plan {change.state_to}")
        if change.offsets is not None and spec.offsets != change.offsets:
            now_op = f"'{spec.offsets.token}'" if spec.offsets else "none"
            problems.append(f"connector '{change.name}': the code now declares another offsets operation "
                            f"({now_op}, the plan '{change.offsets.token}')")
    return problems


def write_configs(plan: Plan, rendered: Rendered) -> dict[str, dict[str, str]]:
    """The plain configs to write, per connector: the re-render's values (only call when fresh)."""
    out: dict[str, dict[str, str]] = {}
    for change in plan.actions:
        spec = rendered.connectors.get(change.name)
        if change.desired_config is not None and spec is not None:
            out[change.name] = {**spec.config, "name": spec.name}
    return out


def read_live(client: ConnectClient, plan: Plan) -> dict[str, LiveConnector]:
    """The live connectors, complete for every connector the plan touches.

    One ``list_connectors()``; but during a rebalance Connect leaves out of the ``expand`` answer every
    connector whose info or status it cannot read ("a rebalance is expected") while ``GET /connectors``
    lists it (seen on the 2-worker cluster here, for ~15 s after an interrupted apply). A touched
    connector that is listed but missing is read on its own (the client retries rebalance answers), so
    freshness never takes "busy" for "deleted" or "absent".
    """
    live = dict(client.list_connectors())
    touched = {c.name for c in plan.actions}
    if touched - live.keys():
        for name in sorted((touched - live.keys()) & set(client.connector_names())):
            with contextlib.suppress(NotFound):
                live[name] = client.get_connector(name)
    return live


def raise_if_stale(problems: list[str], plan_path: str, env: str) -> None:
    if not problems:
        return
    raise PlanError(
        f"the saved plan {plan_path} is stale; nothing was changed:\n  - " + "\n  - ".join(problems),
        f"Run 'kcplan plan -e {env} --out {plan_path}' again, review it, and apply the new plan.",
    )
