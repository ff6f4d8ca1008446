"""Environment settings: kcplan.jsonnet evaluated, validated, errors name the file and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from kcplan.config.environment import load_settings, state_path
from kcplan.errors import ConfigError
from tests.helpers import write_settings


def test_plain_json_with_one_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KCPLAN_CONNECT_URL", raising=False)
    write_settings(tmp_path, env="dev", text='{"connect_url": "http://localhost:8083/"}')
    settings = load_settings(tmp_path, "dev")
    assert settings.connect_url == ["http://localhost:8083"]
    assert settings.request_timeout == 120.0
    assert settings.tls.verify is True
    assert state_path(tmp_path, "dev", settings) == tmp_path / ".kcplan" / "dev.state.json"


def test_secrets_from_ext_vars_and_lists(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KCPLAN_CONNECT_URL", raising=False)
    monkeypatch.setenv("DEV_PASSWORD", "hunter2")
    write_settings(tmp_path, env="dev", text="""
      local lib = import 'lib/common.libsonnet';
      {
        connect_url: ['http://a:8083', 'http://b:8083'],
        auth: { basic: { username: 'kc', password: std.extVar('DEV_PASSWORD') } },
        state_path: '/tmp/x/' + std.extVar('env') + '.json',
        parallelism: lib.parallelism,
      }
    """)
    (tmp_path / "environments" / "lib").mkdir()
    (tmp_path / "environments" / "lib" / "common.libsonnet").write_text("{parallelism: 4}")
    settings = load_settings(tmp_path, "dev")
    assert settings.connect_url == ["http://a:8083", "http://b:8083"]
    assert settings.auth.basic is not None
    assert settings.auth.basic.password.get_secret_value() == "hunter2"
    assert "hunter2" not in repr(settings)
    assert settings.parallelism == 4
    assert state_path(tmp_path, "dev", settings) == Path("/tmp/x/dev.json")


def test_url_override(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KCPLAN_CONNECT_URL", "http://x:1,http://y:2")
    write_settings(tmp_path, env="dev", text='{"connect_url": "http://localhost:8083"}')
    assert load_settings(tmp_path, "dev").connect_url == ["http://x:1", "http://y:2"]


def test_wrong_key_names_file_and_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KCPLAN_CONNECT_URL", raising=False)
    path = write_settings(tmp_path, env="dev", text='{"connect_url": "ftp://x", "request_timout": 3, "parallelism": 0}')
    with pytest.raises(ConfigError) as info:
        load_settings(tmp_path, "dev")
    assert info.value.message == (
        f"invalid settings in {path}: "
        "connect_url.0: Value error, 'ftp://x' is not an http:// or https:// URL; "
        "parallelism: Input should be greater than or equal to 1; "
        "request_timout: Extra inputs are not permitted"
    )


def test_missing_env_lists_known_envs(tmp_path: Path) -> None:
    write_settings(tmp_path, env="prod", text='{"connect_url": "http://x:1"}')
    with pytest.raises(ConfigError) as info:
        load_settings(tmp_path, "nope")
    assert "environment 'nope' has no settings file" in info.value.message
    assert info.value.hint.endswith("environments found: prod (with -e NAME or KCPLAN_ENV).")


def test_missing_ext_var_is_a_render_error(tmp_path: Path) -> None:
    path = write_settings(tmp_path, env="dev", text="{connect_url: std.extVar('KCPLAN_TEST_UNSET_VAR_X')}")
    with pytest.raises(ConfigError) as info:
        load_settings(tmp_path, "dev")
    assert str(path) in info.value.message
    assert "KCPLAN_TEST_UNSET_VAR_X" in info.value.message


def test_relative_tls_paths_are_taken_from_the_project_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KCPLAN_CONNECT_URL", raising=False)
    monkeypatch.chdir("/")
    write_settings(tmp_path, env="dev", text="""{connect_url: 'https://w:8443',
      tls: {ca_bundle: 'certs/ca.pem', client_cert: '/etc/kc/client.pem', client_key: 'certs/client.key'}}""")
    tls = load_settings(tmp_path, "dev").tls
    assert (tls.ca_bundle, tls.client_cert, tls.client_key) == (
        str(tmp_path / "certs" / "ca.pem"), "/etc/kc/client.pem", str(tmp_path / "certs" / "client.key"))


@pytest.mark.parametrize(("url", "problem"), [
    ("http://us:pw@[::1:1", "'http://***@[::1:1' is not a valid URL (Invalid IPv6 URL)"),
    ("http://us:pw@127.0.0.1:99999", "'http://***@127.0.0.1:99999' is not a valid URL (Port out of range 0-65535)"),
    ("http://127.0.0.1:abc", "'http://127.0.0.1:abc' is not a valid URL (Port could not be cast to integer value"),
    ("ftp://us:pw@w:21", "'ftp://***@w:21' is not an http:// or https:// URL"),
    ("http://:8083", "'http://:8083' has no host name"),
])
def test_bad_urls_are_named_without_their_credentials(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, url: str,
                                                      problem: str) -> None:
    write_settings(tmp_path, env="dev", text="{connect_url: 'http://ok:8083'}")
    monkeypatch.setenv("KCPLAN_CONNECT_URL", url)
    with pytest.raises(ConfigError) as err:
        load_settings(tmp_path, "dev")
    assert problem in err.value.message and "pw" not in err.value.message
    assert "connect_url" in err.value.message and "KCPLAN_CONNECT_URL here" in (err.value.hint or "")
