"""How kcplan reads Kafka Connect's answers: pure functions over a status, a body or a requests exception.

The retry policy of kcplan/connect/transport.py rests on these verdicts: OK, RETRY (nothing was done,
try again), LOST (the outcome is unknown) and FAIL (a kcplan error, made by ``error_for``). The table of
what leads where is in docs/connect-client.md; unit-tested with literal inputs in test_client_errors.py.
"""

from __future__ import annotations

import http.client
import json as jsonlib
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

import requests
from urllib3.exceptions import ConnectTimeoutError, MaxRetryError, NewConnectionError, ProtocolError

from kcplan.errors import (
    ApiError,
    AuthFailed,
    Conflict,
    ConnectError,
    ConnectionFailed,
    InvalidConfig,
    NotFound,
    RebalanceInProgress,
    UnknownOutcome,
)

GENERAL_KEY = "(general)"  # InvalidConfig.errors key for messages that name no config key
NOT_CONNECT_HINT = ("Check that connect_url in the environment settings (or KCPLAN_CONNECT_URL) points at the Kafka "
                    "Connect REST port (often 8083), not at a Kafka broker (9092) or another service.")

OK, RETRY, LOST, FAIL = "ok", "retry", "lost", "fail"

_REBALANCE = re.compile(r"rebalanc|conflicting operation|stale configuration|no known leader", re.IGNORECASE)
_LOST_500 = re.compile(r"request timed out|io error trying to forward rest request", re.IGNORECASE)
_INVALID_HEADER = re.compile(r"^Connector configuration is invalid and contains the following \d+ error")
_INVALID_FOOTER = "You can also find the above list of errors at the endpoint"
_KEYED_MESSAGES = (
    re.compile(r"^Invalid value .*? for configuration (?P<key>[^\s:]+)"),
    re.compile(r'^Missing required configuration "(?P<key>[^"]+)"'),
)
_UNKNOWN_CLASS_HINT = "Check connector.class: it must be one of the plugins installed on the worker (listed above)."
_MISSING_VERSION_HINT = ("connector.plugin.version (or a converter's *.plugin.version, KIP-891) asks for a plugin "
                         "version the worker does not have; GET /connector-plugins lists the installed ones.")
_PLUGIN_DESC = re.compile(r"PluginDesc\{klass=[^{}]*?name='(?P<name>[^']+)'[^{}]*\}")


def classify(status: int, message: str, name: str | None = None) -> str:
    """Sort an HTTP answer into OK / RETRY (nothing was done) / LOST (outcome unknown) / FAIL.

    The connector name is cut out of the message first, so a connector called 'rebalance-x' that
    already exists is a plain conflict, not a rebalance.
    """
    if 200 <= status < 300:
        return OK
    text = message.replace(name, " ") if name else message
    if status == 409:
        return FAIL if "already exists" in text else (RETRY if _REBALANCE.search(text) else FAIL)
    if status == 500 and "rebalance is expected" in text:
        return RETRY
    if status == 500 and _LOST_500.search(text):
        return LOST
    if status in (502, 503, 504):
        return LOST
    return FAIL


def parse_config_errors(message: str) -> dict[str, list[str]]:
    """Per-key messages out of Connect's 400 text ("...contains the following N error(s):\\n...").

    Connect lists the raw messages without keys; keys are recovered from the standard phrasings
    ('Invalid value V for configuration KEY: ...', 'Missing required configuration "KEY" ...'),
    anything else lands under GENERAL_KEY.
    """
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    if lines and _INVALID_HEADER.match(lines[0]):
        lines = lines[1:]
    errors: dict[str, list[str]] = {}
    for line in lines:
        if line.startswith(_INVALID_FOOTER):
            continue
        key = GENERAL_KEY
        for pattern in _KEYED_MESSAGES:
            match = pattern.match(line)
            if match:
                key = match.group("key")
                break
        errors.setdefault(key, []).append(line)
    return errors


def validation_errors(body: Mapping[str, Any]) -> dict[str, list[str]]:
    """{key: [messages]} from a /config/validate answer (configs[].value.errors); {} when valid."""
    errors: dict[str, list[str]] = {}
    for item in body.get("configs") or []:
        value = (item.get("value") or {}) if isinstance(item, dict) else {}
        messages = [str(m) for m in value.get("errors") or []]
        if messages:
            errors.setdefault(str(value.get("name", GENERAL_KEY)), []).extend(messages)
    return errors


def tidy_server_message(message: str) -> str:
    """Shorten Connect's noisy texts: 'available connectors are: PluginDesc{...}, ...' -> class names."""
    if "PluginDesc{" in message:
        names = _PLUGIN_DESC.findall(message)
        head = message.split("PluginDesc{", 1)[0]
        message = head + ", ".join(names)
    return message


