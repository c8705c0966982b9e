"""multibuild's manylinux_utils.sh contract: cpython_path (the "m" ABI suffix before 3.8, the
unicode width of Python 2), yum_install (up to the package manager: recording stand-ins for yum
and rpm), repair_wheelhouse's directory semantics, get_platform."""

from __future__ import annotations

import base64
import hashlib
import platform
import zipfile
from pathlib import Path

import pytest
from conftest import REPO_ROOT, run_shell
from shellcontract import Case, Outcome, check_table, run_cases

LIB = REPO_ROOT / "multibuild"
SETUP = f'source "{LIB}/manylinux_utils.sh"\nunset UNICODE_WIDTH'

CASES = [
    Case("cpython_path 2.7", "/opt/python/cp27-cp27mu"),
    Case("cpython_path 2.7 32", "/opt/python/cp27-cp27mu"),
    Case("cpython_path 2.7 u", "/opt/python/cp27-cp27mu"),
    Case("cpython_path 2.7 16", "/opt/python/cp27-cp27m"),
    Case("UNICODE_WIDTH=16 cpython_path 2.7", "/opt/python/cp27-cp27m"),
    Case("cpython_path 3.4", "/opt/python/cp34-cp34m"),
    Case("cpython_path 3.4 16", "/opt/python/cp34-cp34m"),
    Case("cpython_path 3.5 32", "/opt/python/cp35-cp35m"),
    Case("cpython_path 3.7", "/opt/python/cp37-cp37m"),
    Case("cpython_path 3.8", "/opt/python/cp38-cp38"),
    Case("cpython_path 3.12", "/opt/python/cp312-cp312"),
    Case("cpython_path 3.12.4", "/opt/python/cp312-cp312"),
    Case("cpython_path 3.13t", "/opt/python/cp313-cp313t"),
    Case("cpython_path 2", "", 1, "cpython_path: expected a CPython version X.Y (e.g. 3.12), "
         "got '2'"),
    Case("cpython_path three", "", 1, "cpython_path: expected a CPython version X.Y"),
    Case("cpython_path", "", 1, "cpython_path: expected a CPython version X.Y"),
    Case("cpython_path 2.7 8", "", 1, "cpython_path: unicode width must be 16 or 32, got '8'"),
    Case("cpython_path 3.12t", "", 1, "cpython_path: free-threaded CPython starts at 3.13"),
    Case("PATH=shims/yum yum_install zlib-devel", "yum install -y zlib-devel\nrpm -q zlib-devel"),
    Case("PATH=shims/yum yum_install a b", "yum install -y a b\nrpm -q a b"),
    # CentOS 5's yum returned 0 for a package it did not find: rpm -q decides.
    Case("PATH=shims/yum-missing yum_install nosuch", "yum install -y nosuch\nrpm -q nosuch", 1),
    Case("PATH=/nonexistent yum_install zlib-devel", "", 1,
         "yum_install: yum is not available here"),
    Case("yum_install", "", 1, "yum_install: no package given"),
    Case("get_platform", platform.machine()),
]


def _shim(path: Path, status: int = 0) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f'#!/bin/sh\necho "{path.name} $*"\nexit {status}\n')
    path.chmod(0o755)


@pytest.fixture(scope="module")
def table(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Outcome],
                                                           dict[str, Outcome]]:
    cwd = tmp_path_factory.mktemp("manylinux")
    for name in ("yum", "rpm"):
        _shim(cwd / "shims" / "yum" / name)
    _shim(cwd / "shims" / "yum-missing" / "yum")
    _shim(cwd / "shims" / "yum-missing" / "rpm", status=1)
    return run_cases(SETUP, CASES, cwd)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_manylinux_utils_contract(case: Case, table: tuple[dict[str, Outcome],
                                                           dict[str, Outcome]]) -> None:
    check_table(case, table)


def _pure_wheel(directory: Path) -> Path:
    name = "purething-1.0"
    files = {"purething/__init__.py": b"VALUE = 1\n",
             f"{name}.dist-info/METADATA": b"Metadata-Version: 2.1\nName: purething\n"
                                           b"Version: 1.0\n",
             f"{name}.dist-info/WHEEL": b"Wheel-Version: 1.0\nGenerator: test\n"
                                        b"Root-Is-Purelib: true\nTag: py3-none-any\n"}
    def digest(data: bytes) -> str:
        return base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()

    record = "".join(f"{path},sha256={digest(data)},{len(data)}\n"
                     for path, data in files.items())
    record += f"{name}.dist-info/RECORD,,\n"
    directory.mkdir(parents=True, exist_ok=True)
    wheel = directory / f"{name}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for path, data in files.items():
            archive.writestr(path, data)
        archive.writestr(f"{name}.dist-info/RECORD", record)
    return wheel


def test_repair_wheelhouse_copies_pure_wheels_and_keeps_in_place_ones(tmp_path: Path) -> None:
    """repair_wheelhouse IN_DIR [OUT_DIR]: a pure wheel needs no repair; it is copied to OUT_DIR
    (IN_DIR keeps it) or left as it is when OUT_DIR is IN_DIR."""
    wheel = _pure_wheel(tmp_path / "in")
    before = wheel.read_bytes()
    done = run_shell(f'source "{LIB}/manylinux_utils.sh"; '
                     f"repair_wheelhouse {tmp_path}/in {tmp_path}/out && "
                     f"repair_wheelhouse {tmp_path}/in")
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "out" / wheel.name).read_bytes() == before
    assert wheel.read_bytes() == before
    assert sorted(p.name for p in (tmp_path / "in").iterdir()) == [wheel.name]
