"""kcplan validate --online and kcplan schemas pull against the REAL Kafka Connect worker."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from kcplan.cli import main
from tests.helpers import REPO, SRC, worker_version


@pytest.fixture
def local_project(tmp_path: Path, connect_url: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the example environments and schemas, pointed at the real worker."""
    shutil.copytree(REPO / "environments", tmp_path / "environments")
    shutil.copytree(REPO / "schemas", tmp_path / "schemas")
    monkeypatch.setenv("KCPLAN_CONNECT_URL", connect_url)
    return tmp_path


def test_example_local_environment_is_valid_online(local_project: Path, connect_url: str,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["-C", str(local_project), "validate", "-e", "local", "--online"]) == 0
    version = worker_version(connect_url)
    assert capsys.readouterr().out == (
        f"3 connectors valid (environment 'local', 2 files, offline and on {connect_url})\n"
        f"plugins: org.apache.kafka.connect.file.FileStreamSinkConnector {version}, "
        f"{SRC} {version}\n")


def test_online_catches_what_only_the_server_rejects(local_project: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    (local_project / "environments/local/connectors/bad.jsonnet").write_text("""
        local fs = import 'lib/filestream.libsonnet';
        [
          fs.source('bad-converter', file='/tmp/x', topic='t')
            + { 'value.converter': 'org.example.NoSuchConverter', 'db.password': 'NoSuchConverter-pw' },
          fs.source('empty-topic', file='/tmp/x', topic=''),
        ]
    """)
    # offline these pass: the schemas cannot know which classes the worker has, or its validators
    assert main(["-C", str(local_project), "validate", "-e", "local"]) == 0
    capsys.readouterr()
    assert main(["-C", str(local_project), "validate", "-e", "local", "--online"]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err == (
        "Error: 2 problems in the connector configs:\n"
        "  environments/local/connectors/bad.jsonnet: connector 'bad-converter': key 'value.converter': "
        "Invalid value org.example.NoSuchConverter for configuration value.converter: "
        "Class org.example.NoSuchConverter could not be found.\n"
        "  environments/local/connectors/bad.jsonnet: connector 'empty-topic': key 'topic': "
        "Invalid value  for configuration topic: String must be non-empty\n"
        "Fix the problems listed above (file, connector, key), then run 'kcplan validate' again.\n"
    )
    assert "NoSuchConverter-pw" not in err


def test_online_reports_a_class_the_cluster_does_not_have(local_project: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    (local_project / "environments/local/connectors/custom.jsonnet").write_text(
        "{ name: 'custom', 'connector.class': 'com.example.NotInstalledConnector', 'tasks.max': 1 }")
    assert main(["-C", str(local_project), "validate", "-e", "local", "--online"]) == 1
    err = capsys.readouterr().err
    assert err.startswith(
        "Warning: no schema for connector class 'com.example.NotInstalledConnector' (used by custom)")
    assert ("Error: 1 problem in the connector configs:\n"
            "  environments/local/connectors/custom.jsonnet: connector 'custom': the cluster could not "
            "validate it: ") in err
    assert "com.example.NotInstalledConnector" in err.split("could not validate it: ", 1)[1]


def test_schemas_pull_writes_the_plugin_definitions(local_project: Path, kafka_version: str, connect_url: str,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    # Connect 4.1+ (KIP-891) adds four keys: connector.plugin.version and {key,value,header}.converter.plugin.version
    keys = 23 if kafka_version.startswith("3.") or kafka_version == "stand-in" else 27
    pulled = f"({keys} keys; none sensitive; plugin version {worker_version(connect_url)})"
    shutil.rmtree(local_project / "schemas")
    # the alias resolves to the installed class; a second pull replaces a pulled file
    assert main(["-C", str(local_project), "schemas", "pull", "-e", "local", "FileStreamSource"]) == 0
    assert main(["-C", str(local_project), "schemas", "pull", "-e", "local", "FileStreamSource"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out == [f"wrote schemas/{SRC}.json {pulled}"] * 2
    data = json.loads((local_project / "schemas" / f"{SRC}.json").read_text())
    assert data["origin"] == "pulled"
    assert data["description"].endswith(f"worker (plugin version {worker_version(connect_url)})")
    assert data["keys"]["topic"]["required"] is True
    assert data["keys"]["batch.size"] == {"type": "int", "default": "2000",
                                          "doc": data["keys"]["batch.size"]["doc"]}
    # without a class: the classes the environment uses; hand-written files are kept
    (local_project / "schemas" / "org.apache.kafka.connect.file.FileStreamSinkConnector.json").write_text(
        '{"description": "mine"}')
    assert main(["-C", str(local_project), "schemas", "pull", "-e", "local"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "kept schemas/org.apache.kafka.connect.file.FileStreamSinkConnector.json: it is hand-written "
        "(--force replaces it)",
        f"wrote schemas/{SRC}.json {pulled}",
    ]
    # and offline validation now uses them
    assert main(["-C", str(local_project), "validate", "-e", "local"]) == 0


def test_schemas_pull_unknown_plugin(local_project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["-C", str(local_project), "schemas", "pull", "-e", "local", "com.example.Nope"]) == 1
    assert capsys.readouterr().err == (
        "Error: the cluster has no connector plugin 'com.example.Nope'\n"
        "See the installed ones with: curl <connect-url>/connector-plugins\n")
