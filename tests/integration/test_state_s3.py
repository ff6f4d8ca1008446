"""The s3 state backend against a REAL S3 server (SeaweedFS) and the REAL standalone Connect worker.

Two checkouts with no shared disk (two CI runners) share one state object; two applies at once: one
proceeds, the other names the holder; SIGKILL mid-apply: state intact, lock left and reported,
force-unlock, converge; every S3 failure (unreachable, 403, 500, slow, corrupt or foreign object, missing
bucket) is one clear error with nothing written; migrate both ways; no AWS credential or secret anywhere;
heal's backoff record lives beside the state object, so a heal from another runner waits its backoff.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from kcplan.state.backends.s3 import S3Backend
from kcplan.state.model import State
from kcplan.state.store import StateStore
from tests.applyproject import STATUS_DEADLINE, Project, live_config, make_file_source, ok, task_failed
from tests.faultproxy import FaultProxy, closed_port_url
from tests.helpers import file_source, kcplan_env, wait_until
from tests.s3server import S3Server, s3_error

KEY = "dev/kcplan.state.json"
SECRET = "s3-secret-" + os.urandom(6).hex()


class S3Project(Project):
    """A Project whose environment 'dev' keeps its state in ``bucket`` on ``s3`` (via ``endpoint``)."""

    def __init__(self, root: Path, worker: str, s3: S3Server, bucket: str, *, endpoint: str | None = None,
                 timeout_s3: float | None = None, key: str = KEY) -> None:
        super().__init__(root, worker, request_timeout=None, timeout=180)
        self.s3, self.bucket, self.key = s3, bucket, key
        extra = f", timeout: {timeout_s3:g}" if timeout_s3 else ""
        self.state_settings = (f"{{ backend: 's3', bucket: '{bucket}', key: '{key}', region: 'us-east-1', "
                               f"endpoint_url: '{endpoint or s3.endpoint_url}'{extra} }}")
        self.write_settings()

    def write_settings(self, backend: str | None = None) -> None:
        state = self.state_settings if backend is None else self.state_settings.replace("'s3'", f"'{backend}'", 1)
        self.settings_path.write_text(f"{{ connect_url: '{self.worker}', sensitive_keys: ['file'], "
                                      f"state: {state} }}\n")

    def env(self) -> dict[str, str]:
        return kcplan_env(self.s3.env())

    def kcplan(self, *args: str, env: dict[str, str] | None = None,
               timeout: float | None = None) -> subprocess.CompletedProcess[str]:
        return super().kcplan(*args, env={**self.s3.env(), **(env or {})}, timeout=timeout)

    def state_object(self, suffix: str = "") -> bytes | None:
        try:
            answer = self.s3.client().get_object(Bucket=self.bucket, Key=self.key + suffix)
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "NoSuchKey":
                return None
            raise
        data: bytes = answer["Body"].read()
        return data

    def objects(self) -> dict[str, bytes]:
        client = self.s3.client()
        listed = client.list_objects_v2(Bucket=self.bucket).get("Contents", [])
        return {o["Key"]: client.get_object(Bucket=self.bucket, Key=o["Key"])["Body"].read() for o in listed}


@pytest.fixture
def s3p(tmp_path: Path, connect_url: str, s3_server: S3Server, s3_bucket: str) -> S3Project:
    return S3Project(tmp_path / "a", connect_url, s3_server, s3_bucket)


def declare(project: S3Project, names: list[str], topic: str = "t") -> None:
    """Source connectors reading files beside the project folders (the same for every checkout)."""
    for name in names:
        project.declare(name, {"name": name, **file_source(project.root.parent / f"{name}.txt", f"{name}-{topic}")})


def test_two_checkouts_share_one_state(s3p: S3Project, tmp_path: Path, connect_url: str,
                                       unique_name: Callable[..., str]) -> None:
    names = [unique_name("shared") for _ in range(3)]
    declare(s3p, names)
    s3p.plan()
    s3p.apply()
    other = S3Project(tmp_path / "b", connect_url, s3p.s3, s3p.bucket)  # another runner: no shared disk
    declare(other, names)
    assert not (s3p.root / ".kcplan" / "dev.state.json").exists()
    assert ok(other.kcplan("plan", "-e", "dev", "--detailed-exitcode")).endswith(
        "\nNo changes. The cluster matches the configuration.\n")
    assert ok(other.kcplan("drift", "-e", "dev")).startswith("dev: no drift; 3 managed (state serial ")
    pulled = json.loads(ok(other.kcplan("state", "pull", "-e", "dev")))
    assert pulled == json.loads(s3p.state_object() or b"")
    assert sorted(pulled["connectors"]) == sorted(names)
    assert s3p.state_object(".lock") is None  # released after each command
    previous = json.loads(s3p.state_object(".backup") or b"")
    assert previous["lineage"] == pulled["lineage"] and previous["serial"] < pulled["serial"]


def test_two_applies_at_once_exactly_one_proceeds(s3p: S3Project, tmp_path: Path, connect_url: str,
                                                  unique_name: Callable[..., str]) -> None:
    other = S3Project(tmp_path / "b", connect_url, s3p.s3, s3p.bucket)
    names = [unique_name("race") for _ in range(2)]
    for round_ in range(4):
        for project in (s3p, other):
            declare(project, names, topic=f"r{round_}")
        procs = [subprocess.Popen(p.argv("apply", "-e", "dev", "--auto-approve", "--no-color"), env=p.env(),
                                  stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True) for p in (s3p, other)]
        results = [p.communicate(timeout=180) for p in procs]
        codes = sorted(p.returncode for p in procs)
        assert codes == [0, 1], (round_, results)
        loser = results[[p.returncode for p in procs].index(1)][1]
        assert "Error: the state s3://" in loser and "is locked by 'kcplan apply' (pid " in loser, loser
        assert ", lock id " in loser and "kcplan state force-unlock " in loser
        assert "Traceback" not in loser
        assert live_config(connect_url, names[0])["topic"] == f"{names[0]}-r{round_}"  # type: ignore[index]
        assert s3p.state_object(".lock") is None


def test_sigkill_mid_apply_leaves_the_lock_reported_then_converges(
        s3p: S3Project, unique_name: Callable[..., str]) -> None:
    rng = random.Random(int(os.environ.get("KCPLAN_RELIABILITY_SEED", "12")))
    names = [unique_name("kill") for _ in range(6)]
    for round_ in range(3):
        declare(s3p, names, topic=f"k{round_}")
        proc = subprocess.Popen(s3p.argv("apply", "-e", "dev", "--auto-approve", "--no-color"), env=s3p.env(),
                                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while s3p.state_object(".lock") is None and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(rng.uniform(0.0, 1.5))
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        lock = s3p.state_object(".lock")
        if lock is not None:  # killed while holding it: the lock stays and is reported, never broken
            lock_id = json.loads(lock)["lock_id"]
            held = s3p.kcplan("plan", "-e", "dev")
            ok(held, 1)
            assert f"lock id {lock_id}" in held.stderr and f"kcplan state force-unlock {lock_id}" in held.stderr
            ok(s3p.kcplan("state", "force-unlock", "-e", "dev", "wrong-id"), 1)
            assert s3p.state_object(".lock") == lock
            out = ok(s3p.kcplan("state", "force-unlock", "-e", "dev", lock_id))
            assert out.startswith(f"Removed the lock of s3://{s3p.bucket}/{KEY} (last taken by 'kcplan apply' ")
        if s3p.state_object() is not None:
            json.loads(ok(s3p.kcplan("state", "pull", "-e", "dev")))  # intact: parses and validates
        ok(s3p.kcplan("apply", "-e", "dev", "--auto-approve", "--verify-timeout", "90"))
        code, out = s3p.pending()
        assert code == 0, out
        for name in names:
            assert live_config(s3p.worker, name)["topic"] == f"{name}-k{round_}"  # type: ignore[index]


@pytest.fixture
def s3_proxy(s3_server: S3Server) -> Iterator[FaultProxy]:
    with FaultProxy(s3_server.endpoint_url, keep_host=True) as proxy:
        yield proxy


@pytest.mark.parametrize("fault", ["403", "500", "slow", "unreachable", "corrupt", "foreign", "no-bucket"])
def test_s3_failures_are_one_clear_error_and_write_nothing(
        fault: str, tmp_path: Path, connect_url: str, s3_server: S3Server, s3_bucket: str, s3_proxy: FaultProxy,
        unique_name: Callable[..., str]) -> None:
    endpoint = {"unreachable": closed_port_url()}.get(fault, s3_proxy.url)
    bucket = f"kcplan-missing-{os.urandom(4).hex()}" if fault == "no-bucket" else s3_bucket
    project = S3Project(tmp_path / "p", connect_url, s3_server, bucket, endpoint=endpoint,
                        timeout_s3=1 if fault == "slow" else None)
    name = unique_name("fault")
    declare(project, [name])
    client = s3_server.client()
    if fault == "corrupt":
        client.put_object(Bucket=bucket, Key=KEY, Body=b'{"lineage": "x", "serial": ')
    if fault == "foreign":
        client.put_object(Bucket=bucket, Key=KEY, Body=b'{"terraform_version": "1.10.0", "version": 4}')
    path = f"^/{bucket}/{KEY}".replace(".", r"\.")
    if fault == "403":
        s3_proxy.add("PUT", path + r"\.lock", "answer", status=403, body=s3_error("AccessDenied", "Access Denied"))
    if fault == "500":
        s3_proxy.add("GET", path + "$", "answer", status=500, times=10,
                     body=s3_error("InternalError", "We encountered an internal error"))
    if fault == "slow":
        s3_proxy.add("PUT", path + r"\.lock", "delay", seconds=4, times=10)
    before = {} if fault == "no-bucket" else _objects(client, bucket)

    result = project.kcplan("apply", "-e", "dev", "--auto-approve")
    ok(result, 1)
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, result.stderr
    where = f"the state s3://{bucket}/{KEY} at {endpoint}"
    expected = {
        "403": f"Error: S3 refused access to {where} (taking the lock: AccessDenied)",
        "500": f"Error: S3 answered HTTP 500 for {where} (reading the state: InternalError)",
        "slow": f"Error: S3 is not reachable for {where} (taking the lock): ReadTimeoutError",
        "unreachable": f"Error: S3 is not reachable for {where} (taking the lock): EndpointConnectionError",
        "corrupt": f"Error: the state file s3://{bucket}/{KEY} is corrupt: not valid JSON",
        "foreign": f"Error: the state file s3://{bucket}/{KEY} is corrupt: ",
        "no-bucket": f"Error: the bucket '{bucket}' of {where} does not exist (taking the lock)",
    }[fault]
    assert errors[0].startswith(expected), result.stderr
    assert live_config(connect_url, name) is None  # nothing written to the cluster
    if fault != "no-bucket":
        after = _objects(client, bucket)
        assert {k: v for k, v in after.items() if not k.endswith(".lock")} == before
    for secret in (s3_server.secret_key, s3_server.access_key):
        assert secret not in result.stdout + result.stderr


def _objects(client: object, bucket: str) -> dict[str, bytes]:
    listed = client.list_objects_v2(Bucket=bucket).get("Contents", [])  # type: ignore[attr-defined]
    return {o["Key"]: client.get_object(Bucket=bucket, Key=o["Key"])["Body"].read()  # type: ignore[attr-defined]
            for o in listed}


def test_migrate_both_ways_and_refuse_another_lineage(s3p: S3Project, unique_name: Callable[..., str]) -> None:
    name = unique_name("moved")
    declare(s3p, [name])
    s3p.write_settings(backend="local")  # start local, as a project before the S3 backend
    s3p.plan()
    s3p.apply()
    local = s3p.root / ".kcplan" / "dev.state.json"
    source = local.read_bytes()
    heal_record = b'{"format_version": 1, "connectors": {}}\n'
    local.with_name("dev.state.json.heal.json").write_bytes(heal_record)
    out = ok(s3p.kcplan("state", "migrate", "-e", "dev", "--to", "s3"))
    assert out.startswith(f"Copied the state of 'dev' (lineage {json.loads(source)['lineage']}, serial ")
    assert f"Copied heal's restart record to s3://{s3p.bucket}/{KEY}.heal.json.\n" in out
    assert local.read_bytes() == source and json.loads(s3p.state_object() or b"") == json.loads(source)
    assert s3p.state_object(".heal.json") == heal_record
    again = ok(s3p.kcplan("state", "migrate", "-e", "dev", "--to", "s3"))
    assert "already" in again and "heal" not in again  # the record there is not overwritten
    s3p.write_settings()
    assert s3p.pending()[0] == 0

    foreign = source.replace(json.loads(source)["lineage"].encode(), b"00000000-0000-0000-0000-000000000000")
    s3p.s3.client().put_object(Bucket=s3p.bucket, Key=KEY, Body=foreign)
    refused = s3p.kcplan("state", "migrate", "-e", "dev", "--to", "s3")
    ok(refused, 1)
    assert "holds another state (lineage 00000000-0000-0000-0000-000000000000" in refused.stderr
    local.unlink()
    out = ok(s3p.kcplan("state", "migrate", "-e", "dev", "--to", "local"))
    assert out.startswith("Copied the state of 'dev' (lineage 00000000-0000-0000-0000-000000000000")
    assert json.loads(local.read_bytes())["lineage"] == "00000000-0000-0000-0000-000000000000"


def test_no_credential_or_secret_in_output_objects_or_debug_logs(s3p: S3Project,
                                                                  unique_name: Callable[..., str]) -> None:
    name = unique_name("canary")
    s3p.declare(name, {**s3p.source(name), "connection.password": SECRET})
    runs = [("validate", "-e", "dev"), ("plan", "-e", "dev", "--out", str(s3p.plan_file), "--debug"),
            ("apply", str(s3p.plan_file), "--debug"), ("status", "-e", "dev", "--debug"),
            ("drift", "-e", "dev", "--debug"), ("state", "list", "-e", "dev"), ("state", "show", "-e", "dev", name),
            ("state", "pull", "-e", "dev"), ("plan", "-e", "dev", "--format", "markdown", "--debug"),
            ("heal", "-e", "dev", "--dry-run", "--debug"), ("offsets", "get", "-e", "dev", name, "--debug"),
            ("render", "-e", "dev"), ("state", "force-unlock", "-e", "dev"), ("state", "migrate", "-e", "dev",
                                                                             "--to", "local", "--debug"),
            ("import", "-e", "dev", "--all", "--debug"), ("state", "rm", "-e", "dev", name, "--debug")]
    texts = []
    for args in runs:
        result = s3p.kcplan(*args)
        assert result.returncode in (0, 2, 3), (args, result.stderr)
        texts += [result.stdout, result.stderr]
    texts += [v.decode(errors="replace") for v in s3p.objects().values()]
    sources = s3p.root / "environments"  # the connector file holds the secret: that is the user's own file
    texts += [p.read_text(errors="replace") for p in s3p.root.rglob("*") if p.is_file() and sources not in p.parents]
    assert any(f"s3://{s3p.bucket}/{KEY}" in t for t in texts)  # the scan saw the S3 path
    for text in texts:
        for needle in (SECRET, s3p.s3.secret_key, s3p.s3.access_key):
            assert needle not in text



def test_lock_timeout_waits_for_a_holder_and_gives_up_naming_it(s3p: S3Project,
                                                                unique_name: Callable[..., str]) -> None:
    declare(s3p, [unique_name("wait")])
    holder = {"pid": 777, "host": "runner-9", "user": "ci", "command": "apply", "since": "2026-12-07T00:00:00Z",
              "lock_id": "5f0c-held"}
    client = s3p.s3.client()
    client.put_object(Bucket=s3p.bucket, Key=KEY + ".lock", Body=json.dumps(holder).encode())
    refused = s3p.kcplan("plan", "-e", "dev", "--lock-timeout", "1")
    ok(refused, 1)
    assert refused.stderr.startswith(
        f"Error: the state s3://{s3p.bucket}/{KEY} is locked by 'kcplan apply' (pid 777 on host runner-9, user ci) "
        "since 2026-12-07T00:00:00Z, ")
    assert ", lock id 5f0c-held; gave up after waiting 1 s\n" in refused.stderr
    assert "kcplan state force-unlock 5f0c-held" in refused.stderr
    waiting = subprocess.Popen(s3p.argv("plan", "-e", "dev", "--lock-timeout", "60"), env=s3p.env(),
                               stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(3)
    assert waiting.poll() is None  # still waiting for the holder
    client.delete_object(Bucket=s3p.bucket, Key=KEY + ".lock")  # the holder finishes
    out, err = waiting.communicate(timeout=120)
    assert waiting.returncode == 0, err
    assert "1 to add" in out and s3p.state_object(".lock") is None


@pytest.mark.parametrize("fault", ["drop", "timeout500"])
def test_a_lost_answer_to_a_landed_conditional_put_is_not_a_conflict(
        fault: str, s3_server: S3Server, s3_bucket: str, s3_proxy: FaultProxy,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """botocore retries a PUT whose answer was lost; the retry's condition then fails against our own write
    (412). The state write and the lock must see that the object holds their own bytes, not someone else's."""
    for name, value in s3_server.env().items():
        monkeypatch.setenv(name, value)
    store = StateStore(S3Backend(s3_bucket, KEY, region="us-east-1", endpoint_url=s3_proxy.url))
    path = rf"^/{s3_bucket}/{KEY}".replace(".", r"\.")
    s3_proxy.add("PUT", path + r"\.lock(\?|$)", fault)
    with store.locked("test") as held:
        lock = json.loads(_objects(s3_server.client(), s3_bucket)[KEY + ".lock"])
        assert lock["lock_id"] == held.info.lock_id
        first = store.save(State(kafka_cluster_id="c1"))
        s3_proxy.add("PUT", path + r"(\?|$)", fault)
        second = store.save(first.model_copy(update={"kafka_cluster_id": "c2"}))
    puts = [s.status for s in s3_proxy.seen if s.method == "PUT" and s.path.split("?")[0] == f"/{s3_bucket}/{KEY}"]
    assert puts[-1] == 412 and len(puts) == 3  # first save; the lost answer; the retry against our own write
    objects = _objects(s3_server.client(), s3_bucket)
    assert json.loads(objects[KEY]) == json.loads(second.to_json()) and second.serial == 2
    assert KEY + ".lock" not in objects  # released


