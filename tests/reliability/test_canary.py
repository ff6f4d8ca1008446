"""Canary-secret scan over every command (issue 7, item 4): zero hits, and every file kcplan writes is private.

One project, pointed at the REAL standalone worker through a FaultProxy, carries unique random canaries
(tests/reliability/canary.py: each holds ``space / % + : & = " \\`` and non-ASCII, so every encoding of
it differs) in:

- sensitive keys of connectors: ``database.password`` (written in the file), ``sasl.jaas.config`` (the
  secret inside a JAAS line), ``ssl.key.password`` (an environment variable read with std.extVar),
  ``api.token`` (``importstr`` of a secrets file outside the project), ``my.secret`` (std.extVar, given
  with ``--ext-str`` on some command lines), ``opaque.blob`` and ``x.hush`` (the settings'
  ``sensitive_keys``: an exact key and a glob), ``plain.field`` (type PASSWORD in the project's schema of
  the class), and ``file`` of FileStreamSink (made sensitive in the settings: its value reappears in the
  REAL worker's trace of the task that fails on it, as a JDBC URL with a password would);
- the auth settings: basic auth password, bearer token, a custom header (all from ext vars), and
  ``user:password@`` in KCPLAN_CONNECT_URL (the unreachable-cluster runs).

Every command runs as a process (python -m kcplan), most also with --debug, the cluster-facing ones also
under faults (409 rebalances, lost answers, non-JSON answers, a 400 that echoes the config, a real FAILED
task whose trace holds a secret, no cluster at all); secrets are updated, a plan goes stale because a
secret changed (in the code, and on the cluster), and an apply rolls back. stdout, stderr and every file
under the project, the state folder, HOME and TMPDIR (also while each command runs: lock and temp files)
are searched for every canary in every encoding (raw, base64 alone/as user:password/inside longer base64,
URL-encoded, JSON-escaped, repr, hex, and its random fragments alone). Expected: zero hits. Positive
controls prove the scan and the set-up can fail: ``render --show-sensitive`` must show the connector
canaries, the worker's own trace must hold the ``file`` canary, the proxy must have seen the auth canaries.

Files: every file kcplan wrote (commands run with umask 000) is 0600 and every folder it made 0700 --
except ``drift --output``, 0644 by design (node_exporter's textfile collector reads it as another user), and
the schemas ``schemas pull`` writes, 0644 (project sources for git).

The seed (canaries and names) is printed; KCPLAN_RELIABILITY_SEED repeats it; KCPLAN_CANARY_RUNS (default 1)
repeats the whole scan with fresh canaries.
"""

from __future__ import annotations

import base64
import json
import os
import random
import shlex
import stat
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import pytest
import requests

from tests.faultproxy import FaultProxy, closed_port_url
from tests.helpers import REPO, SINK, SRC, kcplan_argv, kcplan_env
from tests.reliability.canary import Hit, Scanner, make_canary, needles
from tests.reliability.seeds import base_seed

RUNS = int(os.environ.get("KCPLAN_CANARY_RUNS", "1"))
USER = "ops-user"
DRIFT_OUTPUT_MODE = 0o644  # kcplan/commands/_output.py OUTPUT_MODE: read by node_exporter, holds no secret
# `schemas pull` writes project sources (for git, no config values) 0644 whatever the umask (write_atomic's
# default): readable like any source file, never world-writable
SCHEMA_MODE = 0o644

# canaries in connector configs (render --show-sensitive must print each of them)
CONFIG_LABELS = ("db_pw", "jaas", "ssl_key", "api_token", "ext_secret", "opaque", "hush", "schema_pw",
                 "bad_file", "ok_old")
LATIN1_LABELS = ("auth_pw", "bearer", "header", "url_pw")  # HTTP header values must be latin-1
OTHER_LABELS = ("db_v2", "db_v3", "live1", "live2", "imp_pw", "ok_new", "rb_file", "echo_batch", "token_utf8")


