"""kcplan apply against the REAL standalone Kafka Connect sandbox, run as a user would (python -m kcplan).

Each test builds its own project in a tmp dir whose environments/dev/kcplan.jsonnet points at the worker,
or at a fault-injecting proxy in front of it (tests/faultproxy.py) when the test must see every request
kcplan sends, delay them, or lose their answers. Hand-made changes are plain HTTP requests, like curl,
sent to the worker itself.
"""

from __future__ import annotations

import json
import os
import pty
import signal
import subprocess
import time
from collections.abc import Callable

import requests

from tests.applyproject import Project, as_strings, ok, writes
from tests.faultproxy import FaultProxy
from tests.helpers import wait_until

# -- apply a saved plan ----------------------------------------------------------------------------------

def test_fresh_apply_creates_every_connector_in_its_run_state_and_ends_healthy(
        project: Project, proxy: FaultProxy, unique_name: Callable[..., str]) -> None:
    a, b, paused, stopped = (unique_name(h) for h in ("a", "b", "paused", "stopped"))
    secret = "Apply-S3cret-9f2"
    project.declare(a, project.source(a, **{"db.password": secret}))
    project.declare(b, project.source(b))
    project.declare(paused, {"name": paused, "config": project.source(paused), "state": "PAUSED"})
    project.declare(stopped, {"name": stopped, "config": project.source(stopped), "state": "STOPPED"})
    project.plan()
    proxy.seen.clear()
    result = project.apply()
    assert "Apply complete: 4 added, 0 changed, 0 destroyed" in result.stdout
    for line in (f"  + {a}: created (", f"  + {paused}: created (PAUSED) (", f"  + {stopped}: created (STOPPED) ("):
        assert line in result.stderr
    assert "[4/4]" in result.stderr
    # initial_state: one POST per connector, never a pause/stop afterwards
    assert sorted(writes(proxy)) == [("POST", "/connectors")] * 4
    assert {n: project.live_state(n) for n in (a, b, paused, stopped)} == \
        {a: "RUNNING", b: "RUNNING", paused: "PAUSED", stopped: "STOPPED"}
    state = project.state()
    assert sorted(state) == sorted([a, b, paused, stopped])
    assert state[paused]["state"] == "PAUSED" and state[stopped]["state"] == "STOPPED"
    assert state[a]["config"]["db.password"].startswith("hmac-sha256:")
    assert project.live_config(a) == as_strings(project.source(a, **{"db.password": secret}))
    for text in (result.stdout, result.stderr, project.state_path.read_text()):
        assert secret not in text
    assert project.pending() == (0, project.pending()[1])


def test_update_and_delete_write_only_what_differs(
        project: Project, proxy: FaultProxy, unique_name: Callable[..., str]) -> None:
    keep, change, gone = unique_name("keep"), unique_name("change"), unique_name("gone")
    for name in (keep, change, gone):
        project.declare(name, project.source(name))
    project.plan()
    project.apply()
    project.declare(change, project.source(change, **{"tasks.max": 2}))
    (project.connectors / f"{gone}.jsonnet").unlink()
    out = project.plan()
    assert "Plan: 0 to add, 1 to change, 1 to destroy." in out
    proxy.seen.clear()
    result = project.apply()
    assert "Apply complete: 0 added, 1 changed, 1 destroyed" in result.stdout
    assert sorted(writes(proxy)) == [("DELETE", f"/connectors/{gone}"), ("PUT", f"/connectors/{change}/config")]
    assert result.stderr.index(f"  - {gone}: deleted") < result.stderr.index(f"  ~ {change}: updated")
    assert project.live_config(gone) is None
    assert project.live_config(change) == as_strings(project.source(change, **{"tasks.max": 2}))
    assert sorted(project.state()) == sorted([keep, change])
    assert project.state()[change]["config"]["tasks.max"] == "2"
    assert project.pending()[0] == 0


def test_run_state_changes_and_an_update_of_a_paused_connector(
        project: Project, proxy: FaultProxy, unique_name: Callable[..., str]) -> None:
    p, s = unique_name("p"), unique_name("s")
    project.declare(p, project.source(p))
    project.declare(s, project.source(s))
    project.plan()
    project.apply()
    project.declare(p, {"name": p, "config": project.source(p, topic="moved"), "state": "PAUSED"})
    project.declare(s, {"name": s, "config": project.source(s), "state": "STOPPED"})
    project.plan()
    proxy.seen.clear()
    result = project.apply()
    assert sorted(writes(proxy)) == [("PUT", f"/connectors/{p}/config"), ("PUT", f"/connectors/{p}/pause"),
                                     ("PUT", f"/connectors/{s}/stop")]
    assert f"  ~ {p}: paused (" in result.stderr and f"  ~ {s}: stopped (" in result.stderr
    assert project.live_state(p) == "PAUSED" and project.live_state(s) == "STOPPED"
    assert project.state()[p]["state"] == "PAUSED" and project.state()[p]["config"]["topic"] == "moved"
    assert project.pending()[0] == 0