def redact_url(url: str) -> str:
    """The URL without user:password@ (a URL is shown in messages and debug logs)."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]))


def body_snippet(text: str, limit: int = 200) -> str:
    flat = " ".join(text.split())
    if not flat:
        return "(empty body)"
    return flat if len(flat) <= limit else flat[:limit] + "..."


def error_for(method: str, path: str, status: int, body: Any, message: str, name: str | None) -> ApiError:
    """The kcplan error for a FAIL answer: its type, the message shown, and the hint for what it means."""
    shown = f"{method} {unquote(path)}"
    code = body.get("error_code") if isinstance(body, dict) else None
    error_code = code if isinstance(code, int) else None
    common: dict[str, Any] = {"method": method, "path": path, "error_code": error_code}
    text = f"{shown} failed with HTTP {status}: {message}"
    # Connect 4.x answers an unknown connector.class with 400, 3.x with 500.
    unknown_class = "Failed to find any class that implements Connector" in message
    if status in (401, 403):
        return AuthFailed(text, status, **common)
    if status == 400 and "%25" in path and not isinstance(body, dict):
        return ApiError(f"{shown} failed with HTTP 400: the worker refuses a '%' in a URL path (Jetty 12, in "
                        "Connect 4.x: 'Ambiguous URI path encoding'), so a connector whose name holds '%' cannot "
                        "be read, changed or deleted through the REST API", status,
                        hint="Rename the connector without '%' (Connect 3.x accepted such names).", **common)
    if status == 400:
        errors = {"connector.class": [message]} if unknown_class else parse_config_errors(message)
        lines = [line for values in errors.values() for line in values]
        if len(lines) > 1 or _INVALID_HEADER.match(message):
            text = f"{shown} failed with HTTP 400: the config is invalid:\n  " + "\n  ".join(lines)
        return InvalidConfig(text, status, errors=errors, hint=_UNKNOWN_CLASS_HINT if unknown_class else None,
                             **common)
    hint: str | None = None
    if status == 404:
        if name:
            hint = (f"Connector {name!r} does not exist on this cluster; 'kcplan status' lists the "
                    "connectors there.")
        return NotFound(text, status, hint=hint, **common)
    if status == 409:
        if name:
            hint = (f"Connector {name!r} exists already (maybe from an earlier attempt): read it back "
                    "('kcplan plan') before creating it again.")
        return Conflict(text, status, hint=hint, **common)
    if unknown_class:
        hint = _UNKNOWN_CLASS_HINT
    elif "VersionedPluginLoadingException" in message:  # Connect 4.x answers a missing version with a 500
        hint = _MISSING_VERSION_HINT
    elif status >= 500:
        hint = "Look at the Connect worker's log around this time; --debug shows the requests sent."
    return ApiError(text, status, hint=hint, **common)

def gave_up(method: str, path: str, verdict: str, status: int, problem: str, attempts: int,
            retry_deadline: float) -> ConnectError:
    """The error once retries ran out: a rebalance that lasted, errors that kept coming, or silence."""
    shown = f"{method} {unquote(path)}"
    text = (f"{shown}: still failing after {attempts} attempts in {retry_deadline:g} s "
            f"(last: {problem})")
    if verdict == RETRY:
        return RebalanceInProgress(text, status, method=method, path=path)
    if status:
        return ApiError(text, status, method=method, path=path,
                        hint="The worker kept answering with errors; look at its log, then try again.")
    return ConnectionFailed(text, "The worker accepts connections but does not answer in time; look at "
                                  "its log, or raise request_timeout in the environment settings.")


def unknown_outcome(shown: str, what: str, name: str | None) -> UnknownOutcome:
    hint = (f"Read connector {name!r} back before writing again; 'kcplan plan' shows what is left to do."
            if name else None)
    return UnknownOutcome(f"{shown}: {what}; the write may or may not have happened", hint)


def parse_json(text: str) -> tuple[Any, bool]:
    if not text.strip():
        return None, False
    try:
        return jsonlib.loads(text), True
    except ValueError:
        return None, False


def server_message(body: Any, text: str, is_json: bool) -> str:
    if is_json and isinstance(body, dict) and body.get("message") is not None:
        return tidy_server_message(str(body["message"]))
    if is_json:
        return body_snippet(text)
    return f"(not JSON) {body_snippet(text)}"


def not_http(exc: requests.exceptions.ConnectionError) -> bool:
    """True when the server answered bytes that are not an HTTP status line (not a closed connection,
    nor an HTTP status line cut off in the middle: that answer was lost, the request may have landed)."""
    inner = exc.args[0] if exc.args else None
    causes = inner.args if isinstance(inner, ProtocolError) else ()
    return any(isinstance(c, http.client.BadStatusLine) and not isinstance(c, http.client.RemoteDisconnected)
               and not str(c.args[0] if c.args else "").startswith("HTTP/") for c in causes)


def unsent_reason(exc: requests.exceptions.ConnectionError) -> str | None:
    """Why no connection was made (so nothing was sent), or None when the request may have gone out."""
    inner = exc.args[0] if exc.args else None
    if isinstance(inner, MaxRetryError):
        reason = inner.reason
        if isinstance(reason, NewConnectionError):
            text = str(reason).lower()
            if "refused" in text:
                return "connection refused"
            if "resolve" in text or "name or service" in text:
                return "host name not found"
            return "no connection"
        if isinstance(reason, ConnectTimeoutError):
            return "connect timeout"
    return None
