"""kcplan import --generate against a REAL standalone Connect worker of its own (issue 13).

The worker holds 30 hand-made connectors of three classes (FileStreamSource, FileStreamSink and
MirrorHeartbeat), some PAUSED and some STOPPED, one with a password, one whose only secret is a key the
plugin types PASSWORD, one with a config-provider placeholder and one whose name cannot be a file name.
``import --generate --defaults --all`` must write files that, with the printed variables set, plan empty;
no secret value may reach a file, the state or any output. The worker is this module's own, so --all
sees exactly these connectors.
"""

from __future__ import annotations

import json
import secrets
import subprocess
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
import requests

from kcplan.errors import KcplanError
from kcplan.sandbox import SandboxInfo, start_sandbox, stop_sandbox
from tests.applyproject import live_config, live_state, ok
from tests.conftest import STARTUP_TIMEOUT
from tests.helpers import SINK, SRC, run_kcplan, wait_until, write_project, write_settings

HEARTBEAT = "org.apache.kafka.connect.mirror.MirrorHeartbeatConnector"
AWKWARD = "ops: Heartbeat (eu)"
PASSWORD = "pw-" + secrets.token_hex(8)           # connection.password of src-03 (a name pattern)
CERTIFICATE = "pem-" + secrets.token_hex(8)       # ssl.truststore.certificates: PASSWORD by the plugin only
PLACEHOLDER = "${file:/etc/kcplan/db.properties:password}"
VARIABLES = {"KCPLAN_SECRET_SRC_03__CONNECTION_PASSWORD": PASSWORD,
             "KCPLAN_SECRET_OPS_HEARTBEAT_EU__SSL_TRUSTSTORE_CERTIFICATES": CERTIFICATE}
RUN_STATES = {"src-04": "PAUSED", "src-05": "STOPPED", "sink-06": "PAUSED", "sink-07": "STOPPED",
              "hb-03": "STOPPED"}


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxInfo]:
    root = tmp_path_factory.mktemp("sandbox-generate")
    try:
        info = start_sandbox(root, timeout=STARTUP_TIMEOUT, stop_with_parent=True)
    except KcplanError as exc:
        pytest.fail(f"could not start the real Kafka Connect sandbox: {exc.message}\n{exc.hint}", pytrace=False)
    try:
        yield info
    finally:
        stop_sandbox(root)


def hand_made(data: Path, bootstrap: str) -> dict[str, dict[str, str]]:
    """The 30 configs, as a PUT script would send them (every value a string)."""
    configs: dict[str, dict[str, str]] = {}
    for i in range(1, 13):
        configs[f"src-{i:02}"] = {"connector.class": SRC, "tasks.max": "1", "topic": "generated-in",
                                  "batch.size": "500", "file": str(data / f"in-{i:02}.txt")}
        configs[f"sink-{i:02}"] = {"connector.class": SINK, "tasks.max": "1", "topics": "generated-in",
                                   "file": str(data / f"out-{i:02}.txt")}
    configs["src-03"]["connection.password"] = PASSWORD
    configs["sink-02"]["db.password"] = PLACEHOLDER
    configs["sink-09"]["tasks.max"] = "2"  # not shared, so it stays in each sink's file
    heartbeat = {"connector.class": HEARTBEAT, "tasks.max": "1", "source.cluster.alias": "east",
                 "target.cluster.alias": "west", "target.cluster.bootstrap.servers": bootstrap,
                 "emit.heartbeats.interval.seconds": "5"}
    for i in range(1, 6):
        configs[f"hb-{i:02}"] = {**heartbeat, "heartbeats.topic.replication.factor": "1"}
    configs[AWKWARD] = {**heartbeat, "heartbeats.topic.replication.factor": "1",
                        "ssl.truststore.certificates": CERTIFICATE}
    return configs


def put_script(url: str, configs: dict[str, dict[str, str]], run_states: dict[str, str]) -> None:
    """What a team's PUT script does: PUT each config, then pause or stop some of them."""
    for name, config in configs.items():
        requests.put(f"{url}/connectors/{quote(name, safe='')}/config", json=config, timeout=60).raise_for_status()
    for name, run_state in run_states.items():
        verb = "pause" if run_state == "PAUSED" else "stop"
        requests.put(f"{url}/connectors/{quote(name, safe='')}/{verb}", timeout=60).raise_for_status()
    for name, run_state in run_states.items():
        wait_until(lambda n=name, s=run_state: live_state(url, n) == s, f"{name} {run_state}")


