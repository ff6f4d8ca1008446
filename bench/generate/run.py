"""Benchmark: `kcplan import -e ENV --generate --defaults --all` of 1,000 live connectors on a REAL Kafka Connect.

What it does, in one run:
  1. starts a standalone sandbox (kcplan.sandbox) in a tmp dir (or uses --url, whose worker must hold no
     connectors but this bench's) and creates --connectors live connectors with POST /connectors, 16 at a
     time, of three classes (FileStreamSource, FileStreamSink, MirrorHeartbeat when the worker has it),
     with keys shared per class (so --defaults has something to factor out); most are created STOPPED
     ("initial_state", Connect 3.9+), a few PAUSED, a few RUNNING (1,000 running tasks would overload a
     2-core machine); every 100th source (at least 3 in all) has a `connection.password` (a secret);
  2. baseline, same run, same cluster, before any import: the whole `python -m kcplan plan -e bench`
     process with no connector files (everything unmanaged), --rounds times;
  3. times the whole `python -m kcplan import -e bench --generate --defaults --all` process, --rounds
     times; after each round `plan -e bench --detailed-exitcode` (the printed KCPLAN_SECRET_* variables
     set) must exit 0 (timed too); then the generated files, SECRETS.md, the libraries and the state file
     are deleted so the next round starts the same (the live connectors stay);
  4. one more plan and one more import + plan through a recording proxy (tests/faultproxy.py) in front of
     the worker: the requests by method and path pattern. Asserted: ONE GET /connectors?expand=... for
     the live configs, one GET /connector-plugins/CLASS/config per class, no request about a single
     connector, so the count does not grow with the connectors;
  5. appends a section (machine, date, numbers, ratio generate/plan) to bench/generate/results.md and
     stops the sandbox. Exit 1 when an assertion failed (the section says which).

    python bench/generate/run.py [--connectors 1000] [--rounds 3] [--url http://127.0.0.1:8083]
"""

from __future__ import annotations

import argparse
import datetime
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from bench._common import append_section, machine_lines  # noqa: E402
from kcplan.connect.client import ConnectClient  # noqa: E402
from tests.faultproxy import FaultProxy  # noqa: E402

ENV = "bench"
PREFIX = "bench-gen-"
SRC = "org.apache.kafka.connect.file.FileStreamSourceConnector"
SINK = "org.apache.kafka.connect.file.FileStreamSinkConnector"
HEARTBEAT = "org.apache.kafka.connect.mirror.MirrorHeartbeatConnector"
INPUTS = Path("/tmp/kcplan-bench-generate")
THREADS = 16
TITLE = "# `kcplan import --generate --defaults --all` of many live connectors"
MAX_REQUESTS = 12  # per import or plan process, whatever the number of connectors (asserted)


def log(message: str) -> None:
    print(message, flush=True)


# -- the live connectors -------------------------------------------------------------------------------

def name_of(i: int) -> str:
    return f"{PREFIX}{i:04d}"


def class_of(i: int, classes: list[str]) -> str:
    """About half sources, a third sinks, the rest heartbeats (when the worker has the MirrorMaker plugins)."""
    slot = i % 20
    if HEARTBEAT in classes and slot >= 17:
        return HEARTBEAT
    return SRC if slot < 10 else SINK


def state_of(i: int) -> str:
    """2% RUNNING (one task each, input files exist), 5% PAUSED, the rest STOPPED (no tasks)."""
    if i % 50 == 0:
        return "RUNNING"
    return "PAUSED" if i % 20 in (1, 11) and i % 100 != 1 else "STOPPED"


def has_secret(i: int, count: int) -> bool:
    """Every 100th source, and at least three connectors in all (small --connectors)."""
    return i % 100 == 2 or (count < 300 and i in (2, 4, 6))


def password_of(i: int) -> str:
    return f"pw-{i:04d}-not-a-real-secret"


def config_of(i: int, classes: list[str], count: int, bootstrap: str) -> dict[str, str]:
    name, cls = name_of(i), class_of(i, classes)
    if cls == HEARTBEAT:  # shared: target alias, bootstrap, interval; own: the source alias
        config = {"connector.class": cls, "tasks.max": "1", "source.cluster.alias": f"origin{i:04d}",
                  "target.cluster.alias": "backup", "source.cluster.bootstrap.servers": bootstrap,
                  "target.cluster.bootstrap.servers": bootstrap, "emit.heartbeats.interval.seconds": "10",
                  "heartbeats.topic.replication.factor": "1"}
    elif cls == SINK:  # shared: tasks.max, error handling; own: file, topics
        config = {"connector.class": cls, "tasks.max": "1", "file": f"{INPUTS}/{name}.out",
                  "topics": f"{PREFIX}topic-{i % 7}", "errors.tolerance": "all", "errors.log.enable": "true"}
    else:  # shared: tasks.max, batch.size, reload action; own: file, topic
        config = {"connector.class": cls, "tasks.max": "1", "file": f"{INPUTS}/{name}.txt",
                  "topic": f"{name}-topic", "batch.size": "2000", "config.action.reload": "restart"}
    if has_secret(i, count) and cls != HEARTBEAT:
        config["connection.password"] = password_of(i)
    return config


