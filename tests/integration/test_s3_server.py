"""The real S3 server of the tests (SeaweedFS ``weed mini``, tests/s3server.py) holds what the S3 state
backend (issue 12) relies on: conditional writes (``If-None-Match: *`` creates once, ``If-Match: <etag>``
is compare-and-swap), signatures, missing buckets; and FaultProxy works in front of it (403, 500, delay,
unreachable), for kcplan's error-message tests.

The codes seen are recorded as test properties (``--junitxml``) and printed (``-s``).
"""

from __future__ import annotations

import io
import ssl
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError, EndpointConnectionError, ReadTimeoutError

from tests.faultproxy import FaultProxy, closed_port_url
from tests.s3server import S3Server, s3_error

WRITERS = 8
# One attempt, no retries: every answer the server gives is seen as it is.
NO_RETRY = Config(retries={"total_max_attempts": 1}, max_pool_connections=WRITERS * 2)
LOSER_CODES = {("PreconditionFailed", 412), ("ConditionalRequestConflict", 409)}


def _code(exc: ClientError) -> tuple[str, int]:
    return str(exc.response["Error"].get("Code")), int(exc.response["ResponseMetadata"]["HTTPStatusCode"])


def _race(put: Callable[[int], dict[str, Any]]) -> tuple[dict[int, dict[str, Any]], dict[int, tuple[str, int]]]:
    """``put(i)`` in WRITERS threads released together; the answers of the winners and the losers' codes."""
    barrier = threading.Barrier(WRITERS)

    def one(i: int) -> tuple[int, dict[str, Any] | None, tuple[str, int] | None]:
        barrier.wait()
        try:
            return i, put(i), None
        except ClientError as exc:
            return i, None, _code(exc)

    with ThreadPoolExecutor(WRITERS) as pool:
        results = list(pool.map(one, range(WRITERS)))
    won = {i: answer for i, answer, _ in results if answer is not None}
    lost = {i: code for i, _, code in results if code is not None}
    return won, lost


def test_if_none_match_creates_once(s3_server: S3Server, s3_bucket: str,
                                    record_property: Callable[[str, object], None]) -> None:
    """30 rounds of 8 concurrent PutObject(IfNoneMatch='*') on a fresh key: exactly one creates it."""
    client = s3_server.client(config=NO_RETRY)
    codes: Counter[tuple[str, int]] = Counter()
    for round_ in range(30):
        key = f"lock-{round_}.lock"

        def create(i: int, key: str = key) -> dict[str, Any]:
            return client.put_object(Bucket=s3_bucket, Key=key, IfNoneMatch="*",
                                     Body=f"writer {i}".encode())

        won, lost = _race(create)
        codes.update(lost.values())
        assert len(won) == 1, f"round {round_}: {len(won)} winners ({sorted(won)}), losers {lost}"
        assert set(lost.values()) <= LOSER_CODES, f"round {round_}: {lost}"
        (winner,) = won
        body = client.get_object(Bucket=s3_bucket, Key=key)["Body"].read()
        assert body == f"writer {winner}".encode()
    record_property("if_none_match_loser_codes", dict(codes))
    print(f"\nIfNoneMatch='*': 30 rounds x {WRITERS}: 1 winner each; losers: {dict(codes)}")


def test_if_match_is_compare_and_swap(s3_server: S3Server, s3_bucket: str,
                                      record_property: Callable[[str, object], None]) -> None:
    """20 rounds of 8 concurrent PutObject(IfMatch=etag) with the same etag: exactly one wins, and the
    object then holds the winner's body under the winner's ETag. Bodies differ: an ETag is the MD5 of the
    content, so two writers of the same bytes would both match the next round's etag (the state must
    change on every write, e.g. a serial number, for If-Match to detect a lost update)."""
    client = s3_server.client(config=NO_RETRY)
    key = "state.json"
    etag = client.put_object(Bucket=s3_bucket, Key=key, Body=b'{"serial": 0}')["ETag"]
    codes: Counter[tuple[str, int]] = Counter()
    for round_ in range(1, 21):
        def swap(i: int, etag: str = etag, round_: int = round_) -> dict[str, Any]:
            body = f'{{"serial": {round_}, "writer": {i}}}'.encode()
            return client.put_object(Bucket=s3_bucket, Key=key, IfMatch=etag, Body=body)

        won, lost = _race(swap)
        codes.update(lost.values())
        assert len(won) == 1, f"round {round_}: {len(won)} winners ({sorted(won)}), losers {lost}"
        assert set(lost.values()) <= LOSER_CODES, f"round {round_}: {lost}"
        ((winner, answer),) = won.items()
        got = client.get_object(Bucket=s3_bucket, Key=key)
        assert got["Body"].read() == f'{{"serial": {round_}, "writer": {winner}}}'.encode()
        assert got["ETag"] == answer["ETag"] != etag
        etag = answer["ETag"]
    record_property("if_match_loser_codes", dict(codes))
    print(f"\nIfMatch=etag: 20 rounds x {WRITERS}: 1 winner each; losers: {dict(codes)}")


