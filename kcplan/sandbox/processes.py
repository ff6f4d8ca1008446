"""Starting, watching and stopping the sandbox's child processes, by recorded pid only.

Children run in their own session (``start_new_session``), so a Ctrl-C in the terminal does not
reach them half-way. To make them die with the parent (test fixtures: a killed pytest must leave no
JVM behind) they are started through util-linux ``setpriv --pdeathsig TERM``, which sets the
parent-death signal and then execs the command: the pid stays the child's, and no Python code runs
between fork and exec (``preexec_fn`` is documented as unsafe with threads).
"""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterable
from pathlib import Path

from kcplan.errors import SandboxError
from kcplan.sandbox.model import ProcessInfo

# Below Linux's ephemeral range (32768-60999): a port there can already be the local end of an
# outgoing connection, and a broker binding it fails.
PORT_RANGE = (20000, 32000)
BIND_FAILED = ("Address already in use", "AddrInUse", "Address in use", "BindException")

# Popen objects of processes this Python process started: kept so they are reaped (no zombies)
# and not garbage-collected while running.
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}


def parent_death_prefix() -> list[str]:
    """``setpriv --pdeathsig TERM --`` where util-linux setpriv exists (Linux), else nothing."""
    setpriv = shutil.which("setpriv")
    return [setpriv, "--pdeathsig", "TERM", "--"] if setpriv else []


def spawn(cmd: list[str], log: Path, cwd: Path, stop_with_parent: bool,
          env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    """Start ``cmd`` with stdout and stderr into ``log``; with ``stop_with_parent`` it gets SIGTERM
    when the thread that started it ends."""
    full = [*parent_death_prefix(), *cmd] if stop_with_parent else cmd
    with open(log, "wb") as out:
        child = subprocess.Popen(full, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                 cwd=cwd, start_new_session=True, env=env)
    _CHILDREN[child.pid] = child
    return child


def forget(child: subprocess.Popen[bytes]) -> None:
    """Wait for a child that was stopped before it was recorded."""
    if child.poll() is None:
        child.kill()
    child.wait()
    _CHILDREN.pop(child.pid, None)


def record(name: str, role: str, child: subprocess.Popen[bytes], port: int, log: Path,
           url: str | None = None, config: Path | None = None) -> ProcessInfo:
    return ProcessInfo(name=name, role=role, pid=child.pid, port=port, log=str(log),
                       start_time=_proc_start_time(child.pid), url=url,
                       config=str(config) if config else None)


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


def exited(proc: ProcessInfo) -> bool:
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


def stop_processes(processes: list[ProcessInfo], grace: float) -> list[ProcessInfo]:
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


def pick_port(taken: set[int]) -> int:
    """A port free right now (bind test), not handed out before; the caller retries on a lost race."""
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


def port_open(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(1.0)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def tail(path: Path | str, lines: int = 15) -> str:
    try:
        text = Path(path).read_text(errors="replace").splitlines()
    except OSError:
        return ""
    return "\n".join("    " + line[:300] for line in text[-lines:])


def log_says(path: Path | str, needles: Iterable[str]) -> bool:
    try:
        text = Path(path).read_text(errors="replace")
    except OSError:
        return False
    return any(n in text for n in needles)


def child_env() -> dict[str, str]:
    """The caller's environment without what would change a JVM's classpath or options behind our back."""
    return {k: v for k, v in os.environ.items() if k not in ("CLASSPATH", "JAVA_TOOL_OPTIONS")}
