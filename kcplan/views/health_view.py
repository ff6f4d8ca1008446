"""The health table printed after an apply: one row per touched connector, then the totals.

    NAME    RESULT      STATE    TASKS  WORKER        ERROR
    orders  healthy     RUNNING  2/2    w1:8083
    users   FAILED      RUNNING  0/1    w2:8083       org.apache.kafka.connect.errors.DataException: ...

ERROR holds the first line of the first trace (full traces with ``verbose``), or for an unverified
connector why it could not be verified. WORKER is where the failure happened, else the connector's worker.
"""

from __future__ import annotations

from tabulate import tabulate

from kcplan.apply.health import HealthResult, summary
from kcplan.views.style import PLAIN, Palette

ERROR_WIDTH = 120
RESULT_TEXT = {"healthy": "healthy", "failed": "FAILED", "unverified": "unverified"}
RESULT_COLOUR = {"healthy": "green", "failed": "red", "unverified": "yellow"}


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."


def _error(result: HealthResult) -> str:
    if result.failures and result.failures[0].first_line:
        return _cut(result.failures[0].first_line, ERROR_WIDTH)
    return "" if result.verdict == "healthy" else _cut(result.detail, ERROR_WIDTH)


def _row(result: HealthResult, palette: Palette) -> list[str]:
    worker = result.failures[0].worker if result.failures and result.failures[0].worker else result.worker
    state = result.state or "-"
    tasks = "-" if result.state in (None, "ABSENT") else f"{result.tasks_running}/{result.tasks_total}"
    return [
        result.name,
        palette.colour(RESULT_TEXT[result.verdict], RESULT_COLOUR[result.verdict]),
        palette.state(state),
        tasks,
        worker or "-",
        _error(result),
    ]


def totals_line(results: list[HealthResult]) -> str:
    counts = summary(results)
    return f"Verified: {counts['healthy']} healthy, {counts['failed']} failed, {counts['unverified']} unverified."


def _details(results: list[HealthResult], verbose: bool) -> list[str]:
    """Per non-healthy connector: what happened (when the table's ERROR column does not say it all)."""
    lines = []
    for result in results:
        if result.verdict == "healthy" and not result.restarted:
            continue
        if result.detail and (result.failures or result.verdict == "healthy" or verbose):
            lines.append(f"  {result.name}: {result.detail}")
    return lines


def _traces(results: list[HealthResult]) -> list[str]:
    blocks = []
    for result in results:
        for failure in result.failures:
            where = "connector" if failure.task == "connector" else f"task {failure.task}"
            blocks.append(f"--- {result.name} {where} on {failure.worker or '?'} ---\n{failure.trace.rstrip()}")
    return blocks


def render_health(results: list[HealthResult], verbose: bool,
                  palette: Palette = PLAIN) -> str:
    """The table, the totals line, details of failures, and with ``verbose`` the full traces."""
    if not results:
        return "Nothing to verify.\n"
    table = tabulate([_row(r, palette) for r in results],
                     headers=["NAME", "RESULT", "STATE", "TASKS", "WORKER", "ERROR"],
                     tablefmt="plain", disable_numparse=True)
    out = [table.rstrip(), "", totals_line(results)]
    details = _details(results, verbose)
    if details:
        out += ["", *details]
    if verbose:
        traces = _traces(results)
        if traces:
            out += ["", "\n\n".join(traces)]
    elif any(r.failures for r in results):
        out += ["", "(--verbose shows the full traces)"]
    return "\n".join(out) + "\n"
