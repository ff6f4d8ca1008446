"""Helpers shared by every layer of the tests (unit, property, integration, reliability).

- the FileStream connector classes and their configs (``file_source``, ``file_sink``);
- a kcplan project folder on disk (``write_settings``, ``write_project``);
- the CLI run as a user would run it, in a subprocess (``kcplan_argv``, ``kcplan_env``, ``run_kcplan``);
- ``wait_until`` (poll a condition, fail the test at its deadline) and ``temp_files`` (a state file's
  leftover temp files);
- ``worker_version`` (what a real worker says it is) and ``delete_connectors`` (cleanup after a test).

Fixtures live in the conftest.py files; the project driven through plan/apply is tests/applyproject.py.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote

import pytest
import requests

SRC = "org.apache.kafka.connect.file.FileStreamSourceConnector"
SINK = "org.apache.kafka.connect.file.FileStreamSinkConnector"
STRING = "org.apache.kafka.connect.storage.StringConverter"
JSON = "org.apache.kafka.connect.json.JsonConverter"
REPO = Path(__file__).resolve().parents[1]

LOCAL_SETTINGS = "{connect_url: 'http://127.0.0.1:8083'}"  # offline tests: a URL nothing is sent to
CLEAN_ENV = ("KCPLAN_CONNECT_URL", "KCPLAN_ENV")  # a developer's shell must not redirect a test's project
BUSY = (409, 500, 503)  # a rebalance under way: nothing was done, ask again


# -- connector configs ---------------------------------------------------------------------------------

def file_source(file: Path | str, topic: str, tasks_max: int | str = "1", /, **extra: Any) -> dict[str, Any]:
    """A FileStreamSource config reading ``file`` into ``topic`` (RUNNING also when the file does not exist);
    ``extra`` adds keys or replaces these (``topic="other"``)."""
    return {"connector.class": SRC, "file": str(file), "topic": topic, "tasks.max": tasks_max, **extra}


def file_sink(file: Path | str, topics: str, tasks_max: int | str | None = "1", /,
              **extra: Any) -> dict[str, Any]:
    """A FileStreamSink config writing ``topics`` to ``file`` (``tasks_max`` None: no tasks.max key); ``extra``
    adds keys or replaces these."""
    config: dict[str, Any] = {"connector.class": SINK, "file": str(file), "topics": topics}
    if tasks_max is not None:
        config["tasks.max"] = tasks_max
    return {**config, **extra}


# -- a project folder ----------------------------------------------------------------------------------

def write_settings(root: Path, text: str | bytes, env: str = "dev") -> Path:
    """Write ``environments/<env>/kcplan.jsonnet`` (folders made as needed); returns its path."""
    path = root / "environments" / env / "kcplan.jsonnet"
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    return path


def write_project(root: Path, settings: str | bytes | None = LOCAL_SETTINGS, *, env: str = "dev",
                  connectors: Mapping[str, str | bytes] | None = None,
                  schemas: Iterable[str] | str = ()) -> Path:
    """A kcplan project folder at ``root``; returns ``root``.

    ``environments/<env>/kcplan.jsonnet`` holds ``settings`` (None: not written), ``environments/<env>/connectors/``
    the ``connectors`` (file name -> text), and ``schemas/`` the repo's schema of each connector class in
    ``schemas`` ("all": the repo's whole schemas folder; none: no schemas folder).
    """
    folder = root / "environments" / env / "connectors"
    folder.mkdir(parents=True, exist_ok=True)
    if settings is not None:
        write_settings(root, settings, env)
    for name, text in (connectors or {}).items():
        if isinstance(text, bytes):
            (folder / name).write_bytes(text)
        else:
            (folder / name).write_text(text)
    if schemas == "all":
        shutil.copytree(REPO / "schemas", root / "schemas")
    elif schemas:
        (root / "schemas").mkdir(exist_ok=True)
        for cls in schemas:
            shutil.copy(REPO / "schemas" / f"{cls}.json", root / "schemas")
    return root


# -- the CLI in a subprocess ---------------------------------------------------------------------------

def kcplan_argv(root: Path | None, *args: str) -> list[str]:
    """``python -m kcplan [-C root] ARGS`` (this interpreter, so the venv's kcplan)."""
    return [sys.executable, "-m", "kcplan", *(["-C", str(root)] if root is not None else []), *args]


def kcplan_env(extra: Mapping[str, str] | None = None, *, drop: Iterable[str] = CLEAN_ENV) -> dict[str, str]:
    """This process's environment without the variables in ``drop``, then ``extra`` on top."""
    dropped = set(drop)
    env = {k: v for k, v in os.environ.items() if k not in dropped}
    env.update(extra or {})
    return env


def run_kcplan(root: Path | None, *args: str, env: Mapping[str, str] | None = None,
               drop: Iterable[str] = CLEAN_ENV, timeout: float = 120, **popen: Any) -> subprocess.CompletedProcess[str]:
    """Run ``python -m kcplan [-C root] ARGS`` to the end, its output captured as text; the environment is
    ``kcplan_env(env, drop=drop)``; ``popen``: more ``subprocess.run`` arguments (stdin, cwd, preexec_fn)."""
    return subprocess.run(kcplan_argv(root, *args), capture_output=True, text=True,
                          env=kcplan_env(env, drop=drop), timeout=timeout, **popen)


# -- waiting and files ---------------------------------------------------------------------------------

def wait_until(check: Callable[[], bool], what: str, seconds: float = 60, interval: float = 0.2) -> None:
    """Poll ``check`` every ``interval`` s until it is true; fail the test after ``seconds``."""
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {seconds:g} s waiting for {what}")
        time.sleep(interval)


def temp_files(path: Path) -> set[str]:
    """Temp files of state (and backup) writes next to the state file at ``path``."""
    return {p.name for p in path.parent.glob(f".{path.name}*.tmp-*")} if path.parent.exists() else set()


# -- the worker, like curl -----------------------------------------------------------------------------

def worker_version(url: str) -> str:
    """The version of the Connect worker at ``url`` (``GET /``): also that of the FileStream plugins it ships."""
    return str(requests.get(url + "/", timeout=30).json()["version"])


def delete_connectors(url: str, names: Iterable[str], *, attempts: int = 1, pause: float = 2.0, timeout: float = 90,
                      threads: int = 1, listed_only: bool = False, errors: Literal["stop", "retry", "raise"] = "stop",
                      done: Callable[[int], bool] = lambda status: status not in BUSY) -> None:
    """Delete ``names`` from the worker at ``url``: cleanup, best effort unless ``errors="raise"``.

    Each DELETE is sent up to ``attempts`` times, ``pause`` s apart, until its status is ``done`` (by default:
    anything but a rebalance answer). A request that fails: ``errors`` "stop" gives that name up, "retry" counts it
    as an attempt, "raise" lets it propagate. ``listed_only``: only the names ``GET /connectors`` lists (nothing
    when that fails). ``threads`` > 1: that many names at once (each DELETE can block for a rebalance).
    """
    wanted = list(names)
    if listed_only:
        try:
            reply = requests.get(url + "/connectors", timeout=60)
            reply.raise_for_status()
            listed = set(reply.json())
        except (requests.RequestException, ValueError):
            return
        wanted = [name for name in wanted if name in listed]

    def delete(name: str) -> None:
        for attempt in range(attempts):
            if attempt:
                time.sleep(pause)
            try:
                reply = requests.delete(f"{url}/connectors/{quote(name, safe='')}", timeout=timeout)
            except requests.RequestException:
                if errors == "raise":
                    raise
                if errors == "stop":
                    return
                continue
            if done(reply.status_code):
                return

    if threads > 1:
        with ThreadPoolExecutor(max_workers=threads) as pool:
            list(pool.map(delete, wanted))
    else:
        for name in wanted:
            delete(name)
