"""kcplan plan -e all / -e a,b and --format markdown against the REAL standalone Connect sandbox.

One environment is the worker, the other a closed port on loopback: the good one is planned, the bad
one gets one error line naming it, the exit code is 1. The worker is shared with other tests, so the
list of connectors kcplan does not manage (theirs) is cut out before the Markdown is compared.
"""

from __future__ import annotations

import json
import re
import socket
from collections.abc import Callable
from pathlib import Path

import pytest
import requests

from tests.applyproject import Project, live_config, ok
from tests.helpers import SRC, write_settings

UNMANAGED = re.compile(r"<details><summary>\d+ connectors? on the cluster not managed by kcplan \(left untouched\)"
                       r"</summary>\n\n(- <code>[^<\n]*</code>\n)+\n</details>\n\n")


@pytest.fixture
def project(tmp_path: Path, connect_url: str) -> Project:
    return Project(tmp_path / "proj", connect_url, request_timeout=None, timeout=120)


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


def test_all_environments_with_one_unreachable(project: Project, unique_name: Callable[..., str]) -> None:
    a = unique_name("a")
    project.declare(a, project.source(a))
    port = closed_port()
    write_settings(project.root, f"{{ connect_url: 'http://127.0.0.1:{port}' }}\n", env="bad")
    (project.root / "environments" / "bad" / "connectors").mkdir()
    (project.root / "environments" / "bad" / "connectors" / f"{a}.jsonnet").write_text(
        (project.connectors / f"{a}.jsonnet").read_text())

    for selector in ("all", "dev,bad"):
        result = project.kcplan("plan", "-e", selector, "--detailed-exitcode", "--no-color")
        out = ok(result, 1)
        assert f"  + create {a}\n" in out
        assert out.endswith("\nEnvironments:\n"
                            "  bad: not planned (the error is on stderr)\n"
                            "  dev: 1 to add, 0 to change, 0 to destroy.\n"
                            if selector == "all" else
                            "\nEnvironments:\n"
                            "  dev: 1 to add, 0 to change, 0 to destroy.\n"
                            "  bad: not planned (the error is on stderr)\n")
        assert 'Plan for environment "bad"' not in out
        errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
        assert errors == [f"Error: environment 'bad': GET /: no Connect worker answered "
                          f"(http://127.0.0.1:{port}: connection refused)"]
    assert live_config(project.worker, a) is None and not project.state_path.exists()  # plan writes nothing

    md = project.kcplan("plan", "-e", "all", "--format", "markdown")
    text = ok(md, 1)
    assert text.startswith("## kcplan plan\n\n| environment | plan |\n|---|---|\n"
                           "| `bad` | **error** (below) |\n"
                           "| `dev` | 1 to add, 0 to change, 0 to replace, 0 to destroy |\n\n"
                           "### `bad`: not planned\n\n```text\n"
                           f"GET /: no Connect worker answered (http://127.0.0.1:{port}: connection refused)\n```\n\n"
                           "### `dev`: 1 to add")
    assert text.endswith("Not planned: `bad`. Fix the errors above and plan again.\n"
                         "To apply: `kcplan plan -e dev --out plan.out`, then `kcplan apply plan.out`.\n"
                         "A saved plan is refused when the state, the cluster or the code changed after it was made: "
                         "plan again then.\n")

    refused = project.kcplan("plan", "-e", "all", "--out", str(project.plan_file))
    ok(refused, 1)
    assert refused.stderr.startswith("Error: --out saves the plan of one environment, and -e names 2 (bad, dev)\n")
    assert not project.plan_file.exists()


def test_markdown_end_to_end(project: Project, unique_name: Callable[..., str]) -> None:
    a = unique_name("a")
    project.settings_path.write_text(f"{{ connect_url: '{project.worker}', sensitive_keys: ['file'] }}\n")
    project.declare(a, project.source(a))
    cluster = requests.get(f"{project.worker}/", timeout=30).json()["kafka_cluster_id"]
    result = project.kcplan("plan", "-e", "dev", "--format", "markdown", "--detailed-exitcode",
                            "--out", str(project.plan_file))
    out = UNMANAGED.sub("", ok(result, 2))
    assert out == (
        "## kcplan plan\n\n"
        "### `dev`: 1 to add, 0 to change, 0 to replace, 0 to destroy\n\n"
        f"Kafka cluster `{cluster}` at `{project.worker}`; no state yet (kcplan has applied nothing here).\n\n"
        f"<details><summary>+ create <code>{a}</code></summary>\n\n"
        "```diff\n"
        f'+ connector.class: "{SRC}"\n'
        "+ file: (sensitive value)\n"
        f'+ name: "{a}"\n'
        '+ tasks.max: "1"\n'
        f'+ topic: "{a}-topic"\n'
        "```\n\n"
        "</details>\n\n"
        "To apply exactly this plan: `kcplan apply plan.out`.\n".replace("plan.out", str(project.plan_file))
        + "A saved plan is refused when the state, the cluster or the code changed after it was made: "
        "plan again then.\n")
    assert str(project.root / f"{a}.txt") not in out  # the sensitive file path is masked
    assert f"Saved the plan to: {project.plan_file}\n" in result.stderr
    project.apply()

    state = json.loads(project.state_path.read_text())
    again = UNMANAGED.sub("", ok(project.kcplan("plan", "-e", "dev", "--format", "markdown", "--detailed-exitcode")))
    assert again.endswith("### `dev`: no changes\n\n"
                          f"Kafka cluster `{cluster}` at `{project.worker}`; state serial {state['serial']} (lineage "
                          f"`{state['lineage']}`).\n\n"
                          "No changes. The cluster matches the configuration.\n\nNothing to apply.\n")
