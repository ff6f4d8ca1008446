"""KIP-891 plugin version keys (Connect 4.1+) against the REAL worker: like any other key on every version.

``connector.plugin.version`` and ``<converter>.plugin.version`` render, plan, apply and read back as the
strings Connect returns; on 4.x the worker validates them (3.x keeps them as unknown keys, unchecked).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from kcplan.connect.client import ConnectClient
from kcplan.errors import ApiError
from tests.applyproject import Project, ok
from tests.helpers import SRC, STRING, worker_version


def supports_plugin_versions(kafka_version: str) -> bool:
    return not (kafka_version.startswith("3.") or kafka_version == "stand-in")


@pytest.fixture
def project(tmp_path: Path, connect_url: str) -> Project:
    """On the worker itself (no proxy in between)."""
    return Project(tmp_path / "proj", connect_url)


def test_plugin_version_keys_plan_apply_and_read_back_like_any_key(
        project: Project, connect_url: str, unique_name: Callable[..., str]) -> None:
    name = unique_name("pinned")
    version = worker_version(connect_url)
    pinned = project.source(name, **{"connector.plugin.version": version, "value.converter": STRING,
                                     "value.converter.plugin.version": f"[{version},)"})
    project.declare(name, pinned)
    ok(project.kcplan("validate", "-e", "dev", "--online"))
    project.plan()
    project.apply()
    assert project.live_config(name) == {k: str(v) for k, v in pinned.items()}
    code, out = project.pending()
    assert code == 0 and "No changes. The cluster matches the configuration." in out, out
    # a change of the range is an ordinary key change
    project.declare(name, {**pinned, "value.converter.plugin.version": version})
    code, out = project.pending()
    assert code == 2 and "value.converter.plugin.version" in out, out


def test_a_plugin_version_the_worker_lacks_is_named_by_validate_and_apply(
        project: Project, connect_url: str, kafka_version: str, unique_name: Callable[..., str]) -> None:
    if not supports_plugin_versions(kafka_version):
        pytest.skip("Connect 3.x does not know connector.plugin.version (KIP-891 is 4.1+)")
    name = unique_name("missing")
    project.declare(name, project.source(name, **{"connector.plugin.version": "99.0"}))
    result = project.kcplan("validate", "-e", "dev", "--online")
    assert result.returncode == 1, result.stdout
    # Connect 4.3.1 answers such a validation in one of two ways (the first time after start, often, with
    # per-key errors; later with a 500 carrying a NullPointerException's text); both name the connector
    keyed = (f"connector '{name}': key 'connector.class': Plugin {SRC} not found that matches the version "
             "range [99.0,99.0], available versions: ")
    explained = f"connector '{name}': the cluster could not validate it: "
    assert keyed in result.stderr or explained in result.stderr, result.stderr
    if explained in result.stderr:
        assert "asks for a plugin version the worker does not have" in result.stderr, result.stderr
    # a write of it fails too (on 4.3.1 a 500, which the apply summary explains); nothing is created
    project.plan()
    applied = project.apply(code=1)
    assert f"  {name} (create): POST /connectors failed with HTTP " in applied.stdout, applied.stdout
    if "failed with HTTP 500" in applied.stdout:
        assert "    connector.plugin.version (or a converter's *.plugin.version, KIP-891) asks for a plugin " \
            "version the worker does not have" in applied.stdout, applied.stdout
    else:
        assert "available versions: " in applied.stdout, applied.stdout
    with pytest.raises(ApiError) as caught:
        ConnectClient([connect_url]).put_config(name, {**project.source(name), "connector.plugin.version": "99.0"})
    assert caught.value.status == 500
    assert caught.value.hint is not None and caught.value.hint.startswith("connector.plugin.version (or a")
    assert project.live_config(name) is None
