"""Shared fixtures: a REAL Kafka Connect to test against (see kcplan/sandbox/).

- ``connect_url``: base URL of a standalone worker, started once per session in a tmp dir
  (override: KCPLAN_TEST_CONNECT_URL=http://host:port, for fast local iteration).
- ``distributed_urls``: the 2 worker URLs of a distributed cluster on one broker, started on
  first use (override: KCPLAN_TEST_DISTRIBUTED_URLS=url1,url2).
- ``unique_name``: ``unique_name()`` / ``unique_name("sink")`` returns a fresh connector name;
  connectors left under those names are deleted after the test.
- ``proxy``: a FaultProxy (tests/faultproxy.py) in front of the standalone worker, for the test's lifetime.
- ``project``: a tmp apply project (tests/applyproject.py) whose environment 'dev' points at ``proxy``, so the
  test sees every request kcplan sends; hand-made changes go to the worker itself (``project.worker``).
  Modules that need another project or proxy define their own fixture of the same name.
- ``s3_server``: a REAL S3 server (SeaweedFS ``weed mini``, tests/s3server.py), started once per session on free
  loopback ports with generated credentials; ``s3_server.client()``, ``.env(os.environ)`` for a kcplan
  subprocess, ``.endpoint_url``, ``.bucket`` (made at start).
- ``s3_bucket``: the name of a fresh, empty bucket on ``s3_server`` for this test (deleted afterwards).

The sandboxes run real Apache Kafka (broker and Connect) of the version given by ``--kafka-version``
(default: the sandbox's default, 4.3.1; ``.ci/run`` also runs the integration tests with 3.9.2). The option
sets ``KCPLAN_SANDBOX_KAFKA_VERSION``, so sandboxes that tests start themselves (and ``kcplan sandbox up``
run by a test) use the same version.

Every kcplan run in a test sees ``KCPLAN_VERIFY_STABLE=0``: no stability window unless the test asks.

When java or the jars (or SeaweedFS's weed) are missing the fixtures FAIL (never skip): CI must notice.
Tests using ``connect_url`` or ``s3_server`` are marked ``integration``, tests using ``distributed_urls`` also
``distributed`` (so ``-m "not distributed"`` leaves the slow cluster out).
"""

from __future__ import annotations

import itertools
import os
import re
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests

from kcplan.apply.options import STABLE_ENV
from kcplan.errors import KcplanError
from kcplan.sandbox import DEFAULT_KAFKA_VERSION, SandboxInfo, start_sandbox, stop_sandbox
from kcplan.sandbox.resolve import VERSION_ENV
from tests.applyproject import Project
from tests.faultproxy import FaultProxy
from tests.helpers import delete_connectors
from tests.s3server import S3Server, S3ServerError

STANDALONE_ENV = "KCPLAN_TEST_CONNECT_URL"
DISTRIBUTED_ENV = "KCPLAN_TEST_DISTRIBUTED_URLS"
# Generous: other test runs may share this 2-core machine.
STARTUP_TIMEOUT = float(os.environ.get("KCPLAN_TEST_STARTUP_TIMEOUT", "180"))

_INTEGRATION_DIR = Path(__file__).parent / "integration"
_counter = itertools.count(1)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--kafka-version", default=os.environ.get(VERSION_ENV) or DEFAULT_KAFKA_VERSION,
                     help=f"Apache Kafka version of the test sandboxes (default {DEFAULT_KAFKA_VERSION}; "
                          "'stand-in': the PyPI stand-in)")


def pytest_configure(config: pytest.Config) -> None:
    os.environ[VERSION_ENV] = config.getoption("--kafka-version")
    # Applies verify without the 30 s stability window unless a test asks for it (tests of the window
    # pass --verify-stable, or drop this variable to get the default).
    os.environ.setdefault(STABLE_ENV, "0")


def pytest_report_header(config: pytest.Config) -> str:
    return f"kcplan sandbox: Apache Kafka {config.getoption('--kafka-version')} ({VERSION_ENV})"


@pytest.fixture(scope="session")
def kafka_version(pytestconfig: pytest.Config) -> str:
    """The Apache Kafka version the sandboxes of this run use (``--kafka-version``)."""
    return str(pytestconfig.getoption("--kafka-version"))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        names = getattr(item, "fixturenames", ())
        if "distributed_urls" in names:
            item.add_marker(pytest.mark.distributed)
        if ({"connect_url", "distributed_urls", "s3_server"} & set(names)
                or _INTEGRATION_DIR in Path(str(item.path)).parents):
            item.add_marker(pytest.mark.integration)


