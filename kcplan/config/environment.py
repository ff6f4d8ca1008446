"""Environment settings: ``environments/<env>/kcplan.jsonnet`` evaluated and checked by Pydantic.

Secrets (passwords, tokens, header values) are ``SecretStr`` so they never show in reprs,
logs or error messages; they come from ``std.extVar`` (every environment variable is an ext var).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    model_validator,
)

from kcplan.config import jsonnet
from kcplan.errors import ConfigError

SETTINGS_FILE = "kcplan.jsonnet"
URL_OVERRIDE_VAR = "KCPLAN_CONNECT_URL"


def _as_url_list(value: object) -> object:
    if isinstance(value, str):
        return [u.strip() for u in value.split(",") if u.strip()]
    return value


def _check_url(url: str) -> str:
    shown = re.sub(r"//[^/@]*@", "//***@", url)  # never echo user:password@
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"{shown!r} is not an http:// or https:// URL")
    try:
        parts = urlsplit(url)
        host, _port = parts.hostname, parts.port
    except ValueError as exc:
        raise ValueError(f"{shown!r} is not a valid URL ({exc})") from None
    if not host:
        raise ValueError(f"{shown!r} has no host name")
    return url.rstrip("/")


Url = Annotated[str, BeforeValidator(lambda v: _check_url(v) if isinstance(v, str) else v)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _header_text(value: str) -> str:
    """HTTP header values (basic auth, bearer token, headers) are Latin-1 text on one line; anything
    else would fail deep inside the HTTP library. The message never shows the value."""
    try:
        value.encode("latin-1")
    except UnicodeEncodeError:
        raise ValueError("HTTP headers carry Latin-1 characters only; this value has others "
                         "(value not shown)") from None
    if "\r" in value or "\n" in value:
        raise ValueError("HTTP header values cannot contain line breaks (value not shown)")
    return value


def _header_secret(value: SecretStr) -> SecretStr:
    _header_text(value.get_secret_value())
    return value


HeaderText = Annotated[str, AfterValidator(_header_text)]
HeaderSecret = Annotated[SecretStr, AfterValidator(_header_secret)]


class BasicAuth(_Strict):
    username: HeaderText
    password: HeaderSecret


class AuthSettings(_Strict):
    basic: BasicAuth | None = None
    bearer_token: HeaderSecret | None = None
    headers: dict[HeaderText, HeaderSecret] = Field(default_factory=dict)


class TlsSettings(_Strict):
    verify: bool = True
    ca_bundle: str | None = None
    client_cert: str | None = None
    client_key: str | None = None


class StateSettings(_Strict):
    """Where the state lives: ``local`` (the file at state_path, the default) or ``s3`` (README 'State')."""

    backend: Literal["local", "s3"] = "local"
    bucket: str | None = Field(default=None, min_length=3)
    key: str | None = Field(default=None, min_length=1)
    region: str | None = None
    endpoint_url: str | None = None  # MinIO, Ceph, R2, SeaweedFS; None: AWS
    timeout: float = Field(default=30.0, gt=0)  # seconds per S3 request (botocore retries 3 times)

    @model_validator(mode="after")
    def _s3_needs_bucket_and_key(self) -> StateSettings:
        if self.backend == "s3" and (not self.bucket or not self.key):
            raise ValueError("the s3 state backend needs 'bucket' and 'key', e.g. state: { backend: 's3', "
                             "bucket: 'acme-kcplan', key: 'prod/kcplan.state.json', region: 'eu-west-1' }")
        return self


class Settings(_Strict):
    """What one environment's kcplan.jsonnet may say."""

    connect_url: Annotated[list[Url], BeforeValidator(_as_url_list), Field(min_length=1)]
    # Writes must outlive the worker's own 90 s REST timeout, or successful writes look failed.
    request_timeout: float = Field(default=120.0, gt=0)
    connect_timeout: float = Field(default=5.0, gt=0)
    retry_deadline: float = Field(default=120.0, gt=0)
    auth: AuthSettings = Field(default_factory=AuthSettings)
    tls: TlsSettings = Field(default_factory=TlsSettings)
    state_path: str | None = None
    state: StateSettings = Field(default_factory=StateSettings)
    connectors_dir: str | None = None  # another folder of connector files (a seed-style repo), see README
    sensitive_keys: list[str] = Field(default_factory=list)
    parallelism: int = Field(default=32, ge=1, le=64)  # measured: README 'Apply', bench/apply/results.md


def environments_dir(project_dir: Path) -> Path:
    return project_dir / "environments"


def env_dir(project_dir: Path, env_name: str) -> Path:
    return environments_dir(project_dir) / env_name


def available_envs(project_dir: Path) -> list[str]:
    root = environments_dir(project_dir)
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if (p / SETTINGS_FILE).is_file())


def load_settings(project_dir: Path, env_name: str, ext_vars: dict[str, str] | None = None) -> Settings:
    """Evaluate and validate the settings file; KCPLAN_CONNECT_URL overrides the URL."""
    path = env_dir(project_dir, env_name) / SETTINGS_FILE
    if not path.is_file():
        known = ", ".join(available_envs(project_dir)) or "none"
        raise ConfigError(
            f"environment {env_name!r} has no settings file {path}",
            f"Create it, or pick one of the environments found: {known} (with -e NAME or KCPLAN_ENV).",
        )
    data = jsonnet.evaluate_file(
        path,
        ext_vars=jsonnet.ext_vars_for(env_name, ext_vars),
        search_dirs=[env_dir(project_dir, env_name), environments_dir(project_dir), project_dir],
    )
    if not isinstance(data, dict):
        raise ConfigError(f"{path} must evaluate to an object, not {type(data).__name__}")
    override = os.environ.get(URL_OVERRIDE_VAR)
    if override:
        data = {**data, "connect_url": override}
    try:
        return _paths_from(project_dir, Settings.model_validate(data))
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            key = ".".join(str(p) for p in err["loc"]) or "(top level)"
            problems.append(f"{key}: {err['msg']}")
        raise ConfigError(
            f"invalid settings in {path}: " + "; ".join(problems),
            "Fix the key(s) named above; see README 'Environment settings' for the allowed keys."
            + (f" (connect_url comes from {URL_OVERRIDE_VAR} here.)" if override else ""),
        ) from None


def _paths_from(project_dir: Path, settings: Settings) -> Settings:
    """Relative TLS file paths are taken from the project folder (like state_path), not from wherever
    kcplan happens to be started (-C)."""
    tls = settings.tls
    resolved = {key: str(project_dir / value) for key in ("ca_bundle", "client_cert", "client_key")
                if (value := getattr(tls, key)) and not Path(value).is_absolute()}
    if not resolved:
        return settings
    return settings.model_copy(update={"tls": tls.model_copy(update=resolved)})


def state_path(project_dir: Path, env_name: str, settings: Settings) -> Path:
    """Where this environment's state file lives (default .kcplan/<env>.state.json)."""
    if settings.state_path:
        p = Path(settings.state_path)
        return p if p.is_absolute() else project_dir / p
    return project_dir / ".kcplan" / f"{env_name}.state.json"
