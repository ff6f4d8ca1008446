"""ConnectClient against the REAL Kafka Connect worker (fixtures in tests/conftest.py).

Faults the real worker will not produce on demand (a rebalance answer, a lost answer, a cut-off or
non-JSON body, a slow answer) come from tests/faultproxy.py placed in front of the same real worker;
everything the proxy does not fault is the worker's own answer.
"""

from __future__ import annotations

import logging
import ssl
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import pytest
import requests

from kcplan.config.environment import Settings
from kcplan.config.sensitive import MASK, SensitiveKeys
from kcplan.connect.classify import GENERAL_KEY
from kcplan.connect.client import ConnectClient
from kcplan.connect.models import ConnectorStatus
from kcplan.errors import (
    ApiError,
    AuthFailed,
    Conflict,
    ConnectionFailed,
    InvalidConfig,
    NotFound,
    RebalanceInProgress,
    UnknownOutcome,
)
from tests.faultproxy import FaultProxy, closed_port_url
from tests.helpers import SINK, SRC, file_sink, file_source

T = TypeVar("T")


# -- helpers ------------------------------------------------------------------------------------------


def wait_for(what: str, check: Callable[[], T | None], timeout: float = 90.0, interval: float = 0.5) -> T:
    """Poll ``check`` until it returns something truthy; fail naming ``what`` at the deadline."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(interval)
    pytest.fail(f"{what}: not reached within {timeout:g} s (last: {last!r})")


def wait_state(client: ConnectClient, name: str, state: str, timeout: float = 90.0,
               tasks: bool = True) -> ConnectorStatus:
    """Until the connector is in ``state`` and, when RUNNING/PAUSED and ``tasks``, has tasks all in it."""
    def check() -> ConnectorStatus | None:
        status = client.status(name)
        if status.state != state:
            return None
        wants_tasks = tasks and state in ("RUNNING", "PAUSED")
        if wants_tasks and (not status.tasks or any(t.state != state for t in status.tasks)):
            return None
        return status
    return wait_for(f"{name} {state}", check, timeout)


def source(tmp_path: Path, topic: str, **extra: str) -> dict[str, str]:
    return file_source(tmp_path / "in.txt", topic, **extra)


def sink(tmp_path: Path, topic: str, **extra: str) -> dict[str, str]:
    return file_sink(tmp_path / "out.txt", topic, **extra)


def put_count(proxy: FaultProxy, method: str, path_part: str) -> int:
    return sum(1 for s in proxy.seen if s.method == method and path_part in s.path)


@pytest.fixture
def client(connect_url: str) -> Iterator[ConnectClient]:
    with ConnectClient([connect_url], retry_deadline=60.0) as c:
        yield c


# -- reads --------------------------------------------------------------------------------------------


def test_server_info_is_read_once_and_cached(client: ConnectClient) -> None:
    info = client.server_info()
    assert info.version_tuple >= (3, 9, 0)
    assert info.kafka_cluster_id
    assert info.commit
    assert info.supports("health") and info.supports("patch_config")
    assert client.request_count == 1
    assert client.server_info() is info
    assert client.request_count == 1


def test_list_connectors_is_two_requests_with_config_type_and_status(
        client: ConnectClient, unique_name: Callable[..., str], tmp_path: Path) -> None:
    topic = unique_name("topic")
    configs = {
        unique_name("src-a"): source(tmp_path, topic),
        unique_name("src-b"): source(tmp_path, topic, **{"tasks.max": "2"}),
        unique_name("sink"): sink(tmp_path, topic),
    }
    for name, config in configs.items():
        assert client.put_config(name, config) is True
    for name in configs:
        wait_state(client, name, "RUNNING")

    before = client.request_count
    live = client.list_connectors()
    assert client.request_count == before + 2  # the names, then everything in one expand request
    for name, config in configs.items():
        assert live[name].name == name
        assert live[name].config == {**config, "name": name}
        status = live[name].status
        assert status is not None
        assert live[name].run_state == "RUNNING"
        assert status.tasks and all(t.state == "RUNNING" for t in status.tasks)
    kinds = {name: live[name].type for name in configs}
    assert sorted(kinds.values()) == ["sink", "source", "source"]
    assert list(live) == sorted(live)
    assert set(configs) <= set(client.connector_names())


def test_list_connectors_falls_back_to_per_connector_reads_when_the_worker_lists_names_only(
        connect_url: str, proxy: FaultProxy, unique_name: Callable[..., str], tmp_path: Path) -> None:
    """A worker older than 2.3 ignores expand and answers a list of names (simulated by the proxy)."""
    names = [unique_name("a"), unique_name("b"), unique_name("c")]
    direct = ConnectClient([connect_url])
    for name in names:
        direct.put_config(name, source(tmp_path, unique_name("topic")))
    for name in names:
        wait_state(direct, name, "RUNNING")
    expected = {name: direct.list_connectors()[name] for name in names}

    proxy.add("GET", r"^/connectors\?expand=status&expand=info$", "answer", body=names)
    client = ConnectClient([proxy.url])
    live = client.list_connectors()
    assert live == expected
    assert client.request_count == 2 + 2 * len(names)  # names, the ignored expand, info + status per connector
    assert put_count(proxy, "GET", "/status") == len(names)


def test_a_connector_left_out_of_the_expanded_list_is_read_on_its_own(
        connect_url: str, proxy: FaultProxy, unique_name: Callable[..., str], tmp_path: Path) -> None:
    """During rebalances Connect drops connectors it cannot read from the expand answer, while
    GET /connectors still names them: such a connector must not look absent to a plan."""
    names = [unique_name("kept"), unique_name("dropped")]
    direct = ConnectClient([connect_url])
    for name in names:
        direct.put_config(name, source(tmp_path, unique_name("topic")))
    for name in names:
        wait_state(direct, name, "RUNNING")
    expanded = requests.get(f"{connect_url}/connectors?expand=status&expand=info", timeout=30).json()
    del expanded[names[1]]
    proxy.add("GET", r"^/connectors\?expand=status&expand=info$", "answer", body=expanded)
    live = ConnectClient([proxy.url]).list_connectors()
    assert set(names) <= set(live)
    assert live[names[1]].config == direct.get_config(names[1])
    assert live[names[1]].run_state == "RUNNING"


def test_get_config_returns_what_was_written_as_strings(
        client: ConnectClient, unique_name: Callable[..., str], tmp_path: Path) -> None:
    name = unique_name()
    written: dict[str, Any] = {**source(tmp_path, unique_name("topic")), "tasks.max": 2,
                               "batch.size": 500}
    assert client.put_config(name, written) is True
    assert client.get_config(name) == {**{k: str(v) for k, v in written.items()}, "name": name}


def test_put_config_creates_then_updates_and_delete_removes(
        client: ConnectClient, unique_name: Callable[..., str], tmp_path: Path) -> None:
    name = unique_name()
    first = source(tmp_path, unique_name("topic"))
    assert client.put_config(name, first) is True
    assert client.get_config(name) == {**first, "name": name}

    second = {**first, "tasks.max": "3", "batch.size": "100"}
    assert client.put_config(name, second) is False  # 200: updated, not created
    assert client.get_config(name) == {**second, "name": name}

    client.delete(name)
    with pytest.raises(NotFound) as info:
        client.get_config(name)
    assert info.value.status == 404
    assert name in info.value.message and "GET /connectors/" in info.value.message
    assert name in info.value.hint
    client.delete(name)  # already gone: counts as done


def test_patch_config_sets_and_removes_keys(
        client: ConnectClient, unique_name: Callable[..., str], tmp_path: Path) -> None:
    name = unique_name()
    config = source(tmp_path, unique_name("topic"), **{"batch.size": "100"})
    client.put_config(name, config)
    patched = client.patch_config(name, {"tasks.max": "2", "batch.size": None})
    expected = {**{k: v for k, v in config.items() if k != "batch.size"}, "tasks.max": "2", "name": name}
    assert patched == expected
    assert client.get_config(name) == expected


@pytest.mark.parametrize("state", ["PAUSED", "STOPPED"])
def test_create_with_initial_state(client: ConnectClient, unique_name: Callable[..., str],
                                   tmp_path: Path, state: str) -> None:
    name = unique_name(state)
    config = source(tmp_path, unique_name("topic"))
    client.create(name, config, initial_state=state)
    assert client.get_config(name) == {**config, "name": name}
    # Created PAUSED or STOPPED, a connector has no tasks yet (seen on 3.9): they start on resume.
    assert wait_state(client, name, state, tasks=False).tasks == ()
    client.resume(name)
    wait_state(client, name, "RUNNING")


def test_create_twice_is_a_conflict_and_not_retried(
        connect_url: str, proxy: FaultProxy, unique_name: Callable[..., str], tmp_path: Path) -> None:
    client = ConnectClient([proxy.url])
    name = unique_name()
    client.create(name, source(tmp_path, unique_name("topic")))
    with pytest.raises(Conflict) as info:
        client.create(name, source(tmp_path, unique_name("other")))
    assert info.value.status == 409
    assert "already exists" in info.value.message and "POST /connectors" in info.value.message
    assert name in info.value.hint
    assert put_count(proxy, "POST", "/connectors") == 2
    assert client.retry_count == 0


def test_pause_resume_stop(client: ConnectClient, unique_name: Callable[..., str], tmp_path: Path) -> None:
    name = unique_name()
    client.put_config(name, source(tmp_path, unique_name("topic")))
    wait_state(client, name, "RUNNING")
    client.pause(name)
    wait_state(client, name, "PAUSED")
    client.pause(name)  # idempotent
    client.resume(name)
    wait_state(client, name, "RUNNING")
    client.stop(name)
    assert wait_state(client, name, "STOPPED").tasks == ()
    client.resume(name)
    wait_state(client, name, "RUNNING")


def test_restart_plain_and_with_include_tasks(
        client: ConnectClient, unique_name: Callable[..., str], tmp_path: Path) -> None:
    name = unique_name()
    client.put_config(name, source(tmp_path, unique_name("topic")))
    wait_state(client, name, "RUNNING")
    assert client.restart(name) is None  # 204: nothing to report
    wait_state(client, name, "RUNNING")
    answer = client.restart(name, include_tasks=True)
    assert answer is not None
    assert answer.state == "RESTARTING"
    assert [t.state for t in answer.tasks] == ["RESTARTING"]
    wait_state(client, name, "RUNNING")
    with pytest.raises(NotFound):
        client.restart(unique_name("missing"), include_tasks=True)
    # A plain restart of a missing connector is a 500 NullPointerException on a 3.9 standalone worker.
    with pytest.raises(ApiError) as info:
        client.restart(unique_name("missing"))
    assert info.value.status in (404, 500)


def failing_pipeline(client: ConnectClient, unique_name: Callable[..., str],
                     tmp_path: Path) -> tuple[str, ConnectorStatus]:
    """real-connect.md's recipe: plain lines into a topic, read by a JSON sink -> a FAILED task."""
    topic = unique_name("lines")
    (tmp_path / "in.txt").write_text("hello\nworld\n")
    client.put_config(unique_name("src"), source(
        tmp_path, topic, **{"value.converter": "org.apache.kafka.connect.storage.StringConverter"}))
    sink_name = unique_name("sink")
    client.put_config(sink_name, sink(
        tmp_path, topic, **{"value.converter": "org.apache.kafka.connect.json.JsonConverter",
                            "value.converter.schemas.enable": "true"}))

    def failed() -> ConnectorStatus | None:
        status = client.status(sink_name)
        return status if any(t.state == "FAILED" for t in status.tasks) else None
    return sink_name, wait_for("a FAILED sink task", failed, timeout=120)


