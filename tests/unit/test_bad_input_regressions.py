"""Bugs found by tests/property/test_bad_input.py, one literal test each.

Marked xfail(strict=True) while the bug is open, so CI stays green and the test turns red (XPASS)
the moment the bug is fixed: then remove the marker, and the matching exclusion in
tests/property/test_bad_input.py (KNOWN_BUGS).
"""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import pytest

from kcplan import cli

NUL_BUG = ("BUG in kcplan/config/jsonnet.py (_Evaluator.file/snippet, owner: render): a NUL byte in a Jsonnet "
           "file that kcplan evaluates directly makes _gojsonnet.evaluate_snippet raise ValueError('embedded "
           "null character'), which escapes as 'Error: internal error: ValueError'. Expected: a RenderError "
           "naming the file (e.g. 'contains a NUL byte'). Imported files are not affected.")


def kcplan(*args: str) -> tuple[int, str]:
    err = io.StringIO()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
        code = cli.main(list(args))
    return code, err.getvalue()


def project(root: Path, settings: bytes, connector: bytes) -> Path:
    env = root / "environments" / "dev"
    (env / "connectors").mkdir(parents=True)
    (env / "kcplan.jsonnet").write_bytes(settings)
    (env / "connectors" / "c.jsonnet").write_bytes(connector)
    return root


SETTINGS = b'{connect_url: "http://127.0.0.1:9"}'


@pytest.mark.xfail(strict=True, reason=NUL_BUG)
@pytest.mark.parametrize("command", ["validate", "render", "plan"])
def test_nul_byte_in_a_connector_file_is_a_clear_error(tmp_path: Path, command: str) -> None:
    root = project(tmp_path, SETTINGS, b"{}\x00")
    code, err = kcplan("-C", str(root), command, "-e", "dev")
    assert code == 1 and "internal error" not in err and "c.jsonnet" in err, err


@pytest.mark.xfail(strict=True, reason=NUL_BUG)
@pytest.mark.parametrize("command", ["validate", "status"])
def test_nul_byte_in_the_settings_file_is_a_clear_error(tmp_path: Path, command: str) -> None:
    root = project(tmp_path, SETTINGS + b"\x00", b"{}")
    code, err = kcplan("-C", str(root), command, "-e", "dev")
    assert code == 1 and "internal error" not in err and "kcplan.jsonnet" in err, err
