"""Reliability: SIGKILL `kcplan apply` at a random moment of a 20-connector apply, 200 times.

Each run (tests/reliability/applykill.py has the details) changes a project of 20 FileStream
connectors (a fresh project every --fresh-every runs: 20 creates, no state file yet; otherwise
deletes, creates, updates, pauses/resumes/stops and class flips), delays a random half of the writes
by 0.05-0.5 s through a FaultProxy, runs `kcplan plan --out`, starts `python -m kcplan apply plan.out`
and SIGKILLs it at a random moment of its progress. Then: every state file read during and after the
apply parses, lineage unchanged, serial never back, backup sound, lock free, the next `plan --json`
lists exactly the remaining work (computed from the live worker), and one more apply converges.

    python bench/reliability/run_apply_kills.py [--runs 200] [--seed N] [--fresh-every 10] [--url URL]

Without --url it starts its own standalone sandbox (kcplan.sandbox) in a tmp dir and stops it at the
end. Takes about 15 s a run on 2 cores: run it in the background, e.g.
`nohup python bench/reliability/run_apply_kills.py > /tmp/apply-kills.log 2>&1 &`.
Writes bench/reliability/apply_kills.md (machine, date, seed, numbers). Exit 1 when any run failed.
"""

from __future__ import annotations

import argparse
import datetime
import itertools
import random
import sys
import tempfile
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from bench._common import machine_lines  # noqa: E402
from kcplan import sandbox  # noqa: E402
from tests.reliability.applykill import Report, RunResult, Scenario, delete_connectors  # noqa: E402

RESULTS = Path(__file__).with_name("apply_kills.md")


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def run_all(url: str, folder: Path, runs: int, seed: int, fresh_every: int) -> Report:
    rng = random.Random(seed)
    report = Report(seed)
    counter = itertools.count()
    tag = f"ak{seed % 100000}"
    began = time.monotonic()
    scenario: Scenario | None = None
    for index in range(runs):
        if scenario is None or index % fresh_every == 0:
            if scenario is not None:
                scenario.close()
                delete_connectors(url, scenario.names)
            scenario = Scenario(folder / f"project-{index:04d}", url, lambda: f"{tag}-{next(counter)}", rng)
        result = scenario.run(index)
        report.results.append(result)
        log(line(result))
        if result.problem:  # the project may be in any state now: go on with a fresh one
            scenario.close()
            delete_connectors(url, scenario.names)
            scenario = None
    if scenario is not None:
        scenario.close()
        delete_connectors(url, scenario.names)
    report.seconds = time.monotonic() - began
    return report


def line(r: RunResult) -> str:
    verdict = "ok" if r.problem is None else f"FAILED: {r.problem}"
    return (f"run {r.index} ({r.kind}, {r.steps} steps, P={r.parallelism}, {r.moment}): killed in {r.phase}; "
            f"serial {r.serial_before}->{r.serial_after}, {r.tmp_left} temp, next plan {r.cluster_work}+"
            f"{r.state_work}, {r.seconds:.1f} s: {verdict}")


