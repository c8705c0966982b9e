"""Published files follow the user's umask and are never left half-written."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from multibuild.core.files import atomic_path, atomic_write, current_umask


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
def test_atomic_write_gives_the_umask_mode(tmp_path: Path, umask: int) -> None:
    old = os.umask(umask)
    try:
        assert current_umask() == umask
        atomic_write(tmp_path / "report.json", "{}\n")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "report.json").stat().st_mode) == 0o666 & ~umask


def test_an_explicit_mode_wins(tmp_path: Path) -> None:
    atomic_write(tmp_path / "ci.yml", b"x: 1\n", mode=0o640)
    assert stat.S_IMODE((tmp_path / "ci.yml").stat().st_mode) == 0o640


def test_a_failed_write_leaves_neither_temp_file_nor_target(tmp_path: Path) -> None:
    target = tmp_path / "wheel.whl"
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_bytes(b"half")
        raise RuntimeError("interrupted")
    assert list(tmp_path.iterdir()) == []


def test_a_failed_write_keeps_the_previous_file(tmp_path: Path) -> None:
    target = tmp_path / "sha256sums.txt"
    target.write_text("old\n")
    with pytest.raises(KeyboardInterrupt), atomic_path(target) as tmp:
        tmp.write_text("new, half")
        raise KeyboardInterrupt
    assert target.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["sha256sums.txt"]