def test_failed_task_has_its_trace_and_restart_only_failed_restarts_it(
        client: ConnectClient, unique_name: Callable[..., str], tmp_path: Path) -> None:
    name, status = failing_pipeline(client, unique_name, tmp_path)
    assert status.state == "RUNNING"  # a failed task leaves the connector RUNNING
    assert status.failed
    task = status.tasks[0]
    assert task.state == "FAILED"
    assert task.trace and "JsonConverter" in task.trace and "DataException" in task.trace
    listed = client.list_connectors()[name].status
    assert listed is not None and listed.failed and listed.tasks[0].trace == task.trace

    answer = client.restart(name, include_tasks=True, only_failed=True)
    assert answer is not None
    assert answer.state == "RUNNING"  # not failed: left alone
    assert [t.state for t in answer.tasks] == ["RESTARTING"]


# -- errors from the real worker ------------------------------------------------------------------------


def test_invalid_config_is_a_400_with_the_servers_per_key_messages(
        client: ConnectClient, unique_name: Callable[..., str], tmp_path: Path) -> None:
    name = unique_name()
    with pytest.raises(InvalidConfig) as info:
        client.put_config(name, source(tmp_path, "t", **{"tasks.max": "abc"}))
    error = info.value
    assert error.status == 400
    assert error.errors["tasks.max"][0] == "Invalid value abc for configuration tasks.max: Not a number of type INT"
    assert list(error.errors) == ["tasks.max"]
    assert f"PUT /connectors/{name}/config failed with HTTP 400" in error.message
    assert "Invalid value abc for configuration tasks.max" in error.message
    with pytest.raises(NotFound):
        client.get_config(name)  # nothing was created


