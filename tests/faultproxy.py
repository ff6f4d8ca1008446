"""A small fault-injecting HTTP proxy in front of a REAL Connect worker, for tests.

The real worker cannot be told to lose an answer or to rebalance on cue; this proxy can, per request.
Everything it does not fault is forwarded unchanged, so the worker's real behaviour stays the oracle.

    with FaultProxy(connect_url) as proxy:
        proxy.add("PUT", r"^/connectors/my-conn/config$", "timeout500")   # next matching request only
        client = ConnectClient([proxy.url])
        ...
        assert proxy.faults_done("timeout500") == 1

Faults (a rule applies to the next ``times`` requests that match ``method`` and the ``path`` regex,
searched in the raw, still URL-encoded path with its query string; then it expires):

=============  ====================================================================================
rebalance      answer 409 with Connect's rebalance message; nothing forwarded
rebalance500   answer 500 "Request cannot be completed because a rebalance is expected"; not forwarded
timeout500     forward, throw the answer away, answer 500 "Request timed out" (the write DID happen)
drop           forward, then close the connection without any answer (the write DID happen)
delay          wait ``seconds`` (default 2), then forward
nonjson        answer ``status`` (default 200) with an HTML page; nothing forwarded
truncate       forward, then send the headers and only half of the body and close the connection
answer         answer ``status`` with ``body`` (a JSON-able value); nothing forwarded
=============  ====================================================================================

``FaultProxy(url, tls=ssl_context)`` serves HTTPS (TLS ends at the proxy) for TLS tests.
``proxy.seen`` records every request (method, raw path, fault, status sent, request headers).
``proxy.close()`` stops listening and cuts open connections: from then on connections are refused.
``closed_port_url()`` gives a URL where nothing listens (connection refused), for failover tests.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import re
import socket
import ssl
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

REBALANCE_409 = "Cannot complete request because of a conflicting operation (e.g. worker rebalance)"
REBALANCE_500 = "Request cannot be completed because a rebalance is expected"
TIMEOUT_500 = "Request timed out"
FAULTS = ("rebalance", "rebalance500", "timeout500", "drop", "delay", "nonjson", "truncate", "answer")
_HOP_BY_HOP = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailers",
               "transfer-encoding", "upgrade", "host", "content-length"}


@dataclass
class Rule:
    method: str
    path: str
    fault: str
    times: int = 1
    seconds: float = 2.0
    status: int = 200
    body: Any = None
    pattern: re.Pattern[str] = field(init=False)

    def __post_init__(self) -> None:
        if self.fault not in FAULTS:
            raise ValueError(f"unknown fault {self.fault!r}; one of {', '.join(FAULTS)}")
        self.pattern = re.compile(self.path)

    def matches(self, method: str, path: str) -> bool:
        return self.times > 0 and self.method in ("*", method) and bool(self.pattern.search(path))


@dataclass(frozen=True)
class Seen:
    """One request the proxy handled: what came in, which fault (or 'forward') and the status sent."""

    method: str
    path: str
    fault: str
    status: int | None
    headers: dict[str, str] = field(default_factory=dict, compare=False, repr=False)


class FaultProxy:
    """Threaded HTTP proxy to ``upstream`` (e.g. 'http://127.0.0.1:8083') on a free local port."""

    def __init__(self, upstream: str, *, upstream_timeout: float = 150.0,
                 tls: ssl.SSLContext | None = None) -> None:
        parts = urlsplit(upstream)
        self.upstream_host = parts.hostname or "127.0.0.1"
        self.upstream_port = parts.port or 80
        self.upstream_timeout = upstream_timeout
        self.rules: list[Rule] = []
        self.seen: list[Seen] = []
        self._lock = threading.Lock()
        self._sockets: set[socket.socket] = set()
        self._server = _Server(("127.0.0.1", 0), _make_handler(self))
        self._server.daemon_threads = True
        if tls is not None:
            self._server.socket = tls.wrap_socket(self._server.socket, server_side=True)
        self.port = self._server.server_address[1]
        self.url = f"{'https' if tls else 'http'}://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, name="faultproxy", daemon=True)
        self._thread.start()
        self._closed = False

    def add(self, method: str, path: str, fault: str, *, times: int = 1, seconds: float = 2.0,
            status: int = 200, body: Any = None) -> Rule:
        """Fault the next ``times`` requests matching ``method`` ('*' for any) and the ``path`` regex."""
        rule = Rule(method, path, fault, times=times, seconds=seconds, status=status, body=body)
        with self._lock:
            self.rules.append(rule)
        return rule

    def faults_done(self, fault: str) -> int:
        with self._lock:
            return sum(1 for s in self.seen if s.fault == fault)

    def close(self) -> None:
        """Stop listening and cut every open connection: later connections are refused."""
        if self._closed:
            return
        self._closed = True
        self._server.shutdown()
        self._server.server_close()
        with self._lock:
            for sock in list(self._sockets):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
        self._thread.join(timeout=5)

    def __enter__(self) -> FaultProxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- used by the handler ------------------------------------------------------------------------

    def take_rule(self, method: str, path: str) -> Rule | None:
        with self._lock:
            for rule in self.rules:
                if rule.matches(method, path):
                    rule.times -= 1
                    return rule
        return None

    def record(self, method: str, path: str, fault: str, status: int | None,
               headers: dict[str, str]) -> None:
        with self._lock:
            self.seen.append(Seen(method, path, fault, status, headers))

    def forward(self, method: str, path: str, headers: dict[str, str],
                body: bytes | None) -> tuple[int, list[tuple[str, str]], bytes]:
        conn = http.client.HTTPConnection(self.upstream_host, self.upstream_port,
                                          timeout=self.upstream_timeout)
        try:
            conn.request(method, path, body=body, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
            kept = [(k, v) for k, v in resp.getheaders() if k.lower() not in _HOP_BY_HOP]
            return resp.status, kept, data
        finally:
            conn.close()


class _Server(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that gave up (its timeout) before the answer is normal here, not worth a traceback."""
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


