"""Where an environment's connector files are: the default folder and `connectors_dir` (kcplan.config.layout)."""

from __future__ import annotations

from pathlib import Path

import pytest

from kcplan.config.layout import connectors_folder, discover
from kcplan.errors import ConfigError
from tests.helpers import write_project, write_settings

BAD_SETTING_HINT = "e.g. connectors_dir: '../../connectors/prod' (relative to the environment's folder)."


def test_default_folder_is_the_environments_connectors(tmp_path: Path) -> None:
    write_project(tmp_path)
    assert connectors_folder(tmp_path, "dev") == tmp_path / "environments" / "dev" / "connectors"


def test_default_folder_is_returned_even_when_it_does_not_exist(tmp_path: Path) -> None:
    write_settings(tmp_path, "{connect_url: 'http://127.0.0.1:8083'}", "dev")
    assert connectors_folder(tmp_path, "dev") == tmp_path / "environments" / "dev" / "connectors"


def test_environment_folder_without_settings_uses_the_default(tmp_path: Path) -> None:
    (tmp_path / "environments" / "bare").mkdir(parents=True)
    assert connectors_folder(tmp_path, "bare") == tmp_path / "environments" / "bare" / "connectors"


def test_null_connectors_dir_means_the_default(tmp_path: Path) -> None:
    write_settings(tmp_path, "{connectors_dir: null}", "dev")
    assert connectors_folder(tmp_path, "dev") == tmp_path / "environments" / "dev" / "connectors"


def test_seed_style_connectors_dir_relative_to_the_environment(tmp_path: Path) -> None:
    write_settings(tmp_path, "{connect_url: 'http://127.0.0.1:8083', connectors_dir: '../../connectors/prod'}",
                   "prod")
    (tmp_path / "connectors" / "prod").mkdir(parents=True)
    (tmp_path / "connectors" / "prod" / "a.jsonnet").write_text("{name: 'a'}")
    (tmp_path / "connectors" / "defaults.libsonnet").write_text("{}")
    assert connectors_folder(tmp_path, "prod") == tmp_path / "connectors" / "prod"
    assert discover(tmp_path, "prod") == ["connectors/prod/a.jsonnet"]


def test_connectors_dir_inside_the_environment_folder(tmp_path: Path) -> None:
    write_settings(tmp_path, "{connectors_dir: 'team/./conn/'}", "dev")
    (tmp_path / "environments" / "dev" / "team" / "conn").mkdir(parents=True)
    assert connectors_folder(tmp_path, "dev") == tmp_path / "environments" / "dev" / "team" / "conn"


def test_connectors_dir_from_an_ext_var(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CONN_DIR", raising=False)
    write_settings(tmp_path, "{connectors_dir: std.extVar('CONN_DIR')}", "dev")
    (tmp_path / "environments" / "dev" / "c2").mkdir()
    assert connectors_folder(tmp_path, "dev", {"CONN_DIR": "c2"}) == tmp_path / "environments" / "dev" / "c2"


def test_connectors_dir_that_does_not_exist(tmp_path: Path) -> None:
    write_settings(tmp_path, "{connectors_dir: '../../connectors/prod'}", "prod")
    with pytest.raises(ConfigError) as info:
        connectors_folder(tmp_path, "prod")
    assert info.value.message == (f"connectors_dir '../../connectors/prod' of environment 'prod' is not a folder "
                                  f"({tmp_path}/connectors/prod)")
    assert info.value.hint == ("Fix connectors_dir in the settings file: it is taken relative to "
                               f"{tmp_path}/environments/prod.")


def test_connectors_dir_that_is_a_file(tmp_path: Path) -> None:
    write_settings(tmp_path, "{connectors_dir: 'notes.txt'}", "dev")
    (tmp_path / "environments" / "dev" / "notes.txt").write_text("not a folder")
    with pytest.raises(ConfigError) as info:
        connectors_folder(tmp_path, "dev")
    assert info.value.message == (f"connectors_dir 'notes.txt' of environment 'dev' is not a folder "
                                  f"({tmp_path}/environments/dev/notes.txt)")
    assert info.value.hint == ("Fix connectors_dir in the settings file: it is taken relative to "
                               f"{tmp_path}/environments/dev.")


@pytest.mark.parametrize("setting", ["''", "'   '", "42", "true", "['connectors']", "{dir: 'c'}"])
def test_empty_or_non_string_connectors_dir(tmp_path: Path, setting: str) -> None:
    settings = write_settings(tmp_path, f"{{connectors_dir: {setting}}}", "dev")
    (tmp_path / "environments" / "dev" / "connectors").mkdir()
    with pytest.raises(ConfigError) as info:
        connectors_folder(tmp_path, "dev")
    assert info.value.message == f"invalid settings in {settings}: connectors_dir must be a folder path"
    assert info.value.hint == BAD_SETTING_HINT


def test_unknown_environment_lists_the_known_ones(tmp_path: Path) -> None:
    write_project(tmp_path, env="prod")
    write_project(tmp_path, env="dev")
    with pytest.raises(ConfigError) as info:
        connectors_folder(tmp_path, "prdo")
    assert info.value.message == f"environment 'prdo' not found (no folder {tmp_path}/environments/prdo)"
    assert info.value.hint == "Pick one of the environments found: dev, prod (with -e NAME or KCPLAN_ENV)."


def test_unknown_environment_in_an_empty_project(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        connectors_folder(tmp_path, "dev")
    assert info.value.message == f"environment 'dev' not found (no folder {tmp_path}/environments/dev)"
    assert info.value.hint == "Pick one of the environments found: none (with -e NAME or KCPLAN_ENV)."
