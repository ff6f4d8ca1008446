"""kcplan show FILE: print a saved plan exactly as 'kcplan plan' printed it (offline)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from kcplan import exit_codes
from kcplan.commands._options import palette
from kcplan.plan import planfile
from kcplan.views.plan_view import render_json, render_plan


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", type=Path, metavar="FILE", help="a plan file written by 'kcplan plan --out'")
    parser.add_argument("--json", action="store_true", help="machine-readable plan (docs/plan-format.md)")


def run(args: argparse.Namespace) -> int:
    saved = planfile.read(args.file)
    if args.json:
        sys.stdout.write(render_json(saved.plan, saved.kcplan_version))
    else:
        sys.stdout.write(render_plan(saved.plan, palette(args)))
    return exit_codes.OK
