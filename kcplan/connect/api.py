"""What the apply executor and the health judge need from Connect, as a Protocol.

They take a ``ConnectApi`` rather than ``ConnectClient`` so that mypy checks every call they make and
a test or a later client (an async one, a recording one) only has to provide these methods.
ConnectClient satisfies it structurally.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from kcplan.connect.models import ConnectorStatus


class ConnectApi(Protocol):
    """The Connect endpoints apply writes with and verification reads with."""

    def get_config(self, name: str) -> dict[str, str]: ...

    def put_config(self, name: str, config: Mapping[str, str]) -> bool: ...

    def create(self, name: str, config: Mapping[str, str], initial_state: str | None = None) -> None: ...

    def delete(self, name: str) -> None: ...

    def pause(self, name: str) -> None: ...

    def resume(self, name: str) -> None: ...

    def stop(self, name: str) -> None: ...

    def status(self, name: str) -> ConnectorStatus: ...

    def statuses(self) -> dict[str, ConnectorStatus]: ...

    def herder_round_trip(self, name: str) -> float: ...

    def restart(self, name: str, include_tasks: bool = False,
                only_failed: bool = False) -> ConnectorStatus | None: ...
