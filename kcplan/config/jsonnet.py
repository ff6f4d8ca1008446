"""Jsonnet evaluation through gojsonnet (the Go implementation; bench/render/results.md says why).

Many files are rendered in ONE evaluation (a generated snippet imports them all, so shared
libraries are parsed once); only when that fails is each file evaluated alone, to name the
failing file(s). Paths in messages are shown relative to the project root.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

import _gojsonnet

from kcplan.errors import RenderError

HINT = "Fix the Jsonnet at the file and line shown, then run again."
_LOCATION = r"[^\s]+:(?:\d+:\d+(?:-\d+)?|\(\d+:\d+\)-\(\d+:\d+\))"
_STATIC = re.compile(rf"^({_LOCATION}) (.*)$")
_FRAME = re.compile(rf"^\t({_LOCATION})\t")
_MISSING_EXT_VAR = re.compile(r"^RUNTIME ERROR: Undefined external variable: (.+)$", re.MULTILINE)
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_KEYWORDS = frozenset({
    "assert", "else", "error", "false", "for", "function", "if", "import", "importstr", "importbin",
    "in", "local", "null", "tailstrict", "then", "self", "super", "true",
})
_TLA_PREFIX = "__kcplan_tla__"


def ext_vars_for(env_name: str | None, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """Ext vars as Jsonnet users expect: environment variables, then `env`, then --ext-str values."""
    values = dict(os.environ)
    if env_name:
        values["env"] = env_name
    values.update(extra or {})
    return values


@dataclass
class Importer:
    """Import callback: relative to the importing file, then each search dir in order.

    ``root`` is the folder relative paths are read from; names handed back to Jsonnet stay
    relative to it, so messages say ``environments/lib/s3.libsonnet:3:5``. File contents are
    cached across evaluations. Failures are also kept here because gojsonnet garbles the message
    of an exception raised inside the callback.
    """

    search_dirs: Sequence[str | Path] = ()
    root: Path = Path()
    cache: dict[str, bytes | None] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)

    def read(self, name: str) -> bytes | None:
        if name not in self.cache:
            try:
                self.cache[name] = (self.root / name).read_bytes()
            except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
                self.cache[name] = None
        return self.cache[name]

    def display(self, candidate: str) -> str:
        name = os.path.normpath(candidate)
        if not os.path.isabs(name) and (name == ".." or name.startswith("../")):
            return os.path.normpath(self.root.absolute() / name)
        return name

    def __call__(self, base: str, rel: str) -> tuple[str, bytes]:
        if os.path.isabs(rel):
            candidates = [rel]
        else:
            candidates = [os.path.join(base, rel)] + [os.path.join(str(d), rel) for d in self.search_dirs]
        for candidate in candidates:
            name = self.display(candidate)
            content = self.read(name)
            if content is not None:
                return name, content
        searched = ", ".join(_dir_label(d) for d in [base, *map(str, self.search_dirs)])
        message = f"couldn't find import {rel!r} (searched {searched})"
        self.failures.append(message)
        raise RuntimeError(message)


def _dir_label(directory: str) -> str:
    label = directory.rstrip("/")
    return (label or ".") + "/"


@dataclass(frozen=True)
class JsonnetFailure:
    """One file that failed to evaluate, with the message shown to the user."""

    file: str
    message: str
    missing_ext_var: str | None = None


def format_error(raw: str) -> str:
    """gojsonnet's error text, headed by 'file:line:col: message'; trace lines indented."""
    lines = [line.rstrip("\t ") for line in raw.strip("\n").split("\n")]
    static = _STATIC.match(lines[0])
    if static:
        rest = [line for line in lines[1:] if line.strip()]
        return "\n".join([f"{static.group(1)}: {static.group(2)}", *("    " + r.strip() for r in rest)])
    head = lines[0].removeprefix("RUNTIME ERROR: ")
    message_lines = [head]
    frames: list[str] = []
    for line in lines[1:]:
        (frames if line.startswith("\t") else message_lines).append(line)
    site = next((m.group(1) for m in map(_FRAME.match, frames) if m), None)
    message = "\n".join(message_lines)
    headline = f"{site}: {message}" if site else message
    return "\n".join([headline, *("    " + f.strip().replace("\t", "  ") for f in frames)])


def _raise(failures: Sequence[JsonnetFailure]) -> NoReturn:
    if len(failures) == 1:
        text = f"Jsonnet error in {failures[0].file}:\n  " + failures[0].message.replace("\n", "\n  ")
    else:
        parts = [f"{f.file}:\n    " + f.message.replace("\n", "\n    ") for f in failures]
        text = f"Jsonnet errors in {len(failures)} files:\n  " + "\n  ".join(parts)
    missing = sorted({f.missing_ext_var for f in failures if f.missing_ext_var})
    hint = HINT
    if missing:
        hint = ("Set the environment variable(s) " + ", ".join(missing)
                + " or pass --ext-str NAME=VALUE (or --ext-str-file NAME=PATH).")
    raise RenderError(text, hint)


