"""kcplan drift against the REAL standalone Kafka Connect sandbox: each kind of drift made by hand.

The state is recorded with ``kcplan import`` (what kcplan 'last applied'), then the cluster is
changed with plain HTTP requests, like curl, and ``python -m kcplan drift`` runs in a subprocess.
The worker is shared by the whole test session: every run is narrowed to this test's connectors
with ``--connector``.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Callable
from pathlib import Path

import pytest
import requests

from kcplan.state.model import ManagedConnector, State
from kcplan.state.store import StateStore
from tests.faultproxy import closed_port_url
from tests.helpers import wait_until, write_settings
from tests.integration import test_status_cli as status_cli
from tests.integration.test_status_cli import (
    POLL,
    Project,
    make_running,
    only,
    pause,
    put,
    source,
    status_of,
    stop,
)

SECRET_BEFORE = "s3cr3t-before-Xq81"
SECRET_AFTER = "s3cr3t-after-Zk27"


project = status_cli.project  # the fixture of tests/integration/test_status_cli.py: environment 'dev' on the worker


def managed(project: Project, url: str, tmp: Path, *names: str, **extra: str) -> None:
    """Create the connectors RUNNING and record them in the state with 'kcplan import'."""
    for name in names:
        make_running(url, tmp, name, **extra)
    result = project.kcplan("import", "-e", "dev", *names)
    assert result.returncode == 0, result.stderr


def drift(project: Project, *args: str) -> tuple[int, str, str]:
    result = project.kcplan("drift", "-e", "dev", *args)
    return result.returncode, result.stdout, result.stderr


def test_no_drift_exit_0_in_every_format(project: Project, connect_url: str, tmp_path: Path,
                                         unique_name: Callable[..., str]) -> None:
    a, b = unique_name("a"), unique_name("b")
    managed(project, connect_url, tmp_path, a, b)

    code, out, err = drift(project, *only(a, b))
    assert (code, err) == (0, "")
    assert out.startswith("dev: no drift; 2 managed (state serial 1) match the cluster, none unmanaged.")

    code, out, _ = drift(project, "--format", "json", *only(a, b))
    assert code == 0
    env = json.loads(out)["environments"][0]
    assert (env["drift"], env["managed"], env["live"], env["connectors"]) == (False, 2, 2, [])

    code, out, _ = drift(project, "--format", "prometheus", *only(a, b))
    assert code == 0
    assert 'kcplan_drift_detected{env="dev"} 0\n' in out
    assert 'kcplan_drift_connectors{env="dev",kind="changed"} 0\n' in out
    assert 'kcplan_managed_connectors{env="dev"} 2\n' in out
    assert 'kcplan_drift_check_success{env="dev"} 1\n' in out


def test_config_changed_by_hand(project: Project, connect_url: str, tmp_path: Path,
                                unique_name: Callable[..., str]) -> None:
    name = unique_name()
    managed(project, connect_url, tmp_path, name)
    changed = {**source(tmp_path, name), "tasks.max": 2, "batch.size": 77}
    del changed["topic"]
    changed["topic"] = "moved-by-hand"
    put(connect_url, name, changed)

    code, out, _ = drift(project, *only(name))
    assert code == 2
    assert out.splitlines()[1].split(None, 2) == [name, "changed", "changed by hand: batch.size, tasks.max, topic"]
    assert '      + batch.size: "77"' in out
    assert '      ~ tasks.max: "1" -> "2"' in out
    assert f'      ~ topic: "{name}-topic" -> "moved-by-hand"' in out

    code, out, _ = drift(project, "--format", "json", *only(name))
    assert code == 2
    (conn,) = json.loads(out)["environments"][0]["connectors"]
    assert conn["kinds"] == ["changed"]
    assert [(k["key"], k["action"], k["old"], k["new"]) for k in conn["keys"]] == [
        ("batch.size", "add", None, "77"), ("tasks.max", "change", "1", "2"),
        ("topic", "change", f"{name}-topic", "moved-by-hand")]


def test_sensitive_value_changed_by_hand_is_reported_without_its_value(project: Project, connect_url: str,
                                                                       tmp_path: Path,
                                                                       unique_name: Callable[..., str]) -> None:
    name = unique_name()
    managed(project, connect_url, tmp_path, name, **{"my.password": SECRET_BEFORE})
    assert SECRET_BEFORE not in project.state_path("dev").read_text()
    put(connect_url, name, source(tmp_path, name, **{"my.password": SECRET_AFTER}))

    outputs = []
    for fmt in ("table", "json", "prometheus"):
        code, out, err = drift(project, "--format", fmt, *only(name))
        assert code == 2, (fmt, out, err)
        outputs.append(out + err)
        assert "my.password" in out or fmt == "prometheus"
    table, as_json, prom = outputs
    assert "      ~ my.password: (sensitive value)\n" in table
    (key,) = json.loads(as_json.strip())["environments"][0]["connectors"][0]["keys"]
    assert key == {"key": "my.password", "action": "change", "old": "(sensitive value)",
                   "new": "(sensitive value)", "sensitive": True}
    assert f'kcplan_connector_drift{{env="dev",connector="{name}",kind="changed"}} 1' in prom
    for text in outputs:
        assert SECRET_BEFORE not in text and SECRET_AFTER not in text

    put(connect_url, name, source(tmp_path, name, **{"my.password": SECRET_BEFORE}))  # set back by hand
    code, out, _ = drift(project, *only(name))
    assert code == 0, out


def test_deleted_by_hand(project: Project, connect_url: str, tmp_path: Path,
                         unique_name: Callable[..., str]) -> None:
    keep, gone = unique_name("keep"), unique_name("gone")
    managed(project, connect_url, tmp_path, keep, gone)
    assert requests.delete(f"{connect_url}/connectors/{gone}", timeout=90).status_code == 204
    wait_until(lambda: gone not in requests.get(f"{connect_url}/connectors", timeout=30).json(), f"{gone} gone",
               interval=POLL)

    code, out, _ = drift(project, *only(keep, gone))
    assert code == 2
    assert out.splitlines()[1].split(None, 2) == [gone, "deleted", "deleted by hand (applied RUNNING)"]
    assert keep not in out

    code, out, _ = drift(project, "--format", "prometheus", *only(keep, gone))
    assert 'kcplan_drift_connectors{env="dev",kind="deleted"} 1\n' in out
    assert 'kcplan_live_connectors{env="dev"} 1\n' in out


@pytest.mark.parametrize("how", ["paused", "stopped"])
def test_run_state_changed_by_hand(how: str, project: Project, connect_url: str, tmp_path: Path,
                                   unique_name: Callable[..., str]) -> None:
    name = unique_name(how)
    managed(project, connect_url, tmp_path, name)
    (pause if how == "paused" else stop)(connect_url, name)
    live = how.upper()

    code, out, _ = drift(project, *only(name))
    assert code == 2
    assert out.splitlines()[1].split(None, 2) == [
        name, "run_state", f"{how} by hand (applied RUNNING, live {live})"]

    code, out, _ = drift(project, "--format", "json", *only(name))
    (conn,) = json.loads(out)["environments"][0]["connectors"]
    assert (conn["kinds"], conn["run_state"], conn["keys"]) == (
        ["run_state"], {"applied": "RUNNING", "live": live}, [])

    assert requests.put(f"{connect_url}/connectors/{name}/resume", timeout=90).status_code == 202
    wait_until(lambda: (st := status_of(connect_url, name)) is not None and st["connector"]["state"] == "RUNNING",
               f"{name} RUNNING again", interval=POLL)
    assert drift(project, *only(name))[0] == 0


def test_created_by_hand_is_unmanaged(project: Project, connect_url: str, tmp_path: Path,
                                      unique_name: Callable[..., str]) -> None:
    mine, by_hand = unique_name("mine"), unique_name("byhand")
    managed(project, connect_url, tmp_path, mine)
    make_running(connect_url, tmp_path, by_hand)

    code, out, _ = drift(project, *only(mine, by_hand))
    assert code == 2
    assert out.splitlines()[1].split(None, 2) == [by_hand, "unmanaged", "created by hand (not in the state)"]
    assert "'kcplan import -e dev NAME'" in out

    code, out, _ = drift(project, "--format", "json", *only(mine, by_hand))
    env = json.loads(out)["environments"][0]
    assert env["counts"] == {"changed": 0, "deleted": 0, "run_state": 0, "unmanaged": 1}
    assert env["connectors"] == [{"name": by_hand, "kinds": ["unmanaged"], "keys": [], "run_state": None}]


def test_prometheus_output_file_for_cron(project: Project, connect_url: str, tmp_path: Path,
                                         unique_name: Callable[..., str]) -> None:
    name = unique_name()
    managed(project, connect_url, tmp_path, name)
    pause(connect_url, name)
    folder = tmp_path / "textfile"
    folder.mkdir()
    target = folder / "kcplan.prom"
    target.write_text("old content\n")

    code, out, err = drift(project, "--format", "prometheus", "--output", str(target), *only(name))
    assert (code, out, err) == (2, "", "")
    text = target.read_text()
    assert text.startswith("# HELP kcplan_drift_check_success ")
    assert 'kcplan_drift_connectors{env="dev",kind="run_state"} 1\n' in text
    assert f'kcplan_connector_drift{{env="dev",connector="{name}",kind="run_state"}} 1\n' in text
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o644  # node_exporter runs as another user
    assert [p.name for p in folder.iterdir()] == ["kcplan.prom"]  # no temp file left behind

    code, _, err = drift(project, "--format", "prometheus", "--output", str(tmp_path / "no-such-dir" / "x.prom"))
    assert code == 1
    assert err.startswith("Error: cannot write --output ")


def test_unreachable_cluster_is_an_error_but_still_written_for_alerting(tmp_path: Path) -> None:
    project = Project(tmp_path / "proj").env("dev", closed_port_url())
    store = StateStore(project.state_path("dev"))
    record = ManagedConnector(name="x", config={"name": "x", "connector.class": "C"})
    with store.locked("test"):
        store.save(State(connectors={"x": record}))
    target = tmp_path / "kcplan.prom"

    code, out, err = drift(project, "--format", "prometheus", "--output", str(target))
    assert (code, out) == (1, "")
    assert err.startswith("Error: GET /: no Connect worker answered")
    assert "Traceback" not in err
    text = target.read_text()
    assert 'kcplan_drift_check_success{env="dev"} 0\n' in text
    assert "kcplan_drift_check_timestamp_seconds" in text
    assert "kcplan_drift_connectors" not in text  # nothing is known: no counts that look like 'no drift'


def test_no_state_file_is_an_error(project: Project) -> None:
    code, out, err = drift(project)
    assert (code, out) == (1, "")
    assert err.startswith("Error: no state file for environment 'dev'")
    assert "kcplan import -e dev" in err


def test_key_made_sensitive_in_the_settings_is_never_shown(tmp_path: Path, connect_url: str,
                                                           unique_name: Callable[..., str]) -> None:
    project = Project(tmp_path / "proj").env("dev", connect_url)
    settings = write_settings(project.root, f"{{ connect_url: '{connect_url}', sensitive_keys: ['conn.opaque'] }}\n")
    name = unique_name()
    managed(project, connect_url, tmp_path, name, **{"conn.opaque": SECRET_BEFORE})
    put(connect_url, name, source(tmp_path, name, **{"conn.opaque": SECRET_AFTER}))

    code, out, err = drift(project, *only(name))
    assert code == 2
    assert "      ~ conn.opaque: (sensitive value)\n" in out
    assert SECRET_BEFORE not in out + err and SECRET_AFTER not in out + err

    settings.write_text(f"{{ connect_url: '{connect_url}' }}\n")  # no longer listed: still a digest in state
    code, out, err = drift(project, "--format", "json", *only(name))
    assert code == 2
    assert SECRET_BEFORE not in out + err and SECRET_AFTER not in out + err


def test_state_of_another_kafka_cluster_is_an_error(project: Project, connect_url: str, tmp_path: Path,
                                                    unique_name: Callable[..., str]) -> None:
    name = unique_name()
    managed(project, connect_url, tmp_path, name)
    store = StateStore(project.state_path("dev"))
    with store.locked("test"):
        store.save(store.load().with_cluster_id("some-other-cluster"))

    code, out, err = drift(project, *only(name))
    assert (code, out) == (1, "")
    assert err.startswith("Error: the state of environment 'dev' belongs to Kafka cluster some-other-cluster, but ")