def delete_all(url: str) -> None:
    for name in requests.get(f"{url}/connectors", timeout=60).json():
        requests.delete(f"{url}/connectors/{quote(name, safe='')}", timeout=60).raise_for_status()
    wait_until(lambda: requests.get(f"{url}/connectors", timeout=60).json() == [], "no connectors left")


def files_under(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): p.read_text(encoding="utf-8")
            for p in sorted(root.rglob("*")) if p.is_file()}


def no_secret_in(*texts: str) -> None:
    for text in texts:
        assert PASSWORD not in text and CERTIFICATE not in text


@pytest.fixture
def cluster(sandbox: SandboxInfo, tmp_path: Path) -> Iterator[dict[str, dict[str, str]]]:
    configs = hand_made(tmp_path / "data", sandbox.bootstrap_servers)
    put_script(sandbox.url, configs, RUN_STATES)
    yield configs
    delete_all(sandbox.url)


def kcplan(root: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return run_kcplan(root, *args, "--no-color", env=env, timeout=300, stdin=subprocess.DEVNULL)


def test_generate_all_with_defaults_then_plan_is_empty(
        sandbox: SandboxInfo, cluster: dict[str, dict[str, str]], tmp_path: Path) -> None:
    root = write_project(tmp_path / "proj", f"{{ connect_url: '{sandbox.url}' }}\n", schemas=(SRC, SINK))
    before = files_under(root)

    dry = kcplan(root, "import", "-e", "dev", "--generate", "--defaults", "--all", "--dry-run")
    out = ok(dry)
    assert out.startswith("Would write 33 files for environment 'dev':\n")
    assert out.endswith("\nNothing was written or imported (--dry-run).\n")
    assert "environments/dev/connectors/ops-Heartbeat-eu-26812a1a.jsonnet  ops: Heartbeat (eu)  " \
           "(the name cannot be the file name as it is)\n" in out
    assert files_under(root / "environments") == {k.removeprefix("environments/"): v for k, v in before.items()
                                                   if k.startswith("environments/")}
    assert not (root / ".kcplan" / "dev.state.json").exists()
    no_secret_in(dry.stdout, dry.stderr)

    result = kcplan(root, "import", "-e", "dev", "--generate", "--defaults", "--all")
    out = ok(result)
    assert out.startswith("Wrote 33 files for environment 'dev':\n"
                          "  environments/dev/file-stream-sink.libsonnet ")
    assert ("Set these environment variables before plan and apply (listed in environments/dev/SECRETS.md):\n"
            "  KCPLAN_SECRET_OPS_HEARTBEAT_EU__SSL_TRUSTSTORE_CERTIFICATES  ops: Heartbeat (eu): "
            "ssl.truststore.certificates\n"
            "  KCPLAN_SECRET_SRC_03__CONNECTION_PASSWORD                    src-03: connection.password\n") in out
    assert "Imported 30 connectors into the state of 'dev' (serial 1): " in out
    assert out.endswith("\nNo changes. The cluster matches the configuration.\n")
    no_secret_in(result.stdout, result.stderr, *files_under(root).values())

    env_dir = root / "environments" / "dev"
    assert (env_dir / "file-stream-source.libsonnet").read_text() == (
        "// Keys all generated org.apache.kafka.connect.file.FileStreamSourceConnector connectors share "
        "(kcplan import --generate --defaults).\n"
        "{\n"
        '  "batch.size": "500",\n'
        f'  "connector.class": "{SRC}",\n'
        '  "tasks.max": "1",\n'
        '  topic: "generated-in",\n'
        "}\n")
    assert (env_dir / "file-stream-sink.libsonnet").read_text() == (
        "// Keys all generated org.apache.kafka.connect.file.FileStreamSinkConnector connectors share "
        "(kcplan import --generate --defaults).\n"
        "{\n"
        f'  "connector.class": "{SINK}",\n'
        '  topics: "generated-in",\n'
        "}\n")
    assert (env_dir / "connectors" / "src-05.jsonnet").read_text() == (
        "// Generated by 'kcplan import --generate' from the live connector \"src-05\".\n"
        'local defaults = import "../file-stream-source.libsonnet";\n\n'
        "{\n"
        '  name: "src-05",\n'
        '  state: "STOPPED",\n'
        "  config: defaults + {\n"
        f'    file: "{cluster["src-05"]["file"]}",\n'
        "  },\n"
        "}\n")
    assert (env_dir / "connectors" / "src-03.jsonnet").read_text() == (
        "// Generated by 'kcplan import --generate' from the live connector \"src-03\".\n"
        'local defaults = import "../file-stream-source.libsonnet";\n\n'
        "defaults + {\n"
        '  name: "src-03",\n'
        '  "connection.password": std.extVar("KCPLAN_SECRET_SRC_03__CONNECTION_PASSWORD"),\n'
        f'  file: "{cluster["src-03"]["file"]}",\n'
        "}\n")
    assert f'  "db.password": "{PLACEHOLDER}",\n' in (env_dir / "connectors" / "sink-02.jsonnet").read_text()
    assert '  "tasks.max": "2",\n' in (env_dir / "connectors" / "sink-09.jsonnet").read_text()
    secrets_doc = (env_dir / "SECRETS.md").read_text()
    assert secrets_doc.endswith(
        "| variable | connector | key |\n|---|---|---|\n"
        "| `KCPLAN_SECRET_OPS_HEARTBEAT_EU__SSL_TRUSTSTORE_CERTIFICATES` | ops: Heartbeat (eu) | "
        "`ssl.truststore.certificates` |\n"
        "| `KCPLAN_SECRET_SRC_03__CONNECTION_PASSWORD` | src-03 | `connection.password` |\n")

    # With the variables set, rendered == live key by key and the run states match: exit 0.
    plan = kcplan(root, "plan", "-e", "dev", "--detailed-exitcode", env=VARIABLES)
    assert ok(plan, 0).endswith("\nNo changes. The cluster matches the configuration.\n")
    no_secret_in(plan.stdout, plan.stderr)
    drift = kcplan(root, "drift", "-e", "dev", env=VARIABLES)
    assert ok(drift).startswith("dev: no drift; 30 managed (state serial 1) match the cluster, none unmanaged.")
    # Without them, the plan names the variables to set and stops.
    missing = kcplan(root, "plan", "-e", "dev")
    ok(missing, 1)
    assert ("Set the environment variable(s) KCPLAN_SECRET_OPS_HEARTBEAT_EU__SSL_TRUSTSTORE_CERTIFICATES, "
            "KCPLAN_SECRET_SRC_03__CONNECTION_PASSWORD or pass --ext-str NAME=VALUE") in missing.stderr
    # A wrong value is a change, shown masked.
    wrong = kcplan(root, "plan", "-e", "dev", "--detailed-exitcode",
                   env={**VARIABLES, "KCPLAN_SECRET_SRC_03__CONNECTION_PASSWORD": "not-it"})
    assert "  ~ update src-03\n      ~ connection.password: (sensitive value)\n" in ok(wrong, 2)
    assert "not-it" not in wrong.stdout
    for name, config in cluster.items():  # the import wrote nothing to the cluster
        assert live_config(sandbox.url, name) == {**config, "name": name}


def test_rerun_is_refused_without_force(
        sandbox: SandboxInfo, cluster: dict[str, dict[str, str]], tmp_path: Path) -> None:
    """A second run that would overwrite a file (here the source class's library) writes nothing."""
    root = write_project(tmp_path / "proj", f"{{ connect_url: '{sandbox.url}' }}\n")
    state = root / ".kcplan" / "dev.state.json"
    first = kcplan(root, "import", "-e", "dev", "--generate", "--defaults", "--connector", "src-0*", env=VARIABLES)
    assert "Imported 9 connectors into the state of 'dev' (serial 1): " in ok(first)
    written, recorded = files_under(root / "environments"), state.read_text()

    again = kcplan(root, "import", "-e", "dev", "--generate", "--defaults", "--all", env=VARIABLES)
    ok(again, 1)
    assert again.stderr.startswith("Error: these files exist already; nothing was written or imported:\n"
                                   "  - environments/dev/file-stream-source.libsonnet\n"
                                   "Move them away, choose other connectors, or pass --force to overwrite them.\n")
    assert files_under(root / "environments") == written and state.read_text() == recorded

    forced = kcplan(root, "import", "-e", "dev", "--generate", "--defaults", "--all", "--force", env=VARIABLES)
    assert "Imported 21 connectors into the state of 'dev' (serial 2): " in ok(forced)
    after = files_under(root / "environments")
    assert {k: after[k] for k in written if k != "dev/SECRETS.md"} == {k: v for k, v in written.items()
                                                                  if k != "dev/SECRETS.md"}
    assert ok(kcplan(root, "plan", "-e", "dev", "--detailed-exitcode", env=VARIABLES)).endswith(
        "\nNo changes. The cluster matches the configuration.\n")


def test_json_report_names_files_and_variables_never_a_value(
        sandbox: SandboxInfo, cluster: dict[str, dict[str, str]], tmp_path: Path) -> None:
    root = write_project(tmp_path / "proj", f"{{ connect_url: '{sandbox.url}' }}\n")
    generated = {
        "files": [{"path": "environments/dev/connectors/src-03.jsonnet", "kind": "connector", "connector": "src-03"},
                  {"path": "environments/dev/connectors/src-04.jsonnet", "kind": "connector", "connector": "src-04"}],
        "variables": [{"name": "KCPLAN_SECRET_SRC_03__CONNECTION_PASSWORD", "connector": "src-03",
                       "key": "connection.password"}],
        "secrets_file": "environments/dev/SECRETS.md",
    }
    expected = {"format_version": 1, "env": "dev", "dry_run": True, "imported": ["src-03", "src-04"],
                "already_managed": [], "not_declared": [], "state_serial": None, "generated": generated,
                "plan": None}
    dry = kcplan(root, "import", "-e", "dev", "--generate", "src-03", "src-04", "--dry-run", "--json")
    assert json.loads(ok(dry)) == expected
    assert files_under(root / "environments") == {"dev/kcplan.jsonnet": f"{{ connect_url: '{sandbox.url}' }}\n"}
    assert not (root / ".kcplan" / "dev.state.json").exists()  # the folder holds the lock file

    done = kcplan(root, "import", "-e", "dev", "--generate", "src-03", "src-04", "--json", env=VARIABLES)
    report = json.loads(ok(done))
    plan = report.pop("plan")
    assert report == {**{k: v for k, v in expected.items() if k != "plan"}, "dry_run": False, "state_serial": 1}
    both = ["src-03", "src-04"]
    assert (plan["env"], plan["has_changes"], plan["targets"], plan["unchanged"]) == ("dev", False, both, both)
    assert sorted(files_under(root / "environments")) == ["dev/SECRETS.md", "dev/connectors/src-03.jsonnet",
                                                          "dev/connectors/src-04.jsonnet", "dev/kcplan.jsonnet"]
    no_secret_in(dry.stdout, dry.stderr, done.stdout, done.stderr)

    again = json.loads(ok(kcplan(root, "import", "-e", "dev", "src-03", "--json", env=VARIABLES)))
    assert again == {"format_version": 1, "env": "dev", "dry_run": False, "imported": [],
                     "already_managed": ["src-03"], "not_declared": [], "state_serial": 1, "generated": None,
                     "plan": None}


def test_seed_style_repo_plans_empty(sandbox: SandboxInfo, tmp_path: Path) -> None:
    """connectors/<env>/*.jsonnet importing ../defaults.libsonnet, as the seed's PUT script repo has it."""
    root = tmp_path / "seed"
    (root / "connectors" / "prod").mkdir(parents=True)
    (root / "connectors" / "defaults.libsonnet").write_text(
        f"{{ 'connector.class': '{SRC}', 'tasks.max': '1', topic: 'seed-in' }}\n")
    names = ["seed-orders", "seed-payments"]
    for name in names:
        (root / "connectors" / "prod" / f"{name}.jsonnet").write_text(
            f"(import '../defaults.libsonnet') + {{ name: '{name}', file: '{tmp_path / name}.txt' }}\n")
    write_settings(root, f"{{ connect_url: '{sandbox.url}', connectors_dir: '../../connectors/prod' }}\n", env="prod")
    rendered = ok(kcplan(root, "render", "-e", "prod", "--json"))
    for name in names:  # the PUT script's step: send each rendered config
        config = {"connector.class": SRC, "tasks.max": "1", "topic": "seed-in", "file": f"{tmp_path / name}.txt"}
        assert f'"{name}"' in rendered
        requests.put(f"{sandbox.url}/connectors/{name}/config", json=config, timeout=60).raise_for_status()
    try:
        first = kcplan(root, "plan", "-e", "prod", "--detailed-exitcode")
        assert "  + create seed-orders\n" not in ok(first, 2)  # live but unmanaged: the plan adopts, not creates
        imported = kcplan(root, "import", "-e", "prod", "--all")
        assert "Imported 2 connectors into the state of 'prod' (serial 1): seed-orders, seed-payments" in ok(imported)
        assert ok(kcplan(root, "plan", "-e", "prod", "--detailed-exitcode")).endswith(
            "\nNo changes. The cluster matches the configuration.\n")
    finally:
        delete_all(sandbox.url)