def test_heal_keeps_its_backoff_record_beside_the_state_object(
        s3p: S3Project, tmp_path: Path, connect_url: str, unique_name: Callable[..., str]) -> None:
    """Cron heal on fresh CI runners: the second runner must see the first one's restart and wait."""
    bad = unique_name("bad")
    make_file_source(s3p, tmp_path, bad, failing=True)
    ok(s3p.kcplan("import", "-e", "dev", bad))
    first = s3p.kcplan("heal", "-e", "dev", "--connector", bad)
    assert (first.returncode, first.stderr) == (3, ""), first.stdout
    assert first.stdout.splitlines()[1].split()[:2] == [bad, "restarted"]
    entry = json.loads(s3p.state_object(".heal.json") or b"")["connectors"][bad]
    assert (entry["restarts"], entry["tasks"]) == (1, [0])
    assert not list(s3p.root.rglob("*.heal.json"))  # nothing on the runner's disk
    wait_until(lambda: task_failed(connect_url, bad), f"{bad} FAILED again", STATUS_DEADLINE, interval=0.3)

    other = S3Project(tmp_path / "b", connect_url, s3p.s3, s3p.bucket)  # another runner: no shared disk
    second = other.kcplan("heal", "-e", "dev", "--connector", bad)
    assert (second.returncode, second.stderr) == (3, ""), second.stdout
    assert second.stdout.splitlines()[1].split()[:2] == [bad, "waiting"]
    assert "1 restart made; next due" in second.stdout
    assert json.loads(s3p.state_object(".heal.json") or b"")["connectors"][bad] == entry
    assert s3p.state_object(".lock") is None
