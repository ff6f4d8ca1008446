"""Offsets as code on the REAL standalone worker: a declared ``offsets`` operation planned, applied once,
recorded, refused when it cannot run, and finished after a SIGKILL in its middle (issue 15).

A FileStreamSource reads a file of N lines into a topic and a FileStreamSink writes that topic to a file:
the sink's file shows what the source produced (N lines per full read), and the source's committed
offset is the byte position it reached. The sandbox commits offsets every 10 s.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path
from typing import Any

import requests

from tests.applyproject import Project, ok
from tests.faultproxy import FaultProxy
from tests.helpers import wait_until

LINES = [f"line-{i}" for i in range(1, 7)]
TEXT = "".join(line + "\n" for line in LINES)


def lines_of(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def offsets(url: str, name: str) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = requests.get(f"{url}/connectors/{name}/offsets", timeout=30).json()["offsets"]
    return entries


def wait_lines(path: Path, count: int) -> None:
    wait_until(lambda: len(lines_of(path)) >= count, f"{count} lines in {path.name}", seconds=90)


def wait_committed(url: str, name: str, offset: dict[str, Any]) -> None:
    wait_until(lambda: [e["offset"] for e in offsets(url, name)] == [offset],
               f"{name}'s committed offset {offset}", seconds=60, interval=0.5)


def pipeline(project: Project, unique_name: Any) -> tuple[str, str, Path, Path]:
    """(source, sink, the source's input file, the sink's output file), applied and through once; both
    named by ``unique_name``, so they are deleted after the test."""
    source, sink = unique_name("src"), unique_name("sink")
    data = project.root / f"{source}.txt"
    data.write_text(TEXT)
    project.declare(source, {"name": source, "config": project.source(source)})
    project.declare(sink, {"name": sink, "config": project.sink(sink, f"{source}-topic")})
    project.plan()
    project.apply()
    out = project.root / f"{sink}.out"
    wait_lines(out, len(LINES))
    return source, sink, data, out


def declare_offsets(project: Project, name: str, body: dict[str, Any], operation: dict[str, Any]) -> None:
    project.declare(name, {"name": name, "config": body, "offsets": operation})


def test_a_source_reset_replays_its_file_and_a_set_resumes_after_line_k(project: Project,
                                                                       unique_name: Any) -> None:
    source, _, data, out = pipeline(project, unique_name)
    wait_committed(project.worker, source, {"position": len(TEXT)})

    declare_offsets(project, source, project.source(source), {"reset": "replay-1"})
    shown = project.plan()
    assert f"  ~ offsets {source}" in shown
    assert "      ~ offsets: reset (delete every offset: start over), token 'replay-1'" in shown
    assert "          apply: stop, delete the offsets, then RUNNING" in shown
    assert "Plan: 0 to add, 1 to change, 0 to destroy." in shown
    applied = project.apply()
    assert f"~ {source}: offsets reset ('replay-1'), RUNNING" in applied.stderr
    wait_lines(out, 2 * len(LINES))
    assert lines_of(out) == LINES + LINES
    assert project.state()[source]["offsets_token"] == "replay-1"
    assert project.live_state(source) == "RUNNING"
    assert project.pending()[0] == 0, "an applied token plans nothing"

    k = 4
    position = len("".join(line + "\n" for line in LINES[:k]))
    wait_committed(project.worker, source, {"position": len(TEXT)})
    declare_offsets(project, source, project.source(source), {
        "id": "skip-to-5", "set": [{"partition": {"filename": str(data)}, "offset": {"position": position}}]})
    shown = project.plan()
    assert f'          {{"filename": {json.dumps(str(data))}}} -> {{"position": {position}}}' in shown
    assert "(applied before: 'replay-1')" in shown
    project.apply()
    wait_lines(out, 3 * len(LINES) - k)
    assert lines_of(out) == LINES + LINES + LINES[k:]
    assert project.state()[source]["offsets_token"] == "skip-to-5"

    project.declare(source, {"name": source, "config": project.source(source)})  # the key removed
    assert project.pending()[0] == 0, "removing the offsets key plans nothing"


def test_a_sink_reset_consumes_its_topic_again(project: Project, unique_name: Any) -> None:
    source, sink, _, out = pipeline(project, unique_name)
    wait_until(lambda: bool(offsets(project.worker, sink)), f"{sink}'s committed offsets", seconds=60)
    declare_offsets(project, sink, project.sink(sink, f"{source}-topic"), {"reset": "2026-12-06-replay"})
    project.plan()
    project.apply()
    wait_lines(out, 2 * len(LINES))
    assert lines_of(out) == LINES + LINES
    assert project.state()[sink]["offsets_token"] == "2026-12-06-replay"


def test_refusals_come_before_anything_is_written(project: Project, proxy: FaultProxy, unique_name: Any) -> None:
    source, _, data, _ = pipeline(project, unique_name)
    wait_committed(project.worker, source, {"position": len(TEXT)})
    serial = json.loads(project.state_path.read_text())["serial"]

    # a partition the connector does not report: refused by plan (and so by apply -e)
    declare_offsets(project, source, project.source(source), {
        "id": "typo", "set": [{"partition": {"filename": "/no/such/file"}, "offset": {"position": 0}}]})
    refused = project.kcplan("plan", "-e", "dev")
    ok(refused, 1)
    assert (f"connector '{source}': offsets.set 'typo' names partition(s) the connector does not report: "
            f'{{"filename": "/no/such/file"}}; it reports {{"filename": {json.dumps(str(data))}}}') in refused.stderr

    # a stale plan: the declared operation changed after the plan was saved
    declare_offsets(project, source, project.source(source), {"reset": "r1"})
    project.plan()
    declare_offsets(project, source, project.source(source), {"reset": "r2"})
    proxy.seen.clear()
    stale = project.kcplan("apply", str(project.plan_file))
    ok(stale, 1)
    assert f"connector '{source}': the code now declares another offsets operation ('r2', the plan 'r1')" \
        in stale.stderr
    assert not [s for s in proxy.seen if s.method != "GET"], "a stale plan writes nothing"

    # the worker refuses the offsets (FileStreamSource checks the position): its message, connector back
    declare_offsets(project, source, project.source(source), {
        "id": "bad-position", "set": [{"partition": {"filename": str(data)}, "offset": {"position": "x"}}]})
    project.plan()
    failed = project.apply(code=1)
    assert f"the offsets of '{source}' were not changed: " in failed.stdout + failed.stderr
    assert "the connector is RUNNING again, as before" in failed.stdout + failed.stderr
    assert project.live_state(source) == "RUNNING"
    assert [e["offset"] for e in offsets(project.worker, source)] == [{"position": len(TEXT)}]
    assert "offsets_token" not in project.state()[source]
    assert json.loads(project.state_path.read_text())["serial"] == serial


def test_a_lost_answer_is_read_back_and_not_sent_again(project: Project, proxy: FaultProxy, unique_name: Any) -> None:
    source, _, _, out = pipeline(project, unique_name)
    wait_committed(project.worker, source, {"position": len(TEXT)})
    declare_offsets(project, source, project.source(source), {"reset": "lost"})
    project.plan()
    proxy.add("DELETE", rf"^/connectors/{source}/offsets$", "drop")
    applied = project.apply()
    assert "answer lost; read back: it had happened" in applied.stdout + applied.stderr
    assert [s.method for s in proxy.seen if s.path == f"/connectors/{source}/offsets"].count("DELETE") == 1
    wait_lines(out, 2 * len(LINES))
    assert project.state()[source]["offsets_token"] == "lost"


def test_sigkill_during_the_operation_then_the_next_apply_finishes_it(project: Project, proxy: FaultProxy,
                                                                     unique_name: Any) -> None:
    source, _, _, out = pipeline(project, unique_name)
    wait_committed(project.worker, source, {"position": len(TEXT)})
    declare_offsets(project, source, project.source(source), {"reset": "killed"})
    project.plan()
    proxy.add("DELETE", rf"^/connectors/{source}/offsets$", "delay", seconds=4)  # a window to kill in
    apply = subprocess.Popen(project.argv("apply", str(project.plan_file)), env=project.env(),
                             stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             start_new_session=True)
    try:
        wait_until(lambda: project.live_state(source) == "STOPPED", f"{source} stopped by the apply",
                   seconds=90, interval=0.05)
    finally:
        os.killpg(apply.pid, signal.SIGKILL)
        apply.communicate(timeout=30)
    assert project.live_state(source) == "STOPPED"
    assert "offsets_token" not in project.state()[source]

    code, shown = project.pending()
    assert code == 2 and "token 'killed'" in shown and "then RUNNING" in shown
    project.plan()
    project.apply()
    assert project.live_state(source) == "RUNNING"
    assert project.state()[source]["offsets_token"] == "killed"
    wait_lines(out, 2 * len(LINES))
    assert lines_of(out) == LINES + LINES, "stopped all along: one replay, however often it was reset"
    assert project.pending()[0] == 0


def test_a_reset_on_the_2_worker_distributed_cluster(tmp_path: Path, distributed_urls: list[str],
                                                    unique_name: Any) -> None:
    """Here a stop is a rebalance, and the leader may not have seen it when the DELETE comes."""
    project = Project(tmp_path / "proj", ",".join(distributed_urls), distributed_urls[0])
    source, _, _, out = pipeline(project, unique_name)
    wait_committed(project.worker, source, {"position": len(TEXT)})
    declare_offsets(project, source, project.source(source), {"reset": "replay-distributed"})
    project.plan()
    project.apply()
    wait_lines(out, 2 * len(LINES))
    assert lines_of(out) == LINES + LINES
    assert project.state()[source]["offsets_token"] == "replay-distributed"
    assert project.pending()[0] == 0
