"""kcplan plan with several environments, offline (--refresh=false: no Connect): output, JSON, exit codes, refusals."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kcplan import cli
from tests.helpers import SRC, file_source, write_project, write_settings


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """dev declares one connector, prod none; nothing has been applied anywhere."""
    body = json.dumps({"name": "orders", **file_source("/tmp/orders.txt", "orders")})
    write_project(tmp_path, connectors={"orders.jsonnet": body}, schemas=(SRC,))
    write_project(tmp_path, env="prod", schemas=(SRC,))
    return tmp_path


def plan(root: Path, *args: str) -> int:
    return cli.main(["-C", str(root), "plan", "--refresh=false", "--no-color", *args])


def test_all_environments_one_summary_line_each(root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert plan(root, "-e", "all", "--detailed-exitcode") == 2
    out, err = capsys.readouterr()
    assert out.startswith('Plan for environment "dev" against the state alone')
    assert '\nPlan for environment "prod" against the state alone' in out
    assert out.endswith("\nEnvironments:\n  dev: 1 to add, 0 to change, 0 to destroy.\n  prod: no changes.\n")
    assert err == ("Warning: environment 'prod': no connector files under environments/prod/connectors/ "
                   "(this environment wants no connectors)\n")
    assert plan(root, "-e", "prod,dev") == 0  # changes, but no --detailed-exitcode
    assert capsys.readouterr().out.endswith("\nEnvironments:\n  prod: no changes.\n"
                                            "  dev: 1 to add, 0 to change, 0 to destroy.\n")
    assert plan(root, "-e", "prod", "-e", "prod", "--detailed-exitcode") == 0  # one environment, named twice


def test_one_failing_environment_exits_1_and_the_others_are_planned(
        root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_settings(root, "{ connect_url: 'http://127.0.0.1:8083', parallelism: 'many' }", env="prod")
    assert plan(root, "-e", "all", "--detailed-exitcode") == 1
    out, err = capsys.readouterr()
    assert out.endswith("\nEnvironments:\n  dev: 1 to add, 0 to change, 0 to destroy.\n"
                        "  prod: not planned (the error is on stderr)\n")
    errors = [line for line in err.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and errors[0].startswith("Error: environment 'prod': ")


def test_json_with_several_environments(root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert plan(root, "-e", "all", "--format", "json") == 0
    doc = json.loads(capsys.readouterr().out)
    assert [p["env"] for p in doc["environments"]] == ["dev", "prod"] and doc["errors"] == {}
    assert [(c["name"], c["action"]) for c in doc["environments"][0]["changes"]] == [("orders", "create")]
    assert doc["format_version"] == 1


def test_markdown_of_one_environment_is_the_renderer_output(root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert plan(root, "-e", "dev", "--format", "markdown", "--detailed-exitcode") == 2
    out = capsys.readouterr().out
    assert out.startswith("## kcplan plan\n\n### `dev`: 1 to add, 0 to change, 0 to replace, 0 to destroy\n\n"
                          "Planned against the state alone (`--refresh=false`): the cluster was not contacted; "
                          "no state yet (kcplan has applied nothing here).\n\n"
                          "<details><summary>+ create <code>orders</code></summary>\n\n```diff\n")
    assert out.endswith("To apply: `kcplan plan -e dev --out plan.out`, then `kcplan apply plan.out`.\n"
                        "A saved plan is refused when the state, the cluster or the code changed after it was made: "
                        "plan again then.\n")


def test_out_with_several_environments_is_refused(root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert plan(root, "-e", "all", "--out", str(root / "plan.out")) == 1
    assert capsys.readouterr().err == (
        "Error: --out saves the plan of one environment, and -e names 2 (dev, prod)\n"
        "Plan all of them to review (no --out), then save the one to apply: kcplan plan -e ENV --out plan.out.\n")
    assert not (root / "plan.out").exists()


def test_json_and_another_format_contradict(root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert plan(root, "-e", "dev", "--json", "--format", "markdown") == 1
    assert capsys.readouterr().err == "Error: --json and --format markdown contradict each other\nGive one of them.\n"
    assert plan(root, "-e", "dev", "--json", "--format", "json") == 0
