"""--check_version against a real fixture wheel built with the fetched OpenBLAS.

The blasdot fixture (a C extension linking scipy-openblas32) is compiled against the prefix
that tools/openblas_support.py prints, repaired with auditwheel (which bundles the library into
blasdot.libs/), installed into a fresh virtual environment with nothing else in it, and checked
from there: the right version passes, a wrong version or integer width fails.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CLI = ROOT / "tools" / "openblas_support.py"
FIXTURE = ROOT / "tests" / "fixtures" / "blasdot"
VERSION = "0.3.34.481.3"

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux") or shutil.which("cc") is None,
    reason="builds a C extension and repairs it with auditwheel",
)


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("OPENBLAS_", "NPY_", "PLAT", "MB_ML", "VIRTUAL_ENV"))}
    env.update(extra)
    return env


def _run(cmd: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=300,
                          **kwargs)  # type: ignore[call-overload]


@pytest.fixture(scope="module")
def test_python(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A fresh venv with only the repaired blasdot wheel installed."""
    work = tmp_path_factory.mktemp("checkver")
    got = _run([sys.executable, str(CLI), "--lp64"],
               env=_env(OPENBLAS_CACHE_DIR=str(work / "cache"), OPENBLAS_VERSION=VERSION))
    assert got.returncode == 0, got.stderr
    prefix = Path(got.stdout.strip())

    src = work / "blasdot"
    shutil.copytree(FIXTURE, src)
    build_env = _env(BLASDOT_INCLUDE=str(prefix / "include"), BLASDOT_LIBDIR=str(prefix / "lib"),
                     PIP_CONFIG_FILE="/dev/null")
    built = _run([sys.executable, "-m", "pip", "wheel", "--no-build-isolation", "--no-deps",
                  "--no-index", "--no-input", "-q", "-w", str(work / "dist"), str(src)],
                 env=build_env)
    assert built.returncode == 0, built.stdout + built.stderr
    (wheel,) = (work / "dist").glob("blasdot-*.whl")

    bindir = str(Path(sys.executable).parent)
    repair_env = _env(LD_LIBRARY_PATH=str(prefix / "lib"),
                      PATH=os.pathsep.join([bindir, os.environ.get("PATH", "")]))
    repaired = _run([sys.executable, "-m", "auditwheel", "repair", "-w", str(work / "fixed"),
                     str(wheel)], env=repair_env)
    assert repaired.returncode == 0, repaired.stdout + repaired.stderr
    (fixed,) = (work / "fixed").glob("blasdot-*.whl")

    venv = work / "venv"
    made = _run([sys.executable, "-m", "uv", "venv", "--quiet", "--python", sys.executable,
                 str(venv)], env=_env(UV_PYTHON_DOWNLOADS="never"))
    assert made.returncode == 0, made.stderr
    python = venv / "bin" / "python"
    installed = _run([sys.executable, "-m", "uv", "pip", "install", "--quiet", "--no-index",
                      "--no-deps", "--python", str(python), str(fixed)],
                     env=_env(UV_PYTHON_DOWNLOADS="never"))
    assert installed.returncode == 0, installed.stderr
    yield python


def check(python: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    # Run from an empty directory so the installed package, not a source tree, is imported.
    return _run([str(python), str(CLI), "--check_version", *args], cwd=python.parent,
                env=_env(PYTHONDONTWRITEBYTECODE="1", **env))


def test_right_version_and_width_pass(test_python: Path) -> None:
    result = check(test_python, VERSION, "--package", "blasdot", "--lp64")
    assert result.returncode == 0, result.stderr
    # The library bundled by the repair, not the build prefix or an installed scipy-openblas.
    assert "blasdot.libs/libscipy_openblas" in result.stdout
    assert f"OpenBLAS {VERSION}" in result.stdout


def test_version_and_width_from_environment(test_python: Path) -> None:
    ok = check(test_python, OPENBLAS_VERSION=VERSION, OPENBLAS_CHECK_PACKAGE="blasdot",
               NPY_USE_BLAS_ILP64="")
    assert ok.returncode == 0, ok.stderr
    wrong = check(test_python, OPENBLAS_VERSION=VERSION, OPENBLAS_CHECK_PACKAGE="blasdot",
                  NPY_USE_BLAS_ILP64="1")
    assert wrong.returncode == 1
    assert "uses 32-bit (LP64) integers, expected 64-bit (ILP64)" in wrong.stderr


def test_wrong_version_fails(test_python: Path) -> None:
    result = check(test_python, "0.3.33.0.0", "--package", "blasdot", "--lp64")
    assert result.returncode == 1
    assert result.stderr.startswith("error: libscipy_openblas-")
    assert f"version {VERSION}, expected 0.3.33.0.0" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_wrong_width_fails(test_python: Path) -> None:
    result = check(test_python, VERSION, "--package", "blasdot", "--ilp64")
    assert result.returncode == 1
    assert "expected 64-bit (ILP64)" in result.stderr


def test_missing_package_is_named(test_python: Path) -> None:
    result = check(test_python, VERSION, "--package", "numpy")
    assert result.returncode == 1
    assert result.stderr.strip() == "error: package under test 'numpy' is not installed"
