"""The desired state of one connector, after rendering, normalisation and validation.

The issue-3 work (render/validate) builds these from Jsonnet output; the planner and
apply only ever see this frozen shape.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

RunState = Literal["RUNNING", "PAUSED", "STOPPED"]


class Lifecycle(BaseModel):
    """kcplan's own per-connector settings; never sent to the cluster."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    prevent_destroy: bool = False


class ConnectorSpec(BaseModel):
    """One desired connector: the flat Connect config (all values strings, ``name`` included)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str
    config: dict[str, str]
    state: RunState = "RUNNING"
    lifecycle: Lifecycle = Field(default_factory=Lifecycle)
    source: str = Field(default="", description="file the connector was rendered from, for messages")

    @property
    def connector_class(self) -> str:
        return self.config.get("connector.class", "")