def test_invalid_config_without_key_in_the_message_is_attributed_by_validate(
        client: ConnectClient, unique_name: Callable[..., str], tmp_path: Path) -> None:
    """Connect's 400 says 'Must configure one of topics or topics.regex' without a key: /validate knows it."""
    config = sink(tmp_path, "x")
    del config["topics"]
    with pytest.raises(InvalidConfig) as info:
        client.create(unique_name(), config)
    assert info.value.errors == {
        "topics": ["Must configure one of topics or topics.regex"],
        "topics.regex": ["Must configure one of topics or topics.regex"],
    }
    assert GENERAL_KEY not in info.value.errors


def test_sensitive_values_echoed_by_the_server_are_masked(
        connect_url: str, unique_name: Callable[..., str], tmp_path: Path) -> None:
    secret = "s3cr3t-Value-42"
    client = ConnectClient([connect_url], sensitive=SensitiveKeys(extra_keys=["tasks.max"]))
    with pytest.raises(InvalidConfig) as info:
        client.put_config(unique_name(), source(tmp_path, "t", **{"tasks.max": secret}))
    assert secret not in info.value.message
    assert secret not in repr(info.value.errors)
    assert f"Invalid value {MASK} for configuration tasks.max" in info.value.message


def test_unknown_connector_class_is_an_api_error_with_the_servers_message(
        client: ConnectClient, unique_name: Callable[..., str], kafka_version: str) -> None:
    """Connect 4.x answers 400 (an invalid config, keyed by connector.class), 3.x answers 500."""
    with pytest.raises(ApiError) as info:
        client.put_config(unique_name(), {"connector.class": "org.example.NoSuchConnector", "tasks.max": "1"})
    error = info.value
    if kafka_version.startswith("3."):
        assert (type(error), error.status) == (ApiError, 500)
    else:
        assert (type(error), error.status) == (InvalidConfig, 400)
        assert isinstance(error, InvalidConfig) and list(error.errors) == ["connector.class"]
    assert "org.example.NoSuchConnector" in error.message
    assert SRC in error.message and "PluginDesc" not in error.message
    assert "connector.class" in error.hint


