"""kcplan's own settings of one connector object (pure): run state, lifecycle, offsets, canary.

The wrapped form ``{name, config, state, lifecycle, offsets, canary}`` carries them next to the Connect
config; the flat form is the Connect config alone, so these keys there are a mistake worth naming (they
would otherwise be sent to the cluster as config keys).
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from kcplan.config.models import RUN_STATES, WRAPPER_KEYS, Lifecycle
from kcplan.config.offsets_spec import Problems, parse_offsets
from kcplan.values import json_type

KCPLAN_KEYS = ("state", "lifecycle", "offsets", "canary")


def wrapper_extras(obj: dict[str, Any], wrapped: bool) -> tuple[dict[str, Any] | None, Problems]:
    """(the ConnectorSpec fields state, lifecycle, offsets, canary; or None) and the problems as (key, message)."""
    problems: Problems = []
    if not wrapped:
        for key in KCPLAN_KEYS:
            if key in obj:
                problems.append((key, "is a kcplan setting, not a Connect config key: use the wrapped form "
                                      "{name, config: {...}, state, lifecycle, offsets, canary}"))
        return (None if problems else {}), problems
    allowed = ", ".join(WRAPPER_KEYS)
    for key in sorted(set(obj) - set(WRAPPER_KEYS)):
        problems.append((key, f"unknown key in the wrapped form (allowed: {allowed})"))
    state = obj.get("state", "RUNNING")
    if state not in RUN_STATES:
        shown = repr(state) if isinstance(state, str) else json_type(state)
        problems.append(("state", f"must be one of {', '.join(RUN_STATES)}, got {shown}"))
    lifecycle = _lifecycle(obj.get("lifecycle", {}), problems)
    offsets, offsets_problems = parse_offsets(obj.get("offsets"))
    problems += offsets_problems
    canary = obj.get("canary", False)
    if not isinstance(canary, bool):
        problems.append(("canary", f"must be true or false, got {json_type(canary)}"))
    if problems:
        return None, problems
    return {"state": state, "lifecycle": lifecycle, "offsets": offsets, "canary": canary}, []


def _lifecycle(value: Any, problems: Problems) -> Lifecycle | None:
    if not isinstance(value, dict):
        problems.append(("lifecycle", f"must be an object like {{prevent_destroy: true}}, got {json_type(value)}"))
        return None
    try:
        return Lifecycle.model_validate(value)
    except ValidationError as exc:
        allowed = ", ".join(Lifecycle.model_fields)
        for err in exc.errors():
            key = "lifecycle." + ".".join(str(p) for p in err["loc"])
            if err["type"] == "extra_forbidden":
                problems.append((key, f"unknown lifecycle setting (allowed: {allowed})"))
            elif err["type"] == "bool_type":
                problems.append((key, f"must be true or false, got {json_type(err['input'])}"))
            else:
                problems.append((key, str(err["msg"])))
        return None
