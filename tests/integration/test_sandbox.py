"""`kcplan sandbox` starts and stops a REAL Apache Kafka broker and Connect, and only its own processes."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests

from kcplan.sandbox import broker, lifecycle, processes, sandbox_dir, start_sandbox, stop_sandbox
from tests.helpers import file_source, run_kcplan

STARTUP = "180"  # seconds; generous, this 2-core machine runs other test suites too


def kcplan(root: Path, *args: str, env: dict[str, str] | None = None, drop: tuple[str, ...] = (),
           timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """This process's whole environment (less ``drop``, plus ``env``): a sandbox command reads no project."""
    return run_kcplan(root, *args, env=env, drop=drop, timeout=timeout)


def state(root: Path) -> dict[str, Any]:
    return json.loads((sandbox_dir(root) / "sandbox.json").read_text())


def gone(pid: int) -> bool:
    """No such process, or only a zombie (dead, waiting to be reaped by its parent)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] in ("Z", "X")


def wait_gone(pids: list[int], seconds: float = 30) -> list[int]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and not all(gone(p) for p in pids):
        time.sleep(0.1)
    return [p for p in pids if not gone(p)]


def test_cli_standalone_up_status_down(tmp_path: Path, kafka_version: str) -> None:
    try:
        up = kcplan(tmp_path, "sandbox", "up", "--timeout", STARTUP)
        assert up.returncode == 0, up.stderr + up.stdout
        recorded = state(tmp_path)
        assert recorded["mode"] == "standalone"
        [worker] = [p for p in recorded["processes"] if p["role"] == "worker"]
        [broker] = [p for p in recorded["processes"] if p["role"] == "broker"]
        url = worker["url"]
        assert f"export KCPLAN_CONNECT_URL={url}\n" in up.stdout
        assert all(p["port"] < 32768 for p in recorded["processes"])
        assert requests.get(url + "/connectors", timeout=10).json() == []
        assert requests.get(url + "/", timeout=10).json()["version"] == kafka_version
        assert f"broker: Apache Kafka {kafka_version} (KRaft)\n" in up.stdout
        assert recorded["broker_kind"] == f"Apache Kafka {kafka_version} (KRaft)"
        assert requests.get(url + "/health", timeout=10).status_code == 200
        for name in ("worker-1.log", "broker.log", "worker-1.properties", "log4j2.properties"):
            assert (sandbox_dir(tmp_path) / name).is_file(), name
        assert "plugin.discovery=service_load" in Path(worker["config"]).read_text()

        status = kcplan(tmp_path, "sandbox", "status")
        assert status.returncode == 0, status.stderr
        assert "Sandbox running: standalone" in status.stdout
        assert f"broker: Apache Kafka {kafka_version} (KRaft)\n" in status.stdout
        assert url in status.stdout and str(worker["pid"]) in status.stdout

        again = kcplan(tmp_path, "sandbox", "up", "--timeout", STARTUP)
        assert again.returncode == 1
        assert "Error: a sandbox is already running here" in again.stderr
        assert "Traceback" not in again.stderr
        assert state(tmp_path)["processes"] == recorded["processes"]  # the running one is untouched

        down = kcplan(tmp_path, "sandbox", "down")
        assert down.returncode == 0, down.stderr
        assert "Sandbox stopped" in down.stdout
        assert wait_gone([worker["pid"], broker["pid"]], 5) == []
        assert not (sandbox_dir(tmp_path) / "sandbox.json").exists()
        assert (sandbox_dir(tmp_path) / "worker-1.log").is_file()  # logs are kept

        after = kcplan(tmp_path, "sandbox", "status")
        assert after.returncode == 0
        assert "No sandbox running" in after.stdout
        assert kcplan(tmp_path, "sandbox", "down").returncode == 0  # nothing to stop is fine
    finally:
        stop_sandbox(tmp_path)


def test_down_copes_with_a_dead_worker_and_status_says_unhealthy(tmp_path: Path) -> None:
    info = start_sandbox(tmp_path, timeout=float(STARTUP), stop_with_parent=True)
    try:
        worker = info.workers[0]
        os.kill(worker.pid, signal.SIGKILL)
        assert wait_gone([worker.pid], 10) == []

        status = kcplan(tmp_path, "sandbox", "status")
        assert status.returncode == 3
        assert "UNHEALTHY" in status.stdout and "not running" in status.stdout

        down = kcplan(tmp_path, "sandbox", "down")
        assert down.returncode == 0, down.stderr
        assert wait_gone([info.broker.pid], 5) == []  # type: ignore[union-attr]
    finally:
        stop_sandbox(tmp_path)


def test_ports_taken_after_the_check_are_retried(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Another program may listen on the chosen port before the broker/worker binds it."""
    held = socket.socket()
    held.bind(("127.0.0.1", 0))
    held.listen()
    busy = held.getsockname()[1]
    real_pick = processes.pick_port
    calls = {"broker": 0, "worker": 0}

    def picker(who: str) -> Callable[[set[int]], int]:
        def pick(taken: set[int]) -> int:
            calls[who] += 1
            return busy if calls[who] == 1 else real_pick(taken)  # the first try of each
        return pick

    monkeypatch.setattr(broker, "pick_port", picker("broker"))
    monkeypatch.setattr(lifecycle, "pick_port", picker("worker"))
    try:
        info = start_sandbox(tmp_path, timeout=float(STARTUP), stop_with_parent=True)
        assert busy not in info.ports.values()
        assert calls == {"broker": 4, "worker": 2}  # two tries of (listener, controller); two of the worker
        assert requests.get(info.url + "/connectors", timeout=10).json() == []
        failed = (sandbox_dir(tmp_path) / "worker-1.log.failed").read_text()
        assert "Address already in use" in failed
    finally:
        stop_sandbox(tmp_path)
        held.close()


