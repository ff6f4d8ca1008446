"""The client's pure pieces: how answers are classified and parsed (literal inputs, exact outputs).

Everything that needs a worker is in tests/integration/test_client.py against the real one.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import requests
from urllib3.exceptions import ConnectTimeoutError, MaxRetryError, NewConnectionError, ProtocolError

from kcplan.config.sensitive import MASK, scrub
from kcplan.connect.classify import (
    FAIL,
    GENERAL_KEY,
    LOST,
    OK,
    RETRY,
    classify,
    parse_config_errors,
    redact_url,
    tidy_server_message,
    unsent_reason,
    validation_errors,
)
from kcplan.connect.client import ConnectClient, live_from_expand
from kcplan.connect.models import ConnectorStatus, LiveConnector, TaskStatus
from kcplan.connect.transport import Reply
from kcplan.errors import ApiError, ConfigError


@pytest.mark.parametrize(("status", "message", "expected"), [
    (200, "", OK),
    (201, "", OK),
    (204, "", OK),
    (409, "Cannot complete request because of a conflicting operation (e.g. worker rebalance)", RETRY),
    (409, "Cannot complete request momentarily due to stale configuration (typically caused by a "
          "concurrent config change)", RETRY),
    (409, "Cannot complete request momentarily due to no known leader URL, likely because a rebalance "
          "was underway.", RETRY),
    (409, "Request cannot be completed because a rebalance is expected", RETRY),
    (500, "Request cannot be completed because a rebalance is expected", RETRY),
    (409, "Connector my-conn already exists", FAIL),
    (409, "something else entirely", FAIL),
    (500, "Request timed out", LOST),
    (500, "Request timed out. The worker is currently flushing updates to the status topic", LOST),
    (500, "IO Error trying to forward REST request: java.net.ConnectException: Connection refused", LOST),
    (502, "(not JSON) <html>Bad Gateway</html>", LOST),
    (503, "Service Unavailable", LOST),
    (504, "Gateway Timeout", LOST),
    (500, "Failed to find any class that implements Connector and which name matches x.Y", FAIL),
    (400, "Connector configuration is invalid and contains the following 1 error(s):", FAIL),
    (401, "Unauthorized", FAIL),
    (404, "Connector x not found", FAIL),
])
def test_classify(status: int, message: str, expected: str) -> None:
    assert classify(status, message) == expected


def test_a_connector_named_like_a_rebalance_that_exists_is_a_plain_conflict() -> None:
    assert classify(409, "Connector rebalance-stale-configuration already exists",
                    "rebalance-stale-configuration") == FAIL


def test_parse_config_errors_of_a_real_400_message() -> None:
    message = (
        "Connector configuration is invalid and contains the following 3 error(s):\n"
        "Invalid value abc for configuration tasks.max: Not a number of type INT\n"
        'Missing required configuration "topic" which has no default value.\n'
        "Must configure one of topics or topics.regex\n"
        "You can also find the above list of errors at the endpoint "
        "`/connector-plugins/{connectorType}/config/validate`"
    )
    assert parse_config_errors(message) == {
        "tasks.max": ["Invalid value abc for configuration tasks.max: Not a number of type INT"],
        "topic": ['Missing required configuration "topic" which has no default value.'],
        GENERAL_KEY: ["Must configure one of topics or topics.regex"],
    }


def test_parse_config_errors_of_a_value_with_spaces_and_a_plain_400() -> None:
    assert parse_config_errors("Invalid value a b c for configuration file.name: bad") == {
        "file.name": ["Invalid value a b c for configuration file.name: bad"]}
    assert parse_config_errors("Connector name configuration (a) doesn't match connector name in the URL (b)") \
        == {GENERAL_KEY: ["Connector name configuration (a) doesn't match connector name in the URL (b)"]}


def test_validation_errors_keeps_only_keys_with_errors() -> None:
    body = {
        "error_count": 2,
        "configs": [
            {"definition": {"name": "name"}, "value": {"name": "name", "value": "x", "errors": []}},
            {"definition": {"name": "tasks.max"},
             "value": {"name": "tasks.max", "value": None,
                       "errors": ["Invalid value abc for configuration tasks.max: Not a number of type INT"]}},
            {"definition": {"name": "topic"},
             "value": {"name": "topic", "errors": ['Missing required configuration "topic"']}},
        ],
    }
    assert validation_errors(body) == {
        "tasks.max": ["Invalid value abc for configuration tasks.max: Not a number of type INT"],
        "topic": ['Missing required configuration "topic"'],
    }
    assert validation_errors({"configs": []}) == {}


def test_tidy_server_message_lists_plugin_names_only() -> None:
    message = ("Failed to find any class that implements Connector and which name matches x.Y, available "
               "connectors are: PluginDesc{klass=class a.B, name='a.B', version='1', encodedVersion=1, "
               "type=source, typeName='source', location='classpath'}, PluginDesc{klass=class c.D, "
               "name='c.D', version='2', encodedVersion=2, type=sink, typeName='sink', location='classpath'}")
    assert tidy_server_message(message) == (
        "Failed to find any class that implements Connector and which name matches x.Y, available "
        "connectors are: a.B, c.D")
    assert tidy_server_message("Connector x not found") == "Connector x not found"


def test_scrub_masks_every_secret_longest_first() -> None:
    assert scrub("Invalid value pass-word1 for configuration x (pass)", ["pass", "pass-word1", ""]) == \
        f"Invalid value {MASK} for configuration x ({MASK})"


def test_redact_url_drops_user_info() -> None:
    assert redact_url("https://alice:pw@connect.example:8083/connectors") == "https://connect.example:8083/connectors"
    assert redact_url("http://127.0.0.1:8083/") == "http://127.0.0.1:8083/"


def test_live_from_expand_with_and_without_status() -> None:
    info = {"name": "a", "config": {"connector.class": "X", "tasks.max": 1, "name": "a"}, "tasks": [],
            "type": "source"}
    status = {"name": "a", "connector": {"state": "RUNNING", "worker_id": "w:1"},
              "tasks": [{"id": 0, "state": "FAILED", "worker_id": "w:1", "trace": "boom"}], "type": "source"}
    assert live_from_expand("a", {"info": info, "status": status}) == LiveConnector(
        name="a", config={"connector.class": "X", "tasks.max": "1", "name": "a"}, type="source",
        status=ConnectorStatus(name="a", state="RUNNING", worker_id="w:1", type="source",
                               tasks=(TaskStatus(id=0, state="FAILED", worker_id="w:1", trace="boom"),)))
    assert live_from_expand("a", {"info": info}) == LiveConnector(
        name="a", config={"connector.class": "X", "tasks.max": "1", "name": "a"}, type="source", status=None)
    assert live_from_expand("a", {"status": status}) is None
    assert live_from_expand("a", None) is None


def test_unsent_reason_tells_refused_and_timeouts_from_lost_connections() -> None:
    refused = NewConnectionError(None, "Failed to establish a new connection: [Errno 111] Connection refused")  # type: ignore[arg-type]
    no_dns = NewConnectionError(None, "Failed to resolve 'nowhere.invalid' ([Errno -2] Name or service not known)")  # type: ignore[arg-type]
    timeout = ConnectTimeoutError(None, "Connection to 10.0.0.1 timed out. (connect timeout=5)")

    def wrapped(reason: Exception) -> requests.exceptions.ConnectionError:
        return requests.exceptions.ConnectionError(MaxRetryError(None, "/connectors", reason))  # type: ignore[arg-type]

    assert unsent_reason(wrapped(refused)) == "connection refused"
    assert unsent_reason(wrapped(no_dns)) == "host name not found"
    assert unsent_reason(wrapped(timeout)) == "connect timeout"
    reset = requests.exceptions.ConnectionError(ProtocolError("Connection aborted.", ConnectionResetError(104)))
    assert unsent_reason(reset) is None


def test_reply_that_is_not_json_is_a_readable_api_error() -> None:
    reply = Reply("GET", "/connectors/a%20b/config", 200, "<html>\n  <p>Sign in</p>\n</html>", None, False)
    with pytest.raises(ApiError) as info:
        reply.json_object()
    assert info.value.message == ("GET /connectors/a b/config: the worker answered HTTP 200 with a body that is "
                                  "not JSON: <html> <p>Sign in</p> </html>")
    listing = Reply("GET", "/connectors", 200, '{"a": 1}', {"a": 1}, True)
    with pytest.raises(ApiError, match="JSON that is not a list"):
        listing.json_list()


def test_missing_tls_files_are_config_errors_naming_the_setting(tmp_path: Path) -> None:
    cert = tmp_path / "client.pem"
    cert.write_text("not checked here")
    with pytest.raises(ConfigError, match=r"^tls.ca_bundle: file .*ca.pem not found$"):
        ConnectClient(["https://connect.example"], verify=str(tmp_path / "ca.pem"))
    with pytest.raises(ConfigError, match=r"^tls.client_key: file .*key.pem not found$"):
        ConnectClient(["https://connect.example"], cert=(str(cert), str(tmp_path / "key.pem")))
    ConnectClient(["https://connect.example"], cert=str(cert)).close()
