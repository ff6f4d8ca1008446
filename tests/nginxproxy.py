"""A real nginx (Debian package) as an authenticating reverse proxy in front of a real Connect worker.

The config is generated into a tmp folder and nginx runs in the foreground as the current user,
on a free port below 32768, with its own pid file, logs and temp folders. Two servers:

- ``basic_url``: ``auth_basic`` with an htpasswd file made by ``openssl passwd -apr1``;
- ``bearer_url``: ``Authorization: Bearer <token>`` required (``if (...) { return 401; }``); a second,
  read-only token may only GET (writes answer 403), like a viewer role.

Every request is logged to ``access.log`` as ``METHOD URI STATUS`` (never the credentials), so tests can
count exactly what reached the proxy. ``close()`` stops the nginx this object started (its pid only).
"""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from kcplan.sandbox import parent_death_prefix

PORT_RANGE = (20000, 32000)  # below Linux's ephemeral range


def free_port() -> int:
    """A TCP port on 127.0.0.1 below 32768 that nobody listens on right now."""
    rng = random.SystemRandom()
    for _ in range(500):
        port = rng.randrange(*PORT_RANGE)
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        return port
    pytest.fail("no free TCP port found in 20000-32000", pytrace=False)


def find_nginx() -> str:
    """The nginx binary; fail (never skip) when missing, CI must notice."""
    for candidate in (shutil.which("nginx"), "/usr/sbin/nginx"):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    pytest.fail("nginx not found: run .ci/setup (Debian package nginx)", pytrace=False)


def apr1_hash(password: str) -> str:
    done = subprocess.run(["openssl", "passwd", "-apr1", "-stdin"], input=password + "\n",
                          capture_output=True, text=True, timeout=30, check=True)
    return done.stdout.strip()


CONF = """\
{user}worker_processes 1;
daemon off;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 64; }}
http {{
    log_format kcplan '$request_method $request_uri $status';
    access_log {dir}/access.log kcplan;
    client_body_temp_path {dir}/tmp/body;
    proxy_temp_path {dir}/tmp/proxy;
    fastcgi_temp_path {dir}/tmp/fastcgi;
    uwsgi_temp_path {dir}/tmp/uwsgi;
    scgi_temp_path {dir}/tmp/scgi;
    proxy_http_version 1.1;
    proxy_read_timeout 150s;
    # 0: let through; 401: no or unknown token; 403: the read-only token tried to write.
    map "$http_authorization#$request_method" $kcplan_answer {{
        "~^Bearer {token}#" 0;
        "~^Bearer {ro_token}#(GET|HEAD)$" 0;
        "~^Bearer {ro_token}#" 403;
        default 401;
    }}
    server {{
        listen 127.0.0.1:{basic_port};
        location / {{
            auth_basic "kcplan test";
            auth_basic_user_file {dir}/htpasswd;
            proxy_set_header Authorization "";
            proxy_pass {upstream};
        }}
    }}
    server {{
        listen 127.0.0.1:{bearer_port};
        location / {{
            if ($kcplan_answer = 401) {{ return 401; }}
            if ($kcplan_answer = 403) {{ return 403; }}
            proxy_set_header Authorization "";
            proxy_pass {upstream};
        }}
    }}
}}
"""


class NginxProxy:
    """nginx started from a generated config; ``basic_url`` / ``bearer_url`` forward to ``upstream``."""

    def __init__(self, folder: Path, upstream: str, *, username: str, password: str, token: str,
                 readonly_token: str) -> None:
        parts = urlsplit(upstream)
        if parts.scheme != "http":
            raise ValueError("the nginx test proxy forwards to an http:// worker")
        for name, value in (("token", token), ("readonly_token", readonly_token)):
            if not value.replace("-", "").replace("_", "").isalnum():
                raise ValueError(f"{name} must be URL-safe base64 (it goes into an nginx regex)")
        self.dir = folder
        self.access_log = folder / "access.log"
        (folder / "tmp").mkdir(parents=True, exist_ok=True)
        (folder / "htpasswd").write_text(f"{username}:{apr1_hash(password)}\n")
        (folder / "htpasswd").chmod(0o600)
        self.basic_port, self.bearer_port = free_port(), free_port()
        while self.bearer_port == self.basic_port:
            self.bearer_port = free_port()
        conf = folder / "nginx.conf"
        # As root, nginx's workers would switch to 'nobody' and could not read the htpasswd file.
        user = "user root;\n" if os.geteuid() == 0 else ""
        conf.write_text(CONF.format(user=user, dir=folder, token=token, ro_token=readonly_token,
                                    basic_port=self.basic_port, bearer_port=self.bearer_port,
                                    upstream=f"http://{parts.netloc}"))
        nginx = find_nginx()
        test = subprocess.run([nginx, "-t", "-p", str(folder), "-c", str(conf), "-e", str(folder / "error.log")],
                              capture_output=True, text=True, timeout=30)
        if test.returncode != 0:
            pytest.fail(f"nginx -t rejected the generated config:\n{test.stderr}", pytrace=False)
        self._log = open(folder / "stdout.log", "wb")  # noqa: SIM115 (closed in close())
        self._proc = subprocess.Popen(
            [*parent_death_prefix(), nginx, "-p", str(folder), "-c", str(conf), "-e", str(folder / "error.log")],
            stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        self._wait_listening()

    @property
    def basic_url(self) -> str:
        return f"http://127.0.0.1:{self.basic_port}"

    @property
    def bearer_url(self) -> str:
        return f"http://127.0.0.1:{self.bearer_port}"

    def requests_seen(self) -> list[str]:
        """Lines 'METHOD URI STATUS' for every request nginx answered so far."""
        try:
            return [line for line in self.access_log.read_text().splitlines() if line.strip()]
        except FileNotFoundError:
            return []

    def _wait_listening(self) -> None:
        deadline = time.monotonic() + 20
        pending = {self.basic_port, self.bearer_port}
        while pending:
            if self._proc.poll() is not None:
                log = self.dir / "error.log"
                error = log.read_text(errors="replace") if log.exists() else ""
                pytest.fail(f"nginx exited at start ({self._proc.returncode}):\n{error}", pytrace=False)
            for port in list(pending):
                with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
                    if sock.connect_ex(("127.0.0.1", port)) == 0:
                        pending.discard(port)
            if time.monotonic() > deadline:
                self.close()
                pytest.fail(f"nginx did not listen on {sorted(pending)} within 20 s", pytrace=False)
            time.sleep(0.05)

    def close(self) -> None:
        """Stop the nginx master this object started (it stops its own workers)."""
        if self._proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self._proc.send_signal(signal.SIGTERM)
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(timeout=10)
        self._log.close()

    def __enter__(self) -> NginxProxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
