"""Renderers for `kcplan status`: rows computed once, printed as table, markdown or JSON."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict, dataclass
from typing import Any

from tabulate import tabulate

from kcplan.connect.models import ConnectorStatus, LiveConnector
from kcplan.views.style import PLAIN, Palette

TASK_STATES = ("RUNNING", "FAILED", "PAUSED", "UNASSIGNED")
ERROR_WIDTH = 120  # the table's ERROR column is cut here (markdown and JSON keep the whole line)


@dataclass(frozen=True)
class TaskFailure:
    task: str  # "connector" or the task id
    worker: str
    trace: str

    @property
    def first_line(self) -> str:
        return self.trace.strip().splitlines()[0] if self.trace.strip() else ""

    @property
    def root_cause(self) -> str:
        """The last 'Caused by:' line of a Java trace (often more telling than the first), else ''."""
        causes = [line.strip() for line in self.trace.splitlines() if line.startswith("Caused by: ")]
        return causes[-1].removeprefix("Caused by: ") if causes else ""


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
    managed: bool | None  # None: the state file could not be read
    failures: tuple[TaskFailure, ...]

    @property
    def failed(self) -> bool:
        return self.state == "FAILED" or self.tasks_failed > 0


def build_row(env: str, live: LiveConnector, managed: bool | None) -> StatusRow:
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
    """One line of totals: connectors by state, how many have failures, tasks by state."""
    states = Counter(row.state for row in rows)
    state_text = ", ".join(f"{count} {name}" for name, count in sorted(states.items()))
    noun = "connector" if len(rows) == 1 else "connectors"
    head = f"{len(rows)} {noun}" + (f" ({state_text})" if state_text else "")
    failing = sum(1 for row in rows if row.failed)
    if failing:
        head += f", {failing} with failures"
    tasks = sum(row.tasks_total for row in rows)
    counts = [f"{tasks} total"] + [
        f"{n} {label}" for label, n in (
            ("running", sum(row.tasks_running for row in rows)),
            ("failed", sum(row.tasks_failed for row in rows)),
            ("paused", sum(row.tasks_paused for row in rows)),
            ("unassigned", sum(row.tasks_unassigned for row in rows)),
        ) if n or label in ("running", "failed")
    ]
    return f"{head}; tasks: {', '.join(counts)}."


def _managed_text(managed: bool | None) -> str:
    return "?" if managed is None else ("yes" if managed else "no")


def _cut(text: str, width: int | None) -> str:
    if width is None or len(text) <= width:
        return text
    return text[: width - 3] + "..."


def _table_rows(rows: list[StatusRow], multi_env: bool, palette: Palette,
                error_width: int | None) -> tuple[list[str], list[list[Any]]]:
    headers = ["NAME", "TYPE", "STATE", "WORKER", "TASKS", "RUNNING", "FAILED", "PAUSED", "UNASSIGNED",
               "MANAGED", "ERROR"]
    if multi_env:
        headers.insert(0, "ENV")
    table = []
    for row in rows:
        first = _cut(row.failures[0].first_line, error_width) if row.failures else ""
        failed = str(row.tasks_failed)
        line: list[Any] = [
            row.name, row.type, palette.state(row.state), row.worker,
            str(row.tasks_total), str(row.tasks_running),
            palette.colour(failed, "red") if row.tasks_failed else failed,
            str(row.tasks_paused), str(row.tasks_unassigned), _managed_text(row.managed), first,
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


def render_table(rows: list[StatusRow], multi_env: bool, traces: bool, palette: Palette = PLAIN) -> str:
    headers, table = _table_rows(rows, multi_env, palette, error_width=ERROR_WIDTH)
    out = tabulate(table, headers=headers, tablefmt="plain", disable_numparse=True) if rows else "No connectors."
    out += "\n\n" + summary(rows)
    if traces and any(row.failures for row in rows):
        out += "\n\n" + _traces(rows)
    return out


def render_markdown(rows: list[StatusRow], multi_env: bool, traces: bool) -> str:
    headers, table = _table_rows(rows, multi_env, PLAIN, error_width=None)
    table = [[cell.replace("|", "\\|") for cell in line] for line in table]
    out = tabulate(table, headers=headers, tablefmt="github", disable_numparse=True) if rows else "No connectors."
    out += "\n\n" + summary(rows)
    if traces and any(row.failures for row in rows):
        out += "\n\n```\n" + _traces(rows) + "\n```"
    return out


def render_json(rows: list[StatusRow], traces: bool, errors: dict[str, str] | None = None) -> str:
    """Rows, totals, and the environments that could not be read (``errors``: env -> message)."""
    items = []
    for row in rows:
        item = asdict(row)
        item["failed"] = row.failed
        item["failures"] = [
            {"task": f.task, "worker": f.worker, "first_line": f.first_line, "root_cause": f.root_cause,
             **({"trace": f.trace} if traces else {})}
            for f in row.failures
        ]
        items.append(item)
    totals = {
        "connectors": len(rows),
        "failed_connectors": sum(1 for row in rows if row.failed),
        "tasks": sum(row.tasks_total for row in rows),
        "tasks_running": sum(row.tasks_running for row in rows),
        "tasks_failed": sum(row.tasks_failed for row in rows),
        "tasks_paused": sum(row.tasks_paused for row in rows),
        "tasks_unassigned": sum(row.tasks_unassigned for row in rows),
    }
    failed_envs = [{"env": env, "error": message} for env, message in sorted((errors or {}).items())]
    return json.dumps({"connectors": items, "totals": totals, "errors": failed_envs}, indent=2)
