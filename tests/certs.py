"""Test certificates made with the real tools a Connect operator uses: ``openssl`` and the JDK's ``keytool``.

- :func:`self_signed_keystore`: a self-signed worker certificate made by ``keytool -genkeypair`` straight
  into a PKCS12 keystore (what a quick HTTPS setup of Kafka Connect looks like), plus its PEM.
- :func:`make_pki`: a test CA (openssl), a server certificate for 127.0.0.1 and a client certificate
  signed by it, the server's PKCS12 keystore (openssl pkcs12) and a truststore with the CA (keytool);
  plus a second CA and a client certificate of its own, which the servers must refuse.

Everything lives in the given folder; keys are unencrypted PEM (kcplan's tls.client_key) and the
Java stores share one password. Validity is two days: enough for any test run.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

DAYS = "2"


def _keytool() -> str:
    java_home = os.environ.get("JAVA_HOME")
    if java_home and os.access(Path(java_home) / "bin" / "keytool", os.X_OK):
        return str(Path(java_home) / "bin" / "keytool")
    return shutil.which("keytool") or "keytool"


def _run(*cmd: str | Path) -> None:
    if cmd[0] == "keytool":
        cmd = (_keytool(), *cmd[1:])
    done = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=60)
    if done.returncode != 0:
        pytest.fail(f"{' '.join(str(c) for c in cmd)} failed ({done.returncode}):\n{done.stdout}{done.stderr}",
                    pytrace=False)


def need_tools() -> None:
    """Fail (never skip) when openssl or keytool is missing: CI must notice."""
    missing = [t for t in ("openssl", "keytool") if shutil.which(t if t == "openssl" else _keytool()) is None]
    if missing:
        pytest.fail(f"{', '.join(missing)} not found: run .ci/setup (openssl, openjdk-17-jre-headless)",
                    pytrace=False)


@dataclass(frozen=True)
class SelfSigned:
    keystore: Path   # PKCS12, the worker's key and certificate
    cert_pem: Path   # the same certificate as PEM (what a user puts in tls.ca_bundle)
    password: str


def self_signed_keystore(folder: Path) -> SelfSigned:
    need_tools()
    folder.mkdir(parents=True, exist_ok=True)
    password = secrets.token_hex(8)
    keystore, pem = folder / "selfsigned.p12", folder / "selfsigned.pem"
    keystore.unlink(missing_ok=True)
    _run("keytool", "-genkeypair", "-alias", "worker", "-keyalg", "RSA", "-keysize", "2048",
         "-validity", DAYS, "-dname", "CN=127.0.0.1", "-ext", "SAN=ip:127.0.0.1,dns:localhost",
         "-keystore", keystore, "-storetype", "PKCS12", "-storepass", password, "-keypass", password)
    _run("keytool", "-exportcert", "-rfc", "-alias", "worker", "-keystore", keystore,
         "-storepass", password, "-file", pem)
    return SelfSigned(keystore, pem, password)


@dataclass(frozen=True)
class Pki:
    ca_pem: Path
    server_keystore: Path    # PKCS12: server key + certificate (SAN IP 127.0.0.1 only) + CA
    truststore: Path         # PKCS12 with the CA as a trusted certificate (for client auth)
    client_cert: Path
    client_key: Path
    other_ca_pem: Path       # a second CA that the servers do not trust
    stranger_cert: Path      # a client certificate signed by that other CA
    stranger_key: Path
    password: str


def _ca(folder: Path, name: str) -> tuple[Path, Path]:
    key, pem = folder / f"{name}.key", folder / f"{name}.pem"
    _run("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", pem,
         "-days", DAYS, "-subj", f"/CN=kcplan test {name}",
         "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    return key, pem


def _leaf(folder: Path, name: str, ca_key: Path, ca_pem: Path, extensions: str) -> tuple[Path, Path]:
    key, csr, pem, ext = (folder / f"{name}.key", folder / f"{name}.csr", folder / f"{name}.pem",
                          folder / f"{name}.ext")
    ext.write_text(extensions)
    _run("openssl", "req", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", csr,
         "-subj", f"/CN=kcplan test {name}")
    _run("openssl", "x509", "-req", "-in", csr, "-CA", ca_pem, "-CAkey", ca_key, "-CAcreateserial",
         "-out", pem, "-days", DAYS, "-extfile", ext)
    return key, pem


def make_pki(folder: Path) -> Pki:
    need_tools()
    folder.mkdir(parents=True, exist_ok=True)
    password = secrets.token_hex(8)
    ca_key, ca_pem = _ca(folder, "ca")
    other_key, other_pem = _ca(folder, "other-ca")
    server_key, server_pem = _leaf(folder, "server", ca_key, ca_pem,
                                   "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n")
    client_key, client_pem = _leaf(folder, "client", ca_key, ca_pem, "extendedKeyUsage=clientAuth\n")
    stranger_key, stranger_pem = _leaf(folder, "stranger", other_key, other_pem, "extendedKeyUsage=clientAuth\n")
    keystore, truststore = folder / "server.p12", folder / "truststore.p12"
    truststore.unlink(missing_ok=True)  # keytool would add to an old one (with another password)
    _run("openssl", "pkcs12", "-export", "-in", server_pem, "-inkey", server_key, "-certfile", ca_pem,
         "-name", "worker", "-out", keystore, "-passout", f"pass:{password}")
    _run("keytool", "-importcert", "-noprompt", "-alias", "kcplan-test-ca", "-file", ca_pem,
         "-keystore", truststore, "-storetype", "PKCS12", "-storepass", password)
    for key in folder.glob("*.key"):
        key.chmod(0o600)
    return Pki(ca_pem, keystore, truststore, client_pem, client_key, other_pem, stranger_pem, stranger_key,
               password)
