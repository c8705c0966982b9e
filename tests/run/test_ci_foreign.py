"""Other wheels repositories' CI files in the one CI model (multibuild/ci/cifiles.py,
cimatrix.py, cirun.py, cicheck.py): how their jobs are read, listed, evaluated and checked.
The end-to-end runs of whole real-style repositories are in test_real_style_repos.py."""

from __future__ import annotations

import os
import platform
import subprocess
import textwrap
from pathlib import Path

import pytest
from conftest import REPO_ROOT, run_wheels

from multibuild import MultibuildError
from multibuild.build.wheelfit import interpreter_tags
from multibuild.ci.cicheck import check
from multibuild.ci.cimatrix import (
    Host,
    evaluated_environment,
    expand,
    local_settings,
    python_of,
    skip_reason,
)
from multibuild.run.cirun import Condition, JobRun, publishing_steps, travis_driver
from multibuild.run.testdir import prepare

TRAVIS = """\
env:
  global:
    - REPO_DIR="proj"
    - BUILD_COMMIT=v1.0
    - DEP="numpy==1.17.3"
    - TAG="proj-${BUILD_COMMIT}"
    - secure: "c2VjcmV0"
language: python
python: 3.6
jobs:
  include:
    - env: [MB_PYTHON_VERSION=3.8]
    - env: [MB_PYTHON_VERSION=3.8, UNICODE_WIDTH=16]
    - env:
        - MB_PYTHON_VERSION=3.8
        - CONFIG_PATH: "config_ilp64.sh"
    - {arch: arm64, env: [MB_PYTHON_VERSION=3.9]}
    - {os: osx, env: [MB_PYTHON_VERSION=3.9]}
    - env: [MB_PYTHON_VERSION=2.7]
before_install:
  - BUILD_DEPENDS="$DEP Cython"
  - export TEST_DEPENDS="pytest $DEP"
  - source multibuild/common_utils.sh
install:
  - build_wheel $REPO_DIR $PLAT
script:
  - install_run $PLAT
"""


