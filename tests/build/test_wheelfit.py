"""Choosing the wheels an interpreter can install, by tags from that interpreter."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from multibuild import MultibuildError
from multibuild.build.wheelfit import fitting_wheels, interpreter_tags


def touch(directory: Path, *names: str) -> None:
    directory.mkdir(exist_ok=True)
    for name in names:
        (directory / name).write_bytes(b"")


def test_picks_the_wheels_for_each_interpreter(tmp_path: Path,
                                               pythons: dict[str, Path]) -> None:
    versions = sorted(pythons)
    names = [f"pkg-1.0-cp{v.replace('.', '')}-cp{v.replace('.', '')}-manylinux_2_17_x86_64"
             ".manylinux2014_x86_64.whl" for v in versions]
    touch(tmp_path, *names, "pkg-1.0-cp312-cp312-win_amd64.whl", "pkg-0.9-py3-none-any.whl",
          "helper-2.0-py3-none-any.whl", "pkg-1.0-cp312-cp312-macosx_11_0_arm64.whl")
    for version, python in pythons.items():
        chosen = [p.name for p in fitting_wheels(tmp_path, python)]
        nodot = version.replace(".", "")
        assert chosen == ["helper-2.0-py3-none-any.whl",
                          f"pkg-1.0-cp{nodot}-cp{nodot}-manylinux_2_17_x86_64"
                          ".manylinux2014_x86_64.whl"]


def test_tags_come_from_the_target_interpreter(pythons: dict[str, Path]) -> None:
    for version, python in pythons.items():
        tags = interpreter_tags(python)
        assert tags[0].interpreter == f"cp{version.replace('.', '')}"


def test_no_fitting_wheel_lists_wheels_and_tags(tmp_path: Path) -> None:
    touch(tmp_path, "pkg-1.0-cp27-cp27mu-win32.whl")
    with pytest.raises(MultibuildError) as info:
        fitting_wheels(tmp_path, sys.executable)
    message = str(info.value)
    assert "pkg-1.0-cp27-cp27mu-win32.whl" in message
    assert f"cp{sys.version_info[0]}{sys.version_info[1]}-" in message
    assert "\n" not in message


def test_bad_wheel_name_and_missing_wheelhouse(tmp_path: Path) -> None:
    touch(tmp_path, "not-a-wheel.whl")
    with pytest.raises(MultibuildError, match=r"bad wheel file name not-a-wheel\.whl"):
        fitting_wheels(tmp_path, sys.executable)
    with pytest.raises(MultibuildError, match="does not exist"):
        fitting_wheels(tmp_path / "nope", sys.executable)
