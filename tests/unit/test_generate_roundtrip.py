"""Generated files render back to the live connectors: written to disk and evaluated with gojsonnet.

gojsonnet's Python module is ``_gojsonnet`` (the package this project depends on); secrets come in as
ext vars (``generated.secret_values``), exactly as ``kcplan plan`` would get them from the environment.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import _gojsonnet
import pytest

from kcplan.config.render import load_desired
from kcplan.config.sensitive import SensitiveKeys
from kcplan.generate.build import Generated, LiveInput, generate
from tests.helpers import write_settings

SINK = "org.apache.kafka.connect.file.FileStreamSinkConnector"
SOURCE = "org.apache.kafka.connect.file.FileStreamSourceConnector"
JDBC = "com.example.jdbc.JdbcSinkConnector"
STRING = "org.apache.kafka.connect.storage.StringConverter"
LONG = ".hidden café ✓ " + "x" * 100  # leading dot, space, unicode, over 100 characters
JAAS = 'org.apache.kafka.common.security.plain.PlainLoginModule required username="u" password="p@ss\\w";'

CONNECTORS = [
    LiveInput("orders", {
        "name": "orders", "connector.class": SINK, "topics": "orders", "file": "/tmp/o.txt", "tasks.max": "1",
        "key.converter": STRING, "connection.password": "hunter2",
    }),
    LiveInput("Orders", {
        "name": "Orders", "connector.class": SINK, "topics": "Orders", "file": "/tmp/o.txt", "tasks.max": "1",
        "key.converter": STRING, "connection.password": "${file:/etc/x.properties:pw}",
    }, "STOPPED"),
    LiveInput("my sink/eu", {
        "name": "my sink/eu", "connector.class": SINK, "topics": "eu", "file": "/tmp/o.txt", "tasks.max": "2",
        "key.converter": STRING, "connection.password": 's3cr3t-"quoted"\\',
    }, "PAUSED"),
    LiveInput("a-b", {
        "name": "a-b", "connector.class": SOURCE, "topic": "t", "file": "/tmp/in.txt", "api.token": "tok-ab",
        "batch.size": "",
    }),
    LiveInput("a_b", {
        "name": "a_b", "connector.class": SOURCE, "topic": "t", "file": "/tmp/in2.txt", "api.token": "tok-a_b",
        "batch.size": "",
    }, "PAUSED"),
    LiveInput(LONG, {
        "name": LONG, "connector.class": JDBC, "if": "then", "local": "self", "empty": "",
        "transforms.route.regex": "(.*)\\.(.*)", "message.template": 'He said "hi"\nnew\tline ☃ \x00end',
        "sasl.jaas.config": JAAS,
    }),
]

SECRET_VALUES = ["hunter2", 's3cr3t-"quoted"\\', "tok-ab", "tok-a_b", JAAS]

# What each connector file evaluates to: RUNNING ones are the live config (with 'name'); PAUSED and
# STOPPED ones the wrapped form, whose config has no 'name'.
EXPECTED: dict[str, dict[str, Any]] = {
    "orders": {
        "name": "orders", "connector.class": SINK, "topics": "orders", "file": "/tmp/o.txt", "tasks.max": "1",
        "key.converter": STRING, "connection.password": "hunter2",
    },
    "Orders": {"name": "Orders", "state": "STOPPED", "config": {
        "connector.class": SINK, "topics": "Orders", "file": "/tmp/o.txt", "tasks.max": "1",
        "key.converter": STRING, "connection.password": "${file:/etc/x.properties:pw}",
    }},
    "my sink/eu": {"name": "my sink/eu", "state": "PAUSED", "config": {
        "connector.class": SINK, "topics": "eu", "file": "/tmp/o.txt", "tasks.max": "2",
        "key.converter": STRING, "connection.password": 's3cr3t-"quoted"\\',
    }},
    "a-b": {
        "name": "a-b", "connector.class": SOURCE, "topic": "t", "file": "/tmp/in.txt", "api.token": "tok-ab",
        "batch.size": "",
    },
    "a_b": {"name": "a_b", "state": "PAUSED", "config": {
        "connector.class": SOURCE, "topic": "t", "file": "/tmp/in2.txt", "api.token": "tok-a_b", "batch.size": "",
    }},
    LONG: {
        "name": LONG, "connector.class": JDBC, "if": "then", "local": "self", "empty": "",
        "transforms.route.regex": "(.*)\\.(.*)", "message.template": 'He said "hi"\nnew\tline ☃ \x00end',
        "sasl.jaas.config": JAAS,
    },
}

EXPECTED_SECRET_VALUES = {
    "KCPLAN_SECRET_ORDERS__CONNECTION_PASSWORD": "hunter2",
    "KCPLAN_SECRET_MY_SINK_EU__CONNECTION_PASSWORD": 's3cr3t-"quoted"\\',
    "KCPLAN_SECRET_A_B__API_TOKEN_4C6F442A": "tok-ab",
    "KCPLAN_SECRET_A_B__API_TOKEN_BDF34C1B": "tok-a_b",
    "KCPLAN_SECRET_HIDDEN_CAF_" + "X" * 100 + "__SASL_JAAS_CONFIG": JAAS,
}

CONNECTORS_DIR = "environments/dev/connectors"


def generated_on_disk(root: Path, defaults: bool, connectors: list[LiveInput] = CONNECTORS) -> Generated:
    generated = generate(connectors, connectors_dir=CONNECTORS_DIR, is_secret=SensitiveKeys().hides,
                         defaults=defaults)
    for rel, text in generated.files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return generated


def evaluated(root: Path, generated: Generated) -> dict[str, Any]:
    return {name: json.loads(_gojsonnet.evaluate_file(str(root / rel), ext_vars=generated.secret_values))
            for name, rel in generated.file_of.items()}


@pytest.mark.parametrize("defaults", [False, True])
def test_every_file_evaluates_to_its_live_connector(tmp_path: Path, defaults: bool) -> None:
    generated = generated_on_disk(tmp_path, defaults)
    assert evaluated(tmp_path, generated) == EXPECTED


@pytest.mark.parametrize("defaults", [False, True])
def test_secret_values_are_handed_back_and_never_written(tmp_path: Path, defaults: bool) -> None:
    generated = generated_on_disk(tmp_path, defaults)
    assert generated.secret_values == EXPECTED_SECRET_VALUES
    texts = [path.read_text(encoding="utf-8") for path in tmp_path.rglob("*") if path.is_file()]
    assert len(texts) == len(generated.files)
    escaped = ['"s3cr3t-\\"quoted\\"\\\\"', "p@ss\\\\w"]  # the same values as Jsonnet/JSON literals
    for text in texts:
        for secret in SECRET_VALUES + escaped:
            assert secret not in text
    # the placeholder is a reference, not a secret: kept verbatim in the file
    assert '"connection.password": "${file:/etc/x.properties:pw}",' in generated.files[
        generated.file_of["Orders"]]


def test_file_names_and_libraries(tmp_path: Path) -> None:
    plain = generated_on_disk(tmp_path / "plain", defaults=False)
    shared = generated_on_disk(tmp_path / "shared", defaults=True)
    file_of = {
        "orders": "environments/dev/connectors/orders-1c168adb.jsonnet",
        "Orders": "environments/dev/connectors/Orders-b7e8acdd.jsonnet",
        "my sink/eu": "environments/dev/connectors/my-sink-eu-eb26b405.jsonnet",
        "a-b": "environments/dev/connectors/a-b.jsonnet",
        "a_b": "environments/dev/connectors/a_b.jsonnet",
        LONG: "environments/dev/connectors/hidden-caf-" + "x" * 49 + "-25b3da6d.jsonnet",
    }
    assert plain.file_of == file_of
    assert shared.file_of == file_of
    assert plain.libraries == []
    assert shared.libraries == ["environments/dev/file-stream-sink.libsonnet",
                                "environments/dev/file-stream-source.libsonnet"]
    assert shared.files["environments/dev/file-stream-sink.libsonnet"] == (
        "// Keys all generated " + SINK + " connectors share (kcplan import --generate --defaults).\n"
        "{\n"
        '  "connector.class": "' + SINK + '",\n'
        '  file: "/tmp/o.txt",\n'
        '  "key.converter": "' + STRING + '",\n'
        "}\n"
    )
    assert shared.files["environments/dev/file-stream-source.libsonnet"] == (
        "// Keys all generated " + SOURCE + " connectors share (kcplan import --generate --defaults).\n"
        "{\n"
        '  "batch.size": "",\n'
        '  "connector.class": "' + SOURCE + '",\n'
        '  topic: "t",\n'
        "}\n"
    )


@pytest.mark.parametrize("defaults", [False, True])
def test_kcplan_loads_the_generated_environment_as_the_live_connectors(tmp_path: Path, defaults: bool) -> None:
    # kcplan itself refuses a name with '/' (the REST API cannot address it), so that one is left out here
    write_settings(tmp_path, "{connect_url: 'http://127.0.0.1:8083'}", "dev")
    generated = generated_on_disk(tmp_path, defaults, [c for c in CONNECTORS if c.name != "my sink/eu"])
    desired = load_desired(tmp_path, "dev", ext_vars=generated.secret_values)
    assert {name: (spec.state, dict(spec.config)) for name, spec in desired.connectors.items()} == {
        "orders": ("RUNNING", EXPECTED["orders"]),
        "Orders": ("STOPPED", {**EXPECTED["Orders"]["config"], "name": "Orders"}),
        "a-b": ("RUNNING", EXPECTED["a-b"]),
        "a_b": ("PAUSED", {**EXPECTED["a_b"]["config"], "name": "a_b"}),
        LONG: ("RUNNING", EXPECTED[LONG]),
    }


@pytest.mark.parametrize("key", ["state", "offsets"])
def test_config_keys_named_like_wrapper_keys_load_back(tmp_path: Path, key: str) -> None:
    write_settings(tmp_path, "{connect_url: 'http://127.0.0.1:8083'}", "dev")
    live = {"name": "x", "connector.class": JDBC, key: "on"}
    generated = generated_on_disk(tmp_path, False, [LiveInput("x", live)])
    desired = load_desired(tmp_path, "dev", ext_vars=generated.secret_values)
    assert {name: dict(spec.config) for name, spec in desired.connectors.items()} == {
        "x": {"name": "x", "connector.class": JDBC, key: "on"}}
