"""kcplan.commands._environments: -e for several environments, fetched concurrently, errors kept apart."""

from __future__ import annotations

import argparse
import threading
import time
from pathlib import Path

import pytest

from kcplan.commands._environments import MAX_ENV_PARALLELISM, concurrently, env_names, per_env
from kcplan.errors import ConnectError, UsageError


def args(project: Path, *envs: str) -> argparse.Namespace:
    return argparse.Namespace(project_dir=project, envs=list(envs), env=envs[0] if envs else None)


def make_envs(project: Path, *names: str) -> None:
    for name in names:
        (project / "environments" / name).mkdir(parents=True)
        (project / "environments" / name / "kcplan.jsonnet").write_text("{}\n")


def test_env_names_in_order_without_repeats(tmp_path: Path) -> None:
    assert env_names(args(tmp_path, "prod", "dev", "prod")) == ["prod", "dev"]


def test_all_is_every_environment_and_alone(tmp_path: Path) -> None:
    make_envs(tmp_path, "staging", "dev")
    assert env_names(args(tmp_path, "all")) == ["dev", "staging"]
    with pytest.raises(UsageError, match="-e all cannot be combined"):
        env_names(args(tmp_path, "all", "dev"))


def test_all_without_environments_says_where_it_looked(tmp_path: Path) -> None:
    with pytest.raises(UsageError) as err:
        env_names(args(tmp_path, "all"))
    assert err.value.message == f"no environments found under {tmp_path / 'environments'}"


def test_concurrently_keeps_the_order_and_the_limit() -> None:
    running, most = 0, 0
    lock = threading.Lock()

    def slow_square(n: int) -> int:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        time.sleep(0.01 * (20 - n) / 20)  # later items finish first
        with lock:
            running -= 1
        return n * n

    assert concurrently(slow_square, list(range(20))) == [n * n for n in range(20)]
    assert most <= MAX_ENV_PARALLELISM
    assert concurrently(slow_square, []) == []


def test_per_env_raises_a_single_environments_error_as_is() -> None:
    def fail(env: str) -> int:
        raise ConnectError(f"{env} is down")

    with pytest.raises(ConnectError, match="dev is down"):
        per_env(["dev"], fail)


def test_per_env_keeps_each_error_beside_the_other_results() -> None:
    def fetch(env: str) -> int:
        if env == "b":
            raise ConnectError("b is down")
        return len(env)

    results = per_env(["a", "b", "ccc"], fetch)
    assert [(env, value, err and err.message) for env, value, err in results] == [
        ("a", 1, None), ("b", None, "b is down"), ("ccc", 3, None)]
