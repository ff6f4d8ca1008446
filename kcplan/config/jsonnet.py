"""Jsonnet evaluation through gojsonnet (the Go implementation; see bench/render for why)."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import _gojsonnet

from kcplan.errors import RenderError


def ext_vars_for(env_name: str | None, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """Ext vars as Jsonnet users expect: environment variables, then `env`, then --ext-str values."""
    values = dict(os.environ)
    if env_name:
        values["env"] = env_name
    values.update(extra or {})
    return values


def _importer(search_dirs: Sequence[Path]) -> Any:
    """Resolve imports relative to the importing file, then each search dir in order."""
    cache: dict[str, bytes | None] = {}

    def resolve(base: str, rel: str) -> tuple[str, bytes | None]:
        candidates = [Path(rel)] if os.path.isabs(rel) else [Path(base) / rel] + [d / rel for d in search_dirs]
        for candidate in candidates:
            key = os.path.normpath(candidate)
            if key not in cache:
                try:
                    cache[key] = Path(key).read_bytes()
                except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
                    cache[key] = None
            content = cache[key]
            if content is not None:
                return key, content
        raise RuntimeError(f"couldn't find import {rel!r} (searched next to {base} and in "
                           + ", ".join(str(d) for d in search_dirs) + ")")

    return resolve


def evaluate_file(
    path: Path,
    ext_vars: Mapping[str, str] | None = None,
    tla_vars: Mapping[str, str] | None = None,
    search_dirs: Sequence[Path] = (),
) -> Any:
    """Evaluate one Jsonnet file to Python data; errors become RenderError naming file and line."""
    try:
        text = _gojsonnet.evaluate_file(
            str(path),
            ext_vars=dict(ext_vars or {}),
            tla_vars=dict(tla_vars or {}),
            import_callback=_importer(search_dirs),
        )
    except RuntimeError as exc:
        raise RenderError(f"Jsonnet error in {path}: {str(exc).strip()}",
                          "Fix the Jsonnet at the file and line shown, then run again.") from None
    return json.loads(text)