def test_kafka_home_without_jars_is_a_clear_error(tmp_path: Path) -> None:
    empty = tmp_path / "kafka"
    empty.mkdir()
    result = kcplan(tmp_path, "sandbox", "up", "--kafka-home", str(empty))
    assert result.returncode == 1
    assert result.stderr.startswith(f"Error: no Kafka Connect jars in {empty}/libs (connect-runtime-*.jar")
    assert "--kafka-home" in result.stderr and "Maven Central" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (sandbox_dir(tmp_path) / "sandbox.json").exists()


def test_a_version_maven_central_lacks_is_a_clear_error(tmp_path: Path) -> None:
    """4.4.0's broker and runtime are served, its connect-file is not: the error names the artifact."""
    cache = tmp_path / "cache"
    result = kcplan(tmp_path, "sandbox", "up", "--kafka-version", "4.4.0", env={"KCPLAN_CACHE_DIR": str(cache)})
    assert result.returncode == 1, result.stdout
    assert "Error: Maven Central does not serve org.apache.kafka:connect-file:jar:4.4.0" in result.stderr
    assert "--kafka-version 4.3.1" in result.stderr and "Traceback" not in result.stderr
    assert not (cache / "kafka" / "4.4.0" / "libs").exists()  # nothing half-fetched is taken for a cache
    assert not (sandbox_dir(tmp_path) / "sandbox.json").exists()


@pytest.mark.parametrize(("version", "message"), [
    ("4.3", "Error: --kafka-version '4.3' is not a version like 4.3.1\n"),
    ("2.8.2", "Error: Apache Kafka 2.8.2 cannot run the sandbox's KRaft broker (3.3 or newer needed)\n"),
])
def test_unusable_versions_are_refused_before_anything_starts(tmp_path: Path, version: str, message: str) -> None:
    result = kcplan(tmp_path, "sandbox", "up", "--kafka-version", version)
    assert (result.returncode, result.stderr.split("Hint")[0].splitlines(keepends=True)[0]) == (1, message)
    assert not sandbox_dir(tmp_path).exists() or not (sandbox_dir(tmp_path) / "sandbox.json").exists()


def test_the_stand_in_says_it_is_one(tmp_path: Path) -> None:
    try:
        up = kcplan(tmp_path, "sandbox", "up", "--kafka-version", "stand-in", "--timeout", STARTUP)
        assert up.returncode == 0, up.stderr + up.stdout
        line = "broker: tansu (stand-in broker, memory only): not Apache Kafka (stand-in: asked for)\n"
        assert line in up.stdout
        status = kcplan(tmp_path, "sandbox", "status")
        assert line in status.stdout
        assert requests.get(state(tmp_path)["processes"][1]["url"] + "/", timeout=10).json()["version"] == "3.9.0"
    finally:
        stop_sandbox(tmp_path)