def test_stale_if_match_gets_412(s3_server: S3Server, s3_bucket: str) -> None:
    client = s3_server.client(config=NO_RETRY)
    first = client.put_object(Bucket=s3_bucket, Key="state.json", Body=b"one")["ETag"]
    client.put_object(Bucket=s3_bucket, Key="state.json", Body=b"two", IfMatch=first)
    with pytest.raises(ClientError) as caught:
        client.put_object(Bucket=s3_bucket, Key="state.json", Body=b"three", IfMatch=first)
    assert _code(caught.value) == ("PreconditionFailed", 412)
    assert client.get_object(Bucket=s3_bucket, Key="state.json")["Body"].read() == b"two"
    # If-Match on a key that does not exist: SeaweedFS answers 412 too (AWS S3 documents 404 NoSuchKey).
    with pytest.raises(ClientError) as caught:
        client.put_object(Bucket=s3_bucket, Key="missing.json", Body=b"x", IfMatch=first)
    assert _code(caught.value) in {("PreconditionFailed", 412), ("NoSuchKey", 404)}
    print(f"\nIfMatch on a missing key: {_code(caught.value)}")


def test_wrong_secret_is_refused(s3_server: S3Server) -> None:
    client = s3_server.client(secret_key="not-" + s3_server.secret_key, config=NO_RETRY)
    with pytest.raises(ClientError) as caught:
        client.put_object(Bucket=s3_server.bucket, Key="x", Body=b"x")
    assert _code(caught.value) == ("SignatureDoesNotMatch", 403)
    with pytest.raises(ClientError) as caught:
        s3_server.client(access_key="AKNOSUCHKEY", config=NO_RETRY).get_object(Bucket=s3_server.bucket, Key="x")
    assert _code(caught.value) == ("InvalidAccessKeyId", 403)


def test_missing_bucket(s3_server: S3Server) -> None:
    """weed runs with -s3.autoCreateBucket=false: a write to a missing bucket does not create it."""
    client = s3_server.client(config=NO_RETRY)
    for call in (lambda: client.put_object(Bucket="no-such-bucket-here", Key="state.json", Body=b"x"),
                 lambda: client.get_object(Bucket="no-such-bucket-here", Key="state.json")):
        with pytest.raises(ClientError) as caught:
            call()
        assert _code(caught.value) == ("NoSuchBucket", 404)
    with pytest.raises(ClientError) as caught:
        client.head_bucket(Bucket="no-such-bucket-here")
    assert _code(caught.value)[1] == 404  # HEAD has no body: botocore makes the code '404'


def test_conditional_delete_is_supported(s3_server: S3Server, s3_bucket: str) -> None:
    """DeleteObject(IfMatch=etag) works on SeaweedFS 4.48: a wrong etag gets 412 and the object stays;
    the right one deletes it (204). On a missing key If-Match gets 412."""
    client = s3_server.client(config=NO_RETRY)
    etag = client.put_object(Bucket=s3_bucket, Key="state.json.lock", Body=b"holder 1")["ETag"]
    with pytest.raises(ClientError) as caught:
        client.delete_object(Bucket=s3_bucket, Key="state.json.lock", IfMatch='"0123456789abcdef0123456789abcdef"')
    assert _code(caught.value) == ("PreconditionFailed", 412)
    assert client.get_object(Bucket=s3_bucket, Key="state.json.lock")["Body"].read() == b"holder 1"
    answer = client.delete_object(Bucket=s3_bucket, Key="state.json.lock", IfMatch=etag)
    assert answer["ResponseMetadata"]["HTTPStatusCode"] == 204
    with pytest.raises(ClientError) as caught:
        client.head_object(Bucket=s3_bucket, Key="state.json.lock")
    assert _code(caught.value)[1] == 404
    with pytest.raises(ClientError) as caught:
        client.delete_object(Bucket=s3_bucket, Key="state.json.lock", IfMatch=etag)
    assert _code(caught.value) == ("PreconditionFailed", 412)


