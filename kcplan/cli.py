"""Command line: global options, one module per command, errors -> message + exit code."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from kcplan import __version__, exit_codes
from kcplan.commands._messages import print_error
from kcplan.errors import KcplanError

# name -> one-line help. Each name maps to kcplan.commands.<name> (import_ for 'import').
COMMANDS: dict[str, str] = {
    "validate": "Validate the rendered connector configs (offline; --online asks the cluster too)",
    "render": "Print the rendered connector configs (secrets masked)",
    "plan": "Show what apply would change; --out saves the plan",
    "show": "Print a saved plan file",
    "apply": "Apply a saved plan (or plan and confirm), then verify health",
    "status": "On-call report: every connector, its tasks and failures",
    "drift": "Compare the live cluster with what kcplan last applied (for cron)",
    "heal": "Restart FAILED connectors and tasks with backoff (for cron)",
    "import": "Record existing live connectors as managed by kcplan",
    "state": "Inspect, edit or move the state (list, show, pull, rm, force-unlock, migrate)",
    "schemas": "Pull per-class config schemas from a live cluster",
    "offsets": "Show the committed offsets of connectors (offsets get NAME...)",
    "sandbox": "Start/stop a real local Kafka Connect for demos and tests",
}

EPILOG = """\
exit codes:
  0  success
  1  error (the message says what happened and what to do next)
  2  changes or drift present (plan --detailed-exitcode, drift)
  3  done, but something is unhealthy (apply verification, status with FAILED connectors/tasks,
     heal with FAILED connectors/tasks left after its run)

environment variables:
  KCPLAN_ENV           default for -e/--env
  KCPLAN_CONNECT_URL   overrides the Connect REST URL(s) of the environment (comma-separated)
  NO_COLOR             disables colours
"""


def add_global_options(parser: argparse.ArgumentParser, suppress: bool) -> None:
    """The same global options on the top parser and on every command (so both orders work)."""

    def default(value: object) -> object:
        return argparse.SUPPRESS if suppress else value

    parser.add_argument("-C", "--project-dir", metavar="DIR", default=default("."),
                        help="folder holding environments/ (default: current directory)")
    parser.add_argument("-e", "--env", metavar="NAME", action="append", default=default(None),
                        help="environment name (default: $KCPLAN_ENV)")
    parser.add_argument("--debug", action="store_true", default=default(False),
                        help="show tracebacks and request logs (secrets still masked)")
    parser.add_argument("--no-color", action="store_true", default=default(False),
                        help="no colours (also with NO_COLOR set)")


class _Parser(argparse.ArgumentParser):
    """argparse exits 2 on usage errors; here 2 means 'changes present', so usage errors exit 1.
    No abbreviated options either: a prefix that matches today may be ambiguous tomorrow."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        print_error(message, f"Run '{self.prog} --help' for usage.")
        self.exit(exit_codes.ERROR)


def _module_name(command: str) -> str:
    return "kcplan.commands." + ("import_" if command == "import" else command)


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The full parser. With ``argv``, only the commands named in it get their options (importing a
    command module costs start-up time, and `kcplan status` must stay fast); the others keep their
    one-line help for the command list."""
    parser = _Parser(
        prog="kcplan",
        description="Terraform-style plan/apply for Kafka Connect connectors, configured in Jsonnet.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"kcplan {__version__}")
    add_global_options(parser, suppress=False)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, help_text in COMMANDS.items():
        cmd = sub.add_parser(name, help=help_text, description=help_text, epilog=EPILOG,
                             formatter_class=argparse.RawDescriptionHelpFormatter)
        add_global_options(cmd, suppress=True)
        if argv is None or name in argv:
            importlib.import_module(_module_name(name)).configure(cmd)
    return parser


def _env_list(args: argparse.Namespace) -> list[str]:
    """-e may be given several times (status takes many); default from KCPLAN_ENV."""
    given = args.env or ([os.environ["KCPLAN_ENV"]] if os.environ.get("KCPLAN_ENV") else [])
    names: list[str] = []
    for item in given:
        names.extend(n.strip() for n in item.split(",") if n.strip())
    return names


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    args.envs = _env_list(args)
    args.env = args.envs[0] if args.envs else None
    args.project_dir = Path(args.project_dir)
    if not args.command:
        parser.print_help()
        return exit_codes.ERROR
    try:
        module = importlib.import_module(_module_name(args.command))
        return int(module.run(args))
    except KcplanError as exc:
        if args.debug:
            traceback.print_exc()
        print_error(exc.message, exc.hint)
        return exc.exit_code
    except KeyboardInterrupt:
        print_error("interrupted")
        return exit_codes.ERROR
    except BrokenPipeError:  # `kcplan status | head`: the reader left; say nothing more
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return exit_codes.ERROR
    except Exception as exc:  # a bug: say so briefly, details with --debug
        if args.debug:
            traceback.print_exc()
        print_error(f"internal error: {type(exc).__name__}",
                    "This is a bug in kcplan; run again with --debug and report the traceback.")
        return exit_codes.ERROR
