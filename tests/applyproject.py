"""A throw-away kcplan project pointed at a REAL Connect worker, driven as a user would (python -m kcplan).

Shared by the apply tests (tests/integration) and the fault scenarios (tests/reliability): build a
project, declare connectors, plan, apply, read the state file and the live cluster, and check that
everything converged (``assert_converged``: the definition of "converged" that issue 7 asks for).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.faultproxy import FaultProxy

SRC = "org.apache.kafka.connect.file.FileStreamSourceConnector"
SINK = "org.apache.kafka.connect.file.FileStreamSinkConnector"
STRING = "org.apache.kafka.connect.storage.StringConverter"
JSON = "org.apache.kafka.connect.json.JsonConverter"
REPO = Path(__file__).resolve().parents[1]
WRITES = ("POST", "PUT", "PATCH", "DELETE")


class Project:
    """A tmp kcplan project with one environment 'dev' whose Connect URL is ``url``."""

    def __init__(self, root: Path, url: str, worker: str) -> None:
        self.root = root
        self.worker = worker  # the real worker, for curl-like checks and hand-made changes
        self.connectors = root / "environments" / "dev" / "connectors"
        self.connectors.mkdir(parents=True)
        (root / "environments" / "dev" / "kcplan.jsonnet").write_text(
            f"{{ connect_url: '{url}', request_timeout: 120 }}\n")
        self.state_path = root / ".kcplan" / "dev.state.json"
        self.plan_file = root / "plan.out"
        (root / "schemas").mkdir()
        for cls in (SRC, SINK):
            shutil.copy(REPO / "schemas" / f"{cls}.json", root / "schemas")

    def declare(self, name: str, body: dict[str, Any]) -> Path:
        path = self.connectors / f"{name}.jsonnet"
        path.write_text(json.dumps(body, indent=2) + "\n")
        return path

    def source(self, name: str, **extra: Any) -> dict[str, Any]:
        return {"name": name, "connector.class": SRC, "file": str(self.root / f"{name}.txt"),
                "topic": f"{name}-topic", "tasks.max": 1, **extra}

    def sink(self, name: str, topic: str, **extra: Any) -> dict[str, Any]:
        return {"name": name, "connector.class": SINK, "file": str(self.root / f"{name}.out"),
                "topics": topic, **extra}

    def env(self) -> dict[str, str]:
        return {k: v for k, v in os.environ.items() if k not in ("KCPLAN_CONNECT_URL", "KCPLAN_ENV")}

    def argv(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "kcplan", "-C", str(self.root), *args]

    def kcplan(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        return subprocess.run(self.argv(*args), capture_output=True, text=True, env=self.env(), timeout=timeout,
                              stdin=subprocess.DEVNULL)

    def plan(self) -> str:
        return ok(self.kcplan("plan", "-e", "dev", "--out", str(self.plan_file)))

    def apply(self, *args: str, code: int = 0) -> subprocess.CompletedProcess[str]:
        result = self.kcplan("apply", str(self.plan_file), "--verify-timeout", "90", *args)
        ok(result, code)
        return result

    def state(self) -> dict[str, Any]:
        connectors: dict[str, Any] = json.loads(self.state_path.read_text())["connectors"]
        return connectors

    def live_config(self, name: str) -> dict[str, str] | None:
        reply = requests.get(f"{self.worker}/connectors/{name}/config", timeout=30)
        return reply.json() if reply.status_code == 200 else None

    def live_state(self, name: str) -> str | None:
        reply = requests.get(f"{self.worker}/connectors/{name}/status", timeout=30)
        return reply.json()["connector"]["state"] if reply.status_code == 200 else None

    def pending(self) -> tuple[int, str]:
        """(exit code, stdout) of 'plan --detailed-exitcode'."""
        result = self.kcplan("plan", "-e", "dev", "--detailed-exitcode")
        assert result.returncode in (0, 2), result.stderr
        return result.returncode, result.stdout


def ok(result: subprocess.CompletedProcess[str], code: int = 0) -> str:
    assert result.returncode == code, \
        f"exit {result.returncode}, expected {code}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr
    return result.stdout


def wait_until(check: Callable[[], bool], what: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.2)


def writes(proxy: FaultProxy) -> list[tuple[str, str]]:
    return [(s.method, s.path) for s in proxy.seen if s.method in WRITES]


def as_strings(config: dict[str, Any]) -> dict[str, str]:
    return {k: str(v) for k, v in config.items()}



def live_configs(url: str, names: list[str]) -> dict[str, dict[str, str]]:
    """The live config of each of ``names`` that exists on the worker at ``url`` (read one by one:
    ``GET /connectors/NAME/config`` is the authoritative read, unlike the expand listing)."""
    found: dict[str, dict[str, str]] = {}
    for name in names:
        reply = requests.get(f"{url}/connectors/{name}/config", timeout=60)
        if reply.status_code == 200:
            found[name] = reply.json()
        elif reply.status_code != 404:
            reply.raise_for_status()
    return found


def assert_converged(project: Project, desired: dict[str, dict[str, Any]], *, names: list[str] | None = None,
                     apply_args: tuple[str, ...] = ("--verify-timeout", "120")) -> int:
    """Issue 7's "converged": after at most ONE more apply, `plan --detailed-exitcode` exits 0, the cluster
    holds exactly the ``desired`` configs (by name; others of ``names`` absent) and the state file records
    exactly the same names and configs (sensitive values as digests, so those are compared by key only).
    Returns how many extra applies were needed (0 or 1)."""
    extra = 0
    code, out = project.pending()
    if code == 2:
        extra = 1
        project.plan()
        result = project.kcplan("apply", str(project.plan_file), *apply_args)
        ok(result, result.returncode if result.returncode == 3 else 0)
        code, out = project.pending()
    assert code == 0, f"still not converged after one more apply:\n{out}"
    watched = sorted(set(names or []) | set(desired))
    live = live_configs(project.worker, watched)
    assert sorted(live) == sorted(desired), f"live {sorted(live)} != desired {sorted(desired)}"
    for name, body in desired.items():
        expected = {**as_strings(body)}
        assert {k: v for k, v in live[name].items() if k != "name"} == \
            {k: v for k, v in expected.items() if k != "name"}, name
    state = project.state()
    assert sorted(state) == sorted(desired), f"state {sorted(state)} != desired {sorted(desired)}"
    for name, record in state.items():
        recorded = record["config"]
        assert sorted(recorded) == sorted(live[name]), name
        for key, value in recorded.items():
            assert value == live[name][key] or str(value).startswith("hmac-sha256:"), (name, key)
    return extra
