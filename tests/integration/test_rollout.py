"""Safe rollouts on the REAL standalone worker (issue 14): the stability window catches a sink that fails on
its first records, and canary waves stop a bad shared default after the first wave.

The test session sets KCPLAN_VERIFY_STABLE=0 (tests/conftest.py); the first test drops it to get the default.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import requests

from kcplan.apply.options import STABLE_ENV
from tests.applyproject import Project, ok
from tests.helpers import CLEAN_ENV, JSON, SINK, STRING, run_kcplan, wait_until

MISSING_DIR = "/nonexistent-kcplan-rollout"  # a FileStreamSink writing here FAILS when its task starts


def test_a_sink_failing_on_its_first_records_is_failed_by_a_default_apply(project: Project, unique_name: Any) -> None:
    source, sink = unique_name("src"), unique_name("sink")
    topic = f"{source}-topic"
    (project.root / f"{source}.txt").write_text("".join(f"plain text {i}\n" for i in range(20)))
    project.declare(source, project.source(source, **{"value.converter": STRING}))
    project.plan()
    project.apply()
    wait_until(lambda: bool(requests.get(f"{project.worker}/connectors/{source}/offsets", timeout=30)
                            .json()["offsets"]), "the plain-text lines in the topic", seconds=60, interval=0.5)
    project.declare(sink, project.sink(sink, topic, **{"value.converter": JSON,
                                                       "value.converter.schemas.enable": "true"}))
    project.plan()
    applied = run_kcplan(project.root, "apply", str(project.plan_file), "--verbose", drop=(*CLEAN_ENV, STABLE_ENV),
                         timeout=300)
    ok(applied, 3)
    assert "Verifying the health of 1 connector(s) (up to 180 s, each healthy for 30 s):" in applied.stderr
    assert f"Applied, but not healthy: {sink} (FAILED)." in applied.stdout
    assert "DataException" in applied.stdout and "JsonConverter" in applied.stdout  # the trace


def bad_default_project(project: Project, folder: Path, names: list[str], canary: str) -> None:
    """Six sinks sharing defaults.libsonnet (``folder``: where they write); ``canary`` declares canary: true."""
    (project.connectors.parent / "defaults.libsonnet").write_text(json.dumps(
        {"connector.class": SINK, "topics": "rollout-topic", "dir::": str(folder)}).replace('"dir::"', "dir::") + "\n")
    for name in names:
        body = f"(import '../defaults.libsonnet') {{ name: '{name}', file: self.dir + '/{name}.out' }}"
        if name == canary:
            body = (f"{{ name: '{name}', canary: true, config: (import '../defaults.libsonnet') "
                    f"{{ file: self.dir + '/{name}.out' }} }}")
        (project.connectors / f"{name}.jsonnet").write_text(body + "\n")


def test_canary_waves_stop_a_bad_default_after_the_first_wave(project: Project, unique_name: Any) -> None:
    names = sorted(unique_name(f"s{i}") for i in range(6))
    canary = names[-1]  # declared canary: first, although last by name
    bad_default_project(project, Path(MISSING_DIR), names, canary)
    project.plan()
    result = project.kcplan("apply", str(project.plan_file), "--canary", "2", "--verify-stable", "3", "--json")
    ok(result, 3)
    report = json.loads(result.stdout)
    assert report["waves"] == [{"wave": 1, "connectors": [canary, names[0]], "status": "unhealthy"},
                               {"wave": 2, "connectors": names[1:5], "status": "not started"}]
    assert sorted(h["connector"] for h in report["health"]) == sorted([canary, names[0]])
    assert {h["verdict"] for h in report["health"]} == {"failed"}
    assert f"Not touched (later waves): {', '.join(names[1:5])}." in result.stderr
    assert [project.live_config(n) is not None for n in names] == [True, False, False, False, False, True]
    assert sorted(project.state()) == sorted([canary, names[0]])

    bad_default_project(project, project.root, names, canary)  # the default fixed
    shown = project.plan()
    assert "Plan: 4 to add, 2 to change, 0 to destroy." in shown
    done = project.apply("--canary", "2", "--wave-size", "2")
    assert "Wave 3 of 3 (2 connector(s))" in done.stderr
    assert "Waves: 3 of 3 healthy." in done.stdout
    assert project.pending()[0] == 0
    assert sorted(project.state()) == names



def test_a_failed_canary_wave_is_rolled_back_and_the_rest_is_not_touched(project: Project, unique_name: Any) -> None:
    names = sorted(unique_name(f"r{i}") for i in range(3))
    bad_default_project(project, Path(MISSING_DIR), names, canary="")
    project.plan()
    result = project.kcplan("apply", str(project.plan_file), "--canary", "1", "--rollback-on-failure")
    ok(result, 3)
    assert f"Rolling back 1 connector(s) that ended FAILED (--rollback-on-failure): {names[0]}" in result.stderr
    assert f"Not touched (later waves): {names[1]}, {names[2]}." in result.stdout
    assert [project.live_config(n) for n in names] == [None, None, None]
    assert project.state() == {}
    assert "Plan: 3 to add, 0 to change, 0 to destroy." in project.plan()
