"""Drift renderings (table, JSON, Prometheus text) from literal reports: exact expected strings."""

from __future__ import annotations

import json

from kcplan.config.sensitive import MASK
from kcplan.plan.drift import DriftReport
from kcplan.plan.model import Drift, KeyChange
from kcplan.views import drift_view
from kcplan.views.drift_view import DriftCheck

SECRET_CHANGE = KeyChange(key="db.password", old=MASK, new=MASK, old_hidden=True, new_hidden=True)
REPORT = DriftReport(
    env="prod", state_serial=7, managed=5, live=5,
    drift=(
        Drift(name="orders-sink", keys=(SECRET_CHANGE, KeyChange(key="tasks.max", old="1", new="4")),
              applied_state="RUNNING", live_state="PAUSED"),
        Drift(name="users-src", deleted=True, applied_state="RUNNING"),
    ),
    unmanaged=("scratch",), failed_connectors=1, failed_tasks=2,
)
CLEAN = DriftReport(env="staging", state_serial=3, managed=2, live=2, drift=(), unmanaged=(),
                    failed_connectors=0, failed_tasks=0)
T0 = 1700000000.5  # 2023-11-14T22:13:20Z



def test_table_golden() -> None:
    assert drift_view.render_table([DriftCheck("prod", T0, REPORT)]) == (
        "NAME         DRIFT               DETAIL\n"
        "orders-sink  changed, run_state  changed by hand: db.password, tasks.max; "
        "paused by hand (applied RUNNING, live PAUSED)\n"
        "scratch      unmanaged           created by hand (not in the state)\n"
        "users-src    deleted             deleted by hand (applied RUNNING)\n"
        "\n"
        "Changed keys (applied -> live):\n"
        "  orders-sink\n"
        "      ~ db.password: (sensitive value)\n"
        '      ~ tasks.max: "1" -> "4"\n'
        "\n"
        "prod: drift in 3 connectors (1 changed, 1 deleted, 1 run_state, 1 unmanaged); 5 managed "
        "(state serial 7). Not drift, but unhealthy: 1 connector with FAILED parts (2 FAILED tasks): "
        "'kcplan status -e prod --failed'.\n"
        "Next: 'kcplan plan -e prod' shows what apply would change back; "
        "'kcplan import -e prod NAME' takes over an unmanaged connector."
    )


def test_table_without_drift_is_one_line() -> None:
    assert drift_view.render_table([DriftCheck("staging", T0, CLEAN)]) == (
        "staging: no drift; 2 managed (state serial 3) match the cluster, none unmanaged.")


def test_table_several_environments_has_env_column_and_skips_failed_checks() -> None:
    resumed = DriftReport(env="staging", state_serial=3, managed=2, live=2, unmanaged=(),
                          failed_connectors=0, failed_tasks=0,
                          drift=(Drift(name="a", applied_state="STOPPED", live_state="RUNNING"),))
    text = drift_view.render_table([DriftCheck("staging", T0, resumed), DriftCheck("dev", T0, error="down")])
    assert text == (
        "ENV      NAME    DRIFT      DETAIL\n"
        "staging  a       run_state  resumed by hand (applied STOPPED, live RUNNING)\n"
        "\n"
        "staging: drift in 1 connector (1 run_state); 2 managed (state serial 3).\n"
        "Next: 'kcplan plan -e staging' shows what apply would change back; "
        "'kcplan import -e staging NAME' takes over an unmanaged connector."
    )


def test_table_names_at_most_four_keys_per_row() -> None:
    keys = tuple(KeyChange(key=f"k{i}", old="1", new="2") for i in range(6))
    report = DriftReport(env="p", state_serial=1, managed=1, live=1, unmanaged=(), failed_connectors=0,
                         failed_tasks=0, drift=(Drift(name="a", keys=keys, applied_state="RUNNING",
                                                      live_state="RUNNING"),))
    first_row = drift_view.render_table([DriftCheck("p", T0, report)]).splitlines()[1]
    assert first_row == "a       changed  changed by hand: k0, k1, k2, k3 and 2 more"


def test_json_golden() -> None:
    data = json.loads(drift_view.render_json([DriftCheck("prod", T0, REPORT), DriftCheck("dev", T0, error="boom")]))
    assert data["format_version"] == 1
    assert (data["drift"], data["ok"]) == (True, False)
    prod, dev = data["environments"]
    assert dev == {"env": "dev", "ok": False, "error": "boom", "checked_at": "2023-11-14T22:13:20Z"}
    assert {k: v for k, v in prod.items() if k != "connectors"} == {
        "env": "prod", "ok": True, "error": None, "checked_at": "2023-11-14T22:13:20Z", "drift": True,
        "state_serial": 7, "managed": 5, "live": 5, "failed_connectors": 1, "failed_tasks": 2,
        "counts": {"changed": 1, "deleted": 1, "run_state": 1, "unmanaged": 1},
    }
    assert prod["connectors"] == [
        {"name": "orders-sink", "kinds": ["changed", "run_state"],
         "keys": [{"key": "db.password", "action": "change", "old": MASK, "new": MASK, "sensitive": True},
                  {"key": "tasks.max", "action": "change", "old": "1", "new": "4", "sensitive": False}],
         "run_state": {"applied": "RUNNING", "live": "PAUSED"}},
        {"name": "scratch", "kinds": ["unmanaged"], "keys": [], "run_state": None},
        {"name": "users-src", "kinds": ["deleted"], "keys": [], "run_state": {"applied": "RUNNING", "live": None}},
    ]


