"""Transport security against REAL servers: HTTPS Connect workers, client certificates, and nginx auth.

- A Connect worker with an HTTPS listener whose key store ``keytool`` made (self-signed certificate):
  kcplan verifies certificates by default, so without ``tls.ca_bundle`` every command fails with a clear
  message (exit 1, no traceback, nothing sent in plain text instead); with the certificate as the CA
  bundle it works.
- A Connect worker that requires client certificates (``listeners.https.ssl.client.auth=required``,
  key store and trust store from a test CA made with ``openssl`` and ``keytool``): no certificate, or one
  from another CA, fails clearly; ``tls.client_cert``/``tls.client_key`` work.
- The Debian nginx in front of the shared standalone worker with basic auth and bearer tokens: the
  right credentials work, wrong or missing ones fail at the first 401/403 (exactly one request reaches
  the proxy: nothing is retried) and the credentials never show in stdout/stderr (also with --debug)
  nor in any file kcplan wrote, raw, base64, URL-encoded or JSON-escaped.

The sandboxes with HTTPS keep their plain HTTP listener too (the sandbox's readiness check uses it);
every kcplan command here only gets the https:// URL.
"""

from __future__ import annotations

import base64
import json
import secrets
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

import pytest

from kcplan.errors import KcplanError
from kcplan.sandbox import start_sandbox, stop_sandbox
from tests.certs import Pki, SelfSigned, make_pki, self_signed_keystore
from tests.conftest import STARTUP_TIMEOUT
from tests.helpers import SRC, file_source, run_kcplan, write_project, write_settings
from tests.nginxproxy import NginxProxy, free_port

SUCCESS = (0, 3)  # status exits 3 when some connector on the shared worker is FAILED: still a good answer


# -- workers with HTTPS ------------------------------------------------------------------------------

def _https_sandbox(root: Path, props: dict[str, str]) -> tuple[Any, str]:
    port = free_port()
    try:
        info = start_sandbox(root, extra_listeners=[f"https://127.0.0.1:{port}"], extra_worker_props=props,
                             timeout=STARTUP_TIMEOUT, stop_with_parent=True)
    except KcplanError as exc:
        pytest.fail(f"could not start the HTTPS Connect sandbox: {exc.message}\n{exc.hint}", pytrace=False)
    return info, f"https://127.0.0.1:{port}"


@pytest.fixture(scope="module")
def tls_worker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, SelfSigned, str]]:
    """(https URL, the keytool-made self-signed key store, the worker's plain http URL)."""
    root = tmp_path_factory.mktemp("tls-worker")
    cert = self_signed_keystore(root / "certs")
    info, url = _https_sandbox(root, {
        "listeners.https.ssl.keystore.location": str(cert.keystore),
        "listeners.https.ssl.keystore.password": cert.password,
        "listeners.https.ssl.key.password": cert.password,
        "listeners.https.ssl.keystore.type": "PKCS12",
    })
    try:
        yield url, cert, info.url
    finally:
        stop_sandbox(root)


@pytest.fixture(scope="module")
def mtls_worker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Pki]]:
    """(https URL, the test PKI) of a worker that requires a client certificate from the test CA."""
    root = tmp_path_factory.mktemp("mtls-worker")
    pki = make_pki(root / "pki")
    _info, url = _https_sandbox(root, {
        "listeners.https.ssl.keystore.location": str(pki.server_keystore),
        "listeners.https.ssl.keystore.password": pki.password,
        "listeners.https.ssl.key.password": pki.password,
        "listeners.https.ssl.keystore.type": "PKCS12",
        "listeners.https.ssl.truststore.location": str(pki.truststore),
        "listeners.https.ssl.truststore.password": pki.password,
        "listeners.https.ssl.truststore.type": "PKCS12",
        "listeners.https.ssl.client.auth": "required",
    })
    try:
        yield url, pki
    finally:
        stop_sandbox(root)


# -- a project and the CLI -----------------------------------------------------------------------------