def test_validate_config_returns_per_key_errors_and_changes_nothing(
        client: ConnectClient, unique_name: Callable[..., str], tmp_path: Path) -> None:
    name = unique_name()
    assert client.validate_config(SRC, {**source(tmp_path, "t"), "name": name}) == {}
    errors = client.validate_config(SRC, {"connector.class": SRC, "tasks.max": "abc"})
    assert errors["tasks.max"][0] == "Invalid value abc for configuration tasks.max: Not a number of type INT"
    assert errors["topic"] == ['Missing required configuration "topic" which has no default value.']
    assert "name" not in errors  # the placeholder name satisfied Connect
    assert name not in client.connector_names()


def test_status_of_an_unknown_connector_has_no_state(client: ConnectClient,
                                                     unique_name: Callable[..., str]) -> None:
    assert client.status(unique_name()).state is None


def test_plugins_and_plugin_config(client: ConnectClient) -> None:
    classes = {p["class"] for p in client.plugins()}
    assert {SRC, SINK} <= classes
    everything = {p["class"] for p in client.plugins(connectors_only=False)}
    assert "org.apache.kafka.connect.json.JsonConverter" in everything
    definitions = {d["name"]: d for d in client.plugin_config(SINK)}
    assert {"file", "topics"} <= set(definitions)
    assert definitions["file"]["type"] == "STRING"
    with pytest.raises(NotFound):
        client.plugin_config("org.example.NoSuchConnector")


def test_health(client: ConnectClient) -> None:
    health = client.health()
    assert health["status"] == "healthy"
    assert health["message"]


