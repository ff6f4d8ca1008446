"""Desired state: render an environment's connector files and turn them into ConnectorSpecs.

Every ``environments/<env>/connectors/**/*.jsonnet`` evaluates to one connector or an array of
them (``*.libsonnet`` are libraries only), all in one Jsonnet evaluation. Each connector is
written flat (``{name, "connector.class", ...}``) or wrapped (``{name, config, state, lifecycle,
offsets}``).
Values are normalised to the strings Connect returns (so nothing shows false drift later), then
checked by the base rules and the class's schema. ALL problems are collected and reported
together, each naming file, connector and key; secret values never appear in them.
"""

from __future__ import annotations

import os
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from kcplan.config import jsonnet
from kcplan.config.layout import connectors_folder, discover_in, search_dirs
from kcplan.config.models import WRAPPER_KEYS, ConnectorSpec
from kcplan.config.schemas import SchemaSet, load_schemas
from kcplan.config.sensitive import MASK, SensitiveKeys, is_placeholder
from kcplan.config.wrapper import KCPLAN_KEYS, wrapper_extras
from kcplan.errors import SpecError
from kcplan.values import json_type, scalar_string

MAX_INT = 2**31 - 1
SPEC_HINT = "Fix the problems listed above (file, connector, key), then run 'kcplan validate' again."


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the rendered configs: where (file, connector, key) and what."""

    file: str
    message: str
    connector: str | None = None  # "connector 'x'", or "item [2]" while the name is unknown
    key: str | None = None

    def __str__(self) -> str:
        parts = [self.file]
        if self.connector:
            parts.append(self.connector)
        if self.key is not None:
            parts.append(f"key {self.key!r}")
        return ": ".join(parts) + ": " + self.message


@dataclass
class Desired:
    """What the environment's files say should exist (input of plan and apply)."""

    connectors: dict[str, ConnectorSpec]
    sensitive: SensitiveKeys
    warnings: list[str]


@dataclass
class Rendered:
    """Everything rendering found, problems included (validate reports them, load_desired raises)."""

    env_name: str
    files: list[str]
    connectors: dict[str, ConnectorSpec]
    problems: list[Problem]
    warnings: list[str]
    sensitive: SensitiveKeys
    classes: set[str] = field(default_factory=set)  # every connector.class seen, valid or not


def load_desired(
    project_dir: Path,
    env_name: str,
    *,
    ext_vars: dict[str, str] | None = None,
    tla_vars: dict[str, str] | None = None,
    extra_sensitive_keys: Iterable[str] = (),
) -> Desired:
    """Render and validate; raises RenderError (Jsonnet) or SpecError (every problem at once)."""
    rendered = render_environment(project_dir, env_name, ext_vars=ext_vars, tla_vars=tla_vars,
                                  extra_sensitive_keys=extra_sensitive_keys)
    if rendered.problems:
        raise SpecError([str(p) for p in rendered.problems], SPEC_HINT)
    return Desired(rendered.connectors, rendered.sensitive, rendered.warnings)


def render_environment(
    project_dir: Path,
    env_name: str,
    *,
    ext_vars: Mapping[str, str] | None = None,
    tla_vars: Mapping[str, str] | None = None,
    extra_sensitive_keys: Iterable[str] = (),
    schemas: SchemaSet | None = None,
) -> Rendered:
    """Render every connector file of the environment; problems are returned, not raised."""
    folder = connectors_folder(project_dir, env_name, ext_vars)
    files = discover_in(project_dir, folder)
    data = jsonnet.evaluate_files(
        files,
        root=project_dir,
        ext_vars=jsonnet.ext_vars_for(env_name, ext_vars),
        tla_vars=tla_vars,
        search_dirs=search_dirs(env_name),
    )
    schemas = schemas if schemas is not None else load_schemas(project_dir)
    sensitive = SensitiveKeys.from_schemas(schemas, extra_sensitive_keys)
    builder = _Builder(schemas, sensitive)
    for name in files:
        builder.add_file(name, data[name])
    warnings = builder.warnings(env_name)
    if not files:
        shown = Path(os.path.relpath(folder, project_dir)).as_posix()
        warnings.insert(0, f"no connector files under {shown}/ "
                           "(this environment wants no connectors)")
    return Rendered(env_name, files, builder.connectors, builder.problems, warnings, sensitive,
                    builder.classes)


def name_problem(name: str) -> str | None:
    """Why Connect cannot take this connector name, or None when it can."""
    if name == "":
        return "is empty"
    if not name.strip():
        return "is only whitespace"
    if name != name.strip():
        return f"{name!r} has leading or trailing whitespace"
    if "/" in name:
        return f"{name!r} contains '/', which the Connect REST API cannot address"
    if any(unicodedata.category(c) == "Cc" for c in name):
        return f"{name!r} contains control characters"
    return None


