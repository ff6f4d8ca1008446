"""The s3 backend: the state is one object in a bucket, for CI runners and teams that share no disk.

- State ``<key>``: every write is a conditional PUT (``If-Match`` on the ETag read, ``If-None-Match: *``
  for the first one), so a lost update is impossible even after a forced unlock.
- Backup ``<key>.backup``: the previous state, written before each new one (bucket versioning keeps more).
- Companions ``<key>SUFFIX`` (heal's attempts ``<key>.heal.json``): plain PUTs under the state lock.
- Lock ``<key>.lock``: created with ``If-None-Match: *``, holding who/host/pid/command/since and a lock id.
  A holder that died leaves it: it is reported with its age, never broken silently, and removed with
  ``kcplan state force-unlock LOCK_ID``.
Credentials come from the standard AWS chain (boto3) and never appear in a message: botocore's errors
name the operation and the code only. boto3 is the optional extra ``kcplan[s3]``.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Callable
from dataclasses import asdict
from typing import Any, TypeVar

from kcplan.errors import LockHeld, StateError
from kcplan.state.backends.base import Stored, VersionConflict, check_lock_id
from kcplan.state.lock import LockInfo

T = TypeVar("T")
POLL_SECONDS = 1.0
_CONFLICT_CODES = ("PreconditionFailed", "ConditionalRequestConflict")
_DENIED_CODES = ("AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidToken", "ExpiredToken",
                 "AllAccessDisabled", "Forbidden", "403")
# botocore logs request headers (the access key id is in Authorization) at DEBUG: never let them out.
for _name in ("boto3", "botocore", "urllib3"):
    logging.getLogger(_name).setLevel(logging.WARNING)


def _client(region: str | None, endpoint_url: str | None, timeout: float) -> Any:
    try:
        import boto3
        from botocore.config import Config
    except ImportError:
        raise StateError("the s3 state backend needs boto3, which is not installed",
                         "Install kcplan with its s3 extra: pip install 'kcplan[s3]'.") from None
    config = Config(retries={"max_attempts": 3, "mode": "standard"}, connect_timeout=min(timeout, 10.0),
                    read_timeout=timeout, s3={"addressing_style": "path"} if endpoint_url else None)
    return boto3.session.Session().client("s3", region_name=region, endpoint_url=endpoint_url, config=config)


def _age(info: LockInfo) -> str:
    seconds = info.age_seconds()
    if seconds is None:
        return "age unknown"
    seconds = max(seconds, 0.0)
    if seconds < 120:
        return f"{seconds:.0f} s old"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min old"
    return f"{seconds / 3600:.1f} h old"


class S3Lock:
    """The lock object we created; ``release`` deletes it if it is still ours."""

    def __init__(self, backend: S3Backend, info: LockInfo) -> None:
        self.backend = backend
        self.info = info
        self._held = True

    @property
    def held(self) -> bool:
        return self._held

    def release(self) -> None:
        if not self._held:
            return
        self._held = False
        try:
            self.backend.delete_lock_if(self.info.lock_id)
        except StateError as exc:  # the work is done and saved; only the lock object is left behind
            sys.stderr.write(f"Warning: could not remove the state lock {self.backend.lock_location}: "
                             f"{exc.message}. Remove it with 'kcplan state force-unlock {self.info.lock_id}'.\n")


class S3Backend:
    trust_cache_while_locked = True  # the lock keeps other kcplans out; the conditional PUT catches the rest

    def __init__(self, bucket: str, key: str, *, region: str | None = None, endpoint_url: str | None = None,
                 timeout: float = 30.0, client: Any = None) -> None:
        self.bucket, self.key = bucket, key
        self.location = f"s3://{bucket}/{key}"
        self.backup_location = f"{self.location}.backup"
        self.lock_location = f"{self.location}.lock"
        self._where = f"{self.location}" + (f" at {endpoint_url}" if endpoint_url else "")
        self._s3 = client or _client(region, endpoint_url, timeout)

    # -- requests and their errors -------------------------------------------------------------

    def _call(self, what: str, request: Callable[[], T]) -> T:
        """Run one S3 request; every failure but a condition conflict becomes one readable StateError."""
        from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, PartialCredentialsError

        try:
            return request()
        except ClientError as exc:
            error = exc.response.get("Error", {})
            code = str(error.get("Code", ""))
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            if code in _CONFLICT_CODES or status in (409, 412):
                raise VersionConflict() from None
            raise self._client_error(what, code, status) from None
        except (NoCredentialsError, PartialCredentialsError):
            raise StateError(f"no AWS credentials for the state {self._where} ({what})",
                             "Set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or run where a role is "
                             "available (CI: an OIDC web identity role). Nothing was changed.") from None
        except BotoCoreError as exc:
            raise StateError(f"S3 is not reachable for the state {self._where} ({what}): {type(exc).__name__}",
                             "Check the network, 'endpoint_url' and 'region' in the environment's state settings; "
                             "nothing was changed. Run the command again when S3 answers.") from None

    def _client_error(self, what: str, code: str, status: int | None) -> StateError:
        if code == "NoSuchBucket":
            return StateError(f"the bucket '{self.bucket}' of the state {self._where} does not exist ({what})",
                              "Create it (with versioning on), or fix 'bucket' in the environment's state "
                              "settings. Nothing was changed.")
        if code in _DENIED_CODES or status == 403:
            return StateError(f"S3 refused access to the state {self._where} ({what}: {code or status})",
                              f"Check the credentials and that they may read, write and delete {self.key}, "
                              f"{self.key}.lock and {self.key}.backup ({self.key}.heal.json for heal). "
                              "Nothing was changed.")
        return StateError(f"S3 answered HTTP {status} for the state {self._where} ({what}: {code or 'no code'})",
                          "Nothing was changed. Run the command again; if it persists, check the S3 service.")

    def _get(self, key: str, what: str) -> tuple[bytes, str] | None:
        """The object's bytes and ETag, or None when it does not exist."""
        from botocore.exceptions import ClientError

        def request() -> tuple[bytes, str] | None:
            try:
                answer = self._s3.get_object(Bucket=self.bucket, Key=key)
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                    return None
                raise
            return answer["Body"].read(), str(answer["ETag"])

        return self._call(what, request)

    def _put(self, key: str, data: bytes, what: str, **condition: str) -> str:
        answer = self._call(what, lambda: self._s3.put_object(Bucket=self.bucket, Key=key, Body=data,
                                                               ContentType="application/json", **condition))
        return str(answer.get("ETag", ""))

    # -- the state -------------------------------------------------------------------------------

    def read(self) -> Stored:
        found = self._get(self.key, "reading the state")
        return Stored(None, None) if found is None else Stored(found[0], found[1])

    def peek_version(self) -> str | None:
        return None  # as costly as a read: the store reads again

    def write(self, data: bytes, expected: str | None, previous: bytes | None) -> str:
        if previous is not None:
            self._put(f"{self.key}.backup", previous, "writing the backup")
        condition = {"IfMatch": expected} if expected else {"IfNoneMatch": "*"}
        try:
            return self._put(self.key, data, "writing the state", **condition)
        except VersionConflict:
            # botocore retries a PUT whose answer was lost; when the first attempt had landed, the retry
            # meets our own write. The bytes hold lineage and serial: equal bytes are our write, not a loss.
            found = self._get(self.key, "reading the state back")
            if found is not None and found[0] == data:
                return found[1]
            raise

    def has_backup(self) -> bool:
        return self._get(f"{self.key}.backup", "reading the backup") is not None

    # -- companions (heal's attempts): written under the state lock, so no condition -------------

    def companion_location(self, suffix: str) -> str:
        return f"{self.location}{suffix}"

    def read_companion(self, suffix: str) -> bytes | None:
        found = self._get(f"{self.key}{suffix}", f"reading {self.key}{suffix}")
        return None if found is None else found[0]

    def write_companion(self, suffix: str, data: bytes) -> None:
        self._put(f"{self.key}{suffix}", data, f"writing {self.key}{suffix}")

    # -- the lock --------------------------------------------------------------------------------

    def holder(self) -> LockInfo | None:
        found = self._get(f"{self.key}.lock", "reading the lock")
        return None if found is None else LockInfo.from_json(found[0]) or LockInfo(0, "?", "?", "?", "?", "?")

    def lock(self, command: str, timeout: float) -> S3Lock:
        info = LockInfo.current(command)
        body = json.dumps(asdict(info)).encode()
        deadline = time.monotonic() + max(timeout, 0.0)
        while True:
            try:
                self._put(f"{self.key}.lock", body, "taking the lock", IfNoneMatch="*")
                return S3Lock(self, info)
            except VersionConflict:
                if self.holder() == info:  # a retried PUT whose first attempt (answer lost) took it
                    return S3Lock(self, info)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise self._held_error(timeout)
            time.sleep(min(POLL_SECONDS, remaining))

    def _held_error(self, waited: float) -> LockHeld:
        info = self.holder()
        if info is None:  # released between our PUT and this read
            return LockHeld(f"the state {self.location} was locked by another kcplan a moment ago",
                            "Run the command again, or retry with --lock-timeout SECONDS.")
        message = f"the state {self.location} is locked by {info.describe()}, {_age(info)}, lock id {info.lock_id}"
        if waited > 0:
            message += f"; gave up after waiting {waited:g} s"
        return LockHeld(message, "Wait for it to finish (or retry with --lock-timeout SECONDS). If that process is "
                                 f"gone for good, remove its lock: kcplan state force-unlock {info.lock_id}")

    def delete_lock_if(self, lock_id: str) -> bool:
        """Delete the lock object if it still holds ``lock_id`` (not one taken after a forced unlock)."""
        found = self._get(f"{self.key}.lock", "reading the lock")
        if found is None or (LockInfo.from_json(found[0]) or LockInfo(0, "", "", "", "")).lock_id != lock_id:
            return False
        self._call("removing the lock", lambda: self._s3.delete_object(Bucket=self.bucket, Key=f"{self.key}.lock"))
        return True

    def force_unlock(self, lock_id: str | None, force: bool) -> tuple[bool | None, LockInfo | None]:
        info = self.holder()
        if info is None:
            return False, None
        if lock_id is None:
            raise StateError(f"the state {self.location} is locked by {info.describe()}, {_age(info)}",
                             "Nothing was removed. A lock in S3 is removed by its id, once you know its holder is "
                             f"gone: kcplan state force-unlock {info.lock_id}")
        check_lock_id(lock_id, info, self.location)
        self.delete_lock_if(lock_id)
        return None, info
