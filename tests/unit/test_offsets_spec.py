"""The ``offsets`` key of a connector file: both shapes, every refusal with its exact (key, message), and the
operation as rendering carries it into the ConnectorSpec."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from kcplan.config.models import ConnectorSpec, OffsetsOp
from kcplan.config.offsets_spec import MAX_TOKEN, parse_offsets
from kcplan.config.render import load_desired
from kcplan.errors import SpecError
from tests.helpers import SINK, write_project

F = "environments/dev/connectors/x.jsonnet"
SHAPES = "{reset: 'TOKEN'} or {id: 'TOKEN', set: [{partition: {...}, offset: {...}}]}"
TOKEN_MSG = "must be a non-empty string (the token that makes the operation run once), got "
LONG_MSG = f"must be printable and at most {MAX_TOKEN} characters"
ENTRY_MSG = "must be an object with exactly the keys partition and offset"
P0 = {"kafka_topic": "orders", "kafka_partition": 0}
P1 = {"kafka_topic": "orders", "kafka_partition": 1}


def specs(root: Path, text: str) -> dict[str, ConnectorSpec]:
    return load_desired(write_project(root, connectors={"x.jsonnet": text}), "dev").connectors


def problems(root: Path, text: str) -> list[str]:
    write_project(root, connectors={"x.jsonnet": text})
    with pytest.raises(SpecError) as info:
        load_desired(root, "dev")
    return info.value.problems


# -- parse_offsets: the two shapes --------------------------------------------------------------------

def test_no_offsets_key_is_no_operation_and_no_problem() -> None:
    assert parse_offsets(None) == (None, [])


def test_reset_shape() -> None:
    assert parse_offsets({"reset": "2026-12-04-replay"}) == (
        OffsetsOp(token="2026-12-04-replay", kind="reset", entries=()), [])


def test_a_token_of_exactly_the_maximum_length_is_taken() -> None:
    assert parse_offsets({"reset": "t" * MAX_TOKEN}) == (OffsetsOp(token="t" * MAX_TOKEN, kind="reset"), [])


def test_set_shape_keeps_its_entries_in_order_and_a_null_offset_resets_one_partition() -> None:
    op, found = parse_offsets({"id": "skip-bad-row", "set": [
        {"partition": P0, "offset": {"kafka_offset": 42}},
        {"offset": None, "partition": P1},
    ]})
    assert found == []
    assert op == OffsetsOp(token="skip-bad-row", kind="set", entries=(
        {"partition": P0, "offset": {"kafka_offset": 42}},
        {"partition": P1, "offset": None},
    ))
    assert op is not None and op.entries[1]["offset"] is None


# -- parse_offsets: every refusal ---------------------------------------------------------------------

@pytest.mark.parametrize(("value", "expected"), [
    (3, [("offsets", f"must be an object, {SHAPES}; got a number")]),
    ("reset", [("offsets", f"must be an object, {SHAPES}; got a string")]),
    (True, [("offsets", f"must be an object, {SHAPES}; got a boolean")]),
    ([{"reset": "x"}], [("offsets", f"must be an object, {SHAPES}; got an array")]),
    ({}, [("offsets", f"must be {SHAPES}; got the keys (none)")]),
    ({"reset": "x", "set": []}, [("offsets", f"must be {SHAPES}; got the keys reset, set")]),
    ({"reset": "x", "id": "y", "set": []}, [("offsets", f"must be {SHAPES}; got the keys id, reset, set")]),
    ({"id": "x"}, [("offsets", f"must be {SHAPES}; got the keys id")]),
    ({"set": [{"partition": P0, "offset": None}]}, [("offsets", f"must be {SHAPES}; got the keys set")]),
    ({"reset": "x", "when": "now"}, [("offsets", f"must be {SHAPES}; got the keys reset, when")]),
], ids=["number", "string", "boolean", "array", "empty-object", "reset-and-set", "all-three", "id-only",
        "set-only", "unknown-key"])
def test_wrong_shapes_are_refused(value: Any, expected: list[tuple[str, str]]) -> None:
    assert parse_offsets(value) == (None, expected)


@pytest.mark.parametrize(("token", "message"), [
    ("", TOKEN_MSG + "an empty string"),
    ("   ", TOKEN_MSG + "a blank string"),
    (7, TOKEN_MSG + "a number"),
    (None, TOKEN_MSG + "null"),
    (["a"], TOKEN_MSG + "an array"),
    ({"t": "a"}, TOKEN_MSG + "an object"),
    (False, TOKEN_MSG + "a boolean"),
    ("t" * (MAX_TOKEN + 1), LONG_MSG),
    ("tab\there", LONG_MSG),
    ("new\nline", LONG_MSG),
    ("bell\x07", LONG_MSG),
], ids=["empty", "blank", "number", "null", "array", "object", "boolean", "too-long", "tab", "newline", "control"])
def test_bad_tokens_are_refused_in_both_shapes(token: Any, message: str) -> None:
    assert parse_offsets({"reset": token}) == (None, [("offsets.reset", message)])
    assert parse_offsets({"id": token, "set": [{"partition": P0, "offset": None}]}) == (
        None, [("offsets.id", message)])


@pytest.mark.parametrize(("value", "what"), [
    ([], "an empty array"), ({"partition": P0, "offset": None}, "an object"), ("p0", "a string"), (None, "null"),
    (1, "a number"),
], ids=["empty-list", "object", "string", "null", "number"])
def test_set_must_be_a_non_empty_list(value: Any, what: str) -> None:
    assert parse_offsets({"id": "t", "set": value}) == (
        None, [("offsets.set", f"must be a non-empty array of {{partition, offset}}, got {what}")])


def test_every_bad_entry_is_named_by_its_index_and_the_good_ones_are_not() -> None:
    value = {"id": "t", "set": [
        {"partition": P0, "offset": {"kafka_offset": 1}},  # fine
        {"partition": P0},                                   # offset missing
        {"offset": None},                                    # partition missing
        {"partition": P0, "offset": None, "extra": 1},       # unknown key
        "p0",                                                # not an object
        {"partition": ["orders", 0], "offset": None},        # partition not an object
        {"partition": {}, "offset": None},                   # partition empty
        {"partition": None, "offset": None},                 # partition null
        {"partition": P1, "offset": 42},                     # offset a number
        {"partition": P1, "offset": [42]},                   # offset an array
        {"partition": P1, "offset": "42"},                   # offset a string
    ]}
    assert parse_offsets(value) == (None, [
        ("offsets.set[1]", ENTRY_MSG),
        ("offsets.set[2]", ENTRY_MSG),
        ("offsets.set[3]", ENTRY_MSG),
        ("offsets.set[4]", ENTRY_MSG),
        ("offsets.set[5].partition", "must be a non-empty object, got an array"),
        ("offsets.set[6].partition", "must be a non-empty object, got an empty object"),
        ("offsets.set[7].partition", "must be a non-empty object, got null"),
        ("offsets.set[8].offset", "must be an object or null, got a number"),
        ("offsets.set[9].offset", "must be an object or null, got an array"),
        ("offsets.set[10].offset", "must be an object or null, got a string"),
    ])


def test_a_bad_id_and_bad_entries_are_all_reported_together() -> None:
    assert parse_offsets({"id": "", "set": [{"partition": P0}]}) == (None, [
        ("offsets.id", TOKEN_MSG + "an empty string"),
        ("offsets.set[0]", ENTRY_MSG),
    ])


def test_a_good_id_with_one_bad_entry_gives_no_operation() -> None:
    assert parse_offsets({"id": "t", "set": [{"partition": P0, "offset": None}, {"partition": P1, "offset": 1}]}) == (
        None, [("offsets.set[1].offset", "must be an object or null, got a number")])


# -- through render -----------------------------------------------------------------------------------

def test_wrapped_reset_becomes_the_specs_operation(tmp_path: Path) -> None:
    spec = specs(tmp_path, f"""{{
        name: 'w', config: {{ 'connector.class': '{SINK}', topics: 'orders' }},
        offsets: {{ reset: '2026-12-04-replay' }},
    }}""")["w"]
    assert spec.offsets == OffsetsOp(token="2026-12-04-replay", kind="reset", entries=())
    assert spec.config == {"connector.class": SINK, "name": "w", "topics": "orders"}  # never a Connect key


def test_wrapped_set_becomes_the_specs_operation_with_numbers_as_json_numbers(tmp_path: Path) -> None:
    spec = specs(tmp_path, f"""{{
        name: 'w', config: {{ 'connector.class': '{SINK}', topics: 'orders' }}, state: 'PAUSED',
        offsets: {{ id: 'skip-bad-row', set: [
            {{ partition: {{ kafka_topic: 'orders', kafka_partition: 0 }}, offset: {{ kafka_offset: 42 }} }},
            {{ partition: {{ kafka_topic: 'orders', kafka_partition: 1 }}, offset: null }},
        ] }},
    }}""")["w"]
    assert spec.offsets == OffsetsOp(token="skip-bad-row", kind="set", entries=(
        {"partition": P0, "offset": {"kafka_offset": 42}},
        {"partition": P1, "offset": None},
    ))
    assert spec.offsets is not None and type(spec.offsets.entries[0]["offset"]["kafka_offset"]) is int
    assert spec.state == "PAUSED"
    assert spec.config == {"connector.class": SINK, "name": "w", "topics": "orders"}


def test_a_json_connector_file_with_offsets_renders_the_same(tmp_path: Path) -> None:
    entry = {"partition": {"filename": "/in.txt"}, "offset": {"position": 9}}
    text = json.dumps({"name": "j", "config": {"connector.class": SINK}, "offsets": {"id": "s", "set": [entry]}})
    spec = specs(tmp_path, text)["j"]
    assert spec.offsets == OffsetsOp(token="s", kind="set",
                                     entries=({"partition": {"filename": "/in.txt"}, "offset": {"position": 9}},))


def test_wrapped_form_without_offsets_or_with_null_has_none(tmp_path: Path) -> None:
    found = specs(tmp_path, f"""[
        {{ name: 'a', config: {{ 'connector.class': '{SINK}' }} }},
        {{ name: 'b', config: {{ 'connector.class': '{SINK}' }}, offsets: null }},
        {{ name: 'c', 'connector.class': '{SINK}' }},
    ]""")
    assert {n: s.offsets for n, s in found.items()} == {"a": None, "b": None, "c": None}


def test_bad_offsets_in_the_wrapped_form_are_reported_per_connector_and_key(tmp_path: Path) -> None:
    assert problems(tmp_path, f"""[
        {{ name: 'a', config: {{ 'connector.class': '{SINK}' }}, offsets: 'reset' }},
        {{ name: 'b', config: {{ 'connector.class': '{SINK}' }}, offsets: {{ reset: 'x', id: 'y', set: [] }} }},
        {{ name: 'c', config: {{ 'connector.class': '{SINK}' }}, offsets: {{ reset: '' }} }},
        {{ name: 'd', config: {{ 'connector.class': '{SINK}' }}, offsets: {{ id: 'i', set: [] }} }},
        {{ name: 'e', config: {{ 'connector.class': '{SINK}' }},
           offsets: {{ id: 'i', set: [{{ partition: {{}}, offset: null }},
                                      {{ partition: {{ p: 1 }}, offset: 5 }}] }} }},
        {{ name: 'ok', config: {{ 'connector.class': '{SINK}' }}, offsets: {{ reset: 'fine' }} }},
    ]""") == [
        f"{F}: connector 'a': key 'offsets': must be an object, {SHAPES}; got a string",
        f"{F}: connector 'b': key 'offsets': must be {SHAPES}; got the keys id, reset, set",
        f"{F}: connector 'c': key 'offsets.reset': {TOKEN_MSG}an empty string",
        f"{F}: connector 'd': key 'offsets.set': must be a non-empty array of {{partition, offset}}, got an "
        "empty array",
        f"{F}: connector 'e': key 'offsets.set[0].partition': must be a non-empty object, got an empty object",
        f"{F}: connector 'e': key 'offsets.set[1].offset': must be an object or null, got a number",
    ]


def test_offsets_in_the_flat_form_are_refused_naming_the_key(tmp_path: Path) -> None:
    assert problems(tmp_path, f"{{name: 'n', 'connector.class': '{SINK}', offsets: 'r1'}}") == [
        f"{F}: connector 'n': key 'offsets': is a kcplan setting, not a Connect config key: use the wrapped "
        "form {name, config: {...}, state, lifecycle, offsets, canary}"]


def test_an_offsets_object_in_the_flat_form_is_refused_naming_the_key(tmp_path: Path) -> None:
    # one problem: the object is not also judged as a Connect config value ("write dotted keys" is wrong there)
    assert problems(tmp_path, f"{{name: 'n', 'connector.class': '{SINK}', offsets: {{reset: 'r1'}}}}") == [
        f"{F}: connector 'n': key 'offsets': is a kcplan setting, not a Connect config key: use the wrapped "
        "form {name, config: {...}, state, lifecycle, offsets, canary}"]
