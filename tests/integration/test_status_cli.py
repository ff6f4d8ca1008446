"""kcplan status against the REAL standalone Kafka Connect sandbox, run as a user would.

Each test builds a project in a tmp dir (environments/<env>/kcplan.jsonnet with the sandbox URL),
makes connectors and their states with plain HTTP requests (like curl), and runs
``python -m kcplan status`` in a subprocess. The worker is shared by the whole test session, so
every run is narrowed to this test's own connectors with ``--connector``.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests

from kcplan.state.store import StateStore
from tests.faultproxy import FaultProxy, closed_port_url
from tests.helpers import CLEAN_ENV, SINK, SRC, file_source, run_kcplan, wait_until, write_settings

POLL = 0.3  # s between two polls of wait_until (each asks the worker for a status)
FAIL_DEADLINE = 150.0  # the sink's consumer joins its group before it reads the bad record (~30 s on tansu)


# -- a project and the CLI --------------------------------------------------------------------------

class Project:
    """A tmp kcplan project; ``env(name, url)`` adds an environment pointing at ``url``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)

    def env(self, name: str, url: str) -> Project:
        write_settings(self.root, f"{{ connect_url: '{url}' }}\n", name)
        return self

    def state_path(self, env: str) -> Path:
        return self.root / ".kcplan" / f"{env}.state.json"

    def kcplan(self, *args: str) -> subprocess.CompletedProcess[str]:
        return run_kcplan(self.root, *args, drop=(*CLEAN_ENV, "NO_COLOR"), timeout=180)


def only(*names: str) -> list[str]:
    """--connector options selecting exactly these connectors."""
    return [arg for name in names for arg in ("--connector", name)]


# -- plain HTTP, like curl ------------------------------------------------------------------------

def status_of(url: str, name: str) -> dict[str, Any] | None:
    reply = requests.get(f"{url}/connectors/{name}/status", timeout=30)
    return reply.json() if reply.status_code == 200 else None


def put(url: str, name: str, config: dict[str, Any]) -> None:
    reply = requests.put(f"{url}/connectors/{name}/config", json={k: str(v) for k, v in config.items()}, timeout=90)
    assert reply.status_code in (200, 201), reply.text


def running(url: str, name: str) -> bool:
    st = status_of(url, name)
    return bool(st and st["connector"]["state"] == "RUNNING" and st["tasks"]
                and all(t["state"] == "RUNNING" for t in st["tasks"]))


def source(tmp: Path, name: str, **extra: Any) -> dict[str, Any]:
    """A FileStreamSource (RUNNING also when its file does not exist)."""
    return file_source(tmp / f"{name}.txt", f"{name}-topic", 1, **extra)


def make_running(url: str, tmp: Path, name: str, **extra: Any) -> None:
    put(url, name, source(tmp, name, **extra))
    wait_until(lambda: running(url, name), f"{name} RUNNING", interval=POLL)


def pause(url: str, name: str) -> None:
    assert requests.put(f"{url}/connectors/{name}/pause", timeout=90).status_code == 202
    wait_until(lambda: (st := status_of(url, name)) is not None and st["connector"]["state"] == "PAUSED"
               and all(t["state"] == "PAUSED" for t in st["tasks"]), f"{name} PAUSED", interval=POLL)


def stop(url: str, name: str) -> None:
    assert requests.put(f"{url}/connectors/{name}/stop", timeout=90).status_code in (202, 204)
    wait_until(lambda: (st := status_of(url, name)) is not None and st["connector"]["state"] == "STOPPED"
               and st["tasks"] == [], f"{name} STOPPED", interval=POLL)


def make_failed_task(url: str, tmp: Path, src: str, sink: str) -> dict[str, Any]:
    """A real FAILED task: plain text lines written with StringConverter, read with JsonConverter."""
    topic = f"{src}-lines"
    data = tmp / f"{src}.txt"
    data.write_text("hello\nworld\n")
    put(url, src, {"connector.class": SRC, "file": str(data), "topic": topic, "tasks.max": 1,
                   "value.converter": "org.apache.kafka.connect.storage.StringConverter"})
    put(url, sink, {"connector.class": SINK, "file": str(tmp / f"{sink}.out"), "topics": topic, "tasks.max": 1,
                    "value.converter": "org.apache.kafka.connect.json.JsonConverter",
                    "value.converter.schemas.enable": "true"})
    found: dict[str, Any] = {}

    def failed() -> bool:
        st = status_of(url, sink)
        if st and any(t["state"] == "FAILED" for t in st["tasks"]):
            found.update(st)
            return True
        return False

    wait_until(failed, f"a FAILED task of {sink}", FAIL_DEADLINE, interval=POLL)
    return found


@pytest.fixture
def project(tmp_path: Path, connect_url: str) -> Project:
    return Project(tmp_path / "proj").env("dev", connect_url)


# -- tests ----------------------------------------------------------------------------------------

