"""Benchmark: `kcplan status` of 1,000 connectors on a REAL Kafka Connect, against a plain script's approach.

What it does, in one run:
  1. creates 1,000 FileStreamSource connectors (a missing file: RUNNING, one task each) with plain
     PUTs, 16 at a time, and waits until the worker lists all of them with their status;
  2. times the whole `python -m kcplan status -e bench` process (interpreter start, imports,
     settings, state file, the REST read, rows, table output), --repeat times, as table and as JSON;
     counts its HTTP requests once through a counting proxy in front of the worker;
  3. measures, in the same run, a plain script's approach: GET /connectors, then one
     GET /connectors/NAME/status per connector, 16 at a time (reading alone, in this process);
     and, for a like-for-like ratio, kcplan's read + rows + table in this process too;
  4. writes bench/status/results.md (machine, date, numbers, ratios) and deletes its connectors.

    python bench/status/run.py [--url http://127.0.0.1:8083] [--count 1000] [--repeat 11]
                               [--worker-heaps 512m,2g]

Without --url (or KCPLAN_TEST_CONNECT_URL) it starts a standalone sandbox (kcplan.sandbox) in a
tmp dir for each worker heap size in turn (1,000 running tasks fill a 512m heap, and the worker then
spends its time in full GCs; the sandbox's default is now 2g) and stops it at the end.
Target (issue 6): kcplan's whole status process under 1 s wall.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
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

from bench._common import machine_lines  # noqa: E402
from kcplan.commands.status import read_statuses  # noqa: E402
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
    """A plain script's way: GET /connectors, then GET .../status of each, THREADS at a time."""
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
    live = read_statuses(client)
    rows = [status_view.build_row(ENV, c, False) for _, c in sorted(live.items())]
    status_view.render_table(rows, multi_env=False, traces=False)
    seconds = time.perf_counter() - began
    client.close()
    return seconds, client.request_count


def process_times(repeat: int, *argv: str) -> list[float]:
    """Wall times of a bare process (interpreter start, and kcplan's imports with --version)."""
    times = []
    for _ in range(repeat):
        began = time.perf_counter()
        subprocess.run([sys.executable, *argv], check=True, capture_output=True)
        times.append(time.perf_counter() - began)
    return times


def raw_request(url: str, query: str, repeat: int) -> tuple[list[float], int]:
    """One GET /connectors<query> as a bare request: the worker's share of the time, and the bytes."""
    http = session()
    times, size = [], 0
    for _ in range(repeat):
        began = time.perf_counter()
        reply = http.get(f"{url}/connectors{query}", timeout=120)
        reply.raise_for_status()
        times.append(time.perf_counter() - began)
        size = len(reply.content)
    return times, size


def machine(url: str, broker: str | None) -> list[str]:
    """``broker``: the sandbox's broker_kind; None for an existing worker (--url)."""
    version = ConnectClient([url]).server_info().version
    if broker is None:
        return machine_lines(f"Kafka Connect {version} (an existing worker, --url); broker unknown (external)")
    return machine_lines(f"Kafka Connect {version} (standalone sandbox, broker {broker}) on the same machine")


def fmt(times: list[float]) -> str:
    return f"{statistics.median(times):.3f} s (min {min(times):.3f}, max {max(times):.3f}, n={len(times)})"