def session() -> requests.Session:
    http = requests.Session()
    http.mount("http://", requests.adapters.HTTPAdapter(pool_connections=4, pool_maxsize=THREADS))
    return http


def parallel(fn: Callable[[int], Any], items: list[int], workers: int = THREADS) -> list[Any]:
    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(fn, items))


def create_all(url: str, count: int, classes: list[str], bootstrap: str) -> None:
    http = session()

    def post(i: int) -> None:
        payload: dict[str, Any] = {"name": name_of(i), "config": config_of(i, classes, count, bootstrap)}
        if state_of(i) != "RUNNING":
            payload["initial_state"] = state_of(i)
        for attempt in range(5):  # a 409 while the worker is busy: try again
            reply = http.post(f"{url}/connectors", json=payload, timeout=120)
            if reply.status_code != 409 or attempt == 4:
                break
            time.sleep(1)
        if reply.status_code != 201:
            raise SystemExit(f"creating {name_of(i)} failed: {reply.status_code} {reply.text[:500]}")

    parallel(post, list(range(count)))


def wait_settled(url: str, count: int, deadline_s: float = 600) -> None:
    """Until every connector is in the expand listing with its info and the state it was created in."""
    deadline = time.monotonic() + deadline_s
    ready = 0
    while time.monotonic() < deadline:
        body = requests.get(f"{url}/connectors?expand=status&expand=info", timeout=300).json()
        ready = sum(1 for i in range(count)
                    if (e := body.get(name_of(i))) and e.get("info")
                    and ((e.get("status") or {}).get("connector") or {}).get("state") == state_of(i))
        if ready >= count:
            return
        time.sleep(1)
    raise SystemExit(f"only {ready} of {count} connectors listed in their state after {deadline_s:.0f} s")


def delete_ours(url: str) -> None:
    http = session()
    names = [n for n in http.get(f"{url}/connectors", timeout=120).json() if n.startswith(PREFIX)]
    parallel(lambda i: http.delete(f"{url}/connectors/{names[i]}", timeout=120), list(range(len(names))))


# -- the project and kcplan processes -----------------------------------------------------------------

def env_folder(project: Path) -> Path:
    return project / "environments" / ENV


def make_project(project: Path) -> None:
    (env_folder(project) / "connectors").mkdir(parents=True)


def point_at(project: Path, url: str) -> None:
    (env_folder(project) / "kcplan.jsonnet").write_text(f"{{ connect_url: '{url}' }}\n")


def generated_paths(project: Path) -> list[Path]:
    """What one import --generate round leaves behind: connector files, libraries, SECRETS.md, state."""
    env = env_folder(project)
    return [*sorted((env / "connectors").rglob("*.jsonnet")), *sorted(env.glob("*.libsonnet")),
            *[p for p in (env / "SECRETS.md",) if p.exists()], *sorted((project / ".kcplan").glob(f"{ENV}.state*"))]


def reset(project: Path) -> int:
    """Delete the generated files, SECRETS.md, the libraries and the state file; returns how many."""
    paths = generated_paths(project)
    for path in paths:
        path.unlink()
    return len(paths)


def kcplan(project: Path, *args: str,
           secrets: dict[str, str] | None = None) -> tuple[float, subprocess.CompletedProcess[str]]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("KCPLAN_CONNECT_URL", "KCPLAN_ENV") and not k.startswith("KCPLAN_SECRET_")}
    env.update({"NO_COLOR": "1", **(secrets or {})})
    began = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "kcplan", "-C", str(project), *args], capture_output=True,
                            text=True, env=env, timeout=900)
    return time.perf_counter() - began, result


def must(result: subprocess.CompletedProcess[str], what: str, code: int = 0) -> None:
    if result.returncode != code:
        raise SystemExit(f"{what} exited {result.returncode} (expected {code}):\n"
                         f"{result.stdout[-1500:]}\n{result.stderr[-2500:]}")


_SECRET_LINE = re.compile(r"^\s+(KCPLAN_SECRET_\w+)\s+(\S+): (\S+)$")


