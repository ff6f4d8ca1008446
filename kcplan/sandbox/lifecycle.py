"""Bringing a sandbox up and down, reporting it, and (for fault tests) killing and restarting one worker."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path

from kcplan.errors import SandboxError
from kcplan.sandbox.broker import start_broker
from kcplan.sandbox.configs import LOG4J1, LOG4J2, WORKER_JVM, WORKER_MAINS, java_command, worker_properties
from kcplan.sandbox.model import (
    DEFAULT_GRACE,
    DEFAULT_TIMEOUT,
    MODES,
    STATE_FILE,
    ProcessInfo,
    ProcessStatus,
    SandboxInfo,
    load_info,
    loaded,
    sandbox_dir,
    save_info,
)
from kcplan.sandbox.processes import (
    BIND_FAILED,
    child_env,
    exited,
    is_alive,
    log_says,
    pick_port,
    record,
    spawn,
    stop_processes,
    tail,
)
from kcplan.sandbox.readiness import get, group_formed, worker_ready
from kcplan.sandbox.resolve import STAND_IN, Runtime, find_java, resolve_runtime

_LEFT_OVER = ("*.log", "*.log.failed", "*.properties", "*.log.[0-9]*", "offsets-*")


def start_sandbox(root: Path, mode: str = "standalone", workers: int | None = None,
                  kafka_home: Path | str | None = None, timeout: float = DEFAULT_TIMEOUT,
                  stop_with_parent: bool = False,
                  progress: Callable[[str], None] | None = None,
                  extra_listeners: Sequence[str] = (),
                  extra_worker_props: Mapping[str, str] | None = None,
                  kafka_version: str | None = None, worker_heap: str | None = None) -> SandboxInfo:
    """Start a broker and ``workers`` Connect workers; return once every REST API is ready.

    ``kafka_version``: see :func:`kcplan.sandbox.resolve.resolve_runtime`. ``workers`` defaults to 1
    (standalone) or 2 (distributed). ``stop_with_parent`` makes the processes get SIGTERM when the calling
    thread ends (test fixtures: a killed pytest leaves no JVM behind). ``extra_listeners`` and
    ``extra_worker_props`` go into every worker's properties (tests use them for HTTPS and client
    certificates). ``worker_heap`` (e.g. ``"4g"``) replaces the workers' -Xmx (benchmarks). On failure
    everything started is stopped and SandboxError raised.
    """
    if mode not in MODES:
        raise SandboxError(f"unknown sandbox mode {mode!r}", "Use 'standalone' or 'distributed'.")
    count = workers if workers is not None else (2 if mode == "distributed" else 1)
    if count < 1 or (mode == "standalone" and count != 1):
        raise SandboxError(f"{mode} mode cannot run {count} workers",
                           "Standalone runs exactly 1 worker; use --mode distributed --workers N.")
    say = progress or (lambda _msg: None)
    java = find_java()
    home = kafka_home if kafka_home is not None else os.environ.get("KAFKA_HOME") or None
    directory = sandbox_dir(root).resolve()
    _refuse_running(root, directory)
    runtime = resolve_runtime(kafka_version, home, say)
    if runtime.note:
        say(runtime.note)
    _clean(directory)

    began = time.monotonic()
    deadline = began + timeout
    info = SandboxInfo(dir=directory, mode=mode, processes=[], status="starting", jars=runtime.origin,
                       broker_kind=runtime.broker_kind,
                       started_at=datetime.now(UTC).isoformat(timespec="seconds"),
                       extra={"extra_listeners": list(extra_listeners),
                              "worker_props": dict(extra_worker_props or {}),
                              "kafka_home": str(home) if home else None,   # for restart_worker
                              "kafka_version": runtime.kafka_version or STAND_IN,
                              "note": runtime.note, "worker_heap": worker_heap})
    taken: set[int] = set()
    try:
        say(f"starting the broker: {runtime.broker_kind}")
        info.processes.append(start_broker(java, runtime, directory, taken, deadline, stop_with_parent))
        save_info(info)
        for index in range(1, count + 1):
            info.processes.append(_start_worker(java, runtime, index, info, taken, stop_with_parent))
            save_info(info)
        say(f"waiting for {count} Kafka Connect worker{'s' if count > 1 else ''} ({mode})")
        _wait_started(info, java, runtime, taken, deadline, stop_with_parent, timeout)
    except BaseException:
        with contextlib.suppress(SandboxError):  # the first error is the one to report
            stop_processes(info.processes, DEFAULT_GRACE)
        (directory / STATE_FILE).unlink(missing_ok=True)
        raise
    info.status = "running"
    info.startup_seconds = round(time.monotonic() - began, 2)
    save_info(info)
    return info


def _refuse_running(root: Path, directory: Path) -> None:
    existing = load_info(root)
    if existing is None:
        return
    if any(is_alive(p) for p in existing.processes):
        raise SandboxError(f"a sandbox is already running here ({existing.mode}, {', '.join(existing.urls)})",
                           "Use it, or stop it first with 'kcplan sandbox down'.")
    (directory / STATE_FILE).unlink(missing_ok=True)


def _clean(directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for pattern in _LEFT_OVER:
        for old in directory.glob(pattern):
            old.unlink()
    (directory / "log4j2.properties").write_text(LOG4J2)
    (directory / "log4j.properties").write_text(LOG4J1)


def _start_worker(java: Path, runtime: Runtime, index: int, info: SandboxInfo, taken: set[int],
                  stop_with_parent: bool) -> ProcessInfo:
    directory = info.dir
    name = f"worker-{index}"
    port = pick_port(taken)
    config = directory / f"{name}.properties"
    config.write_text(worker_properties(info.mode, info.bootstrap_servers, port, directory / f"offsets-{index}.txt",
                                        extra_listeners=info.extra.get("extra_listeners", ()),
                                        extra_props=info.extra.get("worker_props")))
    log = directory / f"{name}.log"
    child = spawn(_worker_command(java, runtime, info, config), log, directory, stop_with_parent, child_env())
    return record(name, "worker", child, port, log, url=f"http://127.0.0.1:{port}", config=config)


def _worker_command(java: Path, runtime: Runtime, info: SandboxInfo, config: Path) -> list[str]:
    heap = info.extra.get("worker_heap")
    options = [f"-Xmx{heap}" if heap and o.startswith("-Xmx") else o for o in WORKER_JVM]
    return java_command(java, options, info.dir, runtime.classpath, WORKER_MAINS[info.mode], str(config))


def _wait_started(info: SandboxInfo, java: Path, runtime: Runtime, taken: set[int], deadline: float,
                  stop_with_parent: bool, timeout: float) -> None:
    pending = {w.name for w in info.workers}
    retries = 3
    while True:
        broker = info.broker
        if broker is not None and not is_alive(broker):
            raise SandboxError(f"the broker exited:\n{tail(broker.log)}", f"See {broker.log}.")
        for worker in list(info.workers):
            if worker.name not in pending:
                continue
            if not is_alive(worker):
                if retries > 0 and log_says(worker.log, BIND_FAILED):
                    retries -= 1  # someone took the port between the check and the bind
                    Path(worker.log).rename(worker.log + ".failed")
                    fresh = _start_worker(java, runtime, int(worker.name.split("-")[1]), info, taken,
                                          stop_with_parent)
                    info.processes[info.processes.index(worker)] = fresh
                    save_info(info)
                    continue
                raise SandboxError(f"Kafka Connect {worker.name} exited at start:\n{tail(worker.log)}",
                                   f"See {worker.log}.")
            answer = worker_ready(str(worker.url))
            if answer is not None:
                pending.discard(worker.name)
                info.connect_version = str(answer.get("version", "")) or None
                info.kafka_cluster_id = answer.get("kafka_cluster_id")
        if not pending and (info.mode == "standalone" or group_formed(info.workers)):
            dead = [p.name for p in info.processes if not is_alive(p)]
            if not dead:
                return
            raise SandboxError(f"{', '.join(dead)} exited during start-up", f"See the logs in {info.dir}.")
        if time.monotonic() > deadline:
            waiting = ", ".join(sorted(pending)) or "the workers to form one group"
            logs = " ".join(w.log for w in info.workers)
            raise SandboxError(f"Kafka Connect was not ready within {timeout:g} s (waiting for {waiting})",
                               f"Try a longer --timeout; see the logs: {logs}")
        time.sleep(0.25)


def stop_sandbox(root: Path, grace: float = DEFAULT_GRACE) -> SandboxInfo | None:
    """Stop exactly the processes recorded for ``root``; None when nothing was recorded.

    The state file is removed, the logs stay. Processes whose pid now belongs to another
    program (pid reuse, checked by start time) are left alone.
    """
    info = load_info(root)
    if info is None:
        return None
    stop_processes(info.processes, grace)
    (info.dir / STATE_FILE).unlink(missing_ok=True)
    info.status = "stopped"
    return info


def sandbox_status(root: Path) -> tuple[SandboxInfo, list[ProcessStatus]] | None:
    """What the state file records and whether each process still runs / answers."""
    info = load_info(root)
    if info is None:
        return None
    result: list[ProcessStatus] = []
    for proc in info.processes:
        alive = is_alive(proc)
        answering = None
        if proc.role == "worker":
            reply = get(f"{proc.url}/", timeout=2.0) if alive else None
            answering = reply is not None and reply.status_code == 200
        result.append(ProcessStatus(proc, alive, answering))
    return info, result


def _recorded_worker(info: SandboxInfo, index: int) -> ProcessInfo:
    name = f"worker-{index}"
    for proc in info.workers:
        if proc.name == name:
            return proc
    known = ", ".join(w.name for w in info.workers) or "none"
    raise SandboxError(f"the sandbox has no {name} (workers: {known})", "Workers are numbered from 1.")


def kill_worker(root: Path, index: int, sig: int = signal.SIGKILL, grace: float = 30.0) -> ProcessInfo:
    """Send ``sig`` (default SIGKILL) to the recorded worker ``index`` (1-based) and wait until it is gone.

    For fault tests: the worker is checked by pid *and* start time, so a reused pid is never hit.
    Its record stays in the state file (``restart_worker`` starts it again; ``stop`` skips it).
    """
    proc = _recorded_worker(loaded(root), index)
    if not is_alive(proc):
        raise SandboxError(f"{proc.name} (pid {proc.pid}) is not running", "Start it with restart_worker.")
    with contextlib.suppress(ProcessLookupError):
        os.kill(proc.pid, sig)
    deadline = time.monotonic() + grace
    while not exited(proc):
        if time.monotonic() > deadline:
            raise SandboxError(f"{proc.name} (pid {proc.pid}) still runs {grace:g} s after signal {int(sig)}",
                               "Stop it by hand with 'kill -9 PID'.")
        time.sleep(0.05)
    return proc


def restart_worker(root: Path, index: int, *, wait: bool = True, timeout: float = DEFAULT_TIMEOUT,
                   stop_with_parent: bool = False) -> ProcessInfo:
    """Start the stopped worker ``index`` again: same command, properties file (so the same port and,
    distributed, the same group), same jars. Its previous log is kept as ``worker-N.log.K``.

    With ``wait`` this returns once the worker answers and (distributed) the group has formed again;
    otherwise at once (see :func:`wait_ready`).
    """
    info = loaded(root)
    proc = _recorded_worker(info, index)
    if is_alive(proc):
        raise SandboxError(f"{proc.name} (pid {proc.pid}) is still running", "Kill it first (kill_worker).")
    if proc.config is None or not Path(proc.config).is_file():
        raise SandboxError(f"the properties file of {proc.name} is missing ({proc.config})", "Start a new sandbox.")
    runtime = resolve_runtime(info.extra.get("kafka_version"), info.extra.get("kafka_home"))
    log = Path(proc.log)
    if log.exists():
        kept = 1
        while log.with_name(f"{log.name}.{kept}").exists():
            kept += 1
        log.rename(log.with_name(f"{log.name}.{kept}"))
    child = spawn(_worker_command(find_java(), runtime, info, Path(proc.config)), log, info.dir,
                  stop_with_parent, child_env())
    fresh = record(proc.name, "worker", child, proc.port, log, url=proc.url, config=Path(proc.config))
    info.processes[info.processes.index(proc)] = fresh
    save_info(info)
    if wait:
        wait_ready(root, timeout)
    return fresh


def wait_ready(root: Path, timeout: float = DEFAULT_TIMEOUT) -> SandboxInfo:
    """Wait until every recorded worker runs and answers and (distributed) all are in one group."""
    deadline = time.monotonic() + timeout
    while True:
        info = loaded(root)
        dead = [p.name for p in info.processes if not is_alive(p)]
        if dead:
            logs = " ".join(p.log for p in info.processes if p.name in dead)
            raise SandboxError(f"{', '.join(dead)} not running", f"See the logs: {logs}")
        answering = all(worker_ready(str(w.url)) is not None for w in info.workers)
        if answering and (info.mode == "standalone" or group_formed(info.workers)):
            return info
        if time.monotonic() > deadline:
            logs = " ".join(w.log for w in info.workers)
            raise SandboxError(f"the sandbox workers were not ready within {timeout:g} s", f"See the logs: {logs}")
        time.sleep(0.25)
