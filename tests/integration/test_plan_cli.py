"""kcplan plan / show / import / state against the REAL standalone Kafka Connect sandbox.

Each test builds its own project in a tmp dir (environments/dev/kcplan.jsonnet pointing at the
sandbox, FileStream connectors with unique names) and runs the CLI as a user would
(``python -m kcplan``). Hand-made changes go through plain HTTP requests, like curl. Since apply
is built later, managed state comes from ``kcplan import``. The worker is shared with other
tests, so assertions only look at this test's own connectors.
"""

from __future__ import annotations

import json
import stat
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.applyproject import Project, live_config, live_state, ok
from tests.helpers import wait_until


@pytest.fixture
def project(tmp_path: Path, connect_url: str) -> Project:
    """The project of tests/applyproject.py, on the worker itself, with the settings' default request timeout."""
    return Project(tmp_path / "proj", connect_url, request_timeout=None, timeout=120)


# -- plain HTTP, like curl -----------------------------------------------------------------------

def put_config(url: str, name: str, config: dict[str, Any]) -> None:
    reply = requests.put(f"{url}/connectors/{name}/config", json={k: str(v) for k, v in config.items()
                                                                 if k != "name"}, timeout=90)
    assert reply.status_code in (200, 201), reply.text
    wait_until(lambda: live_state(url, name) == "RUNNING", f"{name} RUNNING")


# -- tests ---------------------------------------------------------------------------------------

def test_plan_on_an_empty_cluster_plans_only_creates_and_writes_nothing(
        project: Project, unique_name: Callable[..., str]) -> None:
    a, b = unique_name("a"), unique_name("b")
    project.declare(a, project.source(a))
    project.declare(b, {"name": b, "config": project.source(b), "state": "PAUSED"})
    out = ok(project.kcplan("plan", "-e", "dev", "--detailed-exitcode"), 2)
    assert f"  + create {a}\n" in out
    assert f"  + create {b} (initial state PAUSED)\n" in out
    assert f'      + topic: "{a}-topic"\n' in out and '      + tasks.max: "1"\n' in out
    assert "Plan: 2 to add, 0 to change, 0 to destroy.\n" in out
    assert "~ " not in out.split("kcplan will perform")[1]  # nothing but creates
    assert live_config(project.worker, a) is None and live_config(project.worker, b) is None
    assert not project.state_path.exists()  # plan never writes state
    doc = json.loads(ok(project.kcplan("plan", "-e", "dev", "--json")))
    assert [(c["name"], c["action"]) for c in doc["changes"]] == [(a, "create"), (b, "create")]
    assert doc["summary"]["add"] == 2 and doc["state"] == {"lineage": None, "serial": 0}


def test_hand_made_changes_show_as_drift_with_exit_2(project: Project, unique_name: Callable[..., str]) -> None:
    a, b, c = unique_name("a"), unique_name("b"), unique_name("c")
    for name in (a, b, c):
        project.declare(name, project.source(name))
        put_config(project.worker, name, project.source(name))
    ok(project.kcplan("import", "-e", "dev", a, b, c))
    out = ok(project.kcplan("plan", "-e", "dev", "--detailed-exitcode"))
    assert "No changes. The cluster matches the configuration.\n" in out
    assert "Changes made outside kcplan" not in out

    put_config(project.worker, a, project.source(a, **{"tasks.max": 2}))  # like curl -X PUT
    assert requests.put(f"{project.worker}/connectors/{b}/pause", timeout=30).status_code == 202
    wait_until(lambda: live_state(project.worker, b) == "PAUSED", f"{b} PAUSED")
    assert requests.delete(f"{project.worker}/connectors/{c}", timeout=30).status_code == 204
    wait_until(lambda: live_config(project.worker, c) is None, f"{c} deleted")

    result = project.kcplan("plan", "-e", "dev", "--detailed-exitcode")
    out = ok(result, 2)
    drift = out.split("Changes made outside kcplan")[1].split("kcplan will perform")[0]
    assert f"  ~ {a} has changed\n      ~ tasks.max: \"1\" -> \"2\"\n" in drift
    assert f"  ~ {b} has changed\n      ~ run state: RUNNING -> PAUSED\n" in drift
    assert f"  - {c} has been deleted\n" in drift
    actions = out.split("kcplan will perform the following actions:")[1]
    assert f"  ~ update {a}\n      ~ tasks.max: \"2\" -> \"1\"\n" in actions
    assert f"  ~ resume {b} (PAUSED -> RUNNING)\n" in actions
    assert f"  + create {c}\n" in actions
    assert "Plan: 1 to add, 2 to change, 0 to destroy.\n" in out
    doc = json.loads(ok(project.kcplan("plan", "-e", "dev", "--json")))
    assert {d["name"]: d["kinds"] for d in doc["drift"]} == {a: ["config"], b: ["run_state"], c: ["deleted"]}


