"""Benchmark: the overhead of S3 state (a real SeaweedFS) against local state, for whole kcplan processes.

In ONE run, on one real standalone Connect sandbox and one SeaweedFS (tests/s3server.py), two projects
with environment `bench`: `local` (state in .kcplan/bench.state.json) and `s3` (state in the bucket,
key bench/kcplan.state.json), each managing --connectors FileStreamSource connectors of its own (names
bst-local-NNN and bst-s3-NNN, so the two never touch the other's connectors):
  1. setup (not measured): both projects create their connectors with one verified apply;
  2. `plan -e bench --detailed-exitcode` (N managed, no changes: must exit 0), --rounds times per project;
  3. --rounds rounds; each round flips the `topic` of all N connectors of a project (alternating two
     values, so every apply has N updates) and runs `plan -e bench --out plan.out` (timed on its own),
     then the whole `apply plan.out` process, once with `--no-verify` and once verified (`--verify-timeout
     90`, KCPLAN_VERIFY_STABLE=0 as in the tests), for both projects; local and s3 interleaved, the order
     swapped every round, so the machine's noise hits both;
  4. one more round of each command for the s3 project through a recording proxy (tests/faultproxy.py,
     keep_host=True) in front of SeaweedFS: S3 requests per command by method, key (state / .backup /
     .lock) and condition (If-Match / If-None-Match). Not timed;
  5. for reference: Python start + importing boto3 and making an S3 client (what only the s3 backend
     pays), and one state save done directly with boto3 (PUT .backup + conditional PUT of the state, the
     real state's size);
  6. appends a section (machine, date, seconds, ratios s3/local of the medians, requests, the share of an
     apply's time that S3 state costs: (s3 apply - local apply) / s3 apply, against the issue's 10% limit)
     to bench/state/results.md; stops SeaweedFS and the sandbox. Exit 1 when a check failed.

    python bench/state/run.py [--connectors 50] [--rounds 5]
"""

from __future__ import annotations

import argparse
import datetime
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from bench._common import append_section, machine_lines  # noqa: E402
from kcplan import sandbox  # noqa: E402
from kcplan.connect.client import ConnectClient  # noqa: E402
from tests.faultproxy import FaultProxy  # noqa: E402
from tests.s3server import S3Server  # noqa: E402

ENV = "bench"
KEY = f"{ENV}/kcplan.state.json"
SRC = "org.apache.kafka.connect.file.FileStreamSourceConnector"
INPUTS = Path("/tmp/kcplan-bench-state")
TITLE = "# S3 state (SeaweedFS) against local state: whole `kcplan plan` and `kcplan apply` processes"
LIMIT = 0.10  # the issue: per-step saves on S3 costing more than 10% of an apply must be batched
T0 = time.monotonic()


def log(message: str) -> None:
    print(f"[{time.monotonic() - T0:7.1f}s] {message}", flush=True)


def fmt(times: list[float]) -> str:
    return f"{statistics.median(times):.3f} s (min {min(times):.3f}, max {max(times):.3f}, n={len(times)})"


# -- the two projects -----------------------------------------------------------------------------------

@dataclass
class Project:
    backend: str  # 'local' or 's3'
    root: Path
    names: list[str]
    connect_url: str
    bucket: str = ""
    topic: str = "a"
    times: dict[str, list[float]] = field(default_factory=dict)

    @property
    def env_dir(self) -> Path:
        return self.root / "environments" / ENV

    @property
    def plan_file(self) -> Path:
        return self.root / "plan.out"

    def write_settings(self, endpoint_url: str = "") -> None:
        state = "" if self.backend == "local" else (
            f", state: {{ backend: 's3', bucket: '{self.bucket}', key: '{KEY}', region: 'us-east-1', "
            f"endpoint_url: '{endpoint_url}' }}")
        (self.env_dir / "kcplan.jsonnet").write_text(f"{{ connect_url: '{self.connect_url}'{state} }}\n")

    def declare(self, topic: str) -> None:
        """Every connector file with ``topic`` in its topic name (the change each apply round makes)."""
        self.topic = topic
        folder = self.env_dir / "connectors"
        folder.mkdir(parents=True, exist_ok=True)
        for name in self.names:
            config = {"name": name, "connector.class": SRC, "file": str(INPUTS / f"{name}.txt"),
                      "topic": f"{name}-{topic}", "tasks.max": "1"}
            (folder / f"{name}.jsonnet").write_text(
                "{\n" + "".join(f"  '{k}': '{v}',\n" for k, v in config.items()) + "}\n")

    def record(self, what: str, seconds: float) -> None:
        self.times.setdefault(what, []).append(seconds)