def test_a_stale_plan_is_refused_before_any_write(
        project: Project, proxy: FaultProxy, unique_name: Callable[..., str]) -> None:
    a, b = unique_name("a"), unique_name("b")
    project.declare(a, project.source(a))
    project.declare(b, project.source(b))
    project.plan()
    project.apply()
    project.declare(a, project.source(a, **{"tasks.max": 2}))
    project.declare(b, project.source(b, topic="elsewhere"))
    project.plan()
    # by hand, after the plan: a's config changes, b is paused
    reply = requests.put(f"{project.worker}/connectors/{a}/config", timeout=60,
                         json=as_strings(project.source(a, **{"tasks.max": 3})))
    assert reply.status_code == 200
    assert requests.put(f"{project.worker}/connectors/{b}/pause", timeout=30).status_code == 202
    wait_until(lambda: project.live_state(b) == "PAUSED", f"{b} PAUSED")
    before = project.state_path.read_text()
    proxy.seen.clear()
    result = project.kcplan("apply", str(project.plan_file))
    ok(result, 1)
    assert f"Error: the saved plan {project.plan_file} is stale; nothing was changed:\n" in result.stderr
    assert f"  - connector '{a}': config was changed on the cluster since the plan\n" in result.stderr
    assert f"  - connector '{b}': run state changed on the cluster (RUNNING -> PAUSED) since the plan\n" \
        in result.stderr
    assert f"Run 'kcplan plan -e dev --out {project.plan_file}' again" in result.stderr
    assert writes(proxy) == [] and proxy.seen  # it read the cluster, and wrote nothing
    assert project.live_config(a) == as_strings(project.source(a, **{"tasks.max": 3}))
    assert project.state_path.read_text() == before


def test_a_changed_secret_in_the_code_makes_the_plan_stale(
        project: Project, proxy: FaultProxy, unique_name: Callable[..., str]) -> None:
    name = unique_name()
    project.declare(name, project.source(name, **{"db.password": "first-Secret-1"}))
    project.plan()
    project.declare(name, project.source(name, **{"db.password": "second-Secret-2"}))
    proxy.seen.clear()
    result = project.kcplan("apply", str(project.plan_file))
    ok(result, 1)
    assert f"  - connector '{name}': the code now renders a different value for db.password" in result.stderr
    assert "Secret-" not in result.stderr + result.stdout
    assert writes(proxy) == [] and project.live_config(name) is None and not project.state_path.exists()


def test_a_plan_applied_twice_is_refused_the_second_time(
        project: Project, proxy: FaultProxy, unique_name: Callable[..., str]) -> None:
    name = unique_name()
    project.declare(name, project.source(name))
    project.plan()
    project.apply("--no-verify")
    proxy.seen.clear()
    again = project.kcplan("apply", str(project.plan_file))
    ok(again, 1)
    assert "is stale; nothing was changed:\n  - a state file was created since the plan" in again.stderr
    project.declare(name, project.source(name, topic="t2"))
    project.plan()
    project.apply("--no-verify")
    third = project.kcplan("apply", str(project.plan_file))
    ok(third, 1)
    assert "  - the state changed since the plan (serial " in third.stderr
    assert "or this plan was applied already" in third.stderr
    assert [w for w in writes(proxy) if w[0] == "PUT"] == [("PUT", f"/connectors/{name}/config")]


def test_a_400_on_one_connector_does_not_stop_the_others(
        project: Project, proxy: FaultProxy, unique_name: Callable[..., str]) -> None:
    good1, bad, good2 = unique_name("good1"), unique_name("bad"), unique_name("good2")
    project.declare(good1, project.source(good1))
    project.declare(good2, project.source(good2))
    # valid offline, refused by the worker: topics and topics.regex are mutually exclusive
    project.declare(bad, project.sink(bad, "x", **{"topics.regex": "y.*"}))
    project.plan()
    result = project.apply(code=1)
    assert "Apply finished with errors: 2 added, 0 changed, 0 destroyed; 1 failed" in result.stdout
    assert f"  {bad} (create): POST /connectors failed with HTTP 400" in result.stdout
    assert "topics and topics.regex are mutually exclusive options, but both are set." in result.stdout
    assert f"  ! {bad}: create failed: " in result.stderr
    assert sorted(project.state()) == sorted([good1, good2])
    assert project.live_config(bad) is None
    code, out = project.pending()
    assert code == 2 and f"  + create {bad}\n" in out and "Plan: 1 to add, 0 to change, 0 to destroy." in out


