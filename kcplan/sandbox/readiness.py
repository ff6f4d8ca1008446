"""When is a sandbox ready: every worker's REST API answers and, distributed, all workers are in one group.

A worker answers GET / before it has joined its group; requests sent then are refused or wait for a
rebalance. The group has formed when every worker's last "Joined group at generation" log line names
the same generation and leader.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import requests

from kcplan.sandbox.model import ProcessInfo

_JOINED = re.compile(r"Joined group at generation (-?\d+) .*?leaderUrl='([^']*)'")


def get(url: str, timeout: float = 3.0) -> requests.Response | None:
    try:
        return requests.get(url, timeout=timeout)
    except requests.RequestException:
        return None


def worker_ready(url: str) -> dict[str, Any] | None:
    """GET / answers, /health is 200 (3.9+; older workers: 404) and GET /connectors works."""
    root = get(url + "/")
    if root is None or root.status_code != 200:
        return None
    health = get(url + "/health")
    if health is None or health.status_code not in (200, 404):
        return None
    listing = get(url + "/connectors")
    if listing is None or listing.status_code != 200:
        return None
    try:
        data: dict[str, Any] = root.json()
    except ValueError:
        return None
    return data


def last_join(log: Path | str) -> tuple[int, str] | None:
    try:
        text = Path(log).read_text(errors="replace")
    except OSError:
        return None
    joins = _JOINED.findall(text)
    return (int(joins[-1][0]), joins[-1][1]) if joins else None


def group_formed(workers: list[ProcessInfo]) -> bool:
    """Every worker's last 'Joined group' names the same generation and leader."""
    joins = {last_join(w.log) for w in workers}
    return None not in joins and len(joins) == 1
