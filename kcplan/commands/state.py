"""kcplan state (not built yet)."""

from __future__ import annotations

import argparse

from kcplan.commands._unbuilt import configure  # noqa: F401
from kcplan.commands._unbuilt import not_built


def run(args: argparse.Namespace) -> int:
    return not_built("state")