def test_unmanaged_connectors_are_listed_and_never_touched(project: Project, unique_name: Callable[..., str]) -> None:
    mine, manual, clash = unique_name("mine"), unique_name("manual"), unique_name("clash")
    project.declare(mine, project.source(mine))
    project.declare(clash, project.source(clash, topic="ours"))
    put_config(project.worker, manual, project.source(manual))
    put_config(project.worker, clash, project.source(clash, topic="theirs"))
    before = {n: live_config(project.worker, n) for n in (manual, clash)}
    out = ok(project.kcplan("plan", "-e", "dev", "--out", str(project.root / "plan.out")))
    unmanaged = out.split("not managed by kcplan (left untouched):\n")[1].split("\n\n")[0].split()
    assert manual in unmanaged and clash not in unmanaged and mine not in unmanaged
    assert f"  ! {clash} (declared in environments/dev/connectors/{clash}.jsonnet): --adopt would update it\n" \
           f"      ~ topic: \"theirs\" -> \"ours\"\n" in out
    assert "Plan: 1 to add, 0 to change, 0 to destroy.\n" in out
    doc = json.loads(ok(project.kcplan("show", str(project.root / "plan.out"), "--json")))
    assert [c["name"] for c in doc["changes"]] == [mine]
    assert manual in doc["unmanaged"] and [c["name"] for c in doc["conflicts"]] == [clash]
    assert {n: live_config(project.worker, n) for n in (manual, clash)} == before
    adopt = ok(project.kcplan("plan", "-e", "dev", "--adopt"))
    assert f"  ~ update {clash} (taking over an unmanaged connector)\n" in adopt


def test_deleted_file_plans_a_delete_only_for_the_managed_connector(
        project: Project, unique_name: Callable[..., str]) -> None:
    managed, unmanaged = unique_name("managed"), unique_name("unmanaged")
    files = [project.declare(n, project.source(n)) for n in (managed, unmanaged)]
    for name in (managed, unmanaged):
        put_config(project.worker, name, project.source(name))
    ok(project.kcplan("import", "-e", "dev", managed))
    for path in files:
        path.unlink()
    out = ok(project.kcplan("plan", "-e", "dev", "--detailed-exitcode"), 2)
    assert f"  - delete {managed} (no longer declared in the code)\n" in out
    assert f"delete {unmanaged}" not in out
    assert f"    {unmanaged}\n" in out.split("not managed by kcplan")[1]
    assert "Plan: 0 to add, 0 to change, 1 to destroy.\n" in out
    assert live_config(project.worker, managed) is not None  # plan deleted nothing


def test_prevent_destroy_fails_the_plan(project: Project, unique_name: Callable[..., str]) -> None:
    name = unique_name("keep")
    path = project.declare(name, {"name": name, "config": project.source(name),
                                  "lifecycle": {"prevent_destroy": True}})
    put_config(project.worker, name, project.source(name))
    ok(project.kcplan("import", "-e", "dev", name))
    path.unlink()
    result = project.kcplan("plan", "-e", "dev", "--detailed-exitcode")
    ok(result, 1)
    assert result.stderr.splitlines()[-3:] == [
        "Error: lifecycle.prevent_destroy forbids this plan:",
        f"  '{name}' would be deleted: it is no longer declared in the code",
        "To destroy on purpose, set prevent_destroy: false in the connector's file and apply that first; "
        "to stop managing a connector without touching it, run 'kcplan state rm NAME'.",
    ]


HOLDER = """
import sys, time
from pathlib import Path
from kcplan.state.store import StateStore
with StateStore(Path(sys.argv[1])).locked("apply"):
    print("locked", flush=True)
    time.sleep(float(sys.argv[2]))
"""


def test_a_concurrent_plan_is_refused_by_the_lock_or_waits_for_it(
        project: Project, unique_name: Callable[..., str]) -> None:
    name = unique_name()
    project.declare(name, project.source(name))
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(project.state_path), "3"],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "locked\n"
        refused = project.kcplan("plan", "-e", "dev")
        ok(refused, 1)
        assert refused.stdout == ""
        assert f"Error: the state {project.state_path} is locked by 'kcplan apply' (pid {holder.pid} on host " \
               in refused.stderr
        waited = project.kcplan("plan", "-e", "dev", "--lock-timeout", "60")
        assert holder.poll() is not None  # it could only go on once the holder was gone
        assert f"  + create {name}\n" in ok(waited)
    finally:
        holder.kill()
        holder.wait(timeout=30)


