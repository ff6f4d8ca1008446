"""kcplan heal against the REAL standalone Kafka Connect sandbox, run as a user would (python -m kcplan).

The failure is the worker's own: a FileStreamSource with ``producer.override.acks=bogus`` has its task
FAILED at start (a ConfigException), again after every restart. The project talks to the worker
through a FaultProxy (the ``project`` fixture), which records every request, so the restarts heal
sends are counted exactly. Time across runs (the backoff schedule, expiry) is tested in the pure layer
(tests/unit/test_heal_policy.py); here a second run right after the first must wait.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from kcplan.state import lock as state_lock
from tests.applyproject import STATUS_DEADLINE, Project, connector_status, make_file_source, task_failed
from tests.faultproxy import FaultProxy, closed_port_url
from tests.helpers import wait_until, write_settings


def manage(project: Project, *names: str) -> None:
    result = project.kcplan("import", "-e", "dev", *names)
    assert result.returncode == 0, result.stderr


def heal(project: Project, *args: str) -> tuple[int, str, str]:
    result = project.kcplan("heal", "-e", "dev", *args)
    return result.returncode, result.stdout, result.stderr


def restarts(proxy: FaultProxy, name: str) -> list[tuple[str, int | None]]:
    return [(s.path, s.status) for s in proxy.seen if s.method == "POST" and s.path.startswith(
        f"/connectors/{name}/restart")]


def attempts_file(project: Project) -> Path:
    return project.state_path.with_name(project.state_path.name + ".heal.json")


def test_restarts_a_failed_managed_task_then_waits_for_the_backoff(
        project: Project, proxy: FaultProxy, tmp_path: Path, unique_name: Callable[..., str]) -> None:
    bad = unique_name("bad")
    make_file_source(project, tmp_path, bad, failing=True)
    manage(project, bad)

    code, out, err = heal(project, "--connector", bad)
    assert (code, err) == (3, ""), out
    assert restarts(proxy, bad) == [(f"/connectors/{bad}/restart?includeTasks=true&onlyFailed=true", 202)]
    assert out.splitlines()[0].split() == ["NAME", "ACTION", "FAILED", "DETAIL"]
    assert out.splitlines()[1].split()[:4] == [bad, "restarted", "task", "0"]
    assert "dev: 1 FAILED: 1 restarted, 0 waiting for their backoff, 0 given up." in out
    record = json.loads(attempts_file(project).read_text())
    entry = record["connectors"][bad]
    assert (record["format_version"], entry["restarts"], entry["tasks"], entry["connector_failed"]) == (1, 1, [0],
                                                                                                      False)
    assert attempts_file(project).stat().st_mode & 0o777 == 0o600
    # the worker did restart the task: it fails again, with the same ConfigException
    wait_until(lambda: task_failed(project.worker, bad), f"{bad} FAILED again", STATUS_DEADLINE, interval=0.3)
    assert "Invalid value bogus" in (connector_status(project.worker, bad) or {})["tasks"][0]["trace"]

    code, out, err = heal(project, "--connector", bad)
    assert (code, err) == (3, "")
    assert len(restarts(proxy, bad)) == 1  # 2 minutes have not passed: no second restart
    assert out.splitlines()[1].split()[:2] == [bad, "waiting"]
    assert "1 restart made; next due" in out
    assert json.loads(attempts_file(project).read_text())["connectors"][bad] == entry

    code, out, _ = heal(project, "--connector", bad, "--max-restarts", "1", "--format", "json")
    assert code == 3
    (item,) = json.loads(out)["connectors"]
    assert (item["name"], item["action"], item["restarts"], item["failed_tasks"]) == (bad, "gave_up", 1, [0])
    assert len(restarts(proxy, bad)) == 1


def test_dry_run_restarts_nothing_and_writes_nothing(
        project: Project, proxy: FaultProxy, tmp_path: Path, unique_name: Callable[..., str]) -> None:
    bad = unique_name("bad")
    make_file_source(project, tmp_path, bad, failing=True)
    manage(project, bad)
    code, out, err = heal(project, "--connector", bad, "--dry-run")
    assert (code, err) == (3, "")
    assert out.splitlines()[1].split()[:3] == [bad, "would", "restart"]
    assert "Dry run: nothing restarted, nothing recorded." in out
    assert restarts(proxy, bad) == []
    assert not attempts_file(project).exists()


def test_unmanaged_failed_connector_is_untouched_and_formats_parse(
        project: Project, proxy: FaultProxy, tmp_path: Path, unique_name: Callable[..., str]) -> None:
    mine, theirs, fine = unique_name("mine"), unique_name("theirs"), unique_name("fine")
    make_file_source(project, tmp_path, mine, failing=True)
    make_file_source(project, tmp_path, theirs, failing=True)
    make_file_source(project, tmp_path, fine, failing=False)
    manage(project, mine, fine)

    code, out, _ = heal(project, "--connector", mine, "--connector", theirs, "--connector", fine,
                        "--format", "prometheus")
    assert code == 3
    assert restarts(proxy, theirs) == [] and len(restarts(proxy, mine)) == 1
    samples = {line.rsplit(" ", 1)[0]: line.rsplit(" ", 1)[1] for line in out.splitlines()
               if line and not line.startswith("#")}
    assert samples['kcplan_heal_check_success{env="dev"}'] == "1"
    assert samples['kcplan_heal_failed_connectors{env="dev"}'] == "1"
    assert samples['kcplan_heal_restarted_connectors{env="dev"}'] == "1"
    assert samples[f'kcplan_heal_connector_restarts{{env="dev",connector="{mine}"}}'] == "1"
    assert not any(theirs in key for key in samples)
    assert "# TYPE kcplan_heal_connector_failed gauge" in out

    code, out, _ = heal(project, "--connector", mine, "--connector", theirs, "--format", "json")
    assert code == 3
    report = json.loads(out)
    by_name = {c["name"]: c for c in report["connectors"]}
    assert (by_name[mine]["action"], by_name[theirs]["action"], by_name[theirs]["managed"]) == (
        "wait", "unmanaged", False)
    assert report["counts"] == {"restart": 0, "wait": 1, "gave_up": 0, "unmanaged": 1}
    assert restarts(proxy, theirs) == []
    assert theirs not in json.loads(attempts_file(project).read_text())["connectors"]


def test_nothing_failed_exits_0(project: Project, proxy: FaultProxy, tmp_path: Path,
                                unique_name: Callable[..., str]) -> None:
    fine = unique_name("fine")
    make_file_source(project, tmp_path, fine, failing=False)
    manage(project, fine)
    code, out, err = heal(project, "--connector", fine)
    assert (code, out, err) == (0, "dev: nothing FAILED among the connectors heal looks after.\n", "")
    assert [s for s in proxy.seen if s.method == "POST"] == []


def test_output_file_is_written_atomically_for_node_exporter(project: Project, tmp_path: Path,
                                                            unique_name: Callable[..., str]) -> None:
    fine = unique_name("fine")
    make_file_source(project, tmp_path, fine, failing=False)
    manage(project, fine)
    report = tmp_path / "textfile" / "kcplan_heal_dev.prom"
    report.parent.mkdir()
    code, out, err = heal(project, "--connector", fine, "--format", "prometheus", "--output", str(report))
    assert (code, out, err) == (0, "", "")
    assert 'kcplan_heal_check_success{env="dev"} 1\n' in report.read_text()
    assert report.stat().st_mode & 0o777 == 0o644
    assert [p.name for p in report.parent.iterdir()] == [report.name]  # no temp file left

    code, out, err = heal(project, "--output", str(report.parent))
    assert (code, out) == (1, "")
    assert err == (f"Error: --output {report.parent} is a folder\n"
                   "Give a file name, e.g. --output /var/lib/node_exporter/textfile/kcplan.prom.\n")


def test_errors_are_one_message_and_exit_1(project: Project, tmp_path: Path,
                                           unique_name: Callable[..., str]) -> None:
    fine = unique_name("fine")
    make_file_source(project, tmp_path, fine, failing=False)
    manage(project, fine)

    attempts_file(project).write_text("{not json")
    code, out, err = heal(project)
    assert (code, out) == (1, "")
    assert err.startswith(f"Error: cannot read heal's attempts file {attempts_file(project)}: ")
    assert "Traceback" not in err and "delete" in err
    attempts_file(project).unlink()

    lock_path = project.state_path.with_name(project.state_path.name + ".lock")
    with state_lock.acquire(lock_path, "apply"):
        code, out, err = heal(project)
    assert code == 1 and err.startswith(f"Error: the state {project.state_path} is locked by 'kcplan apply'")
    assert "Traceback" not in err

    write_settings(project.root, f"{{ connect_url: '{closed_port_url()}' }}\n")
    code, out, err = heal(project, "--format", "prometheus")
    assert code == 1 and err.startswith("Error: ") and "Traceback" not in err
    assert 'kcplan_heal_check_success{env="dev"} 0\n' in out
