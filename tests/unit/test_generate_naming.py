"""Names `import --generate` makes up: file stems, secret variables, class short names (kcplan.generate.naming)."""

from __future__ import annotations

import hashlib

import pytest

from kcplan.generate.naming import class_short, class_shorts, file_stem, file_stems, secret_variable, secret_variables

SINK = "org.apache.kafka.connect.file.FileStreamSinkConnector"
SOURCE = "org.apache.kafka.connect.file.FileStreamSourceConnector"


# --- file_stem -----------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["orders-sink", "Orders_Sink.v2", "a", "a..b", "9lives", "x" * 100])
def test_safe_names_are_their_own_stem(name: str) -> None:
    assert file_stem(name) == name


@pytest.mark.parametrize(("name", "stem"), [
    ("a/b", "a-b-c14cddc0"),
    ("my connector", "my-connector-f23e84ba"),
    ("café", "caf-850f7dc4"),
    (".hidden", "hidden-16924190"),
    ("a.", "a-5ab640fa"),
    ("-a", "a-c2748917"),
    ("..", "connector-5ec1f7e7"),
    ("", "connector-e3b0c442"),
    ("a b/c", "a-b-c-539138d5"),
])
def test_awkward_names_get_a_slug_and_a_digest(name: str, stem: str) -> None:
    assert file_stem(name) == stem


def test_digest_is_the_first_8_hex_digits_of_the_sha256_of_the_name() -> None:
    assert hashlib.sha256(b"a/b").hexdigest()[:8] == "c14cddc0"
    assert file_stem("a/b") == "a-b-c14cddc0"


def test_name_longer_than_100_characters_is_cut_to_60_plus_digest() -> None:
    assert file_stem("x" * 101) == "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx-c675a2e6"
    assert len(file_stem("x" * 101)) == 69


def test_two_long_names_with_one_prefix_get_different_stems() -> None:
    first, second = "y" * 101, "y" * 102
    assert file_stem(first) != file_stem(second)
    assert file_stem(first)[:61] == file_stem(second)[:61] == "y" * 60 + "-"


# --- file_stems ----------------------------------------------------------------------------------

def test_file_stems_keeps_names_that_do_not_clash() -> None:
    assert file_stems(["orders", "payments", "a/b"]) == {
        "orders": "orders", "payments": "payments", "a/b": "a-b-c14cddc0"}


def test_names_that_clash_ignoring_case_get_different_stems() -> None:
    assert file_stems(["Orders", "orders", "other"]) == {
        "Orders": "Orders-b7e8acdd", "orders": "orders-1c168adb", "other": "other"}


def test_awkward_name_whose_slug_clashes_with_a_safe_name_keeps_its_digest_once() -> None:
    # 'a b' slugs to 'a-b-<digest>'; the safe name 'A-b-<same digest>' folds to the same stem
    awkward = file_stem("a b")
    assert awkward == "a-b-c8687a08"
    assert file_stems(["a b", "A-b-c8687a08"]) == {
        "a b": "a-b-c8687a08", "A-b-c8687a08": "A-b-c8687a08-86e807cd"}


def test_empty_list_has_no_stems() -> None:
    assert file_stems([]) == {}


def test_stems_stay_unique_when_a_digest_suffix_equals_another_name() -> None:
    # 'A' and 'a' clash, so 'a' becomes 'a-ca978112', which is the third connector's own (safe) name
    stems = file_stems(["A", "a", "a-ca978112"])
    assert len({s.lower() for s in stems.values()}) == 3


# --- secret_variable(s) --------------------------------------------------------------------------

@pytest.mark.parametrize(("connector", "key", "variable"), [
    ("orders", "db.password", "KCPLAN_SECRET_ORDERS__DB_PASSWORD"),
    ("my sink/prod", "sasl.jaas.config", "KCPLAN_SECRET_MY_SINK_PROD__SASL_JAAS_CONFIG"),
    ("café ß", "pass", "KCPLAN_SECRET_CAF_SS__PASS"),
    ("--", "__", "KCPLAN_SECRET_X__X"),
    ("a", "b__c", "KCPLAN_SECRET_A__B_C"),
    (".x.", "Key", "KCPLAN_SECRET_X__KEY"),
])
def test_secret_variable(connector: str, key: str, variable: str) -> None:
    assert secret_variable(connector, key) == variable


def test_secret_variables_without_clashes_are_plain() -> None:
    assert secret_variables([("orders", "db.password"), ("orders", "api.token")]) == {
        ("orders", "db.password"): "KCPLAN_SECRET_ORDERS__DB_PASSWORD",
        ("orders", "api.token"): "KCPLAN_SECRET_ORDERS__API_TOKEN",
    }


def test_pairs_with_one_variable_name_get_different_digest_suffixes() -> None:
    assert secret_variables([("a-b", "c"), ("a_b", "c"), ("x", "y")]) == {
        ("a-b", "c"): "KCPLAN_SECRET_A_B__C_695274F6",
        ("a_b", "c"): "KCPLAN_SECRET_A_B__C_0C1D18F5",
        ("x", "y"): "KCPLAN_SECRET_X__Y",
    }


def test_connector_key_split_is_not_ambiguous() -> None:
    # '__' only ever separates connector from key: runs of other characters become one '_'
    assert secret_variables([("a", "b.c"), ("a.b", "c")]) == {
        ("a", "b.c"): "KCPLAN_SECRET_A__B_C",
        ("a.b", "c"): "KCPLAN_SECRET_A_B__C",
    }


def test_secret_variables_stay_unique_when_a_suffix_equals_another_variable() -> None:
    variables = secret_variables([("a-b", "c"), ("a_b", "c"), ("a_b", "c_695274F6")])
    assert len(set(variables.values())) == 3


# --- class_short(s) ------------------------------------------------------------------------------

@pytest.mark.parametrize(("connector_class", "short"), [
    (SINK, "file-stream-sink"),
    (SOURCE, "file-stream-source"),
    ("io.confluent.connect.s3.S3SinkConnector", "s3-sink"),
    ("a.b.MyConnectorV2", "my-connector-v2"),
    ("Connector", "connector"),
    ("", "connector"),
    ("io.x.HTTPSink", "httpsink"),
    ("io.x.JDBCSourceConnector", "jdbcsource"),
    ("io.x.Odd$Inner_Connector", "odd-inner"),
])
def test_class_short(connector_class: str, short: str) -> None:
    assert class_short(connector_class) == short


def test_class_shorts_of_distinct_shorts() -> None:
    assert class_shorts([SINK, SOURCE]) == {SINK: "file-stream-sink", SOURCE: "file-stream-source"}


def test_classes_with_one_short_name_get_digests() -> None:
    assert class_shorts(["io.a.FooConnector", "io.b.FooConnector", "io.c.Bar"]) == {
        "io.a.FooConnector": "foo-494bdf16", "io.b.FooConnector": "foo-a9f39e30", "io.c.Bar": "bar"}
