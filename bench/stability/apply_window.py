"""What the stability window costs a healthy apply: 50 creates on a standalone sandbox, applied with
``--verify-stable 0`` and with the default window (30 s), alternately, --reps times each, in the same run.

The window should add at most its own length: all connectors' windows run at once. Writes the
"apply with and without the window" section of bench/stability/results.md.

    python bench/stability/apply_window.py [--count 50] [--reps 2] [--stable 30]
"""

from __future__ import annotations

import argparse
import datetime
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from bench._common import append_section, machine_lines  # noqa: E402
from bench.apply.run import delete_and_settle, kcplan_env, make_project, names_of  # noqa: E402
from kcplan import sandbox  # noqa: E402

RESULTS = Path(__file__).with_name("results.md")
TITLE = "# The stability window, measured (bench/stability)"


def apply_seconds(work: Path, url: str, names: list[str], stable: float, label: str) -> float:
    """Plan, then time 'kcplan apply plan.out --verify-stable STABLE' (exit 0 required)."""
    project = work / label
    make_project(project, [url], names)
    plan_file = project / "plan.out"
    subprocess.run([sys.executable, "-m", "kcplan", "-C", str(project), "plan", "-e", "bench", "--out",
                    str(plan_file)], check=True, capture_output=True, env=kcplan_env(), timeout=600)
    began = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "kcplan", "-C", str(project), "apply", str(plan_file),
                           "--verify-stable", f"{stable:g}"], capture_output=True, text=True, env=kcplan_env(),
                          timeout=900)
    took = time.monotonic() - began
    if done.returncode != 0:
        raise SystemExit(f"apply {label} exited {done.returncode}:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    delete_and_settle(url, names)
    return took


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=50)
    parser.add_argument("--reps", type=int, default=2)
    parser.add_argument("--stable", type=float, default=30.0)
    args = parser.parse_args()
    times: dict[float, list[float]] = {0.0: [], args.stable: []}
    with tempfile.TemporaryDirectory(prefix="kcplan-window-") as tmp:
        work = Path(tmp)
        info = sandbox.start_sandbox(work / "sandbox", mode="standalone", timeout=300, stop_with_parent=True)
        try:
            url = info.urls[0]
            for rep in range(args.reps):
                for stable in (0.0, args.stable):
                    names = names_of(f"w{rep}-{int(stable)}", args.count)
                    times[stable].append(apply_seconds(work, url, names, stable, f"p{rep}-{int(stable)}"))
                    print(f"rep {rep}: --verify-stable {stable:g}: {times[stable][-1]:.1f} s", flush=True)
            broker = info.broker_kind
        finally:
            sandbox.stop_sandbox(work / "sandbox")
    base, window = statistics.median(times[0.0]), statistics.median(times[args.stable])
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        f"## Apply of {args.count} creates with and without the window (standalone, {broker})", "",
        f"Run: {stamp}, `python bench/stability/apply_window.py --count {args.count} --reps {args.reps}`.", "",
        *machine_lines("Apache Kafka broker (KRaft) and Connect from kcplan.sandbox, on this machine"), "",
        "| --verify-stable | apply s (each run) | median |", "|---:|---|---:|",
        f"| 0 | {', '.join(f'{t:.1f}' for t in times[0.0])} | {base:.1f} |",
        f"| {args.stable:g} | {', '.join(f'{t:.1f}' for t in times[args.stable])} | {window:.1f} |", "",
        f"The window added {window - base:.1f} s to the median apply (its length: {args.stable:g} s); ratio "
        f"{window / base:.2f}.", "",
    ]
    append_section(RESULTS, TITLE, lines)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
