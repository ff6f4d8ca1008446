"""Offsets as GET /connectors/NAME/offsets answers them, and as 'kcplan offsets get' shows them."""

from __future__ import annotations

import json

from kcplan.connect.models import ConnectorOffset
from kcplan.views.offsets_view import render_offsets, render_offsets_json

SINK_BODY = {"offsets": [
    {"partition": {"kafka_topic": "orders", "kafka_partition": 1}, "offset": {"kafka_offset": 42}},
    {"partition": {"kafka_topic": "orders", "kafka_partition": 0}, "offset": None},
]}


def test_offsets_are_read_from_the_answer() -> None:
    assert ConnectorOffset.list_from_json(SINK_BODY) == [
        ConnectorOffset({"kafka_topic": "orders", "kafka_partition": 1}, {"kafka_offset": 42}),
        ConnectorOffset({"kafka_topic": "orders", "kafka_partition": 0}, None)]
    assert ConnectorOffset.list_from_json({"offsets": []}) == []
    assert ConnectorOffset.list_from_json({"message": "x"}) == []


def test_table_keeps_the_workers_key_order_and_says_when_nothing_is_committed() -> None:
    offsets = {"sink": ConnectorOffset.list_from_json(SINK_BODY),
               "src": [ConnectorOffset({"filename": "/data/in.txt"}, {"position": 9})], "new": []}
    assert render_offsets(offsets).splitlines() == [
        "CONNECTOR    PARTITION                              OFFSET",
        "sink         kafka_topic=orders, kafka_partition=1  kafka_offset=42",
        "sink         kafka_topic=orders, kafka_partition=0  (none)",
        "src          filename=/data/in.txt                  position=9",
        "new          (no committed offsets)",
    ]


def test_json_is_the_workers_entries_per_connector() -> None:
    offsets = {"src": [ConnectorOffset({"filename": "/data/in.txt"}, {"position": 9})], "new": []}
    assert json.loads(render_offsets_json("dev", offsets)) == {
        "format_version": 1, "env": "dev",
        "connectors": {"src": [{"partition": {"filename": "/data/in.txt"}, "offset": {"position": 9}}], "new": []}}
