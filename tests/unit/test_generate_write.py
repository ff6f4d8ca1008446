"""import --generate's writes: a failure part-way leaves the repository as it was (created files removed,
overwritten ones restored with their bytes and mode)."""

from __future__ import annotations

from pathlib import Path

import pytest

from kcplan.commands._generate_run import write_files
from kcplan.errors import ConfigError


def test_all_files_written(tmp_path: Path) -> None:
    write_files(tmp_path, {"environments/dev/connectors/a.jsonnet": "{ name: 'a' }\n", "x/b.libsonnet": "{}\n"})
    assert (tmp_path / "environments/dev/connectors/a.jsonnet").read_text() == "{ name: 'a' }\n"
    assert (tmp_path / "x/b.libsonnet").read_text() == "{}\n"


def test_a_failure_removes_created_files_and_restores_overwritten_ones(tmp_path: Path) -> None:
    kept = tmp_path / "c" / "old.jsonnet"
    kept.parent.mkdir()
    kept.write_text("{ name: 'old' }\n")
    kept.chmod(0o640)
    (tmp_path / "blocker").write_text("a file where a folder is needed")
    files = {"c/new.jsonnet": "{ name: 'new' }\n", "c/old.jsonnet": "{ name: 'forced' }\n",
             "blocker/z.jsonnet": "{ name: 'z' }\n"}
    with pytest.raises(ConfigError) as caught:
        write_files(tmp_path, files)
    assert caught.value.message == f"could not write {tmp_path}/blocker: File exists"
    assert caught.value.hint.startswith("Nothing was imported and the repository is as it was (files this run "
                                        "created were removed, files it overwrote restored)")
    assert sorted(p.name for p in (tmp_path / "c").iterdir()) == ["old.jsonnet"]  # no temp file either
    assert kept.read_text() == "{ name: 'old' }\n"
    assert kept.stat().st_mode & 0o777 == 0o640