def secrets_printed(stdout: str) -> dict[str, str]:
    """The variables the import printed, each with the value this bench gave that connector's key."""
    values: dict[str, str] = {}
    for line in stdout.splitlines():
        m = _SECRET_LINE.match(line)
        if m:
            connector, key = m.group(2), m.group(3)
            assert key == "connection.password" and connector.startswith(PREFIX), line
            values[m.group(1)] = password_of(int(connector[len(PREFIX):]))
    return values


def import_round(project: Path, count: int, libraries: int) -> dict[str, Any]:
    """One import --generate --defaults --all, then the plan that must show no changes; then reset."""
    seconds, result = kcplan(project, "import", "-e", ENV, "--generate", "--defaults", "--all")
    must(result, "import --generate --defaults --all")
    written = generated_paths(project)
    files = [p for p in written if p.suffix in (".jsonnet", ".libsonnet")]
    assert len(files) == count + libraries, f"{len(files)} files written, expected {count} + {libraries}"
    assert f"Imported {count} connectors" in result.stdout, result.stdout[-800:]
    secrets = secrets_printed(result.stdout)
    size = sum(p.stat().st_size for p in files)
    plan_s, plan = kcplan(project, "plan", "-e", ENV, "--detailed-exitcode", secrets=secrets)
    out = {"import_s": seconds, "plan_s": plan_s, "plan_rc": plan.returncode, "secrets": len(secrets),
           "bytes": size, "files": len(files), "import_no_changes": "No changes." in result.stdout,
           "plan_tail": (plan.stdout[-1500:] + plan.stderr[-1500:]) if plan.returncode else "",
           "stdout_lines": result.stdout.count("\n")}
    reset(project)
    return out


# -- requests ------------------------------------------------------------------------------------------

def pattern(method: str, path: str) -> str:
    """'GET /connectors/bench-gen-0001/status' -> 'GET /connectors/{name}/status'; classes likewise."""
    path = re.sub(r"^/connector-plugins/[^/?]+", "/connector-plugins/{class}", path)
    path = re.sub(r"^/connectors/[^/?]+", "/connectors/{name}", path)
    return f"{method} {path}"


def counted(project: Path, url: str, run: Callable[[], None]) -> Counter[str]:
    """The requests ``run`` makes to the worker, through a recording proxy, by method and path pattern."""
    with FaultProxy(url) as proxy:
        point_at(project, proxy.url)
        try:
            run()
        finally:
            point_at(project, url)
        return Counter(pattern(s.method, s.path) for s in proxy.seen)


def check_requests(what: str, seen: Counter[str], classes: int, generate: bool) -> list[str]:
    """Failed assertions (empty when fine): one expand list, one plugin config per class, no per-connector."""
    failed = []
    expands = sum(n for p, n in seen.items() if p.startswith("GET /connectors?expand="))
    if expands != 1:
        failed.append(f"{what}: {expands} GET /connectors?expand=... requests, expected exactly 1")
    per_connector = {p: n for p, n in seen.items() if "{name}" in p}
    if per_connector:
        failed.append(f"{what}: requests about single connectors: {per_connector}")
    plugin = seen.get("GET /connector-plugins/{class}/config", 0)
    if plugin != (classes if generate else 0):
        failed.append(f"{what}: {plugin} GET /connector-plugins/{{class}}/config, expected "
                      f"{classes if generate else 0} (one per class)")
    if sum(seen.values()) > MAX_REQUESTS:
        failed.append(f"{what}: {sum(seen.values())} requests in all, more than {MAX_REQUESTS}")
    return failed


# -- results -------------------------------------------------------------------------------------------

def fmt(times: list[float]) -> str:
    return f"median {statistics.median(times):.3f} s (min {min(times):.3f}, max {max(times):.3f}, n={len(times)})"


def shown(seen: Counter[str]) -> str:
    return "; ".join(f"`{p}` x{n}" for p, n in sorted(seen.items())) + f" ({sum(seen.values())} in all)"


