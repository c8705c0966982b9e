"""Acceptance (slow, opt-in: ``./wheels test --slow -k real_projects``): wheels repositories in
the MacPython style build real small projects from their PyPI sdists, unchanged.

tests/fixtures/pywavelets-wheels, cftime-wheels and numexpr-wheels are written the way those
repositories are (Travis only, the dependency lists in ``before_install``, numpy pinned per
job, cftime's ``pytest ../cftime/test/...``), at releases that build on this machine's Pythons.
Each project's sdist comes from PyPI once (kept in build/cache/sdists), is served by a
pypiserver on 127.0.0.1 and mirrored from there (``./wheels mirror --index-url``); the wheels
repository, with this library swapped in, then runs its Linux job with ``./wheels replay`` and
the same build with ``./wheels build``: both must build, repair and pass the project's tests.
About 3-8 minutes per project on 2 cores.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import REPO_ROOT, run_wheels
from realstyle import Run, wheels, wheels_repo
from test_upload_helpers import PypiServer, running_pypiserver

from multibuild.source.mirror import fetch_sdist

pytestmark = [pytest.mark.slow, pytest.mark.timeout(3600)]

# (PyPI name, version, the wheels repository fixture, REPO_DIR, the Python the job builds)
PROJECTS = [
    ("PyWavelets", "1.4.1", "pywavelets-wheels", "pywt", "3.11"),
    ("cftime", "1.6.3", "cftime-wheels", "cftime", "3.11"),
    ("numexpr", "2.8.4", "numexpr-wheels", "numexpr", "3.11"),
]
CACHE = REPO_ROOT / "build" / "cache"


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PypiServer]:
    """The projects' sdists (from PyPI once, then from the cache) on a loopback index."""
    with running_pypiserver(tmp_path_factory.mktemp("index") / "server") as server:
        for name, version, *_ in PROJECTS:
            try:
                sdist, _sha = fetch_sdist(name, version, {"MB_CACHE_DIR": str(CACHE),
                                                          **os.environ})
            except Exception as exc:  # no PyPI here: the acceptance run cannot start
                pytest.skip(f"cannot fetch the {name} {version} sdist from PyPI: {exc}")
            shutil.copy2(sdist, server.packages / sdist.name)
        yield server


@pytest.mark.parametrize("name,version,fixture,repo_dir,python", PROJECTS,
                         ids=[p[0].lower() for p in PROJECTS])
def test_real_project_by_replay_and_build(
    name: str, version: str, fixture: str, repo_dir: str, python: str, tmp_path: Path,
    index: PypiServer, pythons: dict[str, Path],
) -> None:
    if python not in pythons:
        pytest.skip(f"no CPython {python} here")
    mirror = tmp_path / f"{repo_dir}.git"
    made = run_wheels(["mirror", name, version, "--dest", str(mirror), "--index-url",
                       index.simple], {"MB_CACHE_DIR": str(tmp_path / "cache"),
                                       "PIP_CONFIG_FILE": os.devnull})
    assert made.returncode == 0, made.stderr
    project = tmp_path / f"{repo_dir}-upstream"
    from conftest import git

    git(tmp_path, "clone", "-q", str(mirror), str(project))
    repo = wheels_repo(tmp_path, fixture, project, repo_dir)
    job = f"travis-linux-x86_64-cp{python.replace('.', '')}"
    cache = {"MB_CACHE_DIR": str(CACHE)}  # uv's and the library's caches, shared

    replay = wheels(repo, ["replay", job, "--repo-url", str(mirror)], cache, timeout=3000)
    _assert_tested_wheel(replay, repo, name, version, python, f"replay: {job}: passed")
    build = wheels(repo, ["build", "--python", python, "--repo-url", str(mirror)], cache,
                   timeout=3000)
    _assert_tested_wheel(build, repo, name, version, python, "wheels: 1 target passed")
    assert f"the variables of CI job {job} (.travis.yml:" in build.log
    assert "BUILD_DEPENDS=" in build.log and "before_install)" in build.log


def _assert_tested_wheel(run: Run, repo: Path, name: str, version: str, python: str,
                         verdict: str) -> None:
    assert run.ok, run.log[-6000:]
    assert verdict in run.log
    nodot = python.replace(".", "")
    (wheel,) = (repo / "wheelhouse").glob("*.whl")
    assert re.fullmatch(rf"(?i){re.escape(name)}-{re.escape(version)}-cp{nodot}-cp{nodot}-"
                        r"manylinux\S*_x86_64\.whl", wheel.name), wheel.name
    assert "run_tests failed" not in run.log
