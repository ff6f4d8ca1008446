"""The saved plan file (``kcplan plan --out``): versioned JSON, 0600, checksummed.

    {"kind": "kcplan-plan", "format_version": 1, "kcplan_version": "...", "created_at": "...",
     "checksum": "sha256:<hex of the canonical JSON of 'plan'>", "plan": {...Plan...}}

The checksum catches truncated or hand-edited files (it is not a signature). docs/plan-format.md
documents every field; apply reads the file with :func:`read`.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from kcplan import __version__
from kcplan.atomic_write import write_atomic
from kcplan.errors import PlanError
from kcplan.plan.model import Action, Plan
from kcplan.state.digest import canonical_json

KIND = "kcplan-plan"
FORMAT_VERSION = 1
_HINT = "Make a new one with 'kcplan plan -e ENV --out FILE'."


@dataclass(frozen=True)
class PlanFile:
    """A plan read back from disk, with the facts about the file itself."""

    plan: Plan
    kcplan_version: str
    created_at: str
    format_version: int = FORMAT_VERSION


def checksum(body: Any) -> str:
    return "sha256:" + hashlib.sha256(canonical_json(body).encode()).hexdigest()


def dumps(plan: Plan, created_at: str) -> bytes:
    body = plan.model_dump(mode="json")
    doc = {
        "kind": KIND,
        "format_version": FORMAT_VERSION,
        "kcplan_version": __version__,
        "created_at": created_at,
        "checksum": checksum(body),
        "plan": body,
    }
    return (json.dumps(doc, indent=1, ensure_ascii=False) + "\n").encode()


def write(path: Path, plan: Plan, created_at: str) -> None:
    """Write atomically with mode 0600 (a plan names connectors and configs)."""
    try:
        write_atomic(path, dumps(plan, created_at), mode=0o600)
    except OSError as exc:
        raise PlanError(f"could not write the plan file {path}: {exc.strerror or exc}",
                        "Check that its folder exists and is writable.") from None


def loads(raw: bytes, path: Path | str = "<plan>") -> PlanFile:
    """Parse and check a plan file; every problem is a PlanError naming the file."""
    try:
        doc = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise PlanError(f"the plan file {path} is not valid JSON (truncated or edited?): {exc}", _HINT) from None
    if not isinstance(doc, dict) or doc.get("kind") != KIND:
        raise PlanError(f"{path} is not a kcplan plan file", _HINT)
    version = doc.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION or version < 1:
        raise PlanError(f"the plan file {path} has format version {version!r}; this kcplan "
                        f"({__version__}) reads version {FORMAT_VERSION}",
                        "Use the kcplan version that wrote it. " + _HINT)
    body = doc.get("plan")
    if doc.get("checksum") != checksum(body):
        raise PlanError(f"the plan file {path} was changed after kcplan wrote it (checksum mismatch)",
                        "Never edit a plan file. " + _HINT)
    try:
        plan = Plan.model_validate(body)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(top level)"
        raise PlanError(f"the plan file {path} is broken at {where}: {first['msg']}", _HINT) from None
    problem = inconsistency(plan)
    if problem:
        raise PlanError(f"the plan file {path} is broken at {problem}", _HINT)
    return PlanFile(plan=plan, kcplan_version=str(doc.get("kcplan_version", "")),
                    created_at=str(doc.get("created_at", "")), format_version=version)


_NO_CONFIG = frozenset({Action.DELETE, Action.FORGET, Action.NOOP})
_RUN_STATE_OF = {Action.PAUSE: "PAUSED", Action.RESUME: "RUNNING", Action.STOP: "STOPPED"}


def inconsistency(plan: Plan) -> str | None:
    """What no planner writes (docs/plan-format.md), so apply never meets it: an action that writes
    a config without ``desired_config``, a pause/resume/stop to another run state, an offsets change
    without its operation (or an operation on a delete), or a connector named twice. Returns where and what, or None."""
    seen: set[str] = set()
    for index, change in enumerate(plan.changes):
        where = f"changes.{index} (connector {change.name!r}, {change.action.value})"
        if change.name in seen:
            return f"{where}: the connector appears twice in the plan"
        seen.add(change.name)
        if change.action not in _NO_CONFIG and change.desired_config is None:
            return f"{where}: desired_config is missing"
        if change.action is Action.OFFSETS and change.offsets is None:
            return f"{where}: the offsets operation is missing"
        if change.action in _NO_CONFIG and change.offsets is not None:
            return f"{where}: a {change.action.value} carries no offsets operation"
        wanted = _RUN_STATE_OF.get(change.action)
        if wanted is not None and change.state_to != wanted:
            return f"{where}: state_to must be {wanted}, not {change.state_to}"
    return None


def read(path: Path) -> PlanFile:
    try:
        raw = Path(path).read_bytes()
    except FileNotFoundError:
        raise PlanError(f"the plan file {path} does not exist", _HINT) from None
    except OSError as exc:
        raise PlanError(f"cannot read the plan file {path}: {exc.strerror or exc}", _HINT) from None
    return loads(raw, path)
