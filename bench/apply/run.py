"""Benchmark: apply N new connectors on a REAL 2-worker distributed Connect and have them RUNNING.

In one run, on one cluster (each variant starts from a cluster without the previous variant's
connectors, deleted and settled in between, and uses fresh names):
  (a) a plain script's approach: PUT /connectors/NAME/config for each connector, one after the other,
      no verification; then poll GET /connectors?expand=status until every one is RUNNING with at
      least one task and all tasks RUNNING. A PUT answered 409/500 "rebalance" is repeated after 1 s
      (a plain script would stop there; counted and reported);
  (b) kcplan: `kcplan plan -e bench --out plan.out` (timed on its own), then the whole
      `python -m kcplan apply plan.out --parallelism P` process, health verification included
      (it exits 0 only when every connector was verified healthy), for each P of --parallelism;
  (c) the floor for any client: all N PUTs at once, no state, no verification, then the same polling.
The workers' logs give what the cluster did in each variant (rebalances, task configs forwarded by a
follower to the leader): on Connect every task-config write causes a rebalance, and a follower forwards
its connectors' task configs one at a time, so the cluster, not the client, sets the floor (c).
Writes bench/apply/results.md (machine, date, wall times, ratio vs (a), the recommended default).

    python bench/apply/run.py [--count 50] [--parallelism 8,16,32,64] [--urls URL1,URL2] [--skip-seed]

Without --urls it starts its own distributed sandbox (kcplan.sandbox, 2 workers and the broker it
runs, named in the results' machine lines) in a tmp dir and stops it at the end. Slow (minutes per
variant): run it in the background, e.g. `nohup python bench/apply/run.py > /tmp/bench-apply.log 2>&1 &`.
Target (issue 5): kcplan at least 6x faster than (a), verification included.
"""

from __future__ import annotations

import argparse
import datetime
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from bench._common import machine_lines  # noqa: E402
from kcplan import sandbox  # noqa: E402
from kcplan.connect.client import ConnectClient  # noqa: E402

ENV = "bench"
SRC = "org.apache.kafka.connect.file.FileStreamSourceConnector"
INPUTS = Path("/tmp/kcplan-bench-apply")
TARGET = 6.0
T0 = time.monotonic()


def log(message: str) -> None:
    print(f"[{time.monotonic() - T0:7.1f}s] {message}", flush=True)


def config_of(name: str) -> dict[str, str]:
    return {"connector.class": SRC, "file": str(INPUTS / f"{name}.txt"), "topic": f"{name}-topic",
            "tasks.max": "1"}


def names_of(prefix: str, count: int) -> list[str]:
    return [f"{prefix}-{i:03d}" for i in range(count)]


def is_rebalance(reply: requests.Response) -> bool:
    return reply.status_code == 409 or (reply.status_code == 500 and "rebalance" in reply.text.lower())


def all_running(url: str, names: list[str]) -> tuple[bool, int]:
    body = requests.get(f"{url}/connectors?expand=status", timeout=120).json()
    ready = 0
    for name in names:
        status = (body.get(name) or {}).get("status") or {}
        tasks = status.get("tasks") or []
        if ((status.get("connector") or {}).get("state") == "RUNNING" and tasks
                and all(t.get("state") == "RUNNING" for t in tasks)):
            ready += 1
    return ready == len(names), ready


@dataclass
class SeedResult:
    seconds: float
    puts_seconds: float
    retries: int


def put_until_accepted(http: Any, url: str, name: str, variant: str) -> int:
    """PUT the connector's config, repeating rebalance answers after 1 s; how many were repeated."""
    retries = 0
    while True:
        reply = http.put(f"{url}/connectors/{name}/config", json=config_of(name), timeout=300)
        if reply.status_code < 300:
            return retries
        if not is_rebalance(reply):
            raise SystemExit(f"{variant}: PUT {name} -> {reply.status_code} {reply.text[:300]}")
        retries += 1
        time.sleep(1)


def wait_all_running(url: str, names: list[str]) -> None:
    while not all_running(url, names)[0]:
        time.sleep(1)


