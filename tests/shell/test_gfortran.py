"""multibuild/_gfortran_utils.sh: a Fortran compiler when the project needs one (found,
installed with the OS package manager, or a one-line error saying what to install), and
multibuild's gfortran functions with their contracts."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from conftest import run_shell

INSTALL_HINT = "Debian/Ubuntu: apt-get install gfortran"


def tools_without(tmp: Path, *missing: str) -> Path:
    """A PATH directory with this host's tools except ``missing`` (name prefixes)."""
    bin_dir = tmp / "bin"
    bin_dir.mkdir()
    for directory in ("/usr/local/bin", "/usr/bin", "/bin"):
        if not Path(directory).is_dir():
            continue
        for tool in Path(directory).iterdir():
            link = bin_dir / tool.name
            if tool.name.startswith(missing) or link.exists():
                continue
            link.symlink_to(tool)
    return bin_dir


def fake_gfortran(tmp: Path) -> Path:
    bin_dir = tmp / "fortran"
    bin_dir.mkdir()
    compiler = bin_dir / "gfortran"
    compiler.write_text('#!/bin/sh\necho "GNU Fortran (Fixture) 99.1.0"\n')
    compiler.chmod(0o755)
    return bin_dir


def test_install_gfortran_finds_an_existing_compiler(tmp_path: Path) -> None:
    path = tools_without(tmp_path, "gfortran", "apt", "sudo")
    fortran = fake_gfortran(tmp_path)
    done = run_shell("install_gfortran && echo \"FC=$FC\"",
                     {"PATH": f"{fortran}:{path}", "FC": ""})
    assert done.returncode == 0, done.stderr
    assert f"install_gfortran: {fortran}/gfortran (GNU Fortran (Fixture) 99.1.0)" in done.stdout
    assert f"FC={fortran}/gfortran" in done.stdout
    assert "installing" not in done.stdout


def test_missing_compiler_without_root_or_apt_is_a_one_line_error(tmp_path: Path) -> None:
    path = tools_without(tmp_path, "gfortran", "apt", "sudo")
    done = run_shell('install_gfortran || echo "status $?"',  # common_utils.sh sets -e
                     {"PATH": str(path), "MB_EUID": "1000"})
    assert "status 1" in done.stdout
    assert done.stderr.count("\n") == 1, done.stderr
    assert done.stderr.startswith("error: gfortran not found on PATH; install the gfortran package")
    assert INSTALL_HINT in done.stderr
    assert "installing" not in done.stdout  # nothing was attempted


def test_missing_compiler_fails_pre_build_at_once(tmp_path: Path) -> None:
    """A config whose pre_build needs gfortran stops there, with the one-line error."""
    path = tools_without(tmp_path, "gfortran", "apt", "sudo")
    script = ('function pre_build { install_gfortran; echo "after install_gfortran"; }\n'
              'mb_run_pre_build || echo "status $?"')
    done = run_shell(script, {"PATH": str(path), "MB_EUID": "1000"})
    assert "status 1" in done.stdout and "after install_gfortran" not in done.stdout
    assert "error: gfortran not found on PATH" in done.stderr
    assert "error: pre_build failed (exit 1)" in done.stderr


@pytest.mark.skipif(shutil.which("gfortran") is not None or not hasattr(os, "geteuid")
                    or os.geteuid() != 0 or shutil.which("apt-get") is None,
                    reason="exercised only where gfortran is missing and apt-get runs as root")
def test_install_gfortran_installs_it_with_apt_as_root() -> None:
    done = run_shell("install_gfortran", timeout=1200)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "installing it with apt-get" in done.stdout
    assert shutil.which("gfortran") is not None


def test_check_gfortran_and_the_macos_only_function_on_linux(tmp_path: Path) -> None:
    path = tools_without(tmp_path, "gfortran")
    fortran = fake_gfortran(tmp_path)
    assert run_shell("check_gfortran", {"PATH": f"{fortran}:{path}"}).returncode == 0
    missing = run_shell("check_gfortran", {"PATH": str(path)})
    assert missing.returncode == 1 and missing.stderr.startswith("error: gfortran not found")
    cross = run_shell("install_arm64_cross_gfortran")
    assert cross.returncode == 1
    assert cross.stderr == "error: install_arm64_cross_gfortran: macOS only (this is Linux)\n"


def test_platform_tags_and_prebuilt_library_archives(tmp_path: Path) -> None:
    archives = tmp_path / "archives"
    archives.mkdir()
    (archives / "openblas-v0.3.0-manylinux2014_x86_64.tar.gz").write_bytes(b"archive")
    script = ("get_distutils_platform x86_64; MB_ML_VER=2014 get_distutils_platform_ex x86_64; "
              "get_distutils_platform_ex arm64 Darwin; "
              "MB_ML_VER=2014 get_gf_lib openblas-v0.3.0 x86_64")
    done = run_shell(script, {"ARCHIVE_SDIR": str(archives), "MACOSX_DEPLOYMENT_TARGET": "11.0"})
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "manylinux1_x86_64", "manylinux2014_x86_64", "macosx_11_0_arm64",
        f"{archives}/openblas-v0.3.0-manylinux2014_x86_64.tar.gz",
    ]
    missing = run_shell("get_gf_lib_for_suf '' openblas-v9 x86_64",
                        {"ARCHIVE_SDIR": str(archives), "GF_LIB_URL": ""})
    assert missing.returncode == 1
    # Without MB_ML_VER, this library's default manylinux version (multibuild's was 1).
    assert missing.stderr == (f"error: get_gf_lib_for_suf: {archives}/openblas-v9-manylinux_"
                              "2_28_x86_64.tar.gz is missing and GF_LIB_URL is not set\n")
    unknown = run_shell("get_distutils_platform sparc")
    assert unknown.returncode == 1 and "unknown PLAT 'sparc'" in unknown.stderr
