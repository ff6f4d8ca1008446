"""The one place that sends HTTP requests to Kafka Connect: worker failover, retries, unknown outcomes.

Every request of kcplan/connect/client.py goes through ``Transport.request``; what each answer leads to
(retry, UnknownOutcome, which error) is decided by kcplan/connect/classify.py and tabled in
docs/connect-client.md. A write whose answer was lost is never repeated: it raises UnknownOutcome.
Logging (``kcplan.connect``, on with debug): method, URL, status, duration, retries; never headers or bodies.
"""

from __future__ import annotations

import logging
import random
import sys
import threading
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

import requests
from requests.adapters import HTTPAdapter

from kcplan.config.sensitive import SensitiveKeys, scrub
from kcplan.connect.classify import (
    FAIL,
    LOST,
    NOT_CONNECT_HINT,
    OK,
    body_snippet,
    classify,
    error_for,
    gave_up,
    not_http,
    parse_json,
    redact_url,
    server_message,
    unknown_outcome,
    unsent_reason,
)
from kcplan.connect.tls import check_tls_files, tls_reason
from kcplan.errors import ApiError, ConfigError, ConnectionFailed

log = logging.getLogger("kcplan.connect")

USER_AGENT = "kcplan/0.1"
POOL_SIZE = 32  # connections kept per worker URL; more than any parallelism setting allows (64 max waits)
BACKOFF_FIRST, BACKOFF_MAX = 0.25, 5.0
PROBE_TIMEOUT = 30.0  # s for GET /: answered by any worker at once, even in a rebalance


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


class Transport:
    """Thread-safe sender for one Connect cluster (any of its worker URLs); one pooled Session."""

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
        check_tls_files(verify, cert)
        self._session = self._make_session(auth, bearer_token, headers, verify, cert)
        if debug:
            enable_debug_logging()

    @property
    def urls(self) -> list[str]:
        return list(self._urls)

    @property
    def current_url(self) -> str:
        """The worker URL that answered last (tried first next time)."""
        return self._urls[self._current]

    def close(self) -> None:
        self._session.close()

    def time_each_worker(self, path: str) -> float:
        """Seconds the slowest worker took to answer ``GET path``, asked one by one, without retries or
        failover; ConnectionFailed naming the worker when one does not answer 200."""
        slowest = 0.0
        for base in self._urls:
            url = base + path
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

    def request(
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
        secrets = self.secrets_of(json)
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
                    raise unknown_outcome(shown, lost.reason, name) from None
                verdict, problem, status = LOST, lost.reason, 0
            else:
                status, text = resp.status_code, resp.text
                body, is_json = parse_json(text)
                message = scrub(server_message(body, text, is_json), secrets)
                verdict = OK if status in accept else classify(status, message, name)
                if verdict == OK and is_write and not is_json and text.strip():
                    # Connect answers writes with JSON or nothing: this came from something in between
                    # (a login page, a gateway), which may or may not have passed the write on.
                    raise unknown_outcome(shown, f"the answer (HTTP {status}) is not from Kafka Connect: "
                                                  f"{message}", name)
                if verdict == OK:
                    return Reply(method, path, status, text, body, is_json)
                if verdict == LOST and is_write:
                    raise unknown_outcome(shown, f"the worker answered HTTP {status}: {message}", name)
                if verdict == FAIL:
                    raise error_for(method, path, status, body, message, name)
                problem = f"HTTP {status}: {message}"
            delay = min(BACKOFF_MAX, BACKOFF_FIRST * 2**attempt)
            delay = random.uniform(delay / 2, delay)
            attempt += 1
            if time.monotonic() + delay > deadline:
                raise gave_up(method, path, verdict, status, problem, attempt, self.retry_deadline)
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
                tls_problem = tls_reason(exc, self._session.cert is not None)
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
                if not_http(exc):
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

    def secrets_of(self, payload: Any) -> list[str]:
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


def enable_debug_logging() -> None:
    """--debug: send kcplan.connect's records to stderr unless the application configured logging."""
    if log.handlers or logging.getLogger().handlers:
        log.setLevel(logging.DEBUG)
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(message)s"))
    log.addHandler(handler)
    log.setLevel(logging.DEBUG)