@pytest.mark.parametrize("suffix", [" with space", "?query", "#hash", "%percent", "mixed ?#%&+="])
def test_names_needing_url_encoding(client: ConnectClient, unique_name: Callable[..., str],
                                    tmp_path: Path, suffix: str, kafka_version: str) -> None:
    name = unique_name() + suffix
    config = source(tmp_path, unique_name("topic"))
    if "%" in suffix and not kafka_version.startswith("3."):
        with pytest.raises(ApiError) as info:  # Jetty 12 refuses %25 in a path before Connect sees it
            client.put_config(name, config)
        assert (type(info.value), info.value.status) == (ApiError, 400)
        assert "the worker refuses a '%' in a URL path" in info.value.message
        assert info.value.hint == "Rename the connector without '%' (Connect 3.x accepted such names)."
        assert name not in client.connector_names()
        return
    try:
        assert client.put_config(name, config) is True
        assert client.get_config(name) == {**config, "name": name}
        assert name in client.connector_names()
        assert client.list_connectors()[name].config["name"] == name
        wait_state(client, name, "RUNNING")
        client.pause(name)
        wait_state(client, name, "PAUSED")
        assert client.patch_config(name, {"tasks.max": "2"})["name"] == name
    finally:
        client.delete(name)  # the shared cleanup does not encode names
    assert name not in client.connector_names()


# -- connection handling --------------------------------------------------------------------------------


def test_failover_when_the_first_url_is_dead(connect_url: str) -> None:
    dead = closed_port_url()
    client = ConnectClient([dead, connect_url])
    assert client.server_info().version
    assert client.current_url == connect_url
    assert client.request_count == 1  # the refused connection sent nothing
    client.connector_names()
    assert client.request_count == 2


def test_no_worker_answering_is_a_connection_failure_naming_the_urls() -> None:
    dead = [closed_port_url(), closed_port_url()]
    client = ConnectClient(dead, connect_timeout=2)
    with pytest.raises(ConnectionFailed) as info:
        client.connector_names()
    assert all(url in info.value.message for url in dead)
    assert "connection refused" in info.value.message
    assert "GET /connectors" in info.value.message
    assert client.request_count == 0


def test_a_proxy_that_stops_listening_fails_over_to_the_next_url(
        connect_url: str, proxy: FaultProxy) -> None:
    client = ConnectClient([proxy.url, connect_url])
    client.connector_names()
    assert client.current_url == proxy.url
    proxy.close()
    client.connector_names()
    assert client.current_url == connect_url


def test_tls_verification_failure_and_ca_bundle(connect_url: str, tmp_path: Path) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
         "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    with FaultProxy(connect_url, tls=context) as tls_proxy:
        with pytest.raises(ConnectionFailed) as info:
            ConnectClient([tls_proxy.url]).server_info()
        assert "certificate verify failed" in info.value.message
        assert "tls.ca_bundle" in info.value.hint
        settings = Settings.model_validate({"connect_url": [tls_proxy.url], "tls": {"ca_bundle": str(cert)}})
        assert ConnectClient.from_settings(settings).server_info().version


def test_from_settings_sends_auth_and_headers_but_never_shows_them(
        connect_url: str, proxy: FaultProxy) -> None:
    settings = Settings.model_validate({
        "connect_url": [proxy.url], "request_timeout": 30, "connect_timeout": 3,
        "auth": {"bearer_token": "tok-SECRET-1", "headers": {"X-Team": "hdr-SECRET-2"}}})
    client = ConnectClient.from_settings(settings)
    assert (client.timeout, client.connect_timeout) == (30, 3)
    client.connector_names()
    sent = proxy.seen[-1].headers
    assert sent["Authorization"] == "Bearer tok-SECRET-1"
    assert sent["X-Team"] == "hdr-SECRET-2"

    basic = Settings.model_validate({"connect_url": [proxy.url],
                                     "auth": {"basic": {"username": "alice", "password": "pw-SECRET-3"}}})
    proxy.add("GET", "^/connectors$", "answer", status=401, body={"error_code": 401, "message": "Unauthorized"})
    client = ConnectClient.from_settings(basic)
    with pytest.raises(AuthFailed) as info:
        client.connector_names()
    assert proxy.seen[-1].headers["Authorization"].startswith("Basic ")
    assert client.request_count == 1  # never retried
    shown = f"{info.value.message} {info.value.hint}"
    assert "pw-SECRET-3" not in shown and "Basic" not in shown
    assert info.value.message == "GET /connectors failed with HTTP 401: Unauthorized"


def test_debug_log_names_requests_but_never_config_values(
        connect_url: str, unique_name: Callable[..., str], tmp_path: Path,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="kcplan.connect")
    client = ConnectClient([connect_url], auth=("alice", "pw-SECRET-4"), debug=True)
    name = unique_name()
    client.put_config(name, source(tmp_path, "t", **{"database.password": "hunter2-SECRET-5"}))
    client.get_config(name)
    text = caplog.text
    assert f"PUT {connect_url}/connectors/{name}/config -> 201" in text
    assert f"GET {connect_url}/connectors/{name}/config -> 200" in text
    assert "hunter2" not in text and "pw-SECRET-4" not in text and "Authorization" not in text


