"""The status report's rows, summary and renderings from literal statuses."""

from __future__ import annotations

import json

from kcplan.connect.models import ConnectorStatus, LiveConnector, TaskStatus
from kcplan.views import status_view

TRACE = "org.apache.kafka.connect.errors.DataException: bad json\n\tat Foo.bar(Foo.java:1)\n"

HEALTHY = LiveConnector(
    name="orders-sink", config={"name": "orders-sink"}, type="sink",
    status=ConnectorStatus(name="orders-sink", state="RUNNING", worker_id="w1:8083", type="sink",
                           tasks=(TaskStatus(0, "RUNNING", "w1:8083"), TaskStatus(1, "PAUSED", "w2:8083"))),
)
BROKEN = LiveConnector(
    name="users-src", config={"name": "users-src"}, type="source",
    status=ConnectorStatus(name="users-src", state="RUNNING", worker_id="w2:8083", type="source",
                           tasks=(TaskStatus(0, "FAILED", "w2:8083", TRACE), TaskStatus(1, "UNASSIGNED"))),
)
NO_STATUS = LiveConnector(name="fresh", config={"name": "fresh"})



def test_rows_count_tasks_by_state() -> None:
    row = status_view.build_row("prod", BROKEN, managed=True)
    assert (row.state, row.tasks_total, row.tasks_running, row.tasks_failed, row.tasks_unassigned) == (
        "RUNNING", 2, 0, 1, 1)
    assert row.failed is True
    assert row.failures[0].task == "0"
    assert row.failures[0].first_line == "org.apache.kafka.connect.errors.DataException: bad json"
    healthy = status_view.build_row("prod", HEALTHY, managed=False)
    assert (healthy.tasks_running, healthy.tasks_paused, healthy.failed) == (1, 1, False)
    unknown = status_view.build_row("prod", NO_STATUS, managed=False)
    assert (unknown.state, unknown.tasks_total) == ("UNKNOWN", 0)


def test_table_golden() -> None:
    rows = [status_view.build_row("prod", c, managed=m) for c, m in ((HEALTHY, True), (BROKEN, False))]
    assert status_view.render_table(rows, multi_env=False, traces=False) == (
        "NAME         TYPE    STATE    WORKER    TASKS    RUNNING    FAILED    PAUSED    UNASSIGNED    "
        "MANAGED    ERROR\n"
        "orders-sink  sink    RUNNING  w1:8083   2        1          0         1         0             yes\n"
        "users-src    source  RUNNING  w2:8083   2        0          1         0         1             no         "
        "org.apache.kafka.connect.errors.DataException: bad json\n"
        "\n"
        "2 connectors (2 RUNNING), 1 with failures; tasks: 4 total, 1 running, 1 failed, 1 paused, 1 unassigned."
    )


def test_traces_only_when_asked() -> None:
    rows = [status_view.build_row("prod", BROKEN, managed=False)]
    assert "\tat Foo.bar" not in status_view.render_table(rows, multi_env=False, traces=False)
    with_traces = status_view.render_table(rows, multi_env=False, traces=True)
    assert with_traces.endswith(
        "--- users-src task 0 on w2:8083 ---\n"
        "org.apache.kafka.connect.errors.DataException: bad json\n\tat Foo.bar(Foo.java:1)")


def test_json_shape() -> None:
    rows = [status_view.build_row("prod", c, managed=False) for c in (HEALTHY, BROKEN)]
    data = json.loads(status_view.render_json(rows, traces=False))
    assert data["totals"] == {"connectors": 2, "failed_connectors": 1, "tasks": 4, "tasks_running": 1,
                              "tasks_failed": 1, "tasks_paused": 1, "tasks_unassigned": 1}
    assert data["connectors"][1]["failures"] == [
        {"task": "0", "worker": "w2:8083",
         "first_line": "org.apache.kafka.connect.errors.DataException: bad json", "root_cause": ""}]
    assert data["errors"] == []
    assert data["connectors"][1]["failed"] is True


def test_markdown_and_multi_env() -> None:
    rows = [status_view.build_row("staging", HEALTHY, managed=True)]
    text = status_view.render_markdown(rows, multi_env=True, traces=False)
    assert text.splitlines()[0].startswith("| ENV     | NAME        |")
    assert text.splitlines()[2].startswith("| staging | orders-sink |")


CHAINED = ("org.apache.kafka.connect.errors.ConnectException: Tolerance exceeded in error handler\n"
           "\tat A.b(A.java:1)\n"
           "Caused by: org.apache.kafka.connect.errors.DataException: Converting byte[] failed\n"
           "\tat C.d(C.java:2)\n"
           "Caused by: com.fasterxml.jackson.core.JsonParseException: Unrecognized token 'hello'\n"
           "\tat E.f(E.java:3)\n")
FAILED_CONNECTOR = LiveConnector(
    name="dead", config={"name": "dead"}, type="sink",
    status=ConnectorStatus(name="dead", state="FAILED", worker_id="w1:8083", trace="java.lang.Error: " + "x" * 200,
                           type="sink", tasks=()),
)


def test_root_cause_is_the_last_caused_by() -> None:
    failure = status_view.TaskFailure("0", "w1", CHAINED)
    assert failure.first_line == "org.apache.kafka.connect.errors.ConnectException: Tolerance exceeded in error handler"
    assert failure.root_cause == "com.fasterxml.jackson.core.JsonParseException: Unrecognized token 'hello'"
    assert status_view.TaskFailure("0", "w1", "").root_cause == ""


def test_failed_connector_itself_counts_and_long_error_is_cut_in_table_only() -> None:
    row = status_view.build_row("prod", FAILED_CONNECTOR, managed=None)
    assert (row.failed, row.tasks_total, row.failures[0].task) == (True, 0, "connector")
    table = status_view.render_table([row], multi_env=False, traces=False)
    line = table.splitlines()[1]
    assert line.endswith(" ?          java.lang.Error: " + "x" * 100 + "...")
    assert table.endswith("1 connector (1 FAILED), 1 with failures; tasks: 0 total, 0 running, 0 failed.")
    data = json.loads(status_view.render_json([row], traces=False))
    assert data["connectors"][0]["managed"] is None
    assert data["connectors"][0]["failures"][0]["first_line"] == "java.lang.Error: " + "x" * 200
    assert status_view.render_table([row], multi_env=False, traces=True).endswith(
        "--- dead connector on w1:8083 ---\njava.lang.Error: " + "x" * 200)


def test_markdown_escapes_pipes_and_empty_report() -> None:
    trace = "java.lang.IllegalStateException: a | b\n\tat X.y(X.java:1)"
    broken = LiveConnector(name="p", config={"name": "p"}, type="sink", status=ConnectorStatus(
        name="p", state="RUNNING", worker_id="w", type="sink", tasks=(TaskStatus(0, "FAILED", "w", trace),)))
    text = status_view.render_markdown([status_view.build_row("prod", broken, managed=True)], False, False)
    assert text.splitlines()[2].endswith("| java.lang.IllegalStateException: a \\| b |")
    assert status_view.render_markdown([], False, False) == (
        "No connectors.\n\n0 connectors; tasks: 0 total, 0 running, 0 failed.")


def test_json_lists_environments_that_failed() -> None:
    data = json.loads(status_view.render_json([], traces=False, errors={"prod": "no worker answered"}))
    assert data == {"connectors": [], "totals": {"connectors": 0, "failed_connectors": 0, "tasks": 0,
                                                 "tasks_running": 0, "tasks_failed": 0, "tasks_paused": 0,
                                                 "tasks_unassigned": 0},
                    "errors": [{"env": "prod", "error": "no worker answered"}]}
