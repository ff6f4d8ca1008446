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
               (an answer without a body, e.g. 202/204: cut in the middle of its status line)
answer         answer ``status`` with ``body`` (a JSON-able value); nothing forwarded
=============  ====================================================================================

Random faults (``add_random``): each request matching ``method`` and ``path`` gets ``fault`` (or one of
several, picked at random) with ``probability``. The draw is seeded per request, from ``seed``, the method,
path, body and how many times that same request was seen before, so a run is repeatable even when
requests arrive concurrently in another order. One-shot rules (``add``) come first.

    proxy.add_random(("rebalance", "rebalance500"), 0.3, seed=1234)        # 30% of all requests
    proxy.add_random(("timeout500", "drop"), 0.5, seed=7, method="WRITE")  # half of POST/PUT/PATCH/DELETE

Refusing connections: ``proxy.down()`` stops listening and cuts open connections (requests under way
lose their answers, like a crashed gateway), ``proxy.up()`` listens again on the same port;
``proxy.refuse_for(seconds)`` does both from a background thread (returns it; join it to wait).

``FaultProxy(url, tls=ssl_context)`` serves HTTPS (TLS ends at the proxy) for TLS tests.
``proxy.seen`` records every request (method, raw path, fault, status sent, request headers and body),
before the answer goes out; ``Seen.forwarded`` (did the worker get it) and ``Seen.connector`` (from the
path, or the body of POST /connectors) let a test count the writes each connector really got.
``proxy.close()`` stops listening and cuts open connections: from then on connections are refused.

In front of S3 (tests/s3server.py): ``FaultProxy(s3.endpoint_url, keep_host=True)``. SigV4 signs the Host
header, so the proxy must pass it unchanged (by default it sends the upstream's host:port); with ``keep_host``
it also drops ``Expect: 100-continue`` (the proxy itself answered 100 Continue before reading the body) and
keeps the upstream's Content-Length on HEAD answers (S3's object size). Bodies go through byte for byte
(a ``Transfer-Encoding: chunked`` request is de-chunked and forwarded with its Content-Length; an
aws-chunked payload inside it stays as it is). ``answer`` with ``body=bytes`` sends those bytes as they
are, with ``content_type`` (default application/xml), e.g. an S3 error document (``s3_error``).
``closed_port_url()`` gives a URL where nothing listens (connection refused), for failover tests.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import json
import random
import re
import socket
import ssl
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote, urlsplit

REBALANCE_409 = "Cannot complete request because of a conflicting operation (e.g. worker rebalance)"
REBALANCE_500 = "Request cannot be completed because a rebalance is expected"
TIMEOUT_500 = "Request timed out"
FAULTS = ("rebalance", "rebalance500", "timeout500", "drop", "delay", "nonjson", "truncate", "answer")
WRITE_METHODS = ("POST", "PUT", "PATCH", "DELETE")
CANNED = ("rebalance", "rebalance500", "answer", "nonjson")  # answered by the proxy, not forwarded
_CONNECTOR_PATH = re.compile(r"^/connectors/([^/?]+)")
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
    content_type: str | None = None
    pattern: re.Pattern[str] = field(init=False)

    def __post_init__(self) -> None:
        if self.fault not in FAULTS:
            raise ValueError(f"unknown fault {self.fault!r}; one of {', '.join(FAULTS)}")
        self.pattern = re.compile(self.path)

    def matches(self, method: str, path: str) -> bool:
        return self.times > 0 and self.method in ("*", method) and bool(self.pattern.search(path))


@dataclass
class RandomRule:
    """Faults each matching request with ``probability`` (seeded per request; see the module docstring).

    ``method``: one method, '*' for any, 'WRITE' for POST/PUT/PATCH/DELETE. ``served``: faults given."""

    method: str
    path: str
    faults: tuple[str, ...]
    probability: float
    seed: int
    seconds: float = 2.0
    status: int = 200
    body: Any = None
    served: int = 0
    active: bool = True
    pattern: re.Pattern[str] = field(init=False)
    _count: dict[str, int] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        for fault in self.faults:
            if fault not in FAULTS:
                raise ValueError(f"unknown fault {fault!r}; one of {', '.join(FAULTS)}")
        if not self.faults or not 0 <= self.probability <= 1:
            raise ValueError("add_random needs at least one fault and a probability between 0 and 1")
        self.pattern = re.compile(self.path)

    def matches(self, method: str, path: str) -> bool:
        wanted = self.method in ("*", method) or (self.method == "WRITE" and method in WRITE_METHODS)
        return self.active and wanted and bool(self.pattern.search(path))

    def draw(self, method: str, path: str, body: bytes | None) -> Rule | None:
        """The fault for this request (a one-off Rule), or None; the caller holds the proxy's lock."""
        key = f"{method} {path} {hashlib.sha256(body or b'').hexdigest()}"
        seen = self._count.get(key, 0)
        self._count[key] = seen + 1
        rng = random.Random(f"{self.seed}|{key}|{seen}")
        if rng.random() >= self.probability:
            return None
        self.served += 1
        return Rule(method, self.path, rng.choice(self.faults), seconds=self.seconds, status=self.status,
                    body=self.body)