def test_missing_java_is_a_clear_error(tmp_path: Path) -> None:
    result = kcplan(tmp_path, "sandbox", "up", env={"PATH": str(tmp_path / "empty-bin")}, drop=("JAVA_HOME",))
    assert result.returncode == 1
    assert result.stderr.startswith("Error: java not found")
    assert "apt-get install openjdk-17-jre-headless" in result.stderr
    assert "Traceback" not in result.stderr


def test_workers_option_needs_distributed_mode(tmp_path: Path) -> None:
    result = kcplan(tmp_path, "sandbox", "up", "--workers", "3")
    assert result.returncode == 1
    assert result.stderr.startswith("Error: --workers needs --mode distributed")


def test_connect_url_fixture_runs_connectors(connect_url: str, unique_name: Callable[..., str],
                                             tmp_path: Path) -> None:
    name = unique_name()
    reply = requests.put(f"{connect_url}/connectors/{name}/config",
                         json=file_source(tmp_path / f"{name}.txt", f"{name}-topic"), timeout=120)
    assert reply.status_code == 201, reply.text
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        status = requests.get(f"{connect_url}/connectors/{name}/status", timeout=10)
        if status.status_code == 200 and status.json()["connector"]["state"] == "RUNNING":
            break
        time.sleep(0.2)
    assert status.json()["connector"]["state"] == "RUNNING"
    assert name in requests.get(f"{connect_url}/connectors", timeout=10).json()


def test_unique_names_differ(unique_name: Callable[..., str]) -> None:
    names = {unique_name(), unique_name(), unique_name("sink")}
    assert len(names) == 3
    assert all(n.startswith("t-unique-names-differ-") for n in names)


@pytest.mark.distributed
def test_cli_distributed_two_workers_form_one_cluster(tmp_path: Path) -> None:
    try:
        up = kcplan(tmp_path, "sandbox", "up", "--mode", "distributed", "--workers", "2",
                    "--timeout", STARTUP)
        assert up.returncode == 0, up.stderr + up.stdout
        recorded = state(tmp_path)
        workers = [p for p in recorded["processes"] if p["role"] == "worker"]
        assert recorded["mode"] == "distributed" and len(workers) == 2
        urls = [w["url"] for w in workers]
        assert f"export KCPLAN_CONNECT_URL={urls[0]},{urls[1]}\n" in up.stdout
        for url in urls:
            assert requests.get(url + "/connectors", timeout=10).json() == []
            assert "group.id=kcplan-sandbox" in Path(workers[0]["config"]).read_text()

        # A connector created through worker 2 shows on worker 1: one cluster.
        name = "sandbox-dist-check"
        reply = requests.put(f"{urls[1]}/connectors/{name}/config",
                             json=file_source(tmp_path / f"{name}.txt", f"{name}-topic"), timeout=120)
        assert reply.status_code == 201, reply.text
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if name in requests.get(urls[0] + "/connectors", timeout=10).json():
                break
            time.sleep(0.5)
        assert name in requests.get(urls[0] + "/connectors", timeout=10).json()

        status = kcplan(tmp_path, "sandbox", "status")
        assert status.returncode == 0, status.stdout
        assert "worker-1" in status.stdout and "worker-2" in status.stdout

        down = kcplan(tmp_path, "sandbox", "down")
        assert down.returncode == 0, down.stderr
        assert wait_gone([p["pid"] for p in recorded["processes"]], 5) == []
    finally:
        stop_sandbox(tmp_path)


@pytest.mark.distributed
def test_distributed_urls_fixture_is_one_cluster(distributed_urls: list[str]) -> None:
    assert len(distributed_urls) == 2
    infos = [requests.get(url + "/", timeout=10).json() for url in distributed_urls]
    assert infos[0]["kafka_cluster_id"] == infos[1]["kafka_cluster_id"]
    for url in distributed_urls:
        assert requests.get(url + "/connectors", timeout=10).status_code == 200
