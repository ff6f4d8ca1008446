"""kcplan heal's report: exact text, JSON and Prometheus output for literal decisions."""

from __future__ import annotations

import json

from kcplan.heal.policy import FORGOTTEN, GAVE_UP, GONE, RESTART, UNMANAGED, WAIT, Decision, Outcome
from kcplan.views.heal_view import HealReport, parts, render_json, render_prometheus, render_text

T0 = 1_800_000_000.0  # 2027-01-15T08:00:00Z
OUTCOME = Outcome((
    Decision("a-sink", RESTART, 1, False, (0, 2), due_at=T0 + 120),
    Decision("b", WAIT, 2, True, (), due_at=T0 + 360),
    Decision("c", GAVE_UP, 3, False, (1,)),
    Decision("d", UNMANAGED, 0, False, (0,), managed=False),
    Decision("e", FORGOTTEN, 2),
    Decision("f", GONE, 1),
))
REPORT = HealReport("prod", T0, OUTCOME, max_restarts=3)


def test_parts() -> None:
    assert [parts(d) for d in OUTCOME.decisions[:3]] == ["tasks 0, 2", "connector", "task 1"]
    assert parts(Decision("x", WAIT, 1, True, (3,))) == "connector, task 3"


def test_text() -> None:
    assert render_text(REPORT) == """\
NAME    ACTION                           FAILED      DETAIL
a-sink  restarted                        tasks 0, 2  restart 1; next not before 2027-01-15T08:02:00Z
b       waiting                          connector   2 restarts made; next due 2027-01-15T08:06:00Z
c       gave up                          task 1      3 restarts made (--max-restarts 3)
d       not touched (unmanaged)          task 0      --include-unmanaged to heal it
e       healthy again, record forgotten              after 2 restarts
f       deleted, record dropped                      after 1 restart

prod: 3 FAILED: 1 restarted, 1 waiting for their backoff, 1 given up. 1 FAILED unmanaged not touched.
Traces: 'kcplan status -e prod --failed --traces'."""


def test_text_nothing_failed_and_dry_run() -> None:
    assert render_text(HealReport("dev", T0, Outcome(()))) == (
        "dev: nothing FAILED among the connectors heal looks after.")
    dry = HealReport("dev", T0, Outcome((Decision("a", RESTART, 1, False, (0,), due_at=T0 + 120),)), dry_run=True)
    assert render_text(dry) == """\
NAME    ACTION         FAILED    DETAIL
a       would restart  task 0    restart 1; next not before 2027-01-15T08:02:00Z

dev: 1 FAILED: 1 would restart, 0 waiting for their backoff, 0 given up. Dry run: nothing restarted, nothing \
recorded.
Traces: 'kcplan status -e dev --failed --traces'."""


def test_text_refused_restart() -> None:
    report = HealReport("dev", T0, Outcome((Decision("a", WAIT, 0, False, (0,), error="rebalance in progress"),)))
    assert render_text(report).splitlines()[1].split("  ")[-1] == "restart refused: rebalance in progress"


def test_json() -> None:
    data = json.loads(render_json(REPORT))
    assert {k: v for k, v in data.items() if k != "connectors"} == {
        "format_version": 1, "env": "prod", "ok": True, "error": None, "checked_at": "2027-01-15T08:00:00Z",
        "dry_run": False, "max_restarts": 3, "failing": True,
        "counts": {"restart": 1, "wait": 1, "gave_up": 1, "unmanaged": 1},
    }
    assert [(c["name"], c["action"], c["restarted"]) for c in data["connectors"]] == [
        ("a-sink", "restart", True), ("b", "wait", False), ("c", "gave_up", False), ("d", "unmanaged", False),
        ("e", "forgotten", False), ("f", "gone", False)]
    assert data["connectors"][0] == {
        "name": "a-sink", "action": "restart", "restarted": True, "managed": True, "restarts": 1,
        "connector_failed": False, "failed_tasks": [0, 2], "next_restart_at": "2027-01-15T08:02:00Z", "error": None}
    assert json.loads(render_json(HealReport("prod", T0, error="down"))) == {
        "format_version": 1, "env": "prod", "ok": False, "error": "down", "checked_at": "2027-01-15T08:00:00Z",
        "dry_run": False, "max_restarts": None}


def test_json_dry_run_restarts_nothing() -> None:
    dry = HealReport("dev", T0, Outcome((Decision("a", RESTART, 1, False, (0,), due_at=T0),)), dry_run=True)
    assert json.loads(render_json(dry))["connectors"][0]["restarted"] is False


HEAD = """\
# HELP kcplan_heal_check_success 1 if the last kcplan heal run of the environment succeeded.
# TYPE kcplan_heal_check_success gauge
kcplan_heal_check_success{env="prod"} %d
# HELP kcplan_heal_check_timestamp_seconds Unix time of the last kcplan heal run.
# TYPE kcplan_heal_check_timestamp_seconds gauge
kcplan_heal_check_timestamp_seconds{env="prod"} 1800000000.000
"""


def test_prometheus() -> None:
    assert render_prometheus(REPORT) == HEAD % 1 + """\
# HELP kcplan_heal_failed_connectors Connectors heal looks after with the connector or a task FAILED at this run.
# TYPE kcplan_heal_failed_connectors gauge
kcplan_heal_failed_connectors{env="prod"} 3
# HELP kcplan_heal_restarted_connectors Connectors restarted by this run (0 with --dry-run).
# TYPE kcplan_heal_restarted_connectors gauge
kcplan_heal_restarted_connectors{env="prod"} 1
# HELP kcplan_heal_gave_up_connectors FAILED connectors heal gave up on (--max-restarts reached).
# TYPE kcplan_heal_gave_up_connectors gauge
kcplan_heal_gave_up_connectors{env="prod"} 1
# HELP kcplan_heal_connector_failed 1 for each FAILED connector heal looks after.
# TYPE kcplan_heal_connector_failed gauge
kcplan_heal_connector_failed{env="prod",connector="a-sink"} 1
kcplan_heal_connector_failed{env="prod",connector="b"} 1
kcplan_heal_connector_failed{env="prod",connector="c"} 1
# HELP kcplan_heal_connector_restarts Restarts made since the connector's record began (a gauge: forgotten once \
it is healthy).
# TYPE kcplan_heal_connector_restarts gauge
kcplan_heal_connector_restarts{env="prod",connector="a-sink"} 1
kcplan_heal_connector_restarts{env="prod",connector="b"} 2
kcplan_heal_connector_restarts{env="prod",connector="c"} 3
# HELP kcplan_heal_connector_gave_up 1 for each connector heal gave up on.
# TYPE kcplan_heal_connector_gave_up gauge
kcplan_heal_connector_gave_up{env="prod",connector="c"} 1
"""


def test_prometheus_failed_run_has_success_0_and_time_only() -> None:
    assert render_prometheus(HealReport("prod", T0, error="cluster down")) == HEAD % 0


def test_prometheus_nothing_failed_and_dry_run() -> None:
    out = render_prometheus(HealReport("prod", T0, Outcome((Decision("a", RESTART, 1, False, (0,)),)),
                                       dry_run=True))
    assert 'kcplan_heal_restarted_connectors{env="prod"} 0\n' in out
    assert 'kcplan_heal_failed_connectors{env="prod"} 1\n' in out
    quiet = render_prometheus(HealReport("prod", T0, Outcome(())))
    assert 'kcplan_heal_failed_connectors{env="prod"} 0\n' in quiet
    assert "kcplan_heal_connector_failed" not in quiet
