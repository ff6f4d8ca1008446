"""The one-line reasons kcplan gives for failed TLS handshakes (texts as urllib3/ssl produce them)."""

from __future__ import annotations

import pytest
import requests

from kcplan.connect.tls import tls_reason

POOL = "HTTPSConnectionPool(host='127.0.0.1', port=25123): Max retries exceeded with url: / (Caused by "


def ssl_error(inner: str) -> requests.exceptions.SSLError:
    return requests.exceptions.SSLError(POOL + inner)


@pytest.mark.parametrize(("inner", "client_cert", "expected"), [
    ("SSLError(SSLCertVerificationError(1, '[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: "
     "self-signed certificate (_ssl.c:1006)')))", False,
     "the worker's certificate is not trusted (certificate verify failed: self-signed certificate)"),
    ("SSLError(SSLCertVerificationError(1, '[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: "
     "self-signed certificate in certificate chain (_ssl.c:1006)')))", True,
     "the worker's certificate is not trusted (certificate verify failed: self-signed certificate in certificate "
     "chain)"),
    ("SSLError(SSLCertVerificationError(1, \"[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: "
     "Hostname mismatch, certificate is not valid for 'localhost'. (_ssl.c:1006)\")))", False,
     "the worker's certificate is not trusted (certificate verify failed: Hostname mismatch, certificate is not valid "
     "for 'localhost')"),
    ("SSLError(SSLError(1, '[SSL: SSLV3_ALERT_BAD_CERTIFICATE] sslv3 alert bad certificate (_ssl.c:2580)')))",
     False, "the worker requires a client certificate and none is configured (TLS alert: bad certificate)"),
    ("SSLError(SSLError(1, '[SSL: TLSV13_ALERT_CERTIFICATE_REQUIRED] tlsv13 alert certificate required "
     "(_ssl.c:2580)')))", False,
     "the worker requires a client certificate and none is configured (TLS alert: certificate required)"),
    ("SSLError(SSLError(1, '[SSL: SSLV3_ALERT_BAD_CERTIFICATE] sslv3 alert bad certificate (_ssl.c:2580)')))",
     True, "the worker refused kcplan's client certificate (TLS alert: bad certificate)"),
    ("SSLError(SSLError(1, '[SSL: TLSV1_ALERT_PROTOCOL_VERSION] tlsv1 alert protocol version (_ssl.c:1006)')))",
     False, "the worker ended the handshake (TLS alert: protocol version)"),
    ("SSLError(SSLError(1, '[SSL: WRONG_VERSION_NUMBER] wrong version number (_ssl.c:1006)')))", False,
     "the server does not speak TLS on this port (wrong version number): is it an http:// URL?"),
    ("SSLError(SSLEOFError(8, 'EOF occurred in violation of protocol (_ssl.c:2427)')))", False,
     "the worker closed the connection during the TLS handshake: it may require a client certificate, and "
     "none is configured"),
    ("SSLError(SSLError(1, '[SSL: UNEXPECTED_EOF_WHILE_READING] EOF occurred in violation of protocol "
     "(_ssl.c:1006)')))", True,
     "the worker closed the connection during the TLS handshake (it may have refused kcplan's client "
     "certificate)"),
    ("SSLError(SSLError(1, '[SSL: DH_KEY_TOO_SMALL] dh key too small (_ssl.c:1006)')))", False,
     "dh key too small"),
])
def test_tls_reason_is_one_readable_line(inner: str, client_cert: bool, expected: str) -> None:
    assert tls_reason(ssl_error(inner), client_cert) == expected