def test_faultproxy_in_front_of_s3(s3_server: S3Server, s3_bucket: str) -> None:
    """FaultProxy(keep_host=True) passes boto3's signed requests through unchanged, and fakes 500, 403,
    a slow answer and a refused connection."""
    direct = s3_server.client(config=NO_RETRY)
    key = "state.json"
    path = rf"^/{s3_bucket}/state\.json"
    with FaultProxy(s3_server.endpoint_url, keep_host=True) as proxy:
        client = s3_server.client(endpoint_url=proxy.url, config=NO_RETRY.merge(Config(read_timeout=1)))
        etag = client.put_object(Bucket=s3_bucket, Key=key, Body=b"v1", IfNoneMatch="*")["ETag"]
        # a file object: boto3 sends Expect: 100-continue
        etag = client.put_object(Bucket=s3_bucket, Key=key, Body=io.BytesIO(b"v2"), IfMatch=etag)["ETag"]
        assert any(s.headers.get("Expect") == "100-continue" for s in proxy.seen)
        assert client.get_object(Bucket=s3_bucket, Key=key)["Body"].read() == b"v2"
        assert client.head_object(Bucket=s3_bucket, Key=key)["ContentLength"] == 2
        with pytest.raises(ClientError) as caught:  # CAS through the proxy too
            client.put_object(Bucket=s3_bucket, Key=key, Body=b"v3", IfNoneMatch="*")
        assert _code(caught.value) == ("PreconditionFailed", 412)

        proxy.add("PUT", path, "answer", status=500, body=s3_error("InternalError", "We encountered an internal "
                                                                    "error. Please try again."))
        with pytest.raises(ClientError) as caught:
            client.put_object(Bucket=s3_bucket, Key=key, Body=b"v3", IfMatch=etag)
        assert _code(caught.value) == ("InternalError", 500)

        proxy.add("GET", path, "answer", status=403, body=s3_error("AccessDenied", "Access Denied"))
        with pytest.raises(ClientError) as caught:
            client.get_object(Bucket=s3_bucket, Key=key)
        assert _code(caught.value) == ("AccessDenied", 403)

        proxy.add("HEAD", path, "answer", status=403, body=s3_error("AccessDenied"))
        with pytest.raises(ClientError) as caught:
            client.head_object(Bucket=s3_bucket, Key=key)
        assert _code(caught.value) == ("403", 403)  # no body on HEAD: botocore has only the status

        # a non-S3 body (a gateway's JSON or HTML page): botocore makes the code from the status
        proxy.add("GET", path, "answer", status=500, body={"message": "upstream broke"})
        with pytest.raises(ClientError) as caught:
            client.get_object(Bucket=s3_bucket, Key=key)
        assert _code(caught.value)[1] == 500

        # slow: the client gives up after read_timeout (1 s), and the write still lands when the delay ends
        proxy.add("PUT", path, "delay", seconds=2.5)
        began = time.monotonic()
        with pytest.raises(ReadTimeoutError):
            client.put_object(Bucket=s3_bucket, Key=key, Body=b"v3-late", IfMatch=etag)
        assert time.monotonic() - began < 2.4
        deadline = time.monotonic() + 10
        while direct.get_object(Bucket=s3_bucket, Key=key)["Body"].read() != b"v3-late":
            assert time.monotonic() < deadline, "the delayed PUT never reached S3"
            time.sleep(0.1)

        # boto3's default retries (standard mode: 3 attempts) hide a single 500
        retrying = s3_server.client(endpoint_url=proxy.url)
        proxy.add("PUT", path, "answer", status=500, body=s3_error("InternalError"))
        retrying.put_object(Bucket=s3_bucket, Key=key, Body=b"v4")
        assert [s.status for s in proxy.seen[-2:]] == [500, 200]

        # unreachable: nothing listens (down) or a closed port
        proxy.down()
        with pytest.raises(EndpointConnectionError):
            client.get_object(Bucket=s3_bucket, Key=key)
        proxy.up()
        assert client.get_object(Bucket=s3_bucket, Key=key)["Body"].read() == b"v4"
    with pytest.raises(EndpointConnectionError):
        s3_server.client(endpoint_url=closed_port_url(), config=NO_RETRY).get_object(Bucket=s3_bucket, Key=key)


def test_faultproxy_without_keep_host_breaks_the_signature(s3_server: S3Server) -> None:
    """Why keep_host: by default FaultProxy sends the upstream's host:port as Host, which boto3 did not sign."""
    with FaultProxy(s3_server.endpoint_url) as proxy:
        client = s3_server.client(endpoint_url=proxy.url, config=NO_RETRY)
        with pytest.raises(ClientError) as caught:
            client.put_object(Bucket=s3_server.bucket, Key="x", Body=b"x")
    assert _code(caught.value) == ("SignatureDoesNotMatch", 403)


def test_faultproxy_passes_aws_chunked_bodies(s3_server: S3Server, s3_bucket: str, tmp_path: Path) -> None:
    """Over https boto3 streams a file object as ``Transfer-Encoding: chunked`` with an aws-chunked payload
    (STREAMING-UNSIGNED-PAYLOAD-TRAILER, CRC32 in a trailer): the proxy (TLS ends there) de-chunks the transfer
    encoding and passes the aws-chunked payload to SeaweedFS byte for byte."""
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert,
                    "-days", "2", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True)
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(cert, key)
    data = bytes(range(256)) * 400
    with FaultProxy(s3_server.endpoint_url, keep_host=True, tls=tls) as proxy:
        client = s3_server.client(endpoint_url=proxy.url, config=NO_RETRY, verify=str(cert))
        client.put_object(Bucket=s3_bucket, Key="big.bin", Body=io.BytesIO(data))
        (seen,) = proxy.seen
    assert seen.headers.get("Transfer-Encoding") == "chunked"
    assert seen.headers.get("Content-Encoding") == "aws-chunked"
    assert s3_server.client().get_object(Bucket=s3_bucket, Key="big.bin")["Body"].read() == data