def _check_answers(urls: list[str], variable: str) -> None:
    for url in urls:
        problem = ""
        try:
            requests.get(url + "/connectors", timeout=10).raise_for_status()
        except requests.RequestException as exc:
            problem = str(exc)
        if problem:
            pytest.fail(f"{variable}: {url} does not answer GET /connectors ({problem}); "
                        f"unset {variable} to let the tests start their own worker.", pytrace=False)


def _start(tmp_path_factory: pytest.TempPathFactory, mode: str, workers: int) -> tuple[Path, SandboxInfo]:
    root = tmp_path_factory.mktemp(f"sandbox-{mode}")
    try:
        return root, start_sandbox(root, mode=mode, workers=workers, timeout=STARTUP_TIMEOUT,
                                   stop_with_parent=True)
    except KcplanError as exc:
        problem = f"{exc.message}\n{exc.hint}"
    pytest.fail(f"could not start the real Kafka Connect sandbox ({mode}): {problem}", pytrace=False)


@pytest.fixture(scope="session")
def connect_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Base URL (no trailing slash) of a real standalone Kafka Connect worker."""
    override = os.environ.get(STANDALONE_ENV, "").strip().rstrip("/")
    if override:
        _check_answers([override], STANDALONE_ENV)
        yield override
        return
    root, info = _start(tmp_path_factory, "standalone", 1)
    try:
        yield info.url
    finally:
        stop_sandbox(root)


@pytest.fixture(scope="session")
def distributed_urls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[str]]:
    """URLs of the 2 workers of a real distributed Kafka Connect cluster (group formed)."""
    override = os.environ.get(DISTRIBUTED_ENV, "").strip()
    if override:
        urls = [u.strip().rstrip("/") for u in override.split(",") if u.strip()]
        _check_answers(urls, DISTRIBUTED_ENV)
        yield urls
        return
    root, info = _start(tmp_path_factory, "distributed", 2)
    try:
        yield list(info.urls)
    finally:
        stop_sandbox(root)


def _slug(text: str, limit: int) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-")[:limit].strip("-").lower() or "x"


@pytest.fixture
def unique_name(request: pytest.FixtureRequest) -> Iterator[Callable[..., str]]:
    """``unique_name(hint="")`` -> e.g. ``t-test-plan-creates-sink-7-3fa9c1``; cleaned up afterwards."""
    urls: list[str] = []
    # Asked for here (not at teardown) so the session fixtures outlive this one; a test that uses
    # neither worker does not start one.
    if "connect_url" in request.fixturenames:
        urls.append(request.getfixturevalue("connect_url"))
    if "distributed_urls" in request.fixturenames:
        urls.append(request.getfixturevalue("distributed_urls")[0])
    base = _slug(request.node.name.removeprefix("test_"), 40)
    created: list[str] = []

    def make(hint: str = "") -> str:
        parts = ["t", base, *([_slug(hint, 20)] if hint else []), str(next(_counter)), secrets.token_hex(3)]
        name = "-".join(parts)
        created.append(name)
        return name

    yield make
    for url in urls:
        delete_connectors(url, created, attempts=5, listed_only=True)


@pytest.fixture
def proxy(connect_url: str) -> Iterator[FaultProxy]:
    """A FaultProxy in front of the standalone worker: it records (and, when told, faults) every request."""
    with FaultProxy(connect_url) as p:
        yield p


@pytest.fixture
def project(tmp_path: Path, proxy: FaultProxy, connect_url: str) -> Project:
    """A tmp apply project pointed at ``proxy``; ``project.worker`` is the standalone worker behind it."""
    return Project(tmp_path / "proj", proxy.url, connect_url)


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """A real S3 server (SeaweedFS ``weed mini``) on free loopback ports, for the session; its data and
    weed.log are in a tmp folder (``s3_server.directory``)."""
    server = S3Server(tmp_path_factory.mktemp("s3"), startup_timeout=STARTUP_TIMEOUT)
    try:
        server.start()
    except S3ServerError as exc:
        pytest.fail(f"could not start the real S3 server (SeaweedFS): {exc}", pytrace=False)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def s3_bucket(s3_server: S3Server, request: pytest.FixtureRequest) -> Iterator[str]:
    """Name of a fresh, empty bucket on ``s3_server``, e.g. ``t-state-cas-12-3fa9c1``; deleted afterwards."""
    suffix = f"-{next(_counter)}-{secrets.token_hex(3)}"
    name = _slug(request.node.name.removeprefix("test_"), 63 - 2 - len(suffix))
    bucket = s3_server.make_bucket(f"t-{name}{suffix}")
    yield bucket
    s3_server.delete_bucket(bucket)
