"""Starting the sandbox's broker: Apache Kafka in KRaft combined mode, or the tansu stand-in.

Both pick free ports, start, and retry with new ports when another program took one between the
check and the bind (the log says so); any other failure is a SandboxError with the log's tail.
"""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from kcplan.errors import SandboxError
from kcplan.sandbox.configs import BROKER_JVM, broker_properties, java_command
from kcplan.sandbox.model import ProcessInfo
from kcplan.sandbox.processes import (
    BIND_FAILED,
    child_env,
    forget,
    log_says,
    pick_port,
    port_open,
    record,
    spawn,
    tail,
)
from kcplan.sandbox.resolve import Runtime, find_tansu

KAFKA_STARTED = "Kafka Server started"
TANSU_READY = "ready in"
ATTEMPTS = 5


def new_cluster_id() -> str:
    """A random Kafka cluster id: 16 bytes, URL-safe base64 without padding (as ``kafka-storage random-uuid``);
    Kafka reserves ids starting with '-' for command-line reasons, so those are drawn again."""
    while True:
        cluster_id = base64.urlsafe_b64encode(os.urandom(16)).decode().rstrip("=")
        if not cluster_id.startswith("-"):
            return cluster_id


def start_broker(java: Path, runtime: Runtime, directory: Path, taken: set[int], deadline: float,
                 stop_with_parent: bool) -> ProcessInfo:
    if runtime.kafka_version:
        return _start_kafka(java, runtime, directory, taken, deadline, stop_with_parent)
    return _start_tansu(find_tansu(), directory, taken, deadline, stop_with_parent)


def _start_kafka(java: Path, runtime: Runtime, directory: Path, taken: set[int], deadline: float,
                 stop_with_parent: bool) -> ProcessInfo:
    log, config, data = directory / "broker.log", directory / "broker.properties", directory / "kraft"
    cluster_id = new_cluster_id()

    def launch() -> tuple[subprocess.Popen[bytes], int]:
        port, controller_port = pick_port(taken), pick_port(taken)
        shutil.rmtree(data, ignore_errors=True)
        config.write_text(broker_properties(port, controller_port, data))
        _format_storage(java, runtime, directory, config, cluster_id)
        command = java_command(java, BROKER_JVM, directory, runtime.classpath, "kafka.Kafka", str(config))
        return spawn(command, log, directory, stop_with_parent, child_env()), port

    return _start_until_bound(launch, log, deadline, KAFKA_STARTED, f"Apache Kafka {runtime.kafka_version}",
                              config)


def _format_storage(java: Path, runtime: Runtime, directory: Path, config: Path, cluster_id: str) -> None:
    """``kafka-storage format``: KRaft refuses to start on an unformatted log directory."""
    command = java_command(java, BROKER_JVM, directory, runtime.classpath, "kafka.tools.StorageTool",
                           "format", "-t", cluster_id, "-c", str(config))
    done = subprocess.run(command, capture_output=True, text=True, cwd=directory, env=child_env(),
                          timeout=120, check=False)
    if done.returncode != 0:
        output = "\n".join("    " + line[:300] for line in (done.stdout + done.stderr).splitlines()[-15:])
        raise SandboxError(f"formatting the KRaft storage failed:\n{output}", f"See {config}.")


def _start_tansu(tansu: Path, directory: Path, taken: set[int], deadline: float,
                 stop_with_parent: bool) -> ProcessInfo:
    log = directory / "broker.log"

    def launch() -> tuple[subprocess.Popen[bytes], int]:
        port = pick_port(taken)
        listener = f"tcp://127.0.0.1:{port}"
        command = [str(tansu), "broker", "--listener-url", listener, "--advertised-listener-url", listener,
                   "--cluster-id", "kcplan-sandbox"]
        return spawn(command, log, directory, stop_with_parent, {**os.environ, "NO_COLOR": "1"}), port

    return _start_until_bound(launch, log, deadline, TANSU_READY, "the tansu broker", None)


def _start_until_bound(launch: Callable[[], tuple[subprocess.Popen[bytes], int]], log: Path, deadline: float,
                       ready_line: str, what: str, config: Path | None) -> ProcessInfo:
    for _attempt in range(ATTEMPTS):
        child, port = launch()
        proc = record("broker", "broker", child, port, log, config=config)
        if _ready(child, port, log, deadline, ready_line):
            return proc
        timed_out = child.poll() is None
        forget(child)
        if log_says(log, BIND_FAILED):
            continue  # someone took the port between the check and the bind
        problem = f"did not start listening on port {port} in time" if timed_out else "exited at start"
        raise SandboxError(f"{what} {problem}:\n{tail(log)}", f"See {log}.")
    raise SandboxError(f"{what} found no free port after {ATTEMPTS} tries", f"See {log}.")


def _ready(child: subprocess.Popen[bytes], port: int, log: Path, deadline: float, ready_line: str) -> bool:
    """The port accepts connections and the log says the broker is ready. A port another program listens
    on also accepts connections; the broker then logs a bind failure and exits."""
    while time.monotonic() < deadline and child.poll() is None:
        if log_says(log, BIND_FAILED):
            return False
        if log_says(log, [ready_line]) and port_open(port):
            return True
        time.sleep(0.05)
    return False