def test_json_result_on_stdout_with_the_human_output_on_stderr(
        project: Project, proxy: FaultProxy, unique_name: Callable[..., str]) -> None:
    good, bad = unique_name("good"), unique_name("bad")
    project.declare(good, project.source(good, **{"database.password": "pw-json-canary"}))
    project.declare(bad, project.sink(bad, "x", **{"topics.regex": "y.*"}))
    project.plan()
    result = project.apply("--json", code=1)
    doc = json.loads(result.stdout)  # stdout is exactly one JSON document
    assert (doc["format_version"], doc["env"], doc["exit_code"]) == (1, "dev", 1)
    assert doc["apply"]["counts"] == {"added": 1, "changed": 0, "destroyed": 0, "adopted": 0, "forgotten": 0,
                                      "failed": 1}
    steps = {s["connector"]: s for s in doc["apply"]["steps"]}
    assert steps[good]["ok"] is True and steps[bad]["ok"] is False
    assert "topics and topics.regex are mutually exclusive" in steps[bad]["error"]
    assert [(h["connector"], h["verdict"], h["tasks_running"], h["tasks_total"]) for h in doc["health"]] == [
        (good, "healthy", 1, 1)]
    assert doc["rollback"] is None and doc["health_error"] is None
    assert "Apply finished with errors: 1 added" in result.stderr and f"  + {good}: created" in result.stderr
    assert "pw-json-canary" not in result.stdout + result.stderr


def test_a_failed_task_ends_with_exit_3_and_its_trace(
        project: Project, unique_name: Callable[..., str]) -> None:
    """A task that fails at start: a source whose producer config the worker rejects (the connector itself
    stays RUNNING). real-connect.md's JsonConverter sink fails only on its first record, after its
    consumer joined the group, after verification has seen it healthy: tests/integration/
    test_health.py covers that recipe with the health check alone."""
    good, bad = unique_name("good"), unique_name("bad")
    project.declare(good, project.source(good))
    project.declare(bad, project.source(bad, **{"producer.override.acks": "bogus"}))
    project.plan()
    result = project.apply(code=3)
    assert "Apply complete: 2 added" in result.stdout
    row = next(line for line in result.stdout.splitlines() if line.startswith(bad))
    assert "FAILED" in row and "RUNNING" in row and "0/1" in row
    assert "org.apache.kafka.common.config.ConfigException: Invalid value bogus for configuration acks" in row
    assert "Verified: 1 healthy, 1 failed, 0 unverified." in result.stdout
    assert f"Applied, but not healthy: {bad} (FAILED)." in result.stdout
    assert "\tat org.apache.kafka" not in result.stdout  # one line per failure without --verbose
    assert sorted(project.state()) == sorted([good, bad])  # applied is applied: the state says so
    project.declare(bad, project.source(bad, **{"producer.override.acks": "all"}))
    project.plan()
    verbose = project.apply("--verbose", code=0)  # fixed: the update is verified healthy
    assert f"{bad}" in verbose.stdout and "Verified: 1 healthy, 0 failed, 0 unverified." in verbose.stdout


def test_verbose_shows_the_whole_trace(project: Project, unique_name: Callable[..., str]) -> None:
    bad = unique_name("bad")
    project.declare(bad, project.source(bad, **{"producer.override.acks": "bogus"}))
    project.plan()
    result = project.apply("--verbose", code=3)
    assert f"--- {bad} task 0 on " in result.stdout and "\tat org.apache.kafka" in result.stdout


