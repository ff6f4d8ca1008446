"""The desired state of one connector, after rendering, normalisation and validation.

kcplan.config.render builds these from Jsonnet output; the planner and apply only ever see
this frozen shape, so its invariants are checked here once: every config value is a string,
``config['name']`` equals ``name``, and kcplan's own settings (state, lifecycle, offsets,
canary) stay outside ``config`` and never reach the cluster.
"""

from __future__ import annotations

from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

RunState = Literal["RUNNING", "PAUSED", "STOPPED"]
RUN_STATES: tuple[str, ...] = ("RUNNING", "PAUSED", "STOPPED")
WRAPPER_KEYS: tuple[str, ...] = ("name", "config", "state", "lifecycle", "offsets", "canary")


class Lifecycle(BaseModel):
    """kcplan's own per-connector settings; never sent to the cluster."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)
    prevent_destroy: bool = False


class OffsetsOp(BaseModel):
    """A one-shot offsets operation (KIP-875) declared in a connector file: it runs once per ``token``.

    ``reset`` deletes the connector's offsets (it starts over); ``set`` writes ``entries``, each
    ``{"partition": {...}, "offset": {...} or None}`` as ``PATCH /connectors/NAME/offsets`` takes them.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)
    token: str = Field(min_length=1)
    kind: Literal["reset", "set"]
    entries: tuple[dict[str, Any], ...] = ()


class ConnectorSpec(BaseModel):
    """One desired connector: the flat Connect config (all values strings, ``name`` included)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str = Field(min_length=1)
    config: dict[str, str]
    state: RunState = "RUNNING"
    lifecycle: Lifecycle = Field(default_factory=Lifecycle)
    offsets: OffsetsOp | None = None
    canary: bool = Field(default=False, description="applied in the first wave of 'apply --canary N'")
    source: str = Field(default="", description="file the connector was rendered from, for messages")

    @model_validator(mode="after")
    def _name_in_config(self) -> Self:
        if self.config.get("name") != self.name:
            raise ValueError(f"config['name'] must equal the connector name {self.name!r}")
        return self

    @property
    def connector_class(self) -> str:
        return self.config.get("connector.class", "")