def machine(url: str, broker: str | None, heap: str | None) -> list[str]:
    version = ConnectClient([url]).server_info().version
    if broker is None:
        return machine_lines(f"Kafka Connect {version} (an existing worker, --url); broker unknown (external)")
    return machine_lines(f"Kafka Connect {version} (standalone sandbox, broker {broker}, worker heap "
                         f"{heap or 'the sandbox default'}) on the same machine")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--connectors", type=int, default=1000, metavar="N", help="live connectors (default 1000)")
    parser.add_argument("--rounds", type=int, default=3, metavar="R",
                        help="timed rounds of each command (default 3; the median is reported)")
    parser.add_argument("--url", default="",
                        help="an existing Connect worker with no connectors but this bench's (default: start a "
                             "standalone sandbox in a tmp dir and stop it at the end)")
    parser.add_argument("--heap", default=None, help="-Xmx of the sandbox worker (default: the sandbox's own)")
    parser.add_argument("--out", type=Path, default=Path(__file__).with_name("results.md"))
    opts = parser.parse_args()
    n, rounds = opts.connectors, opts.rounds
    if n < 2 or rounds < 1:
        parser.error("--connectors must be at least 2 and --rounds at least 1")

    started = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    work = Path(tempfile.mkdtemp(prefix="kcplan-bench-generate-"))
    sandbox_root: Path | None = None
    url = opts.url.rstrip("/")
    broker: str | None = None
    bootstrap: str | None = None
    try:
        if url:
            others = [c for c in requests.get(f"{url}/connectors", timeout=60).json() if not c.startswith(PREFIX)]
            if others:
                raise SystemExit(f"--url {url} holds other connectors ({len(others)}, e.g. {others[0]}): "
                                 "`import --all` would take them too; use an empty worker")
            delete_ours(url)
        else:
            from kcplan import sandbox

            sandbox_root = work / "sandbox"
            log("starting a standalone sandbox ...")
            info = sandbox.start_sandbox(sandbox_root, mode="standalone", timeout=300, stop_with_parent=True,
                                         worker_heap=opts.heap)
            url, broker = info.url, info.broker_kind
            bootstrap = info.bootstrap_servers or None
        plugins = [p["class"] for p in requests.get(f"{url}/connector-plugins", timeout=60).json()]
        classes = [c for c in (SRC, SINK, HEARTBEAT) if c in plugins]
        if SRC not in classes or SINK not in classes:
            raise SystemExit(f"the worker lacks the FileStream plugins: {plugins}")
        bootstrap = bootstrap or "127.0.0.1:9092"  # heartbeats are STOPPED: the address is never dialled
        used = sorted({class_of(i, classes) for i in range(n)})

        INPUTS.mkdir(exist_ok=True)
        for i in range(n):  # the running sources' input files exist: no task spins waiting for one
            (INPUTS / f"{name_of(i)}.txt").touch()
        log(f"creating {n} connectors on {url} ({', '.join(c.rsplit('.', 1)[-1] for c in used)}) ...")
        began = time.perf_counter()
        create_all(url, n, classes, bootstrap)
        wait_settled(url, n)
        create_s = time.perf_counter() - began
        live = requests.get(f"{url}/connectors?expand=status", timeout=300).json()
        states = Counter(e["status"]["connector"]["state"] for e in live.values())
        by_class = Counter(class_of(i, classes) for i in range(n))
        assert len(live) == n, f"{len(live)} connectors on the worker, expected {n}"

        project = work / "project"
        make_project(project)
        point_at(project, url)

        log(f"baseline: plan with no connector files, {rounds} rounds ...")
        plan_times = []
        for _ in range(rounds):
            seconds, result = kcplan(project, "plan", "-e", ENV, "--detailed-exitcode")
            must(result, "plan (no connector files)")
            assert result.stdout.count(PREFIX) == n, "the plan does not list every connector as unmanaged"
            plan_times.append(seconds)

        log(f"import --generate --defaults --all + plan, {rounds} rounds ...")
        libraries = len(used)
        results = [import_round(project, n, libraries) for _ in range(rounds)]

        log("counting requests through a recording proxy ...")
        plan_seen = counted(project, url, lambda: must(kcplan(project, "plan", "-e", ENV)[1], "plan (counted)"))
        counted_round: dict[str, Any] = {}
        import_seen = counted(project, url, lambda: counted_round.update(
            kcplan=kcplan(project, "import", "-e", ENV, "--generate", "--defaults", "--all")))
        must(counted_round["kcplan"][1], "import (counted)")
        secrets = secrets_printed(counted_round["kcplan"][1].stdout)
        after_seen = counted(project, url, lambda: counted_round.update(
            plan=kcplan(project, "plan", "-e", ENV, "--detailed-exitcode", secrets=secrets)))
        reset(project)

        failed = check_requests("plan before the import", plan_seen, len(used), generate=False)
        failed += check_requests("import --generate", import_seen, len(used), generate=True)
        failed += check_requests("plan after the import", after_seen, len(used), generate=False)
        failed += [f"round {k + 1}: plan --detailed-exitcode after the import exited {r['plan_rc']}:\n"
                   f"{r['plan_tail']}" for k, r in enumerate(results) if r["plan_rc"] != 0]
        if counted_round["plan"][1].returncode != 0:
            failed.append(f"counted round: plan after the import exited {counted_round['plan'][1].returncode}")
        failed += [f"round {k + 1}: the import's own plan of the imported connectors was not 'No changes.'"
                   for k, r in enumerate(results) if not r["import_no_changes"]]

        gen_times = [r["import_s"] for r in results]
        after_times = [r["plan_s"] for r in results]
        ratio = statistics.median(gen_times) / statistics.median(plan_times)
        bare = []
        for _ in range(rounds):
            t0 = time.perf_counter()
            requests.get(f"{url}/connectors?expand=status&expand=info", timeout=300).raise_for_status()
            bare.append(time.perf_counter() - t0)
        startup = []
        for _ in range(rounds):
            t0 = time.perf_counter()
            subprocess.run([sys.executable, "-c", "import kcplan.cli, kcplan.commands.import_, kcplan.commands.plan"],
                           check=True, capture_output=True)
            startup.append(time.perf_counter() - t0)

        worker = (f"an existing worker at {url} (--url)" if sandbox_root is None
                  else "the bench's own standalone sandbox")
        first = results[0]
        lines = [
            "",
            f"## {n:,} connectors, {started}",
            "",
            f"`python bench/generate/run.py --connectors {n} --rounds {rounds}"
            + (f" --url {opts.url}" if opts.url else "") + (f" --heap {opts.heap}" if opts.heap else "") + "`",
            "",
            "### Machine", "", *machine(url, broker, opts.heap), f"- worker: {worker}", "",
            "### Setup", "",
            f"- {n} live connectors: " + ", ".join(f"{by_class[c]} {c.rsplit('.', 1)[-1]}" for c in used)
            + "; states " + ", ".join(f"{v} {k}" for k, v in sorted(states.items()))
            + f"; {first['secrets']} with a `connection.password` (a secret).",
            f"- Made with POST /connectors ({THREADS} at a time, `initial_state` for the stopped and paused "
            f"ones) and waiting until listed in their state: {create_s:.1f} s (setup, not measured).",
            "- Every time is the wall time of a whole `python -m kcplan ...` process. The project holds only",
            "  `environments/bench/kcplan.jsonnet` (no schemas). After each import round the generated files,",
            "  SECRETS.md, the libraries and the state file are deleted; the live connectors stay.",
            f"- One import writes {first['files']} files ({first['files'] - libraries} connector files + "
            f"{libraries} class libraries), {first['bytes'] / 1024:.0f} KiB, and prints {first['stdout_lines']} "
            "lines.",
            "",
            "### Results", "",
            "| what | wall time |",
            "|---|---|",
            f"| baseline: `kcplan plan -e bench` before any import (no files, all {n} unmanaged) | {fmt(plan_times)} |",
            f"| `kcplan import -e bench --generate --defaults --all` | {fmt(gen_times)} |",
            f"| `kcplan plan -e bench --detailed-exitcode` after the import (secrets set) | {fmt(after_times)} |",
            f"| (for reference) Python start + importing kcplan's CLI, import and plan modules | {fmt(startup)} |",
            f"| (for reference) bare `GET /connectors?expand=status&expand=info` | {fmt(bare)} |",
            "",
            f"- Ratio generate / plan (medians, same run, same worker): {ratio:.2f}x.",
            "- `plan --detailed-exitcode` after each import: exit "
            + ", ".join(str(r["plan_rc"]) for r in results) + f" (counted round: {counted_round['plan'][1].returncode}"
            + "); 0 = no changes, the generated files render to the live configs.",
            "",
            "### HTTP requests (recording proxy in front of the worker)", "",
            f"- `plan` before the import: {shown(plan_seen)}",
            f"- `import --generate --defaults --all`: {shown(import_seen)}",
            f"- `plan` after the import: {shown(after_seen)}",
            f"- Asserted: one `GET /connectors?expand=...` for the live configs, one "
            f"`GET /connector-plugins/{{class}}/config` per class ({len(used)}), no request about a single "
            f"connector, at most {MAX_REQUESTS} in all: "
            + ("passed." if not failed else "FAILED:"),
            *(f"  - {f.splitlines()[0]}" for f in failed),
            "",
        ]
        append_section(opts.out, TITLE, lines)
        if failed:
            print("\n".join(["", "FAILED:", *failed]), file=sys.stderr)
            return 1
        return 0
    finally:
        if sandbox_root is not None:
            from kcplan.sandbox import stop_sandbox

            stop_sandbox(sandbox_root)
        elif url:
            delete_ours(url)
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(INPUTS, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