def test_concurrent_use_of_one_client(client: ConnectClient, unique_name: Callable[..., str],
                                      tmp_path: Path) -> None:
    names = [unique_name(str(i)) for i in range(16)]
    topic = unique_name("topic")
    with ThreadPoolExecutor(max_workers=8) as pool:
        created = list(pool.map(lambda n: client.put_config(n, source(tmp_path, topic)), names))
        configs = list(pool.map(client.get_config, names))
    assert created == [True] * len(names)
    assert [c["name"] for c in configs] == names
    assert client.request_count == 2 * len(names)
    assert set(names) <= set(client.list_connectors())
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(client.delete, names))
    assert not set(names) & set(client.connector_names())


# -- faults injected in front of the real worker ----------------------------------------------------------


def test_rebalance_409_is_retried_until_the_write_succeeds(
        proxy: FaultProxy, unique_name: Callable[..., str], tmp_path: Path) -> None:
    client = ConnectClient([proxy.url], retry_deadline=30)
    name = unique_name()
    config = source(tmp_path, unique_name("topic"))
    proxy.add("PUT", rf"^/connectors/{name}/config$", "rebalance", times=3)
    assert client.put_config(name, config) is True
    assert proxy.faults_done("rebalance") == 3
    assert client.retry_count == 3
    assert put_count(proxy, "PUT", f"/{name}/config") == 4
    assert client.get_config(name) == {**config, "name": name}


def test_rebalance_500_on_a_read_is_retried(proxy: FaultProxy) -> None:
    client = ConnectClient([proxy.url], retry_deadline=30)
    proxy.add("GET", r"^/connectors\?expand", "rebalance500", times=2)
    client.list_connectors()
    assert proxy.faults_done("rebalance500") == 2
    assert client.request_count == 4  # the names, then the expand request answered on its third try


def test_rebalance_past_the_deadline_gives_up_without_writing(
        proxy: FaultProxy, unique_name: Callable[..., str], tmp_path: Path) -> None:
    client = ConnectClient([proxy.url], retry_deadline=2)
    name = unique_name()
    proxy.add("PUT", rf"^/connectors/{name}/config$", "rebalance", times=1000)
    started = time.monotonic()
    with pytest.raises(RebalanceInProgress) as info:
        client.put_config(name, source(tmp_path, "t"))
    assert time.monotonic() - started < 10
    assert info.value.status == 409
    assert f"PUT /connectors/{name}/config" in info.value.message and "rebalance" in info.value.message
    assert proxy.faults_done("rebalance") >= 3
    assert name not in client.connector_names()


def test_timeout_500_after_the_write_is_an_unknown_outcome_and_the_write_landed(
        proxy: FaultProxy, unique_name: Callable[..., str], tmp_path: Path) -> None:
    client = ConnectClient([proxy.url])
    name = unique_name()
    config = source(tmp_path, unique_name("topic"))
    proxy.add("PUT", rf"^/connectors/{name}/config$", "timeout500")
    with pytest.raises(UnknownOutcome) as info:
        client.put_config(name, config)
    assert f"PUT /connectors/{name}/config" in info.value.message
    assert "Request timed out" in info.value.message
    assert name in info.value.hint
    assert put_count(proxy, "PUT", f"/{name}/config") == 1  # never repeated
    assert client.get_config(name) == {**config, "name": name}


def test_connection_dropped_after_a_create_is_an_unknown_outcome_and_the_write_landed(
        proxy: FaultProxy, unique_name: Callable[..., str], tmp_path: Path) -> None:
    client = ConnectClient([proxy.url])
    name = unique_name()
    proxy.add("POST", r"^/connectors$", "drop")
    with pytest.raises(UnknownOutcome) as info:
        client.create(name, source(tmp_path, unique_name("topic")))
    assert "POST /connectors" in info.value.message and "closed before an answer" in info.value.message
    assert put_count(proxy, "POST", "/connectors") == 1
    assert name in client.connector_names()


def test_connection_dropped_on_a_read_is_retried(proxy: FaultProxy) -> None:
    client = ConnectClient([proxy.url])
    proxy.add("GET", r"^/connectors$", "drop")
    assert isinstance(client.connector_names(), list)
    assert proxy.faults_done("drop") == 1
    assert client.request_count == 2


