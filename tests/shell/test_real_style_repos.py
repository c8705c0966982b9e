"""Real-style wheels repositories run unchanged, with this library swapped in.

Each fixture repository under tests/fixtures is written the way the MacPython wheels
repositories are (their CI files and config.sh, not this repository's layout) and runs both
through ``./wheels replay`` of its own CI file and through ``./wheels build``:

- ``travis-wheels``: Travis only; env entries that are shell assignments (quoted, one using
  another), the dependency lists set in ``before_install``, a library version pinned in
  config.sh that no recipe table knows, its archive fetched in a zip under multibuild's name
  (pillow-wheels' way), ``run_tests`` reaching the project's tests as ``../tinylib/tests``, an
  ``after_success`` upload, jobs this host cannot run (i686, arm64, macOS).
- ``azure-wheels``: Azure Pipelines only; job templates with parameters and an inserted
  matrix, a step setting variables for the next (``##vso[task.setvariable]``),
  ``UsePythonVersion``, the dependency list set in the build step, ``$(VAR)`` macros,
  conditions, upload steps fed by secret variables, ccache opted in (``USE_CCACHE=1``); its
  project is built with numpy.distutils (a C++ extension: a two-word CXX broke its link).
"""

from __future__ import annotations

import functools
import http.server
import re
import shlex
import threading
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from realstyle import (
    Run,
    deps_zip,
    libtiny_tarball,
    project_repo,
    runnable_jobs,
    wheels,
    wheels_repo,
)


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def deps_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """pillow-depends' stand-in: deps-main.zip with libtiny's sources as xz-5.4.4.tar.gz
    (multibuild's name for xz's archive; the recipe table fetches .tar.xz and knows no
    5.4.4)."""
    served = tmp_path_factory.mktemp("deps")
    deps_zip(served / "deps-main.zip", "deps-main",
             {"xz-5.4.4.tar.gz": libtiny_tarball("xz-5.4.4")})
    handler = functools.partial(_Quiet, directory=str(served))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@dataclass
class TravisRepo:
    repo: Path
    project: Path
    job: str
    python: str
    replay: Run
    build: Run


# Which Travis job to replay: the oldest Python this host has (3.8 shows an old interpreter
# building and testing end to end), else a newer one.
_PREFERRED = ("3.8", "3.11", "3.12", "3.13")


@pytest.fixture(scope="module")
def travis(tmp_path_factory: pytest.TempPathFactory, deps_server: str) -> TravisRepo:
    tmp = tmp_path_factory.mktemp("travis-style")
    project = project_repo(tmp / "tinylib-upstream", "tinylib", "v1.0.0")
    repo = wheels_repo(tmp, "travis-wheels", project, "tinylib")
    runnable = runnable_jobs(repo)
    choice = next((p for p in _PREFERRED if f"travis-linux-x86_64-cp{p.replace('.', '')}"
                   in runnable), None)
    if choice is None:
        pytest.skip(f"none of CPython {', '.join(_PREFERRED)} here; runnable: {runnable}")
    job = f"travis-linux-x86_64-cp{choice.replace('.', '')}"
    replay = wheels(repo, ["replay", job, "--repo-url", str(project),
                           "--set", f"DEPS_URL={deps_server}"])
    build = wheels(repo, ["build", "--python", choice, "--repo-url", str(project)],
                   {"DEPS_URL": deps_server})
    return TravisRepo(repo, project, job, choice, replay, build)


def test_travis_jobs_are_listed_with_why_this_host_cannot_run_some(travis: TravisRepo) -> None:
    done = wheels(travis.repo, ["jobs"])
    assert done.ok, done.log
    lines = {line.split()[0]: line for line in done.proc.stdout.splitlines()[:-1]}
    assert lines["travis-linux-i686-cp312"].endswith(
        "skip: i686 job: needs docker for the manylinux i686 image (no docker daemon here)")
    assert "skip: aarch64 job: a cross build here needs Debian's Python for the target" in \
        lines["travis-linux-aarch64-cp312"]
    assert lines["travis-macos-x86_64-cp312"].endswith("skip: macOS job: runs on a macOS "
                                                       "machine only")
    assert lines[travis.job].endswith(" run") and ".travis.yml:" in lines[travis.job]
    # The env entries as the shell reads them: quotes gone, one entry using another.
    env = wheels(travis.repo, ["replay", travis.job, "--print-env"])
    exported = dict(shlex.split(line)[1].split("=", 1) for line in
                    env.proc.stdout.splitlines() if line.startswith("export "))
    assert exported["REPO_DIR"] == "tinylib"
    assert exported["EXTRA_ARGV"] == "'--disable-pytest-warnings'"
    assert exported["BUILD_TAG"] == "tinylib-v1.0.0"
    assert "secure" not in env.proc.stdout and "bm90" not in env.proc.stdout