def _repo(tmp_path: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(textwrap.dedent(text))
    return tmp_path


def test_travis_env_entries_are_read_as_the_shell_reads_them(tmp_path: Path) -> None:
    repo = _repo(tmp_path, {".travis.yml": TRAVIS})
    jobs = {job.id: job for job in expand(repo)}
    assert list(jobs) == ["travis-linux-x86_64-cp38", "travis-linux-x86_64-cp38-2",
                          "travis-linux-x86_64-cp38-3", "travis-linux-aarch64-cp39",
                          "travis-macos-x86_64-cp39", "travis-linux-x86_64-cp27"]
    job = jobs["travis-linux-x86_64-cp38"]
    # Quotes gone; no secure entry; listing runs no CI code: ${BUILD_COMMIT} is evaluated by
    # bash, as Travis's export does, only for a job that is built or replayed.
    env = job.environment
    assert env["REPO_DIR"] == "proj" and env["DEP"] == "numpy==1.17.3"
    assert env["TAG"] == '"proj-${BUILD_COMMIT}"'
    assert evaluated_environment(repo, job)["TAG"] == "proj-v1.0"
    assert not any("c2VjcmV0" in value for value in env.values())
    assert jobs["travis-linux-x86_64-cp38-3"].environment["CONFIG_PATH"] == "config_ilp64.sh"
    assert jobs["travis-linux-x86_64-cp38"].kind == "script"


def test_why_a_job_cannot_run_here(tmp_path: Path) -> None:
    repo = _repo(tmp_path, {".travis.yml": TRAVIS})
    jobs = {job.id: job for job in expand(repo)}
    host = Host(os="linux", machine="x86_64", mode="native", pythons=frozenset({"3.8"}))
    assert skip_reason(jobs["travis-linux-x86_64-cp38"], host) is None
    assert skip_reason(jobs["travis-linux-x86_64-cp27"], host) == (
        "Python 2.7 is older than 3.6, the oldest this library builds for")
    assert "aarch64 hardware" in str(skip_reason(jobs["travis-linux-aarch64-cp39"], host))
    assert skip_reason(jobs["travis-macos-x86_64-cp39"], host) == \
        "macOS job: runs on a macOS machine only"
    assert python_of("3.8.x") == "3.8" and python_of("3.11-dev") == "3.11"
    assert python_of("pypy3.8-7.3.8") == "pypy3.8-7.3.8" and python_of("3.1l") == "3.1l"


def test_before_install_and_jobs_agree_on_an_unsupported_python() -> None:
    """The line ./wheels jobs prints is the one before_install fails with."""
    from conftest import run_shell

    done = run_shell("MB_PYTHON_VERSION=2.7; source multibuild/travis_steps.sh; before_install",
                     env={"MB_BUILD_MODE": "native"})
    assert done.returncode != 0
    assert "error: Python 2.7 is older than 3.6, the oldest this library builds for" \
        in done.stderr


def test_build_takes_the_dependency_lists_from_before_install(tmp_path: Path) -> None:
    repo = _repo(tmp_path, {".travis.yml": TRAVIS})
    settings = local_settings(repo, "3.8", "x86_64")
    assert settings.job is not None and settings.job.id == "travis-linux-x86_64-cp38"
    values = settings.values
    assert values["BUILD_DEPENDS"].value == "numpy==1.17.3 Cython"
    assert values["BUILD_DEPENDS"].source == ".travis.yml:21, before_install"
    assert values["TEST_DEPENDS"].value == "pytest numpy==1.17.3"
    assert values["REPO_DIR"].source == ".travis.yml:3"
    assert local_settings(repo, "3.12", "x86_64").job is None  # globals only


AZURE = """\
variables:
  BUILD_COMMIT: "v1.0"
jobs:
  - template: azure/posix.yml
    parameters:
      name: linux
      vmImage: ubuntu-22.04
      matrix:
        py_3.10:
          MB_PYTHON_VERSION: "3.10"
"""
TEMPLATE = """\
parameters:
  - name: name
    default: ""
  - name: vmImage
    default: ""
  - name: matrix
    type: object
jobs:
  - job: ${{ parameters.name }}
    pool:
      vmImage: ${{ parameters.vmImage }}
    variables:
      REPO_DIR: "proj"
      TEST_DIR: "$(Agent.WorkFolder)/tmp_for_test"
    strategy:
      matrix:
        ${{ insert }}: ${{ parameters.matrix }}
    steps:
      - checkout: self
      - bash: |
          BUILD_DEPENDS="numpy $(REPO_DIR)"
          if [ -n "$X" ]; then
            BUILD_DEPENDS=never
          fi
          build_wheel $REPO_DIR
        displayName: Build ${{ parameters.name }}
      - bash: install_run
        displayName: Test
      - bash: anaconda upload
        displayName: Upload
        condition: ne(variables['TOKEN'], '')
"""


def test_azure_template_parameters_matrix_and_steps(tmp_path: Path) -> None:
    repo = _repo(tmp_path, {"azure-pipelines.yml": AZURE, "azure/posix.yml": TEMPLATE})
    (job,) = expand(repo)
    assert job.id == "azure-linux-x86_64-cp310" and job.where == "azure-pipelines.yml:9"
    env = job.environment
    assert env["REPO_DIR"] == "proj" and env["BUILD_COMMIT"] == "v1.0"
    assert env["TEST_DIR"] == "$(Agent.WorkFolder)/tmp_for_test"  # a macro, expanded at run
    kinds = [(s.kind, s.phase) for s in job.script]
    assert kinds == [("checkout", "checkout"), ("shell", "Build linux"), ("shell", "Test"),
                     ("shell", "Upload")]
    assert publishing_steps(job.script) == {3}
    # Only top-level assignment lines count: the one inside `if` is left out.
    settings = local_settings(repo, "3.10", "x86_64")
    assert settings.values["BUILD_DEPENDS"].value == "numpy proj"  # $(REPO_DIR): a macro
    assert settings.values["BUILD_DEPENDS"].source == "azure/posix.yml:20, Build linux"


@pytest.mark.parametrize("expression,expected", [
    ("succeeded()", True),
    ("failed()", False),
    ("eq(variables['Build.Reason'], 'schedule')", True),  # comparisons ignore case
    ("ne(variables['TOKEN'], '')", False),
    ("and(succeeded(), not(eq(variables['MB_PYTHON_VERSION'], '3.11')))", True),
    ("eq(coalesce(variables['AZURE_PYTHON_VERSION'], 'NONE'), 'NONE')", True),
    ("contains(variables['PYTHON_VERSION'], 'PyPy')", False),
    ("or(eq(variables.BITS, 32), in(variables['BITS'], '64', '128'))", True),
    ("eq(variables['BITS'], 64)", True),
])
def test_azure_conditions(expression: str, expected: bool) -> None:
    variables = {"Build.Reason": "Schedule", "TOKEN": "", "MB_PYTHON_VERSION": "3.10",
                 "PYTHON_VERSION": "3.10", "BITS": "64"}
    assert Condition(variables, "succeeded").evaluate(expression) is expected


def test_an_azure_condition_it_cannot_read_is_an_error() -> None:
    with pytest.raises(MultibuildError, match="unknown function"):
        Condition({}, "succeeded").evaluate("frobnicate()")


def test_the_travis_driver_never_evaluates_the_replays_own_values(tmp_path: Path) -> None:
    """--set/--commit values reach the job through its environment: a value full of shell
    syntax stays a string."""
    repo = _repo(tmp_path, {".travis.yml": TRAVIS.replace(
        "script:\n  - install_run $PLAT", 'script:\n  - echo "commit=[$BUILD_COMMIT]"')})
    job = next(j for j in expand(repo) if j.id == "travis-linux-x86_64-cp38")
    job = type(job)(**{**job.__dict__, "script": tuple(
        s for s in job.script if s.phase == "script")})
    hostile = "v1'; touch pwned; echo '$(touch pwned2)`touch pwned3`"
    log = tmp_path / "steps.tsv"
    script = travis_driver(job, {"BUILD_COMMIT": hostile}, None)
    env = {"PATH": os.environ["PATH"], "MB_STEP_LOG": str(log), "MB_TARGET_ID": job.id,
           "MB_REPLAY_SET_BUILD_COMMIT": hostile}
    done = subprocess.run(["bash", "-c", script], cwd=tmp_path, env=env, capture_output=True,
                          text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert f"commit=[{hostile}]" in done.stdout
    assert not list(tmp_path.glob("pwned*"))
    assert [line.split("\t")[1] for line in log.read_text().splitlines()
            if line.startswith("end")] == ["env", "script"]
    assert isinstance(JobRun, type)


def test_check_asks_another_repository_only_that_its_shared_values_agree(
        tmp_path: Path) -> None:
    repo = _repo(tmp_path, {".travis.yml": TRAVIS, "appveyor.yml": """\
        environment:
          global:
            BUILD_COMMIT: v0.9
          matrix:
            - PYTHON: C:\\\\Python38
        install:
          - cmd: echo hi
        """})
    problems, files, jobs = check(repo)
    assert [str(p) for p in problems] == [
        "appveyor.yml:3: BUILD_COMMIT is 'v0.9' but .travis.yml:4 has 'v1.0'"]
    assert len(files) == 2 and len(jobs) == 7
    appveyor = [j for j in jobs if j.service == "appveyor"]
    assert appveyor[0].python == "3.8" and appveyor[0].plat == "win32"


def test_check_refuses_an_unsafe_value_and_runs_no_ci_code(tmp_path: Path) -> None:
    """Another repository's BUILD_COMMIT holding shell code is reported (issue 19's rules),
    and neither check nor jobs evaluates it."""
    hostile = TRAVIS.replace("BUILD_COMMIT=v1.0", "BUILD_COMMIT=$(touch pwned)")
    repo = _repo(tmp_path, {".travis.yml": hostile})
    problems, _files, jobs = check(repo)
    assert [p.message.split(":")[0] for p in problems] == ["BUILD_COMMIT '$(touch pwned)'"]
    assert len(jobs) == 6 and not (tmp_path / "pwned").exists()
    assert run_wheels(["jobs", "--repo", str(repo)]).returncode == 0
    assert not (tmp_path / "pwned").exists()


def test_jobs_and_check_work_on_another_repository_by_path(tmp_path: Path) -> None:
    repo = _repo(tmp_path / "other", {".travis.yml": TRAVIS})
    listed = run_wheels(["jobs", "--repo", str(repo)])
    assert listed.returncode == 0, listed.stderr
    assert f"6 jobs in {repo}," in listed.stdout
    assert "travis-linux-x86_64-cp27" in listed.stdout and "skip: Python 2.7 is older" in \
        listed.stdout
    checked = run_wheels(["check", "--repo", str(repo)])
    assert checked.returncode == 0 and "(another repository's CI files" in checked.stdout
    missing = run_wheels(["jobs", "--repo", str(tmp_path / "nothing")])
    assert missing.returncode == 2 and "no such directory" in missing.stderr
    (repo / "multibuild").mkdir()  # the submodule of a fresh clone: empty
    replay = run_wheels(["replay", "travis-linux-x86_64-cp38", "--repo", str(repo)])
    assert replay.returncode == 2
    assert replay.stderr.strip().endswith("multibuild is empty (an uninitialised submodule?): "
                                          "swap this library in for the multibuild submodule "
                                          "first (README: Drop-in multibuild)")


@pytest.mark.skipif(platform.machine() != "x86_64", reason="an x86_64 host refuses aarch64")
def test_a_platform_from_the_ci_file_this_host_cannot_build_is_named(tmp_path: Path,
                                                                     python_here: str) -> None:
    from multibuild.run.options import RunOptions

    repo = _repo(tmp_path, {".travis.yml": TRAVIS.replace("    - REPO_DIR=\"proj\"\n",
                                                          "    - REPO_DIR=\"proj\"\n"
                                                          "    - PLAT=i686\n")})
    with pytest.raises(MultibuildError) as caught:
        RunOptions.resolve(repo, {}, pythons=python_here)
    # i686 (aarch64 is cross-built with zig here): the manylinux i686 image needs docker.
    assert str(caught.value).endswith("(PLAT=i686 is from .travis.yml:4; --plat x86_64 "
                                      "builds for this machine)")


@pytest.fixture
def python_here() -> str:
    import sys

    return f"{sys.version_info[0]}.{sys.version_info[1]}"


def test_run_tests_directory_is_beside_the_project(tmp_path: Path) -> None:
    """A target's copy build/<t>/src/proj gets build/<t>/src/tmp_for_test, whose parent
    links the repository's other entries: ../proj is the target's copy, ../config.sh the
    repository's. Elsewhere it is ./tmp_for_test, as in multibuild."""
    root = tmp_path / "repo"
    (root / "proj").mkdir(parents=True)
    (root / "config.sh").write_text("# config\n")
    work = root / "build" / "cp38-linux-x86_64"
    copy = work / "src" / "proj"
    copy.mkdir(parents=True)
    (copy / "marker").write_text("copy\n")
    test_dir = prepare(root, str(copy), str(work), root)
    assert test_dir == work / "src" / "tmp_for_test" and not any(test_dir.iterdir())
    assert (test_dir / ".." / "proj" / "marker").read_text() == "copy\n"
    assert (test_dir / ".." / "config.sh").read_text() == "# config\n"
    assert os.readlink(work / "src" / "config.sh") == "../../../config.sh"  # relative
    assert not (work / "src" / "build").exists()  # no link back into the work dir
    assert prepare(root, "proj", "", root) == root / "tmp_for_test"


@pytest.mark.parametrize("version", ["3.6", "3.7", "3.8"])
def test_old_interpreters_tags_are_read(version: str, pythons_all: dict[str, Path]) -> None:
    if version not in pythons_all:
        pytest.skip(f"no CPython {version} here")
    tags = [str(t) for t in interpreter_tags(pythons_all[version])]
    nodot = version.replace(".", "")
    abi = f"cp{nodot}m" if version < "3.8" else f"cp{nodot}"
    assert tags[0].startswith(f"cp{nodot}-{abi}-") and f"cp{nodot}-abi3-manylinux1_x86_64" in \
        tags and tags[-1] == "py30-none-any"


@pytest.fixture(scope="module")
def pythons_all() -> dict[str, Path]:
    from multibuild.core.interpreters import discover

    return {v: i.path for v, i in discover().items()}


def test_repository_root_is_where_wheels_was_run(tmp_path: Path) -> None:
    repo = _repo(tmp_path, {".travis.yml": TRAVIS})
    done = subprocess.run([str(REPO_ROOT / "wheels"), "jobs"], cwd=repo, capture_output=True,
                          text=True, check=False, env={**os.environ, "MB_TOOL_PYTHON": ""})
    assert done.returncode == 0, done.stderr
    assert f"6 jobs in {repo}," in done.stdout