def seed(url: str, names: list[str]) -> SeedResult:
    """Sequential PUTs, no verification; then poll until every connector RUNNING."""
    session = requests.Session()
    retries = 0
    began = time.monotonic()
    for i, name in enumerate(names):
        retries += put_until_accepted(session, url, name, "plain script")
        if i % 10 == 9:
            log(f"plain script: {i + 1} PUTs done")
    puts = time.monotonic() - began
    wait_all_running(url, names)
    return SeedResult(time.monotonic() - began, puts, retries)


def all_at_once(url: str, names: list[str]) -> SeedResult:
    """(c) the floor for ANY client on this cluster: every PUT at the same time (one thread per connector,
    rebalance answers repeated after 1 s), no state, no verification; then poll until every one is RUNNING."""
    began = time.monotonic()
    retries = sum(parallel_map(lambda name: put_until_accepted(requests, url, name, "all-at-once"), names,
                               workers=len(names)))
    puts = time.monotonic() - began
    wait_all_running(url, names)
    return SeedResult(time.monotonic() - began, puts, retries)


class WorkerLogs:
    """Counts, in the sandbox workers' logs, what the cluster did during one variant: rebalances started and
    task configs that a follower forwarded to the leader (`POST /connectors/NAME/tasks`, one at a time)."""

    PATTERNS = {"rebalances": re.compile(r"Rebalance started"),
                "forwarded task configs": re.compile(r'"POST /connectors/[^/ ]+/tasks ')}

    def __init__(self, folder: Path | None) -> None:
        self.files = sorted(folder.glob("worker-*.log")) if folder else []
        self.offsets = {f: 0 for f in self.files}

    def mark(self) -> None:
        self.offsets = {f: f.stat().st_size for f in self.files}

    def since_mark(self) -> dict[str, int]:
        """Counts since mark(); empty when the cluster is not this script's sandbox (no logs to read)."""
        if not self.files:
            return {}
        counts = dict.fromkeys(self.PATTERNS, 0)
        for f in self.files:
            with f.open("rb") as fh:
                fh.seek(self.offsets[f])
                text = fh.read().decode("utf-8", "replace")
            for key, pattern in self.PATTERNS.items():
                counts[key] += len(pattern.findall(text))
        return counts


@dataclass
class KcplanResult:
    parallelism: int
    seconds: float
    plan_seconds: float
    writes_seconds: float
    verify_seconds: float
    exit_code: int
    healthy: int
    output_tail: str = ""
    lines: list[str] = field(default_factory=list)


def make_project(project: Path, urls: list[str], names: list[str]) -> None:
    env = project / "environments" / ENV
    (env / "connectors").mkdir(parents=True)
    url_list = ", ".join(f"'{u}'" for u in urls)
    (env / "kcplan.jsonnet").write_text(f"{{ connect_url: [{url_list}], request_timeout: 150 }}\n")
    for name in names:
        (env / "connectors" / f"{name}.jsonnet").write_text(
            "{\n" + "".join(f"  '{k}': '{v}',\n" for k, v in {"name": name, **config_of(name)}.items()) + "}\n")


def kcplan_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in ("KCPLAN_CONNECT_URL", "KCPLAN_ENV")}


def run_kcplan(work: Path, urls: list[str], names: list[str], parallelism: int, verify_timeout: float,
               ) -> KcplanResult:
    project = work / f"project-p{parallelism}"
    make_project(project, urls, names)
    plan_file = project / "plan.out"
    began = time.monotonic()
    planned = subprocess.run([sys.executable, "-m", "kcplan", "-C", str(project), "plan", "-e", ENV,
                              "--out", str(plan_file)], capture_output=True, text=True, env=kcplan_env(),
                             timeout=600)
    plan_seconds = time.monotonic() - began
    if not plan_file.exists():
        raise SystemExit(f"plan failed ({planned.returncode}):\n{planned.stdout[-2000:]}\n{planned.stderr[-2000:]}")
    cmd = [sys.executable, "-m", "kcplan", "-C", str(project), "--no-color", "apply", str(plan_file),
           "--parallelism", str(parallelism), "--verify-timeout", str(verify_timeout),
           "--verify-stable", "0"]  # comparable with earlier runs: the window adds its length (bench/stability)
    began = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=kcplan_env())
    stamped: list[tuple[float, str]] = []
    out_lines: list[str] = []

    def pump_err() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            stamped.append((time.monotonic() - began, line.rstrip("\n")))

    reader = threading.Thread(target=pump_err, daemon=True)
    reader.start()
    assert proc.stdout is not None
    out_lines = proc.stdout.read().splitlines()
    code = proc.wait(timeout=3600)
    seconds = time.monotonic() - began
    reader.join(timeout=10)
    verify_at = next((t for t, line in stamped if "Verifying the health" in line), seconds)
    healthy = sum(1 for line in out_lines if " healthy " in f" {line} " and line.split()[:1] and
                  line.split()[0] in names)
    tail = "\n".join(out_lines[-8:] + [line for _, line in stamped[-5:]])
    return KcplanResult(parallelism, seconds, plan_seconds, verify_at, seconds - verify_at, code, healthy, tail,
                        [f"{t:7.1f}s {line}" for t, line in stamped])


