"""Health verification against the REAL Kafka Connect workers (standalone, and the 2-worker cluster).

Failures come from the worker itself: a source task whose producer config is invalid fails at start
(``producer.override.acks=bogus``: ConfigException), and a sink with JsonConverter reading plain text
fails on its first record (a converter that cannot read plain-text records).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from kcplan.apply.health import Expectation, HealthResult, verify
from kcplan.connect.client import ConnectClient
from kcplan.connect.models import ConnectorStatus, ServerInfo
from kcplan.views.health_view import render_health
from tests.faultproxy import FaultProxy
from tests.helpers import JSON, SINK, SRC, STRING, file_source

BAD_PRODUCER = {"producer.override.acks": "bogus"}  # the task fails at start with a ConfigException


class CountingClient(ConnectClient):
    """The real client, counting restart calls (each is a real request to the worker)."""

    def __init__(self, urls: list[str], **kwargs: object) -> None:
        super().__init__(urls, **kwargs)  # type: ignore[arg-type]
        self.restarts: list[tuple[str, bool, bool]] = []

    def restart(self, name: str, include_tasks: bool = False,
                only_failed: bool = False) -> ConnectorStatus | None:
        self.restarts.append((name, include_tasks, only_failed))
        return super().restart(name, include_tasks=include_tasks, only_failed=only_failed)


@pytest.fixture
def client(connect_url: str) -> Iterator[CountingClient]:
    with CountingClient([connect_url], retry_deadline=60.0) as c:
        yield c


@pytest.fixture
def dclient(distributed_urls: list[str]) -> Iterator[CountingClient]:
    with CountingClient(distributed_urls, retry_deadline=120.0) as c:
        yield c


def source(tmp_path: Path, topic: str, **extra: str) -> dict[str, str]:
    return file_source(tmp_path / f"{topic}.txt", topic, **extra)


def written(client: ConnectClient, name: str, config: dict[str, str]) -> float:
    client.put_config(name, config)
    return time.monotonic()


def one(client: ConnectClient, exp: Expectation, timeout: float = 120.0, **kwargs: object) -> HealthResult:
    [result] = verify(client, [exp], timeout=timeout, **kwargs)  # type: ignore[arg-type]
    return result


def wait_failed(client: ConnectClient, name: str, timeout: float = 120.0) -> ConnectorStatus:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = client.status(name)
        if status.failed:
            return status
        time.sleep(0.5)
    pytest.fail(f"{name}: no FAILED task within {timeout:g} s")


# -- standalone ---------------------------------------------------------------------------------------


def test_statuses_is_one_request_for_every_connector(
        client: CountingClient, unique_name: Callable[..., str], tmp_path: Path) -> None:
    names = [unique_name("a"), unique_name("b")]
    for name in names:
        client.put_config(name, source(tmp_path, name))
    before = client.request_count
    found = client.statuses()
    assert client.request_count == before + 1
    for name in names:
        assert found[name].name == name
        assert found[name].state == "RUNNING"
    assert list(found) == sorted(found)


def test_statuses_falls_back_to_one_status_per_connector_on_old_workers(
        connect_url: str, unique_name: Callable[..., str], tmp_path: Path) -> None:
    """A worker older than 2.3 ignores expand and lists names (the proxy answers that way)."""
    names = [unique_name("a"), unique_name("b"), unique_name("c")]
    with ConnectClient([connect_url]) as direct:
        for name in names:
            direct.put_config(name, source(tmp_path, name))
        expected = {name: direct.status(name) for name in names}
    with FaultProxy(connect_url) as proxy:
        proxy.add("GET", r"^/connectors\?expand=status$", "answer", body=names)
        old = ConnectClient([proxy.url])
        found = old.statuses()
        assert found == expected
        assert old.request_count == 1 + len(names)
        # a worker known to be old is not even asked for expand: GET /connectors, then each status
        old._server_info = ServerInfo(version="2.2.1", commit="x", kafka_cluster_id="k")
        before = old.request_count
        found = old.statuses()
        assert {name: found[name] for name in names} == expected
        assert old.request_count == before + 1 + len(found)
        assert not [s for s in proxy.seen if "expand" in s.path][1:]  # the one canned answer only


def test_create_ends_healthy(client: CountingClient, unique_name: Callable[..., str], tmp_path: Path) -> None:
    name = unique_name()
    at = written(client, name, source(tmp_path, name, **{"tasks.max": "2"}))
    result = one(client, Expectation(name, "RUNNING", "create", at))
    # FileStreamSource makes one task whatever tasks.max says
    assert (result.verdict, result.state, result.tasks_running, result.tasks_total, result.failures) == (
        "healthy", "RUNNING", 1, 1, ())
    assert result.worker == client.status(name).worker_id


def test_task_failing_at_start_is_failed_with_its_trace(
        client: CountingClient, unique_name: Callable[..., str], tmp_path: Path) -> None:
    name = unique_name()
    at = written(client, name, source(tmp_path, name, **BAD_PRODUCER))
    result = one(client, Expectation(name, "RUNNING", "create", at))
    assert (result.verdict, result.state, result.tasks_running, result.tasks_total) == ("failed", "RUNNING", 0, 1)
    [failure] = result.failures
    assert failure.task == "0"
    assert failure.worker == client.status(name).tasks[0].worker_id
    assert failure.first_line.startswith("org.apache.kafka.common.config.ConfigException: Invalid value bogus "
                                         "for configuration acks")
    assert result.detail == "task 0 FAILED"
    assert client.restarts == []


def test_sink_failing_on_its_records_is_failed_with_the_converter_trace(
        client: CountingClient, unique_name: Callable[..., str], tmp_path: Path) -> None:
    """The real-connect.md recipe: plain lines into a topic, read with JsonConverter schemas.enable=true.
    The task fails on its first record, after its consumer joined the group (seconds; ~20 s on tansu), so
    this waits for the failure before verifying; verification is a point in time, see health.py."""
    topic = unique_name("topic")
    (tmp_path / "lines.txt").write_text("hello\nworld\n")
    client.put_config(unique_name("src"), {"connector.class": SRC, "file": str(tmp_path / "lines.txt"),
                                           "topic": topic, "value.converter": STRING})
    sink = unique_name("sink")
    at = written(client, sink, {"connector.class": SINK, "file": str(tmp_path / "out.txt"), "topics": topic,
                                "value.converter": JSON, "value.converter.schemas.enable": "true"})
    wait_failed(client, sink)
    result = one(client, Expectation(sink, "RUNNING", "create", at))
    assert (result.verdict, result.tasks_running, result.tasks_total) == ("failed", 0, 1)
    trace = result.failures[0].trace
    assert "DataException" in trace and "JsonConverter" in trace
    table = render_health([result], verbose=False)
    assert result.failures[0].first_line in table
    assert trace.strip() in render_health([result], verbose=True)


def test_paused_and_stopped_expectations(
        client: CountingClient, unique_name: Callable[..., str], tmp_path: Path) -> None:
    created_paused = unique_name("created-paused")
    client.create(created_paused, source(tmp_path, created_paused), initial_state="PAUSED")
    at_created = time.monotonic()
    paused, stopped = unique_name("paused"), unique_name("stopped")
    for name in (paused, stopped):
        client.put_config(name, source(tmp_path, name))
    client.pause(paused)
    at_paused = time.monotonic()
    client.stop(stopped)
    at_stopped = time.monotonic()
    results = verify(client, [Expectation(created_paused, "PAUSED", "create", at_created),
                              Expectation(paused, "PAUSED", "pause", at_paused),
                              Expectation(stopped, "STOPPED", "stop", at_stopped)], timeout=120)
    # created PAUSED: the worker makes no tasks until it is resumed
    assert [(r.name, r.verdict, r.state, r.tasks_total) for r in results] == [
        (created_paused, "healthy", "PAUSED", 0), (paused, "healthy", "PAUSED", 1),
        (stopped, "healthy", "STOPPED", 0)]


def test_running_expected_but_paused_is_unverified_at_the_deadline(
        client: CountingClient, unique_name: Callable[..., str], tmp_path: Path) -> None:
    name = unique_name()
    client.create(name, source(tmp_path, name), initial_state="PAUSED")
    result = one(client, Expectation(name, "RUNNING", "create", time.monotonic()), timeout=4)
    assert (result.verdict, result.state) == ("unverified", "PAUSED")
    assert result.detail.startswith("PAUSED, no tasks; ")


def test_absent_after_delete(client: CountingClient, unique_name: Callable[..., str], tmp_path: Path) -> None:
    name = unique_name()
    client.put_config(name, source(tmp_path, name))
    client.delete(name)
    result = one(client, Expectation(name, "ABSENT", "delete", time.monotonic()))
    assert (result.verdict, result.state, result.tasks_total) == ("healthy", "ABSENT", 0)


def test_update_on_standalone_is_verified_without_a_visible_restart(
        client: CountingClient, unique_name: Callable[..., str], tmp_path: Path) -> None:
    """Standalone restarts the tasks inside the PUT: healthy after the quiet settle window; and an
    update to a config whose task fails is failed."""
    name = unique_name()
    client.put_config(name, source(tmp_path, name))
    at = written(client, name, source(tmp_path, name, **{"batch.size": "77"}))
    assert one(client, Expectation(name, "RUNNING", "update", at)).verdict == "healthy"
    at = written(client, name, source(tmp_path, name, **BAD_PRODUCER))
    result = one(client, Expectation(name, "RUNNING", "update", at))
    assert result.verdict == "failed"
    assert "Invalid value bogus for configuration acks" in result.failures[0].first_line


def test_restart_failed_restarts_exactly_once(
        client: CountingClient, unique_name: Callable[..., str], tmp_path: Path) -> None:
    name = unique_name()
    healthy = unique_name("ok")
    at = written(client, name, source(tmp_path, name, **BAD_PRODUCER))
    at_ok = written(client, healthy, source(tmp_path, healthy))
    lines: list[str] = []
    results = verify(client, [Expectation(name, "RUNNING", "create", at),
                              Expectation(healthy, "RUNNING", "create", at_ok)],
                     timeout=120, restart_failed=True, progress=lines.append)
    assert [(r.name, r.verdict, r.restarted) for r in results] == [(name, "failed", True), (healthy, "healthy", False)]
    assert client.restarts == [(name, True, True)]
    assert results[0].detail == "task 0 FAILED again after kcplan restarted task 0 once"
    assert f"restarting {name}: task 0 FAILED (--restart-failed, once)" in lines


# -- the distributed cluster ----------------------------------------------------------------------------


@pytest.mark.distributed
def test_update_is_not_judged_on_the_old_generation(
        dclient: CountingClient, unique_name: Callable[..., str], tmp_path: Path) -> None:
    """On the 2-worker cluster the status shows the OLD generation for a while after an update:
    RUNNING after an update that makes the task fail, FAILED after an update that fixes it."""
    name = unique_name()
    at = written(dclient, name, source(tmp_path, name))
    assert one(dclient, Expectation(name, "RUNNING", "create", at), timeout=240).verdict == "healthy"

    at = written(dclient, name, source(tmp_path, name, **BAD_PRODUCER))
    stale = dclient.status(name)
    assert [t.state for t in stale.tasks] == ["RUNNING"], "expected the old generation right after the PUT"
    result = one(dclient, Expectation(name, "RUNNING", "update", at), timeout=240)
    assert result.verdict == "failed", result
    assert "Invalid value bogus for configuration acks" in result.failures[0].first_line

    at = written(dclient, name, source(tmp_path, name, **{"batch.size": "77"}))
    stale = dclient.status(name)
    assert [t.state for t in stale.tasks] == ["FAILED"], "expected the old generation right after the PUT"
    result = one(dclient, Expectation(name, "RUNNING", "update", at), timeout=240)
    assert (result.verdict, result.tasks_running, result.failures) == ("healthy", 1, ()), result