def test_healthy_connectors_exit_0_and_json_is_parsed(project: Project, connect_url: str, tmp_path: Path,
                                                      unique_name: Callable[..., str]) -> None:
    a, b = unique_name("a"), unique_name("b")
    make_running(connect_url, tmp_path, a)
    make_running(connect_url, tmp_path, b)

    result = project.kcplan("status", "-e", "dev", *only(a, b))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["NAME", "TYPE", "STATE", "WORKER", "TASKS", "RUNNING", "FAILED", "PAUSED",
                                "UNASSIGNED", "MANAGED", "ERROR"]
    worker = status_of(connect_url, a)["connector"]["worker_id"]  # type: ignore[index]
    assert lines[1].split() == [a, "source", "RUNNING", worker, "1", "1", "0", "0", "0", "no"]
    assert lines[2].split() == [b, "source", "RUNNING", worker, "1", "1", "0", "0", "0", "no"]
    assert lines[-1] == "2 connectors (2 RUNNING); tasks: 2 total, 2 running, 0 failed."
    assert "\x1b[" not in result.stdout  # not a terminal: no colours

    result = project.kcplan("status", "-e", "dev", "--format", "json", *only(a, b))
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert [c["name"] for c in data["connectors"]] == [a, b]
    first = data["connectors"][0]
    assert {k: first[k] for k in ("env", "type", "state", "worker", "tasks_total", "tasks_running", "tasks_failed",
                                  "tasks_paused", "tasks_unassigned", "managed", "failed", "failures")} == {
        "env": "dev", "type": "source", "state": "RUNNING", "worker": worker, "tasks_total": 1,
        "tasks_running": 1, "tasks_failed": 0, "tasks_paused": 0, "tasks_unassigned": 0, "managed": False,
        "failed": False, "failures": []}
    assert data["totals"] == {"connectors": 2, "failed_connectors": 0, "tasks": 2, "tasks_running": 2,
                              "tasks_failed": 0, "tasks_paused": 0, "tasks_unassigned": 0}
    assert data["errors"] == []

    markdown = project.kcplan("status", "-e", "dev", "--format", "markdown", *only(a))
    assert markdown.returncode == 0
    assert markdown.stdout.splitlines()[2].startswith(f"| {a} | source ")


def test_paused_and_stopped_connectors_are_counted(project: Project, connect_url: str, tmp_path: Path,
                                                   unique_name: Callable[..., str]) -> None:
    run, paused, stopped = unique_name("run"), unique_name("paused"), unique_name("stopped")
    for name in (run, paused, stopped):
        make_running(connect_url, tmp_path, name)
    pause(connect_url, paused)
    stop(connect_url, stopped)

    result = project.kcplan("status", "-e", "dev", "--format", "json", *only(run, paused, stopped))
    assert result.returncode == 0, result.stderr  # paused and stopped are not failures
    rows = {c["name"]: c for c in json.loads(result.stdout)["connectors"]}
    counts = {name: (r["state"], r["tasks_total"], r["tasks_running"], r["tasks_paused"], r["tasks_failed"])
              for name, r in rows.items()}
    assert counts == {run: ("RUNNING", 1, 1, 0, 0), paused: ("PAUSED", 1, 0, 1, 0), stopped: ("STOPPED", 0, 0, 0, 0)}

    table = project.kcplan("status", "-e", "dev", *only(run, paused, stopped))
    assert table.returncode == 0
    assert table.stdout.splitlines()[-1] == (
        "3 connectors (1 PAUSED, 1 RUNNING, 1 STOPPED); tasks: 2 total, 1 running, 0 failed, 1 paused.")


def test_failed_task_exit_3_first_line_traces_and_failed_filter(project: Project, connect_url: str,
                                                                tmp_path: Path,
                                                                unique_name: Callable[..., str]) -> None:
    src, sink = unique_name("src"), unique_name("sink")
    live = make_failed_task(connect_url, tmp_path, src, sink)
    trace = next(t["trace"] for t in live["tasks"] if t["state"] == "FAILED")
    first_line = trace.strip().splitlines()[0]

    result = project.kcplan("status", "-e", "dev", *only(src, sink))
    assert result.returncode == 3, result.stdout + result.stderr
    sink_line = next(line for line in result.stdout.splitlines() if line.startswith(sink))
    assert sink_line.split()[4:7] == ["1", "0", "1"]  # tasks, running, failed
    shown = first_line if len(first_line) <= 120 else first_line[:117] + "..."  # the table cuts at 120
    assert sink_line.endswith(shown)
    assert "\tat " not in result.stdout  # only the first line without --traces
    assert "with failures" in result.stdout.splitlines()[-1]

    traces = project.kcplan("status", "-e", "dev", "--traces", *only(src, sink))
    assert traces.returncode == 3
    assert f"--- {sink} task 0 on " in traces.stdout
    assert trace.rstrip() in traces.stdout  # the whole trace, as the worker has it

    failed = project.kcplan("status", "-e", "dev", "--failed", "--format", "json", *only(src, sink))
    assert failed.returncode == 3
    data = json.loads(failed.stdout)
    assert [c["name"] for c in data["connectors"]] == [sink]
    failure = data["connectors"][0]["failures"][0]
    assert (failure["task"], failure["first_line"]) == ("0", first_line)
    assert "trace" not in failure
    assert "JsonParseException" in failure["root_cause"] or "DataException" in failure["root_cause"]
    assert data["totals"]["failed_connectors"] == 1

    only_healthy = project.kcplan("status", "-e", "dev", *only(src))
    assert only_healthy.returncode == 0, only_healthy.stdout  # exit code follows the selection