def write(out: Path, args: argparse.Namespace, seed: int, report: Report, about: dict[str, str]) -> None:
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    results = report.results
    phases = report.phases()
    steps_runs = [r for r in results if r.phase.startswith("steps")]
    kinds = {k: sum(1 for r in results if r.kind == k) for k in ("first apply", "mixed")}
    no_state = sum(1 for r in results if r.kind == "first apply" and r.serial_after is None)
    failures = "\n".join(f"  - run {r.index} ({r.kind}, {r.moment}, killed in {r.phase}): {r.problem}"
                         for r in report.failed)
    table = "\n".join(f"| {name} | {phases.get(name, 0)} |" for name in
                      ("startup", "steps", "verification", "after the end"))
    machine = "\n".join(machine_lines(f"Kafka Connect {about.get('version', '?')} standalone (kcplan sandbox)"))
    text = f"""# SIGKILL at a random moment of a 20-connector apply

Run: {now}, `python bench/reliability/run_apply_kills.py --runs {args.runs} --seed {seed} \
--fresh-every {args.fresh_every}` (the seed repeats the changes, delays and kill moments; timing still varies).

## Machine

{machine}

## What a run does

See tests/reliability/applykill.py. A project declares 20 FileStream connectors: every
{args.fresh_every}th run a fresh project (20 creates, some PAUSED/STOPPED, some sinks; no state file yet),
otherwise the previous project changed at random (1-3 deleted from the code and as many added, about
half updated, about a third paused/resumed/stopped, a few switched class = replaced; a plan holds
either one resume and no pause, or pauses and no resume: Connect 3.9's standalone herder deadlocks its
REST API when a resume's background task update meets another pause/resume). A FaultProxy
delays a random half of the writes by 0.05-0.5 s. `kcplan plan --out`, then `python -m kcplan apply
plan.out --parallelism P` (P of 1, 2, 4, 8) is SIGKILLed at a random moment (seeded): 10% in its
first second, 80% U(0, 0.4 s) after the k-th of its S step results (k uniform), 10% U(0, 3 s) into
health verification. Checks, once every request the proxy received reached the worker:

- every read of the state file during the apply (every 20 ms) and after the kill parses as JSON and as
  kcplan's State, the lineage never changes (fresh projects: the first one created), the serial never
  goes back (below the serial before the apply or any serial seen), `.backup` the same and not newer;
- the lock is free (taken at once; `kcplan plan --json`, which takes it, runs);
- the next `plan --json` lists exactly the remaining work: per connector the action computed from the
  live worker (GET config + status, read directly), the declared configs and the state's records
  (create/replace/update/pause/resume/stop/delete where the cluster differs, adopt/forget where only
  the state lags), and no conflicts;
- converged after at most one more apply (tests/applyproject.assert_converged), and the live and
  recorded run states equal the declared ones.

## Results

- Runs: {len(results)} ({kinds["first apply"]} first applies of a fresh project, {kinds["mixed"]} mixed),
  **{len(report.failed)} failed**, {report.seconds / 60:.0f} min.
- Where the kill landed (from the apply's own progress output at that moment):

| phase | runs |
|---|---:|
{table}

- Kills during the steps: {len(steps_runs)}, of which {sum(1 for r in steps_runs if r.steps and
      r.phase != f"steps {r.steps}/{r.steps}")} with steps still to do.
- Killed first applies that left no state file at all: {no_state} (the next plan then adopts what was
  created and creates the rest).
- State saves completed by the killed applies: {sum(r.saves for r in results)} (each a serial step);
  distinct serials read by the watcher during the applies: {sum(r.reads for r in results)}.
- Stale temp files (`.dev.state.json.tmp-*`, `.dev.state.json.backup.tmp-*`) left by kills:
  {sum(r.tmp_left for r in results)} files in {sum(1 for r in results if r.tmp_left)} runs (allowed; kcplan never
  reads them).
- Next plans after the kills: {sum(r.cluster_work for r in results)} cluster changes and
  {sum(r.state_work for r in results)} state-only records (adopt/forget) left to do, each matching the
  independent expectation; {sum(r.extra_applies for r in results)} runs needed the one more apply.
{("- Failures:" + chr(10) + failures) if failures else "- Failures: none."}
"""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--fresh-every", type=int, default=10, help="a fresh project (first apply) every N runs")
    parser.add_argument("--url", default=None, help="an existing standalone worker (default: start a sandbox)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(2**32)
    log(f"seed {seed}, {args.runs} runs")
    with tempfile.TemporaryDirectory(prefix="kcplan-apply-kills-") as tmp:
        root = Path(tmp) / "sandbox"
        url = args.url
        try:
            if url is None:
                root.mkdir()
                url = sandbox.start_sandbox(root, mode="standalone", workers=1, timeout=300,
                                            stop_with_parent=True).url
                log(f"sandbox: {url}")
            about = requests.get(url + "/", timeout=30).json()
            report = run_all(url, Path(tmp), args.runs, seed, args.fresh_every)
        finally:
            if args.url is None:
                sandbox.stop_sandbox(root)
    log(report.summary())
    write(args.out, args, seed, report, about)
    log(f"wrote {args.out}")
    return 1 if report.failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
