"""`--output FILE` of the cron commands (drift, heal): the report replaces FILE atomically, so a
node_exporter textfile collector never reads half a file. 0644: node_exporter usually runs as another
user than the cron job, and the reports hold no secret value."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from kcplan.atomic_write import write_atomic
from kcplan.errors import UsageError

OUTPUT_MODE = 0o644


def add_output(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--output", metavar="FILE", type=Path,
                        help="write the report to FILE instead of stdout, atomically (temp file + rename)")


def refuse_folder(path: Path | None) -> None:
    """Before any work: a folder given as --output is a usage error."""
    if path is not None and path.is_dir():
        raise UsageError(f"--output {path} is a folder",
                         "Give a file name, e.g. --output /var/lib/node_exporter/textfile/kcplan.prom.")


def emit(path: Path | None, text: str) -> None:
    """The report to ``path`` (atomically, 0644) or to stdout when None."""
    if path is None:
        sys.stdout.write(text)
        return
    try:
        write_atomic(path, text, mode=OUTPUT_MODE)
    except OSError as exc:
        raise UsageError(f"cannot write --output {path}: {exc.strerror or exc}",
                         f"Check that the folder {path.parent} exists and is writable.") from None
