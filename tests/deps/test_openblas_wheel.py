"""The wheel source of multibuild/deps/openblas.py with the real scipy-openblas32/64 wheels.

Wheels come from the package index through pip (the one allowed non-loopback traffic) into a
cache shared by this module's tests; everything else is offline.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from multibuild import MultibuildError  # noqa: E402
from multibuild.deps import openblas  # noqa: E402

CLI = ROOT / "tools" / "openblas_support.py"
VERSION = "0.3.34.481.3"
HEADERS = {
    "cblas.h", "f77blas.h", "lapack.h", "lapacke.h", "lapacke_config.h", "lapacke_mangling.h",
    "lapacke_utils.h", "openblas_config.h",
}


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    yield tmp_path_factory.mktemp("openblas-wheel-cache")


def run_cli(args: list[str], cache: Path, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items()
             if not k.startswith(("OPENBLAS_", "NPY_", "PLAT", "MB_ML", "MACOSX_"))}
    clean.update({"OPENBLAS_CACHE_DIR": str(cache), "OPENBLAS_VERSION": VERSION,
                  "PYTHONDONTWRITEBYTECODE": "1"})
    clean.update(env)
    return subprocess.run([sys.executable, str(CLI), *args], capture_output=True, text=True,
                          env=clean, check=False, timeout=300)


def files_under(prefix: Path) -> set[str]:
    return {p.relative_to(prefix).as_posix() for p in prefix.rglob("*") if p.is_file()}


@pytest.mark.parametrize(("ilp64", "libname", "pc_flag"), [
    (False, "libscipy_openblas.so", "-DBLAS_SYMBOL_PREFIX=scipy_"),
    (True, "libscipy_openblas64_.so", "-DHAVE_BLAS_ILP64"),
])
def test_linux_prefix_is_usable(
    cache_dir: Path, ilp64: bool, libname: str, pc_flag: str,
) -> None:
    env = {"NPY_USE_BLAS_ILP64": "1" if ilp64 else "", "PLAT": "x86_64"}
    result = run_cli([], cache_dir, **env)
    assert result.returncode == 0, result.stderr
    prefix = Path(result.stdout.strip())
    assert prefix.parent == cache_dir
    assert (prefix / "lib" / libname).is_file()
    assert HEADERS <= {p.name for p in (prefix / "include").iterdir()}
    pkg_config = shutil.which("pkg-config")
    if pkg_config:
        env_pc = {**os.environ, "PKG_CONFIG_PATH": str(prefix / "lib" / "pkgconfig")}
        out = subprocess.run([pkg_config, "--cflags", "--libs", "scipy-openblas"], env=env_pc,
                             capture_output=True, text=True, check=True).stdout.split()
        assert pc_flag in out
        include = Path(next(f for f in out if f.startswith("-I"))[2:])
        assert (include / "cblas.h").is_file()
        assert any(Path(f).is_file() and Path(f).name == libname for f in out)
    # The unpacked library really has the width asked for.
    report = openblas.check_version(VERSION, ilp64, library=prefix / "lib" / libname)
    assert ("USE64BITINT" in report) is ilp64
    with pytest.raises(MultibuildError, match="integers, expected"):
        openblas.check_version(VERSION, not ilp64, library=prefix / "lib" / libname)

    exports = run_cli(["--exports"], cache_dir, **env).stdout
    assert "allow-noblas" not in exports and ("use-ilp64" in exports) is ilp64
    assert "This binary distribution of" in (prefix / "LICENSE.txt").read_text()
    # Warm run: offline by contract, same prefix, no download.
    warm = run_cli([], cache_dir, OPENBLAS_OFFLINE="1", **env)
    assert warm.returncode == 0, warm.stderr
    assert warm.stdout.strip() == str(prefix)
    assert "downloading" not in warm.stderr


def test_macos_arm64_artifact_from_linux(cache_dir: Path) -> None:
    result = run_cli(["--plat", "macos-arm64", "--lp64"], cache_dir)
    assert result.returncode == 0, result.stderr
    assert "macosx_11_0_arm64" in result.stderr
    prefix = Path(result.stdout.strip())
    assert files_under(prefix) == {
        *(f"include/{h}" for h in HEADERS),
        "lib/libscipy_openblas.dylib",
        "lib/pkgconfig/scipy-openblas.pc",
        "lib/cmake/openblas/OpenBLASConfig.cmake",
        "lib/cmake/openblas/OpenBLASConfigVersion.cmake",
        "openblas-origin.json",
        "LICENSE.txt",  # the wheel's licence file: bundled-licence text for the project
    }


def test_windows_ilp64_artifact_from_linux(cache_dir: Path) -> None:
    result = run_cli(["--plat", "win_amd64", "--exports"], cache_dir, NPY_USE_BLAS_ILP64="1")
    assert result.returncode == 0, result.stderr
    exports = dict(
        line.removeprefix("export ").split("=", 1) for line in result.stdout.splitlines()
    )
    prefix = Path(exports["OPENBLAS"])
    assert files_under(prefix) == {
        *(f"include/{h}" for h in HEADERS),
        "lib/libscipy_openblas64_.dll",
        "lib/libscipy_openblas64_.lib",
        "lib/pkgconfig/scipy-openblas.pc",
        "lib/cmake/openblas/OpenBLASConfig.cmake",
        "lib/cmake/openblas/OpenBLASConfigVersion.cmake",
        "openblas-origin.json",
        "LICENSE.txt",  # the wheel's licence file: bundled-licence text for the project
    }
    assert exports["MB_DLL_PATH"] == str(prefix / "lib")
    assert exports["PKG_CONFIG_PATH"].split(os.pathsep)[0] == str(prefix / "lib" / "pkgconfig")
    # Only what any meson project with BLAS options understands; numpy's flags are numpy's.
    assert shlex.split(exports["OPENBLAS_CONFIG_SETTINGS"])[0].split() == [
        "-Csetup-args=-Dblas=scipy-openblas", "-Csetup-args=-Dlapack=scipy-openblas",
        "-Csetup-args=-Duse-ilp64=true"]
    assert "GCC runtime library" in (prefix / "LICENSE.txt").read_text()
    assert exports["OPENBLAS_PKG_CONFIG_NAME"] == "scipy-openblas"


def test_test_mode_checks_named_platforms(cache_dir: Path) -> None:
    result = run_cli(["--test", "macos-arm64", "win_amd64"], cache_dir)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert [line.split(":")[0] for line in lines] == [
        f"ok   macos-arm64 lp64 {VERSION}", f"ok   macos-arm64 ilp64 {VERSION}",
        f"ok   windows-win_amd64 lp64 {VERSION}", f"ok   windows-win_amd64 ilp64 {VERSION}",
    ]


def test_missing_artifact_is_a_clear_error(cache_dir: Path) -> None:
    # No manylinux2014 i686 wheel exists for this version: say so, naming platform and tag.
    result = run_cli(["--plat", "i686"], cache_dir, MB_ML_VER="2014")
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith(f"error: cannot get scipy-openblas32=={VERSION} for linux-i686 "
                           "(platform tag manylinux2014_i686)")


def test_offline_cold_cache_fails_cleanly(tmp_path: Path) -> None:
    result = run_cli([], tmp_path / "empty", OPENBLAS_OFFLINE="1")
    assert result.returncode == 1
    assert "OPENBLAS_OFFLINE is set" in result.stderr
    assert not (tmp_path / "empty").exists() or not any((tmp_path / "empty").rglob("*"))


def test_help() -> None:
    result = subprocess.run([sys.executable, str(CLI), "--help"], capture_output=True,
                            text=True, check=True)
    for flag in ("--check_version", "--test", "--package", "--source", "--exports"):
        assert flag in result.stdout


# ---------------------------------------------------------------------------------------------
# The platform table and target naming (no network).


def test_platform_errors() -> None:
    with pytest.raises(MultibuildError, match=r"32-bit platform linux-i686"):
        openblas.make_target({"PLAT": "i686", "NPY_USE_BLAS_ILP64": "1"})
    with pytest.raises(MultibuildError, match=r"'linux-riscv64'; supported: linux-x86_64, "):
        openblas.make_target({"PLAT": "riscv64"})
    with pytest.raises(MultibuildError, match=r"'universal2'; supported: .*macos-arm64"):
        openblas.platform_by_name("universal2")
    with pytest.raises(MultibuildError, match="MB_ML_VER"):
        openblas.make_target({"PLAT": "x86_64", "MB_ML_VER": "2_28"})
    # numpy's reading of NPY_USE_BLAS_ILP64: empty and 0 are off.
    assert not openblas.make_target({"PLAT": "x86_64", "NPY_USE_BLAS_ILP64": "0"}).ilp64
    assert not openblas.make_target({"PLAT": "x86_64", "NPY_USE_BLAS_ILP64": ""}).ilp64


def test_every_supported_platform_names_its_artifacts() -> None:
    expect = {
        "linux-x86_64": ("manylinux_2_28_x86_64",
                         "openblas64_-v0.3.10-manylinux_2_28_x86_64.tar.gz"),
        "linux-i686": ("manylinux_2_28_i686", None),
        "linux-aarch64": ("manylinux_2_28_aarch64",
                          "openblas64_-v0.3.10-manylinux_2_28_aarch64.tar.gz"),
        "linux-ppc64le": ("manylinux_2_28_ppc64le",
                          "openblas64_-v0.3.10-manylinux_2_28_ppc64le.tar.gz"),
        "linux-s390x": ("manylinux_2_28_s390x", "openblas64_-v0.3.10-manylinux_2_28_s390x.tar.gz"),
        "macos-x86_64": ("macosx_10_13_x86_64",
                         "openblas64_-v0.3.10-macosx_10_9_x86_64-gf_1becaaa.tar.gz"),
        "macos-arm64": ("macosx_11_0_arm64",
                        "openblas64_-v0.3.10-macosx_11_0_arm64-gf_abc1234.tar.gz"),
        "windows-win32": ("win32", None),
        "windows-win_amd64": ("win_amd64", "openblas64_-v0.3.10-win_amd64-gcc_10_3_0.zip"),
    }
    assert sorted(expect) == sorted(p.key for p in openblas.supported_platforms())
    for key, (tag, tarball) in expect.items():
        platform = openblas.platform_by_name(key)
        ilp64 = platform.bits == 64
        target = openblas.make_target({"OPENBLAS_VERSION": "v0.3.10"}, platform=platform,
                                      ilp64=ilp64)
        assert target.wheel_platform_tag() == tag
        assert target.wheel_dist == ("scipy-openblas64" if ilp64 else "scipy-openblas32")
        if tarball:
            assert target.tarball_pattern().fullmatch(tarball)
            assert not target.tarball_pattern().fullmatch(tarball.replace("64_", ""))
    legacy = openblas.make_target({"MB_ML_VER": "2014", "OPENBLAS_VERSION": "0.3.10"},
                                  platform=openblas.platform_by_name("linux-x86_64"), ilp64=False)
    assert legacy.wheel_platform_tag() == "manylinux2014_x86_64"
    assert legacy.tarball_pattern().fullmatch("openblas-v0.3.10-manylinux2014_x86_64.tar.gz")
