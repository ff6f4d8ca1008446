"""Connector specs: flat and wrapped forms, normalisation, and every rejected input with its exact message."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from kcplan.config.models import ConnectorSpec, Lifecycle
from kcplan.config.render import load_desired, name_problem
from kcplan.errors import SpecError
from kcplan.values import scalar_string
from tests.helpers import SINK, write_project

F = "environments/dev/connectors/x.jsonnet"
G = "environments/dev/connectors/y.jsonnet"


def project(root: Path, files: dict[str, str]) -> Path:
    return write_project(root, connectors=files)


def specs(root: Path, text: str) -> dict[str, ConnectorSpec]:
    return load_desired(project(root, {"x.jsonnet": text}), "dev").connectors


def problems(root: Path, files: dict[str, str] | str) -> list[str]:
    project(root, {"x.jsonnet": files} if isinstance(files, str) else files)
    with pytest.raises(SpecError) as info:
        load_desired(root, "dev")
    return info.value.problems


# --- accepted forms and normalisation ------------------------------------------------------------

def test_flat_form_normalises_values_to_connect_strings(tmp_path: Path) -> None:
    spec = specs(tmp_path, f"""{{
        name: 'n', 'connector.class': '{SINK}', 'tasks.max': 2, enabled: true, off: false,
        ratio: 1.5, big: 1e20, tiny: 0.1, topics: ['a', 'b', 3, true], empty: [], text: 'as is ',
    }}""")["n"]
    assert spec.config == {
        "big": "100000000000000000000",
        "connector.class": SINK,
        "empty": "",
        "enabled": "true",
        "name": "n",
        "off": "false",
        "ratio": "1.5",
        "tasks.max": "2",
        "text": "as is ",
        "tiny": "0.1",
        "topics": "a,b,3,true",
    }
    assert spec.state == "RUNNING"
    assert spec.lifecycle == Lifecycle(prevent_destroy=False)
    assert spec.source == "environments/dev/connectors/x.jsonnet"


def test_wrapped_form_carries_kcplan_settings_outside_the_config(tmp_path: Path) -> None:
    spec = specs(tmp_path, f"""{{
        name: 'w', config: {{ 'connector.class': '{SINK}', 'tasks.max': 1 }},
        state: 'PAUSED', lifecycle: {{ prevent_destroy: true }},
    }}""")["w"]
    assert spec.config == {"connector.class": SINK, "name": "w", "tasks.max": "1"}
    assert spec.state == "PAUSED"
    assert spec.lifecycle.prevent_destroy is True


def test_wrapped_form_name_may_come_from_config_or_both_when_equal(tmp_path: Path) -> None:
    found = specs(tmp_path, f"""[
        {{ config: {{ name: 'inner', 'connector.class': '{SINK}' }}, state: 'STOPPED' }},
        {{ name: 'both', config: {{ name: 'both', 'connector.class': '{SINK}' }} }},
    ]""")
    assert sorted(found) == ["both", "inner"]
    assert found["inner"].state == "STOPPED"
    assert found["both"].config["name"] == "both"


def test_array_file_and_empty_array(tmp_path: Path) -> None:
    project(tmp_path, {
        "x.jsonnet": f"[{{name: 'a', 'connector.class': '{SINK}'}}, {{name: 'b', 'connector.class': '{SINK}'}}]",
        "y.jsonnet": "[]",
    })
    assert sorted(load_desired(tmp_path, "dev").connectors) == ["a", "b"]


def test_placeholders_are_kept_as_written(tmp_path: Path) -> None:
    spec = specs(tmp_path, f"""{{ name: 'p', 'connector.class': '{SINK}', 'tasks.max': '${{env:TASKS}}',
        'db.password': '${{file:/secrets/db.properties:password}}' }}""")["p"]
    assert spec.config["tasks.max"] == "${env:TASKS}"
    assert spec.config["db.password"] == "${file:/secrets/db.properties:password}"


@pytest.mark.parametrize(("value", "expected"), [
    (True, "true"), (False, "false"), (0, "0"), (-7, "-7"), (1.5, "1.5"), (2.0, "2"), (1e-07, "1e-07"),
    (1e300, "1e+300"), ("x", "x"), (None, None), ([1], None), ({}, None),
])
def test_scalar_string(value: object, expected: str | None) -> None:
    assert scalar_string(value) == expected


# --- rejected inputs, each with its exact message ------------------------------------------------

def test_missing_name_and_connector_class(tmp_path: Path) -> None:
    assert problems(tmp_path, "{ 'tasks.max': 1 }") == [
        f"{F}: key 'name': missing",
        f"{F}: key 'connector.class': missing",
    ]


def test_missing_name_in_an_array_names_the_item(tmp_path: Path) -> None:
    assert problems(tmp_path, f"[{{name: 'ok', 'connector.class': '{SINK}'}}, {{'connector.class': '{SINK}'}}]") == [
        f"{F}: item [1]: key 'name': missing"]


@pytest.mark.parametrize(("name", "message"), [
    ("''", "key 'name': is empty"),
    ("'   '", "key 'name': is only whitespace"),
    ("' lead'", "key 'name': ' lead' has leading or trailing whitespace"),
    ("'trail\\t'", "key 'name': 'trail\\t' has leading or trailing whitespace"),
    ("'a/b'", "key 'name': 'a/b' contains '/', which the Connect REST API cannot address"),
    ("'bell\\u0007'", "key 'name': 'bell\\x07' contains control characters"),
    ("42", "key 'name': must be a string, got a number"),
    ("null", "key 'name': must be a string, got null"),
])
def test_names_connect_cannot_take(tmp_path: Path, name: str, message: str) -> None:
    assert problems(tmp_path, f"{{name: {name}, 'connector.class': '{SINK}'}}") == [f"{F}: {message}"]


def test_name_problem_accepts_ordinary_names() -> None:
    assert name_problem("orders-s3.v2_eu (copy)") is None


def test_empty_connector_class(tmp_path: Path) -> None:
    assert problems(tmp_path, "{name: 'n', 'connector.class': ' '}") == [
        f"{F}: connector 'n': key 'connector.class': is empty"]


def test_null_values_nested_objects_and_bad_list_elements(tmp_path: Path) -> None:
    assert problems(tmp_path, f"""{{
        name: 'n', 'connector.class': '{SINK}', gone: null, nested: {{ a: 1 }},
        topics: ['a', null, {{}}, ['x']], '': 'empty key',
    }}""") == [
        f"{F}: connector 'n': key '': empty key",
        f"{F}: connector 'n': key 'gone': null value: give a value or leave the key out",
        f"{F}: connector 'n': key 'nested': nested object: Connect config values are strings, numbers, "
        "booleans or lists of them (write dotted keys instead)",
        f"{F}: connector 'n': key 'topics': list element [1] is null: list elements must be strings, "
        "numbers or booleans",
        f"{F}: connector 'n': key 'topics': list element [2] is an object: list elements must be strings, "
        "numbers or booleans",
        f"{F}: connector 'n': key 'topics': list element [3] is an array: list elements must be strings, "
        "numbers or booleans",
    ]


@pytest.mark.parametrize("value", ["0", "-1", "'1.0'", "'two'", "' 2'", "2147483648", "1.5", "'+3'"])
def test_tasks_max_must_be_a_positive_integer(tmp_path: Path, value: str) -> None:
    shown = {"1.5": "'1.5'"}.get(value, value if value.startswith("'") else repr(value))
    assert problems(tmp_path, f"{{name: 'n', 'connector.class': '{SINK}', 'tasks.max': {value}}}") == [
        f"{F}: connector 'n': key 'tasks.max': must be a positive integer, got {shown}"]


def test_same_name_in_two_files_names_both(tmp_path: Path) -> None:
    assert problems(tmp_path, {
        "x.jsonnet": f"{{name: 'dup', 'connector.class': '{SINK}'}}",
        "y.jsonnet": f"{{name: 'dup', 'connector.class': '{SINK}'}}",
    }) == [f"{G}: connector 'dup': also defined in {F} (connector names must be unique in an environment)"]


def test_same_name_twice_in_one_file(tmp_path: Path) -> None:
    one = f"{{name: 'dup', 'connector.class': '{SINK}'}}"
    assert problems(tmp_path, f"[{one}, {one}]") == [
        f"{F}: connector 'dup': defined more than once in this file (connector names must be unique)"]


@pytest.mark.parametrize(("text", "message"), [
    ("'just a string'", "must evaluate to a connector object or an array of them, got a string"),
    ("42", "must evaluate to a connector object or an array of them, got a number"),
    ("null", "must evaluate to a connector object or an array of them, got null"),
    ("true", "must evaluate to a connector object or an array of them, got a boolean"),
    ("[1]", "item [0]: must be a connector object, got a number"),
    ("[[]]", "item [0]: must be a connector object, got an array"),
])
def test_file_must_be_a_connector_or_array_of_them(tmp_path: Path, text: str, message: str) -> None:
    assert problems(tmp_path, text) == [f"{F}: {message}"]


def test_wrapped_form_rules(tmp_path: Path) -> None:
    assert problems(tmp_path, f"""[
        {{ name: 'a', config: {{ 'connector.class': '{SINK}' }}, statee: 'PAUSED', extra: 1 }},
        {{ name: 'b', config: {{ 'connector.class': '{SINK}' }}, state: 'paused' }},
        {{ name: 'c', config: {{ 'connector.class': '{SINK}' }}, state: 1 }},
        {{ name: 'd', config: {{ 'connector.class': '{SINK}' }}, lifecycle: {{ prevent_destroy: 'yes' }} }},
        {{ name: 'e', config: {{ 'connector.class': '{SINK}' }}, lifecycle: {{ keep: true }} }},
        {{ name: 'f', config: {{ 'connector.class': '{SINK}' }}, lifecycle: true }},
        {{ name: 'g', config: {{ name: 'other', 'connector.class': '{SINK}' }} }},
        {{ config: {{ 'connector.class': '{SINK}' }} }},
    ]""") == [
        f"{F}: connector 'a': key 'extra': unknown key in the wrapped form "
        "(allowed: name, config, state, lifecycle, offsets, canary)",
        f"{F}: connector 'a': key 'statee': unknown key in the wrapped form "
        "(allowed: name, config, state, lifecycle, offsets, canary)",
        f"{F}: connector 'b': key 'state': must be one of RUNNING, PAUSED, STOPPED, got 'paused'",
        f"{F}: connector 'c': key 'state': must be one of RUNNING, PAUSED, STOPPED, got a number",
        f"{F}: connector 'd': key 'lifecycle.prevent_destroy': must be true or false, got a string",
        f"{F}: connector 'e': key 'lifecycle.keep': unknown lifecycle setting (allowed: prevent_destroy)",
        f"{F}: connector 'f': key 'lifecycle': must be an object like {{prevent_destroy: true}}, got a boolean",
        f"{F}: item [6]: key 'name': config.name 'other' differs from name 'g' "
        "(leave config.name out, or make them equal)",
        f"{F}: item [7]: key 'name': missing",
    ]


def test_wrapped_form_config_must_be_an_object(tmp_path: Path) -> None:
    assert problems(tmp_path, "{ name: 'n', config: null, state: 'PAUSED' }") == [
        f"{F}: connector 'n': key 'config': must be an object (the Connect config of the wrapped form), got null"]


def test_kcplan_settings_in_the_flat_form_are_rejected(tmp_path: Path) -> None:
    assert problems(tmp_path, f"{{name: 'n', 'connector.class': '{SINK}', state: 'PAUSED'}}") == [
        f"{F}: connector 'n': key 'state': is a kcplan setting, not a Connect config key: use the wrapped "
        "form {name, config: {...}, state, lifecycle, offsets, canary}"]


def test_all_problems_of_all_files_are_reported_together(tmp_path: Path) -> None:
    project(tmp_path, {
        "x.jsonnet": "{ name: 'a/b' }",
        "y.jsonnet": f"{{ name: 'ok', 'connector.class': '{SINK}', 'tasks.max': 0 }}",
    })
    with pytest.raises(SpecError) as info:
        load_desired(tmp_path, "dev")
    assert info.value.message == (
        "3 problems in the connector configs:\n"
        f"  {F}: key 'name': 'a/b' contains '/', which the Connect REST API cannot address\n"
        f"  {F}: key 'connector.class': missing\n"
        f"  {G}: connector 'ok': key 'tasks.max': must be a positive integer, got '0'"
    )
    assert info.value.hint == ("Fix the problems listed above (file, connector, key), "
                               "then run 'kcplan validate' again.")


# --- the model's own invariants --------------------------------------------------------------------

def test_connector_spec_requires_name_in_config_and_string_values() -> None:
    with pytest.raises(ValidationError, match="config\\['name'\\] must equal the connector name 'a'"):
        ConnectorSpec(name="a", config={"connector.class": SINK})
    with pytest.raises(ValidationError):
        ConnectorSpec(name="a", config={"name": "a", "n": 1})  # type: ignore[dict-item]
    with pytest.raises(ValidationError):
        ConnectorSpec(name="a", config={"name": "a"}, state="paused")  # type: ignore[arg-type]
    spec = ConnectorSpec(name="a", config={"name": "a", "connector.class": SINK})
    assert spec.connector_class == SINK


@given(st.one_of(st.integers(), st.floats(allow_nan=False, allow_infinity=False), st.booleans()))
def test_scalar_string_round_trips(value: int | float | bool) -> None:
    text = scalar_string(value)
    assert text is not None
    if isinstance(value, bool):
        assert text == ("true" if value else "false")
    elif isinstance(value, int):
        assert int(text) == value
    else:
        assert float(text) == value
