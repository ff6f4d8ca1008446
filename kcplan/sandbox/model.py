"""What a sandbox runs, as recorded in ``<project>/.kcplan/sandbox/sandbox.json``.

The record is what lets ``down`` stop exactly the processes ``up`` started (pid *and* start time,
never anything found by name) and what ``status`` reports.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from kcplan.atomic_write import write_atomic
from kcplan.errors import SandboxError

STATE_FILE = "sandbox.json"
STATE_VERSION = 2
MODES = ("standalone", "distributed")
DEFAULT_TIMEOUT = 90.0
DEFAULT_GRACE = 20.0


@dataclass
class ProcessInfo:
    name: str                 # "broker", "worker-1", ...
    role: str                 # "broker" | "worker"
    pid: int
    port: int
    log: str                  # path of its log file
    start_time: int | None = None   # /proc start time: tells our process from a reused pid
    url: str | None = None    # REST URL of a worker
    config: str | None = None  # properties file


@dataclass
class SandboxInfo:
    """What runs: read from / written to the state file."""

    dir: Path
    mode: str
    processes: list[ProcessInfo]
    status: str = "running"    # "starting" while up() is still waiting
    jars: str = ""             # where the Connect jars came from
    broker_kind: str = ""      # e.g. "Apache Kafka 4.3.1 (KRaft)" or "tansu (stand-in broker)"
    started_at: str = ""
    startup_seconds: float | None = None
    connect_version: str | None = None
    kafka_cluster_id: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def workers(self) -> list[ProcessInfo]:
        return [p for p in self.processes if p.role == "worker"]

    @property
    def broker(self) -> ProcessInfo | None:
        return next((p for p in self.processes if p.role == "broker"), None)

    @property
    def urls(self) -> list[str]:
        return [p.url for p in self.workers if p.url]

    @property
    def url(self) -> str:
        return self.urls[0]

    @property
    def bootstrap_servers(self) -> str:
        return f"127.0.0.1:{self.broker.port}" if self.broker else ""

    @property
    def stand_in(self) -> bool:
        """True when the broker is not Apache Kafka (tansu: memory only, its own group coordinator)."""
        return not self.broker_kind.startswith("Apache Kafka")

    @property
    def pids(self) -> dict[str, int]:
        return {p.name: p.pid for p in self.processes}

    @property
    def ports(self) -> dict[str, int]:
        return {p.name: p.port for p in self.processes}

    @property
    def logs(self) -> dict[str, Path]:
        return {p.name: Path(p.log) for p in self.processes}

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["dir"] = str(self.dir)
        data["version"] = STATE_VERSION
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SandboxInfo:
        return cls(
            dir=Path(data["dir"]), mode=data["mode"],
            processes=[ProcessInfo(**p) for p in data["processes"]],
            status=data.get("status", "running"), jars=data.get("jars", ""),
            broker_kind=data.get("broker_kind", ""),
            started_at=data.get("started_at", ""), startup_seconds=data.get("startup_seconds"),
            connect_version=data.get("connect_version"), kafka_cluster_id=data.get("kafka_cluster_id"),
            extra=data.get("extra", {}),
        )


@dataclass
class ProcessStatus:
    process: ProcessInfo
    alive: bool
    answering: bool | None = None   # workers only: GET / answered 200


def sandbox_dir(root: Path) -> Path:
    return Path(root) / ".kcplan" / "sandbox"


def load_info(root: Path) -> SandboxInfo | None:
    path = sandbox_dir(root) / STATE_FILE
    try:
        data = json.loads(path.read_text())
        return SandboxInfo.from_json(data)
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise SandboxError(f"cannot read the sandbox state {path}: {exc}",
                           "Stop the processes listed in it by hand, then delete the file.") from exc


def save_info(info: SandboxInfo) -> None:
    """Write the record atomically: a kill never leaves half a file."""
    write_atomic(info.dir / STATE_FILE, json.dumps(info.to_json(), indent=2) + "\n")


def loaded(root: Path) -> SandboxInfo:
    info = load_info(root)
    if info is None:
        raise SandboxError(f"no sandbox is recorded under {sandbox_dir(root)}", "Start one first.")
    return info