def delete_and_settle(url: str, names: list[str], quiet_s: float = 15.0, limit_s: float = 900.0) -> float:
    """Delete ``names`` (8 at a time, retrying rebalances), then wait until none is listed and no status
    on the cluster changed for ``quiet_s`` seconds."""
    began = time.monotonic()
    session = requests.Session()

    def delete(name: str) -> None:
        for _ in range(120):
            reply = session.delete(f"{url}/connectors/{name}", timeout=300)
            if reply.status_code < 300 or reply.status_code == 404:
                return
            time.sleep(1)
        raise SystemExit(f"could not delete {name}: {reply.status_code} {reply.text[:200]}")

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(delete, names))
    client = ConnectClient([url])
    last: Any = None
    quiet_from = time.monotonic()
    while time.monotonic() - began < limit_s:
        statuses = client.statuses()
        picture = {n: (s.state, tuple((t.id, t.state, t.worker_id) for t in s.tasks)) for n, s in statuses.items()}
        if picture != last:
            last, quiet_from = picture, time.monotonic()
        if not set(names) & set(statuses) and time.monotonic() - quiet_from >= quiet_s:
            break
        time.sleep(1)
    return time.monotonic() - began


def machine(urls: list[str], broker: str | None) -> list[str]:
    """``broker``: the sandbox's broker_kind; None for an existing cluster (--urls)."""
    version = ConnectClient([urls[0]]).server_info().version
    if broker is None:
        return machine_lines(f"Kafka Connect {version}, distributed, {len(urls)} workers (an existing cluster, "
                             "--urls); broker unknown (external)")
    return machine_lines(f"Kafka Connect {version}, distributed, {len(urls)} workers, broker {broker}, "
                         "all on this machine")