def test_connector_globs_and_managed_column(project: Project, connect_url: str, tmp_path: Path,
                                            unique_name: Callable[..., str]) -> None:
    a, b = unique_name("a"), unique_name("b")
    make_running(connect_url, tmp_path, a)
    make_running(connect_url, tmp_path, b)
    imported = project.kcplan("import", "-e", "dev", a)
    assert imported.returncode == 0, imported.stderr
    assert a in StateStore(project.state_path("dev")).load().connectors

    result = project.kcplan("status", "-e", "dev", "--format", "json", "--connector", a[:-6] + "*",
                            *only(b))
    assert result.returncode == 0, result.stderr
    assert {c["name"]: c["managed"] for c in json.loads(result.stdout)["connectors"]} == {a: True, b: False}

    none = project.kcplan("status", "-e", "dev", "--connector", "no-such-connector-*")
    assert none.returncode == 0
    assert none.stdout.startswith("No connectors.")
    assert "Warning: --connector 'no-such-connector-*' matches no connector" in none.stderr


def test_several_environments_reported_together(project: Project, connect_url: str, tmp_path: Path,
                                                unique_name: Callable[..., str]) -> None:
    project.env("prod", connect_url)
    name = unique_name()
    make_running(connect_url, tmp_path, name)

    result = project.kcplan("status", "-e", "dev", "-e", "prod", *only(name))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split()[:2] == ["ENV", "NAME"]
    assert [line.split()[:3] for line in lines[1:3]] == [["dev", name, "source"], ["prod", name, "source"]]

    data = json.loads(project.kcplan("status", "-e", "all", "--format", "json", *only(name)).stdout)
    assert [(c["env"], c["name"]) for c in data["connectors"]] == [("dev", name), ("prod", name)]

    comma = project.kcplan("status", "-e", "dev,prod", *only(name))
    assert comma.stdout == result.stdout


def test_unreachable_cluster_exit_1_with_a_clear_error(tmp_path: Path) -> None:
    down = closed_port_url()
    project = Project(tmp_path / "proj").env("down", down)
    result = project.kcplan("status", "-e", "down")
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.startswith("Error: GET /connectors: no Connect worker answered")
    assert "connection refused" in result.stderr
    assert "connect_url" in result.stderr  # the hint names what to check
    assert "Traceback" not in result.stderr


def test_one_unreachable_environment_does_not_hide_the_others(project: Project, connect_url: str,
                                                              tmp_path: Path,
                                                              unique_name: Callable[..., str]) -> None:
    project.env("down", closed_port_url())
    name = unique_name()
    make_running(connect_url, tmp_path, name)
    result = project.kcplan("status", "-e", "dev,down", *only(name))
    assert result.returncode == 1
    assert result.stdout.splitlines()[1].split()[:2] == ["dev", name]
    assert result.stderr.startswith("Error: environment 'down': GET /connectors: no Connect worker answered")
    data = json.loads(project.kcplan("status", "-e", "dev,down", "--format", "json", *only(name)).stdout)
    assert [c["name"] for c in data["connectors"]] == [name]
    assert [e["env"] for e in data["errors"]] == ["down"]


def test_one_request_and_fallback_for_workers_without_expand(project: Project, connect_url: str, tmp_path: Path,
                                                              unique_name: Callable[..., str]) -> None:
    a, b = unique_name("a"), unique_name("b")
    make_running(connect_url, tmp_path, a)
    make_running(connect_url, tmp_path, b)
    with FaultProxy(connect_url) as proxy:
        project.env("viaproxy", proxy.url)
        result = project.kcplan("status", "-e", "viaproxy", "--format", "json", *only(a, b))
        assert result.returncode == 0, result.stderr
        assert [(s.method, s.path) for s in proxy.seen] == [("GET", "/connectors?expand=status")]

        # A worker older than 2.3 ignores expand and lists names: one status request per connector.
        proxy.seen.clear()
        proxy.add("GET", r"^/connectors\?", "answer", body=[a, b])
        old = project.kcplan("status", "-e", "viaproxy", "--format", "json", *only(a, b))
        assert old.returncode == 0, old.stderr
        assert sorted(s.path for s in proxy.seen) == sorted(
            ["/connectors?expand=status", f"/connectors/{a}/status", f"/connectors/{b}/status"])
    assert json.loads(old.stdout)["connectors"] == json.loads(result.stdout)["connectors"]
