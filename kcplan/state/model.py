"""The state file's content: which connectors kcplan manages and what it last applied.

Frozen values; every change makes a new State (``with_connector``/``without``) that the
store then writes. Values of sensitive keys are held only as salted digests (state/digest.py).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from kcplan.config.sensitive import SensitiveKeys
from kcplan.state import digest as dg
from kcplan.values import as_config_value

FORMAT_VERSION = 1
RunState = Literal["RUNNING", "PAUSED", "STOPPED"]


def _config(value: object) -> object:
    if isinstance(value, Mapping):
        return {str(k): as_config_value(v) for k, v in value.items()}
    return value


def utc_now() -> str:
    """ISO-8601 UTC timestamp with second precision, e.g. 2025-01-31T12:00:00Z."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class ManagedConnector(BaseModel):
    """One managed connector: what kcplan last applied (secrets as digests).

    ``offsets_token``: the token of the last offsets operation applied to it (None: none yet); it is
    kept across other changes, so a declared operation runs once.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")
    name: str
    config: Annotated[dict[str, str], BeforeValidator(_config)]
    state: RunState = "RUNNING"
    prevent_destroy: bool = False
    applied_at: str = ""
    offsets_token: str | None = None

    @property
    def connector_class(self) -> str:
        return self.config.get("connector.class", "")

    @classmethod
    def record(
        cls,
        name: str,
        config: Mapping[str, str],
        *,
        sensitive: SensitiveKeys,
        salt: str,
        state: RunState = "RUNNING",
        prevent_destroy: bool = False,
        applied_at: str | None = None,
    ) -> ManagedConnector:
        """Build a record from a plain (or already digested) config; secrets become digests."""
        cfg = dg.digest_config({**config, "name": name}, sensitive, salt)
        return cls(name=name, config=cfg, state=state, prevent_destroy=prevent_destroy,
                   applied_at=applied_at or utc_now())


class State(BaseModel):
    """The whole state of one environment. ``lineage is None`` means no state file yet."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    format_version: int = FORMAT_VERSION
    lineage: str | None = None
    serial: int = Field(default=0, ge=0)
    kafka_cluster_id: str | None = None
    digest_salt: str | None = None
    connectors: dict[str, ManagedConnector] = Field(default_factory=dict)

    @property
    def exists(self) -> bool:
        return self.lineage is not None

    def get(self, name: str) -> ManagedConnector | None:
        return self.connectors.get(name)

    def with_connector(self, record: ManagedConnector) -> State:
        return self.model_copy(update={"connectors": {**self.connectors, record.name: record}})

    def without(self, name: str) -> State:
        rest = {k: v for k, v in self.connectors.items() if k != name}
        return self.model_copy(update={"connectors": rest})

    def with_cluster_id(self, cluster_id: str | None) -> State:
        return self.model_copy(update={"kafka_cluster_id": cluster_id})

    def with_salt(self, salt: str) -> State:
        """Use this salt when the state has none yet (first write uses the plan's salt)."""
        if self.digest_salt:
            return self
        return self.model_copy(update={"digest_salt": salt})

    def content(self) -> dict[str, Any]:
        """What counts as a change (serial and lineage excluded)."""
        return {
            "kafka_cluster_id": self.kafka_cluster_id,
            "digest_salt": self.digest_salt,
            "connectors": {k: v.model_dump() for k, v in sorted(self.connectors.items())},
        }

    def to_json(self) -> str:
        data = self.model_dump()
        data["connectors"] = {
            name: {**{k: v for k, v in rec.items() if k != "offsets_token" or v is not None},
                   "config": dict(sorted(rec["config"].items()))}
            for name, rec in sorted(data["connectors"].items())
        }
        return json.dumps(data, indent=2, sort_keys=False) + "\n"