def test_rollback_restores_the_previous_config_and_deletes_new_connectors_that_failed(
        project: Project, proxy: FaultProxy, unique_name: Callable[..., str]) -> None:
    topic = unique_name("t")
    old, new, fine = unique_name("old"), unique_name("new"), unique_name("fine")
    project.declare(old, project.sink(old, topic))
    project.declare(fine, project.source(fine))
    project.plan()
    project.apply()
    good_config = project.live_config(old)
    before_state = project.state()[old]["config"]
    broken = str(project.root / "missing-dir" / "out.txt")  # the sink task cannot open it: FAILED
    project.declare(old, project.sink(old, topic, file=broken))
    project.declare(new, project.sink(new, topic, file=broken))
    project.declare(fine, project.source(fine, topic="other"))
    project.plan()
    result = project.apply("--rollback-on-failure", code=3)
    assert "Rolling back 2 connector(s) that ended FAILED (--rollback-on-failure)" in result.stderr
    assert f"  ~ {old}: rollback: previous config restored (" in result.stderr
    assert f"  - {new}: rollback: deleted (" in result.stderr
    assert "Rollback complete: 1 restored to their previous config, 1 created by this apply deleted" in result.stdout
    assert project.live_config(old) == good_config and project.live_config(new) is None
    assert project.live_config(fine) == as_strings(project.source(fine, topic="other"))  # healthy: kept
    state = project.state()
    assert state[old]["config"] == before_state and new not in state
    assert state[fine]["config"]["topic"] == "other"
    code, out = project.pending()  # the code still wants the broken configs
    assert code == 2 and f"  ~ update {old}\n" in out and f"  + create {new}\n" in out


# -- answers lost after the write: read back, never write twice ------------------------------------------

def test_lost_answers_are_resolved_by_reading_back_without_a_second_write(
        project: Project, proxy: FaultProxy, unique_name: Callable[..., str]) -> None:
    landed, upd, gone = unique_name("landed"), unique_name("upd"), unique_name("gone")
    for name in (upd, gone):
        project.declare(name, project.source(name))
    project.plan()
    project.apply("--no-verify")
    project.declare(landed, project.source(landed))
    project.declare(upd, project.source(upd, topic="t2"))
    (project.connectors / f"{gone}.jsonnet").unlink()
    project.plan()
    proxy.seen.clear()
    # every write happens, its answer is lost (500 Request timed out / connection dropped)
    proxy.add("POST", r"^/connectors$", "timeout500")
    proxy.add("PUT", rf"^/connectors/{upd}/config$", "drop")
    proxy.add("DELETE", rf"^/connectors/{gone}$", "timeout500")
    result = project.apply()
    assert result.stderr.count("answer lost; read back: it had happened") == 3, result.stderr
    assert sorted(writes(proxy)) == [("DELETE", f"/connectors/{gone}"), ("POST", "/connectors"),
                                     ("PUT", f"/connectors/{upd}/config")]
    assert project.live_state(landed) == "RUNNING" and project.live_config(gone) is None
    assert project.live_config(upd) == as_strings(project.source(upd, topic="t2"))
    assert sorted(project.state()) == sorted([landed, upd])
    assert project.pending()[0] == 0


def test_a_write_that_never_arrived_is_sent_once_more(
        project: Project, proxy: FaultProxy, unique_name: Callable[..., str]) -> None:
    name = unique_name()
    project.declare(name, project.source(name))
    project.plan()
    proxy.add("POST", r"^/connectors$", "answer", status=504, body={"error_code": 504, "message": "gateway"})
    result = project.apply()
    assert f"  + {name}: created (" in result.stderr
    assert "answer lost; read back: not done; written once more" in result.stderr
    assert writes(proxy) == [("POST", "/connectors")] * 2 and proxy.faults_done("answer") == 1
    assert project.live_state(name) == "RUNNING" and sorted(project.state()) == [name]


# -- interrupts ------------------------------------------------------------------------------------------

def start_slow_apply(project: Project, proxy: FaultProxy, names: list[str],
                     *extra: str, delay: float = 1.5) -> tuple[subprocess.Popen[str], list[str]]:
    for name in names:
        project.declare(name, project.source(name))
    project.plan()
    proxy.add("POST", r"^/connectors$", "delay", seconds=delay, times=len(names))
    proc = subprocess.Popen(project.argv("apply", str(project.plan_file), "--parallelism", "2", "--no-verify",
                                         *extra),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=project.env())
    seen: list[str] = []
    assert proc.stderr is not None
    while sum("created" in line for line in seen) < 2:
        line = proc.stderr.readline()
        assert line, f"apply ended early: {''.join(seen)}"
        seen.append(line)
    return proc, seen


def test_ctrl_c_finishes_the_running_writes_saves_state_and_plan_shows_the_rest(
        project: Project, proxy: FaultProxy, unique_name: Callable[..., str]) -> None:
    names = [unique_name(f"c{i}") for i in range(10)]
    proc, _ = start_slow_apply(project, proxy, names)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 1, out + err
    assert "Interrupted (SIGINT): starting nothing new; waiting for " in err  # the steps under way
    assert "Apply interrupted: " in out and "Not started: " in out and "Traceback" not in err
    created = {n for n in names if project.live_config(n) is not None}
    assert 2 <= len(created) < len(names)
    assert set(project.state()) == created  # the state is exactly what happened
    code, plan = project.pending()
    assert code == 2
    planned = {line.split("+ create ")[1] for line in plan.splitlines() if "+ create " in line}
    assert planned == set(names) - created
    project.plan()
    project.apply("--no-verify")
    assert project.pending()[0] == 0


