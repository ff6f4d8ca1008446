"""Jsonnet source text of generated files: literals, field names, key order (kcplan.generate.jsonnet_text)."""

from __future__ import annotations

import pytest

from kcplan.generate.jsonnet_text import Secret, field_name, object_text, ordered, string, value_text


@pytest.mark.parametrize(("text", "literal"), [
    ("plain", '"plain"'),
    ("", '""'),
    ('say "hi"', '"say \\"hi\\""'),
    ("C:\\temp\\x", '"C:\\\\temp\\\\x"'),
    ("line1\nline2\ttab\r", '"line1\\nline2\\ttab\\r"'),
    ("café ✓ 日本", '"café ✓ 日本"'),
    ("nul\x00bell\x07", '"nul\\u0000bell\\u0007"'),
    ("it's", '"it\'s"'),
    ("${file:/etc/x.properties:pw}", '"${file:/etc/x.properties:pw}"'),
    ("|||", '"|||"'),
])
def test_string(text: str, literal: str) -> None:
    assert string(text) == literal


@pytest.mark.parametrize(("key", "shown"), [
    ("topics", "topics"),
    ("_private1", "_private1"),
    ("tasks.max", '"tasks.max"'),
    ("connector.class", '"connector.class"'),
    ("a-b", '"a-b"'),
    ("1st", '"1st"'),
    ("", '""'),
    ("with space", '"with space"'),
    ("ключ", '"ключ"'),
    ("$x", '"$x"'),
    ('q"uote', '"q\\"uote"'),
    ("std", "std"),
])
def test_field_name(key: str, shown: str) -> None:
    assert field_name(key) == shown


@pytest.mark.parametrize("keyword", [
    "assert", "else", "error", "false", "for", "function", "if", "import", "importstr", "importbin", "in",
    "local", "null", "self", "super", "tailstrict", "then", "true",
])
def test_jsonnet_keywords_are_quoted_as_field_names(keyword: str) -> None:
    assert field_name(keyword) == f'"{keyword}"'


def test_keyword_prefixes_are_plain_identifiers() -> None:
    assert field_name("iff") == "iff"
    assert field_name("If") == "If"
    assert field_name("local_dir") == "local_dir"


def test_value_text() -> None:
    assert value_text("a\"b") == '"a\\"b"'
    assert value_text("") == '""'
    assert value_text(Secret("KCPLAN_SECRET_X__Y")) == 'std.extVar("KCPLAN_SECRET_X__Y")'


def test_ordered_puts_name_first_then_sorted_keys() -> None:
    secret = Secret("V")
    assert ordered({"topics": "t", "name": "n", "a.b": "1", "Z": "2", "db.password": secret}) == [
        ("name", "n"), ("Z", "2"), ("a.b", "1"), ("db.password", secret), ("topics", "t")]


def test_ordered_without_name() -> None:
    assert ordered({"b": "2", "a": "1"}) == [("a", "1"), ("b", "2")]
    assert ordered({}) == []


def test_object_text_at_depth_0() -> None:
    assert object_text({"topics": "t", "name": "n", "if": "x", "tasks.max": "1", "db.password": Secret("V")}) == (
        "{\n"
        '  name: "n",\n'
        '  "db.password": std.extVar("V"),\n'
        '  "if": "x",\n'
        '  "tasks.max": "1",\n'
        '  topics: "t",\n'
        "}"
    )


def test_object_text_at_depth_1_indents_fields_and_closing_brace() -> None:
    assert object_text({"b": "", "a": "x\ny"}, depth=1) == (
        "{\n"
        '    a: "x\\ny",\n'
        '    b: "",\n'
        "  }"
    )


def test_empty_object_text() -> None:
    assert object_text({}) == "{}"
    assert object_text({}, depth=2) == "{}"
