"""kcplan render / validate / schemas list through the CLI (offline), with golden output."""

from __future__ import annotations

from pathlib import Path

import pytest

from kcplan.cli import main
from tests.helpers import LOCAL_SETTINGS, REPO, SINK, write_project


def project(root: Path, connectors: dict[str, str], settings: str = LOCAL_SETTINGS) -> Path:
    return write_project(root, settings, connectors=connectors, schemas="all")


@pytest.mark.parametrize("env", ["local", "staging", "prod"])
def test_example_environments_validate_offline(env: str, monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    for name in ("KCPLAN_STAGING_CONNECT_PASSWORD", "KCPLAN_PROD_CONNECT_PASSWORD"):
        monkeypatch.delenv(name, raising=False)  # offline validation needs no secrets
    assert main(["-C", str(REPO), "validate", "-e", env]) == 0
    out, err = capsys.readouterr()
    count = {"local": 3, "staging": 5, "prod": 3}[env]
    files = {"local": 2, "staging": 4, "prod": 3}[env]
    assert out == f"{count} connectors valid (environment '{env}', {files} files, offline)\n"
    assert err == ""


def test_validate_reports_every_problem_and_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    project(tmp_path, {
        "a.jsonnet": "{name: 'a', 'tasks.max': 0}",
        "b.jsonnet": f"{{name: 'b', 'connector.class': '{SINK}', x: null}}",
        "c.jsonnet": "{name: 'c', 'connector.class': 'com.unknown.Thing'}",
    })
    assert main(["-C", str(tmp_path), "validate", "-e", "dev"]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err == (
        "Warning: no schema for connector class 'com.unknown.Thing' (used by c): checked with the base rules "
        "only; add schemas/com.unknown.Thing.json or run 'kcplan schemas pull -e dev com.unknown.Thing'\n"
        "Error: 3 problems in the connector configs:\n"
        "  environments/dev/connectors/a.jsonnet: connector 'a': key 'connector.class': missing\n"
        "  environments/dev/connectors/a.jsonnet: connector 'a': key 'tasks.max': must be a positive integer, "
        "got '0'\n"
        "  environments/dev/connectors/b.jsonnet: connector 'b': key 'x': null value: give a value or leave "
        "the key out\n"
        "Fix the problems listed above (file, connector, key), then run 'kcplan validate' again.\n"
    )


def test_validate_one_connector_singular(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    project(tmp_path, {"a.jsonnet": f"{{name: 'a', 'connector.class': '{SINK}'}}"})
    assert main(["-C", str(tmp_path), "validate", "-e", "dev"]) == 0
    assert capsys.readouterr().out == "1 connector valid (environment 'dev', 1 file, offline)\n"


def test_render_human_output_masks_secrets(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    project(tmp_path, {
        "a.jsonnet": f"""[
            {{name: 'b-sink', 'connector.class': '{SINK}', topics: ['x', 'y'], 'db.password': 'hunter2',
              'my.pin': '1234', 'aws.secret.access.key': '${{file:/s.properties:key}}'}},
            {{name: 'a-sink', config: {{'connector.class': '{SINK}', 'tasks.max': 2}}, state: 'PAUSED',
              lifecycle: {{prevent_destroy: true}}}},
        ]""",
    }, settings="{connect_url: 'http://x:1', sensitive_keys: ['*.pin'], auth: {bearer_token: std.extVar('NOPE_X')}}")
    assert main(["-C", str(tmp_path), "--no-color", "render", "-e", "dev"]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    assert out == (
        "# a-sink (environments/dev/connectors/a.jsonnet) [state: PAUSED, prevent_destroy]\n"
        f"connector.class = {SINK}\n"
        "name = a-sink\n"
        "tasks.max = 2\n"
        "\n"
        "# b-sink (environments/dev/connectors/a.jsonnet)\n"
        "aws.secret.access.key = ${file:/s.properties:key}\n"
        f"connector.class = {SINK}\n"
        "db.password = (sensitive value)\n"
        "my.pin = (sensitive value)\n"
        "name = b-sink\n"
        "topics = x,y\n"
    )


def test_render_json_selected_names_and_show_sensitive(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    project(tmp_path, {
        "a.jsonnet": f"{{name: 'a', 'connector.class': '{SINK}', 'db.password': 'hunter2'}}",
        "b.jsonnet": f"{{name: 'b', 'connector.class': '{SINK}'}}",
    })
    assert main(["-C", str(tmp_path), "render", "-e", "dev", "a", "--json", "--show-sensitive"]) == 0
    assert capsys.readouterr().out == (
        "[\n"
        "  {\n"
        '    "name": "a",\n'
        '    "config": {\n'
        f'      "connector.class": "{SINK}",\n'
        '      "db.password": "hunter2",\n'
        '      "name": "a"\n'
        "    },\n"
        '    "state": "RUNNING",\n'
        '    "lifecycle": {\n'
        '      "prevent_destroy": false\n'
        "    },\n"
        '    "source": "environments/dev/connectors/a.jsonnet"\n'
        "  }\n"
        "]\n"
    )


def test_render_unknown_name(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    project(tmp_path, {"a.jsonnet": f"{{name: 'a', 'connector.class': '{SINK}'}}"})
    assert main(["-C", str(tmp_path), "render", "-e", "dev", "nope"]) == 1
    assert capsys.readouterr().err == (
        "Error: no connector named 'nope' in environment 'dev'\nConnectors in dev: a.\n")


def test_ext_str_ext_str_file_and_tla_str(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    project(tmp_path, {"a.jsonnet": f"""function(suffix) {{
        name: 'a' + suffix, 'connector.class': '{SINK}', region: std.extVar('region'),
        cert: std.extVar('cert'), from_env: std.extVar('KCPLAN_TEST_FROM_ENV') }}"""})
    (tmp_path / "cert.pem").write_text("PEM\n")
    monkeypatch.setenv("KCPLAN_TEST_FROM_ENV", "env-value")
    assert main(["-C", str(tmp_path), "render", "-e", "dev", "--ext-str", "region=eu", "--ext-str",
                 "KCPLAN_TEST_FROM_ENV", "--ext-str-file", f"cert={tmp_path / 'cert.pem'}",
                 "--tla-str", "suffix=-1"]) == 0
    assert capsys.readouterr().out == (
        "# a-1 (environments/dev/connectors/a.jsonnet)\n"
        "cert = PEM\n\n"
        f"connector.class = {SINK}\n"
        "from_env = env-value\n"
        "name = a-1\n"
        "region = eu\n"
    )


@pytest.mark.parametrize(("option", "error"), [
    (["--ext-str", "=v"], "Error: --ext-str expects NAME=VALUE or NAME, got '=v'\n"),
    (["--ext-str", "KCPLAN_TEST_SURELY_UNSET"],
     "Error: --ext-str KCPLAN_TEST_SURELY_UNSET: no value given and no environment variable "
     "KCPLAN_TEST_SURELY_UNSET\nPass --ext-str KCPLAN_TEST_SURELY_UNSET=VALUE or set KCPLAN_TEST_SURELY_UNSET.\n"),
    (["--ext-str-file", "x"], "Error: --ext-str-file expects NAME=PATH, got 'x'\n"),
    (["--tla-str-file", "x=/nonexistent/file"],
     "Error: --tla-str-file x: cannot read /nonexistent/file: No such file or directory\n"),
])
def test_bad_render_options(tmp_path: Path, capsys: pytest.CaptureFixture[str], option: list[str],
                            error: str) -> None:
    project(tmp_path, {})
    assert main(["-C", str(tmp_path), "validate", "-e", "dev", *option]) == 1
    assert capsys.readouterr().err == error + ("Run 'kcplan --help' for usage.\n" if "Pass" not in error else "")


def test_jsonnet_error_through_the_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    project(tmp_path, {"a.jsonnet": "{name: 'a', 'connector.class': error 'no class yet'}"})
    assert main(["-C", str(tmp_path), "validate", "-e", "dev"]) == 1
    assert capsys.readouterr().err == (
        "Error: Jsonnet error in environments/dev/connectors/a.jsonnet:\n"
        "  environments/dev/connectors/a.jsonnet:1:32-52: no class yet\n"
        "      environments/dev/connectors/a.jsonnet:1:32-52  object <anonymous>\n"
        "      Field \"connector.class\"\n"
        "      During manifestation\n"
        "Fix the Jsonnet at the file and line shown, then run again.\n"
    )


def test_schemas_list(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["-C", str(REPO), "schemas", "list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("io.confluent.connect.s3.S3SinkConnector  (hand-written; ")
    assert lines[0].endswith("4 required; sensitive: aws.access.key.id, aws.secret.access.key, s3.proxy.password)")
    assert len(lines) == 3


def test_schemas_without_action(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["-C", str(tmp_path), "schemas"]) == 1
    assert capsys.readouterr().err.startswith("Error: say what to do: 'kcplan schemas pull -e ENV [CLASS...]'")