class _Evaluator:
    """One set of ext vars / top-level args / importer, used for one or many files."""

    def __init__(self, importer: Importer, ext_vars: Mapping[str, str], tla_vars: Mapping[str, str]) -> None:
        self.importer = importer
        self.ext_vars = dict(ext_vars)
        self.tla_vars = dict(tla_vars)

    def snippet(self, filename: str, text: str, tla: bool = True) -> str | JsonnetFailure:
        """Evaluate text named filename; the JSON text, or the failure as the user should see it."""
        self.importer.failures.clear()
        try:
            return str(_gojsonnet.evaluate_snippet(
                filename, text, ext_vars=self.ext_vars,
                tla_vars=self.tla_vars if tla else {}, import_callback=self.importer,
            ))
        except (RuntimeError, UnicodeDecodeError) as exc:
            raw = str(exc) if isinstance(exc, RuntimeError) else "RUNTIME ERROR: importer error"
            if self.importer.failures:  # the garbled importer message: use our own
                return JsonnetFailure(filename, self.importer.failures[-1])
            missing = _MISSING_EXT_VAR.search(raw)
            return JsonnetFailure(filename, format_error(raw), missing.group(1) if missing else None)

    def file(self, name: str) -> str | JsonnetFailure:
        content = self.importer.read(name)
        if content is None:
            return JsonnetFailure(name, "file not found or not readable")
        try:
            text = content.decode("utf-8")
        except UnicodeDecodeError as exc:
            return JsonnetFailure(name, f"not UTF-8 text ({exc.reason} at byte {exc.start})")
        if "\x00" in text:  # gojsonnet would raise a bare ValueError('embedded null character')
            return JsonnetFailure(name, f"contains a NUL byte at character {text.index(chr(0))} (not a text file?)")
        return self.snippet(name, text)

    def combined(self, names: Sequence[str]) -> str | None:
        """All files in one evaluation (a JSON array in file order), or None when anything fails."""
        if not all(_IDENTIFIER.match(k) and k not in _KEYWORDS for k in self.tla_vars):
            return None  # such names cannot be written as named arguments: evaluate file by file
        args = ", ".join(f"{k}=std.extVar({json.dumps(_TLA_PREFIX + k)})" for k in sorted(self.tla_vars))
        lines = [f"local call(v) = if std.isFunction(v) then v({args}) else v;", "["]
        lines += [f"  call(import {json.dumps(name)})," for name in names]
        lines.append("]")
        saved = dict(self.ext_vars)
        self.ext_vars.update({_TLA_PREFIX + k: v for k, v in self.tla_vars.items()})
        try:
            result = self.snippet("<kcplan: all connector files>", "\n".join(lines), tla=False)
        finally:
            self.ext_vars = saved
        return result if isinstance(result, str) else None


def evaluate_files(
    names: Sequence[str],
    root: Path,
    ext_vars: Mapping[str, str] | None = None,
    tla_vars: Mapping[str, str] | None = None,
    search_dirs: Sequence[str | Path] = (),
) -> dict[str, Any]:
    """Evaluate files (paths relative to ``root``) to Python data, keyed by name, in order.

    Raises RenderError naming every failing file and the file:line of each error.
    """
    if not names:
        return {}
    evaluator = _Evaluator(Importer(search_dirs, root), ext_vars or {}, tla_vars or {})
    combined = evaluator.combined(names)
    if combined is not None:
        return dict(zip(names, json.loads(combined), strict=True))
    results: dict[str, Any] = {}
    failures: list[JsonnetFailure] = []
    for name in names:
        output = evaluator.file(name)
        if isinstance(output, JsonnetFailure):
            failures.append(output)
        else:
            results[name] = json.loads(output)
    if failures:
        _raise(failures)
    return results


def evaluate_file(
    path: Path,
    ext_vars: Mapping[str, str] | None = None,
    tla_vars: Mapping[str, str] | None = None,
    search_dirs: Sequence[Path] = (),
    stub_missing_ext_vars: bool = False,
) -> Any:
    """Evaluate one Jsonnet file to Python data; errors become RenderError naming file and line.

    With ``stub_missing_ext_vars`` an ext var that is not set reads as "" instead of failing:
    offline commands use it to read the settings they need without the secrets they don't.
    """
    evaluator = _Evaluator(Importer(search_dirs), ext_vars or {}, tla_vars or {})
    output = evaluator.file(str(path))
    while isinstance(output, JsonnetFailure):
        missing = output.missing_ext_var
        if not (stub_missing_ext_vars and missing) or missing in evaluator.ext_vars:
            _raise([output])
        evaluator.ext_vars[missing] = ""
        output = evaluator.file(str(path))
    return json.loads(output)