class Project:
    """A tmp kcplan project with environment 'dev'; settings given as a dict, secrets via ext vars."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.connectors = root / "environments" / "dev" / "connectors"
        self.secret_env: dict[str, str] = {}
        name = f"t-tls-{secrets.token_hex(4)}"  # never created: these tests only read and validate
        body = {"name": name, **file_source(root / "in.txt", f"{name}-t", 1)}
        write_project(root, None, connectors={"source.jsonnet": json.dumps(body, indent=2) + "\n"}, schemas=(SRC,))

    def settings(self, url: str, *, auth: str = "", tls: dict[str, Any] | None = None,
                 secrets_env: dict[str, str] | None = None) -> Project:
        """``auth`` is Jsonnet text (it refers to std.extVar); its values come from ``secrets_env``."""
        parts = [f"connect_url: {json.dumps(url)}", "retry_deadline: 30"]
        if auth:
            parts.append(f"auth: {auth}")
        if tls is not None:
            parts.append(f"tls: {json.dumps(tls)}")
        write_settings(self.root, "{\n  " + ",\n  ".join(parts) + "\n}\n")
        self.secret_env = dict(secrets_env or {})
        return self

    def kcplan(self, *args: str) -> Run:
        began = time.monotonic()
        done = run_kcplan(self.root, *args, "-e", "dev", env=self.secret_env, timeout=180)
        return Run(args, done.returncode, done.stdout, done.stderr, time.monotonic() - began)

    def written_files(self) -> dict[Path, bytes]:
        """Every file under the project that kcplan may have written (not the inputs made here)."""
        folder = self.root / ".kcplan"
        return {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()} if folder.exists() else {}


class Run:
    def __init__(self, args: tuple[str, ...], code: int, out: str, err: str, seconds: float) -> None:
        self.args, self.code, self.out, self.err, self.seconds = args, code, out, err, seconds

    def __repr__(self) -> str:
        return f"kcplan {' '.join(self.args)} -> {self.code} in {self.seconds:.1f} s\n{self.out}\n{self.err}"


def ok(run: Run, codes: tuple[int, ...] = (0,)) -> Run:
    assert run.code in codes, run
    assert "Traceback" not in run.err, run
    return run


def failed(run: Run, *phrases: str) -> str:
    """A clear failure: exit 1, an 'Error:' line naming the problem and a hint; no traceback (--debug
    adds the request log and the traceback on purpose)."""
    assert run.code == 1, run
    assert "internal error" not in run.err, run
    if "--debug" in run.args:
        assert any(line.startswith("Error: ") for line in run.err.splitlines()), run
    else:
        assert "Traceback" not in run.err, run
        assert run.err.startswith("Error: "), run
    for phrase in phrases:
        assert phrase in run.err, (phrase, run)
    return run.err


@pytest.fixture
def project(tmp_path: Path) -> Project:
    return Project(tmp_path / "proj")


COMMANDS = (("status",), ("plan",), ("validate", "--online"))


# -- server certificates ---------------------------------------------------------------------------------

def test_self_signed_worker_is_refused_without_ca_bundle(project: Project,
                                                         tls_worker: tuple[str, SelfSigned, str]) -> None:
    url, _cert, _http = tls_worker
    project.settings(url)
    for command in COMMANDS:
        run = project.kcplan(*command)
        failed(run, "TLS handshake failed: the worker's certificate is not trusted (certificate verify failed: "
                    "self-signed certificate)",
               "tls.ca_bundle", url)
    # the failed plan left no state behind (it never got past reading the cluster)
    assert not (project.root / ".kcplan" / "dev.state.json").exists()


def test_self_signed_worker_works_with_its_certificate_as_ca_bundle(
        project: Project, tls_worker: tuple[str, SelfSigned, str]) -> None:
    url, cert, _http = tls_worker
    project.settings(url, tls={"ca_bundle": str(cert.cert_pem)})
    ok(project.kcplan("status"), SUCCESS)
    plan = ok(project.kcplan("plan"))
    assert "t-tls-" in plan.out and "create" in plan.out
    assert "valid" in ok(project.kcplan("validate", "--online")).out


def test_a_ca_bundle_of_another_ca_and_https_to_a_plain_port_fail_clearly(
        project: Project, tls_worker: tuple[str, SelfSigned, str], tmp_path: Path) -> None:
    url, cert, http_url = tls_worker
    stranger = self_signed_keystore(tmp_path / "stranger")
    project.settings(url, tls={"ca_bundle": str(stranger.cert_pem)})
    failed(project.kcplan("status"), "the worker's certificate is not trusted")
    plain = "https://" + http_url.removeprefix("http://")  # TLS spoken to the plain HTTP listener
    project.settings(plain, tls={"ca_bundle": str(cert.cert_pem)})
    failed(project.kcplan("status"), "does not speak TLS on this port")


def test_ca_bundle_file_missing_is_a_settings_error(project: Project,
                                                    tls_worker: tuple[str, SelfSigned, str]) -> None:
    url, _cert, _http = tls_worker
    project.settings(url, tls={"ca_bundle": str(project.root / "nowhere.pem")})
    failed(project.kcplan("status"), "tls.ca_bundle: file", "nowhere.pem not found")


def test_verify_false_is_an_explicit_opt_out(project: Project, tls_worker: tuple[str, SelfSigned, str]) -> None:
    url, _cert, _http = tls_worker
    project.settings(url, tls={"verify": False})
    ok(project.kcplan("status"), SUCCESS)


# -- client certificates -----------------------------------------------------------------------------------

def test_client_certificate_required(project: Project, mtls_worker: tuple[str, Pki]) -> None:
    url, pki = mtls_worker
    project.settings(url, tls={"ca_bundle": str(pki.ca_pem)})
    # Jetty answers with an alert; when the request body was already on its way the alert can be lost
    # and the client only sees the connection closed: both messages name the missing certificate.
    for command in COMMANDS:
        failed(project.kcplan(*command), "client certificate", "none is configured", "tls.client_cert")
    project.settings(url, tls={"ca_bundle": str(pki.ca_pem), "client_cert": str(pki.stranger_cert),
                               "client_key": str(pki.stranger_key)})
    failed(project.kcplan("status"), "refused kcplan's client certificate")
    project.settings(url, tls={"ca_bundle": str(pki.ca_pem), "client_cert": str(pki.client_cert),
                               "client_key": str(pki.client_key)})
    ok(project.kcplan("status"), SUCCESS)
    assert "t-tls-" in ok(project.kcplan("plan")).out
    ok(project.kcplan("validate", "--online"))


def test_client_certificate_does_not_replace_server_verification(project: Project,
                                                                 mtls_worker: tuple[str, Pki]) -> None:
    url, pki = mtls_worker
    client = {"client_cert": str(pki.client_cert), "client_key": str(pki.client_key)}
    project.settings(url, tls=client)  # no CA: the worker's certificate cannot be verified
    failed(project.kcplan("status"), "the worker's certificate is not trusted")
    # the certificate names 127.0.0.1 only: 'localhost' is refused although the CA is right
    project.settings(url.replace("127.0.0.1", "localhost"), tls={"ca_bundle": str(pki.ca_pem), **client})
    failed(project.kcplan("status"), "Hostname mismatch")
    project.settings(url, tls={"ca_bundle": str(pki.ca_pem), "client_key": str(pki.client_key)})
    failed(project.kcplan("status"), "tls.client_key is set without tls.client_cert")


# -- basic auth and bearer tokens through nginx --------------------------------------------------------------

USERNAME = "kcplan-ci"
# Characters that base64, URL and JSON encodings all change, so each encoding is really searched for.
PASSWORD = "c4nary pass/w%rd+:&=\"x" + secrets.token_hex(6)
TOKEN = "tok-" + secrets.token_urlsafe(18)
RO_TOKEN = "ro-" + secrets.token_urlsafe(18)
WRONG_PASSWORD = "wr0ng pass/" + secrets.token_hex(6)
WRONG_TOKEN = "nope-" + secrets.token_urlsafe(18)


def encodings(secret: str) -> set[str]:
    """The forms a credential could leak in: raw, base64 (alone and as user:password), URL, JSON."""
    forms = {secret, quote(secret, safe=""), quote_plus(secret), json.dumps(secret)[1:-1],
             base64.b64encode(secret.encode()).decode(), base64.b64encode(f"{USERNAME}:{secret}".encode()).decode(),
             base64.urlsafe_b64encode(secret.encode()).decode()}
    return {f for f in forms if len(f) >= 8}


def assert_no_leak(project: Project, run: Run, *credentials: str) -> None:
    texts = {"stdout": run.out, "stderr": run.err}
    texts.update({str(p): data.decode(errors="replace") for p, data in project.written_files().items()})
    for credential in credentials:
        for form in encodings(credential):
            for where, text in texts.items():
                assert form not in text, f"credential ({form!r}) found in {where}: {run}"


@pytest.fixture(scope="module")
def nginx(connect_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[NginxProxy]:
    with NginxProxy(tmp_path_factory.mktemp("nginx"), connect_url, username=USERNAME, password=PASSWORD,
                    token=TOKEN, readonly_token=RO_TOKEN) as proxy:
        yield proxy


def _basic(project: Project, nginx: NginxProxy, password: str) -> Project:
    return project.settings(nginx.basic_url,
                            auth=f"{{ basic: {{ username: {json.dumps(USERNAME)}, "
                                 "password: std.extVar('KC_TEST_PASSWORD') } }",
                            secrets_env={"KC_TEST_PASSWORD": password})


def _bearer(project: Project, nginx: NginxProxy, token: str) -> Project:
    return project.settings(nginx.bearer_url, auth="{ bearer_token: std.extVar('KC_TEST_TOKEN') }",
                            secrets_env={"KC_TEST_TOKEN": token})


def _one_request_denied(nginx: NginxProxy, before: int, status: str, run: Run) -> None:
    """Fail fast: exactly one request reached the proxy and was denied; nothing was retried."""
    seen = nginx.requests_seen()[before:]
    assert len(seen) == 1 and seen[0].endswith(" " + status), (seen, run)
    assert run.seconds < 15, run  # the client's retry deadline (30 s here) was never waited out


def test_basic_auth_through_nginx(project: Project, nginx: NginxProxy) -> None:
    _basic(project, nginx, PASSWORD)
    for command in COMMANDS:
        run = ok(project.kcplan(*command, "--debug"), SUCCESS)
        assert_no_leak(project, run, PASSWORD)
    assert any(line.startswith("PUT /connector-plugins/") and line.endswith(" 200")
               for line in nginx.requests_seen())


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_wrong_basic_password_fails_at_the_first_401_without_echoing_it(
        project: Project, nginx: NginxProxy, command: tuple[str, ...]) -> None:
    _basic(project, nginx, WRONG_PASSWORD)
    for debug in ((), ("--debug",)):
        before = len(nginx.requests_seen())
        run = project.kcplan(*command, *debug)
        failed(run, "HTTP 401", "credentials")
        _one_request_denied(nginx, before, "401", run)
        assert_no_leak(project, run, WRONG_PASSWORD, PASSWORD)


def test_missing_credentials_fail_at_the_first_401(project: Project, nginx: NginxProxy) -> None:
    for url in (nginx.basic_url, nginx.bearer_url):
        project.settings(url)
        before = len(nginx.requests_seen())
        run = project.kcplan("plan")
        failed(run, "HTTP 401")
        _one_request_denied(nginx, before, "401", run)


def test_bearer_token_through_nginx(project: Project, nginx: NginxProxy) -> None:
    _bearer(project, nginx, TOKEN)
    for command in COMMANDS:
        run = ok(project.kcplan(*command, "--debug"), SUCCESS)
        assert_no_leak(project, run, TOKEN)


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_wrong_bearer_token_fails_at_the_first_401_without_echoing_it(
        project: Project, nginx: NginxProxy, command: tuple[str, ...]) -> None:
    _bearer(project, nginx, WRONG_TOKEN)
    for debug in ((), ("--debug",)):
        before = len(nginx.requests_seen())
        run = project.kcplan(*command, *debug)
        failed(run, "HTTP 401")
        _one_request_denied(nginx, before, "401", run)
        assert_no_leak(project, run, WRONG_TOKEN, TOKEN)


def test_read_only_token_reads_but_its_first_write_gets_403_once(project: Project, nginx: NginxProxy) -> None:
    _bearer(project, nginx, RO_TOKEN)
    ok(project.kcplan("status"), SUCCESS)
    ok(project.kcplan("plan"))
    before = len(nginx.requests_seen())
    run = project.kcplan("validate", "--online", "--debug")  # PUT .../config/validate: a write method
    failed(run, "HTTP 403")
    _one_request_denied(nginx, before, "403", run)
    assert_no_leak(project, run, RO_TOKEN, TOKEN)
