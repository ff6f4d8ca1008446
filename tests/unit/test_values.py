"""One value-to-string rule for render, state and the live side (issue 16 point 3)."""

from __future__ import annotations

import pytest

from kcplan.connect.client import live_from_expand
from kcplan.values import as_config_value, live_config, scalar_string


@pytest.mark.parametrize(("value", "expected"), [
    ("a", "a"), (True, "true"), (False, "false"), (3, "3"), (2.0, "2"), (1.5, "1.5"), (-0.0, "0"),
    (1e300, "1e+300"), (None, None), ([1], None), ({"a": 1}, None),
])
def test_scalar_string(value: object, expected: str | None) -> None:
    assert scalar_string(value) == expected


def test_as_config_value_refuses_structures() -> None:
    assert as_config_value(2.0) == "2"
    with pytest.raises(ValueError, match="not list"):
        as_config_value([1])


def test_live_config_never_fails() -> None:
    assert live_config({"n": 2.0, "b": True, "z": None, "l": [1, "x"], "o": {"k": 1}, "s": "v"}) == {
        "n": "2", "b": "true", "z": "", "l": '[1, "x"]', "o": '{"k": 1}', "s": "v"}


def test_live_connector_from_expand_uses_the_render_rule() -> None:
    live = live_from_expand("x", {"info": {"config": {"a": 2.0, "t": True}, "type": "sink"}})
    assert live is not None
    assert live.config == {"a": "2", "t": "true"}
    assert live.type == "sink"