def test_non_json_answers_are_clean_errors(proxy: FaultProxy) -> None:
    client = ConnectClient([proxy.url])
    proxy.add("GET", r"^/connectors\?expand", "nonjson", status=200)
    with pytest.raises(ApiError) as info:
        client.list_connectors()
    assert info.value.status == 200
    assert "not JSON" in info.value.message and "Please sign in" in info.value.message
    assert "GET /connectors" in info.value.message

    proxy.add("GET", r"^/connectors/x/config$", "nonjson", status=401)
    with pytest.raises(AuthFailed) as auth:
        client.get_config("x")
    assert "(not JSON)" in auth.value.message

    proxy.add("GET", r"^/connectors$", "nonjson", status=502)  # a gateway hiccup on a read: retried
    assert isinstance(client.connector_names(), list)
    assert proxy.faults_done("nonjson") == 3


def test_truncated_answers_retry_reads_and_make_writes_unknown(
        proxy: FaultProxy, unique_name: Callable[..., str], tmp_path: Path) -> None:
    client = ConnectClient([proxy.url])
    proxy.add("GET", r"^/connectors\?expand", "truncate")
    assert isinstance(client.list_connectors(), dict)
    assert proxy.faults_done("truncate") == 1

    name = unique_name()
    proxy.add("PUT", rf"^/connectors/{name}/config$", "truncate")
    with pytest.raises(UnknownOutcome) as info:
        client.put_config(name, source(tmp_path, unique_name("topic")))
    assert "cut off" in info.value.message
    assert name in client.connector_names()


def test_a_read_slower_than_the_timeout_is_retried(proxy: FaultProxy, unique_name: Callable[..., str]) -> None:
    client = ConnectClient([proxy.url], timeout=1.0, retry_deadline=30)
    name = unique_name()
    proxy.add("GET", rf"^/connectors/{name}/status$", "delay", seconds=2.5)
    assert client.status(name).state is None
    assert client.request_count == 2
    assert client.retry_count == 1


def test_a_write_slower_than_the_timeout_is_an_unknown_outcome(
        proxy: FaultProxy, unique_name: Callable[..., str], tmp_path: Path) -> None:
    client = ConnectClient([proxy.url], timeout=1.0)
    name = unique_name()
    config = source(tmp_path, unique_name("topic"))
    proxy.add("PUT", rf"^/connectors/{name}/config$", "delay", seconds=2.0)
    with pytest.raises(UnknownOutcome) as info:
        client.put_config(name, config)
    assert "no answer" in info.value.message and "within 1 s" in info.value.message
    assert client.request_count == 1
    # the proxy forwards after its delay: the write lands although the client gave up
    landed = wait_for("the delayed write", lambda: name in client.connector_names(), timeout=30)
    assert landed


# -- the distributed cluster ------------------------------------------------------------------------------


@pytest.mark.distributed
def test_distributed_create_twice_is_a_conflict(
        distributed_urls: list[str], unique_name: Callable[..., str], tmp_path: Path) -> None:
    first = ConnectClient(distributed_urls, retry_deadline=120)
    second = ConnectClient(list(reversed(distributed_urls)), retry_deadline=120)  # forwarded to the leader
    name = unique_name()
    first.create(name, source(tmp_path, unique_name("topic")))
    with pytest.raises(Conflict) as info:
        second.create(name, source(tmp_path, unique_name("topic")))
    assert "already exists" in info.value.message
    assert second.current_url == distributed_urls[1]