def measure(url: str, n: int, repeat: int, work: Path, cleanup: bool, broker: str | None = None) -> dict[str, Any]:
    """Everything for one worker: create the connectors, time kcplan and the plain script, delete them
    (``cleanup``; a sandbox that is stopped next is left as it is: 1,000 deletes take minutes)."""
    delete_ours(url)
    print(f"creating {n} connectors on {url} ...", flush=True)
    began = time.perf_counter()
    create_all(url, n)
    wait_running(url, n)
    create_s = time.perf_counter() - began
    live_total = len(requests.get(f"{url}/connectors", timeout=120).json())

    project = work / "project"
    shutil.rmtree(project, ignore_errors=True)
    (project / "environments" / ENV).mkdir(parents=True)
    settings = project / "environments" / ENV / "kcplan.jsonnet"
    settings.write_text(f"{{ connect_url: '{url}' }}\n")

    print("timing kcplan status ...", flush=True)
    kcplan(project, "status", "-e", ENV)  # warm the page cache once, not timed
    table_times, table_out = timed_status(project, repeat)
    assert table_out.splitlines()[-1].startswith(f"{live_total} connectors"), table_out[-300:]
    json_times, json_out = timed_status(project, repeat, "--format", "json")
    assert json.loads(json_out)["totals"]["connectors"] == live_total

    with FaultProxy(url) as proxy:  # forwards everything; records every request
        settings.write_text(f"{{ connect_url: '{proxy.url}' }}\n")
        _, counted = kcplan(project, "status", "-e", ENV)
        assert counted.returncode == 0, counted.stderr[-2000:]
        seen = [f"{r.method} {r.path}" for r in proxy.seen]
        settings.write_text(f"{{ connect_url: '{url}' }}\n")

    print("timing the plain script's approach ...", flush=True)
    seed = [seed_approach(url) for _ in range(repeat)]
    inproc = [kcplan_in_process(url) for _ in range(repeat)]
    result = {
        "n": n, "live_total": live_total, "create_s": create_s, "table": table_times, "json": json_times,
        "seen": seen, "seed": [s for s, _ in seed], "seed_requests": seed[0][1],
        "inproc": [s for s, _ in inproc], "inproc_requests": inproc[0][1],
        "raw_status": raw_request(url, "?expand=status", repeat),
        "raw_both": raw_request(url, "?expand=status&expand=info", repeat),
        "start": process_times(repeat, "-c", "pass"),
        "imports": process_times(repeat, "-m", "kcplan", "--version"),
        "machine": machine(url, broker),
    }
    if cleanup:
        delete_ours(url)
    return result


