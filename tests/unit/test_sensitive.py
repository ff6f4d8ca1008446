"""Sensitive keys: schema, name patterns, settings list (exact or glob); placeholders are shown as written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kcplan.config.schemas import parse_schema
from kcplan.config.sensitive import MASK, SensitiveKeys, is_placeholder

S3 = "io.confluent.connect.s3.S3SinkConnector"


@pytest.mark.parametrize("key", [
    "database.password", "ssl.key.password", "ssl.keystore.key", "aws.secret.access.key", "client.secret",
    "api.token", "gcp.credentials.json", "sasl.jaas.config", "basic.auth.user.info", "apiKey", "api_key",
    "private.key", "key", "PASSWORD",
])
def test_name_patterns_mark_secrets(key: str) -> None:
    assert SensitiveKeys().is_sensitive(key)


@pytest.mark.parametrize("key", [
    "name", "connector.class", "key.converter", "topics", "s3.bucket.name", "file", "tasks.max",
    "key.converter.schemas.enable", "keystore.type", "transforms.unwrap.type",
])
def test_ordinary_keys_are_not_sensitive(key: str) -> None:
    assert not SensitiveKeys().is_sensitive(key)


def test_schema_keys_count_for_their_class_and_its_short_names() -> None:
    schema = parse_schema(json.dumps({"keys": {"s3.proxy.user": {"sensitive": True},
                                               "weird.field": {"type": "password"},
                                               "plain": {}}}), S3)
    keys = SensitiveKeys.from_schemas([schema])
    assert keys.is_sensitive("weird.field", S3)
    assert keys.is_sensitive("s3.proxy.user", "S3Sink")
    assert keys.is_sensitive("s3.proxy.user", "S3SinkConnector")
    assert not keys.is_sensitive("s3.proxy.user", "other.Class")
    assert not keys.is_sensitive("plain", S3)


def test_settings_list_exact_keys_and_globs() -> None:
    keys = SensitiveKeys(extra_keys=["my.plugin.pin", "*.pin", "vault.*"])
    assert keys.is_sensitive("my.plugin.pin", "any.Class")
    assert keys.is_sensitive("other.pin")
    assert keys.is_sensitive("vault.anything")
    assert not keys.is_sensitive("pin.code")


@pytest.mark.parametrize(("value", "expected"), [
    ("${file:/etc/secrets.properties:db.password}", True),
    ("${env:DB_PASSWORD}", True),
    ("${vault:secret/data/db:password}", True),
    (" ${env:X} ", True),
    ("prefix-${env:X}", False),
    ("${env:X}${env:Y}", False),
    ("hunter2", False),
    ("${notaprovider}", False),
])
def test_placeholders(value: str, expected: bool) -> None:
    assert is_placeholder(value) is expected


def test_mask_config_keeps_placeholders_and_hides_literals() -> None:
    config = {
        "connector.class": S3,
        "name": "orders",
        "aws.secret.access.key": "AKIA-literal-secret",
        "database.password": "${file:/s.properties:pw}",
        "s3.bucket.name": "bucket",
    }
    assert SensitiveKeys().mask_config(config) == {
        "connector.class": S3,
        "name": "orders",
        "aws.secret.access.key": MASK,
        "database.password": "${file:/s.properties:pw}",
        "s3.bucket.name": "bucket",
    }


def test_scrub_removes_secret_values_from_messages() -> None:
    config = {"connector.class": S3, "db.password": "hunter2", "ssl.key.password": "hunter2-long",
              "token": "${env:T}", "topic": "hunter"}
    keys = SensitiveKeys()
    assert keys.secret_values(config) == ["hunter2-long", "hunter2"]
    assert keys.scrub("bad value hunter2-long and hunter2 for topic hunter", config) == (
        f"bad value {MASK} and {MASK} for topic hunter")


def test_render_masks_sensitive_values(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from kcplan.commands.render import render_json, render_text
    from kcplan.config.models import ConnectorSpec

    spec = ConnectorSpec(name="n", config={"name": "n", "connector.class": S3, "db.password": "hunter2",
                                           "aws.secret.access.key": "${env:AWS_SECRET}"})
    keys = SensitiveKeys()
    assert "hunter2" not in render_text([spec], keys)
    assert "${env:AWS_SECRET}" in render_text([spec], keys)
    assert json.loads(render_json([spec], keys))[0]["config"]["db.password"] == MASK
    assert json.loads(render_json([spec], None))[0]["config"]["db.password"] == "hunter2"
