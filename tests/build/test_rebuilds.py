"""Rebuilds that keep what they can: per-configuration work dirs, byte-identical wheels from
clones at different paths (spaces, quotes, non-ASCII letters in them), reused test results,
requires-python checked before anything is built."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import REPO_ROOT, git, make_fixture_repo, run_shell, tool_env

from multibuild.build.incremental import project_label, python_allowed
from multibuild.build.reproducible import normalize_wheel, path_map, record_line, unmapped_paths
from multibuild.run.options import RunOptions, known_configs, project_config
from multibuild.run.testresults import TestResults
from multibuild.run.testreuse import PENDING, RECORD, check, remember, reuse_wanted

# --------------------------------------------------------------------------- fast units


def test_every_configurations_checkout_is_ignored_by_git() -> None:
    for name in known_configs(REPO_ROOT):
        config = project_config(REPO_ROOT, name)
        repo_dir = config.defaults.get("REPO_DIR") or name
        done = subprocess.run(["git", "check-ignore", "-q", f"{repo_dir}/setup.py"],
                              cwd=REPO_ROOT, check=False)
        assert done.returncode == 0, f"{repo_dir}/ of --config {name} is not in .gitignore"


def test_default_work_dir_is_per_configuration() -> None:
    def work(environ: dict[str, str], **kw: str) -> Path:
        return RunOptions.resolve(REPO_ROOT, environ, plat="x86_64", pythons="3.12",
                                  **kw).work_dir  # type: ignore[arg-type]

    assert work({}) == REPO_ROOT / "build" / "numpy"
    assert work({}, config="scipy") == REPO_ROOT / "build" / "scipy"
    assert work({"CONFIG_PATH": "configs/scipy/config.sh"}) == REPO_ROOT / "build" / "scipy"
    other = work({"ENV_VARS_PATH": "env_vars32.sh"})
    assert other.parent == REPO_ROOT / "build" and other.name.startswith("numpy-")
    assert work({}, work_dir="/tmp/elsewhere") == Path("/tmp/elsewhere")


def test_requires_python_admits_a_version_if_any_of_its_releases_fits() -> None:
    assert python_allowed(">=3.12", "3.12") and python_allowed(">=3.12", "3.13t")
    assert not python_allowed(">=3.12", "3.9") and not python_allowed("<3.12,>=3.9", "3.12")
    assert python_allowed(">=3.11.4", "3.11") and python_allowed("~=3.10", "3.13")
    assert python_allowed("not a specifier", "3.9")  # the backend's to judge


def test_reuse_is_on_locally_off_under_ci_and_with_retest() -> None:
    assert reuse_wanted({})
    assert not reuse_wanted({"CI": "true"}) and not reuse_wanted({"TF_BUILD": "True"})
    assert not reuse_wanted({}, retest=True) and not reuse_wanted({"MB_RETEST": "1"})
    assert not reuse_wanted({"MB_REUSE_TESTS": "0"})
    assert reuse_wanted({"CI": "true", "MB_REUSE_TESTS": "1"})


KEY = {"format": 1, "wheels": {"a.whl": "0" * 64}, "packages": ["a==1"], "python": "3.12",
       "run_tests": "f" * 64, "commit": "c" * 40}


@pytest.mark.parametrize("tests,kept", [
    (TestResults(passed=3), True),
    (None, True),  # a run_tests without pytest: its pass is kept
    (TestResults(passed=3, failed=1), False),
    (TestResults(passed=3, errors=1), False),
    (TestResults(passed=3, reruns=1), False),  # flaky: passed only on a rerun
])
def test_only_a_clean_pass_is_remembered(tmp_path: Path, tests: TestResults | None,
                                         kept: bool) -> None:
    check(tmp_path, KEY)
    remember(tmp_path, "run1", True, tests)
    assert (tmp_path / RECORD).is_file() == kept
    record, _ = check(tmp_path, KEY)
    assert (record is not None) == kept
    if kept:
        assert record is not None and record["run"] == "run1"


def test_a_failed_run_forgets_and_a_change_is_named(tmp_path: Path) -> None:
    check(tmp_path, KEY)
    remember(tmp_path, "run1", True, TestResults(passed=1))
    record, why = check(tmp_path, {**KEY, "packages": ["a==2"], "run_tests": "e" * 64})
    assert record is None and why == "changed since run run1: packages, run_tests"
    assert json.loads((tmp_path / PENDING).read_text())["packages"] == ["a==2"]
    remember(tmp_path, "run2", False, None)
    assert not (tmp_path / RECORD).exists()


def test_run_tests_inputs_follow_its_functions_and_variables() -> None:
    script = """
        function helper { python -c "print('$FOO')"; }
        function run_tests { helper; echo "$BAR"; }
        one=$(mb_run_tests_inputs | mb_sha256_stdin)
        UNRELATED=x
        same=$(mb_run_tests_inputs | mb_sha256_stdin)
        FOO=2
        foo=$(mb_run_tests_inputs | mb_sha256_stdin)
        function helper { python -c "print('$FOO', 1)"; }
        text=$(mb_run_tests_inputs | mb_sha256_stdin)
        PYTEST_ADDOPTS=-x; export PYTEST_ADDOPTS
        addopts=$(mb_run_tests_inputs | mb_sha256_stdin)
        echo "$one $same $foo $text $addopts"
    """
    done = run_shell(script, {"FOO": "1", "BAR": "b"})
    assert done.returncode == 0, done.stderr
    one, same, foo, text, addopts = done.stdout.split()
    assert one == same and len({one, foo, text, addopts}) == 4


def test_build_paths_in_text_files_become_stable_names(tmp_path: Path) -> None:
    build = tmp_path / "clone with space ü" / "build" / "numpy" / "cp312"
    environ = {"MB_PATH_MAP": f"{tmp_path}=/mb/root\n{build}=/mb/work"}
    mapping = path_map(environ)
    assert mapping[0] == (str(build), "/mb/work")  # the innermost directory first
    config = f'CONFIG = {{"path": "{build}/venv/bin/python", "pc": "{tmp_path}/cache"}}\n'
    members = {"pkg/__config__.py": config.encode(), "pkg/_core.so": b"\x7fELF\0" +
               str(build).encode(), "pkg-1.0.dist-info/METADATA": b"Name: pkg\n"}
    wheel = tmp_path / "pkg-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
        archive.writestr("pkg-1.0.dist-info/RECORD", "".join(
            record_line(n, d) + "\n" for n, d in members.items()) + "pkg-1.0.dist-info/RECORD,,\n")
    fixed, binary = unmapped_paths(wheel, mapping)
    assert binary == ["pkg/_core.so"]
    assert fixed == {"pkg/__config__.py":
                     b'CONFIG = {"path": "/mb/work/venv/bin/python", "pc": "/mb/root/cache"}\n'}
    normalize_wheel(wheel, 1_700_000_000, add=fixed)
    with zipfile.ZipFile(wheel) as archive:
        record = archive.read("pkg-1.0.dist-info/RECORD").decode()
        assert record_line("pkg/__config__.py", fixed["pkg/__config__.py"]) in record
        assert str(tmp_path) not in archive.read("pkg/__config__.py").decode()


def test_path_map_names_directories_as_given_and_resolved(tmp_path: Path) -> None:
    real = tmp_path / "real work"
    real.mkdir()
    (tmp_path / "link").symlink_to(real)
    quoted = tmp_path / "it's"
    quoted.mkdir()
    openblas = tmp_path / "openblas"  # build_openblas's prefix, in the user's cache
    openblas.mkdir()
    env = {"MB_WORK_DIR": str(tmp_path / "link"), "MB_CACHE_DIR": str(quoted),
           "OPENBLAS": str(openblas), "MB_PYTHON_BASE": "", "CFLAGS": "-O2"}
    done = run_shell('unset PYTHON_EXE; mb_path_map; printf "%s\\n" "$MB_PATH_MAP"; '
                     'mb_path_map_flags printenv CFLAGS', env)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[:5] == [f"{REPO_ROOT}=/mb/root", f"{quoted}=/mb/cache",
                         f"{openblas}=/mb/openblas", f"{tmp_path / 'link'}=/mb/work",
                         f"{real}=/mb/work"]
    # A directory with a space is quoted for the build systems; one with a quote left out.
    root = f"-ffile-prefix-map={REPO_ROOT}=/mb/root"
    root = "" if "'" in root else f"'{root}' " if " " in root else f"{root} "
    assert lines[5] == (f"-O2 {root}-ffile-prefix-map={openblas}=/mb/openblas "
                        f"-ffile-prefix-map={tmp_path / 'link'}=/mb/work "
                        f"'-ffile-prefix-map={real}=/mb/work'")


def test_backend_errors_name_the_project_not_dot(tmp_path: Path) -> None:
    project = tmp_path / "broken"
    project.mkdir()
    (project / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["setuptools"]\nbuild-backend = "setuptools.build_meta"\n'
        '[project]\nname = "brokenpkg"\nversion = "1.0"\n')
    (project / "setup.py").write_text("raise SystemExit('error: this project cannot build')\n")
    assert project_label(project) == "brokenpkg"
    assert project_label(Path(os.devnull).parent) == "dev"
    done = subprocess.run(
        [sys.executable, "-m", "multibuild.build.incremental", "build-wheel", ".", "--python",
         sys.executable, "--out", str(tmp_path / "out")],
        cwd=project, env=tool_env(), capture_output=True, text=True, check=False)
    assert done.returncode == 1
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("error: brokenpkg: the build backend ")


def test_python_outside_requires_python_is_refused_before_any_build(
        tmp_path: Path, pythons: dict[str, Path]) -> None:
    repo = make_fixture_repo("purepy", tmp_path / "purepy")
    pyproject = repo.path / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace('">=3.9"', '">=3.99"'))
    git(repo.path, "commit", "-qam", "needs Python 3.99")
    version = sorted(pythons)[0]
    work, out = tmp_path / "work", tmp_path / "out"
    done = subprocess.run(
        [str(REPO_ROOT / "wheels"), "build", "--python", version, "--commit", "main",
         "--repo-url", str(repo.path), "--repo-dir", str(tmp_path / "checkout"),
         "--work-dir", str(work), "--output", str(out)],
        cwd=REPO_ROOT, env=tool_env({"CONFIG_PATH": str(repo.path / "config.sh"),
                                     "ENV_VARS_PATH": str(repo.path / "env_vars.sh")}),
        capture_output=True, text=True, check=False)
    assert done.returncode == 2, done.stderr
    assert done.stderr == (f"error: --python {version}: purepy at main requires Python >=3.99 "
                           "(requires-python in its pyproject.toml); nothing was built\n")
    assert sorted(p.name for p in work.iterdir()) == ["source"]  # no target started
    assert not out.exists()


# --------------------------------------------------------------------------- whole runs

CONFIG = """
function pre_build {
    $PIP_CMD install --quiet "scipy-openblas32==${OPENBLAS_WHEEL_VERSION}"
    BLASDOT_INCLUDE=$("$PYTHON_EXE" -c 'import scipy_openblas32 as s; print(s.get_include_dir())')
    BLASDOT_LIBDIR=$("$PYTHON_EXE" -c 'import scipy_openblas32 as s; print(s.get_lib_dir())')
    export BLASDOT_INCLUDE BLASDOT_LIBDIR
    export LD_LIBRARY_PATH="$BLASDOT_LIBDIR${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
}
function pip_opts { echo "--no-build-isolation"; }
function run_tests {
    {
        echo 'import blasdot'
        echo 'def test_ddot():'
        echo '    assert blasdot.ddot([1, 2], [3, 4]) == 11.0'
        echo 'def test_flavour():'
        echo "    assert '$FLAVOUR'"
    } > test_it.py
    python -m pytest -q -p no:cacheprovider test_it.py
    rm test_it.py
}
"""


def env_vars(repo: Path, flavour: str) -> str:
    return (f'REPO_URL={repo}\nREPO_DIR=blasdot\nBUILD_COMMIT=v0.1.0\n'
            f'export FLAVOUR={flavour}\nBUILD_DEPENDS="setuptools wheel"\n'
            'TEST_DEPENDS="pytest"\nOPENBLAS_WHEEL_VERSION=0.3.34.481.3\n')


def wheels_copy(dest: Path, repo: Path) -> Path:
    """This wheels repository's files (as they are, committed or not) at ``dest``, with two
    configurations of the blasdot fixture: alpha and beta."""
    listed = subprocess.run(["git", "ls-files", "-z", "-co", "--exclude-standard"],
                            cwd=REPO_ROOT, capture_output=True, check=True).stdout
    for name in filter(None, listed.decode().split("\0")):
        source = REPO_ROOT / name
        if source.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / name)
    for name in ("alpha", "beta"):
        (dest / "configs" / name).mkdir(parents=True)
        (dest / "configs" / name / "config.sh").write_text(CONFIG)
        (dest / "configs" / name / "env_vars.sh").write_text(env_vars(repo, name))
    return dest


@dataclass
class Run:
    proc: subprocess.CompletedProcess[str]
    report: dict[str, object]
    wheelhouse: Path

    @property
    def target(self) -> dict[str, object]:
        targets = self.report["targets"]
        assert isinstance(targets, list)
        found: dict[str, object] = targets[0]
        return found

    @property
    def log(self) -> str:
        # The copy beside the kept report: the target's build.log is the next run's.
        return (self.wheelhouse / str(self.target["log_href"])).read_text()

    @property
    def wheel(self) -> Path:
        wheels = self.target["wheels"]
        assert isinstance(wheels, list) and len(wheels) == 1, self.proc.stdout[-3000:]
        return self.wheelhouse / wheels[0]["file"]


# A local run, even when this suite runs under CI: test results may be reused.
LOCAL = dict.fromkeys(("CI", "TF_BUILD", "APPVEYOR", "TRAVIS", "GITHUB_ACTIONS", "GITLAB_CI",
                       "MB_REUSE_TESTS", "MB_RETEST"), "")


def build_in(root: Path, python: str, *args: str) -> Run:
    """``./wheels build`` of the wheels repository at ``root`` (its own library), as a user
    in that clone runs it."""
    proc = subprocess.run(
        [sys.executable, "-m", "multibuild", "build", "--python", python, *args],
        cwd=root, env=tool_env({"PYTHONPATH": str(root), "USE_CCACHE": "0", **LOCAL}),
        capture_output=True, text=True, check=False, timeout=900)
    report = root / "wheelhouse" / "report.json"
    assert report.is_file(), proc.stdout[-3000:] + proc.stderr[-3000:]
    # Kept for the comparisons: the next run replaces the wheelhouse.
    kept = root.parent / f"{root.name}-{len(list(root.parent.iterdir()))}"
    shutil.copytree(root / "wheelhouse", kept)
    return Run(proc, json.loads(report.read_text()), kept)


@dataclass
class Clones:
    plain: Path
    odd: Path
    runs: dict[str, Run]


@pytest.fixture(scope="module")
def clones(tmp_path_factory: pytest.TempPathFactory, two_pythons: list[str]) -> Clones:
    base = tmp_path_factory.mktemp("clones")
    repo = make_fixture_repo("blasdot", base / "blasdot-src")
    python = two_pythons[0]
    plain = wheels_copy(base / "first", repo.path)
    odd = wheels_copy(base / "sec ond 'qu\"ote' ünï", repo.path)
    runs = {
        "plain alpha": build_in(plain, python, "--config", "alpha"),
        "alpha": build_in(odd, python, "--config", "alpha"),
        "beta": build_in(odd, python, "--config", "beta"),
        "alpha again": build_in(odd, python, "--config", "alpha"),
        "alpha retest": build_in(odd, python, "--config", "alpha", "--retest"),
    }
    return Clones(plain, odd, runs)


def test_every_run_in_an_odd_path_passes(clones: Clones) -> None:
    for name, run in clones.runs.items():
        assert run.proc.returncode == 0, f"{name}: {run.proc.stdout[-3000:]}{run.proc.stderr}"
        assert run.target["passed"]


def test_clones_at_different_paths_build_byte_identical_wheels(clones: Clones) -> None:
    plain, odd = clones.runs["plain alpha"].wheel, clones.runs["alpha"].wheel
    assert plain.name == odd.name
    assert plain.read_bytes() == odd.read_bytes()
    with zipfile.ZipFile(odd) as archive:
        for info in archive.infolist():
            data = archive.read(info)
            for root in (clones.plain, clones.odd):
                assert str(root).encode() not in data, f"{info.filename} holds {root}"


def test_configurations_keep_their_own_work_dirs(clones: Clones, two_pythons: list[str]) -> None:
    target = f"cp{two_pythons[0].replace('.', '')}-linux-x86_64"
    for name in ("alpha", "beta"):
        assert (clones.odd / "build" / name / target / "venv").is_dir()
    again = clones.runs["alpha again"].log
    # Back to alpha after beta: its build environment and its tests are still there.
    assert "venv (reused)" in again
    assert "install_run: tests reused from run " in again


def test_a_no_change_rerun_reuses_the_test_results(clones: Clones) -> None:
    first, again = clones.runs["alpha"], clones.runs["alpha again"]
    assert again.target["wheels"][0]["reproduced"] is True  # type: ignore[index]
    reused = again.target["tests_reused"]
    assert isinstance(reused, dict) and reused["run"] == first.report["run_id"]
    assert again.target["tests"] == first.target["tests"]
    tests = first.target["tests"]
    assert isinstance(tests, dict) and tests["passed"] == 2 and tests["source"] == "junit-xml"
    line = f"tests reused from run {reused['run']} ({reused['when']}): 2 passed"
    assert line in again.log
    assert "test_it.py" not in again.log  # pytest did not run
    # The same built wheel, libraries and tools: the last run's repaired wheel, not auditwheel.
    assert "reusing the last run's blasdot-0.1.0-" in again.log
    assert "auditwheel repair" not in again.log and "auditwheel repair" in first.log


def test_retest_runs_the_tests_and_the_first_run_of_a_configuration_does(
        clones: Clones) -> None:
    for name in ("alpha", "beta", "alpha retest"):
        run = clones.runs[name]
        assert run.target["tests_reused"] is None
        assert "2 passed" in run.log
    assert "reuse is off: --retest" in clones.runs["alpha retest"].log


def test_each_clone_keeps_its_own_checkout(clones: Clones) -> None:
    assert (clones.odd / "blasdot").is_dir() and (clones.plain / "blasdot").is_dir()
    assert not (REPO_ROOT / "blasdot").exists()