@dataclass
class Ran:
    argv: list[str]
    code: int
    stdout: str
    stderr: str
    seconds: float = 0.0

    @property
    def shown(self) -> str:
        return "kcplan " + shlex.join(self.argv)


@dataclass
class Lab:
    """The project, the canaries and the runner that scans everything each command leaves behind."""

    root: Path          # tmp dir: project/, data/, home/, tmp/, outputs/
    worker: str
    proxy: FaultProxy
    canaries: dict[str, str]
    seed: int
    names: dict[str, str]
    scanner: Scanner = field(init=False)
    ran: list[Ran] = field(default_factory=list)
    inputs: set[Path] = field(default_factory=set)   # files and folders the test wrote itself
    controls: dict[str, list[str]] = field(default_factory=dict)
    lock_seen_held: int = 0

    def __post_init__(self) -> None:
        self.scanner = Scanner(self.canaries, users={"auth_pw": USER, "url_pw": USER})
        for sub in ("project", "echo", "data", "home", "tmp", "outputs", "secrets"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)

    # -- paths ------------------------------------------------------------------------------------------

    @property
    def project(self) -> Path:
        return self.root / "project"

    @property
    def state_path(self) -> Path:
        return self.project / ".kcplan" / "dev.state.json"

    @property
    def echo_project(self) -> Path:
        return self.root / "echo"

    @property
    def scanned_dirs(self) -> list[Path]:
        return [self.project, self.echo_project, self.root / "home", self.root / "tmp"]

    def write_input(self, path: Path, text: str) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        self.inputs.add(path)
        for parent in path.parents:
            if parent == self.root:
                break
            self.inputs.add(parent)

    # -- the project ------------------------------------------------------------------------------------

    def write_settings(self) -> None:
        auth = ("if std.extVar('AUTH_MODE') == 'bearer' "
                "then { bearer_token: std.extVar('KC_BEARER'), headers: { 'X-Canary-Auth': std.extVar('KC_HEADER') } } "
                "else { basic: { username: '" + USER + "', password: std.extVar('KC_AUTH_PW') }, "
                "headers: { 'X-Canary-Auth': std.extVar('KC_HEADER') } }")
        self.write_input(self.project / "environments" / "dev" / "kcplan.jsonnet", (
            "{\n"
            f"  connect_url: '{self.proxy.url}',\n"
            "  request_timeout: 60,\n"
            "  retry_deadline: 8,\n"
            f"  auth: {auth},\n"
            "  sensitive_keys: ['opaque.blob', '*.hush', 'file'],\n"
            "}\n"))
        schema = json.loads((REPO / "schemas" / f"{SRC}.json").read_text())
        schema["keys"]["plain.field"] = {"type": "password", "doc": "marked PASSWORD by the plugin"}
        self.write_input(self.project / "schemas" / f"{SRC}.json", json.dumps(schema, indent=2) + "\n")
        self.write_input(self.project / "schemas" / f"{SINK}.json",
                         (REPO / "schemas" / f"{SINK}.json").read_text())
        self.write_input(self.root / "secrets" / "api.token", self.canaries["api_token"])

    def write_echo_project(self) -> None:
        """A project without schema files (so kcplan cannot check batch.size offline) whose connector's
        batch.size -- sensitive by the settings -- is a canary: the REAL worker answers 400 quoting it."""
        env = self.echo_project / "environments" / "dev"
        self.write_input(env / "kcplan.jsonnet", (
            f"{{ connect_url: '{self.proxy.url}', retry_deadline: 8, sensitive_keys: ['batch.size'] }}\n"))
        name = self.names["echo"]
        body = {"name": name, "connector.class": SRC, "file": str(self.root / "data" / "echo.txt"),
                "topic": f"{name}-topic", "tasks.max": "1", "batch.size": self.canaries["echo_batch"]}
        self.write_input(env / "connectors" / "echo.jsonnet", json.dumps(body, indent=2) + "\n")

    def write_source(self, db_password: str) -> None:
        c, n = self.canaries, self.names
        jaas = ('org.apache.kafka.common.security.plain.PlainLoginModule required username="svc" '
                f'password="{c["jaas"]}";')
        fixed = {
            "name": n["src"], "connector.class": SRC, "file": str(self.root / "data" / "src.txt"),
            "topic": f"{n['src']}-topic", "tasks.max": "1",
            "database.password": db_password, "sasl.jaas.config": jaas,
            "opaque.blob": c["opaque"], "x.hush": c["hush"], "plain.field": c["schema_pw"],
            "database.user": "svc-reader",
        }
        body = json.dumps(fixed, indent=2)[:-2] + (
            ",\n  \"ssl.key.password\": std.extVar('SSL_KEY_PW'),\n"
            f"  \"api.token\": importstr '{self.root / 'secrets' / 'api.token'}',\n"
            "  \"my.secret\": std.extVar('CLI_SECRET'),\n}\n")
        self.write_input(self.project / "environments" / "dev" / "connectors" / "src.jsonnet", body)

    def write_sink(self, key: str, file: str, truststore_password: str) -> None:
        name = self.names[key]
        body = {"name": name, "connector.class": SINK, "topics": f"{name}-topic", "file": file,
                "tasks.max": "1", "ssl.truststore.password": truststore_password}
        self.write_input(self.project / "environments" / "dev" / "connectors" / f"{key}.jsonnet",
                         json.dumps(body, indent=2) + "\n")

    def missing_dir_file(self, label: str) -> str:
        """A path in a folder that does not exist (the sink task FAILS on it, quoting it), ending in a canary."""
        return f"/nx-{self.seed % 10**6}/{self.canaries[label]}"  # short: the table's ERROR column shows it

    # -- running commands -------------------------------------------------------------------------------

    def env(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        env = kcplan_env({
            "HOME": str(self.root / "home"), "TMPDIR": str(self.root / "tmp"), "NO_COLOR": "1",
            "AUTH_MODE": "basic", "KC_AUTH_PW": self.canaries["auth_pw"], "KC_BEARER": self.canaries["bearer"],
            "KC_HEADER": self.canaries["header"], "SSL_KEY_PW": self.canaries["ssl_key"],
            "CLI_SECRET": self.canaries["ext_secret"],
        })
        env.update(extra or {})
        return env

    def run(self, *args: str, codes: tuple[int, ...] = (0,), env: dict[str, str] | None = None,
            control: bool = False, project: Path | None = None) -> Ran:
        """Run one kcplan command (umask 000), scanning the files while it runs and its output after.

        ``control``: the output is a positive control (it MAY hold canaries): not counted as a hit.
        """
        argv = ["-C", str(project or self.project), *args]
        index = len(self.ran) + 1
        out_path = self.root / "outputs" / f"{index}.out"
        err_path = self.root / "outputs" / f"{index}.err"
        shown = "kcplan " + shlex.join(argv)
        with out_path.open("wb") as out, err_path.open("wb") as err:
            proc = subprocess.Popen(kcplan_argv(None, *argv), stdout=out, stderr=err,
                                    stdin=subprocess.DEVNULL, env=self.env(env), cwd=self.root / "tmp",
                                    preexec_fn=lambda: os.umask(0))
            began = time.monotonic()
            deadline = began + 300
            while True:
                try:
                    proc.wait(timeout=0.3)
                    break
                except subprocess.TimeoutExpired:
                    if time.monotonic() > deadline:
                        proc.kill()
                        proc.wait()
                        pytest.fail(f"seed {self.seed}: {shown} still ran after 300 s")
                    self.scan_files(f" (while `{shown}` ran)")
        ran = Ran(argv, proc.returncode, out_path.read_text(errors="replace"),
                  err_path.read_text(errors="replace"), time.monotonic() - began)
        self.ran.append(ran)
        if control:
            self.controls[shown] = [label for label, _form in self.scanner.find(ran.stdout.encode())]
        else:
            self.scanner.scan_output(ran.stdout, f"stdout of `{shown}`")
        self.scanner.scan_output(ran.stderr, f"stderr of `{shown}`")
        self.scan_files(f" (after `{shown}`)")
        assert ran.code in codes, (f"seed {self.seed}: `{shown}` exited {ran.code}, expected {codes}\n"
                                   f"stdout:\n{ran.stdout}\nstderr:\n{ran.stderr}")
        assert "internal error" not in ran.stderr, f"seed {self.seed}: `{shown}`:\n{ran.stderr}"
        if "--debug" not in args:
            assert "Traceback" not in ran.stderr, f"seed {self.seed}: `{shown}`:\n{ran.stderr}"
        return ran

    def both(self, *args: str, codes: tuple[int, ...] = (0,), env: dict[str, str] | None = None) -> Ran:
        """The command as given, then again with --debug (same expected exit codes)."""
        first = self.run(*args, codes=codes, env=env)
        self.run(*args, "--debug", codes=codes, env=env)
        return first

    def scan_files(self, where: str = "") -> None:
        for folder in self.scanned_dirs:
            self.scanner.scan_tree(folder, self.inputs, where)
        lock = self.state_path.with_name(self.state_path.name + ".lock")
        if where.startswith(" (while") and lock.exists() and lock.stat().st_size > 0:
            self.lock_seen_held += 1  # control: the scans while a command runs do see its lock file

    # -- the cluster, by hand (like curl) ----------------------------------------------------------------

    def put_live(self, name: str, config: dict[str, str]) -> None:
        reply = requests.put(f"{self.worker}/connectors/{name}/config", json=config, timeout=90)
        assert reply.status_code in (200, 201), reply.text

    def live(self, name: str) -> dict[str, str]:
        reply = requests.get(f"{self.worker}/connectors/{name}/config", timeout=30)
        assert reply.status_code == 200, reply.text
        data: dict[str, str] = reply.json()
        return data

    def task_trace(self, name: str) -> str:
        reply = requests.get(f"{self.worker}/connectors/{name}/status", timeout=30)
        assert reply.status_code == 200, reply.text
        return "\n".join(t.get("trace", "") for t in reply.json().get("tasks", []))


def make_canaries(rng: random.Random) -> dict[str, str]:
    canaries = {label: make_canary(rng, label) for label in CONFIG_LABELS + OTHER_LABELS}
    canaries.update({label: make_canary(rng, label, latin1=True) for label in LATIN1_LABELS})
    return canaries


def test_the_scanner_finds_every_encoding_of_a_canary() -> None:
    """The scan can fail: each encoding of a canary, alone or inside other text, is a hit of that form."""
    rng = random.Random(7)
    canary, other = make_canary(rng, "x"), make_canary(rng, "y", latin1=True)
    scanner = Scanner({"x": canary, "y": other}, users={"y": USER})
    samples = {
        f"Error: bad value {canary} for key": "raw",
        json.dumps({"v": canary}): "json-escaped (ascii)",
        json.dumps({"v": canary}, ensure_ascii=False): "json-escaped (utf-8)",
        "http://h/?p=" + quote(canary, safe=""): "url-encoded (quote, safe='')",
        base64.b64encode(b'{"k": "' + canary.encode() + b'"}').decode(): "base64 (utf-8)",
        base64.b64encode(b"k=" + canary.encode() + b";").decode(): "base64 (utf-8)",
        base64.b64encode(b"k:=" + canary.encode() + b";").decode(): "base64 (utf-8)",
        canary[:15] + "...": "random fragment",
        canary.encode().hex(): "hex (utf-8)",
        repr(canary): "repr",
    }
    for text, form in samples.items():
        assert scanner.find(text.encode()) == [("x", form)], text
    basic = "Authorization: Basic " + base64.b64encode(f"{USER}:{other}".encode("latin-1")).decode()
    assert scanner.find(basic.encode()) == [("y", "base64 of user:password (latin-1)")]
    assert scanner.find(b"nothing here hmac-sha256:" + b"ab" * 32 + canary[:12].encode()) == []
    assert needles(canary)[canary.encode()] == "raw"


@pytest.mark.parametrize("run", range(RUNS))
def test_no_canary_leaks_from_any_command(run: int, tmp_path: Path, connect_url: str, proxy: FaultProxy,
                                          unique_name: Callable[..., str]) -> None:
    seed = base_seed() + run
    print(f"\ncanary scan: seed {seed} (KCPLAN_RELIABILITY_SEED={seed} repeats it)")
    rng = random.Random(seed)
    canaries = make_canaries(rng)
    names = {key: unique_name(key) for key in ("src", "bad", "ok", "imp", "echo")}
    lab = Lab(tmp_path, connect_url, proxy, canaries, seed, names)
    started = time.monotonic()
    try:
        _scenario(lab)
    finally:
        print(f"canary scan: {len(lab.ran)} commands, {len(lab.scanner.files_scanned)} distinct files "
              f"({lab.scanner.file_reads} file reads, {lab.scanner.bytes_scanned} bytes) scanned for "
              f"{len(canaries)} canaries in {time.monotonic() - started:.0f} s; {len(lab.scanner.hits)} hits; "
              f"{lab.lock_seen_held} scans saw a held lock")
        slow = sorted(lab.ran, key=lambda r: -r.seconds)[:5]
        print("slowest: " + "; ".join(f"{r.seconds:.1f} s {' '.join(r.argv[2:])[:60]}" for r in slow))
    leaks = _describe(lab.scanner.hits)
    assert not leaks, f"seed {seed}: canaries leaked:\n" + "\n".join(leaks)
    _check_modes(lab)


def _describe(hits: list[Hit]) -> list[str]:
    seen: dict[tuple[str, str], Hit] = {}
    for hit in hits:
        where = hit.where.split(" (while ")[0].split(" (after ")[0]
        seen.setdefault((hit.canary, where), hit)
    return [f"{h.canary} ({h.form}) in {h.where}" for h in seen.values()]


def _scenario(lab: Lab) -> None:
    c, n, proxy = lab.canaries, lab.names, lab.proxy
    lab.write_settings()
    lab.write_source(c["db_pw"])
    lab.write_sink("bad", lab.missing_dir_file("bad_file"), c["ok_old"])
    lab.write_sink("ok", str(lab.root / "data" / "ok.out"), c["ok_old"])
    plan_file = str(lab.project / "plans" / "first.plan")
    (lab.project / "plans").mkdir()
    lab.inputs.add(lab.project / "plans")
    ext = ("--ext-str", f"CLI_SECRET={c['ext_secret']}")

    # -- offline: render, validate; render --show-sensitive is the positive control ---------------------
    lab.both("render", "-e", "dev")
    lab.run("render", "-e", "dev", "--json")
    lab.run("render", "-e", "dev", n["src"], *ext)
    lab.run("render", "-e", "dev", "--show-sensitive", control=True)
    lab.run("render", "-e", "dev", "--show-sensitive", "--json", control=True)
    lab.both("validate", "-e", "dev")

    # -- plan, show (also under 409s, a lost read, a non-JSON answer) ------------------------------------
    lab.both("validate", "-e", "dev", "--online")
    lab.both("plan", "-e", "dev")
    lab.run("plan", "-e", "dev", "--json", *ext)
    lab.run("plan", "-e", "dev", "--detailed-exitcode", codes=(2,))
    proxy.add("GET", r"^/connectors", "rebalance", times=2)
    proxy.add("GET", r"^/connectors", "timeout500")
    lab.run("plan", "-e", "dev", "--debug", codes=(0,))
    proxy.add("GET", r"^/connectors", "nonjson", times=50)
    lab.run("plan", "-e", "dev", codes=(1,))
    proxy.rules.clear()
    lab.run("plan", "-e", "dev", "--out", plan_file, *ext)
    lab.both("show", plan_file)
    lab.both("show", "--json", plan_file)

    # -- apply the plan file: 3 creates, one sink FAILS on its file (its trace holds a canary) ------------
    proxy.add("POST", r"^/connectors$", "rebalance")
    lab.run("apply", plan_file, "--json", "--verbose", "--verify-timeout", "90", codes=(3,))
    assert c["bad_file"] in lab.task_trace(n["bad"]), "control: the worker's trace must hold the canary"

    # -- status, drift (also under faults) ----------------------------------------------------------------
    lab.both("status", "-e", "dev", codes=(3,))
    lab.both("status", "-e", "dev", "--traces", codes=(3,))
    lab.run("status", "-e", "dev", "--format", "json", "--traces", codes=(3,))
    lab.run("status", "-e", "dev", "--format", "markdown", "--traces", codes=(3,))
    lab.run("status", "-e", "dev", "--failed", codes=(3,), env={"AUTH_MODE": "bearer"})
    proxy.add("GET", r"^/connectors", "rebalance")
    proxy.add("GET", r"^/connectors", "nonjson", status=502)
    lab.run("status", "-e", "dev", "--debug", "--traces", codes=(3,))
    # heal restarts the FAILED sink (its trace holds a canary), then waits for its backoff
    lab.both("heal", "-e", "dev", "--connector", n["bad"], codes=(3,))
    lab.run("heal", "-e", "dev", "--format", "json", codes=(3,))
    lab.run("heal", "-e", "dev", "--format", "prometheus", "--debug", codes=(3,))
    assert any(s.method == "POST" and s.path.startswith(f"/connectors/{n['bad']}/restart") for s in proxy.seen), \
        "control: heal restarted the failed sink"
    drift_out = lab.project / "drift.prom"
    lab.both("drift", "-e", "dev")
    lab.run("drift", "-e", "dev", "--format", "json")
    lab.run("drift", "-e", "dev", "--format", "prometheus", "--output", str(drift_out))
    # someone changes the secret on the cluster: drift names the key, never a value
    lab.put_live(n["src"], {**lab.live(n["src"]), "database.password": c["live1"]})
    lab.both("drift", "-e", "dev", codes=(2,))
    lab.run("drift", "-e", "dev", "--format", "json", "--output", str(lab.project / "drift.json"), codes=(2,))
    lab.run("drift", "-e", "dev", "--format", "prometheus", codes=(2,), env={"AUTH_MODE": "bearer"})

    # -- import and state ---------------------------------------------------------------------------------
    lab.put_live(n["imp"], {"connector.class": SRC, "file": str(lab.root / "data" / "imp.txt"),
                            "topic": "imp-topic", "tasks.max": "1", "database.password": c["imp_pw"]})
    lab.run("import", "-e", "dev", n["imp"], "--debug")
    lab.both("state", "-e", "dev", "list")
    lab.both("state", "-e", "dev", "show", n["imp"])
    lab.both("state", "-e", "dev", "show", n["src"])
    lab.run("state", "-e", "dev", "rm", n["imp"])
    lab.both("state", "-e", "dev", "force-unlock")
    # import --generate writes Jsonnet and SECRETS.md: the password must become a variable reference
    connectors = lab.project / "environments" / "dev" / "connectors"
    lab.run("import", "-e", "dev", n["imp"], "--generate", "--dry-run")
    lab.run("import", "-e", "dev", n["imp"], "--generate", "--debug")
    generated = [p for p in connectors.iterdir() if p not in lab.inputs]
    assert len(generated) == 1 and "std.extVar(" in generated[0].read_text(), "control: a file was generated"
    lab.run("state", "-e", "dev", "rm", n["imp"])
    for path in [*generated, lab.project / "environments" / "dev" / "SECRETS.md"]:
        path.unlink()  # generated source goes to Git (0644, not kcplan's private files); the user moves it away

    # -- user:password@ in a Connect URL that answers (plans show and store the URL) ----------------------
    with_user = {"KCPLAN_CONNECT_URL": proxy.url.replace("http://", f"http://{USER}:{quote(c['url_pw'], safe='')}@"),
                 "AUTH_MODE": "bearer"}
    lab.both("plan", "-e", "dev", "--out", plan_file, codes=(0,), env=with_user)
    lab.run("plan", "-e", "dev", "--json", env=with_user)
    lab.run("show", plan_file, "--json")
    lab.run("status", "-e", "dev", "--format", "json", codes=(3,), env=with_user)
    lab.run("drift", "-e", "dev", "--format", "json", codes=(2,), env=with_user)
    lab.run("validate", "-e", "dev", "--online", "--debug", env=with_user)
    assert any(s.headers.get("Authorization", "").startswith("Basic ") and s.path == "/"
               for s in proxy.seen), "control: the URL's credentials were sent"

    # -- a stale plan: the secret changed in the code, then on the cluster --------------------------------
    lab.run("plan", "-e", "dev", "--out", plan_file)           # update src: live1 -> db_pw
    lab.write_source(c["db_v2"])
    lab.both("apply", plan_file, codes=(1,))
    lab.run("plan", "-e", "dev", "--out", plan_file, "--json")  # update src: live1 -> db_v2
    lab.put_live(n["src"], {**lab.live(n["src"]), "database.password": c["live2"]})
    lab.run("apply", plan_file, "--debug", codes=(1,))

    # -- the worker answers 400 echoing the config; then a lost answer (the write happened) ---------------
    lab.run("plan", "-e", "dev", "--out", plan_file)            # update src: live2 -> db_v2
    echo = (f"Connector configuration is invalid and contains the following 2 error(s):\n"
            f"Invalid value {c['db_v2']} for configuration database.password: bad\n"
            f"Invalid value {c['schema_pw']} for configuration plain.field: bad\n"
            "You can also find the above list of errors at the endpoint "
            "`/connector-plugins/{connectorType}/config/validate`")
    proxy.add("PUT", rf"^/connectors/{n['src']}/config$", "answer", status=400,
              body={"error_code": 400, "message": echo})
    lab.run("apply", plan_file, "--debug", codes=(1,))
    proxy.add("PUT", rf"^/connectors/{n['src']}/config$", "timeout500")
    lab.run("plan", "-e", "dev", "--out", plan_file)
    lab.run("apply", plan_file, "--no-verify", codes=(0,))  # kcplan reads it back: the write had happened
    assert lab.live(n["src"])["database.password"] == c["db_v2"], "the lost answer's write did happen"

    # -- the REAL worker answers 400 quoting a sensitive value (no schema: nothing checked it offline) -----
    lab.write_echo_project()
    echo_plan = str(lab.echo_project / "echo.plan")
    lab.run("validate", "-e", "dev", "--online", "--debug", codes=(1,), project=lab.echo_project)
    lab.run("plan", "-e", "dev", "--out", echo_plan, project=lab.echo_project)
    lab.run("apply", echo_plan, "--debug", codes=(1,), project=lab.echo_project)
    lab.run("apply", "-e", "dev", "--auto-approve", "--json", codes=(1,), project=lab.echo_project)
    assert any(s.status == 400 and s.method == "POST" for s in proxy.seen), "control: the worker answered 400"

    # -- secret update + a failing update rolled back, in one verified apply -------------------------------
    lab.write_source(c["db_v3"])
    lab.write_sink("ok", lab.missing_dir_file("rb_file"), c["ok_new"])
    lab.run("apply", "-e", "dev", "--auto-approve", "--rollback-on-failure", "--verbose", "--debug",
            "--verify-timeout", "90", *ext, codes=(3,))
    assert lab.live(n["src"])["database.password"] == c["db_v3"]
    assert lab.live(n["ok"])["ssl.truststore.password"] == c["ok_old"], "rolled back to the old secret"
    lab.run("status", "-e", "dev", "--traces", codes=(3,))

    # -- no cluster at all (with user:password@ in the URL) -----------------------------------------------
    gone = closed_port_url().replace("http://", f"http://{USER}:{quote(c['url_pw'], safe='')}@")
    down = {"KCPLAN_CONNECT_URL": gone}
    lab.both("plan", "-e", "dev", codes=(1,), env=down)
    lab.run("apply", "-e", "dev", "--auto-approve", "--debug", codes=(1,), env=down)
    lab.both("status", "-e", "dev", codes=(1,), env=down)
    lab.run("status", "-e", "dev", "--format", "json", codes=(1,), env={**down, "AUTH_MODE": "bearer"})
    lab.both("drift", "-e", "dev", codes=(1,), env=down)
    lab.run("drift", "-e", "dev", "--format", "prometheus", "--output", str(drift_out), codes=(1,), env=down)
    lab.both("validate", "-e", "dev", "--online", codes=(1,), env=down)
    lab.both("import", "-e", "dev", n["imp"], codes=(1,), env=down)
    lab.run("schemas", "pull", "-e", "dev", "--debug", codes=(1,), env=down)
    # a token with a character HTTP headers cannot carry (the € of the canary): a clear error, no value
    utf8 = {"AUTH_MODE": "bearer", "KC_BEARER": c["token_utf8"]}
    lab.both("status", "-e", "dev", codes=(1,), env=utf8)
    lab.run("plan", "-e", "dev", "--debug", codes=(1,), env=utf8)
    assert "auth.bearer_token: " in lab.ran[-1].stderr, lab.ran[-1].stderr

    # -- schemas, sandbox ---------------------------------------------------------------------------------
    lab.both("schemas", "list", "-e", "dev")
    lab.both("schemas", "pull", "-e", "dev")
    lab.run("schemas", "pull", "-e", "dev", "--all")  # writes the schemas of the worker's other plugins
    lab.both("sandbox", "status")

    # -- positive controls --------------------------------------------------------------------------------
    for shown, found in lab.controls.items():
        assert sorted(found) == sorted(CONFIG_LABELS), f"seed {lab.seed}: control `{shown}` found {found}"
    assert lab.lock_seen_held > 0, "control: no scan saw a held lock file"
    sent = [s.headers for s in proxy.seen]
    assert any(h.get("X-Canary-Auth") == c["header"] for h in sent), "control: the header canary was sent"
    assert any(h.get("Authorization") == f"Bearer {c['bearer']}" for h in sent), "control: bearer sent"
    basic = [("auth_pw", "base64 of user:password (latin-1)")]
    assert any(lab.scanner.find(h.get("Authorization", "").encode()) == basic for h in sent), "control: basic sent"


def _check_modes(lab: Lab) -> None:
    """Every file kcplan wrote is 0600 (drift --output and pulled schemas: 0644 by design),
    every folder it made 0700."""
    wrong: list[str] = []
    checked = 0
    for folder in lab.scanned_dirs:
        for path in sorted(folder.rglob("*")):
            if path in lab.inputs or path.is_symlink():
                continue
            mode = stat.S_IMODE(path.stat().st_mode)
            expected = 0o700 if path.is_dir() else 0o600
            if path.name in ("drift.prom", "drift.json"):
                expected = DRIFT_OUTPUT_MODE
            elif path.parent == lab.project / "schemas":
                expected = SCHEMA_MODE
            checked += 1
            if mode != expected:
                wrong.append(f"{path}: {mode:o}, expected {expected:o}")
    print(f"canary scan: modes of {checked} files/folders kcplan wrote checked (umask 000)")
    assert checked >= 5, "kcplan wrote almost nothing?"
    assert not wrong, "\n".join(wrong)

