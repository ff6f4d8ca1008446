"""kcplan.plan.cluster_guard: a state is never used against another Kafka cluster's Connect."""

from __future__ import annotations

import pytest

from kcplan.errors import PlanError
from kcplan.plan.cluster_guard import check_same_cluster, other_cluster


@pytest.mark.parametrize(("recorded", "live", "other"), [
    ("cluster-A", "cluster-B", True),
    ("cluster-A", "cluster-A", False),
    (None, "cluster-B", False),  # a state never applied has no cluster yet
    ("cluster-A", None, False),  # a worker that reports none cannot be told apart
    ("", "cluster-B", False),
    (None, None, False),
])
def test_other_cluster_only_when_both_are_known_and_differ(recorded: str | None, live: str | None,
                                                           other: bool) -> None:
    assert other_cluster(recorded, live) is other


def test_the_same_cluster_passes() -> None:
    assert check_same_cluster("dev", "cluster-A", "cluster-A", ["http://connect:8083"]) is None
    assert check_same_cluster("dev", None, "cluster-A", []) is None


def test_another_cluster_is_refused_naming_env_both_clusters_and_the_urls_without_credentials() -> None:
    with pytest.raises(PlanError) as err:
        check_same_cluster("prod", "cluster-A", "cluster-B",
                           ["https://admin:s3cret@connect-1:8083", "https://connect-2:8083"])
    assert err.value.message == ("the state of environment 'prod' belongs to Kafka cluster cluster-A, but "
                                 "https://connect-1:8083, https://connect-2:8083 answers for cluster cluster-B")
    assert err.value.hint == ("Check the Connect URL of the environment (and KCPLAN_CONNECT_URL), "
                              "or the state file path.")
    assert "s3cret" not in err.value.message


def test_without_urls_the_message_says_the_connect_url() -> None:
    with pytest.raises(PlanError) as err:
        check_same_cluster("dev", "cluster-A", "cluster-B", [])
    assert err.value.message == ("the state of environment 'dev' belongs to Kafka cluster cluster-A, but "
                                 "the Connect URL answers for cluster cluster-B")
