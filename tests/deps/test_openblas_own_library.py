"""--check_version --package scipy checks the OpenBLAS scipy bundles, although importing scipy
first loads numpy's own (ILP64) OpenBLAS: a package with a library of its own in
``<package>.libs`` is checked on that one. Real scipy-openblas libraries, two installed
packages laid out as auditwheel leaves them."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
VERSION = "0.3.34.481.3"

scipy_openblas32 = pytest.importorskip("scipy_openblas32")
scipy_openblas64 = pytest.importorskip("scipy_openblas64")


def site(tmp: Path) -> Path:
    """npfake bundles and loads ILP64 OpenBLAS; spfake bundles LP64 and imports npfake."""
    lib64 = Path(scipy_openblas64.get_lib_dir()) / "libscipy_openblas64_.so"
    lib32 = Path(scipy_openblas32.get_lib_dir()) / "libscipy_openblas.so"
    for package, lib, body in (
        ("npfake", lib64, "import ctypes, pathlib\n"
         "ctypes.CDLL(str(pathlib.Path(__file__).parent.parent / 'npfake.libs' / "
         f"'{lib64.name}'))\n"),
        ("spfake", lib32, "import npfake\n"),
    ):
        (tmp / package).mkdir(parents=True)
        (tmp / package / "__init__.py").write_text(body)
        (tmp / f"{package}.libs").mkdir()
        shutil.copyfile(lib, tmp / f"{package}.libs" / lib.name)
    return tmp


def check(site_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(ROOT / "tools" / "openblas_support.py"), "--check_version",
         VERSION, *args],
        env={"PYTHONPATH": str(site_dir), "PATH": "/usr/bin:/bin", "OPENBLAS_NUM_THREADS": "1"},
        capture_output=True, text=True, check=False, timeout=120)


def test_package_is_checked_on_its_own_bundled_openblas(tmp_path: Path) -> None:
    where = site(tmp_path)
    own = check(where, "--package", "spfake", "--lp64")
    assert own.returncode == 0, own.stderr
    assert own.stdout.startswith(f"{where}/spfake.libs/libscipy_openblas.so: OpenBLAS {VERSION}")
    assert "USE64BITINT" not in own.stdout
    loaded = check(where, "--package", "npfake", "--ilp64")
    assert loaded.returncode == 0, loaded.stderr
    assert loaded.stdout.startswith(f"{where}/npfake.libs/libscipy_openblas64_.so: ")
