"""`kcplan state ...`, `kcplan show` and `kcplan plan --refresh=false` as a user runs them, offline
(none of these contacts the cluster: the settings point at a port where nothing listens)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from kcplan.config.sensitive import SensitiveKeys
from kcplan.state.model import ManagedConnector, State
from kcplan.state.store import StateStore
from tests.helpers import SRC, run_kcplan, write_project

SALT = "ef" * 16
HOLDER = """
import sys, time
from pathlib import Path
from kcplan.state.store import StateStore
with StateStore(Path(sys.argv[1])).locked("apply"):
    print("locked", flush=True)
    time.sleep(120)
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return write_project(tmp_path, "{ connect_url: 'http://127.0.0.1:9' }\n")


@pytest.fixture
def hold_lock(project: Path) -> Iterator[Callable[[], subprocess.Popen[str]]]:
    """Starts another process that holds the project's state lock (stopped after the test)."""
    started: list[subprocess.Popen[str]] = []

    def start() -> subprocess.Popen[str]:
        proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(state_path(project))],
                                stdout=subprocess.PIPE, text=True)
        started.append(proc)
        assert proc.stdout is not None and proc.stdout.readline() == "locked\n"
        return proc

    yield start
    for proc in started:
        proc.kill()
        proc.wait(timeout=30)


def state_path(project: Path) -> Path:
    return project / ".kcplan" / "dev.state.json"


