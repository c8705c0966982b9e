"""multibuild's common_utils.sh contract, function by function: arguments, stdout, return
status and side effects, checked in real bash (one process for the whole table), with errexit
off and on. Also: sourcing turns errexit on and happens once; IS_OSX / IS_MACOS."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
from conftest import GIT_ENV, REPO_ROOT, git, run_shell, tool_env
from shellcontract import UNCHECKED, Case, Outcome, check_table, run_cases

LIB = REPO_ROOT / "multibuild"
PY = sys.executable
MM = "{}.{}".format(*sys.version_info[:2])

SETUP = f"""
source "{LIB}/common_utils.sh"
function bad_cmd {{ echo bad; return 1; }}
function bad_mid_cmd {{ echo ok for now; false; echo should be bad now; return 0; }}
function good_cmd {{ echo good; return 0; }}
function rmfile {{ rm testfile; }}
bar=baz
"""

CASES = [
    # Versions
    Case("lex_ver 2", "002000000"),
    Case("lex_ver 2.1", "002001000"),
    Case("lex_ver 2.1.4", "002001004"),
    Case("lex_ver 2.1.4rc1", "002001004"),
    Case("lex_ver 3.10.12.7", "003010012"),
    Case("lex_ver", "", 1, "lex_ver: no version given"),
    Case("unlex_ver 002000000", "2.0.0"),
    Case("unlex_ver 003002012", "3.2.12"),
    Case("unlex_ver 003044099", "3.44.99"),  # not octal
    Case("unlex_ver 003543012abc", "3.543.12"),
    Case("unlex_ver 3.2", "", 1, "unlex_ver: expected 9 digits"),
    Case("strip_ver_suffix 3.4.0rc1", "3.4.0"),
    Case("strip_ver_suffix 3.24.12a4", "3.24.12"),
    Case("strip_ver_suffix 3.4", "3.4.0"),
    Case("strip_ver_suffix", "", 1, "strip_ver_suffix: no version given"),
    # Functions and options
    Case("is_function abspath", "true"),
    Case("is_function foo", "", 1),
    Case("is_function bar", "", 1),  # a variable is not a function
    Case("is_function", "", 1),
    Case("touch testfile; is_function rmfile; [ -f testfile ] && echo not-run", "true\nnot-run"),
    Case('set_opts ehB; [[ $- == *e* ]] && echo on', "on"),
    Case('set -e; set_opts hB; [[ $- == *e* ]] || echo off', "off"),
    Case("set_opts", "", 1, "set_opts: no options string given"),
    # suppress: "Running ...", the output only on failure, errexit inside when it is on
    Case("suppress good_cmd", "Running good_cmd"),
    Case("suppress bad_cmd", "Running bad_cmd\nbad", 1),
    Case("suppress bad_mid_cmd", "Running bad_mid_cmd", errexit=False),
    Case("set -e; suppress bad_mid_cmd", "Running bad_mid_cmd\nok for now", 1),
    Case("suppress bash -c 'echo out; echo err >&2; exit 3'",
         "Running bash -c echo out; echo err >&2; exit 3\nout\nerr", 3),
    Case("suppress", "", 1, "suppress: no command given"),
    # expect_return / cmd_notexit
    Case("expect_return 3 bash -c 'exit 3'"),
    Case("expect_return 0 true"),
    Case("expect_return 0 bash -c 'exit 2'", "", 2),
    Case("expect_return 3 true", "", 1),
    Case("expect_return 0 exit 4", "", 4),  # in a subshell: this shell goes on
    Case("expect_return 1", "", 1, "expect_return: needs a return code and a command"),
    Case("expect_return x true", "", 1, "expect_return: return code 'x' is not a number"),
    Case("set -e; cmd_notexit bash -c 'exit 4' || echo \"status=$?\"; [[ $- == *e* ]] && echo e",
         "status=4\ne"),
    Case("cmd_notexit bad_mid_cmd", "ok for now\nshould be bad now"),  # errexit off inside
    Case("cmd_notexit", "", 1, "cmd_notexit: no command given"),
    # retry: 5 attempts, 1 s apart (sleep is recorded here), "Retry failed [N]" and status 1
    Case("n=0; f() { n=$((n + 1)); [ $n -ge 3 ]; }; MB_RETRY_WAIT=0 retry f; echo \"n=$n\"",
         "n=3"),
    Case("f() { echo try; return 7; }; MB_RETRY_WAIT=0 retry f",
         "try\ntry\ntry\ntry\ntry", 1, "Retry failed [5]: f", one_line_error=False),
    Case("sleep() { echo \"slept $1\"; }; g() { echo try; false; }; MB_RETRIES=3 retry g x",
         "try\nslept 1\ntry\nslept 1\ntry", 1, "Retry failed [3]: g x", one_line_error=False),
    Case("retry", "", 1, "retry: no command given"),
    # Paths
    Case("mkdir -p d/sub && touch d/sub/f && rm_mkdir d && ls -A d | wc -l", "0"),
    Case("rm_mkdir new/dir && [ -d new/dir ] && echo made", "made"),
    Case("rm_mkdir", "", 1, "rm_mkdir: no directory given"),
    Case("abspath foo", "{cwd}/foo"),
    Case("abspath foo/./bar/../baz", "{cwd}/foo/baz"),
    Case("abspath /foo", "/foo"),
    Case('relpath "$PWD/foo"', "foo"),
    Case("relpath foo/bar foo", "bar"),
    Case("relpath", "", 1, "relpath: no path given"),
    Case("realpath /foo", "/foo"),
    Case('ln -sfn "$PWD/d" link && realpath link/x', "{cwd}/d/x"),
    Case("realpath -m /a/../b", "/b"),  # with options: the system's realpath
    Case("realpath", "", 1, "realpath: no path given"),
    Case("PYTHON_EXE=/no/such/python any_python", "python3"),
    Case(f"PYTHON_EXE={PY} any_python", PY),
    Case("PATH=/nonexistent any_python", "", 1, "any_python: no Python found"),
    # Platforms
    Case("get_platform", platform.machine()),
    Case("MB_HOST_SYSTEM=Darwin get_os", "Darwin"),
    Case("MB_HOST_SYSTEM=MINGW64_NT-10.0 get_os", "Windows"),
    Case("MB_HOST_SYSTEM=Linux get_os", "Linux"),
    Case(f"PYTHON_EXE={PY} get_distutils_platform", sysconfig.get_platform()),
    Case("PYTHON_EXE= get_distutils_platform", "", 1,
         "get_distutils_platform: PYTHON_EXE variable not defined"),
    Case("get_distutils_platform x86_64 Linux", "manylinux1_x86_64"),
    Case("MACOSX_DEPLOYMENT_TARGET=10.9 get_distutils_platform i686 Darwin", "macosx_10_9_i386"),
    Case("get_distutils_platform intel Linux", "", 1, "get_distutils_platform: PLAT 'intel'"),
    Case("get_distutils_platform_ex x86_64 Linux", "manylinux_2_28_x86_64"),
    Case("MB_ML_VER=2014 get_distutils_platform_ex aarch64 Linux", "manylinux2014_aarch64"),
    Case("MB_ML_VER=1 get_distutils_platform_ex i686 Linux", "manylinux1_i686"),
    Case("MACOSX_DEPLOYMENT_TARGET=11.0 get_distutils_platform_ex arm64 Darwin",
         "macosx_11_0_arm64"),
    Case("MACOSX_DEPLOYMENT_TARGET= get_distutils_platform_ex arm64 Darwin", "", 1,
         "get_distutils_platform_ex: MACOSX_DEPLOYMENT_TARGET=''"),
    Case("get_distutils_platform_ex win32 Linux", "", 1,
         "get_distutils_platform_ex: unknown PLAT 'win32'"),
    Case("get_distutils_platform_ex", "", 1, "get_distutils_platform_ex: no PLAT given"),
    # Python
    Case(f"PYTHON_EXE={PY} check_python"),
    Case("PYTHON_EXE= check_python", "", 1, "check_python: PYTHON_EXE variable not defined"),
    Case("PIP_CMD=pip check_pip"),
    Case("PIP_CMD= check_pip", "", 1, "check_pip: PIP_CMD variable not defined"),
    Case(f"PYTHON_EXE={PY} get_py_mm", MM),
    Case("PYTHON_EXE= get_py_mm", "", 1, "get_py_mm: PYTHON_EXE variable not defined"),
    Case(f"PYTHON_EXE={PY}; install_pip && echo \"$PIP_CMD\" && $PIP_CMD --version | cut -c1-4",
         f"{PY} -m pip\npip "),
    # An interpreter without pip (a recording stand-in: ensurepip itself is slow to run here)
    Case("PYTHON_EXE=shims/nopip/python; install_pip && echo \"$PIP_CMD\"",
         "shims/nopip/python -m pip"),
    Case("PYTHON_EXE=shims/brokenpip/python install_pip", "", 1,
         "install_pip: ensurepip failed for shims/brokenpip/python"),
    Case("PYTHON_EXE= install_pip", "", 1, "install_pip: PYTHON_EXE variable not defined"),
    # PyPy: the version helpers keep their contract; PyPy itself is not supported
    Case("LATEST_X_1=1.2; LATEST_X_1p2=1.2.3; unroll_version LATEST_X 1", "1.2.3"),
    Case("unroll_version LATEST_X 9.9", "9.9"),
    Case("unroll_version LATEST_PP", "", 1, "unroll_version: needs a table prefix and a version"),
    Case("fill_pypy_ver 5", "5.10.1"),
    Case("fill_pypy_ver 5.4", "5.4.1"),
    Case("fill_pypy_ver 6", "6.0.0"),
    Case("fill_pypy_ver 4.0.1", "4.0.1"),
    Case("fill_pypy_ver", "", 1, "fill_pypy_ver: no version given"),
    Case("get_pypy_build_prefix pypy3.6-7.2", "pypy3.6-v"),
    Case("get_pypy_build_prefix 7.2", "pypy2.7-v"),
    Case("get_pypy_build_prefix 5.3", "pypy2-v"),
    Case("get_pypy_build_prefix 6.0", "pypy2-v"),
    Case("get_pypy_build_prefix 5.1", "pypy-"),
    Case("get_pypy_build_prefix seven", "", 1, "get_pypy_build_prefix: expected a version"),
    Case("install_pypy pypy3.9-7.3", "", 1, "install_pypy: PyPy is not supported"),
    # Tools
    Case("PATH=shims/rsync install_rsync"),
    Case("IS_MACOS=1 PATH=/nonexistent install_rsync"),
    Case("PATH=shims/apt install_rsync", "apt-get install -y rsync"),
    Case("IS_ALPINE=1 PATH=shims/apk install_rsync", "apk add rsync"),
    Case("PATH=/nonexistent install_rsync", "", 1, "install_rsync: rsync is missing"),
    Case('cd "$(mktemp -d clones.XXXXXX)" && gh_clone owner/proj && git -C proj log --format=%s',
         "first", stderr=UNCHECKED),
    Case('cd "$(mktemp -d clones.XXXXXX)" && gh-clone owner/proj && git -C proj log --format=%s',
         "first", stderr=UNCHECKED),
    Case("gh_clone proj", "", 1, "gh_clone: expected OWNER/NAME, got 'proj'"),
    Case("pip_opts"),
    Case("MANYLINUX_URL=https://example.invalid/wheels pip_opts",
         "--find-links https://example.invalid/wheels"),
    Case("printf payload > f.txt && check_sha256sum f.txt "
         "239f59ed55e737c77147cf55ad0c1b030b6d7ee748a7426952f9b852d5a935e5", "f.txt: OK"),
    Case("check_sha256sum f.txt", "", 1, "check_sha256sum: needs a file and its sha256"),
    Case("shell_session_update"),
    Case("stop_spinner"),  # none running: nothing to do
    Case("MB_SPINNER_INTERVAL=0.1 start_spinner; pid=$MB_SPINNER_PID; start_spinner; "
         "[ \"$pid\" = \"$MB_SPINNER_PID\" ] && echo one; sleep 1; stop_spinner; sleep 0.3; "
         "kill -0 $pid 2>/dev/null || echo stopped; echo \"[${MB_SPINNER_PID:-}]\"",
         "one\nstopped\n[]", stderr="Still building..."),
    # pre_build runs under errexit (in its own bash, so even a caller's `||` keeps it on);
    # what it exports comes back
    Case("pre_build() { echo one; return 3; }; mb_run_pre_build; echo \"after $?\"",
         "one\nafter 3", stderr="error: pre_build failed (exit 3)", errexit=False),
    Case("set -e; pre_build() { echo one; false; echo two; }; mb_run_pre_build; echo after",
         "one", 1, stderr="error: pre_build failed (exit 1)", errexit=False,
         one_line_error=False),
    Case("pre_build() { echo one; false; echo two; }; mb_run_pre_build || echo failed",
         "one\nfailed", stderr="error: pre_build failed (exit 1)", errexit=False),
    Case("pre_build() { export FROM_PRE_BUILD=yes; }; mb_run_pre_build; echo $FROM_PRE_BUILD",
         "yes"),
    Case("mb_run_pre_build"),  # no pre_build: nothing to do
    Case("build_index_wheel", "", 1, "build_index_wheel: no project spec given"),
    Case("build_index_wheel_cmd", "", 1, "build_index_wheel_cmd: no project spec given"),
]


def _shim(path: Path, body: str = "") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f'#!/bin/sh\necho "{path.name} $*"\n{body}')
    path.chmod(0o755)


@pytest.fixture(scope="module")
def table(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Outcome],
                                                           dict[str, Outcome]]:
    cwd = tmp_path_factory.mktemp("common")
    # Boundaries: package managers and GitHub. Shims record what would run; GitHub is a local
    # repository that git's url.<base>.insteadOf puts in its place.
    _shim(cwd / "shims" / "rsync" / "rsync")
    _shim(cwd / "shims" / "apt" / "apt-get")
    _shim(cwd / "shims" / "apk" / "apk")
    proj = cwd / "github" / "owner" / "proj"
    proj.mkdir(parents=True)
    (proj / "README").write_text("x\n")
    git(proj, "init", "-q")
    git(proj, "add", "-A")
    git(proj, "commit", "-qm", "first")
    # "python -m pip" fails until "python -m ensurepip --upgrade" has run (or always fails).
    for name, ensure in (("nopip", "touch \"$0.pip\""), ("brokenpip", "exit 1")):
        python = cwd / "shims" / name / "python"
        python.parent.mkdir(parents=True)
        python.write_text('#!/bin/sh\nif [ "$2" = pip ]; then [ -e "$0.pip" ]; exit; fi\n'
                          f'if [ "$2" = ensurepip ]; then {ensure}; fi\n')
        python.chmod(0o755)
    env = {**GIT_ENV, "GIT_CONFIG_COUNT": "1",
           "GIT_CONFIG_KEY_0": f"url.file://{cwd}/github/.insteadOf",
           "GIT_CONFIG_VALUE_0": "https://github.com/"}
    plain, strict = run_cases(SETUP, CASES, cwd, env)
    return cwd, plain, strict


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_common_utils_contract(case: Case, table: tuple[Path, dict[str, Outcome],
                                                        dict[str, Outcome]]) -> None:
    cwd, plain, strict = table
    check_table(case, (plain, strict), {"cwd": str(cwd)})


# -- sourcing ----------------------------------------------------------------------------------


def test_sourcing_turns_errexit_on_and_happens_once() -> None:
    done = run_shell("""
        echo "flags=$-"
        function abspath { echo overridden; }
        source "$MULTIBUILD_DIR/common_utils.sh"
        abspath x
        false
        echo unreachable
    """)
    assert done.returncode == 1
    assert "e" in done.stdout.splitlines()[0].split("=")[1]
    assert done.stdout.splitlines()[1] == "overridden"  # config.sh's override survives
    assert "unreachable" not in done.stdout


def _is_vars(env: dict[str, str], path: str | None = None) -> str:
    script = (f'source "{LIB}/common_utils.sh"; for v in IS_MACOS IS_OSX IS_ALPINE; do '
              'declare -p $v 2>/dev/null || echo "$v unset"; done')
    full = tool_env(env)
    if "MB_HOST_SYSTEM" not in env:
        full.pop("MB_HOST_SYSTEM", None)
    if path is not None:
        full["PATH"] = path
    done = subprocess.run(["bash", "-c", script], env=full, capture_output=True, text=True,
                          check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_is_osx_and_is_macos_set_on_macos_only(tmp_path: Path) -> None:
    # Set, not exported, as multibuild does; MB_HOST_SYSTEM or uname -s decides.
    assert _is_vars({"MB_HOST_SYSTEM": "Darwin"}).splitlines()[:2] == \
        ['declare -- IS_MACOS="1"', 'declare -- IS_OSX="1"']
    assert _is_vars({"MB_HOST_SYSTEM": "Linux"}).splitlines() == \
        ["IS_MACOS unset", "IS_OSX unset", "IS_ALPINE unset"]
    shim = tmp_path / "bin" / "uname"
    shim.parent.mkdir()
    shim.write_text('#!/bin/sh\nif [ "$1" = -s ] || [ -z "$1" ]; then echo Darwin; '
                    'else exec /bin/uname "$@"; fi\n')
    shim.chmod(0o755)
    out = _is_vars({}, f"{shim.parent}:{os.environ['PATH']}")  # a uname that says Darwin
    assert 'declare -- IS_OSX="1"' in out
    assert 'declare -- IS_ALPINE="1"' in _is_vars({"MB_ML_LIBC": "musllinux"})


def test_fill_submodule_gives_the_submodule_its_own_git_directory(tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "README.txt").write_text("Interesting!\n")
    git(project, "init", "-q", "-b", "main")
    git(project, "add", "README.txt")
    git(project, "commit", "-qm", "first project")
    git(project, "tag", "first-commit")
    (project / "README.txt").write_text("More\n")
    git(project, "commit", "-qam", "second project")
    superproject = tmp_path / "super"
    superproject.mkdir()
    git(superproject, "init", "-q")
    git(superproject, "-c", "protocol.file.allow=always", "submodule", "add", "-q",
        "../project")
    git(superproject, "commit", "-qm", "first superproject")
    sub = superproject / "project"
    origin = git(sub, "config", "--get", "remote.origin.url")
    assert (sub / ".git").is_file()
    (sub / "local.txt").write_text("untracked work is kept\n")
    done = run_shell(f"""
        fill_submodule {sub}
        fill_submodule {sub}   # a .git directory already: nothing to do
        cp -a {sub} {tmp_path}/copy
        git -C {tmp_path}/copy log --format=%s
        git -C {sub} checkout -q first-commit && cat {sub}/README.txt
        git -C {sub} checkout -q main && echo main-ok
    """, env=GIT_ENV)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["second project", "first project", "Interesting!",
                                        "main-ok"]
    assert (sub / ".git").is_dir()
    assert git(sub, "config", "--get", "remote.origin.url") == origin
    assert (sub / "local.txt").exists()
    (sub / "local.txt").unlink()
    assert git(superproject, "status", "--porcelain") == ""
    for bad, message in (("", "fill_submodule: no REPO_DIR given"),
                         (str(tmp_path),
                          f"fill_submodule: '{tmp_path}' exists but is not a git repository")):
        failed = run_shell(f"fill_submodule {bad}")
        assert failed.returncode == 1
        assert failed.stderr.strip() == f"error: {message}"
