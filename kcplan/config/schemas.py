"""Per connector-class schemas (``schemas/<connector.class>.json``): load them and check configs.

A schema says which keys a class requires, their types, allowed values and ranges, defaults,
and which keys are sensitive. Files are hand-written for custom plugins or pulled from a live
cluster's plugin definitions (``kcplan schemas pull``) so that validation works offline, in CI.
The format is described in schemas/README.md. Defaults are documentation and make a key
optional; they are never added to a config (Connect applies them itself, and adding them would
make kcplan write keys the user never wrote).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from kcplan.atomic_write import write_atomic
from kcplan.config.sensitive import is_placeholder
from kcplan.errors import ConfigError

SCHEMA_DIR = "schemas"
KeyType = Literal["string", "int", "short", "long", "double", "boolean", "list", "class", "password"]
_INT_RANGES = {"short": (-(2**15), 2**15 - 1), "int": (-(2**31), 2**31 - 1), "long": (-(2**63), 2**63 - 1)}
_INTEGER = re.compile(r"^[+-]?\d+$")
_DOUBLE = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?[dDfF]?$|^[+-]?(NaN|Infinity)$")
_CLASS = re.compile(r"^[A-Za-z_$][\w$]*(\.[A-Za-z_$][\w$]*)*$")
_TYPE_WORDS = {
    "int": "an integer (int)", "short": "an integer (short)", "long": "an integer (long)",
    "double": "a number (double)", "boolean": "true or false", "class": "a Java class name",
}


class KeySpec(BaseModel):
    """What a schema says about one config key."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    type: KeyType = "string"
    required: bool = False
    default: str | None = None
    allowed: list[str] | None = None
    case_insensitive: bool = False
    min: float | None = None
    max: float | None = None
    sensitive: bool = False
    doc: str = ""

    @model_validator(mode="after")
    def _consistent(self) -> KeySpec:
        if self.required and self.default is not None:
            raise ValueError("a key with a default cannot be required")
        if (self.min is not None or self.max is not None) and self.type not in ("short", "int", "long", "double"):
            raise ValueError("min/max apply only to short, int, long and double keys")
        return self

    @property
    def is_sensitive(self) -> bool:
        return self.sensitive or self.type == "password"


class ClassSchema(BaseModel):
    """The schema of one connector class, as stored in schemas/<class>.json."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)
    connector_class: str = Field(alias="connector.class")
    origin: Literal["hand-written", "pulled"] = "hand-written"
    description: str = ""
    aliases: list[str] = Field(default_factory=list)
    keys: dict[str, KeySpec] = Field(default_factory=dict)

    @property
    def names(self) -> tuple[str, ...]:
        """Every connector.class value this schema answers to: the class, its aliases, and the
        simple class name with and without 'Connector' (Connect accepts those too)."""
        names = [self.connector_class, *self.aliases, *short_names(self.connector_class)]
        return tuple(dict.fromkeys(names))

    def sensitive_keys(self) -> frozenset[str]:
        return frozenset(k for k, spec in self.keys.items() if spec.is_sensitive)

    def problems(self, config: Mapping[str, str], skip: Iterable[str] = ()) -> Iterator[tuple[str, str, str]]:
        """(key, message, shown value) for every rule the config breaks; ``skip`` keys are checked elsewhere."""
        skipped = set(skip)
        for key, spec in sorted(self.keys.items()):
            if key in skipped:
                continue
            value = config.get(key)
            if value is None:
                if spec.required:
                    yield key, "missing (required by the schema of this class)", ""
                continue
            if is_placeholder(value):
                continue  # resolved by the worker at run time
            for message in check_value(spec, value):
                yield key, message, value

    def to_json(self) -> str:
        data = self.model_dump(by_alias=True, exclude_defaults=True)
        data["keys"] = {k: {"type": v.type, **v.model_dump(exclude_defaults=True)}
                        for k, v in sorted(self.keys.items())}
        return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def check_value(spec: KeySpec, value: str) -> list[str]:
    """Messages for a value that does not fit its key's type, range or allowed values ({value} marks it)."""
    text = value.strip()
    if spec.type in _INT_RANGES:
        low, high = _INT_RANGES[spec.type]
        if not _INTEGER.match(text):
            return [f"must be {_TYPE_WORDS[spec.type]}, got {{value}}"]
        if not low <= int(text) <= high:
            return [f"must be {_TYPE_WORDS[spec.type]} between {low} and {high}, got {{value}}"]
        return _range(spec, float(int(text)))
    if spec.type == "double":
        if not _DOUBLE.match(text):
            return [f"must be {_TYPE_WORDS['double']}, got {{value}}"]
        return _range(spec, float(text.rstrip("dDfF")))
    if spec.type == "boolean" and text.lower() not in ("true", "false"):
        return ["must be true or false, got {value}"]
    if spec.type == "class" and not _CLASS.match(text):
        return ["must be a Java class name, got {value}"]
    if spec.allowed is None:
        return []
    items = [i.strip() for i in text.split(",") if i.strip()] if spec.type == "list" else [value]
    bad = [i for i in items if not _allowed(spec, i)]
    if not bad:
        return []
    choices = ", ".join(repr(a) for a in spec.allowed)
    if spec.type == "list":
        return [f"element {b!r} of {{value}} must be one of {choices}" for b in bad]
    return [f"must be one of {choices}, got {{value}}"]


