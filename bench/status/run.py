"""Benchmark: `kcplan status` of 1,000 connectors on a REAL Kafka Connect, against the seed's approach.

What it does, in one run:
  1. creates 1,000 FileStreamSource connectors (a missing file: RUNNING, one task each) with plain
     PUTs, 16 at a time, and waits until the worker lists all of them with their status;
  2. times the whole `python -m kcplan status -e bench` process (interpreter start, imports,
     settings, state file, the REST read, rows, table output), --repeat times, as table and as JSON;
     counts its HTTP requests once through a counting proxy in front of the worker;
  3. measures, in the same run, the seed's approach: GET /connectors, then one
     GET /connectors/NAME/status per connector, 16 at a time (reading alone, in this process);
     and, for a like-for-like ratio, kcplan's read + rows + table in this process too;
  4. writes bench/status/results.md (machine, date, numbers, ratios) and deletes its connectors.

    python bench/status/run.py [--url http://127.0.0.1:8083] [--count 1000] [--repeat 7]

Without --url (or KCPLAN_TEST_CONNECT_URL) it starts a standalone sandbox (kcplan.sandbox) in a
tmp dir and stops it at the end. Target (issue 6): kcplan's whole status process under 1 s wall.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import requests
from requests.adapters import HTTPAdapter

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from kcplan.connect.client import ConnectClient  # noqa: E402
from kcplan.views import status_view, style  # noqa: E402
from tests.faultproxy import FaultProxy  # noqa: E402

ENV = "bench"
SRC = "org.apache.kafka.connect.file.FileStreamSourceConnector"
PREFIX = "bench-status-"
THREADS = 16
TARGET_S = 1.0


def name_of(i: int) -> str:
    return f"{PREFIX}{i:04d}"


def session(pool: int = THREADS) -> requests.Session:
    s = requests.Session()
    s.mount("http://", HTTPAdapter(pool_connections=4, pool_maxsize=pool))
    return s


def parallel(fn: Callable[[int], Any], items: list[int], workers: int = THREADS) -> list[Any]:
    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(fn, items))


def create_all(url: str, count: int) -> None:
    http = session()

    def put(i: int) -> None:
        name = name_of(i)
        config = {"connector.class": SRC, "file": f"/tmp/kcplan-bench-status/{name}.txt",
                  "topic": f"{name}-topic", "tasks.max": "1"}
        http.put(f"{url}/connectors/{name}/config", json=config, timeout=120).raise_for_status()

    parallel(put, list(range(count)))


def delete_ours(url: str) -> None:
    http = session()
    names = [n for n in http.get(f"{url}/connectors", timeout=120).json() if n.startswith(PREFIX)]
    parallel(lambda i: http.delete(f"{url}/connectors/{names[i]}", timeout=120), list(range(len(names))))


def wait_running(url: str, count: int, deadline_s: float = 600) -> None:
    """Until every connector is listed with its status and a RUNNING task."""
    deadline = time.monotonic() + deadline_s
    ready = 0
    while time.monotonic() < deadline:
        body = requests.get(f"{url}/connectors?expand=status", timeout=120).json()
        ready = sum(1 for n, e in body.items() if n.startswith(PREFIX) and (e.get("status") or {}).get("tasks")
                    and e["status"]["tasks"][0]["state"] == "RUNNING")
        if ready >= count:
            return
        time.sleep(1)
    raise SystemExit(f"only {ready} of {count} connectors RUNNING after {deadline_s:.0f} s")


def kcplan(project: Path, *args: str) -> tuple[float, subprocess.CompletedProcess[str]]:
    env = {k: v for k, v in os.environ.items() if k not in ("KCPLAN_CONNECT_URL", "KCPLAN_ENV")}
    began = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "kcplan", "-C", str(project), *args], capture_output=True,
                            text=True, env=env, timeout=600)
    return time.perf_counter() - began, result


def timed_status(project: Path, repeat: int, *args: str) -> tuple[list[float], str]:
    times, out = [], ""
    for _ in range(repeat):
        seconds, result = kcplan(project, "status", "-e", ENV, *args)
        if result.returncode != 0:
            raise SystemExit(f"status exited {result.returncode}:\n{result.stderr[-2000:]}")
        times.append(seconds)
        out = result.stdout
    return times, out


def seed_approach(url: str) -> tuple[float, int]:
    """The seed script's way: GET /connectors, then GET .../status of each, THREADS at a time."""
    http = session()
    count = 0
    began = time.perf_counter()
    names = http.get(f"{url}/connectors", timeout=120).json()
    count += 1

    def status(i: int) -> dict[str, Any]:
        reply = http.get(f"{url}/connectors/{names[i]}/status", timeout=120)
        reply.raise_for_status()
        return dict(reply.json())

    statuses = parallel(status, list(range(len(names))))
    count += len(statuses)
    return time.perf_counter() - began, count


def kcplan_in_process(url: str) -> tuple[float, int]:
    """kcplan's read + rows + table, in this process (no interpreter start, no imports)."""
    began = time.perf_counter()
    client = ConnectClient([url])
    live = client.list_connectors()
    rows = [status_view.build_row(ENV, c, False) for _, c in sorted(live.items())]
    status_view.render_table(rows, multi_env=False, traces=False)
    seconds = time.perf_counter() - began
    client.close()
    return seconds, client.request_count


def python_start(repeat: int) -> list[float]:
    times = []
    for _ in range(repeat):
        began = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        times.append(time.perf_counter() - began)
    return times