@dataclass(frozen=True)
class Seen:
    """One request the proxy handled: what came in, which fault (or 'forward') and the status sent."""

    method: str
    path: str
    fault: str
    status: int | None
    headers: dict[str, str] = field(default_factory=dict, compare=False, repr=False)
    body: bytes | None = field(default=None, compare=False, repr=False)

    @property
    def forwarded(self) -> bool:
        """The worker got this request (faults that answer by themselves never forward)."""
        return self.fault not in CANNED

    @property
    def connector(self) -> str | None:
        """The connector a request is about: from the path, or the body of POST /connectors."""
        match = _CONNECTOR_PATH.match(self.path)
        if match:
            return unquote(match.group(1))
        if self.method == "POST" and self.path.split("?")[0] == "/connectors" and self.body:
            with contextlib.suppress(ValueError):
                payload = json.loads(self.body)
                if isinstance(payload, dict) and isinstance(payload.get("name"), str):
                    return payload["name"]
        return None


class FaultProxy:
    """Threaded HTTP proxy to ``upstream`` (e.g. 'http://127.0.0.1:8083') on a free local port."""

    def __init__(self, upstream: str, *, upstream_timeout: float = 150.0,
                 tls: ssl.SSLContext | None = None, keep_host: bool = False) -> None:
        parts = urlsplit(upstream)
        self.keep_host = keep_host  # S3 (SigV4 signs Host): forward Host as the client sent it
        self.upstream_host = parts.hostname or "127.0.0.1"
        self.upstream_port = parts.port or 80
        self.upstream_timeout = upstream_timeout
        self.rules: list[Rule] = []
        self.random_rules: list[RandomRule] = []
        self.seen: list[Seen] = []
        self.downtimes: list[tuple[float, float | None]] = []  # (from, until) monotonic, of down()/up()
        self._lock = threading.Lock()
        self._sockets: set[socket.socket] = set()
        self._tls = tls
        self._closed = False
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._listen(0)
        self.url = f"{'https' if tls else 'http'}://127.0.0.1:{self.port}"

    def _listen(self, port: int) -> None:
        server = _Server(("127.0.0.1", port), _make_handler(self))
        server.daemon_threads = True
        if self._tls is not None:
            server.socket = self._tls.wrap_socket(server.socket, server_side=True)
        self.port = server.server_address[1]
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, name="faultproxy", daemon=True)
        self._thread.start()

    def add(self, method: str, path: str, fault: str, *, times: int = 1, seconds: float = 2.0,
            status: int = 200, body: Any = None, content_type: str | None = None) -> Rule:
        """Fault the next ``times`` requests matching ``method`` ('*' for any) and the ``path`` regex.
        ``answer`` sends ``body`` as JSON, or as it is when it is bytes (``content_type``, default XML)."""
        rule = Rule(method, path, fault, times=times, seconds=seconds, status=status, body=body,
                    content_type=content_type)
        with self._lock:
            self.rules.append(rule)
        return rule

    def add_random(self, fault: str | Sequence[str], probability: float, *, seed: int, method: str = "*",
                   path: str = "", seconds: float = 2.0, status: int = 200, body: Any = None) -> RandomRule:
        """Fault each request matching ``method`` ('*' any, 'WRITE' any write) and the ``path`` regex with
        ``probability``; ``fault`` may be several (one is picked at random per faulted request).
        Stays until ``rule.active = False`` or ``clear_random()``."""
        faults = (fault,) if isinstance(fault, str) else tuple(fault)
        rule = RandomRule(method, path, faults, probability, seed, seconds=seconds, status=status, body=body)
        with self._lock:
            self.random_rules.append(rule)
        return rule

    def clear_random(self) -> None:
        with self._lock:
            for rule in self.random_rules:
                rule.active = False
            self.random_rules.clear()

    def faults_done(self, fault: str) -> int:
        with self._lock:
            return sum(1 for s in self.seen if s.fault == fault)

    def down(self) -> None:
        """Stop listening and cut every open connection: connections are refused until ``up()``."""
        with self._lock:
            server, thread, self._server, self._thread = self._server, self._thread, None, None
        if server is None:
            return
        self.downtimes.append((time.monotonic(), None))
        server.shutdown()
        server.server_close()
        with self._lock:
            for sock in list(self._sockets):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
        if thread is not None:
            thread.join(timeout=5)

    def up(self) -> None:
        """Listen again, on the same port (the URL stays valid)."""
        if self._closed or self._server is not None:
            return
        for _attempt in range(50):  # the port was ours a moment ago; a socket may still be closing
            try:
                self._listen(self.port)
                break
            except OSError:
                time.sleep(0.1)
        else:
            raise OSError(f"faultproxy: could not listen on port {self.port} again")
        began, _ = self.downtimes[-1]
        self.downtimes[-1] = (began, time.monotonic())

    def refuse_for(self, seconds: float, *, after: float = 0.0) -> threading.Thread:
        """In the background: wait ``after`` s, refuse connections for ``seconds``, listen again."""
        def run() -> None:
            time.sleep(after)
            self.down()
            time.sleep(seconds)
            self.up()

        thread = threading.Thread(target=run, name="faultproxy-refuse", daemon=True)
        thread.start()
        return thread

    def close(self) -> None:
        """Stop listening and cut every open connection: later connections are refused."""
        if self._closed:
            return
        self._closed = True
        self.down()

    def __enter__(self) -> FaultProxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- used by the handler ------------------------------------------------------------------------

    def take_rule(self, method: str, path: str, body: bytes | None = None) -> Rule | None:
        with self._lock:
            for rule in self.rules:
                if rule.matches(method, path):
                    rule.times -= 1
                    return rule
            for random_rule in self.random_rules:
                if random_rule.matches(method, path):
                    drawn = random_rule.draw(method, path, body)
                    if drawn is not None:
                        return drawn
        return None

    def record(self, method: str, path: str, fault: str, status: int | None,
               headers: dict[str, str], body: bytes | None = None) -> None:
        with self._lock:
            self.seen.append(Seen(method, path, fault, status, headers, body))

    def forward(self, method: str, path: str, headers: dict[str, str],
                body: bytes | None) -> tuple[int, list[tuple[str, str]], bytes]:
        conn = http.client.HTTPConnection(self.upstream_host, self.upstream_port,
                                          timeout=self.upstream_timeout)
        try:
            conn.request(method, path, body=body, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
            kept = [(k, v) for k, v in resp.getheaders() if k.lower() not in _HOP_BY_HOP]
            if self.keep_host and method == "HEAD" and resp.getheader("Content-Length") is not None:
                kept.append(("Content-Length", resp.getheader("Content-Length", "0")))  # the object's size
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
            if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
                body: bytes | None = self._read_chunked() or None
            else:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
            method, path = self.command, self.path
            rule = proxy.take_rule(method, path, body)
            fault = rule.fault if rule else "forward"
            if rule is None:
                self._pass(method, path, body, fault)
            elif fault in CANNED:
                status, payload, ctype = _canned(rule)
                proxy.record(method, path, fault, status, dict(self.headers), body)
                self._send(status, [("Content-Type", ctype)], payload)
            elif fault == "delay":
                time.sleep(rule.seconds)
                self._pass(method, path, body, fault)
            elif fault == "timeout500":
                proxy.forward(method, path, self._upstream_headers(), body)
                payload = json.dumps({"error_code": 500, "message": TIMEOUT_500}).encode()
                proxy.record(method, path, fault, 500, dict(self.headers), body)
                self._send(500, [("Content-Type", "application/json")], payload)
            elif fault == "drop":
                proxy.forward(method, path, self._upstream_headers(), body)
                proxy.record(method, path, fault, None, dict(self.headers), body)
                self.close_connection = True  # no answer at all; the server closes the socket
            elif fault == "truncate":
                status, headers, data = proxy.forward(method, path, self._upstream_headers(), body)
                proxy.record(method, path, fault, status, dict(self.headers), body)
                self.close_connection = True
                if not data:  # no body to cut short: cut the status line ('HTTP/1.1 2')
                    self.wfile.write(f"{self.protocol_version} {status}".encode()[:10])
                    self.wfile.flush()
                    return
                self.send_response(status)
                for key, value in headers:
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data[: len(data) // 2])
                self.wfile.flush()

        def _pass(self, method: str, path: str, body: bytes | None, fault: str) -> None:
            try:
                status, headers, data = proxy.forward(method, path, self._upstream_headers(), body)
            except OSError as exc:
                payload = json.dumps({"error_code": 502, "message": f"faultproxy: upstream: {exc}"}).encode()
                status, headers, data = 502, [("Content-Type", "application/json")], payload
            proxy.record(method, path, fault, status, dict(self.headers), body)  # before answering: a
            self._send(status, headers, data)  # client that got its answer finds the request in seen

        def _upstream_headers(self) -> dict[str, str]:
            if proxy.keep_host:  # Host as the client signed it; Expect was answered here already
                return {k: v for k, v in self.headers.items()
                        if k.lower() == "host" or k.lower() not in (*_HOP_BY_HOP, "expect")}
            return {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}

        def _read_chunked(self) -> bytes:
            """A ``Transfer-Encoding: chunked`` request body, de-chunked (trailers are read and dropped)."""
            parts: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(parts)
                parts.append(self.rfile.read(size))
                self.rfile.readline()

        def _send(self, status: int, headers: list[tuple[str, str]], data: bytes) -> None:
            self.send_response(status)
            for key, value in headers:
                self.send_header(key, value)
            if not any(k.lower() == "content-length" for k, _ in headers):
                self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if not (proxy.keep_host and self.command == "HEAD"):  # an answer to HEAD has no body
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
    if isinstance(rule.body, bytes):
        return rule.status, rule.body, rule.content_type or "application/xml"
    return rule.status, json.dumps(rule.body).encode(), rule.content_type or "application/json"