def kcplan(project: Project, env: dict[str, str], *args: str) -> tuple[float, subprocess.CompletedProcess[str]]:
    """The wall time of one whole ``python -m kcplan -C PROJECT ARGS`` process, and its result."""
    began = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "kcplan", "-C", str(project.root), *args], capture_output=True,
                            text=True, env=env, timeout=600, stdin=subprocess.DEVNULL)
    return time.perf_counter() - began, result


def must(result: subprocess.CompletedProcess[str], what: str, code: int = 0) -> None:
    if result.returncode != code or "Traceback" in result.stderr:
        raise SystemExit(f"{what} exited {result.returncode} (expected {code}):\n"
                         f"{result.stdout[-2000:]}\n{result.stderr[-2500:]}")


def base_env(s3: S3Server) -> dict[str, str]:
    """The same environment for both projects: AWS_* of the S3 server (unused by local), no stability window."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("KCPLAN_CONNECT_URL", "KCPLAN_ENV") and not k.startswith("KCPLAN_SECRET_")}
    return {**s3.env(env), "NO_COLOR": "1", "KCPLAN_VERIFY_STABLE": "0"}


APPLY_MODES = {"apply --no-verify": ("--no-verify",), "apply (verified)": ("--verify-timeout", "90")}


def plan_and_apply(project: Project, env: dict[str, str], mode: str, topic: str, n: int,
                   timed: bool = True) -> subprocess.CompletedProcess[str]:
    """Flip the topic of all N connectors, `plan --out` (timed apart), then the apply of that plan."""
    project.declare(topic)
    plan_s, planned = kcplan(project, env, "plan", "-e", ENV, "--out", str(project.plan_file), "--detailed-exitcode")
    must(planned, f"{project.backend}: plan --out", 2)
    changes = set(re.findall(r"^\s*~ update (\S+)", planned.stdout, re.M)) & set(project.names)
    if len(changes) < n:
        raise SystemExit(f"{project.backend}: the plan does not update all {n} connectors:\n{planned.stdout[-1500:]}")
    seconds, applied = kcplan(project, env, "apply", str(project.plan_file), *APPLY_MODES[mode])
    must(applied, f"{project.backend}: {mode}")
    if timed:
        project.record("plan --out (N changes)", plan_s)
        project.record(mode, seconds)
    return applied


# -- S3 requests ----------------------------------------------------------------------------------------

def request_label(method: str, path: str, headers: dict[str, str], bucket: str) -> str:
    """'PUT state (If-Match)', 'GET .lock', ... from a request the proxy saw."""
    key = path.split("?", 1)[0]
    key = re.sub(rf"^/{re.escape(bucket)}/?", "", key)
    what = {KEY: "state", f"{KEY}.backup": ".backup", f"{KEY}.lock": ".lock", "": "(bucket)"}.get(key, key)
    lowered = {k.lower(): v for k, v in headers.items()}
    condition = " (If-Match)" if "if-match" in lowered else " (If-None-Match: *)" if "if-none-match" in lowered else ""
    return f"{method} {what}{condition}"


def counted(s3: S3Server, project: Project, run: Callable[[], object]) -> tuple[Counter[str], Counter[int]]:
    """The S3 requests ``run`` makes, by label, and their answers by status, through a recording proxy."""
    with FaultProxy(s3.endpoint_url, keep_host=True) as proxy:
        project.write_settings(proxy.url)
        try:
            run()
        finally:
            project.write_settings(s3.endpoint_url)
        seen = list(proxy.seen)
    return (Counter(request_label(s.method, s.path, s.headers, project.bucket) for s in seen),
            Counter(s.status or 0 for s in seen))


def shown(seen: Counter[str]) -> str:
    return "; ".join(f"`{p}` x{n}" for p, n in sorted(seen.items())) + f" ({sum(seen.values())} in all)"


# -- references -----------------------------------------------------------------------------------------

def python_start(rounds: int, code: str) -> list[float]:
    times = []
    for _ in range(rounds):
        began = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)
        times.append(time.perf_counter() - began)
    return times


def direct_saves(s3: S3Server, bucket: str, data: bytes, rounds: int = 30) -> list[float]:
    """One state save as the backend does it (PUT .backup, then PUT state If-Match), done with boto3."""
    client = s3.client()
    key = "bench-direct/kcplan.state.json"
    etag = client.put_object(Bucket=bucket, Key=key, Body=data, ContentType="application/json")["ETag"]
    times = []
    for _ in range(rounds):
        began = time.perf_counter()
        client.put_object(Bucket=bucket, Key=f"{key}.backup", Body=data, ContentType="application/json")
        etag = client.put_object(Bucket=bucket, Key=key, Body=data, ContentType="application/json",
                                 IfMatch=etag)["ETag"]
        times.append(time.perf_counter() - began)
    return times


# -- main -----------------------------------------------------------------------------------------------

def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--connectors", type=int, default=50, metavar="N",
                        help="connectors managed by each project (default 50)")
    parser.add_argument("--rounds", type=int, default=5, metavar="R",
                        help="timed rounds of each command and backend (default 5; the median is reported)")
    parser.add_argument("--out", type=Path, default=Path(__file__).with_name("results.md"))
    opts = parser.parse_args()
    n, rounds = opts.connectors, opts.rounds
    if n < 1 or rounds < 1:
        parser.error("--connectors and --rounds must be at least 1")

    started = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    work = Path(tempfile.mkdtemp(prefix="kcplan-bench-state-"))
    sandbox_root = work / "sandbox"
    INPUTS.mkdir(exist_ok=True)
    tag = datetime.datetime.now(datetime.UTC).strftime("%H%M%S")
    failed: list[str] = []
    try:
        log("starting a standalone sandbox ...")
        info = sandbox.start_sandbox(sandbox_root, mode="standalone", timeout=300, stop_with_parent=True)
        url, broker = info.url, info.broker_kind
        version = ConnectClient([url]).server_info().version
        log(f"worker {url} (Connect {version}); starting SeaweedFS ...")
        with S3Server(work / "s3") as s3:
            log(f"SeaweedFS at {s3.endpoint_url} (ready in {s3.startup_seconds:.1f} s)")
            env = base_env(s3)
            projects = {b: Project(b, work / b, [f"bst-{b}-{tag}-{i:03d}" for i in range(n)], url, s3.bucket)
                        for b in ("local", "s3")}
            for p in projects.values():
                for name in p.names:
                    (INPUTS / f"{name}.txt").touch()
                p.env_dir.mkdir(parents=True)
                p.write_settings(s3.endpoint_url)
                p.declare("a")
                began = time.perf_counter()
                must(kcplan(p, env, "apply", "-e", ENV, "--auto-approve", "--verify-timeout", "120")[1],
                     f"{p.backend}: the first apply (create)")
                log(f"{p.backend}: created {n} connectors in {time.perf_counter() - began:.1f} s")

            def order(r: int) -> list[Project]:
                return [projects["local"], projects["s3"]][:: 1 if r % 2 == 0 else -1]

            log(f"plan -e {ENV} (no changes), {rounds} rounds per backend ...")
            for r in range(rounds):
                for p in order(r):
                    seconds, result = kcplan(p, env, "plan", "-e", ENV, "--detailed-exitcode")
                    must(result, f"{p.backend}: plan (no changes)")
                    p.record("plan (no changes)", seconds)

            log(f"apply rounds ({rounds}): N={n} updates each, --no-verify and verified, interleaved ...")
            for r in range(rounds):
                for mode in APPLY_MODES:
                    for p in order(r):
                        plan_and_apply(p, env, mode, "b" if p.topic == "a" else "a", n)
                        log(f"round {r + 1} {p.backend:5} {mode}: {p.times[mode][-1]:.2f} s")

            log("counting S3 requests through a recording proxy (not timed) ...")
            p = projects["s3"]
            requests_by: dict[str, tuple[Counter[str], Counter[int]]] = {}
            requests_by["plan (no changes)"] = counted(s3, p, lambda: must(
                kcplan(p, env, "plan", "-e", ENV, "--detailed-exitcode")[1], "s3: plan (counted)"))
            p.declare("b" if p.topic == "a" else "a")
            requests_by["plan --out (N changes)"] = counted(s3, p, lambda: must(
                kcplan(p, env, "plan", "-e", ENV, "--out", str(p.plan_file), "--detailed-exitcode")[1],
                "s3: plan --out (counted)", 2))
            requests_by["apply --no-verify"] = counted(s3, p, lambda: must(
                kcplan(p, env, "apply", str(p.plan_file), "--no-verify")[1], "s3: apply --no-verify (counted)"))
            p.declare("b" if p.topic == "a" else "a")
            must(kcplan(p, env, "plan", "-e", ENV, "--out", str(p.plan_file))[1], "s3: plan --out")
            requests_by["apply (verified)"] = counted(s3, p, lambda: must(
                kcplan(p, env, "apply", str(p.plan_file), "--verify-timeout", "90")[1],
                "s3: apply verified (counted)"))

            log("checks: both projects converged, the live topics are the last ones ...")
            live = requests.get(f"{url}/connectors?expand=info", timeout=120).json()
            for q in projects.values():
                result = kcplan(q, env, "plan", "-e", ENV, "--detailed-exitcode")[1]
                if result.returncode != 0:
                    failed.append(f"{q.backend}: plan --detailed-exitcode after the rounds exited {result.returncode}")
                wrong = [name for name in q.names
                         if ((live.get(name) or {}).get("info") or {}).get("config", {}).get("topic")
                         != f"{name}-{q.topic}"]
                if wrong:
                    failed.append(f"{q.backend}: {len(wrong)} connectors without their last topic, e.g. {wrong[0]}")
            state_bytes = s3.client().get_object(Bucket=s3.bucket, Key=KEY)["Body"].read()
            local_bytes = (projects["local"].root / ".kcplan" / f"{ENV}.state.json").stat().st_size
            leftovers = sorted(o["Key"] for o in s3.client().list_objects_v2(Bucket=s3.bucket).get("Contents", []))
            if f"{KEY}.lock" in leftovers:
                failed.append("the S3 lock object is left after the commands")

            log("references: python + boto3 start, direct boto3 saves ...")
            bare = python_start(rounds, "pass")
            kc_import = python_start(rounds, "import kcplan.cli, kcplan.commands.plan, kcplan.commands.apply")
            boto = python_start(rounds, "import boto3; boto3.session.Session().client('s3', region_name='us-east-1', "
                                        f"endpoint_url='{s3.endpoint_url}')")
            direct = direct_saves(s3, s3.bucket, state_bytes)
        lines = report(opts, started, version, broker, n, rounds, projects, requests_by, bare, kc_import, boto,
                       direct, len(state_bytes), local_bytes, leftovers, failed)
        append_section(opts.out, TITLE, lines)
        log(f"appended to {opts.out}")
    finally:
        sandbox.stop_sandbox(sandbox_root)
        log("SeaweedFS and the sandbox stopped")
    return 1 if failed else 0


def report(opts: argparse.Namespace, started: str, version: str, broker: str, n: int, rounds: int,
           projects: dict[str, Project], requests_by: dict[str, tuple[Counter[str], Counter[int]]],
           bare: list[float], kc_import: list[float], boto: list[float], direct: list[float], state_size: int,
           local_size: int, leftovers: list[str], failed: list[str]) -> list[str]:
    local, s3p = projects["local"], projects["s3"]
    med = statistics.median
    lines = [
        "",
        f"## {n} connectors, {rounds} rounds, {started}",
        "",
        f"`python bench/state/run.py --connectors {n} --rounds {rounds}`",
        "",
        "### Machine",
        "",
        *machine_lines(f"Kafka Connect {version} (standalone sandbox, broker {broker}) and SeaweedFS "
                       "(`weed mini`, tests/s3server.py), all on the same machine; S3 over loopback, no TLS"),
        "",
        "### Setup",
        "",
        f"- Two projects, environment `{ENV}`, each managing {n} FileStreamSource connectors of its own (1 task "
        "each, RUNNING) on the same worker: `local` (state file .kcplan/bench.state.json) and `s3` (state "
        f"`s3://BUCKET/{KEY}`, endpoint_url the SeaweedFS). State size after the run: local {local_size:,} B, "
        f"s3 {state_size:,} B.",
        "- Every time is the wall time of a whole `python -m kcplan ...` process, the same environment for both "
        "(AWS_* set for both; KCPLAN_VERIFY_STABLE=0). Each apply round flips the `topic` of all N connectors "
        "(N updates), `plan --out` then `apply plan.out`. Local and s3 rounds interleaved, order swapped every "
        "round.",
        "",
        "### Results (medians of the same run)",
        "",
        "| command | local | s3 | s3/local | s3 - local |",
        "|---|---|---|---:|---:|",
    ]
    whats = ["plan (no changes)", "plan --out (N changes)", *APPLY_MODES]
    for what in whats:
        a, b = local.times[what], s3p.times[what]
        lines.append(f"| `{what}` | {fmt(a)} | {fmt(b)} | {med(b) / med(a):.2f}x | {med(b) - med(a):+.3f} s |")
    lines += [
        "",
        "| reference | median |",
        "|---|---|",
        f"| `python -c pass` | {fmt(bare)} |",
        f"| Python start + importing kcplan's CLI, plan and apply modules | {fmt(kc_import)} |",
        f"| Python start + `import boto3` + making an S3 client (only the s3 backend pays it) | {fmt(boto)} |",
        f"| one state save done directly with boto3: PUT .backup + PUT state If-Match ({state_size:,} B) | "
        f"{fmt(direct)} |",
        "",
        "### S3 requests per command (recording proxy in front of SeaweedFS, the s3 project; not timed)",
        "",
    ]
    for what, (seen, statuses) in requests_by.items():
        answers = ", ".join(f"{s}: {c}" for s, c in sorted(statuses.items()))
        lines.append(f"- `{what}`: {shown(seen)}; answers {answers}")
    lines.append(f"- Objects in the bucket after the run: {', '.join(f'`{k}`' for k in leftovers)}.")
    lines += ["", "### The share of an apply's time that S3 state costs", ""]
    for mode in APPLY_MODES:
        a, b = med(local.times[mode]), med(s3p.times[mode])
        share = (b - a) / b
        saves = requests_by[mode][0].get("PUT state (If-Match)", 0) + requests_by[mode][0].get(
            "PUT state (If-None-Match: *)", 0)
        paired = [(y - x) / y for x, y in zip(local.times[mode], s3p.times[mode], strict=True)]
        per_save = (b - a) / saves if saves else float("nan")
        estimate = saves * med(direct) / b
        verdict = "ABOVE" if share > LIMIT else "below"
        lines += [
            f"- `{mode}`: (s3 - local) / s3 = ({b:.3f} - {a:.3f}) / {b:.3f} = **{share:.1%}**, {verdict} the "
            f"{LIMIT:.0%} limit (per-round pairs: median {med(paired):.1%}, min {min(paired):.1%}, max "
            f"{max(paired):.1%}). {saves} state saves (PUT state) in the counted apply: "
            f"{per_save * 1000:.1f} ms of difference per save; saves x the direct boto3 save "
            f"({med(direct) * 1000:.1f} ms) = {estimate:.1%} of the s3 apply.",
        ]
    lines += [
        "- The difference includes everything the s3 backend does that local does not: importing boto3 and "
        "making its client (see the reference), taking and releasing the lock (PUT/GET/DELETE .lock), reading "
        "the state (GET), and the saves (PUT .backup + PUT state per save). The last line of each bullet "
        "isolates the saves.",
    ]
    if failed:
        lines += ["", "### Checks FAILED", "", *(f"- {f}" for f in failed)]
    else:
        lines += ["", "- Checks passed: every plan and apply exited as expected, the plans had N updates, both "
                  "projects' `plan --detailed-exitcode` exit 0 after the rounds, the live topics are the last "
                  "applied, no lock object left."]
    lines.append("")
    return lines


if __name__ == "__main__":
    sys.exit(main())
