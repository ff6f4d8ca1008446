"""Reliability: SIGKILL a process that saves states through kcplan's StateStore, 1,000 times.

Each run starts a writer process (tests/reliability/state_writer.py: it takes the lock and saves a
growing, realistic state, 10 to 300 JDBC sinks with digested passwords, as fast as it can), SIGKILLs
it at a random moment and checks the files (tests/reliability/statekill.py): the state parses, has the
same lineage, its serial never goes back, its content is exactly what that serial was saved with, the
backup is sound too, and the lock is free at once.

As a control, the same harness runs an in-place writer (truncate + write, like Terraform's local
backend): it must find broken files, or the harness would prove nothing.

    python bench/reliability/run_state_kills.py [--runs 1000] [--control-runs 100] [--seed N]

Writes bench/reliability/results.md (machine, date, seed, numbers). Exit 1 when kcplan's writer left
any broken file.
"""

from __future__ import annotations

import argparse
import datetime
import random
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from bench._common import machine_lines  # noqa: E402
from tests.reliability.statekill import Report, run_kills  # noqa: E402

RESULTS = Path(__file__).with_name("results.md")


def filesystem(path: Path) -> str:
    done = subprocess.run(["df", "-T", str(path)], capture_output=True, text=True)
    lines = done.stdout.splitlines()
    return lines[-1].split()[1] if len(lines) > 1 else "unknown"


def row(name: str, report: Report) -> str:
    broken = len(report.broken)
    return (f"| {name} | {len(report.results)} | {broken} | {report.writes} | {report.mid_write} | "
            f"{report.seconds:.0f} s |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--control-runs", type=int, default=100)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--max-delay", type=float, default=0.25)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(2**32)
    print(f"seed {seed}", file=sys.stderr)
    with tempfile.TemporaryDirectory(prefix="kcplan-kills-") as tmp:
        fs = filesystem(Path(tmp))
        print(f"kcplan's StateStore: {args.runs} kills", file=sys.stderr)
        atomic = run_kills(Path(tmp) / "atomic", args.runs, seed, max_delay=args.max_delay, progress=True)
        print(atomic.summary(), file=sys.stderr)
        print(f"control, in-place writer: {args.control_runs} kills", file=sys.stderr)
        control = run_kills(Path(tmp) / "inplace", args.control_runs, seed, mode="inplace",
                            max_delay=args.max_delay, progress=True)
        print(control.summary(), file=sys.stderr)
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    examples = "\n".join(f"  - run {r.index}: {r.problem}" for r in control.broken[:3])
    failures = "\n".join(f"  - run {r.index} (after {r.delay:.3f} s): {r.problem}" for r in atomic.broken)
    failures_text = "\n" + failures if failures else ""
    machine = "\n".join(machine_lines(f"temp folder on {fs}"))
    text = f"""# SIGKILL during state writes

Run: {now}, `python bench/reliability/run_state_kills.py --runs {args.runs} --control-runs {args.control_runs} \
--seed {seed}` (the seed repeats the kill moments; timing still varies).

## Machine

{machine}

## What a run does

A writer process holds the state lock and saves states through `kcplan.state.store.StateStore` as fast
as it can (10 to 300 JDBC sinks, about 1 KB each, passwords as digests, every serial different). After
a random 0-{args.max_delay:g} s it gets SIGKILL. Then: the state file parses and validates, the lineage is
unchanged, the serial is not below the last serial the writer reported saved nor below the previous
run's, the content is exactly what that serial was saved with, the backup passes the same checks, and
the lock can be taken at once. "Killed mid-write" counts kills that left a temp file behind (between
creating the temp file and renaming it over the state).

## Results

| writer | kills | broken files | saves completed | killed mid-write | time |
|---|---:|---:|---:|---:|---:|
{row("kcplan StateStore (temp file, fsync, backup link, rename, fsync dir)", atomic)}
{row("control: in-place rewrite (truncate + write)", control)}

- kcplan: {len(atomic.broken)} broken state files in {len(atomic.results)} kills.{failures_text}
- control: {len(control.broken)} of {len(control.results)} kills left a broken file, e.g.:
{examples or "  - (none: the control did not break, so this run proves less than it should)"}
- Temp files left by kills are never read (names `.dev.state.json.tmp-PID-RANDOM`); they stay until
  removed by hand.
"""
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(f"wrote {args.out}", file=sys.stderr)
    return 1 if atomic.broken else 0


if __name__ == "__main__":
    raise SystemExit(main())
