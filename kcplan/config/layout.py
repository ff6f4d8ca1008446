"""Where an environment's files are: its connector folder and the settings that offline commands read.

The connector folder is ``environments/<env>/connectors`` unless the settings name another one with
``connectors_dir`` (relative to the environment's folder), so a seed-style repo (``connectors/<env>/``
next to a shared ``defaults.libsonnet``) is planned as it is. Offline commands (render, validate) need
only these two settings, so ext vars that are not set (the Connect credentials) read as "" here.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from kcplan.config import jsonnet
from kcplan.config.environment import SETTINGS_FILE, available_envs, env_dir
from kcplan.errors import ConfigError

CONNECTORS_DIR = "connectors"


def offline_settings(project_dir: Path, env_name: str, ext_vars: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The settings file evaluated without secrets; {} when there is none."""
    path = env_dir(project_dir, env_name) / SETTINGS_FILE
    if not path.is_file():
        return {}
    data = jsonnet.evaluate_file(
        path,
        ext_vars=jsonnet.ext_vars_for(env_name, ext_vars),
        search_dirs=[env_dir(project_dir, env_name), project_dir / "environments", project_dir],
        stub_missing_ext_vars=True,
    )
    return data if isinstance(data, dict) else {}


def settings_sensitive_keys(project_dir: Path, env_name: str,
                            ext_vars: Mapping[str, str] | None = None) -> list[str]:
    """The settings file's ``sensitive_keys``, for commands that work offline."""
    keys = offline_settings(project_dir, env_name, ext_vars).get("sensitive_keys", [])
    if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
        path = env_dir(project_dir, env_name) / SETTINGS_FILE
        raise ConfigError(f"invalid settings in {path}: sensitive_keys must be a list of strings",
                          "Fix sensitive_keys, e.g. sensitive_keys: ['my.plugin.secret'].")
    return keys


def connectors_folder(project_dir: Path, env_name: str, ext_vars: Mapping[str, str] | None = None) -> Path:
    """The folder whose ``**/*.jsonnet`` files are the environment's connectors."""
    folder = env_dir(project_dir, env_name)
    if not folder.is_dir():
        known = ", ".join(available_envs(project_dir)) or "none"
        raise ConfigError(
            f"environment {env_name!r} not found (no folder {folder})",
            f"Pick one of the environments found: {known} (with -e NAME or KCPLAN_ENV).",
        )
    setting = offline_settings(project_dir, env_name, ext_vars).get("connectors_dir")
    if setting is None:
        return folder / CONNECTORS_DIR
    if not isinstance(setting, str) or not setting.strip():
        raise ConfigError(f"invalid settings in {folder / SETTINGS_FILE}: connectors_dir must be a folder path",
                          "e.g. connectors_dir: '../../connectors/prod' (relative to the environment's folder).")
    path = Path(os.path.normpath(folder / setting))
    if not path.is_dir():
        raise ConfigError(f"connectors_dir {setting!r} of environment {env_name!r} is not a folder ({path})",
                          "Fix connectors_dir in the settings file: it is taken relative to "
                          f"{folder}.")
    return path


def discover(project_dir: Path, env_name: str, ext_vars: Mapping[str, str] | None = None) -> list[str]:
    """Connector files of the environment, relative to the project dir, in a stable order."""
    return discover_in(project_dir, connectors_folder(project_dir, env_name, ext_vars))


def discover_in(project_dir: Path, connectors: Path) -> list[str]:
    """The ``**/*.jsonnet`` files in ``connectors``, relative to the project dir, in a stable order."""
    if not connectors.is_dir():
        return []
    found = (p for p in connectors.rglob("*.jsonnet") if p.is_file())
    return sorted(Path(os.path.relpath(p, project_dir)).as_posix() for p in found)


def search_dirs(env_name: str) -> list[str]:
    """Where imports are looked up after the importing file's folder (relative to the project)."""
    return [f"environments/{env_name}", "environments", ""]
