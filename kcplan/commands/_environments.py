"""Commands that report on several environments at once (status, drift): which ones, and concurrently.

``-e`` may be repeated, comma-separated or ``all``; each environment is fetched in its own thread (the
work is waiting on Connect), a few at a time so that ``-e all`` on a large project stays polite.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from kcplan.config.environment import available_envs
from kcplan.context import require_env
from kcplan.errors import KcplanError, UsageError

MAX_ENV_PARALLELISM = 8
A = TypeVar("A")
T = TypeVar("T")


def env_names(args: argparse.Namespace) -> list[str]:
    """The environments named by -e (several, comma-separated, or 'all'); at least one."""
    names = list(dict.fromkeys(args.envs)) or [require_env(args)]
    if "all" in names:
        if names != ["all"]:
            raise UsageError("-e all cannot be combined with other environment names")
        names = available_envs(args.project_dir)
        if not names:
            raise UsageError(f"no environments found under {args.project_dir / 'environments'}",
                             "Each environment is a folder environments/NAME/ with a kcplan.jsonnet.")
    return names


def concurrently(fetch: Callable[[A], T], items: Sequence[A]) -> list[T]:
    """``fetch`` of every item, at most MAX_ENV_PARALLELISM at a time; the results in the items' order."""
    if not items:
        return []
    with ThreadPoolExecutor(max_workers=min(MAX_ENV_PARALLELISM, len(items))) as pool:
        return list(pool.map(fetch, items))


def per_env(envs: list[str], fetch: Callable[[str], T]) -> list[tuple[str, T | None, KcplanError | None]]:
    """``fetch`` for every environment, concurrently; (env, result, None) or (env, None, error), in order.

    A single environment's error is raised as is (the CLI prints it); with several, each is kept so
    the others can still be reported.
    """
    if len(envs) == 1:
        return [(envs[0], fetch(envs[0]), None)]

    def guarded(env: str) -> tuple[str, T | None, KcplanError | None]:
        try:
            return env, fetch(env), None
        except KcplanError as exc:
            return env, None, exc

    return concurrently(guarded, envs)