def kcplan(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    result = run_kcplan(project, *args, timeout=60)
    assert "Traceback" not in result.stderr
    return result


def write_state(project: Path, **records: dict[str, str]) -> State:
    store = StateStore(state_path(project))
    state = State(kafka_cluster_id="cluster-A").with_salt(SALT)
    for name, config in records.items():
        state = state.with_connector(ManagedConnector.record(
            name, {"connector.class": SRC, **config}, sensitive=SensitiveKeys(), salt=SALT,
            prevent_destroy=name.startswith("keep"), applied_at="2025-01-01T00:00:00Z"))
    with store.locked("test"):
        return store.save(state)


def test_state_list_without_a_state(project: Path) -> None:
    result = kcplan(project, "state", "list", "-e", "dev")
    assert result.returncode == 0
    assert result.stdout == (f"No state yet for environment 'dev' ({state_path(project)} does not exist): "
                             "kcplan manages no connectors there.\n")


def test_state_list_and_show(project: Path) -> None:
    saved = write_state(project, alpha={"topic": "a", "db.password": "PLAIN-1"}, keep_me={"topic": "k"})
    result = kcplan(project, "state", "list", "-e", "dev")
    assert result.returncode == 0
    assert result.stdout == (
        f"State {state_path(project)} (lineage {saved.lineage}, serial 1, Kafka cluster cluster-A): "
        "2 managed connectors\n"
        "\n"
        "NAME     CLASS                      STATE    PREVENT_DESTROY    APPLIED_AT\n"
        "alpha    FileStreamSourceConnector  RUNNING  no                 2025-01-01T00:00:00Z\n"
        "keep_me  FileStreamSourceConnector  RUNNING  yes                2025-01-01T00:00:00Z\n")
    shown = kcplan(project, "state", "show", "alpha", "-e", "dev")
    assert shown.returncode == 0
    assert json.loads(shown.stdout) == {
        "name": "alpha",
        "config": {"connector.class": SRC, "db.password": "(sensitive value)", "name": "alpha", "topic": "a"},
        "state": "RUNNING", "prevent_destroy": False, "applied_at": "2025-01-01T00:00:00Z"}
    assert "PLAIN-1" not in shown.stdout + state_path(project).read_text()


def test_state_show_and_rm_of_unknown_names(project: Path) -> None:
    write_state(project, alpha={})
    for args in (("state", "show", "nope"), ("state", "rm", "alpha", "nope")):
        result = kcplan(project, *args, "-e", "dev")
        assert result.returncode == 1
        assert result.stderr == ("Error: not managed in environment 'dev': nope\n"
                                 "Managed connectors: alpha ('kcplan state list').\n")
    assert sorted(json.loads(state_path(project).read_text())["connectors"]) == ["alpha"]


def test_state_rm_writes_a_new_serial_and_keeps_a_backup(project: Path) -> None:
    write_state(project, alpha={}, beta={})
    result = kcplan(project, "state", "rm", "-e", "dev", "alpha")
    assert result.returncode == 0
    assert result.stdout == ("Removed from the state of 'dev' (serial 2): alpha.\n"
                             "The connectors on the cluster are untouched; kcplan now lists them as not managed.\n")
    doc = json.loads(state_path(project).read_text())
    assert (doc["serial"], sorted(doc["connectors"])) == (2, ["beta"])
    backup = json.loads((state_path(project).parent / "dev.state.json.backup").read_text())
    assert (backup["serial"], sorted(backup["connectors"])) == (1, ["alpha", "beta"])


def test_state_rm_is_refused_while_another_kcplan_holds_the_lock(
        project: Path, hold_lock: Callable[[], subprocess.Popen[str]]) -> None:
    write_state(project, alpha={})
    holder = hold_lock()
    result = kcplan(project, "state", "rm", "-e", "dev", "alpha")
    assert result.returncode == 1
    assert result.stderr.startswith(f"Error: the state {state_path(project)} is locked by 'kcplan apply' "
                                    f"(pid {holder.pid} on host ")
    assert sorted(json.loads(state_path(project).read_text())["connectors"]) == ["alpha"]


def test_force_unlock(project: Path, hold_lock: Callable[[], subprocess.Popen[str]]) -> None:
    holder = hold_lock()
    lock = state_path(project).with_name("dev.state.json.lock")
    refused = kcplan(project, "state", "force-unlock", "-e", "dev")
    assert refused.returncode == 1
    assert refused.stderr.startswith(f"Error: the state lock {lock} is held right now by 'kcplan apply' "
                                     f"(pid {holder.pid} on host ")
    forced = kcplan(project, "state", "force-unlock", "--force", "-e", "dev")
    assert forced.returncode == 0
    assert forced.stdout.startswith(f"Removed the lock {lock} held by a live process (last taken by 'kcplan apply' "
                                    f"(pid {holder.pid}")
    assert forced.stderr == "Warning: that process still runs and may still write the state.\n"
    assert not lock.exists()
    lock.write_text('{"pid": 1, "host": "old-host", "user": "u", "command": "plan", "since": "then"}')
    stale = kcplan(project, "state", "force-unlock", "-e", "dev")
    assert stale.stdout == (f"Removed the stale lock file {lock} (last taken by 'kcplan plan' (pid 1 on host "
                            "old-host, user u) since then); nobody held it.\n")
    assert kcplan(project, "state", "force-unlock", "-e", "dev").stdout == (
        f"The state {state_path(project)} is not locked.\n")


def test_state_without_a_subcommand(project: Path) -> None:
    result = kcplan(project, "state", "-e", "dev")
    assert result.returncode == 1 and result.stderr.startswith("Error: 'kcplan state' needs a subcommand")


def test_plan_without_refresh_saves_a_plan_that_show_prints_alike(project: Path) -> None:
    write_state(project, alpha={"topic": "a", "db.password": "OLD-PLAIN"}, gone={})
    (project / "environments" / "dev" / "connectors" / "alpha.jsonnet").write_text(json.dumps(
        {"name": "alpha", "connector.class": SRC, "topic": "b", "db.password": "NEW-PLAIN"}))
    plan_file = project / "plan.out"
    result = kcplan(project, "plan", "-e", "dev", "--refresh=false", "--out", str(plan_file), "--detailed-exitcode")
    assert result.returncode == 2, result.stderr
    shown = kcplan(project, "show", str(plan_file))
    assert shown.returncode == 0
    assert result.stdout == shown.stdout + (f"\nSaved the plan to: {plan_file}\n"
                                            f"To apply exactly this plan, run: kcplan apply {plan_file}\n")
    assert shown.stdout == (
        'Plan for environment "dev" against the state alone (--refresh=false: the cluster was not contacted).\n'
        "\n"
        "kcplan will perform the following actions:\n"
        "\n"
        "  ~ update alpha\n"
        "      ~ db.password: (sensitive value)\n"
        '      ~ topic: "a" -> "b"\n'
        "\n"
        "  - delete gone (no longer declared in the code)\n"
        "\n"
        "Plan: 0 to add, 1 to change, 1 to destroy.\n")
    everything = result.stdout + result.stderr + shown.stdout + plan_file.read_text()
    assert "OLD-PLAIN" not in everything and "NEW-PLAIN" not in everything
    assert json.loads(state_path(project).read_text())["serial"] == 1  # plan never writes state


def test_plan_refused_by_prevent_destroy_writes_no_plan_file(project: Path) -> None:
    write_state(project, keep_db={"topic": "k"})
    result = kcplan(project, "plan", "-e", "dev", "--refresh=false", "--out", str(project / "plan.out"))
    assert result.returncode == 1
    assert "Error: lifecycle.prevent_destroy forbids this plan:\n  'keep_db' would be deleted" in result.stderr
    assert not (project / "plan.out").exists()


@pytest.mark.parametrize(("content", "message"), [
    (b'{"kind": "kcplan-plan", "format', "is not valid JSON (truncated or edited?)"),
    (b'{"some": "json"}', "is not a kcplan plan file"),
])
def test_show_of_a_broken_plan_file(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "plan.out"
    path.write_bytes(content)
    result = kcplan(tmp_path, "show", str(path))
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.startswith("Error: ") and message in result.stderr
    assert result.stderr.rstrip().endswith("Make a new one with 'kcplan plan -e ENV --out FILE'.")
