"""How late does a connector that fails on its first records fail? The measurement behind the default of
``kcplan apply --verify-stable`` (docs/health.md, "The stability window").

On a standalone sandbox (kcplan.sandbox, Apache Kafka 4.3.1 unless --kafka-version) a FileStreamSource with
StringConverter fills a topic with plain-text lines; then, --reps times, a new FileStreamSink reading that topic
with JsonConverter (schemas.enable=true) is created, and `GET /connectors/NAME/status` is polled every 100 ms:
seconds after the PUT returned until all tasks first showed RUNNING (what kcplan's verification used to call
healthy) and until a task showed FAILED. With --mode distributed the same runs on the 2-worker cluster.
Writes bench/stability/results.md (the late-failure section).

    python bench/stability/late_failure.py [--reps 5] [--mode standalone|distributed] [--kafka-version 4.3.1]
"""

from __future__ import annotations

import argparse
import datetime
import statistics
import sys
import tempfile
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from bench._common import append_section, machine_lines  # noqa: E402
from kcplan import sandbox  # noqa: E402

SRC = "org.apache.kafka.connect.file.FileStreamSourceConnector"
SINK = "org.apache.kafka.connect.file.FileStreamSinkConnector"
STRING = "org.apache.kafka.connect.storage.StringConverter"
JSON = "org.apache.kafka.connect.json.JsonConverter"
RESULTS = Path(__file__).with_name("results.md")
TITLE = "# The stability window, measured (bench/stability)"


def put(url: str, name: str, config: dict[str, str]) -> None:
    for _ in range(60):
        reply = requests.put(f"{url}/connectors/{name}/config", json=config, timeout=120)
        if reply.status_code in (200, 201):
            return
        time.sleep(1)
    raise SystemExit(f"PUT {name}: {reply.status_code} {reply.text}")


def one_run(url: str, topic: str, out: Path, index: int) -> tuple[float | None, float | None]:
    """(s until all tasks RUNNING first, s until a task FAILED), after the PUT returned; None: not seen in 90 s."""
    name = f"late-sink-{index}"
    put(url, name, {"connector.class": SINK, "file": str(out / f"{name}.txt"), "topics": topic,
                    "value.converter": JSON, "value.converter.schemas.enable": "true"})
    began = time.monotonic()
    running = failed = None
    while time.monotonic() - began < 90 and failed is None:
        reply = requests.get(f"{url}/connectors/{name}/status", timeout=30)
        if reply.status_code == 200:
            tasks = [t["state"] for t in reply.json().get("tasks", [])]
            now = time.monotonic() - began
            if tasks and all(t == "RUNNING" for t in tasks) and running is None:
                running = now
            if "FAILED" in tasks:
                failed = now
        time.sleep(0.1)
    requests.delete(f"{url}/connectors/{name}", timeout=120)
    return running, failed


def spread(values: list[float]) -> str:
    if not values:
        return "-"
    return f"{min(values):.1f}-{max(values):.1f} (median {statistics.median(values):.1f})"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--mode", choices=("standalone", "distributed"), default="standalone")
    parser.add_argument("--kafka-version", default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="kcplan-late-") as tmp:
        work = Path(tmp)
        info = sandbox.start_sandbox(work / "sandbox", mode=args.mode, timeout=300, stop_with_parent=True,
                                     kafka_version=args.kafka_version)
        try:
            url = info.urls[0]
            (work / "lines.txt").write_text("".join(f"plain text line {i}\n" for i in range(100)))
            put(url, "late-src", {"connector.class": SRC, "file": str(work / "lines.txt"), "topic": "late-topic",
                                  "value.converter": STRING})
            time.sleep(5)  # the lines are in the topic
            runs = [one_run(url, "late-topic", work, i) for i in range(args.reps)]
            broker = info.broker_kind
        finally:
            sandbox.stop_sandbox(work / "sandbox")
    running = [r for r, _ in runs if r is not None]
    failed = [f for _, f in runs if f is not None]
    gaps = [f - r for r, f in runs if r is not None and f is not None]
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        f"## Late failure: a JSON sink on plain-text records ({args.mode}, {broker})", "",
        f"Run: {stamp}, `python bench/stability/late_failure.py --reps {args.reps} --mode {args.mode}`.", "",
        *machine_lines("Apache Kafka broker (KRaft) and Connect from kcplan.sandbox, on this machine"), "",
        "| runs | all tasks RUNNING at (s after PUT) | task FAILED at | FAILED after first RUNNING | never failed |",
        "|---:|---|---|---|---:|",
        f"| {len(runs)} | {spread(running)} | {spread(failed)} | {spread(gaps)} | {len(runs) - len(failed)} |", "",
    ]
    append_section(RESULTS, TITLE, lines)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