def _allowed(spec: KeySpec, item: str) -> bool:
    allowed = spec.allowed or []
    if spec.case_insensitive:
        return item.lower() in (a.lower() for a in allowed)
    return item in allowed


def _range(spec: KeySpec, number: float) -> list[str]:
    if math.isnan(number):
        return [] if spec.min is None and spec.max is None else ["must be a number in range, got {value}"]
    if spec.min is not None and number < spec.min:
        return [f"must be at least {_num(spec.min)}, got {{value}}"]
    if spec.max is not None and number > spec.max:
        return [f"must be at most {_num(spec.max)}, got {{value}}"]
    return []


def _num(number: float) -> str:
    return str(int(number)) if number.is_integer() else repr(number)


class SchemaSet:
    """All schemas of a project, looked up by connector.class (or a name Connect also accepts)."""

    def __init__(self, schemas: Iterable[ClassSchema] = (), files: Mapping[str, str] | None = None) -> None:
        self.schemas = tuple(schemas)
        self.files = dict(files or {})  # class -> schema file, for messages
        self._index: dict[str, ClassSchema] = {}
        for schema in self.schemas:  # full names and explicit aliases win over short names
            for name in (schema.connector_class, *schema.aliases):
                self._index.setdefault(name, schema)
        for schema in self.schemas:
            for name in schema.names:
                self._index.setdefault(name, schema)

    def __iter__(self) -> Iterator[ClassSchema]:
        return iter(self.schemas)

    def __len__(self) -> int:
        return len(self.schemas)

    def get(self, connector_class: str) -> ClassSchema | None:
        return self._index.get(connector_class.strip())


def short_names(connector_class: str) -> list[str]:
    """Connect also accepts the simple class name, and that name without 'Connector'."""
    simple = connector_class.rsplit(".", 1)[-1]
    names = [simple] if simple != connector_class else []
    if simple.endswith("Connector") and len(simple) > len("Connector"):
        names.append(simple[: -len("Connector")])
    return names


def schema_dir(project_dir: Path) -> Path:
    return project_dir / SCHEMA_DIR


def schema_path(project_dir: Path, connector_class: str) -> Path:
    return schema_dir(project_dir) / f"{connector_class}.json"


def load_schemas(project_dir: Path) -> SchemaSet:
    """Every schemas/*.json; all broken files are reported together, naming file and key."""
    folder = schema_dir(project_dir)
    if not folder.is_dir():
        return SchemaSet()
    schemas: list[ClassSchema] = []
    files: dict[str, str] = {}
    problems: list[str] = []
    for path in sorted(folder.glob("*.json")):
        shown = f"{SCHEMA_DIR}/{path.name}"
        try:
            schema = parse_schema(path.read_text(encoding="utf-8"), path.stem)
        except ValueError as exc:
            problems.append(f"{shown}: {exc}")
            continue
        schemas.append(schema)
        files[schema.connector_class] = shown
    if problems:
        raise ConfigError(
            "invalid schema file(s):\n  " + "\n  ".join(problems),
            "Fix the schema file(s) named above; schemas/README.md describes the format.",
        )
    return SchemaSet(tuple(schemas), files)


def parse_schema(text: str, expected_class: str) -> ClassSchema:
    """One schema file's text; ValueError with a readable message when it is not a valid schema."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    if not isinstance(data, dict):
        raise ValueError("must be a JSON object")
    data.setdefault("connector.class", expected_class)
    try:
        schema = ClassSchema.model_validate(data)
    except ValidationError as exc:
        raise ValueError("; ".join(_pydantic_problem(e) for e in exc.errors())) from None
    if schema.connector_class != expected_class:
        raise ValueError(f"connector.class {schema.connector_class!r} does not match the file name "
                         f"(expected {expected_class!r})")
    return schema


def _pydantic_problem(error: Mapping[str, Any]) -> str:
    key = ".".join(str(p) for p in error["loc"]) or "(top level)"
    return f"{key}: {str(error['msg']).removeprefix('Value error, ')}"


def from_plugin_config(connector_class: str, definitions: Iterable[Mapping[str, Any]],
                       description: str = "") -> ClassSchema:
    """A schema from GET /connector-plugins/CLASS/config (type PASSWORD = sensitive)."""
    keys: dict[str, KeySpec] = {}
    for item in definitions:
        name = str(item.get("name", ""))
        if not name:
            continue
        kind = str(item.get("type") or "STRING").lower()
        key_type: KeyType = kind if kind in _KEY_TYPES else "string"  # type: ignore[assignment]
        default = item.get("default_value")
        default = None if default is None or key_type == "password" else str(default)
        keys[name] = KeySpec(
            type=key_type,
            required=bool(item.get("required")) and default is None,
            default=default,
            doc=str(item.get("documentation") or "").strip(),
        )
    return ClassSchema.model_validate(
        {"connector.class": connector_class, "origin": "pulled", "description": description, "keys": keys})


_KEY_TYPES = frozenset(KeyType.__args__)  # type: ignore[attr-defined]


def write_schema(project_dir: Path, schema: ClassSchema) -> Path:
    path = schema_path(project_dir, schema.connector_class)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, schema.to_json())
    return path
