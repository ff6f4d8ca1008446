"""kcplan.commands._messages: the one format of Error: and Warning: lines."""

from __future__ import annotations

import pytest

from kcplan.commands._messages import print_error, print_warnings


def test_an_error_is_its_message_then_its_hint(capsys: pytest.CaptureFixture[str]) -> None:
    print_error("the plan is stale", "Run 'kcplan plan' again.")
    assert capsys.readouterr() == ("", "Error: the plan is stale\nRun 'kcplan plan' again.\n")


def test_no_hint_no_second_line(capsys: pytest.CaptureFixture[str]) -> None:
    print_error("interrupted")
    print_error("interrupted", "")
    assert capsys.readouterr() == ("", "Error: interrupted\nError: interrupted\n")


def test_with_several_environments_the_error_names_its_own(capsys: pytest.CaptureFixture[str]) -> None:
    print_error("no worker answered", "Check the URL.", env="prod")
    assert capsys.readouterr() == ("", "Error: environment 'prod': no worker answered\nCheck the URL.\n")


def test_warnings_one_line_each(capsys: pytest.CaptureFixture[str]) -> None:
    print_warnings(["a", "b c"])
    print_warnings(w for w in ["from a generator"])
    print_warnings([])
    assert capsys.readouterr() == ("", "Warning: a\nWarning: b c\nWarning: from a generator\n")
