"""CLI conventions every command relies on: global options, exit codes, error format."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from kcplan import cli
from tests.helpers import run_kcplan, write_settings


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """``python -m kcplan ARGS`` in this process's whole environment."""
    return run_kcplan(None, *args, drop=(), cwd=cwd, timeout=60)


def test_help_lists_commands_and_exit_codes() -> None:
    result = run_cli("--help")
    assert result.returncode == 0
    for command in cli.COMMANDS:
        assert f"    {command} " in result.stdout
    assert "  3  done, but something is unhealthy" in result.stdout
    assert "  2  changes or drift present" in result.stdout


@pytest.mark.parametrize("argv", [["-e", "prod", "-C", "/x", "status"], ["status", "-e", "prod", "-C", "/x"]])
def test_global_options_before_or_after_command(argv: list[str]) -> None:
    args = cli.build_parser().parse_args(argv)
    assert args.env == ["prod"]
    assert args.project_dir == "/x"
    assert args.command == "status"


def test_env_defaults_to_kcplan_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KCPLAN_ENV", "staging,prod")
    args = cli.build_parser().parse_args(["status"])
    assert cli._env_list(args) == ["staging", "prod"]


def test_user_error_has_no_traceback_without_debug(tmp_path: Path) -> None:
    write_settings(tmp_path, "{connect_url: }")
    result = run_cli("-C", str(tmp_path), "-e", "dev", "status", "--format", "json")
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert lines[0].startswith("Error: Jsonnet error in ")
    assert "Traceback" not in result.stderr
    debug = run_cli("-C", str(tmp_path), "-e", "dev", "--debug", "status", "--format", "json")
    assert debug.returncode == 1
    assert "Traceback (most recent call last)" in debug.stderr


def test_missing_env_is_a_usage_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KCPLAN_ENV", raising=False)
    write_settings(tmp_path, '{"connect_url": "http://x:1"}')
    result = run_cli("-C", str(tmp_path), "status")
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "Error: no environment given",
        "Pass -e NAME or set KCPLAN_ENV (environments: dev).",
    ]


def test_usage_errors_exit_1_not_2() -> None:
    """2 means 'changes present' for plan --detailed-exitcode, so a typo must not look like it."""
    result = run_cli("plan", "--detailed-exitcod")
    assert result.returncode == 1
    assert result.stderr.splitlines()[-2:] == [
        "Error: unrecognized arguments: --detailed-exitcod",
        "Run 'kcplan --help' for usage.",
    ]
