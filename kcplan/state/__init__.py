"""State: which connectors kcplan manages and what it last applied (model, store, lock, digests)."""

from kcplan.state.model import ManagedConnector, State
from kcplan.state.store import StateStore

__all__ = ["ManagedConnector", "State", "StateStore"]
