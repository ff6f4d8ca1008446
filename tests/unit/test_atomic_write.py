"""kcplan.atomic_write: exact content and mode, the old file or the new one, never a temp file left."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from kcplan import atomic_write
from kcplan.atomic_write import replace_by_link, temp_prefix, write_atomic


@pytest.fixture
def umask_077() -> Iterator[None]:
    """A strict umask: the modes below must come from the code, not from the umask."""
    old = os.umask(0o077)
    try:
        yield
    finally:
        os.umask(old)


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_temp_files_are_hidden_and_named_after_the_target() -> None:
    assert temp_prefix(Path("/x/.kcplan/dev.state.json")) == ".dev.state.json.tmp-"


def test_new_file_gets_the_bytes_and_mode_0644_whatever_the_umask(tmp_path: Path, umask_077: None) -> None:
    target = tmp_path / "kcplan.prom"
    write_atomic(target, b"kcplan_drift_check_success 1\n")
    assert target.read_bytes() == b"kcplan_drift_check_success 1\n"
    assert mode_of(target) == 0o644
    assert names(tmp_path) == ["kcplan.prom"]


def test_text_is_written_as_utf8(tmp_path: Path) -> None:
    target = tmp_path / "out.txt"
    write_atomic(target, "Zürich ✓\n")
    assert target.read_bytes() == b"Z\xc3\xbcrich \xe2\x9c\x93\n"


def test_an_existing_file_is_replaced_not_rewritten(tmp_path: Path) -> None:
    target = tmp_path / "plan.out"
    target.write_bytes(b"old plan")
    target.chmod(0o644)
    with open(target, "rb") as reader:  # a reader that opened the old file keeps reading it whole
        write_atomic(target, b"new plan", mode=0o600)
        assert reader.read() == b"old plan"
    assert target.read_bytes() == b"new plan"
    assert mode_of(target) == 0o600
    assert names(tmp_path) == ["plan.out"]


def test_a_relative_path_is_written_in_the_current_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    write_atomic("plan.out", b"{}")
    assert (tmp_path / "plan.out").read_bytes() == b"{}"
    assert names(tmp_path) == ["plan.out"]


def test_a_missing_folder_fails_and_creates_nothing(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        write_atomic(tmp_path / "no-such-dir" / "x.prom", b"data")
    assert names(tmp_path) == []


def test_a_failing_rename_leaves_the_old_file_and_no_temp_file(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "dev.state.json"
    target.write_bytes(b"serial 1")

    def refuse(src: object, dst: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(atomic_write.os, "replace", refuse)
    with pytest.raises(OSError, match="No space left on device"):
        write_atomic(target, b"serial 2")
    assert target.read_bytes() == b"serial 1"
    assert names(tmp_path) == ["dev.state.json"]


def test_short_writes_are_continued_until_every_byte_is_out(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real_write = os.write
    sizes: list[int] = []

    def three_bytes_at_a_time(fd: int, data: bytes | memoryview) -> int:
        written = real_write(fd, bytes(data[:3]))
        sizes.append(written)
        return written

    monkeypatch.setattr(atomic_write.os, "write", three_bytes_at_a_time)
    write_atomic(tmp_path / "x", b"0123456789")
    assert (tmp_path / "x").read_bytes() == b"0123456789"
    assert sizes == [3, 3, 3, 1]


def test_the_file_and_then_its_folder_are_fsynced(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real_fsync = os.fsync
    synced: list[bool] = []

    def record(fd: int) -> None:
        synced.append(stat.S_ISDIR(os.fstat(fd).st_mode))
        real_fsync(fd)

    monkeypatch.setattr(atomic_write.os, "fsync", record)
    write_atomic(tmp_path / "a", b"1")
    assert synced == [False, True]
    synced.clear()
    write_atomic(tmp_path / "b", b"2", fsync_dir=False)
    assert synced == [False]


def test_before_replace_runs_when_the_new_data_is_complete_and_the_old_file_still_there(tmp_path: Path) -> None:
    target = tmp_path / "dev.state.json"
    target.write_bytes(b"old")
    seen: list[tuple[bytes, list[bytes]]] = []

    def look() -> None:
        temps = [p.read_bytes() for p in tmp_path.iterdir() if p.name.startswith(".dev.state.json.tmp-")]
        seen.append((target.read_bytes(), temps))

    write_atomic(target, b"new", before_replace=look)
    assert seen == [(b"old", [b"new"])]
    assert target.read_bytes() == b"new"


def test_a_failing_before_replace_leaves_the_old_file_and_no_temp_file(tmp_path: Path) -> None:
    target = tmp_path / "dev.state.json"
    target.write_bytes(b"old")

    def fail() -> None:
        raise OSError(5, "Input/output error")

    with pytest.raises(OSError, match="Input/output error"):
        write_atomic(target, b"new", before_replace=fail)
    assert target.read_bytes() == b"old"
    assert names(tmp_path) == ["dev.state.json"]


def test_replace_by_link_makes_the_target_the_same_file(tmp_path: Path, umask_077: None) -> None:
    source, target = tmp_path / "dev.state.json", tmp_path / "dev.state.json.backup"
    source.write_bytes(b"serial 1")
    target.write_bytes(b"serial 0")
    replace_by_link(source, target, mode=0o600)
    assert target.stat().st_ino == source.stat().st_ino
    assert target.read_bytes() == b"serial 1"
    assert mode_of(target) == 0o600
    assert names(tmp_path) == ["dev.state.json", "dev.state.json.backup"]


def test_replace_by_link_copies_where_there_are_no_hard_links(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                             umask_077: None) -> None:
    source, target = tmp_path / "dev.state.json", tmp_path / "dev.state.json.backup"
    source.write_bytes(b"serial 1")

    def no_links(src: object, dst: object) -> None:
        raise OSError(1, "Operation not permitted")

    monkeypatch.setattr(atomic_write.os, "link", no_links)
    replace_by_link(source, target, mode=0o600)
    assert target.stat().st_ino != source.stat().st_ino
    assert target.read_bytes() == b"serial 1"
    assert mode_of(target) == 0o600
    assert names(tmp_path) == ["dev.state.json", "dev.state.json.backup"]


def test_replace_by_link_removes_its_link_when_the_rename_fails(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    source, target = tmp_path / "dev.state.json", tmp_path / "dev.state.json.backup"
    source.write_bytes(b"serial 1")
    target.write_bytes(b"serial 0")

    def refuse(src: object, dst: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(atomic_write.os, "replace", refuse)
    with pytest.raises(OSError, match="No space left on device"):
        replace_by_link(source, target, mode=0o600)
    assert target.read_bytes() == b"serial 0"
    assert names(tmp_path) == ["dev.state.json", "dev.state.json.backup"]