def test_a_second_ctrl_c_exits_at_once_and_the_next_apply_converges(
        project: Project, proxy: FaultProxy, unique_name: Callable[..., str]) -> None:
    names = [unique_name(f"d{i}") for i in range(8)]
    # 4 s per create: the two under way are still running when the second signal comes, even on a busy machine
    proc, _ = start_slow_apply(project, proxy, names, delay=4.0)
    proc.send_signal(signal.SIGINT)
    assert proc.stderr is not None
    first = ""
    while "Interrupted (SIGINT)" not in first:
        line = proc.stderr.readline()
        assert line, f"apply ended before it saw the first signal: {first}"
        first += line
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 1
    assert "again: exiting at once" in err and "Traceback" not in err
    json.loads(project.state_path.read_text())  # always a whole state file
    time.sleep(2)  # the requests it left behind land meanwhile
    project.plan()
    project.apply("--no-verify")
    assert project.pending()[0] == 0
    assert set(project.state()) == set(names)


def test_sigterm_works_like_ctrl_c(project: Project, proxy: FaultProxy, unique_name: Callable[..., str]) -> None:
    names = [unique_name(f"e{i}") for i in range(6)]
    proc, _ = start_slow_apply(project, proxy, names)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 1 and "Interrupted (SIGTERM)" in err and "Apply interrupted" in out
    assert set(project.state()) == {n for n in names if project.live_config(n) is not None}


def test_a_second_apply_at_the_same_time_names_the_lock_holder(
        project: Project, proxy: FaultProxy, unique_name: Callable[..., str]) -> None:
    names = [unique_name(f"f{i}") for i in range(4)]
    proc, _ = start_slow_apply(project, proxy, names)
    try:
        other = project.kcplan("apply", str(project.plan_file))
        ok(other, 1)
        assert f"is locked by 'kcplan apply' (pid {proc.pid} on host" in other.stderr
    finally:
        out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, out + err


# -- apply -e ENV: plan, show, confirm ------------------------------------------------------------------

def test_apply_without_a_plan_file_needs_a_terminal_or_auto_approve(
        project: Project, proxy: FaultProxy, unique_name: Callable[..., str]) -> None:
    name = unique_name()
    project.declare(name, project.source(name))
    refused = project.kcplan("apply", "-e", "dev")
    ok(refused, 1)
    assert "stdin is not a terminal" in refused.stderr and "--auto-approve" in refused.stderr
    assert proxy.seen == []  # refused before talking to the cluster
    result = project.kcplan("apply", "-e", "dev", "--auto-approve", "--verify-timeout", "90")
    out = ok(result)
    assert f"  + create {name}\n" in out and "Apply complete: 1 added" in out
    assert project.live_state(name) == "RUNNING"
    again = ok(project.kcplan("apply", "-e", "dev", "--auto-approve"))
    assert "No changes. The cluster matches the configuration." in again


def run_in_terminal(argv: list[str], env: dict[str, str], answer: str) -> tuple[int, str]:
    """Run with stdin/stdout on a pseudo-terminal, type ``answer`` at the prompt; (exit code, output)."""
    pid, fd = pty.fork()
    if pid == 0:  # the child
        os.execve(argv[0], argv, env)
    output = b""
    answered = False
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            break
        if not chunk:
            break
        output += chunk
        if not answered and b"Enter a value:" in output:
            os.write(fd, answer.encode() + b"\n")
            answered = True
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    return os.waitstatus_to_exitcode(status), output.decode(errors="replace")


def test_apply_asks_and_only_yes_applies(project: Project, unique_name: Callable[..., str]) -> None:
    name = unique_name()
    project.declare(name, project.source(name))
    argv = project.argv("apply", "-e", "dev", "--no-verify", "--no-color")
    code, out = run_in_terminal(argv, project.env(), "y")
    assert code == 1 and "Do you want to perform these actions? Only 'yes' will be accepted." in out
    assert "Apply cancelled; nothing was changed." in out and project.live_config(name) is None
    code, out = run_in_terminal(argv, project.env(), "yes")
    assert code == 0 and "Apply complete: 1 added" in out and project.live_config(name) is not None