def test_replay_runs_the_travis_job_line_by_line_to_a_tested_wheel(travis: TravisRepo) -> None:
    run = travis.replay
    assert run.ok, run.log[-5000:]
    log = run.log
    # Each line of the CI file ran, in order, in one shell.
    lines = re.findall(r"^\[[^]]+\] \$ (.*)$", log, re.MULTILINE)
    assert lines.index('echo "Building $BUILD_TAG"') < lines.index(
        "source multibuild/common_utils.sh") < lines.index("clean_code $REPO_DIR $BUILD_COMMIT"
                                                           ) < lines.index("install_run $PLAT")
    assert "Building tinylib-v1.0.0" in log
    assert "fill_submodule: cloned submodule tinylib from REPO_URL" in log
    # The dependency lists set in before_install reached the build (the job's six pin).
    six = "1.15.0" if travis.python == "3.8" else "1.16.0"
    assert f"run_tests: built with six {six}" in log
    # run_tests ran in tmp_for_test in the repository: ../tinylib/tests/ are the project's.
    assert re.search(r"\.\./tinylib/tests/test_tinylib\.py::test_answer_comes_from_the_bundled_"
                     r"libtiny PASSED", log), log[-3000:]
    assert "2 passed" in log
    assert "pre_build: MB_ML_LIBC=manylinux" in log
    # after_success ran, its upload replaced by a stub that names no token.
    assert "replay: upload skipped: anaconda (a replay uploads only with ./wheels replay " \
        "--upload)" in log
    assert f"replay: {travis.job}: passed" in log
    (wheel,) = (travis.repo / "wheelhouse").glob("*.whl")
    nodot = travis.python.replace(".", "")
    assert re.fullmatch(rf"tinylib-1\.0\.0-cp{nodot}-cp{nodot}m?-manylinux\S*_x86_64\.whl",
                        wheel.name), wheel.name
    names = zipfile.ZipFile(wheel).namelist()
    assert any(re.match(r"tinylib\.libs/libtiny.*\.so", n) for n in names), names
    assert (travis.repo / "wheelhouse" / "report.json").is_file()


def test_a_library_version_no_table_knows_is_recorded_in_the_repositorys_lock(
        travis: TravisRepo) -> None:
    assert "notice: build_xz: xz-5.4.4.tar.gz is in no recipe table" in travis.replay.log
    lock = (travis.repo / "archives.lock").read_text()
    assert re.search(r"^[0-9a-f]{64}  xz-5\.4\.4\.tar\.gz$", lock, re.MULTILINE), lock
    # The second run (./wheels build) checked the archive against it: no new notice.
    assert "is in no recipe table" not in travis.build.log


def test_wheels_build_takes_its_settings_from_the_travis_file(travis: TravisRepo) -> None:
    run = travis.build
    assert run.ok, run.log[-5000:]
    log = run.log
    assert "wheels: from the CI files: REPO_DIR=tinylib (.travis.yml:" in log
    assert "BUILD_COMMIT=v1.0.0 (.travis.yml:" in log
    six = "six==1.15.0" if travis.python == "3.8" else "six==1.16.0"
    assert re.search(rf"the variables of CI job {travis.job} \(\.travis\.yml:\d+\): "
                     rf"BUILD_DEPENDS='{re.escape(six)} setuptools wheel' \(\.travis\.yml:\d+, "
                     r"before_install\), TEST_DEPENDS='pytest' \(\.travis\.yml:\d+, "
                     r"before_install\)", log), log[:2000]
    assert f"run_tests: built with six {six.split('==')[1]}" in log
    # The target builds its own copy; run_tests still reaches ../tinylib/tests/.
    assert re.search(r"\.\./tinylib/tests/test_tinylib\.py::test_the_installed_wheel_is_tested"
                     r"_not_the_source_tree PASSED", log)
    assert "wheels: 1 target passed" in log


def test_check_is_clean_on_the_unmodified_travis_file(travis: TravisRepo) -> None:
    done = wheels(travis.repo, ["check"])
    assert done.ok, done.log
    assert "check: 1 CI files, 7 build jobs, BUILD_COMMIT=v1.0.0: ok (another repository's " \
        "CI files: shared variables agree)" in done.proc.stdout


