"""What a command needs from the global options: the project, the environment, its settings."""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from kcplan.config.environment import Settings, available_envs, load_settings, state_path
from kcplan.errors import ConfigError, UsageError

if TYPE_CHECKING:
    from kcplan.config.sensitive import SensitiveKeys
    from kcplan.connect.client import ConnectClient
    from kcplan.state.store import StateStore


@dataclass
class Context:
    project_dir: Path
    env_name: str
    debug: bool = False
    ext_vars: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_args(cls, args: argparse.Namespace, ext_vars: dict[str, str] | None = None) -> Context:
        return cls(Path(args.project_dir), require_env(args), bool(args.debug), dict(ext_vars or {}))

    @cached_property
    def settings(self) -> Settings:
        return load_settings(self.project_dir, self.env_name, self.ext_vars)

    @property
    def state_path(self) -> Path:
        return state_path(self.project_dir, self.env_name, self.settings)

    def state_store(self, backend: str | None = None) -> StateStore:
        """The environment's state store: every command reads and writes the state through it, so the
        backend (the settings' ``state.backend``; ``backend`` names another, for migrate) is chosen here."""
        from kcplan.state.store import StateStore

        chosen = backend or self.settings.state.backend
        if chosen == "local":
            return StateStore(self.state_path)
        from kcplan.state.backends.s3 import S3Backend

        state = self.settings.state
        if not state.bucket or not state.key:
            raise ConfigError(f"environment '{self.env_name}' has no S3 state configured",
                              "Add state: { backend: 's3', bucket: '...', key: '...' } to its kcplan.jsonnet.")
        return StateStore(S3Backend(state.bucket, state.key, region=state.region, endpoint_url=state.endpoint_url,
                                    timeout=state.timeout))

    @cached_property
    def sensitive(self) -> SensitiveKeys:
        """The project's sensitive keys (schemas' PASSWORD keys, the settings' list, the name patterns).

        A broken schema file is reported by the commands that render; here it must not stop e.g. a
        status report, so the settings' keys and the name patterns are used alone then."""
        from kcplan.config.schemas import SchemaSet, load_schemas
        from kcplan.config.sensitive import SensitiveKeys

        try:
            schemas = load_schemas(self.project_dir)
        except ConfigError:
            schemas = SchemaSet()
        return SensitiveKeys.from_schemas(schemas, self.settings.sensitive_keys)

    def client(self) -> ConnectClient:
        """The Connect client; it masks the values of this project's sensitive keys in server messages."""
        from kcplan.connect.client import ConnectClient

        return ConnectClient.from_settings(self.settings, debug=self.debug, sensitive=self.sensitive)


def require_env(args: argparse.Namespace) -> str:
    if args.env:
        return str(args.env)
    known = ", ".join(available_envs(Path(args.project_dir))) or "none found"
    raise UsageError(
        "no environment given",
        f"Pass -e NAME or set KCPLAN_ENV (environments: {known}).",
    )