def section(title: str, r: dict[str, Any]) -> list[str]:
    kc, sd, ip = (statistics.median(r[k]) for k in ("table", "seed", "inproc"))
    (raw_s, size_s), (raw_b, size_b) = r["raw_status"], r["raw_both"]
    return [
        f"### {title}", "",
        "| what | HTTP requests | wall time, median |",
        "|---|---:|---|",
        f"| `kcplan status` (table), whole process | {len(r['seen'])} | {fmt(r['table'])} |",
        f"| `kcplan status --format json`, whole process | {len(r['seen'])} | {fmt(r['json'])} |",
        f"| kcplan read + rows + table, in-process | {r['inproc_requests']} | {fmt(r['inproc'])} |",
        f"| plain script's approach: list + 1 status request per connector, {THREADS} threads, in-process "
        f"| {r['seed_requests']} | {fmt(r['seed'])} |",
        f"| (for reference) `python -c pass` | 0 | {fmt(r['start'])} |",
        f"| (for reference) `python -m kcplan --version`: interpreter + every kcplan import | 0 "
        f"| {fmt(r['imports'])} |",
        f"| bare `GET /connectors?expand=status` ({size_s / 1024:.0f} KiB) | 1 | {fmt(raw_s)} |",
        f"| bare `GET /connectors?expand=status&expand=info` ({size_b / 1024:.0f} KiB) | 1 | {fmt(raw_b)} |",
        "",
        f"- Requests the counting proxy saw for one `kcplan status`: {', '.join(r['seen'])}.",
        f"- Target (whole `status` process under {TARGET_S:g} s wall): "
        f"{'met' if kc < TARGET_S else 'NOT met'} ({kc:.3f} s).",
        f"- kcplan's whole process vs the plain script's reading alone (in-process, no interpreter start): "
        f"{sd / kc:.1f}x faster; in-process vs in-process: {sd / ip:.1f}x faster.",
        f"- Setup, not measured: {r['n']} PUTs + waiting for every task RUNNING: {r['create_s']:.1f} s; "
        f"{r['live_total']} connectors on the worker in all.",
        "",
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default=os.environ.get("KCPLAN_TEST_CONNECT_URL", ""))
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=11)
    parser.add_argument("--worker-heaps", default="512m,2g",
                        help="sandbox worker heap sizes (-Xmx) to measure with, in turn (ignored with --url)")
    parser.add_argument("--out", type=Path, default=Path(__file__).with_name("results.md"))
    opts = parser.parse_args()
    style.configure(no_color=True)
    Path("/tmp/kcplan-bench-status").mkdir(exist_ok=True)

    work = Path(tempfile.mkdtemp(prefix="kcplan-bench-status-"))
    results: list[tuple[str, dict[str, Any]]] = []
    try:
        if opts.url:
            results.append((f"worker at {opts.url}", measure(opts.url.rstrip("/"), opts.count, opts.repeat, work,
                                                                  cleanup=True)))
        else:
            from kcplan import sandbox

            for heap in [h.strip() for h in opts.worker_heaps.split(",") if h.strip()]:
                root = work / f"sandbox-{heap}"
                print(f"starting a standalone sandbox with -Xmx{heap} ...", flush=True)
                try:
                    info = sandbox.start_sandbox(root, mode="standalone", timeout=300, stop_with_parent=True,
                                                 worker_heap=heap)
                    results.append((f"standalone worker, -Xmx{heap}", measure(info.url, opts.count, opts.repeat,
                                                                                     work, cleanup=False,
                                                                                     broker=info.broker_kind)))
                finally:
                    sandbox.stop_sandbox(root)
        n = opts.count
        date = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
        lines = [
            f"# `kcplan status` of {n:,} connectors (issue 6)",
            "",
            f"Run: {date}, `python bench/status/run.py --count {n} --repeat {opts.repeat}"
            + (f" --url {opts.url}`." if opts.url else f" --worker-heaps {opts.worker_heaps}`."),
            "",
            "## Machine", "", *results[0][1]["machine"], "",
            "## Setup", "",
            f"- {n} FileStreamSource connectors (missing file: RUNNING, 1 task each) made with PUTs, "
            f"{THREADS} at a time.",
            "- kcplan: wall time of the whole `python -m kcplan status -e bench` process (interpreter start,",
            "  imports, settings, state file, REST read, rows, output); median of the runs.",
            "- Plain script's approach: `GET /connectors`, then `GET /connectors/NAME/status` per connector,",
            f"  {THREADS} threads on one pooled session; reading alone, in the bench's process (no interpreter start).",
            "",
            "## Results", "",
        ]
        for title, r in results:
            lines += section(title, r)
        lines += [
            "## Notes", "",
            "- `kcplan status` asks for `expand=status` only: the report needs no configs. The bare-request rows",
            "  show why: `expand=info` costs the worker 40-50x more than `expand=status` (2 GB heap), and",
            "  with 1,000 running tasks in a 512 MB heap (the sandbox's default until issue 4 raised it to 2 GB)",
            "  the worker's old generation is full and every such request runs into several full GCs (jstat).",
            "  Runs of this bench on 2026-11-22 with `expand=status&expand=info` (the issue's first wording)",
            "  took 2.4-3.0 s (512m) and 1.0 s (2g) for the whole process: the worker's share, not kcplan's.",
            "- Most of kcplan's own time is the interpreter and its imports (the `--version` row): the CLI",
            "  imports every command module to build its parser.",
            "- The plain script's approach is measured without an interpreter start and still loses: 1,001 round trips",
            "  through a worker whose 1,000 tasks compete for the same 2 cores.",
            "",
        ]
        opts.out.write_text("\n".join(lines))
        print("\n".join(lines))
        return 0 if all(statistics.median(r["table"]) < TARGET_S for _, r in results) else 1
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