def machine(url: str) -> list[str]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    info = ConnectClient([url]).server_info()
    return [
        f"- uname: `{' '.join(platform.uname())}`",
        f"- CPU: {cpu}, {os.cpu_count()} cores",
        f"- Python {platform.python_version()}",
        f"- Kafka Connect {info.version} (standalone sandbox, tansu broker) on the same machine",
    ]


def fmt(times: list[float]) -> str:
    return f"{statistics.median(times):.3f} s (min {min(times):.3f}, max {max(times):.3f}, n={len(times)})"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default=os.environ.get("KCPLAN_TEST_CONNECT_URL", ""))
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--out", type=Path, default=Path(__file__).with_name("results.md"))
    opts = parser.parse_args()
    style.configure(no_color=True)

    work = Path(tempfile.mkdtemp(prefix="kcplan-bench-status-"))
    sandbox_root = None
    url = opts.url.rstrip("/")
    try:
        if not url:
            from kcplan.sandbox import start_sandbox

            sandbox_root = work / "sandbox"
            print("starting a standalone sandbox ...", flush=True)
            url = start_sandbox(sandbox_root, mode="standalone", timeout=300).url
        delete_ours(url)
        n = opts.count
        print(f"creating {n} connectors on {url} ...", flush=True)
        began = time.perf_counter()
        create_all(url, n)
        wait_running(url, n)
        create_s = time.perf_counter() - began
        live_total = len(requests.get(f"{url}/connectors", timeout=120).json())
        if live_total != n:
            print(f"note: the worker holds {live_total} connectors ({live_total - n} not made by this bench)")

        project = work / "project"
        (project / "environments" / ENV).mkdir(parents=True)
        settings = project / "environments" / ENV / "kcplan.jsonnet"
        settings.write_text(f"{{ connect_url: '{url}' }}\n")

        print("timing kcplan status ...", flush=True)
        kcplan(project, "status", "-e", ENV)  # warm the page cache once, not timed
        table_times, table_out = timed_status(project, opts.repeat)
        assert table_out.splitlines()[-1].startswith(f"{live_total} connectors"), table_out[-300:]
        json_times, json_out = timed_status(project, opts.repeat, "--format", "json")
        assert json.loads(json_out)["totals"]["connectors"] == live_total

        with FaultProxy(url) as proxy:  # forwards everything; records every request
            settings.write_text(f"{{ connect_url: '{proxy.url}' }}\n")
            _, counted = kcplan(project, "status", "-e", ENV)
            assert counted.returncode == 0, counted.stderr[-2000:]
            seen = [f"{r.method} {r.path}" for r in proxy.seen]
            settings.write_text(f"{{ connect_url: '{url}' }}\n")
        status_requests = len(seen)

        print("timing the seed's approach ...", flush=True)
        seed = [seed_approach(url) for _ in range(opts.repeat)]
        seed_times, seed_requests = [s for s, _ in seed], seed[0][1]
        inproc = [kcplan_in_process(url) for _ in range(opts.repeat)]
        inproc_times, inproc_requests = [s for s, _ in inproc], inproc[0][1]
        start_times = python_start(opts.repeat)

        kc, sd, ip = (statistics.median(t) for t in (table_times, seed_times, inproc_times))
        target_ok = kc < TARGET_S
        date = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
        lines = [
            f"# `kcplan status` of {n:,} connectors (issue 6)",
            "",
            f"Run: {date}, `python bench/status/run.py --count {n} --repeat {opts.repeat}`.",
            "",
            "## Machine", "", *machine(url), "",
            "## Setup", "",
            f"- {n} FileStreamSource connectors (missing file: RUNNING, 1 task each) made with PUTs, "
            f"{THREADS} at a time; {live_total} connectors on the worker in all.",
            "- kcplan: wall time of the whole `python -m kcplan status -e bench` process (interpreter start,",
            "  imports, settings, state file, REST read, rows, output), median of the runs.",
            f"- Seed's approach: `GET /connectors`, then `GET /connectors/NAME/status` per connector, {THREADS}",
            "  threads on one pooled session; reading alone, in the bench's process (no interpreter start).",
            "",
            "## Results", "",
            "| what | HTTP requests | wall time, median |",
            "|---|---:|---|",
            f"| `kcplan status` (table), whole process | {status_requests} | {fmt(table_times)} |",
            f"| `kcplan status --format json`, whole process | {status_requests} | {fmt(json_times)} |",
            f"| kcplan read + rows + table, in-process | {inproc_requests} | {fmt(inproc_times)} |",
            f"| seed's approach: list + 1 status request per connector, {THREADS} threads, in-process "
            f"| {seed_requests} | {fmt(seed_times)} |",
            f"| (for reference) `python -c pass` | 0 | {fmt(start_times)} |",
            "",
            f"- Requests seen by the counting proxy for one `kcplan status`: {', '.join(seen)}.",
            f"- Target (whole `status` process under {TARGET_S:g} s wall for {n:,} connectors): "
            f"{'met' if target_ok else 'NOT met'} ({kc:.3f} s).",
            f"- kcplan's whole process vs the seed's reading alone: {sd / kc:.1f}x faster "
            f"({status_requests} vs {seed_requests} requests).",
            f"- In-process vs in-process: {sd / ip:.1f}x faster.",
            f"- Setup (not measured against the target): {n} PUTs + waiting for every task RUNNING: {create_s:.1f} s.",
            "",
        ]
        opts.out.write_text("\n".join(lines))
        print("\n".join(lines))
        return 0 if target_ok else 1
    finally:
        if url:
            try:
                delete_ours(url)
            except requests.RequestException:
                pass
        if sandbox_root is not None:
            from kcplan.sandbox import stop_sandbox

            stop_sandbox(sandbox_root)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
