"""A request counter that answers like an EMPTY Kafka Connect cluster (for bad-input tests).

It is not a stand-in for Connect's behaviour (that is always tested against the real worker); it only
records which requests a command sent. Reads of an empty cluster are answered (GET / and
GET /connectors), every other request gets 403 "read-only test server" so nothing can be changed.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class CountingServer:
    def __init__(self, cluster_id: str = "counting-cluster") -> None:
        self.requests: list[tuple[str, str]] = []
        self.bodies: list[tuple[str, str, Any]] = []  # (method, path, parsed JSON body or None)
        self.cluster_id = cluster_id
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, name="counting", daemon=True)
        self._thread.start()

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()
            self.bodies.clear()

    @property
    def writes(self) -> list[tuple[str, str]]:
        return [r for r in self.requests if r[0] != "GET"]

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> CountingServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _handler(server: CountingServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            try:
                body = json.loads(raw) if raw else None
            except ValueError:
                body = raw
            with server._lock:
                server.requests.append((self.command, self.path))
                server.bodies.append((self.command, self.path, body))
            path = self.path.split("?", 1)[0]
            if self.command == "GET" and path == "/":
                self._send(200, {"version": "3.9.0", "commit": "test", "kafka_cluster_id": server.cluster_id})
            elif self.command == "GET" and path == "/connectors":
                self._send(200, {} if "expand" in self.path else [])
            else:
                self._send(403, {"error_code": 403, "message": "read-only test server"})

        do_PUT = do_POST = do_PATCH = do_DELETE = do_HEAD = do_GET

        def _send(self, status: int, body: Any) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    return Handler
