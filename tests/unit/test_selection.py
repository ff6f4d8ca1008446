"""kcplan.selection: which connectors --target / --connector / import select."""

from __future__ import annotations

import pytest

from kcplan.selection import literal, matches, select, selector, unmatched

NAMES = ["orders-sink", "orders-source", "payments-sink", "Orders-archive", "a[1]", "what?", "star*"]


def test_no_patterns_select_everything() -> None:
    assert [n for n in NAMES if matches(n, [])] == NAMES
    assert select({"b": 2, "a": 1}, []) == {"b": 2, "a": 1}
    assert unmatched([], NAMES) == []


@pytest.mark.parametrize(("patterns", "selected"), [
    (["orders-*"], ["orders-sink", "orders-source"]),
    (["*-sink"], ["orders-sink", "payments-sink"]),
    (["orders-sink", "payments-*"], ["orders-sink", "payments-sink"]),
    (["orders-sourc?"], ["orders-source"]),
    (["[op]*-sink"], ["orders-sink", "payments-sink"]),
    (["ORDERS-*"], []),  # case-sensitive, as Connect's names are
    (["Orders-*"], ["Orders-archive"]),
    (["orders"], []),  # a name without glob characters matches only itself
])
def test_globs_select_by_fnmatchcase(patterns: list[str], selected: list[str]) -> None:
    assert [n for n in NAMES if matches(n, patterns)] == selected


def test_select_keeps_the_order_and_the_values() -> None:
    live = {"z-sink": 26, "orders-sink": 1, "a-sink": 0, "orders-source": 2}
    assert list(select(live, ["*-sink"]).items()) == [("z-sink", 26), ("orders-sink", 1), ("a-sink", 0)]
    assert select(live, ["nothing-*"]) == {}


def test_unmatched_names_the_patterns_that_select_nothing_in_their_order() -> None:
    assert unmatched(["typo-*", "orders-*", "payments-sink", "nope"], NAMES) == ["typo-*", "nope"]
    assert unmatched(["orders-*"], []) == ["orders-*"]
    assert unmatched(["*"], iter(NAMES)) == []  # any iterable of names, read once


@pytest.mark.parametrize(("name", "pattern"), [
    ("orders-sink", "orders-sink"),
    ("a[1]", "a[[]1]"),
    ("what?", "what[?]"),
    ("star*", "star[*]"),
])
def test_literal_matches_exactly_its_name(name: str, pattern: str) -> None:
    assert literal(name) == pattern
    assert [n for n in NAMES if matches(n, [literal(name)])] == [name]


def test_selector_mixes_plain_names_literals_and_globs() -> None:
    chosen = selector(["payments-sink", literal("star*"), "Orders-*"])
    assert [n for n in NAMES if chosen(n)] == ["payments-sink", "Orders-archive", "star*"]
    assert unmatched(["payments-sink", "payments", literal("star*"), literal("a*"), "x*"], NAMES) == \
        ["payments", "a[*]", "x*"]


def test_a_plain_pattern_is_not_a_prefix_or_case_folded_match() -> None:
    chosen = selector(["orders"])
    assert [n for n in ["orders", "orders-sink", "Orders", "order"] if chosen(n)] == ["orders"]