def test_prometheus_golden() -> None:
    text = drift_view.render_prometheus([DriftCheck("prod", T0, REPORT), DriftCheck("dev", T0 + 1, error="down")])
    assert text == (
        "# HELP kcplan_drift_check_success 1 if the last kcplan drift check of the environment succeeded, "
        "0 if it failed.\n"
        "# TYPE kcplan_drift_check_success gauge\n"
        'kcplan_drift_check_success{env="prod"} 1\n'
        'kcplan_drift_check_success{env="dev"} 0\n'
        "# HELP kcplan_drift_check_timestamp_seconds Unix time of the last kcplan drift check.\n"
        "# TYPE kcplan_drift_check_timestamp_seconds gauge\n"
        'kcplan_drift_check_timestamp_seconds{env="prod"} 1700000000.500\n'
        'kcplan_drift_check_timestamp_seconds{env="dev"} 1700000001.500\n'
        "# HELP kcplan_drift_detected 1 if some connector differs from what kcplan last applied, "
        "or is not managed by kcplan.\n"
        "# TYPE kcplan_drift_detected gauge\n"
        'kcplan_drift_detected{env="prod"} 1\n'
        "# HELP kcplan_drift_connectors Connectors that differ from what kcplan last applied, by kind "
        "(changed, deleted, run_state, unmanaged).\n"
        "# TYPE kcplan_drift_connectors gauge\n"
        'kcplan_drift_connectors{env="prod",kind="changed"} 1\n'
        'kcplan_drift_connectors{env="prod",kind="deleted"} 1\n'
        'kcplan_drift_connectors{env="prod",kind="run_state"} 1\n'
        'kcplan_drift_connectors{env="prod",kind="unmanaged"} 1\n'
        "# HELP kcplan_connector_drift 1 for each drifted connector and kind of drift.\n"
        "# TYPE kcplan_connector_drift gauge\n"
        'kcplan_connector_drift{env="prod",connector="orders-sink",kind="changed"} 1\n'
        'kcplan_connector_drift{env="prod",connector="orders-sink",kind="run_state"} 1\n'
        'kcplan_connector_drift{env="prod",connector="scratch",kind="unmanaged"} 1\n'
        'kcplan_connector_drift{env="prod",connector="users-src",kind="deleted"} 1\n'
        "# HELP kcplan_managed_connectors Connectors in the kcplan state file.\n"
        "# TYPE kcplan_managed_connectors gauge\n"
        'kcplan_managed_connectors{env="prod"} 5\n'
        "# HELP kcplan_live_connectors Connectors on the cluster.\n"
        "# TYPE kcplan_live_connectors gauge\n"
        'kcplan_live_connectors{env="prod"} 5\n'
        "# HELP kcplan_failed_connectors Connectors on the cluster with the connector or a task FAILED.\n"
        "# TYPE kcplan_failed_connectors gauge\n"
        'kcplan_failed_connectors{env="prod"} 1\n'
        "# HELP kcplan_failed_tasks FAILED tasks on the cluster.\n"
        "# TYPE kcplan_failed_tasks gauge\n"
        'kcplan_failed_tasks{env="prod"} 2\n'
    )


def test_prometheus_without_drift_keeps_zero_counts_and_drops_empty_metrics() -> None:
    text = drift_view.render_prometheus([DriftCheck("staging", T0, CLEAN)])
    assert 'kcplan_drift_connectors{env="staging",kind="unmanaged"} 0\n' in text
    assert 'kcplan_drift_detected{env="staging"} 0\n' in text
    assert "kcplan_connector_drift" not in text  # no samples: no HELP/TYPE lines either


def test_prometheus_escapes_label_values() -> None:
    report = DriftReport(env="prod", state_serial=1, managed=0, live=1, drift=(), failed_connectors=0,
                         failed_tasks=0, unmanaged=('we"ird\\name\nx',))
    text = drift_view.render_prometheus([DriftCheck("prod", T0, report)])
    assert 'kcplan_connector_drift{env="prod",connector="we\\"ird\\\\name\\nx",kind="unmanaged"} 1\n' in text
