"""The one client for the Kafka Connect REST API (see /work/shared/connect-api.md).

One method per endpoint kcplan uses; every HTTP request goes through ``ConnectClient._request``, the
only place that picks a worker URL, turns answers into kcplan.errors types and applies the retry policy:

==========================================================  ==========================================
what happened                                               what the client does
==========================================================  ==========================================
connection refused / connect timeout / name not resolved    nothing was sent: try the next worker URL
                                                            (one round; ConnectionFailed when all fail)
409 rebalance / conflicting operation / stale configuration nothing was done: retry with jittered backoff
/ no known leader, 500 "...a rebalance is expected"         (0.25 s doubling to 5 s) until retry_deadline,
                                                            then RebalanceInProgress
read timeout, connection reset after sending, a cut-off     outcome unknown: a write raises
answer, 500 "Request timed out", 500 "IO Error trying to    UnknownOutcome at once (never repeated);
forward REST request", 502/503/504 from a proxy,            a read is retried like a rebalance
a 2xx answer to a write whose body is not JSON (not Connect's)
401 / 403                                                   AuthFailed at once (no credentials shown)
400                                                         InvalidConfig, per-key messages in .errors
404                                                         NotFound (delete: done; status: state None)
other 409 ("already exists")                                Conflict (never retried)
anything else, or a body that is not JSON                   ApiError with the server's message
==========================================================  ==========================================

Logging (logger ``kcplan.connect``, enabled by ``debug=True``): method, URL, status, duration and
retries; never headers, never bodies (they carry config values). Error messages are scrubbed of the
values of sensitive keys that were part of the request.
"""

from __future__ import annotations

import http.client
import json as jsonlib
import logging
import os
import random
import re
import sys
import threading
import time
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, unquote, urlsplit, urlunsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import ConnectTimeoutError, MaxRetryError, NewConnectionError, ProtocolError

from kcplan.config.sensitive import MASK, SensitiveKeys
from kcplan.connect.models import ConnectorStatus, LiveConnector, ServerInfo
from kcplan.errors import (
    ApiError,
    AuthFailed,
    ConfigError,
    Conflict,
    ConnectError,
    ConnectionFailed,
    InvalidConfig,
    NotFound,
    RebalanceInProgress,
    UnknownOutcome,
)

if TYPE_CHECKING:
    from kcplan.config.environment import Settings

log = logging.getLogger("kcplan.connect")

USER_AGENT = "kcplan/0.1"
POOL_SIZE = 32  # connections kept per worker URL; more than any parallelism setting allows (64 max waits)
FALLBACK_PARALLELISM = 8  # concurrent per-connector reads for workers without expand (< 2.3)
BACKOFF_FIRST, BACKOFF_MAX = 0.25, 5.0
PROBE_TIMEOUT = 30.0  # s for GET /: answered by any worker at once, even in a rebalance
NOT_CONNECT_HINT = ("Check that connect_url in the environment settings (or KCPLAN_CONNECT_URL) points at the Kafka "
                    "Connect REST port (often 8083), not at a Kafka broker (9092) or another service.")
GENERAL_KEY = "(general)"  # InvalidConfig.errors key for messages that name no config key

# -- classification of answers (pure functions, unit-tested with literal inputs) -------------------------

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


def scrub(text: str, secrets: Iterable[str]) -> str:
    """Replace every secret value in ``text`` by the mask (longest first, so overlaps stay hidden)."""
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        text = text.replace(secret, MASK)
    return text


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


