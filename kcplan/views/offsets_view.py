"""Connector offsets as a table (partition, offset per row) or as a JSON document for scripts."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from tabulate import tabulate

from kcplan.connect.models import ConnectorOffset

FORMAT_VERSION = 1
NONE_YET = "(no committed offsets)"


def _pairs(values: Mapping[str, Any] | None) -> str:
    """{"kafka_topic": "t", "kafka_partition": 0} -> 'kafka_topic=t, kafka_partition=0' (the worker's order)."""
    if values is None:
        return "(none)"
    return ", ".join(f"{k}={v if isinstance(v, str) else json.dumps(v)}" for k, v in values.items())


def render_offsets(offsets: Mapping[str, Sequence[ConnectorOffset]]) -> str:
    """One row per partition; a connector without committed offsets gets one row saying so."""
    rows = []
    for name, entries in offsets.items():
        if not entries:
            rows.append([name, NONE_YET, ""])
        rows += [[name, _pairs(e.partition), _pairs(e.offset)] for e in entries]
    return tabulate(rows, headers=["CONNECTOR", "PARTITION", "OFFSET"], tablefmt="plain",
                    disable_numparse=True) + "\n"


def render_offsets_json(env: str, offsets: Mapping[str, Sequence[ConnectorOffset]]) -> str:
    doc = {"format_version": FORMAT_VERSION, "env": env,
           "connectors": {name: [{"partition": e.partition, "offset": e.offset} for e in entries]
                          for name, entries in offsets.items()}}
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
