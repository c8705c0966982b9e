"""multibuild's osx_utils.sh contract, function by function, in real bash on any host: nothing
macOS-specific runs to decide (versions, installer names, platform tags, build settings). Where
a function installs something, its argument contract and its boundary (the command it runs) are
checked. universal2 fusion runs for real on cross-compiled wheels (ziglang + LLVM)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from conftest import REPO_ROOT, run_shell
from crossbuild import PY_TAG, llvm_bin_or_skip, macos_thin_wheel
from shellcontract import Case, Outcome, check_table, errexit_once, run_cases

from multibuild.build.macos import DEPLOYMENT_TARGETS, PYTHON_ORG_RELEASES
from multibuild.build.repair import repair_wheel

LIB = REPO_ROOT / "multibuild"
PY = sys.executable
NEWEST3 = PYTHON_ORG_RELEASES[max(PYTHON_ORG_RELEASES, key=lambda v: int(v.split(".")[1]))]
P312 = PYTHON_ORG_RELEASES["3.12"]
P39 = PYTHON_ORG_RELEASES["3.9"]
X86_TARGET = DEPLOYMENT_TARGETS["x86_64"]
SETUP = f'source "{LIB}/osx_utils.sh"\nunset PLAT MB_PYTHON_OSX_VER MACOSX_DEPLOYMENT_TARGET'
FLAGS = 'echo "$PLAT|$ARCHFLAGS|$_PYTHON_HOST_PLATFORM|$MACOSX_DEPLOYMENT_TARGET|$CFLAGS"'

CASES = [
    # Versions: the last python.org macOS release of a series (2 and 3: the newest series)
    Case("fill_pyver 2", "2.7.18"),
    Case("fill_pyver 2.7", "2.7.18"),
    Case("fill_pyver 2.7.8", "2.7.8"),
    Case("fill_pyver 3.6", "3.6.8"),
    Case("fill_pyver 3.6.0", "3.6.0"),
    Case("fill_pyver 3.5", "3.5.4"),
    Case("fill_pyver 3.9.1rc1", "3.9.1rc1"),
    Case("fill_pyver 3.12", P312),
    Case("fill_pyver 3", NEWEST3),
    Case("fill_pyver nonsense", "", 1, "fill_pyver: cannot fill Python version 'nonsense'"),
    Case("fill_pyver 3.1", "", 1, "fill_pyver: cannot fill Python version '3.1'"),
    Case("fill_pyver", "", 1, "fill_pyver: no version given"),
    # Installers: .dmg before 2.7.9 and 3.4.2
    Case("pyinst_ext_for_version 2.7.8", "dmg"),
    Case("pyinst_ext_for_version 2.7.9", "pkg"),
    Case("pyinst_ext_for_version 2.7", "pkg"),
    Case("pyinst_ext_for_version 2", "pkg"),
    Case("pyinst_ext_for_version 3.3.5", "dmg"),
    Case("pyinst_ext_for_version 3.4.1", "dmg"),
    Case("pyinst_ext_for_version 3.4.2", "pkg"),
    Case("pyinst_ext_for_version 3.3", "dmg"),
    Case("pyinst_ext_for_version 3.4", "pkg"),
    Case("pyinst_ext_for_version 3", "pkg"),
    Case("pyinst_ext_for_version", "", 1, "pyinst_ext_for_version: no version given"),
    Case("pyinst_fname_for_version 3.12", f"python-{P312}-macos11.pkg"),
    Case("pyinst_fname_for_version 3.12 10.9", f"python-{P312}-macos11.pkg"),  # 11 only
    Case("pyinst_fname_for_version 3.9 10.9", f"python-{P39}-macosx10.9.pkg"),
    Case("pyinst_fname_for_version 3.9 11", f"python-{P39}-macos11.pkg"),
    Case("PLAT=universal2 pyinst_fname_for_version 3.9 10.9", f"python-{P39}-macos11.pkg"),
    Case("pyinst_fname_for_version 3.9.1", "python-3.9.1-macos11.0.pkg"),
    Case("pyinst_fname_for_version 3.9.0", "python-3.9.0-macosx10.9.pkg"),
    Case("pyinst_fname_for_version 3.8", "python-3.8.10-macos11.pkg"),
    Case("pyinst_fname_for_version 3.8 10.9", "python-3.8.10-macosx10.9.pkg"),
    Case("pyinst_fname_for_version 3.7", "python-3.7.9-macosx10.9.pkg"),
    Case("pyinst_fname_for_version 3.7 10.6", "python-3.7.9-macosx10.6.pkg"),
    Case("pyinst_fname_for_version 2.7", "python-2.7.18-macosx10.9.pkg"),
    Case("pyinst_fname_for_version 2.7.8", "python-2.7.8-macosx10.6.dmg"),
    Case("PLAT=arm64 pyinst_fname_for_version 3.7", "", 1,
         "pyinst_fname_for_version: Python 3.7.9 has no universal2 (macOS 11) installer"),
    Case("pyinst_fname_for_version 3.9.0 11", "", 1,
         "pyinst_fname_for_version: Python 3.9.0 has no universal2"),
    Case("pyinst_fname_for_version 3.9 ten", "", 1,
         "pyinst_fname_for_version: macOS version 'ten' is not X or X.Y"),
    Case("pyinst_fname_for_version", "", 1, "pyinst_fname_for_version: no version given"),
    Case("macpython_installer_url 3.9.1rc1 10.9",
         "https://www.python.org/ftp/python/3.9.1/python-3.9.1rc1-macosx10.9.pkg"),
    Case("macpython_installer_url 3.12",
         f"https://www.python.org/ftp/python/{P312}/python-{P312}-macos11.pkg"),
    # SDKs: 10.6 (64/32-bit) up to 2.7.17 / 3.7; 10.9 from 2.7.15 / 3.6.5; arm64: 11.0
    Case("macpython_sdk_list_for_version 2.7.14", "10.6"),
    Case("macpython_sdk_list_for_version 2.7.15", "10.6 10.9"),
    Case("macpython_sdk_list_for_version 2.7.18", "10.9"),
    Case("macpython_sdk_list_for_version 3.6.4", "10.6"),
    Case("macpython_sdk_list_for_version 3.7", "10.6 10.9"),
    Case("macpython_sdk_list_for_version 3.12", "10.9"),
    Case("PLAT=arm64 macpython_sdk_list_for_version 3.9", "11.0"),
    Case("macpython_sdk_for_version 2.7.15", "10.9"),
    Case("macpython_sdk_for_version 3.6.4", "10.6"),
    Case("PLAT=arm64 macpython_sdk_for_version 3.9", "11.0"),
    Case("macpython_sdk_for_version four", "", 1,
         "macpython_sdk_for_version: cannot fill Python version 'four'"),
    Case("macpython_sdk_list_for_version", "", 1, "macpython_sdk_list_for_version: no version"),
    # Platform tags and implementations
    Case("get_macpython_arch macosx-10.9-x86_64", "x86_64"),
    Case("get_macpython_arch macosx-10.6-intel", "intel"),
    Case("get_macpython_arch macosx-11.0-arm64", "arm64"),
    Case("get_macpython_arch linux-x86_64", "", 1,
         "get_macpython_arch: 'linux-x86_64' is not a macOS platform tag"),
    Case(f"PYTHON_EXE={PY} get_macpython_arch", "", 1, "get_macpython_arch: 'linux-"),
    Case("get_macpython_osx_ver macosx-10.9-x86_64", "10.9"),
    Case("get_macpython_osx_ver macosx-11.0-universal2", "11.0"),
    Case("get_macpython_osx_ver x86_64", "", 1, "get_macpython_osx_ver: 'x86_64' is not"),
    Case("macpython_impl_for_version 3.6", "cp"),
    Case("macpython_impl_for_version pypy-5.4", "pp"),
    Case("macpython_impl_for_version pypy3.6-7.2", "pp"),
    Case("macpython_impl_for_version", "", 1, "macpython_impl_for_version: cannot tell"),
    Case("strip_macpython_ver_prefix pypy-5.4", "5.4"),
    Case("strip_macpython_ver_prefix 3.6", "3.6"),
    Case("strip_macpython_ver_prefix pypy", "", 1, "strip_macpython_ver_prefix: no version"),
    Case("macpython_arch_for_version 3.7 10.6", "intel"),
    Case("macpython_arch_for_version 3.7 10.9", "x86_64"),
    Case("MB_PYTHON_OSX_VER=10.9 macpython_arch_for_version 3.7", "x86_64"),
    Case("macpython_arch_for_version pypy-5.4", "x86_64"),
    Case("macpython_arch_for_version 3.7 11.0", "", 1,
         "macpython_arch_for_version: macOS version '11.0' is not 10.6 or 10.9"),
    Case("mac_arch_for_pyosx_version 10.6", "intel"),
    # Variables and interpreters
    Case("check_var x"),
    Case('check_var ""', "", 1, "check_var: required variable not defined"),
    Case('f() { check_var "$1"; }; f ""', "", 1, "error: f: required variable not defined"),
    Case(f"PYTHON_EXE={PY} get_py_digit", str(sys.version_info[0])),
    Case(f"PYTHON_EXE={PY} get_py_mm_nodot", "{}{}".format(*sys.version_info[:2])),
    Case(f"PYTHON_EXE={PY} get_py_prefix", sys.prefix),
    Case("PYTHON_EXE= get_py_prefix", "", 1, "get_py_prefix: PYTHON_EXE variable not defined"),
    Case("PYTHON_EXE=/opt/py/bin/python; PIP_CMD=pipx; set_py_vars; echo \"${PATH%%:*}\"; "
         "declare -p PYTHON_EXE PIP_CMD | cut -d= -f1", "/opt/py/bin\n"
         "declare -x PYTHON_EXE\ndeclare -x PIP_CMD"),
    Case("PYTHON_EXE= set_py_vars", "", 1, "set_py_vars: PYTHON_EXE variable not defined"),
    Case(f'PYTHON_EXE={PY}; make_workon_venv wv && echo "$PYTHON_EXE" && "$PIP_CMD" --version '
         '| cut -c1-4', "{cwd}/wv/bin/python\npip "),
    Case("PYTHON_EXE= make_workon_venv", "", 1, "make_workon_venv: PYTHON_EXE variable"),
    Case("remove_travis_ve_pip"),
    Case(f"PYTHON_EXE={PY} PIP_CMD= install_virtualenv", "", 1,
         "install_virtualenv: PIP_CMD variable not defined"),
    Case("PIP_CMD=echo install_delocate", "install delocate"),  # the command it runs
    Case("PIP_CMD= install_delocate", "", 1, "install_delocate: PIP_CMD variable not defined"),
    Case("PATH=shims/pkgconfig install_pkg_config"),
    Case("PATH=shims/brew install_pkg_config", "brew install pkg-config"),
    Case("PATH=/nonexistent install_pkg_config", "", 1,
         "install_pkg_config: pkg-config is missing and Homebrew (brew) is not available"),
    # Installing: arguments (the installers themselves need macOS)
    Case("install_macpython", "", 1, "install_macpython: no Python version given"),
    Case("install_macpython pypy-5.4", "", 1, "install_pypy: PyPy is not supported"),
    Case("install_mac_pypy 5.4", "", 1, "install_pypy: PyPy is not supported"),
    Case("install_mac_cpython nonsense", "", 1, "fill_pyver: cannot fill Python version"),
    Case("get_macpython_environment", "", 1, "get_macpython_environment: no Python version"),
    Case("get_python_environment homebrew 3", "", 1,
         "get_python_environment: 'homebrew' Pythons are not supported"),
    # Build settings: exported for the thin architecture
    Case(f"macos_intel_native_build_setup && {FLAGS}",
         f"x86_64|-arch x86_64|macosx-{X86_TARGET}-x86_64|{X86_TARGET}|-arch x86_64"),
    Case(f"MB_PYTHON_OSX_VER=10.9 macos_intel_cross_build_setup && {FLAGS}",
         "x86_64|-arch x86_64|macosx-10.9-x86_64|10.9|-arch x86_64"),
    Case(f"CFLAGS=-O2 macos_arm64_native_build_setup && {FLAGS}",
         "arm64|-arch arm64|macosx-11.0-arm64|11.0|-arch arm64 -O2"),
    Case("macos_arm64_native_build_setup eval 'echo \"in $PLAT\"'", "in arm64"),
    Case("macos_intel_native_build_setup; declare -p PLAT ARCHFLAGS | cut -d= -f1",
         "declare -x PLAT\ndeclare -x ARCHFLAGS"),
    Case("IS_MACOS=1 MB_ARM64_BUILD_PREFIX=$PWD/arm FC_ARM64=arm-gfortran "
         "macos_arm64_cross_build_setup && "
         f'{FLAGS} && echo "$BUILD_PREFIX|$CPPFLAGS|$CROSS_COMPILING|$host_alias|$FC" '
         '&& echo "$LDFLAGS" && [ -d arm/lib ] && [ -d arm/include ] && echo "${PATH%%:*}"',
         "arm64|-arch arm64|macosx-11.0-arm64|11.0|-arch arm64\n"
         "{cwd}/arm|-I{cwd}/arm/include|1|aarch64-apple-darwin20.0.0|arm-gfortran\n"
         "-arch arm64 -L{cwd}/arm/lib -Wl,-rpath,{cwd}/arm/lib\n{cwd}/arm/bin"),
    Case("fuse_macos_intel_arm64 empty"),  # nothing to fuse
]
CASES = errexit_once(CASES, {
    "fill_pyver", "pyinst_ext_for_version", "pyinst_fname_for_version", "macpython_installer_url",
    "macpython_sdk_list_for_version", "macpython_sdk_for_version"})


def _shim(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f'#!/bin/sh\necho "{path.name} $*"\n')
    path.chmod(0o755)


@pytest.fixture(scope="module")
def table(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, tuple[dict[str, Outcome],
                                                                     dict[str, Outcome]]]:
    cwd = tmp_path_factory.mktemp("osx")
    _shim(cwd / "shims" / "pkgconfig" / "pkg-config")
    _shim(cwd / "shims" / "brew" / "brew")
    (cwd / "empty").mkdir()
    return cwd, run_cases(SETUP, CASES, cwd)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_osx_utils_contract(case: Case, table: tuple[Path, tuple[dict[str, Outcome],
                                                                dict[str, Outcome]]]) -> None:
    cwd, outcomes = table
    check_table(case, outcomes, {"cwd": str(cwd)})


def test_fuse_macos_intel_arm64_fuses_pairs_in_the_wheelhouse(
        tmp_path_factory: pytest.TempPathFactory, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """As multibuild's: each x86_64 wheel with an arm64 twin becomes one universal2 wheel; the
    x86_64 wheel goes, the arm64 one stays; a wheel without a twin is left alone."""
    llvm = llvm_bin_or_skip()
    monkeypatch.setenv("MB_LLVM_BIN", str(llvm))
    cross = tmp_path_factory.getbasetemp() / "cross"
    wheelhouse = tmp_path / "wheelhouse"
    repair_wheel(macos_thin_wheel(cross, "x86_64")[0], wheelhouse)
    arm = repair_wheel(macos_thin_wheel(cross, "arm64")[0], wheelhouse)
    lonely = wheelhouse / f"other-1.0-{PY_TAG}-{PY_TAG}-macosx_10_13_x86_64.whl"
    lonely.write_bytes(b"not fused: no arm64 twin")
    done = run_shell(f'source "{LIB}/osx_utils.sh"; WHEEL_SDIR={wheelhouse} fuse_macos_intel_arm64',
                     env={"MB_LLVM_BIN": str(llvm),
                          "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin"})
    assert done.returncode == 0, done.stdout + done.stderr
    names = sorted(p.name for p in wheelhouse.glob("*.whl"))
    assert names == sorted([arm.name, lonely.name,
                            f"crossext-1.0-{PY_TAG}-{PY_TAG}-macosx_11_0_universal2.whl"])