def parallel_map(fn: Callable[[str], Any], items: list[str], workers: int = 16) -> list[Any]:
    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(fn, items))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=50)
    parser.add_argument("--parallelism", default="8,16,32,64")
    parser.add_argument("--urls", default="", help="worker URLs of an existing distributed cluster")
    parser.add_argument("--skip-seed", action="store_true",
                        help="(for trying the script) no plain-script variant (a)")
    parser.add_argument("--verify-timeout", type=float, default=600.0)
    parser.add_argument("--out", type=Path, default=Path(__file__).with_name("results.md"))
    opts = parser.parse_args()
    levels = [int(p) for p in opts.parallelism.split(",") if p.strip()]
    work = Path(tempfile.mkdtemp(prefix="kcplan-bench-apply-"))
    INPUTS.mkdir(exist_ok=True)
    sandbox_root = None
    urls = [u.strip().rstrip("/") for u in opts.urls.split(",") if u.strip()]
    broker: str | None = None
    started = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    try:
        if not urls:
            sandbox_root = work / "sandbox"
            log("starting a distributed sandbox (2 workers) ...")
            info = sandbox.start_sandbox(sandbox_root, mode="distributed", workers=2, timeout=300,
                                         stop_with_parent=True)
            urls, broker = list(info.urls), info.broker_kind
        url = urls[0]
        log(f"cluster: {', '.join(urls)}")
        about = machine(urls, broker)
        logs = WorkerLogs(sandbox.sandbox_dir(sandbox_root) if sandbox_root else None)
        n = opts.count
        run_tag = datetime.datetime.now(datetime.UTC).strftime("%H%M%S")
        rows: list[Row] = []
        settle_times: list[float] = []

        def fresh(prefix: str) -> list[str]:
            names = names_of(f"{prefix}{run_tag}", n)
            for name in names:
                (INPUTS / f"{name}.txt").touch()
            logs.mark()
            return names

        def settle(names: list[str]) -> None:
            settle_times.append(delete_and_settle(url, names))
            log(f"deleted and settled in {settle_times[-1]:.1f} s")

        if not opts.skip_seed:
            names = fresh("bseed")
            log(f"(a) plain script: {n} sequential PUTs, then wait until all RUNNING ...")
            result = seed(url, names)
            rows.append(Row("(a) plain script: sequential PUTs, then wait for RUNNING", result.seconds,
                            result.puts_seconds, None, None, None, result.retries, logs.since_mark()))
            log(f"(a) plain script: {result.seconds:.1f} s (PUTs {result.puts_seconds:.1f} s, "
                f"{result.retries} retries)")
            settle(names)
        names = fresh("ball")
        log(f"(c) any client's floor: {n} PUTs at once, then wait until all RUNNING ...")
        result = all_at_once(url, names)
        rows.append(Row(f"(c) floor for any client: {n} PUTs at once, then wait for RUNNING", result.seconds,
                        result.puts_seconds, None, None, None, result.retries, logs.since_mark()))
        log(f"(c) all at once: {result.seconds:.1f} s (PUTs {result.puts_seconds:.1f} s)")
        settle(names)
        plans: list[str] = []
        for p in levels:
            names = fresh(f"bkc{p}x")
            log(f"(b) kcplan apply --parallelism {p} ...")
            kc = run_kcplan(work, urls, names, p, opts.verify_timeout)
            rows.append(Row(f"(b) kcplan apply --parallelism {p}", kc.seconds, kc.writes_seconds, kc.verify_seconds,
                            kc.exit_code, kc.healthy, None, logs.since_mark()))
            plans.append(f"{kc.plan_seconds:.1f} s (P={p})")
            log(f"(b) p={p}: {kc.seconds:.1f} s (writes {kc.writes_seconds:.1f} s, verification "
                f"{kc.verify_seconds:.1f} s), exit {kc.exit_code}, {kc.healthy} healthy; plan {kc.plan_seconds:.1f} s")
            if kc.exit_code != 0:
                log("apply output:\n" + kc.output_tail)
            (work / f"apply-p{p}.log").write_text("\n".join(kc.lines) + "\n")
            settle(names)
        write_results(opts, started, about, n, rows, plans, settle_times)
        log(f"wrote {opts.out}")
    finally:
        if sandbox_root is not None:
            sandbox.stop_sandbox(sandbox_root)
            log("sandbox stopped")
    return 0


def why_the_floor(rows: list[Row], n: int) -> list[str]:
    """The explanation of the floor, with this run's numbers (from variant (c) and the worker logs)."""
    floor = next((r for r in rows if r.variant.startswith("(c)")), None)
    forwarded = floor.cluster.get("forwarded task configs") if floor and floor.cluster else None
    if floor is None or not forwarded:
        return []
    wait = floor.seconds - floor.writes_seconds
    return [
        "",
        "## Why no client gets below the floor",
        "",
        f"In (c) the {n} PUTs took {floor.writes_seconds:.0f} s, and then the cluster needed "
        f"{wait:.0f} s more: {forwarded} of the connectors ran on the follower worker, which forwards their",
        "task configs to the leader one at a time (`POST /connectors/NAME/tasks`, single-threaded in Connect's",
        "DistributedHerder), and every task-config write makes the leader rebalance before it takes the next",
        f"one: {wait / forwarded:.1f} s per forwarded task config in (c). Per variant: " + "; ".join(
            f"{r.variant.split(':')[0]}: {r.cluster.get('forwarded task configs', '-')} forwarded, "
            f"{r.seconds - r.writes_seconds:.0f} s after the writes" for r in rows if r.cluster) + ".",
        "A client can only shorten the writes; kcplan's",
        "remaining distance to the floor is its extra work (state saved after every step, freshness checks,",
        "verification polling) and the writes it keeps bounded by --parallelism.",
    ]


@dataclass
class Row:
    variant: str
    seconds: float
    writes_seconds: float
    verify_seconds: float | None
    exit_code: int | None
    healthy: int | None
    retries: int | None
    cluster: dict[str, int]


