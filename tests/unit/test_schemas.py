"""Per-class schemas: the file format, value checks, plugin definitions, and how validation applies them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kcplan.commands.validate import plugins_line
from kcplan.config.render import load_desired, render_environment
from kcplan.config.schemas import (
    KeySpec,
    SchemaSet,
    check_value,
    from_plugin_config,
    load_schemas,
    parse_schema,
    short_names,
    write_schema,
)
from kcplan.config.sensitive import MASK
from kcplan.connect.models import plugin_versions
from kcplan.errors import ConfigError, SpecError
from tests.helpers import REPO, write_project

CLS = "com.acme.connect.WidgetSinkConnector"
F = "environments/dev/connectors/x.jsonnet"
SCHEMA = {
    "connector.class": CLS,
    "keys": {
        "widget.url": {"type": "string", "required": True},
        "widget.batch": {"type": "int", "default": "10", "min": 1, "max": 500},
        "widget.ratio": {"type": "double", "min": 0, "max": 1},
        "widget.enabled": {"type": "boolean"},
        "widget.mode": {"allowed": ["fast", "safe"]},
        "widget.level": {"allowed": ["LOW", "HIGH"], "case_insensitive": True},
        "widget.formats": {"type": "list", "allowed": ["json", "avro"]},
        "widget.codec": {"type": "class"},
        "widget.key": {"type": "password", "required": True},
        "widget.pin": {"sensitive": True, "allowed": ["1234", "0000"]},
        "widget.small": {"type": "short"},
        "widget.long": {"type": "long"},
    },
}


def project(root: Path, connector: str, schema: dict[str, object] | None = SCHEMA) -> Path:
    write_project(root, connectors={"x.jsonnet": connector})
    if schema is not None:
        (root / "schemas").mkdir()
        (root / "schemas" / f"{schema['connector.class']}.json").write_text(json.dumps(schema))
    return root


def problems(root: Path, connector: str) -> list[str]:
    project(root, connector)
    with pytest.raises(SpecError) as info:
        load_desired(root, "dev")
    return info.value.problems


def test_valid_config_passes_and_defaults_are_not_added(tmp_path: Path) -> None:
    project(tmp_path, f"""{{ name: 'w', 'connector.class': '{CLS}', 'widget.url': 'http://w',
        'widget.key': 's3cr3t', 'widget.batch': 500, 'widget.ratio': 0.5, 'widget.enabled': 'TRUE',
        'widget.mode': 'safe', 'widget.level': 'high', 'widget.formats': ['json', 'avro'],
        'widget.codec': 'com.acme.Codec$Inner', 'widget.small': -32768, 'widget.long': '9223372036854775807',
        'not.in.schema': 'anything' }}""")
    desired = load_desired(tmp_path, "dev")
    assert "widget.batch" in desired.connectors["w"].config
    assert desired.connectors["w"].config.get("widget.default") is None
    assert desired.warnings == []
    assert desired.sensitive.is_sensitive("widget.key", CLS)
    assert desired.sensitive.is_sensitive("widget.pin", CLS)
    assert desired.sensitive.is_sensitive("widget.pin", "WidgetSink")  # Connect's short alias too
    assert not desired.sensitive.is_sensitive("widget.pin", "other.Class")


def test_every_schema_rule_with_its_exact_message(tmp_path: Path) -> None:
    assert problems(tmp_path, f"""{{ name: 'w', 'connector.class': '{CLS}',
        'widget.batch': 0, 'widget.ratio': 'half', 'widget.enabled': 'yes', 'widget.mode': 'FAST',
        'widget.level': 'medium', 'widget.formats': 'json,xml', 'widget.codec': 'not a class',
        'widget.small': 40000, 'widget.long': '12x', 'widget.pin': '9999' }}""") == [
        f"{F}: connector 'w': key 'widget.batch': must be at least 1, got '0'",
        f"{F}: connector 'w': key 'widget.codec': must be a Java class name, got 'not a class'",
        f"{F}: connector 'w': key 'widget.enabled': must be true or false, got 'yes'",
        f"{F}: connector 'w': key 'widget.formats': element 'xml' of 'json,xml' must be one of 'json', 'avro'",
        f"{F}: connector 'w': key 'widget.key': missing (required by the schema of this class)",
        f"{F}: connector 'w': key 'widget.level': must be one of 'LOW', 'HIGH', got 'medium'",
        f"{F}: connector 'w': key 'widget.long': must be an integer (long), got '12x'",
        f"{F}: connector 'w': key 'widget.mode': must be one of 'fast', 'safe', got 'FAST'",
        f"{F}: connector 'w': key 'widget.pin': must be one of '1234', '0000', got {MASK}",
        f"{F}: connector 'w': key 'widget.ratio': must be a number (double), got 'half'",
        f"{F}: connector 'w': key 'widget.small': must be an integer (short) between -32768 and 32767, "
        "got '40000'",
        f"{F}: connector 'w': key 'widget.url': missing (required by the schema of this class)",
    ]


def test_placeholders_satisfy_required_keys_and_skip_type_checks(tmp_path: Path) -> None:
    project(tmp_path, """{ name: 'w', 'connector.class': 'WidgetSink', 'widget.url': '${env:URL}',
        'widget.key': '${file:/s:key}', 'widget.batch': '${env:BATCH}' }""")
    assert sorted(load_desired(tmp_path, "dev").connectors) == ["w"]


def test_unknown_class_validates_with_base_rules_and_warns(tmp_path: Path) -> None:
    project(tmp_path, "[" + ", ".join(
        f"{{ name: 'c{i}', 'connector.class': 'com.other.Thing' }}" for i in range(7)) + "]", schema=None)
    desired = load_desired(tmp_path, "dev")
    assert len(desired.connectors) == 7
    assert desired.warnings == [
        "no schema for connector class 'com.other.Thing' (used by c0, c1, c2, c3, c4 and 2 more): "
        "checked with the base rules only; add schemas/com.other.Thing.json or run "
        "'kcplan schemas pull -e dev com.other.Thing'"]


def test_unknown_class_warning_stays_on_one_line_with_control_characters(tmp_path: Path) -> None:
    project(tmp_path, "{ name: 'c1', 'connector.class': 'x\\ry' }", schema=None)
    assert render_environment(tmp_path, "dev").warnings == [
        "no schema for connector class 'x\\ry' (used by c1): checked with the base rules only"]


@pytest.mark.parametrize(("spec", "value", "messages"), [
    ({"type": "int"}, " 42 ", []),
    ({"type": "int"}, "2147483648", ["must be an integer (int) between -2147483648 and 2147483647, got {value}"]),
    ({"type": "long"}, "-9223372036854775809",
     ["must be an integer (long) between -9223372036854775808 and 9223372036854775807, got {value}"]),
    ({"type": "double"}, "1e3", []),
    ({"type": "double"}, "NaN", []),
    ({"type": "double", "max": 1}, "1.5", ["must be at most 1, got {value}"]),
    ({"type": "double", "min": 0.5}, "0.25", ["must be at least 0.5, got {value}"]),
    ({"type": "boolean"}, "False", []),
    ({"type": "boolean"}, "1", ["must be true or false, got {value}"]),
    ({"type": "class"}, "a.b.C", []),
    ({"type": "class"}, "", ["must be a Java class name, got {value}"]),
    ({"type": "list"}, "a, b ,c", []),
    ({"type": "list", "allowed": ["a", "b"]}, "a, b", []),
    ({"type": "string"}, "", []),
    ({"type": "password"}, "anything", []),
])
def test_check_value(spec: dict[str, object], value: str, messages: list[str]) -> None:
    assert check_value(KeySpec.model_validate(spec), value) == messages


# --- schema files ---------------------------------------------------------------------------------

def test_broken_schema_files_are_all_reported(tmp_path: Path) -> None:
    folder = tmp_path / "schemas"
    folder.mkdir()
    (folder / "a.A.json").write_text("{not json")
    (folder / "b.B.json").write_text(json.dumps({"keys": {"x": {"type": "integer", "requird": True}}}))
    (folder / "c.C.json").write_text(json.dumps({"connector.class": "c.Other"}))
    (folder / "d.D.json").write_text(json.dumps({"keys": {"x": {"required": True, "default": "1"},
                                                          "y": {"min": 1}}}))
    (folder / "e.E.json").write_text("[]")
    (folder / "README.md").write_text("not a schema")
    with pytest.raises(ConfigError) as info:
        load_schemas(tmp_path)
    assert info.value.message == (
        "invalid schema file(s):\n"
        "  schemas/a.A.json: not valid JSON: Expecting property name enclosed in double quotes at line 1 column 2\n"
        "  schemas/b.B.json: keys.x.type: Input should be 'string', 'int', 'short', 'long', 'double', "
        "'boolean', 'list', 'class' or 'password'; keys.x.requird: Extra inputs are not permitted\n"
        "  schemas/c.C.json: connector.class 'c.Other' does not match the file name (expected 'c.C')\n"
        "  schemas/d.D.json: keys.x: a key with a default cannot be required; "
        "keys.y: min/max apply only to short, int, long and double keys\n"
        "  schemas/e.E.json: must be a JSON object"
    )
    assert info.value.hint == "Fix the schema file(s) named above; schemas/README.md describes the format."


def test_lookup_by_class_alias_and_short_names() -> None:
    a = parse_schema(json.dumps({"aliases": ["Widget"]}), "com.acme.WidgetSinkConnector")
    b = parse_schema("{}", "org.other.WidgetSinkConnector")
    schemas = SchemaSet([a, b])
    assert schemas.get("com.acme.WidgetSinkConnector") is a
    assert schemas.get("org.other.WidgetSinkConnector") is b
    assert schemas.get("Widget") is a
    assert schemas.get("WidgetSink") is a  # ambiguous short name: the first file wins
    assert schemas.get("nope") is None
    assert short_names("org.apache.kafka.connect.file.FileStreamSinkConnector") == [
        "FileStreamSinkConnector", "FileStreamSink"]
    assert short_names("Connector") == []


def test_from_plugin_config_and_round_trip(tmp_path: Path) -> None:
    definitions = [  # literal excerpt of GET /connector-plugins/CLASS/config (Connect 3.9)
        {"name": "topic", "type": "STRING", "required": True, "default_value": None,
         "documentation": "The topic to publish data to"},
        {"name": "batch.size", "type": "INT", "required": False, "default_value": "2000", "documentation": ""},
        {"name": "db.password", "type": "PASSWORD", "required": False, "default_value": "[hidden]"},
        {"name": "transforms", "type": "LIST", "required": False, "default_value": ""},
        {"name": "odd", "type": "SOMETHING_NEW", "required": True, "default_value": "x"},
        {"type": "STRING"},
    ]
    schema = from_plugin_config("com.acme.Src", definitions, "pulled from a Connect 3.9.0 worker")
    assert schema.origin == "pulled"
    assert {k: v.model_dump(exclude_defaults=True) for k, v in schema.keys.items()} == {
        "topic": {"required": True, "doc": "The topic to publish data to"},
        "batch.size": {"type": "int", "default": "2000"},
        "db.password": {"type": "password"},
        "transforms": {"type": "list", "default": ""},
        "odd": {"default": "x"},
    }
    assert schema.sensitive_keys() == {"db.password"}
    path = write_schema(tmp_path, schema)
    assert path == tmp_path / "schemas" / "com.acme.Src.json"
    assert json.loads(path.read_text())["keys"]["batch.size"] == {"type": "int", "default": "2000"}
    assert load_schemas(tmp_path).get("com.acme.Src") == schema


def test_shipped_schemas_load_and_mark_secrets() -> None:
    schemas = load_schemas(REPO)
    classes = sorted(s.connector_class for s in schemas)
    assert classes == [
        "io.confluent.connect.s3.S3SinkConnector",
        "org.apache.kafka.connect.file.FileStreamSinkConnector",
        "org.apache.kafka.connect.file.FileStreamSourceConnector",
    ]
    s3 = schemas.get("io.confluent.connect.s3.S3SinkConnector")
    assert s3 is not None
    assert {"aws.secret.access.key", "s3.proxy.password"} <= s3.sensitive_keys()
    assert [k for k, v in sorted(s3.keys.items()) if v.required] == [
        "flush.size", "format.class", "s3.bucket.name", "storage.class"]
    source = schemas.get("FileStreamSource")
    assert source is not None and source.keys["topic"].required


def test_plugin_versions_keep_every_installed_version_of_a_class() -> None:
    """Connect 4.1+ (KIP-891) lists each installed version of a class as its own entry."""
    listed = [{"class": "com.acme.Src", "type": "source", "version": "1.0"},
              {"class": "com.acme.Src", "type": "source", "version": "2.1"},
              {"class": "com.acme.Src", "type": "source", "version": "2.1"},
              {"class": "com.acme.Sink", "type": "sink"},
              {"type": "sink", "version": "9"}]
    versions = plugin_versions(listed)
    assert versions == {"com.acme.Src": ["1.0", "2.1"], "com.acme.Sink": ["unknown"]}
    assert plugins_line({"com.acme.Sink", "com.acme.Src", "com.other.Missing"}, versions) == (
        "plugins: com.acme.Sink unknown, com.acme.Src 1.0 and 2.1")
    assert plugins_line({"com.other.Missing"}, versions) == ""
