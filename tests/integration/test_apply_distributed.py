"""kcplan apply on the REAL 2-worker distributed Kafka Connect cluster (slow: every write rebalances).

A focused few: a concurrent apply of several connectors (both worker URLs given) that must end verified
healthy, a follow-up update/delete/pause, and an interrupt in the middle of a real rebalancing apply.
"""

from __future__ import annotations

import json
import signal
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
import requests

from tests.applyproject import Project, ok, wait_until

pytestmark = pytest.mark.distributed


@pytest.fixture
def project(tmp_path: Path, distributed_urls: list[str]) -> Project:
    return Project(tmp_path / "proj", ",".join(distributed_urls), distributed_urls[0])


def live_names(url: str) -> set[str]:
    reply = requests.get(f"{url}/connectors", timeout=60)
    reply.raise_for_status()
    return set(reply.json())


def readable(url: str, names: list[str]) -> set[str] | None:
    """Which of ``names`` the worker lists, or None while its ``expand`` answer leaves some of them out:
    during a rebalance Connect drops from ``GET /connectors?expand=status&expand=info`` every connector
    whose info or status it cannot read ("a rebalance is expected"), while ``GET /connectors`` lists it."""
    listed = live_names(url) & set(names)
    reply = requests.get(f"{url}/connectors", params=[("expand", "status"), ("expand", "info")], timeout=60)
    reply.raise_for_status()
    return listed if set(reply.json()) & set(names) == listed else None


def settled(urls: list[str], names: list[str], seconds: float = 120) -> set[str]:
    """Which of ``names`` exist, once every worker lists and reads the same ones twice in a row."""
    previous: set[str] | None = None
    found: set[str] = set()

    def agreed() -> bool:
        nonlocal previous, found
        views = [readable(u, names) for u in urls]
        now = views[0] if all(v is not None and v == views[0] for v in views) else None
        stable = now is not None and now == previous
        previous = now
        if stable and now is not None:
            found = now
        return stable
    wait_until(agreed, "the workers to agree on the connectors", seconds)
    return found


def test_apply_of_six_connectors_ends_healthy_then_update_delete_and_pause(
        project: Project, distributed_urls: list[str], unique_name: Callable[..., str]) -> None:
    names = [unique_name(f"n{i}") for i in range(6)]
    for name in names[:5]:
        project.declare(name, project.source(name, **{"db.password": f"pw-{name}"}))
    project.declare(names[5], {"name": names[5], "config": project.source(names[5]), "state": "PAUSED"})
    project.plan()
    result = project.kcplan("apply", str(project.plan_file), "--parallelism", "8", "--verify-timeout", "240")
    out = ok(result)
    assert "Apply complete: 6 added, 0 changed, 0 destroyed" in out
    assert result.stderr.count(": created (") == 6
    assert sorted(project.state()) == sorted(names)
    for url in distributed_urls:  # both workers answer for the whole cluster
        def listed(u: str = url) -> bool:
            return set(names) <= live_names(u)
        wait_until(listed, f"every connector listed by {url}", 120)
    assert project.live_state(names[5]) == "PAUSED"

    project.declare(names[0], project.source(names[0], **{"db.password": f"pw-{names[0]}", "tasks.max": 2}))
    (project.connectors / f"{names[1]}.jsonnet").unlink()
    project.declare(names[2], {"name": names[2], "config": project.source(names[2], **{
        "db.password": f"pw-{names[2]}"}), "state": "PAUSED"})
    out = project.plan()
    assert "Plan: 0 to add, 2 to change, 1 to destroy." in out
    result = project.kcplan("apply", str(project.plan_file), "--verify-timeout", "240")
    out = ok(result)
    assert "Apply complete: 0 added, 2 changed, 1 destroyed" in out
    assert project.live_config(names[1]) is None
    assert project.live_config(names[0])["tasks.max"] == "2"  # type: ignore[index]
    assert project.live_state(names[2]) == "PAUSED"
    assert sorted(project.state()) == sorted(set(names) - {names[1]})
    assert "pw-" not in project.state_path.read_text()
    assert project.pending()[0] == 0


def test_interrupted_apply_on_the_distributed_cluster_leaves_a_true_state(
        project: Project, distributed_urls: list[str], unique_name: Callable[..., str]) -> None:
    names = [unique_name(f"i{i}") for i in range(6)]
    for name in names:
        project.declare(name, project.source(name))
    project.plan()
    proc = subprocess.Popen(project.argv("apply", str(project.plan_file), "--parallelism", "2", "--no-verify"),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=project.env())
    assert proc.stderr is not None
    line = proc.stderr.readline()
    while line and ": created (" not in line:
        line = proc.stderr.readline()
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode in (0, 1), out + err  # 0 only when every create had already been sent
    recorded = set(json.loads(project.state_path.read_text())["connectors"])
    assert recorded == settled(distributed_urls, names)
    code, plan = project.pending()
    assert {ln.split("+ create ")[1] for ln in plan.splitlines() if "+ create " in ln} == set(names) - recorded
    assert code == (2 if recorded != set(names) else 0)
