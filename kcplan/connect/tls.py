"""TLS trouble in words: one readable line out of urllib3's nested SSL errors, and the files checked first."""

from __future__ import annotations

import os
import re

import requests

from kcplan.connect.classify import body_snippet
from kcplan.errors import ConfigError

_TLS_ALERT = re.compile(r"\b(?:SSLV3|TLSV1[0-9]*)_ALERT_(?P<alert>[A-Z_]+)")
# Alerts a server sends when it wants (another) client certificate.
_CLIENT_CERT_ALERTS = {"BAD_CERTIFICATE", "CERTIFICATE_REQUIRED", "HANDSHAKE_FAILURE", "UNKNOWN_CA",
                       "CERTIFICATE_UNKNOWN", "ACCESS_DENIED", "UNSUPPORTED_CERTIFICATE", "DECRYPT_ERROR"}


def tls_reason(exc: requests.exceptions.SSLError, client_cert: bool = False) -> str:
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


def check_tls_files(verify: bool | str, cert: str | tuple[str, str] | None) -> None:
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
