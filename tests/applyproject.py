"""A throw-away kcplan project pointed at a REAL Connect worker, driven as a user would (python -m kcplan).

Shared by the apply tests (tests/integration) and the fault scenarios (tests/reliability): build a
project, declare connectors, plan, apply, read the state file and the live cluster, and check that
everything converged (``assert_converged``: the definition of "converged" that issue 7 asks for).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import requests

from tests.faultproxy import FaultProxy
from tests.helpers import (
    SINK,
    SRC,
    file_sink,
    file_source,
    kcplan_argv,
    kcplan_env,
    run_kcplan,
    wait_until,
    write_project,
)

WRITES = ("POST", "PUT", "PATCH", "DELETE")


class Project:
    """A tmp kcplan project with one environment 'dev' whose Connect URL is ``url``: the worker itself, or a
    FaultProxy in front of it. ``worker`` is the real worker (default ``url``), for curl-like checks and
    hand-made changes. ``request_timeout``: the settings' (None: not set); ``timeout``: each command's, in s."""

    def __init__(self, root: Path, url: str, worker: str | None = None, *, request_timeout: float | None = 120,
                 timeout: float = 300) -> None:
        self.root = root
        self.worker = worker or url
        self.timeout = timeout
        settings = f"connect_url: '{url}'"
        if request_timeout is not None:
            settings += f", request_timeout: {request_timeout:g}"
        write_project(root, f"{{ {settings} }}\n", schemas=(SRC, SINK))  # validated like a real project
        self.settings_path = root / "environments" / "dev" / "kcplan.jsonnet"
        self.connectors = root / "environments" / "dev" / "connectors"
        self.state_path = root / ".kcplan" / "dev.state.json"
        self.plan_file = root / "plan.out"

    def declare(self, name: str, body: dict[str, Any]) -> Path:
        path = self.connectors / f"{name}.jsonnet"
        path.write_text(json.dumps(body, indent=2) + "\n")
        return path

    def source(self, name: str, **extra: Any) -> dict[str, Any]:
        return {"name": name, **file_source(self.root / f"{name}.txt", f"{name}-topic", 1, **extra)}

    def sink(self, name: str, topic: str, **extra: Any) -> dict[str, Any]:
        return {"name": name, **file_sink(self.root / f"{name}.out", topic, None, **extra)}

    def env(self) -> dict[str, str]:
        return kcplan_env()

    def argv(self, *args: str) -> list[str]:
        return kcplan_argv(self.root, *args)

    def kcplan(self, *args: str, env: dict[str, str] | None = None,
               timeout: float | None = None) -> subprocess.CompletedProcess[str]:
        """``args`` run with ``env`` on top of ``self.env()``, stdin /dev/null."""
        return run_kcplan(self.root, *args, env=env, timeout=timeout or self.timeout, stdin=subprocess.DEVNULL)

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
        return live_config(self.worker, name)

    def live_state(self, name: str) -> str | None:
        return live_state(self.worker, name)

    def pending(self) -> tuple[int, str]:
        """(exit code, stdout) of 'plan --detailed-exitcode'."""
        result = self.kcplan("plan", "-e", "dev", "--detailed-exitcode")
        assert result.returncode in (0, 2), result.stderr
        return result.returncode, result.stdout


def live_config(url: str, name: str) -> dict[str, str] | None:
    """The connector's config on the worker at ``url`` (plain HTTP, like curl), None when it does not exist."""
    reply = requests.get(f"{url}/connectors/{name}/config", timeout=30)
    return reply.json() if reply.status_code == 200 else None


def live_state(url: str, name: str) -> str | None:
    """The connector's state on the worker at ``url``, None when it does not exist."""
    reply = requests.get(f"{url}/connectors/{name}/status", timeout=30)
    return reply.json()["connector"]["state"] if reply.status_code == 200 else None


def ok(result: subprocess.CompletedProcess[str], code: int = 0) -> str:
    assert result.returncode == code, \
        f"exit {result.returncode}, expected {code}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr
    return result.stdout


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


# -- connectors made by hand, healthy or failing (heal's tests) -----------------------------------------

BAD_PRODUCER = {"producer.override.acks": "bogus"}  # the task fails at start with a ConfigException
STATUS_DEADLINE = 90.0


def connector_status(url: str, name: str) -> dict[str, Any] | None:
    reply = requests.get(f"{url}/connectors/{name}/status", timeout=30)
    return reply.json() if reply.status_code == 200 else None


def task_failed(url: str, name: str) -> bool:
    st = connector_status(url, name)
    return bool(st and st["tasks"] and st["tasks"][0]["state"] == "FAILED")


def running(url: str, name: str) -> bool:
    st = connector_status(url, name)
    return bool(st and st["connector"]["state"] == "RUNNING" and st["tasks"]
                and all(t["state"] == "RUNNING" for t in st["tasks"]))


def make_file_source(project: Project, tmp: Path, name: str, *, failing: bool) -> None:
    """A FileStreamSource made by hand (like curl), RUNNING, or with its task FAILED at start."""
    config = {k: str(v) for k, v in file_source(tmp / f"{name}.txt", f"{name}-topic", 1,
                                                 **(BAD_PRODUCER if failing else {})).items()}
    reply = requests.put(f"{project.worker}/connectors/{name}/config", json=config, timeout=90)
    assert reply.status_code in (200, 201), reply.text
    check = task_failed if failing else running
    wait_until(lambda: check(project.worker, name), f"{name} {'FAILED' if failing else 'RUNNING'}", STATUS_DEADLINE,
               interval=0.3)