def closed_port_url() -> str:
    """An http URL on 127.0.0.1 where nothing listens (the port was free a moment ago)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def _make_handler(proxy: FaultProxy) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, like a real worker: clients pool connections

        def setup(self) -> None:
            super().setup()
            with proxy._lock:
                proxy._sockets.add(self.connection)

        def finish(self) -> None:
            with proxy._lock:
                proxy._sockets.discard(self.connection)
            super().finish()

        def log_message(self, format: str, *args: Any) -> None:  # quiet test output
            pass

        def do_GET(self) -> None:
            self._handle()

        do_PUT = do_POST = do_PATCH = do_DELETE = do_HEAD = do_GET

        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else None
            method, path = self.command, self.path
            rule = proxy.take_rule(method, path)
            fault = rule.fault if rule else "forward"
            if rule is None:
                self._pass(method, path, body, fault)
            elif fault in ("rebalance", "rebalance500", "answer", "nonjson"):
                status, payload, ctype = _canned(rule)
                self._send(status, [("Content-Type", ctype)], payload)
                proxy.record(method, path, fault, status, dict(self.headers))
            elif fault == "delay":
                time.sleep(rule.seconds)
                self._pass(method, path, body, fault)
            elif fault == "timeout500":
                proxy.forward(method, path, self._upstream_headers(), body)
                payload = json.dumps({"error_code": 500, "message": TIMEOUT_500}).encode()
                self._send(500, [("Content-Type", "application/json")], payload)
                proxy.record(method, path, fault, 500, dict(self.headers))
            elif fault == "drop":
                proxy.forward(method, path, self._upstream_headers(), body)
                proxy.record(method, path, fault, None, dict(self.headers))
                self.close_connection = True  # no answer at all; the server closes the socket
            elif fault == "truncate":
                status, headers, data = proxy.forward(method, path, self._upstream_headers(), body)
                self.send_response(status)
                for key, value in headers:
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data[: len(data) // 2])
                self.wfile.flush()
                proxy.record(method, path, fault, status, dict(self.headers))
                self.close_connection = True

        def _pass(self, method: str, path: str, body: bytes | None, fault: str) -> None:
            try:
                status, headers, data = proxy.forward(method, path, self._upstream_headers(), body)
            except OSError as exc:
                payload = json.dumps({"error_code": 502, "message": f"faultproxy: upstream: {exc}"}).encode()
                status, headers, data = 502, [("Content-Type", "application/json")], payload
            self._send(status, headers, data)
            proxy.record(method, path, fault, status, dict(self.headers))

        def _upstream_headers(self) -> dict[str, str]:
            return {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}

        def _send(self, status: int, headers: list[tuple[str, str]], data: bytes) -> None:
            self.send_response(status)
            for key, value in headers:
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    return Handler


def _canned(rule: Rule) -> tuple[int, bytes, str]:
    """Status, body and content type of a fault that answers without the worker."""
    if rule.fault == "rebalance":
        return 409, json.dumps({"error_code": 409, "message": REBALANCE_409}).encode(), "application/json"
    if rule.fault == "rebalance500":
        return 500, json.dumps({"error_code": 500, "message": REBALANCE_500}).encode(), "application/json"
    if rule.fault == "nonjson":
        page = b"<html><head><title>Sign in</title></head><body>Please sign in</body></html>"
        return rule.status, page, "text/html"
    return rule.status, json.dumps(rule.body).encode(), "application/json"
