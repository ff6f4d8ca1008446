"""Reliability: apply under proxy-injected faults, many seeds (tests/reliability/test_apply_faults.py).

Runs the four scenarios of that test file with KCPLAN_APPLY_FAULT_RUNS=N (N seeds of the rebalance,
lost-answer and refused-connection scenarios; the whole 12 x 4 matrix of the bad-answer scenario, more
seeded picks when N > 48) against the real standalone worker the test fixtures start (or
KCPLAN_TEST_CONNECT_URL), and writes the per-seed lines and totals to a results file.

    python bench/reliability/run_apply_faults.py [--runs 20] [--seed N] [-k EXPR]

Exit 1 when any run failed (the failing seeds are in the results file; KCPLAN_RELIABILITY_SEED=S with
KCPLAN_APPLY_FAULT_RUNS=1 repeats one).
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import random
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RESULTS = Path(__file__).with_name("apply_faults_results.md")
TEST = "tests/reliability/test_apply_faults.py"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("-k", default="rebalance_answers or lost_answers or bad_answers or refused",
                        help="pytest -k expression (default: the four scenarios)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(2**31)
    env = {**os.environ, "KCPLAN_APPLY_FAULT_RUNS": str(args.runs), "KCPLAN_RELIABILITY_SEED": str(seed)}
    cmd = [sys.executable, "-m", "pytest", "-q", "-s", "-p", "no:cacheprovider", TEST, "-k", args.k]
    print(f"seed {seed}: {' '.join(cmd)}", file=sys.stderr)
    began = time.monotonic()
    out: list[str] = []
    with subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:  # shown as it comes: a large run takes most of an hour
            sys.stderr.write(line)
            out.append(line)
    done = subprocess.CompletedProcess(cmd, proc.returncode, "".join(out), "")
    seconds = time.monotonic() - began
    lines = [line for line in done.stdout.splitlines() if re.match(r"^(seed \d+:|[a-z-]+ scenario:)", line)]
    ok = sum(1 for line in lines if line.startswith("seed ") and ": ok" in line)
    failed = [line for line in lines if line.startswith("seed ") and "FAILED" in line]
    summary = re.findall(r"^=*\s*(\d+ (?:passed|failed).*?)\s*=*$", done.stdout, re.MULTILINE)
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    text = [
        "# Apply under injected faults",
        "",
        f"Run: {now}, `python bench/reliability/run_apply_faults.py --runs {args.runs} --seed {seed}` "
        f"({seconds:.0f} s; pytest exit {done.returncode}).",
        "",
        f"Machine: `{' '.join(platform.uname())}`, {os.cpu_count()} cores, Python {platform.python_version()}; "
        "the real standalone Connect worker behind tests/faultproxy.py.",
        "",
        f"**{ok} runs ok, {len(failed)} failed** ({summary[-1] if summary else 'no pytest summary'}).",
        "",
        "Per run (seed: scenario details):",
        "",
        "```",
        *lines,
        "```",
    ]
    if done.returncode != 0:
        text += ["", "Failures (pytest output, last 8000 characters):", "", "```", done.stdout[-8000:], "```"]
    args.out.write_text("\n".join(text) + "\n")
    print(f"{ok} ok, {len(failed)} failed; written to {args.out}", file=sys.stderr)
    return 0 if done.returncode == 0 and not failed else 1


if __name__ == "__main__":
    raise SystemExit(main())