@dataclass
class AzureRepo:
    repo: Path
    job: str
    python: str
    replay: Run
    build: Run


@pytest.fixture(scope="module")
def azure(tmp_path_factory: pytest.TempPathFactory) -> AzureRepo:
    tmp = tmp_path_factory.mktemp("azure-style")
    project = project_repo(tmp / "distutilsext-upstream", "distutilsext", "v2.0.0")
    repo = wheels_repo(tmp, "azure-wheels", project, "distutilsext")
    runnable = runnable_jobs(repo)
    # numpy.distutils: numpy 1.24 on Python 3.9 to 3.11.
    choice = next((p for p in ("3.11", "3.10", "3.9")
                   if f"azure-linux-x86_64-cp{p.replace('.', '')}" in runnable), None)
    if choice is None:
        pytest.skip(f"none of CPython 3.9-3.11 here; runnable: {runnable}")
    job = f"azure-linux-x86_64-cp{choice.replace('.', '')}"
    replay = wheels(repo, ["replay", job, "--repo-url", str(project)])
    build = wheels(repo, ["build", "--python", choice, "--repo-url", str(project)])
    return AzureRepo(repo, job, choice, replay, build)


def test_azure_jobs_come_from_templates_with_their_parameters(azure: AzureRepo) -> None:
    done = wheels(azure.repo, ["jobs"])
    assert done.ok, done.log
    lines = {line.split()[0]: line for line in done.proc.stdout.splitlines()[:-1]}
    assert lines["azure-windows-win_amd64-cp311"].endswith(
        "skip: Windows job: runs on a Windows machine only")
    assert lines["azure-macos-x86_64-cp311"].endswith("skip: macOS job: runs on a macOS "
                                                      "machine only")
    # The matrix entries come from azure-pipelines.yml, where the parameters are given.
    assert "azure-pipelines.yml:" in lines[azure.job]


def test_replay_runs_the_azure_steps_as_azure_would(azure: AzureRepo) -> None:
    run = azure.replay
    assert run.ok, run.log[-5000:]
    log = run.log
    # UsePythonVersion put that CPython first on PATH; the next step stored its path with
    # ##vso[task.setvariable] and the build step got it (and the $(TEST_DIR) macro expanded).
    assert f"UsePythonVersion: {azure.python} -> " in log
    found = re.search(r"Azure's python: (\S+); tests in (\S+)", log)
    assert found and "azure-python-" in found.group(1), log[-3000:]
    assert found.group(2).endswith("/agent/tmp_for_test")
    assert "Building distutilsext@v2.0.0" in log
    # ccache is opted in (USE_CCACHE: "1") through wrapper links: numpy.distutils compiled and
    # linked the C++ extension, which a two-word CXX="ccache g++" broke.
    assert "activate_ccache: " in log
    assert "ccache -shared" not in log
    assert re.search(r"\.\./distutilsext/tests/test_distutilsext\.py::"
                     r"test_the_cxx_extension_works PASSED", log), log[-3000:]
    # A push build: the scheduled-only step is skipped by its condition; the upload steps
    # (after the last build or test step) are not run by a replay.
    assert "replay: step '04 Nightly preparation' skipped (condition: " \
        "eq(variables['Build.Reason'], 'Schedule'))" in log
    assert "skipped: publishing step" in log and "anaconda -t" not in log.split(
        "Install wheel and test")[-1].replace("skipped: publishing step", "")
    assert f"replay: {azure.job}: passed" in log
    (wheel,) = (azure.repo / "wheelhouse").glob("*.whl")
    assert wheel.name.startswith(f"distutilsext-2.0.0-cp{azure.python.replace('.', '')}-")


def test_wheels_build_takes_the_dependency_list_from_the_azure_build_step(
        azure: AzureRepo) -> None:
    run = azure.build
    assert run.ok, run.log[-5000:]
    assert "wheels: from the CI files: REPO_DIR=distutilsext (azure/posix.yml:" in run.log
    assert "BUILD_COMMIT=v2.0.0 (azure-pipelines.yml:" in run.log
    assert re.search(rf"the variables of CI job {azure.job} \(azure-pipelines\.yml:\d+\): "
                     r"BUILD_DEPENDS='numpy==1\.24\.4 setuptools<60 wheel' \(azure/posix\.yml:"
                     r"\d+, Build wheel\), TEST_DEPENDS='pytest' \(azure/posix\.yml:\d+\)",
                     run.log), run.log[:2000]
    assert "test_the_cxx_extension_works PASSED" in run.log
