"""What the Connect REST API tells us, as small frozen dataclasses (parsed once, in the client)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

RUN_STATES = ("RUNNING", "PAUSED", "STOPPED")


@dataclass(frozen=True)
class ServerInfo:
    version: str
    commit: str
    kafka_cluster_id: str

    @property
    def version_tuple(self) -> tuple[int, ...]:
        """'3.9.0' -> (3, 9, 0); unknown parts count as 0 so comparisons stay safe."""
        parts = []
        for piece in self.version.split("-")[0].split(".")[:3]:
            parts.append(int(piece) if piece.isdigit() else 0)
        return tuple(parts + [0] * (3 - len(parts)))

    def supports(self, feature: str) -> bool:
        return self.version_tuple >= FEATURE_SINCE[feature]


FEATURE_SINCE: dict[str, tuple[int, ...]] = {
    "expand": (2, 3, 0),
    "restart_tasks": (3, 0, 0),
    "plugin_config": (3, 2, 0),
    "stop": (3, 5, 0),
    "offsets": (3, 5, 0),
    "alter_offsets": (3, 6, 0),
    "initial_state": (3, 7, 0),
    "patch_config": (3, 8, 0),
    "health": (3, 9, 0),
}


@dataclass(frozen=True)
class TaskStatus:
    id: int
    state: str
    worker_id: str = ""
    trace: str | None = None


@dataclass(frozen=True)
class ConnectorStatus:
    """Status of one connector; ``state`` is None when the worker has no status yet (404)."""

    name: str
    state: str | None
    worker_id: str = ""
    trace: str | None = None
    type: str = ""
    tasks: tuple[TaskStatus, ...] = ()

    @classmethod
    def from_json(cls, name: str, body: dict[str, Any]) -> ConnectorStatus:
        conn = body.get("connector") or {}
        tasks = tuple(
            TaskStatus(
                id=int(t.get("id", 0)),
                state=str(t.get("state", "")),
                worker_id=str(t.get("worker_id", "")),
                trace=t.get("trace"),
            )
            for t in body.get("tasks") or []
        )
        return cls(
            name=name,
            state=conn.get("state"),
            worker_id=str(conn.get("worker_id", "")),
            trace=conn.get("trace"),
            type=str(body.get("type", "")),
            tasks=tasks,
        )

    def task_counts(self) -> dict[str, int]:
        counts = {"total": len(self.tasks), "RUNNING": 0, "FAILED": 0, "PAUSED": 0, "UNASSIGNED": 0}
        for task in self.tasks:
            counts[task.state] = counts.get(task.state, 0) + 1
        return counts

    @property
    def failed(self) -> bool:
        return self.state == "FAILED" or any(t.state == "FAILED" for t in self.tasks)


@dataclass(frozen=True)
class LiveConnector:
    """One connector as the cluster has it: config as Connect returns it (all strings) and status."""

    name: str
    config: dict[str, str]
    type: str = ""
    status: ConnectorStatus | None = None
    tasks_config: tuple[dict[str, str], ...] = field(default=(), compare=False)

    @property
    def run_state(self) -> str | None:
        return self.status.state if self.status else None


def plugin_versions(plugins: Iterable[Mapping[str, Any]]) -> dict[str, list[str]]:
    """Installed versions per class, from GET /connector-plugins: Connect 4.1+ (KIP-891) lists each
    installed version of a class as its own entry. Versions in the order listed, each once."""
    found: dict[str, list[str]] = {}
    for plugin in plugins:
        if plugin.get("class"):
            versions = found.setdefault(str(plugin["class"]), [])
            version = str(plugin.get("version") or "unknown")
            if version not in versions:
                versions.append(version)
    return found


def offset_json(value: object) -> str:
    """A partition or offset as compact JSON with sorted keys: how kcplan compares and shows them."""
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


@dataclass(frozen=True)
class ConnectorOffset:
    """One entry of GET /connectors/NAME/offsets: a source partition (e.g. {"filename": ...}) or a sink's
    topic partition ({"kafka_topic", "kafka_partition"}), and where the connector is in it (None: reset)."""

    partition: dict[str, Any]
    offset: dict[str, Any] | None

    @classmethod
    def list_from_json(cls, body: Any) -> list[ConnectorOffset]:
        entries = body.get("offsets") if isinstance(body, dict) else None
        if not isinstance(entries, list):
            return []
        return [cls(partition=dict(e.get("partition") or {}),
                    offset=dict(e["offset"]) if isinstance(e.get("offset"), dict) else None)
                for e in entries if isinstance(e, dict)]
