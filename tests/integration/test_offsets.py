"""Connector offsets on the REAL Connect sandbox: the client's three offsets endpoints (KIP-875) and
``kcplan offsets get`` as a user runs it."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from kcplan.connect.client import ConnectClient
from kcplan.connect.models import ConnectorOffset
from kcplan.errors import ApiError
from tests.helpers import CLEAN_ENV, file_source, run_kcplan, write_settings

Source = tuple[ConnectClient, str, str, Path]
LINES = "one\ntwo\nthree\n"


def kcplan(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_kcplan(project, *args, drop=(*CLEAN_ENV, "NO_COLOR"), timeout=120)


def committed(client: ConnectClient, name: str, deadline: float = 60.0) -> list[ConnectorOffset]:
    """The offsets once the worker has committed some (the sandbox flushes every 10 s)."""
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        offsets = client.offsets(name)
        if offsets and offsets[0].offset:
            return offsets
        time.sleep(0.5)
    raise AssertionError(f"{name}: no committed offsets after {deadline:g} s")


@pytest.fixture
def source(tmp_path: Path, connect_url: str,
           unique_name: Callable[..., str]) -> Iterator[tuple[ConnectClient, str, str, Path]]:
    name = unique_name("offsets")
    data = tmp_path / "in.txt"
    data.write_text(LINES)
    client = ConnectClient([connect_url])
    client.put_config(name, file_source(data, f"{name}-t"))
    project = tmp_path / "project"
    write_settings(project, f"{{ connect_url: '{connect_url}' }}\n")
    yield client, name, str(data), project
    client.delete(name)
    client.close()


def test_get_reset_and_set_offsets_of_a_source(source: Source) -> None:
    client, name, path, _ = source
    assert committed(client, name) == [ConnectorOffset({"filename": path}, {"position": len(LINES)})]
    with pytest.raises(ApiError, match="STOPPED"):  # only a stopped connector's offsets can change
        client.reset_offsets(name)
    client.stop(name)
    deadline = time.monotonic() + 60
    while client.status(name).state != "STOPPED" and time.monotonic() < deadline:
        time.sleep(0.5)
    assert "reset" in client.reset_offsets(name)
    assert client.offsets(name) == []
    assert "altered" in client.alter_offsets(name, [ConnectorOffset({"filename": path}, {"position": 4})])
    assert client.offsets(name) == [ConnectorOffset({"filename": path}, {"position": 4})]


def test_offsets_get_prints_a_table_and_json(source: Source) -> None:
    client, name, path, project = source
    committed(client, name)
    shown = kcplan(project, "offsets", "get", "-e", "dev", name)
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.splitlines()[1].split() == [name, f"filename={path}", f"position={len(LINES)}"]
    as_json = kcplan(project, "offsets", "get", "-e", "dev", name, "--json")
    assert json.loads(as_json.stdout) == {"format_version": 1, "env": "dev", "connectors": {
        name: [{"partition": {"filename": path}, "offset": {"position": len(LINES)}}]}}


def test_offsets_of_an_unknown_connector_name_it(source: Source) -> None:
    _, _, _, project = source
    missing = kcplan(project, "offsets", "get", "-e", "dev", "no-such-connector")
    assert missing.returncode == 1 and "Traceback" not in missing.stderr
    assert "connector 'no-such-connector' is not on the cluster at http://" in missing.stderr
    assert "'kcplan status -e dev' lists the connectors." in missing.stderr