def test_no_plaintext_secret_reaches_state_plan_file_or_output(
        project: Project, unique_name: Callable[..., str]) -> None:
    name, other = unique_name("secret"), unique_name("secret-new")
    code_secret, live_secret, new_secret = "Code-S3cr3t-xyz", "Live-S3cr3t-abc", "New-S3cr3t-qrs"
    project.declare(name, project.source(name, **{"db.password": code_secret}))
    project.declare(other, project.source(other, **{"api.key": new_secret}))
    put_config(project.worker, name, project.source(name, **{"db.password": live_secret}))
    outputs = [project.kcplan("plan", "-e", "dev")]  # a conflict: shows the masked diff
    outputs.append(project.kcplan("import", "-e", "dev", name))
    plan_file = project.root / "plan.out"
    outputs += [project.kcplan("plan", "-e", "dev", "--out", str(plan_file)),
                project.kcplan("plan", "-e", "dev", "--json"),
                project.kcplan("plan", "-e", "dev", "--refresh=false"),
                project.kcplan("show", str(plan_file)),
                project.kcplan("show", str(plan_file), "--json"),
                project.kcplan("state", "list", "-e", "dev"),
                project.kcplan("state", "show", name, "-e", "dev")]
    for result in outputs:
        ok(result)
    text = "".join(r.stdout + r.stderr for r in outputs)
    text += project.state_path.read_text() + plan_file.read_text()
    for secret in (code_secret, live_secret, new_secret):
        assert secret not in text
    assert "(sensitive value)" in outputs[2].stdout  # the secret's change is shown, masked
    assert f"  ~ update {name}\n      ~ db.password: (sensitive value)\n" in outputs[2].stdout
    assert stat.S_IMODE(plan_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(project.state_path.stat().st_mode) == 0o600
    recorded = json.loads(project.state_path.read_text())["connectors"][name]["config"]["db.password"]
    assert recorded.startswith("hmac-sha256:")


def test_show_prints_the_saved_plan_like_plan_did(project: Project, unique_name: Callable[..., str]) -> None:
    name = unique_name()
    project.declare(name, project.source(name))
    plan_file = project.root / "plan.out"
    planned = ok(project.kcplan("plan", "-e", "dev", "--out", str(plan_file)))
    assert planned.endswith(f"\nSaved the plan to: {plan_file}\nTo apply exactly this plan, run: kcplan apply "
                            f"{plan_file}\n")
    shown = ok(project.kcplan("show", str(plan_file)))
    assert planned.startswith(shown)
    as_json = json.loads(ok(project.kcplan("plan", "-e", "dev", "--json")))
    assert json.loads(ok(project.kcplan("show", str(plan_file), "--json"))) == as_json
    plan_file.write_text(plan_file.read_text().replace('"create"', '"delete"'))
    broken = project.kcplan("show", str(plan_file))
    ok(broken, 1)
    assert broken.stderr == (f"Error: the plan file {plan_file} was changed after kcplan wrote it (checksum "
                             "mismatch)\nNever edit a plan file. Make a new one with 'kcplan plan -e ENV --out "
                             "FILE'.\n")


def test_refresh_false_does_not_contact_the_cluster(project: Project, unique_name: Callable[..., str]) -> None:
    name = unique_name()
    project.declare(name, project.source(name))
    dead = {"KCPLAN_CONNECT_URL": "http://127.0.0.1:9"}
    out = ok(project.kcplan("plan", "-e", "dev", "--refresh=false", "--detailed-exitcode", env=dead), 2)
    assert out.startswith('Plan for environment "dev" against the state alone')
    assert f"  + create {name}\n" in out
    failed = project.kcplan("plan", "-e", "dev", env=dead)
    ok(failed, 1)
    assert failed.stderr.startswith("Error: ") and "Traceback" not in failed.stderr


def test_target_restricts_the_plan(project: Project, unique_name: Callable[..., str]) -> None:
    a, b = unique_name("alpha"), unique_name("beta")
    project.declare(a, project.source(a))
    project.declare(b, project.source(b))
    out = ok(project.kcplan("plan", "-e", "dev", "--target", "*alpha*", "--target", "nothing-like-this"))
    assert f"+ create {a}\n" in out and f"create {b}" not in out
    assert "Plan: 1 to add, 0 to change, 0 to destroy.\n" in out
    assert "Warning: --target 'nothing-like-this' matches no connector\n" in out


def test_import_and_state_commands(project: Project, unique_name: Callable[..., str]) -> None:
    name, ghost = unique_name("imp"), unique_name("ghost")
    project.declare(name, project.source(name, topic="declared"))
    put_config(project.worker, name, project.source(name, topic="live"))
    missing = project.kcplan("import", "-e", "dev", ghost)
    ok(missing, 1)
    assert missing.stderr.startswith(f"Error: not on the cluster: {ghost}\n")
    out = ok(project.kcplan("import", "-e", "dev", name))
    assert out.startswith(f"Imported 1 connector into the state of 'dev' (serial 1): {name}\n")
    assert f"  ~ update {name}\n      ~ topic: \"live\" -> \"declared\"\n" in out
    again = project.kcplan("import", "-e", "dev", name)
    assert ok(again) == "Nothing imported.\n" and f"{name}: already managed" in again.stderr
    listing = ok(project.kcplan("state", "list", "-e", "dev"))
    assert f"{name}  FileStreamSourceConnector  RUNNING" in listing
    shown = json.loads(ok(project.kcplan("state", "show", name, "-e", "dev")))
    assert shown["config"]["topic"] == "live" and shown["state"] == "RUNNING"
    ok(project.kcplan("state", "rm", "-e", "dev", name))
    assert json.loads(project.state_path.read_text())["connectors"] == {}
    assert json.loads(project.state_path.read_text())["serial"] == 2
    assert live_config(project.worker, name) is not None  # rm never touches the cluster
