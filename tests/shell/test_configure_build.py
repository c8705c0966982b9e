"""multibuild's configure_build.sh: BUILD_PREFIX and the compiler search paths, exported (or
not) as multibuild does, sourced by the CI steps after env_vars.sh and before config.sh."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from conftest import REPO_ROOT, tool_env

LIB = REPO_ROOT / "multibuild"
BASE_PATH = "/usr/bin:/bin"
NAMES = ("BUILD_PREFIX", "PLAT", "CFLAGS", "CXXFLAGS", "FFLAGS", "CPPFLAGS", "LIBRARY_PATH",
         "PKG_CONFIG_PATH", "PATH", "LDFLAGS", "HOMEBREW_NO_AUTO_UPDATE")


def bash(script: str, env: dict[str, str] | None = None, cwd: Path = REPO_ROOT,
         ) -> subprocess.CompletedProcess[str]:
    full = tool_env()
    for name in (*NAMES, "CONFIGURE_BUILD_SOURCED", "MB_HOST_SYSTEM", "ARCH_FLAGS",
                 "STRIP_FLAGS", "MB_IN_TEST_ENV"):
        full.pop(name, None)
    full.update({"PATH": BASE_PATH, **(env or {})})
    return subprocess.run(["bash", "-c", script], cwd=cwd, env=full, capture_output=True,
                          text=True, check=False)


def declared(stdout: str) -> dict[str, str]:
    """``declare -p`` lines as NAME -> 'x=VALUE' (exported) or '-=VALUE' (set, not exported)."""
    found = {}
    for line in stdout.splitlines():
        if not line.startswith("declare -"):
            continue
        flags, _, assignment = line[len("declare -"):].partition(" ")
        name, _, value = assignment.partition("=")
        found[name] = ("x" if "x" in flags else "-") + "=" + value.strip('"')
    return found


SHOW = f"declare -p {' '.join(NAMES)} 2>/dev/null || true"


def test_linux_defaults_exported_as_multibuild_does() -> None:
    done = bash(f'source "{LIB}/configure_build.sh"; {SHOW}', {"PLAT": "x86_64"})
    assert done.returncode == 0, done.stderr
    assert declared(done.stdout) == {
        "BUILD_PREFIX": "-=/usr/local",  # set, not exported
        "PLAT": "x=x86_64",
        "CFLAGS": "x=-Wl,-strip-all", "CXXFLAGS": "x=-Wl,-strip-all", "FFLAGS": "x=-Wl,-strip-all",
        "CPPFLAGS": "x=-I/usr/local/include",
        "LIBRARY_PATH": "x=/usr/local/lib",
        "PKG_CONFIG_PATH": "x=/usr/local/lib/pkgconfig/",
        "PATH": f"x=/usr/local/bin:{BASE_PATH}",
    }  # LDFLAGS untouched


def test_values_from_env_vars_are_kept_and_build_prefix_put_first() -> None:
    env = {"PLAT": "aarch64", "BUILD_PREFIX": "/opt/p", "CFLAGS": "-O3", "CPPFLAGS": "-DX",
           "LIBRARY_PATH": "/a/lib", "PKG_CONFIG_PATH": "/a/pc", "LDFLAGS": "-L/z",
           "PATH": "/usr/bin:/opt/p/bin:/bin"}
    done = bash(f'source "{LIB}/configure_build.sh"; {SHOW}', env)
    assert done.returncode == 0, done.stderr
    assert declared(done.stdout) == {
        "BUILD_PREFIX": "x=/opt/p", "PLAT": "x=aarch64",
        "CFLAGS": "x=-O3", "CXXFLAGS": "x=-Wl,-strip-all", "FFLAGS": "x=-Wl,-strip-all",
        "CPPFLAGS": "x=-I/opt/p/include -DX",
        "LIBRARY_PATH": "x=/opt/p/lib:/a/lib",
        "PKG_CONFIG_PATH": "x=/opt/p/lib/pkgconfig/:/a/pc",
        "PATH": "x=/opt/p/bin:/usr/bin:/bin",  # moved to the front, not repeated
        "LDFLAGS": "x=-L/z",
    }


def test_update_env_for_build_prefix_follows_a_new_prefix_without_piling_up() -> None:
    done = bash(f"""
        source "{LIB}/configure_build.sh"
        BUILD_PREFIX=/opt/one; update_env_for_build_prefix
        BUILD_PREFIX=/opt/two; update_env_for_build_prefix
        source "{LIB}/configure_build.sh"   # a second time: nothing changes
        {SHOW}
    """, {"PLAT": "x86_64", "CPPFLAGS": "-DX", "PKG_CONFIG_PATH": "/a/pc"})
    assert done.returncode == 0, done.stderr
    got = declared(done.stdout)
    assert got["CPPFLAGS"] == "x=-I/opt/two/include -DX"
    assert got["PKG_CONFIG_PATH"] == "x=/opt/two/lib/pkgconfig/:/a/pc"
    assert got["LIBRARY_PATH"] == "x=/opt/two/lib"
    assert got["PATH"] == f"x=/opt/two/bin:/opt/one/bin:/usr/local/bin:{BASE_PATH}"


@pytest.mark.parametrize(("plat", "flags"), [
    ("x86_64", "-arch x86_64"), ("arm64", "-arch arm64"), ("intel", "-arch i386 -arch x86_64"),
    ("universal2", ""),
])
def test_macos_arch_flags_of_plat(plat: str, flags: str) -> None:
    done = bash(f'source "{LIB}/configure_build.sh"; {SHOW}',
                {"MB_HOST_SYSTEM": "Darwin", "PLAT": plat})
    assert done.returncode == 0, done.stderr
    got = declared(done.stdout)
    assert (got["CFLAGS"], got["CXXFLAGS"], got["FFLAGS"]) == (f"x={flags}",) * 3
    assert got["HOMEBREW_NO_AUTO_UPDATE"] == "x=1"
    assert got["CPPFLAGS"] == "x=-I/usr/local/include"


def test_macos_plat_that_is_not_a_macos_platform_is_a_one_line_error() -> None:
    done = bash(f'source "{LIB}/configure_build.sh"', {"MB_HOST_SYSTEM": "Darwin",
                                                       "PLAT": "i686"})
    assert done.returncode == 1
    assert done.stderr.strip() == ("error: configure_build.sh: PLAT 'i686' is not a macOS "
                                   "platform (intel, x86_64, arm64 or universal2)")


def _project(tmp_path: Path) -> Path:
    (tmp_path / "env_vars.sh").write_text("BUILD_PREFIX=/opt/from-env-vars\n")
    (tmp_path / "config.sh").write_text(
        'echo "config.sh sees CPPFLAGS=$CPPFLAGS CFLAGS=$CFLAGS"\n'
        "function run_tests { :; }\n")
    return tmp_path


def test_steps_source_it_after_env_vars_and_before_config(tmp_path: Path) -> None:
    project = _project(tmp_path)
    done = bash(f'source "{LIB}/common_utils.sh"; source "{LIB}/travis_steps.sh"; '
                'echo "sourced=${CONFIGURE_BUILD_SOURCED:-no}"; '
                'declare -F update_env_for_build_prefix',
                {"PLAT": "x86_64", "MB_BUILD_MODE": "native"}, cwd=project)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "config.sh sees CPPFLAGS=-I/opt/from-env-vars/include CFLAGS=-Wl,-strip-all",
        "sourced=1", "update_env_for_build_prefix"]


@pytest.mark.parametrize("env", [{"MB_IN_TEST_ENV": "1"}, {"MB_HOST_SYSTEM": "MINGW64_NT-10.0"}],
                         ids=["test-environment", "windows"])
def test_not_sourced_in_the_test_environment_nor_on_windows(tmp_path: Path,
                                                           env: dict[str, str]) -> None:
    project = _project(tmp_path)
    done = bash(f'source "{LIB}/common_utils.sh"; mb_source_project; '
                'echo "sourced=${CONFIGURE_BUILD_SOURCED:-no}"', env, cwd=project)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["config.sh sees CPPFLAGS= CFLAGS=", "sourced=no"]


WHEEL_FLAGS = ("CFLAGS", "CXXFLAGS", "FFLAGS", "CPPFLAGS", "LIBRARY_PATH")
SHOW_WHEEL = ("mb_wheel_flags bash -c 'for n in " + " ".join(WHEEL_FLAGS)
              + "; do echo \"$n=${!n-unset}\"; done'")


def wheel_flags(script: str, env: dict[str, str]) -> dict[str, str]:
    done = bash(f'source "{LIB}/common_utils.sh"; source "{LIB}/configure_build.sh"; '
                f"{script}; {SHOW_WHEEL}", env)
    assert done.returncode == 0, done.stderr
    return dict(line.split("=", 1) for line in done.stdout.splitlines() if "=" in line)


def test_wheel_build_flags_library_default_or_the_projects_own() -> None:
    # multibuild's contract by default: the wheel build sees the library defaults.
    assert wheel_flags(":", {"PLAT": "x86_64"}) == {
        "CFLAGS": "-Wl,-strip-all", "CXXFLAGS": "-Wl,-strip-all", "FFLAGS": "-Wl,-strip-all",
        "CPPFLAGS": "-I/usr/local/include", "LIBRARY_PATH": "/usr/local/lib"}
    # MB_WHEEL_FLAGS=project (numpy, scipy): none of them, nothing left of them.
    assert wheel_flags(":", {"PLAT": "x86_64", "MB_WHEEL_FLAGS": "project"}) == dict.fromkeys(
        WHEEL_FLAGS, "unset")
    # What the user or pre_build set or added stays; only the library's part goes.
    added = ('export CFLAGS="$CFLAGS -fopenmp" CPPFLAGS="$CPPFLAGS -DX=1" '
             'LIBRARY_PATH="$LIBRARY_PATH:/opt/x/lib"')
    assert wheel_flags(added, {"PLAT": "x86_64", "MB_WHEEL_FLAGS": "project",
                               "FFLAGS": "-O2", "CPPFLAGS": "-DY"}) == {
        "CFLAGS": "-fopenmp", "CXXFLAGS": "unset", "FFLAGS": "-O2", "CPPFLAGS": "-DY -DX=1",
        "LIBRARY_PATH": "/opt/x/lib"}
    # The shell that builds the libraries keeps the defaults.
    done = bash(f'source "{LIB}/common_utils.sh"; source "{LIB}/configure_build.sh"; '
                'mb_wheel_flags true; echo "$CFLAGS|$CPPFLAGS"',
                {"PLAT": "x86_64", "MB_WHEEL_FLAGS": "project"})
    assert done.stdout.strip() == "-Wl,-strip-all|-I/usr/local/include"
    bad = bash(f'source "{LIB}/common_utils.sh"; mb_wheel_flags true',
               {"MB_WHEEL_FLAGS": "maybe"})
    assert bad.returncode == 2
    assert bad.stderr.strip() == "error: MB_WHEEL_FLAGS=maybe: expected library or project"


def test_numpy_and_scipy_build_with_their_own_flags() -> None:
    for env_vars in ("env_vars.sh", "env_vars32.sh", "configs/scipy/env_vars.sh"):
        done = bash(f'source "{REPO_ROOT / env_vars}"; echo "$MB_WHEEL_FLAGS"')
        assert done.stdout.strip() == "project", env_vars
