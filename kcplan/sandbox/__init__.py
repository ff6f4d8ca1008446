"""A real local Kafka cluster for demos, tests and benchmarks: one Apache Kafka broker (KRaft, combined
mode) and Kafka Connect workers, standalone or distributed.

Modules: ``resolve`` (which jars: Maven Central cache, a Kafka distribution, or the PyPI stand-in),
``configs`` (properties files and JVM command lines), ``processes`` (spawn, watch and stop by recorded pid),
``broker``, ``readiness``, ``lifecycle`` (up, down, status, one worker down and up), ``model`` (the record in
``<project>/.kcplan/sandbox/sandbox.json``). docs/sandbox.md has the choices and the timings.
"""

from kcplan.errors import SandboxError, SandboxMissing
from kcplan.sandbox.configs import worker_properties
from kcplan.sandbox.lifecycle import (
    kill_worker,
    restart_worker,
    sandbox_status,
    start_sandbox,
    stop_sandbox,
    wait_ready,
)
from kcplan.sandbox.model import (
    DEFAULT_GRACE,
    DEFAULT_TIMEOUT,
    MODES,
    ProcessInfo,
    ProcessStatus,
    SandboxInfo,
    load_info,
    sandbox_dir,
)
from kcplan.sandbox.processes import is_alive, parent_death_prefix
from kcplan.sandbox.resolve import (
    DEFAULT_KAFKA_VERSION,
    STAND_IN,
    TESTED_VERSIONS,
    Runtime,
    find_java,
    find_tansu,
    resolve_runtime,
)

__all__ = [
    "DEFAULT_GRACE", "DEFAULT_KAFKA_VERSION", "DEFAULT_TIMEOUT", "MODES", "STAND_IN", "TESTED_VERSIONS",
    "ProcessInfo", "ProcessStatus", "Runtime", "SandboxError", "SandboxInfo", "SandboxMissing",
    "find_java", "find_tansu", "is_alive", "kill_worker", "load_info", "parent_death_prefix",
    "resolve_runtime", "restart_worker", "sandbox_dir", "sandbox_status", "start_sandbox", "stop_sandbox",
    "wait_ready", "worker_properties",
]
