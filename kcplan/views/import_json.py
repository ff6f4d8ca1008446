"""`kcplan import --json` (pure): what was imported and generated, for scripts that adopt a cluster.

Variable names only, never a value (Generated.secret_values stays out). The plan is the documented
plan JSON of the imported connectors (docs/plan-format.md); null when nothing was imported.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from kcplan.generate.build import Generated
from kcplan.plan.model import Plan
from kcplan.views.plan_view import plan_json

IMPORT_JSON_VERSION = 1


def _generated_json(generated: Generated, secrets_file: str | None) -> dict[str, Any]:
    files = [{"path": p, "kind": "library", "connector": None} for p in generated.libraries]
    files += [{"path": p, "kind": "connector", "connector": n} for n, p in sorted(generated.file_of.items())]
    return {
        "files": files,
        "variables": [{"name": s.variable, "connector": s.connector, "key": s.key} for s in generated.secrets],
        "secrets_file": secrets_file if generated.secrets else None,
    }


def import_json(*, env: str, dry_run: bool, imported: Sequence[str], already_managed: Sequence[str],
                not_declared: Sequence[str], state_serial: int | None, generated: Generated | None,
                secrets_file: str | None, plan: Plan | None) -> str:
    """``imported``: the connectors recorded (with ``dry_run``: the ones that would be)."""
    doc = {
        "format_version": IMPORT_JSON_VERSION,
        "env": env,
        "dry_run": dry_run,
        "imported": list(imported),
        "already_managed": list(already_managed),
        "not_declared": list(not_declared),
        "state_serial": state_serial,
        "generated": None if generated is None else _generated_json(generated, secrets_file),
        "plan": None if plan is None else plan_json(plan),
    }
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