class _Builder:
    """Turns evaluated files into ConnectorSpecs, collecting every problem on the way."""

    def __init__(self, schemas: SchemaSet, sensitive: SensitiveKeys) -> None:
        self.schemas = schemas
        self.sensitive = sensitive
        self.connectors: dict[str, ConnectorSpec] = {}
        self.problems: list[Problem] = []
        self.classes: set[str] = set()
        self.defined_in: dict[str, str] = {}
        self.unknown_classes: dict[str, list[str]] = {}

    def add_file(self, file: str, data: Any) -> None:
        if isinstance(data, dict):
            self.add_item(file, None, data)
        elif isinstance(data, list):
            for index, item in enumerate(data):
                if isinstance(item, dict):
                    self.add_item(file, index, item)
                else:
                    self.problems.append(Problem(file, f"must be a connector object, got {json_type(item)}",
                                                 f"item [{index}]"))
        else:
            self.problems.append(Problem(
                file, f"must evaluate to a connector object or an array of them, got {json_type(data)}"))

    def add_item(self, file: str, index: int | None, obj: dict[str, Any]) -> None:
        item = _Item(file, f"item [{index}]" if index is not None else None)
        wrapped = isinstance(obj.get("config"), dict)
        if "config" in obj and not wrapped and set(obj) <= set(WRAPPER_KEYS):
            self._name(item, obj, obj, wrapped=False)
            item.problem(f"must be an object (the Connect config of the wrapped form), "
                         f"got {json_type(obj['config'])}", "config")
            self.problems.extend(item.problems)
            return
        raw = obj["config"] if wrapped else obj
        name = self._name(item, obj, raw, wrapped)
        extras, extras_problems = wrapper_extras(obj, wrapped)
        for key, message in extras_problems:
            item.problem(message, key)
        # in the flat form kcplan's keys were refused above: not also judged as Connect values
        config = self._config(item, raw, name, skip=() if wrapped else KCPLAN_KEYS)
        cls = config.get("connector.class")
        if cls is None:
            item.problem("missing", "connector.class")
        elif not cls.strip():
            item.problem("is empty", "connector.class")
        else:
            self.classes.add(cls)
        if "tasks.max" in config:
            self._tasks_max(item, config["tasks.max"])
        if cls and cls.strip() and name is not None:
            self._schema(item, cls, config, name)
        if name is not None:
            self._unique(item, name)
        self.problems.extend(item.problems)
        if item.problems or name is None or extras is None:
            return
        try:
            spec = ConnectorSpec.model_validate({"name": name, "config": config, **extras, "source": file})
        except ValidationError as exc:  # the checks above should make this unreachable
            self.problems.append(Problem(file, str(exc.errors()[0]["msg"]), item.label))
            return
        self.connectors[name] = spec

    def _name(self, item: _Item, obj: dict[str, Any], raw: dict[str, Any], wrapped: bool) -> str | None:
        if wrapped and "name" in obj and "name" in raw:
            outer, inner = obj["name"], raw["name"]
            if isinstance(outer, str) and inner != outer:
                item.problem(f"config.name {inner!r} differs from name {outer!r} "
                             "(leave config.name out, or make them equal)", "name")
                return None
        source = obj if wrapped and "name" in obj else raw
        if "name" not in source:
            item.problem("missing", "name")
            return None
        name = source["name"]
        if not isinstance(name, str):
            item.problem(f"must be a string, got {json_type(name)}", "name")
            return None
        problem = name_problem(name)
        if problem:
            item.problem(problem, "name")
            return None
        item.label = f"connector {name!r}"
        return name

    def _config(self, item: _Item, raw: dict[str, Any], name: str | None,
                skip: tuple[str, ...] = ()) -> dict[str, str]:
        config: dict[str, str] = {}
        for key, value in raw.items():
            if key == "name" or key in skip:
                continue
            text = self._value(item, key, value)
            if text is not None:
                config[key] = text
        if name is not None:
            config["name"] = name
        return dict(sorted(config.items()))

    def _value(self, item: _Item, key: str, value: Any) -> str | None:
        if key == "":
            item.problem("empty key", key)
            return None
        if value is None:
            item.problem("null value: give a value or leave the key out", key)
            return None
        if isinstance(value, dict):
            item.problem("nested object: Connect config values are strings, numbers, booleans "
                         "or lists of them (write dotted keys instead)", key)
            return None
        if isinstance(value, list):
            parts = [scalar_string(v) for v in value]
            bad = [i for i, part in enumerate(parts) if part is None]
            for i in bad:
                item.problem(f"list element [{i}] is {json_type(value[i])}: list elements must be "
                             "strings, numbers or booleans", key)
            return None if bad else ",".join(p for p in parts if p is not None)
        return scalar_string(value)

    def _tasks_max(self, item: _Item, value: str) -> None:
        if is_placeholder(value):
            return
        if not (value.isascii() and value.isdigit() and 1 <= int(value) <= MAX_INT):
            item.problem(f"must be a positive integer, got {value!r}", "tasks.max")

    def _schema(self, item: _Item, cls: str, config: dict[str, str], name: str) -> None:
        schema = self.schemas.get(cls)
        if schema is None:
            self.unknown_classes.setdefault(cls, []).append(name)
            return
        checked_elsewhere = {"name", "connector.class", "tasks.max"}
        checked_elsewhere.update(p.key for p in item.problems if p.key)
        for key, message, value in schema.problems(config, skip=checked_elsewhere):
            shown = MASK if self.sensitive.hides(key, value, cls) else repr(value)
            item.problem(message.replace("{value}", shown), key)

    def _unique(self, item: _Item, name: str) -> None:
        first = self.defined_in.get(name)
        if first is None:
            self.defined_in[name] = item.file
        elif first == item.file:
            item.problem("defined more than once in this file (connector names must be unique)")
        else:
            item.problem(f"also defined in {first} (connector names must be unique in an environment)")

    def warnings(self, env_name: str) -> list[str]:
        out = []
        for cls, names in sorted(self.unknown_classes.items()):
            shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
            text = f"no schema for connector class {cls!r} (used by {shown}): checked with the base rules only"
            if cls.isprintable() and " " not in cls:  # else the hint would break the line
                text += f"; add schemas/{cls}.json or run 'kcplan schemas pull -e {env_name} {cls}'"
            out.append(text)
        return out


@dataclass
class _Item:
    """Problems of one connector object while it is being built."""

    file: str
    label: str | None
    problems: list[Problem] = field(default_factory=list)

    def problem(self, message: str, key: str | None = None) -> None:
        self.problems.append(Problem(self.file, message, self.label, key))
