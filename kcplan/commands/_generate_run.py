"""`import --generate`: the I/O around kcplan.generate.build (plugin definitions, files, SECRETS.md).

Nothing is written before every file has been checked: an existing file stops the run (unless
--force) with nothing changed. Files are written one by one, atomically; when one fails, the files
this run created are removed and the ones it overwrote restored, so a failed run leaves the repository
as it was.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping
from pathlib import Path

from kcplan.atomic_write import write_atomic
from kcplan.config.environment import env_dir
from kcplan.config.layout import connectors_folder
from kcplan.config.sensitive import SensitiveKeys
from kcplan.connect.client import ConnectClient
from kcplan.connect.models import LiveConnector
from kcplan.context import Context
from kcplan.errors import ConfigError, KcplanError, UsageError
from kcplan.generate.build import Generated, LiveInput, generate
from kcplan.generate.secrets_doc import secrets_markdown
from kcplan.plan.drift import run_state_of

SECRETS_FILE = "SECRETS.md"


def plugin_sensitive(client: ConnectClient, sensitive: SensitiveKeys, classes: list[str],
                     warnings: list[str]) -> SensitiveKeys:
    """``sensitive`` plus the keys each installed plugin defines as PASSWORD (one request per class)."""
    by_class: dict[str, list[str]] = {}
    for cls in classes:
        try:
            definitions = client.plugin_config(cls)
        except KcplanError as exc:
            warnings.append(f"could not read the config definitions of {cls} ({exc.message}): its secrets "
                            "are found by the schemas, the settings' sensitive_keys and the name patterns only")
            continue
        by_class[cls] = [str(d["name"]) for d in definitions if d.get("type") == "PASSWORD" and "name" in d]
    return sensitive.with_class_keys(by_class)


def prepare(ctx: Context, live: Mapping[str, LiveConnector], names: list[str], sensitive: SensitiveKeys,
            defaults: bool) -> Generated:
    """The files for the live connectors ``names`` (pure apart from locating the connector folder)."""
    folder = connectors_folder(ctx.project_dir, ctx.env_name, ctx.ext_vars)
    inputs = [LiveInput(n, {**live[n].config, "name": n}, run_state_of(live[n])) for n in names]
    return generate(inputs, connectors_dir=os.path.relpath(folder, ctx.project_dir),
                    is_secret=sensitive.hides, defaults=defaults)


def secrets_path(ctx: Context) -> Path:
    return env_dir(ctx.project_dir, ctx.env_name) / SECRETS_FILE


def refuse_existing(project_dir: Path, generated: Generated) -> None:
    """UsageError naming every file that exists already (before anything is written)."""
    taken = [p for p in generated.files if (project_dir / p).exists()]
    if taken:
        shown = "\n  - ".join(taken)
        raise UsageError(f"these files exist already; nothing was written or imported:\n  - {shown}",
                         "Move them away, choose other connectors, or pass --force to overwrite them.")


def write(ctx: Context, generated: Generated) -> None:
    """Write the files and SECRETS.md (merged with the one there); see write_files."""
    files = dict(generated.files)
    if generated.secrets:
        doc = secrets_path(ctx)
        existing = doc.read_text(encoding="utf-8") if doc.is_file() else ""
        files[os.path.relpath(doc, ctx.project_dir)] = secrets_markdown(ctx.env_name, generated.secrets, existing)
    write_files(ctx.project_dir, files)


def write_files(project_dir: Path, files: Mapping[str, str]) -> None:
    """Write ``files`` (paths relative to ``project_dir``) one by one, atomically. When one fails, the
    files this run created are removed and the ones it replaced (--force, SECRETS.md) get their old bytes
    and mode back, then ConfigError: a failed run leaves the repository as it was."""
    created: list[Path] = []
    replaced: dict[Path, tuple[bytes, int]] = {}
    try:
        for rel, text in files.items():
            path = project_dir / rel
            if path.is_file():
                replaced.setdefault(path, (path.read_bytes(), path.stat().st_mode & 0o777))
            else:
                created.append(path)
            path.parent.mkdir(parents=True, exist_ok=True)
            write_atomic(path, text)
    except OSError as exc:
        for path in created:
            with contextlib.suppress(OSError):
                path.unlink()
        for path, (data, mode) in replaced.items():
            with contextlib.suppress(OSError):
                write_atomic(path, data, mode=mode)
        raise ConfigError(f"could not write {exc.filename or 'a generated file'}: {exc.strerror or exc}",
                          "Nothing was imported and the repository is as it was (files this run created were "
                          "removed, files it overwrote restored); check the folder's permissions and free "
                          "space, then run the command again.") from None