def write_results(opts: argparse.Namespace, started: str, about: list[str], n: int, rows: list[Row],
                  plans: list[str], settle_times: list[float]) -> None:
    lines = [
        f"# `kcplan apply` of {n} new connectors on a real distributed cluster (issue 5)",
        "",
        f"Run: {started}, `python bench/apply/run.py {' '.join(sys.argv[1:])}`.",
        "",
        "## Machine", "", *about, "",
        "## What is measured", "",
        f"{n} new FileStreamSource connectors (1 task each), applied and verified RUNNING, on the same cluster,",
        "one variant after the other; each variant uses fresh names and starts after the previous variant's",
        "connectors were deleted and the cluster's statuses stayed unchanged for 15 s.",
        "",
        "- (a) a plain script's approach: `PUT /connectors/NAME/config` one after the other, no verification, then",
        "  `GET /connectors?expand=status` every second until all are RUNNING with every task RUNNING.",
        "- (c) the floor for any client: all PUTs at the same time (one thread each), no state, no verification,",
        "  then the same polling. Nothing a client does can make the cluster faster than this.",
        "- (b) kcplan: wall time of the whole `python -m kcplan apply plan.out --parallelism P` process",
        "  (interpreter start, freshness checks, concurrent writes, state saved after every action, health",
        "  verification until every connector is verified healthy). `kcplan plan --out` is timed apart.",
        "- cluster: counted in the workers' logs during the variant: rebalances started (both workers), and",
        "  task configs a follower forwarded to the leader (`POST /connectors/NAME/tasks`).",
        "",
        "## Results", "",
        "| variant | wall time | writes | verification | ratio vs (a) | vs (c) | exit | healthy | rebalances |"
        " forwarded task configs |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    base = next((r.seconds for r in rows if r.variant.startswith("(a)")), None)
    floor = next((r.seconds for r in rows if r.variant.startswith("(c)")), None)
    for r in rows:
        ratio = f"{base / r.seconds:.1f}x" if base else "-"
        vs_floor = f"{r.seconds / floor:.2f}" if floor else "-"
        verify = f"{r.verify_seconds:.1f} s" if r.verify_seconds is not None else \
            f"(wait {r.seconds - r.writes_seconds:.1f} s)"
        lines.append(f"| {r.variant} | {r.seconds:.1f} s | {r.writes_seconds:.1f} s | {verify} | {ratio} | {vs_floor} |"
                     f" {'-' if r.exit_code is None else r.exit_code} | "
                     f"{'-' if r.healthy is None else f'{r.healthy}/{n}'} | "
                     f"{r.cluster.get('rebalances', '-') if r.cluster else '-'} | "
                     f"{r.cluster.get('forwarded task configs', '-') if r.cluster else '-'} |")
    lines.append("")
    for r in rows:
        if r.retries:
            lines.append(f"- {r.variant.split(':')[0]}: {r.retries} rebalance answers (409/500), each repeated "
                         "after 1 s.")
    if plans:
        lines.append("- `kcplan plan --out` (not included above): " + ", ".join(plans) + ".")
    ok = [r for r in rows if r.variant.startswith("(b)") and r.exit_code == 0]
    if ok:
        best = min(ok, key=lambda r: r.seconds)
        lines.append(f"- Fastest kcplan: {best.variant[4:]} ({best.seconds:.1f} s"
                     + (f", {base / best.seconds:.1f}x the plain script's approach" if base else "")
                     + (f", {best.seconds / floor:.2f}x the floor (c)" if floor else "") + ").")
        if base:
            met = base / best.seconds >= TARGET
            lines.append(f"- Target (at least {TARGET:g}x faster than (a), verification included): "
                         f"{'met' if met else 'NOT met'}.")
            if floor:
                lines.append(f"- Best ratio any client can reach on this cluster ((a) / (c)): {base / floor:.1f}x.")
    lines.append("- Deleting a variant's connectors and letting the cluster settle took "
                 + ", ".join(f"{s:.0f} s" for s in settle_times) + " (not measured against anything).")
    lines += why_the_floor(rows, n)
    lines.append("")
    opts.out.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    sys.exit(main())
