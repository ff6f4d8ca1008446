"""Config values as the strings Kafka Connect keeps: the one rule that render, state and client share.

Connect stores and returns every config value as a string. A Jsonnet number or boolean must turn into
exactly the string Connect would give back, or every plan would show a change: true -> "true",
3 -> "3", 2.0 -> "2" (Jsonnet has one number type), 1.5 -> "1.5".
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any


def scalar_string(value: object) -> str | None:
    """A JSON scalar as the string Connect returns for it; None for null, lists and objects."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 2**63 else repr(value)
    return None


def as_config_value(value: object) -> str:
    """scalar_string, or ValueError for anything that is not a string, number or boolean."""
    text = scalar_string(value)
    if text is None:
        raise ValueError(f"config values must be strings, numbers or booleans, not {type(value).__name__}")
    return text


def live_config(config: Mapping[Any, Any]) -> dict[str, str]:
    """A config as a worker answered it: strings already; anything else by the same rule, never an error
    (null -> "", a list or object -> its JSON text), since what the cluster holds must always be shown."""
    return {str(k): _live_value(v) for k, v in config.items()}


def _live_value(value: object) -> str:
    text = scalar_string(value)
    if text is not None:
        return text
    return "" if value is None else json.dumps(value)


def json_type(value: object) -> str:
    """The JSON type of a value with its article, for messages: 'a string', 'an object', 'null'."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return "an array" if isinstance(value, list) else "an object"
