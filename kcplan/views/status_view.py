"""Renderers for `kcplan status`: rows computed once, printed as table, markdown or JSON."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict, dataclass
from typing import Any

from tabulate import tabulate

from kcplan.connect.models import ConnectorStatus, LiveConnector
from kcplan.views import style

TASK_STATES = ("RUNNING", "FAILED", "PAUSED", "UNASSIGNED")


@dataclass(frozen=True)
class TaskFailure:
    task: str  # "connector" or the task id
    worker: str
    trace: str

    @property
    def first_line(self) -> str:
        return self.trace.strip().splitlines()[0] if self.trace.strip() else ""


@dataclass(frozen=True)
class StatusRow:
    env: str
    name: str
    type: str
    state: str
    worker: str
    tasks_total: int
    tasks_running: int
    tasks_failed: int
    tasks_paused: int
    tasks_unassigned: int
    managed: bool
    failures: tuple[TaskFailure, ...]

    @property
    def failed(self) -> bool:
        return self.state == "FAILED" or self.tasks_failed > 0


def build_row(env: str, live: LiveConnector, managed: bool) -> StatusRow:
    status = live.status or ConnectorStatus(name=live.name, state=None)
    counts = Counter(task.state for task in status.tasks)
    failures = []
    if status.state == "FAILED":
        failures.append(TaskFailure("connector", status.worker_id, status.trace or ""))
    failures.extend(
        TaskFailure(str(task.id), task.worker_id, task.trace or "")
        for task in status.tasks
        if task.state == "FAILED"
    )
    return StatusRow(
        env=env,
        name=live.name,
        type=live.type or status.type,
        state=status.state or "UNKNOWN",
        worker=status.worker_id,
        tasks_total=len(status.tasks),
        tasks_running=counts["RUNNING"],
        tasks_failed=counts["FAILED"],
        tasks_paused=counts["PAUSED"],
        tasks_unassigned=counts["UNASSIGNED"],
        managed=managed,
        failures=tuple(failures),
    )


def summary(rows: list[StatusRow]) -> str:
    states = Counter(row.state for row in rows)
    state_text = ", ".join(f"{count} {name}" for name, count in sorted(states.items()))
    tasks = sum(row.tasks_total for row in rows)
    running = sum(row.tasks_running for row in rows)
    failed = sum(row.tasks_failed for row in rows)
    noun = "connector" if len(rows) == 1 else "connectors"
    head = f"{len(rows)} {noun}" + (f" ({state_text})" if state_text else "")
    return f"{head}; tasks: {tasks} total, {running} running, {failed} failed."


def _table_rows(rows: list[StatusRow], multi_env: bool, colour: bool) -> tuple[list[str], list[list[Any]]]:
    headers = ["NAME", "TYPE", "STATE", "WORKER", "TASKS", "RUNNING", "FAILED", "PAUSED", "UNASSIGNED",
               "MANAGED", "ERROR"]
    if multi_env:
        headers.insert(0, "ENV")
    table = []
    for row in rows:
        first = row.failures[0].first_line if row.failures else ""
        line: list[Any] = [
            row.name, row.type, style.state(row.state) if colour else row.state, row.worker,
            *(str(n) for n in (row.tasks_total, row.tasks_running, row.tasks_failed, row.tasks_paused,
                               row.tasks_unassigned)),
            "yes" if row.managed else "no", first,
        ]
        if multi_env:
            line.insert(0, row.env)
        table.append(line)
    return headers, table


def _traces(rows: list[StatusRow]) -> str:
    blocks = []
    for row in rows:
        for failure in row.failures:
            where = "connector" if failure.task == "connector" else f"task {failure.task}"
            blocks.append(f"--- {row.name} {where} on {failure.worker or '?'} ---\n{failure.trace.rstrip()}")
    return "\n\n".join(blocks)


def render_table(rows: list[StatusRow], multi_env: bool, traces: bool) -> str:
    headers, table = _table_rows(rows, multi_env, colour=True)
    out = tabulate(table, headers=headers, tablefmt="plain", disable_numparse=True) if rows else "No connectors."
    out += "\n\n" + summary(rows)
    if traces and any(row.failures for row in rows):
        out += "\n\n" + _traces(rows)
    return out


def render_markdown(rows: list[StatusRow], multi_env: bool, traces: bool) -> str:
    headers, table = _table_rows(rows, multi_env, colour=False)
    out = tabulate(table, headers=headers, tablefmt="github", disable_numparse=True)
    out += "\n\n" + summary(rows)
    if traces and any(row.failures for row in rows):
        out += "\n\n```\n" + _traces(rows) + "\n```"
    return out


def render_json(rows: list[StatusRow], traces: bool) -> str:
    items = []
    for row in rows:
        item = asdict(row)
        item["failed"] = row.failed
        item["failures"] = [
            {"task": f.task, "worker": f.worker, "first_line": f.first_line, **({"trace": f.trace} if traces else {})}
            for f in row.failures
        ]
        items.append(item)
    totals = {
        "connectors": len(rows),
        "failed_connectors": sum(1 for row in rows if row.failed),
        "tasks": sum(row.tasks_total for row in rows),
        "tasks_running": sum(row.tasks_running for row in rows),
        "tasks_failed": sum(row.tasks_failed for row in rows),
    }
    return json.dumps({"connectors": items, "totals": totals}, indent=2)