def _str_value(value: object) -> str:
    """Connect returns strings; anything else is normalised the way Connect itself would print it."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    return str(value) if isinstance(value, int | float) else jsonlib.dumps(value)


def _str_config(config: Mapping[str, Any]) -> dict[str, str]:
    return {str(k): _str_value(v) for k, v in config.items()}


# -- the client ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Reply:
    """An answer that was accepted: status, raw text and the JSON body (None when not JSON)."""

    method: str
    path: str
    status: int
    text: str
    body: Any
    is_json: bool

    def json_object(self) -> dict[str, Any]:
        return self._expect(dict, "an object")

    def json_list(self) -> list[Any]:
        return self._expect(list, "a list")

    def _expect(self, kind: type, what: str) -> Any:
        if self.is_json and isinstance(self.body, kind):
            return self.body
        shown = f"{self.method} {unquote(self.path)}"
        found = "a body that is not JSON" if not self.is_json else f"JSON that is not {what}"
        raise ApiError(
            f"{shown}: the worker answered HTTP {self.status} with {found}: {body_snippet(self.text)}",
            self.status, method=self.method, path=self.path,
            hint="Is the URL a Kafka Connect REST endpoint (not a proxy or UI)? Check connect_url.",
        )


class _Lost(Exception):
    """The request was sent (maybe processed) but no complete answer came back."""

    def __init__(self, reason: str, silent: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.silent = silent  # nothing at all came back within the read timeout


class ConnectClient:
    """Thread-safe client for one Connect cluster (any of its worker URLs); one pooled Session."""

    def __init__(
        self,
        urls: list[str],
        *,
        timeout: float = 120.0,
        connect_timeout: float = 5.0,
        retry_deadline: float = 120.0,
        auth: tuple[str, str] | None = None,
        bearer_token: str | None = None,
        headers: dict[str, str] | None = None,
        verify: bool | str = True,
        cert: str | tuple[str, str] | None = None,
        debug: bool = False,
        sensitive: SensitiveKeys | None = None,
    ) -> None:
        if isinstance(urls, str):
            urls = [urls]
        self._urls = [u.rstrip("/") for u in urls if u.strip()]
        if not self._urls:
            raise ConfigError("no Connect REST URL given", "Set connect_url in the environment settings.")
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self.retry_deadline = retry_deadline
        self.request_count = 0
        self.retry_count = 0  # answers that were retried (rebalances, lost reads): for logs and tests
        self._sensitive = sensitive or SensitiveKeys()
        self._lock = threading.Lock()
        self._current = 0  # index of the last URL that answered
        self._server_info: ServerInfo | None = None
        _check_tls_files(verify, cert)
        self._session = self._make_session(auth, bearer_token, headers, verify, cert)
        if debug:
            _enable_debug_logging()

    @classmethod
    def from_settings(cls, settings: Settings, debug: bool = False,
                      sensitive: SensitiveKeys | None = None) -> ConnectClient:
        """Build the client from an environment's settings (secrets unwrapped only here). ``sensitive``
        (default: the settings' sensitive_keys) decides which values of a request body are masked in
        the server's messages: pass the project's (schemas included) so PASSWORD keys are masked too."""
        basic = settings.auth.basic
        auth = (basic.username, basic.password.get_secret_value()) if basic else None
        token = settings.auth.bearer_token.get_secret_value() if settings.auth.bearer_token else None
        headers = {k: v.get_secret_value() for k, v in settings.auth.headers.items()}
        tls = settings.tls
        verify: bool | str = tls.ca_bundle if (tls.verify and tls.ca_bundle) else tls.verify
        cert: str | tuple[str, str] | None = None
        if tls.client_key and not tls.client_cert:
            raise ConfigError("tls.client_key is set without tls.client_cert",
                              "Set tls.client_cert to the client certificate (PEM) that goes with the key.")
        if tls.client_cert:
            cert = (tls.client_cert, tls.client_key) if tls.client_key else tls.client_cert
        return cls(
            list(settings.connect_url),
            timeout=settings.request_timeout,
            connect_timeout=settings.connect_timeout,
            retry_deadline=settings.retry_deadline,
            auth=auth,
            bearer_token=token,
            headers=headers,
            verify=verify,
            cert=cert,
            debug=debug,
            sensitive=sensitive or SensitiveKeys(extra_keys=settings.sensitive_keys),
        )

    @property
    def urls(self) -> list[str]:
        return list(self._urls)

    @property
    def current_url(self) -> str:
        """The worker URL that answered last (tried first next time)."""
        return self._urls[self._current]

    def close(self) -> None:
        self._session.close()

    def __enter__(self) -> ConnectClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- endpoints ---------------------------------------------------------------------------------------

    def server_info(self) -> ServerInfo:
        """GET / (version, commit, Kafka cluster id); cached for the client's lifetime."""
        if self._server_info is None:
            body = self._request("GET", "/", probe=True).json_object()
            self._server_info = ServerInfo(
                version=str(body.get("version", "")),
                commit=str(body.get("commit", "")),
                kafka_cluster_id=str(body.get("kafka_cluster_id", "")),
            )
        return self._server_info

    def connector_names(self) -> list[str]:
        return sorted(str(n) for n in self._request("GET", "/connectors").json_list())

    def list_connectors(self) -> dict[str, LiveConnector]:
        """Every connector with config and status: GET /connectors, then ONE
        GET /connectors?expand=status&expand=info for all their configs and states.

        The plain name list comes first because during a rebalance Connect silently leaves out of the
        expanded answer the connectors whose info it cannot read yet (seen for ~15 s on the distributed
        sandbox): a connector that is listed but missing there is read on its own, so a plan never
        mistakes it for absent. Workers older than 2.3 ignore ``expand`` and answer a list of names:
        then each connector is read on its own, FALLBACK_PARALLELISM at a time.
        """
        known = self._server_info
        if known is not None and not known.supports("expand"):
            return self._read_each(self.connector_names())
        listed = self.connector_names()
        reply = self._request("GET", "/connectors", params=[("expand", "status"), ("expand", "info")])
        if reply.is_json and isinstance(reply.body, list):
            return self._read_each([str(n) for n in reply.body])
        found: dict[str, LiveConnector] = {}
        entries = reply.json_object()
        incomplete: list[str] = [name for name in listed if name not in entries]
        for name, entry in entries.items():
            live = live_from_expand(name, entry)
            if live is None:
                incomplete.append(name)  # info missing: removed while listed, or not readable yet
            else:
                found[name] = live
        if incomplete:
            found.update(self._read_each(incomplete))
        return dict(sorted(found.items()))

    def statuses(self) -> dict[str, ConnectorStatus]:
        """The status of every connector: ONE GET /connectors?expand=status (health polling uses it).

        A connector the worker has no status for yet is left out by Connect itself (it answers the
        others). Workers older than 2.3 answer a list of names: then each status is read on its own,
        FALLBACK_PARALLELISM at a time (a connector without status comes back with state None).
        """
        known = self._server_info
        if known is not None and not known.supports("expand"):
            return self._status_each(self.connector_names())
        reply = self._request("GET", "/connectors", params=[("expand", "status")])
        if reply.is_json and isinstance(reply.body, list):
            return self._status_each([str(n) for n in reply.body])
        found: dict[str, ConnectorStatus] = {}
        for name, entry in reply.json_object().items():
            status = entry.get("status") if isinstance(entry, dict) else None
            found[str(name)] = (ConnectorStatus.from_json(str(name), status) if isinstance(status, dict)
                                else ConnectorStatus(name=str(name), state=None))
        return dict(sorted(found.items()))

    def _status_each(self, names: list[str]) -> dict[str, ConnectorStatus]:
        """GET /connectors/NAME/status for each name, concurrently (bounded)."""
        if not names:
            return {}
        with ThreadPoolExecutor(max_workers=min(FALLBACK_PARALLELISM, len(names)),
                                thread_name_prefix="kcplan-status") as pool:
            found = list(pool.map(self.status, names))
        return {status.name: status for status in sorted(found, key=lambda s: s.name)}

    def get_connector(self, name: str) -> LiveConnector:
        """GET /connectors/NAME and its status (two requests; list_connectors reads all in one)."""
        info = self._request("GET", _cpath(name), name=name).json_object()
        status = self.status(name)
        return LiveConnector(
            name=name,
            config=_str_config(info.get("config") or {}),
            type=str(info.get("type") or status.type or ""),
            status=status,
        )

    def get_config(self, name: str) -> dict[str, str]:
        return _str_config(self._request("GET", _cpath(name, "config"), name=name).json_object())

    def herder_round_trip(self, name: str) -> float:
        """Seconds the slowest configured worker took to answer ``GET /connectors/NAME/config``, asked
        one by one, without retries or failover. Each worker's herder thread serves it, so it stalls or
        answers 409/500 while THAT worker is in a rebalance: health verification uses it to tell a quiet
        cluster from a busy one, and the connector's own worker may be busy while another is not.
        Raises ConnectionFailed naming the worker when one does not answer 200."""
        slowest = 0.0
        for base in self._urls:
            url = base + _cpath(name, "config")
            began = time.monotonic()
            try:
                resp = self._session.get(url, timeout=(self.connect_timeout, self.timeout), allow_redirects=False)
            except requests.exceptions.RequestException as exc:
                self._log("GET", url, None, type(exc).__name__, began)
                raise ConnectionFailed(f"GET {redact_url(url)}: {type(exc).__name__}") from None
            self._count_sent()
            self._log("GET", url, None, resp.status_code, began)
            if resp.status_code != 200:
                raise ConnectionFailed(f"GET {redact_url(url)}: HTTP {resp.status_code}")
            slowest = max(slowest, time.monotonic() - began)
        return slowest

    def put_config(self, name: str, config: Mapping[str, str]) -> bool:
        """PUT /connectors/NAME/config: create or replace; True when created (201)."""
        try:
            reply = self._request("PUT", _cpath(name, "config"), json=dict(config), name=name)
        except InvalidConfig as exc:
            raise self._with_validation(exc, name, config) from None
        return reply.status == 201

    def patch_config(self, name: str, patch: Mapping[str, str | None]) -> dict[str, str]:
        """PATCH /connectors/NAME/config (Connect 3.8+; None removes a key); returns the new config."""
        self._require("patch_config", "PATCH /connectors/NAME/config")
        reply = self._request("PATCH", _cpath(name, "config"), json=dict(patch), name=name)
        body = reply.json_object()
        config = body.get("config")
        return _str_config(config if isinstance(config, dict) else body)

    def create(self, name: str, config: Mapping[str, str], initial_state: str | None = None) -> None:
        """POST /connectors (not idempotent: a Conflict may be our own earlier attempt; read back)."""
        payload: dict[str, Any] = {"name": name, "config": dict(config)}
        if initial_state not in (None, "RUNNING"):  # RUNNING is the default: left out for older workers
            self._require("initial_state", f"creating a connector in state {initial_state}")
            payload["initial_state"] = initial_state
        try:
            self._request("POST", "/connectors", json=payload, name=name)
        except InvalidConfig as exc:
            raise self._with_validation(exc, name, config) from None

    def delete(self, name: str) -> None:
        """DELETE /connectors/NAME; a connector that is already gone counts as deleted."""
        try:
            self._request("DELETE", _cpath(name), name=name)
        except NotFound:
            return

    def pause(self, name: str) -> None:
        self._request("PUT", _cpath(name, "pause"), name=name)

    def resume(self, name: str) -> None:
        self._request("PUT", _cpath(name, "resume"), name=name)

    def stop(self, name: str) -> None:
        self._require("stop", "stopping a connector")
        self._request("PUT", _cpath(name, "stop"), name=name)

    def restart(self, name: str, include_tasks: bool = False,
                only_failed: bool = False) -> ConnectorStatus | None:
        """POST /connectors/NAME/restart (not idempotent: every accepted call bounces the connector).

        With include_tasks/only_failed (Connect 3.0+) the worker answers 202 and the status in which
        whatever it restarts shows RESTARTING; that status is returned. A plain restart returns None.
        """
        params: list[tuple[str, str]] = []
        if include_tasks or only_failed:
            self._require("restart_tasks", "restart with includeTasks/onlyFailed")
            params = [("includeTasks", _flag(include_tasks)), ("onlyFailed", _flag(only_failed))]
        reply = self._request("POST", _cpath(name, "restart"), params=params or None, name=name)
        if reply.is_json and isinstance(reply.body, dict) and "connector" in reply.body:
            return ConnectorStatus.from_json(name, reply.body)
        return None

    def status(self, name: str) -> ConnectorStatus:
        """GET /connectors/NAME/status; 404 (no status written yet, or no such connector) -> state None."""
        try:
            body = self._request("GET", _cpath(name, "status"), name=name).json_object()
        except NotFound:
            return ConnectorStatus(name=name, state=None)
        return ConnectorStatus.from_json(name, body)

    def validate_config(self, connector_class: str, config: Mapping[str, str]) -> dict[str, list[str]]:
        """PUT /connector-plugins/CLASS/config/validate: {key: [messages]}, {} when valid. Changes nothing.

        Connect requires ``name`` in the body; a placeholder is added when the config has none.
        """
        body = dict(config)
        body.setdefault("connector.class", connector_class)
        body.setdefault("name", "kcplan-validate")
        path = f"/connector-plugins/{_q(connector_class)}/config/validate"
        reply = self._request("PUT", path, json=body, write=False)
        secrets = self._secrets_of(body)
        return {key: [scrub(m, secrets) for m in messages]
                for key, messages in validation_errors(reply.json_object()).items()}

    def plugins(self, connectors_only: bool = True) -> list[dict[str, Any]]:
        """GET /connector-plugins (with connectors_only=False also converters, transforms, predicates)."""
        params = None if connectors_only else [("connectorsOnly", "false")]
        return [p for p in self._request("GET", "/connector-plugins", params=params).json_list()
                if isinstance(p, dict)]

    def plugin_config(self, connector_class: str) -> list[dict[str, Any]]:
        """GET /connector-plugins/CLASS/config: the config definitions (type PASSWORD marks secrets)."""
        self._require("plugin_config", "reading a plugin's config definitions")
        reply = self._request("GET", f"/connector-plugins/{_q(connector_class)}/config")
        return [d for d in reply.json_list() if isinstance(d, dict)]

    def health(self) -> dict[str, Any]:
        """GET /health (Connect 3.9+): {'status': 'healthy'|'starting'|'unhealthy', 'message': ...}.

        503 (starting) and 500 (unhealthy) are answers here, not errors.
        """
        self._require("health", "GET /health")
        return self._request("GET", "/health", accept=(500, 503)).json_object()

    # -- helpers of the endpoints -----------------------------------------------------------------------

    def _require(self, feature: str, what: str) -> None:
        info = self.server_info()
        if not info.supports(feature):
            from kcplan.connect.models import FEATURE_SINCE

            since = ".".join(str(p) for p in FEATURE_SINCE[feature][:2])
            raise ConnectError(
                f"{what} needs Kafka Connect {since} or newer; the worker at {redact_url(self.current_url)} "
                f"runs {info.version or 'an unknown version'}",
                "Upgrade the Connect cluster, or leave out the setting that needs it.",
            )

    def _read_each(self, names: list[str]) -> dict[str, LiveConnector]:
        """Read connectors one by one, concurrently (bounded); a connector gone meanwhile is skipped."""
        def one(name: str) -> LiveConnector | None:
            try:
                return self.get_connector(name)
            except NotFound:
                return None

        if not names:
            return {}
        with ThreadPoolExecutor(max_workers=min(FALLBACK_PARALLELISM, len(names)),
                                thread_name_prefix="kcplan-read") as pool:
            results = list(pool.map(one, names))
        return {live.name: live for live in sorted((r for r in results if r), key=lambda c: c.name)}

    def _with_validation(self, exc: InvalidConfig, name: str, config: Mapping[str, str]) -> InvalidConfig:
        """Connect's 400 lists messages without keys; when some stay unattributed, ask /validate which."""
        cls = config.get("connector.class")
        if GENERAL_KEY not in exc.errors or not cls:
            return exc
        try:
            errors = self.validate_config(cls, {"name": name, **config})
        except ConnectError:
            return exc
        if errors:
            exc.errors = errors
        return exc

    # -- the one place that sends requests, classifies answers and retries ------------------------------

    def _request(
        self,
        method: str,
        path: str,
        *,
        params: list[tuple[str, str]] | None = None,
        json: Any = None,
        write: bool | None = None,
        name: str | None = None,
        accept: tuple[int, ...] = (),
        probe: bool = False,
    ) -> Reply:
        """Send one logical request; returns a 2xx (or accepted) Reply or raises a kcplan error.

        ``write`` (default: every method but GET) decides what a lost answer means: a write raises
        UnknownOutcome and is never repeated, a read is retried until retry_deadline. ``probe`` (the
        first contact, GET /, which a worker answers at once) waits at most PROBE_TIMEOUT and fails at
        once when nothing at all comes back: a wrong port (a Kafka broker's) accepts the connection and
        stays silent.
        """
        is_write = method != "GET" if write is None else write
        shown = f"{method} {unquote(path)}"
        secrets = self._secrets_of(json)
        deadline = time.monotonic() + self.retry_deadline
        attempt = 0
        while True:
            try:
                resp = self._send(method, path, params, json,
                                  read_timeout=min(self.timeout, PROBE_TIMEOUT) if probe else self.timeout)
            except _Lost as lost:
                if probe and lost.silent:  # a cut-off answer is retried like any lost read
                    raise ConnectionFailed(f"{shown}: {lost.reason}", NOT_CONNECT_HINT) from None
                if is_write:
                    raise _unknown_outcome(shown, lost.reason, name) from None
                verdict, problem, status = LOST, lost.reason, 0
            else:
                status, text = resp.status_code, resp.text
                body, is_json = _parse_json(text)
                message = scrub(_server_message(body, text, is_json), secrets)
                verdict = OK if status in accept else classify(status, message, name)
                if verdict == OK and is_write and not is_json and text.strip():
                    # Connect answers writes with JSON or nothing: this came from something in between
                    # (a login page, a gateway), which may or may not have passed the write on.
                    raise _unknown_outcome(shown, f"the answer (HTTP {status}) is not from Kafka Connect: "
                                                  f"{message}", name)
                if verdict == OK:
                    return Reply(method, path, status, text, body, is_json)
                if verdict == LOST and is_write:
                    raise _unknown_outcome(shown, f"the worker answered HTTP {status}: {message}", name)
                if verdict == FAIL:
                    raise self._error(method, path, status, body, message, name)
                problem = f"HTTP {status}: {message}"
            delay = min(BACKOFF_MAX, BACKOFF_FIRST * 2**attempt)
            delay = random.uniform(delay / 2, delay)
            attempt += 1
            if time.monotonic() + delay > deadline:
                raise self._gave_up(method, path, verdict, status, problem, attempt, name)
            log.debug("%s: %s; retry %d in %.2f s", shown, problem, attempt, delay)
            with self._lock:
                self.retry_count += 1
            time.sleep(delay)

    def _send(self, method: str, path: str, params: list[tuple[str, str]] | None,
              json: Any, read_timeout: float) -> requests.Response:
        """One HTTP exchange, trying the worker URLs in turn while nothing could be sent."""
        with self._lock:
            start = self._current
        failures: list[str] = []
        count = len(self._urls)
        for offset in range(count):
            index = (start + offset) % count
            url = self._urls[index] + path
            began = time.monotonic()
            try:
                resp = self._session.request(
                    method, url, params=params, json=json,
                    timeout=(self.connect_timeout, read_timeout), allow_redirects=False,
                )
            except requests.exceptions.SSLError as exc:
                tls_problem = _tls_reason(exc, self._session.cert is not None)
                raise ConnectionFailed(
                    f"{method} {redact_url(url)}: TLS handshake failed: {tls_problem}",
                    "Set tls.client_cert and tls.client_key (PEM files) in the environment settings to a "
                    "certificate the worker trusts." if "client certificate" in tls_problem else
                    "If the worker's certificate comes from a private CA, set tls.ca_bundle to that CA's PEM "
                    "file in the environment settings; for client certificates set tls.client_cert and "
                    "tls.client_key.",
                ) from None
            except requests.exceptions.ConnectTimeout:
                failures.append(f"{redact_url(self._urls[index])}: no connection within "
                                f"{self.connect_timeout:g} s")
                self._log(method, url, params, "connect timeout", began)
                continue
            except requests.exceptions.ConnectionError as exc:
                reason = unsent_reason(exc)
                if reason is not None:
                    failures.append(f"{redact_url(self._urls[index])}: {reason}")
                    self._log(method, url, params, reason, began)
                    continue
                self._count_sent()
                if _not_http(exc):
                    self._log(method, url, params, "not HTTP", began)
                    raise ConnectionFailed(f"{method} {redact_url(url)}: the server answered, but not with HTTP",
                                           NOT_CONNECT_HINT) from None
                self._log(method, url, params, "connection lost", began)
                raise _Lost(f"the connection to {redact_url(self._urls[index])} was closed before an "
                            "answer came") from None
            except requests.exceptions.Timeout:
                self._count_sent()
                self._log(method, url, params, "read timeout", began)
                raise _Lost(f"no answer from {redact_url(self._urls[index])} within {read_timeout:g} s",
                            silent=True) from None
            except (requests.exceptions.ChunkedEncodingError, requests.exceptions.ContentDecodingError):
                self._count_sent()
                self._log(method, url, params, "answer cut off", began)
                raise _Lost(f"the answer from {redact_url(self._urls[index])} was cut off") from None
            except requests.exceptions.RequestException as exc:
                raise ConnectionFailed(
                    f"{method} {redact_url(url)}: {type(exc).__name__}",
                    "Check connect_url in the environment settings (or KCPLAN_CONNECT_URL).",
                ) from None
            self._count_sent()
            with self._lock:
                self._current = index
            self._log(method, url, params, resp.status_code, began)
            return resp
        raise ConnectionFailed(
            f"{method} {unquote(path)}: no Connect worker answered ({'; '.join(failures)})",
            "Check that the Connect worker is up and connect_url in the environment settings "
            "(or KCPLAN_CONNECT_URL) points at its REST port.",
        )

    def _error(self, method: str, path: str, status: int, body: Any, message: str,
               name: str | None) -> ApiError:
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

    def _gave_up(self, method: str, path: str, verdict: str, status: int, problem: str, attempts: int,
                 name: str | None) -> ConnectError:
        shown = f"{method} {unquote(path)}"
        text = (f"{shown}: still failing after {attempts} attempts in {self.retry_deadline:g} s "
                f"(last: {problem})")
        if verdict == RETRY:
            return RebalanceInProgress(text, status, method=method, path=path)
        if status:
            return ApiError(text, status, method=method, path=path,
                            hint="The worker kept answering with errors; look at its log, then try again.")
        return ConnectionFailed(text, "The worker accepts connections but does not answer in time; look at "
                                      "its log, or raise request_timeout in the environment settings.")

    # -- small pieces ------------------------------------------------------------------------------------

    def _make_session(self, auth: tuple[str, str] | None, bearer_token: str | None,
                      headers: dict[str, str] | None, verify: bool | str,
                      cert: str | tuple[str, str] | None) -> requests.Session:
        session = requests.Session()
        adapter = HTTPAdapter(pool_connections=max(4, len(self._urls)), pool_maxsize=POOL_SIZE, max_retries=0)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        session.trust_env = False  # no proxy or netrc surprises from the environment; settings say all
        session.headers.update({"Accept": "application/json", "User-Agent": USER_AGENT})
        session.headers.update(headers or {})
        if bearer_token:
            session.headers["Authorization"] = f"Bearer {bearer_token}"
        if auth:
            session.auth = auth
        session.verify = verify
        session.cert = cert
        return session

    def _count_sent(self) -> None:
        with self._lock:
            self.request_count += 1

    def _secrets_of(self, payload: Any) -> list[str]:
        """Values of sensitive keys in a request body (they must not come back in error messages)."""
        if not isinstance(payload, dict):
            return []
        inner = payload.get("config")
        config: dict[Any, Any] = inner if isinstance(inner, dict) else payload
        cls = str(config.get("connector.class", ""))
        return [v for k, v in config.items()
                if isinstance(v, str) and self._sensitive.hides(str(k), v, cls)]

    @staticmethod
    def _log(method: str, url: str, params: list[tuple[str, str]] | None, outcome: object,
             began: float) -> None:
        if log.isEnabledFor(logging.DEBUG):
            query = "?" + "&".join(f"{k}={v}" for k, v in params) if params else ""
            log.debug("%s %s%s -> %s (%.0f ms)", method, redact_url(url), query, outcome,
                      (time.monotonic() - began) * 1000)


def _unknown_outcome(shown: str, what: str, name: str | None) -> UnknownOutcome:
    hint = (f"Read connector {name!r} back before writing again; 'kcplan plan' shows what is left to do."
            if name else None)
    return UnknownOutcome(f"{shown}: {what}; the write may or may not have happened", hint)


def live_from_expand(name: str, entry: Any) -> LiveConnector | None:
    """One entry of the expand answer; None when its info is missing (status alone may be missing)."""
    if not isinstance(entry, dict):
        return None
    info, status = entry.get("info"), entry.get("status")
    if not isinstance(info, dict) or not isinstance(info.get("config"), dict):
        return None
    parsed = ConnectorStatus.from_json(name, status) if isinstance(status, dict) else None
    kind = info.get("type") or (parsed.type if parsed else "")
    return LiveConnector(name=name, config=_str_config(info["config"]), type=str(kind or ""), status=parsed)


def _parse_json(text: str) -> tuple[Any, bool]:
    if not text.strip():
        return None, False
    try:
        return jsonlib.loads(text), True
    except ValueError:
        return None, False


def _server_message(body: Any, text: str, is_json: bool) -> str:
    if is_json and isinstance(body, dict) and body.get("message") is not None:
        return tidy_server_message(str(body["message"]))
    if is_json:
        return body_snippet(text)
    return f"(not JSON) {body_snippet(text)}"


def _not_http(exc: requests.exceptions.ConnectionError) -> bool:
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


_TLS_ALERT = re.compile(r"\b(?:SSLV3|TLSV1[0-9]*)_ALERT_(?P<alert>[A-Z_]+)")
# Alerts a server sends when it wants (another) client certificate.
_CLIENT_CERT_ALERTS = {"BAD_CERTIFICATE", "CERTIFICATE_REQUIRED", "HANDSHAKE_FAILURE", "UNKNOWN_CA",
                       "CERTIFICATE_UNKNOWN", "ACCESS_DENIED", "UNSUPPORTED_CERTIFICATE", "DECRYPT_ERROR"}


def _tls_reason(exc: requests.exceptions.SSLError, client_cert: bool = False) -> str:
    """One readable line out of the nested urllib3/ssl text (which repeats the URL and C file names)."""
    text = str(exc)
    match = re.search(r"certificate verify failed:? ?(?P<why>.*?)(?: \(_ssl\.c|['\"]?\)|$)", text)
    if match:
        why = match.group("why").strip().rstrip(",.")
        return "the worker's certificate is not trusted (certificate verify failed" + (f": {why})" if why else ")")
    alert = _TLS_ALERT.search(text)
    if alert:
        name = alert.group("alert")
        shown = name.lower().replace("_", " ")
        if name in _CLIENT_CERT_ALERTS:
            if client_cert:
                return f"the worker refused kcplan's client certificate (TLS alert: {shown})"
            return f"the worker requires a client certificate and none is configured (TLS alert: {shown})"
        return f"the worker ended the handshake (TLS alert: {shown})"
    if "EOF occurred in violation of protocol" in text or "UNEXPECTED_EOF" in text:
        # A server that refuses the client certificate may close before its alert is read.
        if client_cert:
            return ("the worker closed the connection during the TLS handshake (it may have refused kcplan's "
                    "client certificate)")
        return ("the worker closed the connection during the TLS handshake: it may require a client "
                "certificate, and none is configured")
    if "WRONG_VERSION_NUMBER" in text:
        return "the server does not speak TLS on this port (wrong version number): is it an http:// URL?"
    inner = re.search(r"\[SSL: [A-Z_]+\] (?P<why>[^(')\"]*)", text)
    if inner:
        return inner.group("why").strip()
    return body_snippet(text, 160)


def _check_tls_files(verify: bool | str, cert: str | tuple[str, str] | None) -> None:
    """requests only notices a missing CA bundle or client certificate file mid-request, as a bare OSError."""
    named = [("tls.ca_bundle", verify)] if isinstance(verify, str) else []
    if isinstance(cert, str):
        named.append(("tls.client_cert", cert))
    elif cert:
        named += [("tls.client_cert", cert[0]), ("tls.client_key", cert[1])]
    for key, path in named:
        if not os.path.exists(path):
            raise ConfigError(f"{key}: file {path} not found",
                              f"Fix {key} in the environment settings (a PEM file; relative paths are "
                              "taken from the current directory).")


def _flag(value: bool) -> str:
    return "true" if value else "false"


def _q(segment: str) -> str:
    """URL-encode one path segment completely ('/', '?', '#', '%' and spaces included)."""
    return quote(segment, safe="")


def _cpath(name: str, *rest: str) -> str:
    return "/".join(["/connectors", _q(name), *rest])


def _enable_debug_logging() -> None:
    """--debug: send kcplan.connect's records to stderr unless the application configured logging."""
    if log.handlers or logging.getLogger().handlers:
        log.setLevel(logging.DEBUG)
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(message)s"))
    log.addHandler(handler)
    log.setLevel(logging.DEBUG)