@pytest.mark.distributed
def test_distributed_reads_and_writes_during_rebalances_succeed_through_retries(
        distributed_urls: list[str], unique_name: Callable[..., str], tmp_path: Path) -> None:
    """Each create starts rebalances. Meanwhile the real workers block requests or
    answer 500 'Request cannot be completed because a rebalance is expected': everything must still succeed,
    and at least one such answer must have been retried (creates go on until one was seen, up to 150 s)."""
    clients = [ConnectClient(distributed_urls, retry_deadline=150),
               ConnectClient(list(reversed(distributed_urls)), retry_deadline=150)]
    topic = unique_name("topic")
    base = unique_name("base")
    configs = {base: source(tmp_path, topic)}
    clients[0].put_config(base, configs[base])

    def readable_everywhere() -> bool:  # a fresh connector is 404 on the other worker for a while
        try:
            return all(c.get_config(base)["name"] == base for c in clients)
        except NotFound:
            return False
    wait_for(f"{base} readable on both workers", readable_everywhere, timeout=60)
    stop = threading.Event()
    errors: list[BaseException] = []
    reads = [0]

    def reader(client: ConnectClient) -> None:
        while not stop.is_set():
            try:
                assert client.get_config(base)["name"] == base
                client.get_connector(base)
                reads[0] += 1
                time.sleep(0.05)
            except BaseException as exc:  # reported by the main thread
                errors.append(exc)
                return

    threads = [threading.Thread(target=reader, args=(c,), daemon=True) for c in clients]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 150
    created = 0
    try:
        while not errors and time.monotonic() < deadline:
            name = unique_name(f"n{created}")
            configs[name] = source(tmp_path, topic)
            clients[created % 2].put_config(name, configs[name])  # starts the next rebalances
            created += 1
            configs[base] = {**configs[base], "batch.size": str(100 + created)}
            clients[(created + 1) % 2].put_config(base, configs[base])  # a write during the rebalance
            if created >= 2 and sum(c.retry_count for c in clients) > 0:
                break
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=300)
    assert not errors, errors

    def all_written() -> bool:
        try:
            return all(clients[0].get_config(n) == {**c, "name": n} for n, c in configs.items())
        except NotFound:
            return False
    wait_for("every config as last written", all_written, timeout=60)
    retries = sum(c.retry_count for c in clients)
    print(f"creates: {created}, reads: {reads[0]}, retried answers: {retries}, "
          f"requests: {sum(c.request_count for c in clients)}")
    assert retries >= 1, "the cluster never answered a rebalance error within 150 s: nothing was exercised"
    with ThreadPoolExecutor(max_workers=8) as pool:  # together: one rebalance round, not one per delete
        list(pool.map(clients[0].delete, configs))


class RawServer:
    """A TCP server that is not Kafka Connect: it accepts connections and either stays silent (like a
    Kafka broker's port, which waits for a binary request) or answers ``reply`` bytes and closes."""

    def __init__(self, reply: bytes | None) -> None:
        import socket

        self.reply = reply
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.accepted = 0
        self.held: list[Any] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            conn.recv(65536)
            if self.reply is None:
                self.held.append(conn)  # keep it open and silent
            else:
                conn.sendall(self.reply)
                conn.close()

    def close(self) -> None:
        self.sock.close()
        for conn in self.held:
            conn.close()


def test_a_silent_port_fails_the_first_request_at_once_naming_the_rest_port() -> None:
    server = RawServer(None)
    try:
        client = ConnectClient([server.url], timeout=1.0, retry_deadline=60)
        with pytest.raises(ConnectionFailed) as err:
            client.server_info()
        assert err.value.message == f"GET /: no answer from {server.url} within 1 s"
        assert "Connect REST port (often 8083), not at a Kafka broker (9092)" in (err.value.hint or "")
        assert server.accepted == 1  # no retry for the first contact
    finally:
        server.close()


def test_an_answer_that_is_not_http_fails_at_once_without_retrying() -> None:
    server = RawServer(b"\x00\x00\x00\x10not an http answer\r\n\r\n")
    try:
        client = ConnectClient([server.url], retry_deadline=60)
        with pytest.raises(ConnectionFailed) as err:
            client.connector_names()
        assert err.value.message == f"GET {server.url}/connectors: the server answered, but not with HTTP"
        assert server.accepted == 1
    finally:
        server.close()


def test_herder_round_trip_asks_every_worker_and_reports_the_slowest(
        connect_url: str, unique_name: Callable[..., str], tmp_path: Path) -> None:
    name = unique_name()
    ConnectClient([connect_url]).put_config(name, source(tmp_path, "t"))
    with FaultProxy(connect_url) as slow, FaultProxy(connect_url) as busy:
        slow.add("GET", rf"^/connectors/{name}/config$", "delay", seconds=1.5)
        client = ConnectClient([connect_url, slow.url])
        assert client.herder_round_trip(name) >= 1.5
        assert [(s.method, s.path) for s in slow.seen] == [("GET", f"/connectors/{name}/config")]
        busy.add("GET", rf"^/connectors/{name}/config$", "rebalance")
        with pytest.raises(ConnectionFailed) as err:
            ConnectClient([connect_url, busy.url], retry_deadline=60).herder_round_trip(name)
        assert err.value.message == f"GET {busy.url}/connectors/{name}/config: HTTP 409"
