"""Bugs found by tests/property/test_bad_input.py, one literal test each.

While a bug is open its test is marked xfail(strict=True) and its inputs are excluded from
tests/property/test_bad_input.py (KNOWN_BUGS); when fixed, both go.
"""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import pytest

from kcplan import cli
from tests.helpers import write_project

# Fixed: a NUL byte in a Jsonnet file that kcplan evaluates directly (connector file, kcplan.jsonnet)
# made gojsonnet raise a bare ValueError, shown as "internal error"; now a RenderError naming the file.


def kcplan(*args: str) -> tuple[int, str]:
    err = io.StringIO()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
        code = cli.main(list(args))
    return code, err.getvalue()


def project(root: Path, settings: bytes, connector: bytes) -> Path:
    return write_project(root, settings, connectors={"c.jsonnet": connector})


SETTINGS = b'{connect_url: "http://127.0.0.1:9"}'


@pytest.mark.parametrize("command", ["validate", "render", "plan"])
def test_nul_byte_in_a_connector_file_is_a_clear_error(tmp_path: Path, command: str) -> None:
    root = project(tmp_path, SETTINGS, b"{}\x00")
    code, err = kcplan("-C", str(root), command, "-e", "dev")
    assert code == 1 and "internal error" not in err and "c.jsonnet" in err, err


@pytest.mark.parametrize("command", ["validate", "status"])
def test_nul_byte_in_the_settings_file_is_a_clear_error(tmp_path: Path, command: str) -> None:
    root = project(tmp_path, SETTINGS + b"\x00", b"{}")
    code, err = kcplan("-C", str(root), command, "-e", "dev")
    assert code == 1 and "internal error" not in err and "kcplan.jsonnet" in err, err
