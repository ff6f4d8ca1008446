"""kcplan sandbox up|down|status: a real local Apache Kafka and Kafka Connect for demos and tests (kcplan/sandbox/)."""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from kcplan import exit_codes, sandbox
from kcplan.errors import UsageError


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=["up", "down", "status"],
                        help="up: start it and wait until the REST API answers; down: stop the processes "
                             "that 'up' recorded; status: say what runs")
    parser.add_argument("--mode", choices=list(sandbox.MODES), default="standalone",
                        help="up: one standalone worker (default) or a distributed cluster")
    parser.add_argument("--workers", type=int, metavar="N", default=None,
                        help="up --mode distributed: number of workers (default 2)")
    parser.add_argument("--kafka-version", metavar="VERSION", default=None,
                        help=f"up: the Apache Kafka broker and Connect version, fetched once from Maven Central "
                             f"(default {sandbox.DEFAULT_KAFKA_VERSION}, the newest 4.x served in full; tested: "
                             f"{', '.join(sandbox.TESTED_VERSIONS)}); '{sandbox.STAND_IN}' runs the PyPI stand-in "
                             "(Connect 3.9.0 on the tansu broker), which is also used when mvn is missing or offline "
                             "and no version is given")
    parser.add_argument("--kafka-home", metavar="DIR", default=None,
                        help="up: take the jars from DIR/libs of an unpacked Apache Kafka distribution instead "
                             "(default: $KAFKA_HOME)")
    parser.add_argument("--timeout", type=float, metavar="SECONDS", default=sandbox.DEFAULT_TIMEOUT,
                        help=f"up: how long to wait for the workers (default {sandbox.DEFAULT_TIMEOUT:g})")
    parser.add_argument("--grace", type=float, metavar="SECONDS", default=sandbox.DEFAULT_GRACE,
                        help="down: wait this long after SIGTERM before SIGKILL "
                             f"(default {sandbox.DEFAULT_GRACE:g})")


def run(args: argparse.Namespace) -> int:
    root = Path(args.project_dir)
    if args.action == "up":
        return _up(root, args)
    if args.action == "down":
        return _down(root, args.grace)
    return _status(root)


def _up(root: Path, args: argparse.Namespace) -> int:
    if args.workers is not None and args.mode == "standalone" and args.workers != 1:
        raise UsageError("--workers needs --mode distributed (standalone runs one worker)",
                         "Run 'kcplan sandbox up --mode distributed --workers N'.")
    info = sandbox.start_sandbox(
        root, mode=args.mode, workers=args.workers, kafka_home=args.kafka_home, timeout=args.timeout,
        kafka_version=args.kafka_version,
        progress=lambda msg: print(f"sandbox: {msg} ...", file=sys.stderr, flush=True),
    )
    version = f"Kafka Connect {info.connect_version}" if info.connect_version else "Kafka Connect"
    print(f"Sandbox up: {version}, {info.mode}, {len(info.workers)} worker"
          f"{'s' if len(info.workers) > 1 else ''}, ready in {info.startup_seconds:.1f} s")
    print(_broker_line(info))
    for proc in info.processes:
        where = proc.url if proc.role == "worker" else f"{info.bootstrap_servers} (bootstrap servers)"
        print(f"  {proc.name:<9} {where:<45} pid {proc.pid}")
    print(f"Logs and state: {_shown(info.dir)}")
    print(f"export KCPLAN_CONNECT_URL={','.join(info.urls)}")
    print("Stop it with: kcplan sandbox down" + _dir_option(root))
    return exit_codes.OK


def _down(root: Path, grace: float) -> int:
    info = sandbox.stop_sandbox(root, grace=grace)
    if info is None:
        print(f"No sandbox recorded in {_shown(sandbox.sandbox_dir(root))}; nothing to stop.")
        return exit_codes.OK
    pids = ", ".join(f"{p.name} {p.pid}" for p in info.processes)
    print(f"Sandbox stopped ({info.mode}; pids {pids}). Logs kept in {_shown(info.dir)}")
    return exit_codes.OK


def _status(root: Path) -> int:
    found = sandbox.sandbox_status(root)
    if found is None:
        print(f"No sandbox running (nothing recorded in {_shown(sandbox.sandbox_dir(root))}).")
        print("Start one with: kcplan sandbox up" + _dir_option(root))
        return exit_codes.OK
    info, statuses = found
    healthy = all(s.alive and s.answering is not False for s in statuses)
    version = f" Kafka Connect {info.connect_version}" if info.connect_version else ""
    state = "running" if healthy else "UNHEALTHY"
    print(f"Sandbox {state}: {info.mode},{version} started {info.started_at}")
    print(_broker_line(info))
    for st in statuses:
        proc = st.process
        where = proc.url if proc.role == "worker" else f"127.0.0.1:{proc.port}"
        if not st.alive:
            what = "not running"
        elif st.answering is False:
            what = "running, REST API not answering"
        else:
            what = "running"
        print(f"  {proc.name:<9} {where:<30} pid {proc.pid:<8} {what}  (log {_shown(Path(proc.log))})")
    if not healthy:
        print("Restart it with: kcplan sandbox down && kcplan sandbox up" + _dir_option(root))
        return exit_codes.UNHEALTHY
    print(f"export KCPLAN_CONNECT_URL={','.join(info.urls)}")
    return exit_codes.OK


def _broker_line(info: sandbox.SandboxInfo) -> str:
    """e.g. 'broker: Apache Kafka 4.3.1 (KRaft)'; the stand-in says that it is one, and why it runs."""
    kind = info.broker_kind or "tansu (stand-in broker, memory only)"
    note = info.extra.get("note") or ""
    if info.stand_in:
        return f"broker: {kind}: not Apache Kafka{f' ({note})' if note else ''}"
    return f"broker: {kind}"


def _shown(path: Path) -> str:
    """Relative to the current directory when below it: shorter, and what the user typed."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def _dir_option(root: Path) -> str:
    return "" if root.resolve() == Path.cwd().resolve() else f" -C {shlex.quote(str(root))}"
