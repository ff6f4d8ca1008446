"""One state, one Kafka cluster: never compare a state with (or write it after) another cluster's Connect.

An environment's Connect URL can point at another cluster's workers (KCPLAN_CONNECT_URL left set, a
copied settings file); planning then would delete every connector the state records, and import would
mix two clusters in one state. plan, apply -e, import and drift refuse with :func:`check_same_cluster`;
apply's freshness check uses :func:`other_cluster` for the cluster a saved plan was made against.
"""

from __future__ import annotations

from collections.abc import Sequence

from kcplan.errors import PlanError


def other_cluster(recorded: str | None, live: str | None) -> bool:
    """Both ids known and different. A state without an id (never applied) or a worker that reports
    none cannot be told apart, so it passes."""
    return bool(recorded and live and recorded != live)


def check_same_cluster(env: str, state_cluster_id: str | None, live_cluster_id: str | None,
                       urls: Sequence[str]) -> None:
    """PlanError when the state of ``env`` was written for another cluster than ``urls`` answer for."""
    if not other_cluster(state_cluster_id, live_cluster_id):
        return
    from kcplan.connect.classify import redact_url  # imports requests: only on this rare path

    where = ", ".join(redact_url(u) for u in urls) or "the Connect URL"
    raise PlanError(
        f"the state of environment '{env}' belongs to Kafka cluster {state_cluster_id}, but {where} "
        f"answers for cluster {live_cluster_id}",
        "Check the Connect URL of the environment (and KCPLAN_CONNECT_URL), or the state file path.",
    )
