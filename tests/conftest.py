"""Shared fixtures: real git repositories of fixture projects, interpreters, shell runners."""

from __future__ import annotations

import atexit
import io
import os
import re
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from multibuild.core.interpreters import discover

REPO_ROOT = Path(__file__).resolve().parent.parent
# A suite started in the background (`cmd &` in a script) inherits SIGINT ignored, and every
# process the tests start would too: the Ctrl-C tests need SIGINT to arrive as it does at a
# terminal. A handled signal is reset to its default in children; an ignored one is not.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)
FIXTURES = REPO_ROOT / "tests" / "fixtures"
# The fixture projects' own tests run against their installed wheels, never in this suite.
collect_ignore = ["fixtures"]
# Every test runs in the build mode it says (tool_env: native unless MB_TEST_BUILD_MODE), also
# in this process: MB_BUILD_MODE=auto would switch to docker as soon as any engine answers.
os.environ["MB_BUILD_MODE"] = os.environ.get("MB_TEST_BUILD_MODE", "native")
GIT_ENV = {
    "GIT_AUTHOR_NAME": "Fixture", "GIT_AUTHOR_EMAIL": "fixture@example.invalid",
    "GIT_COMMITTER_NAME": "Fixture", "GIT_COMMITTER_EMAIL": "fixture@example.invalid",
    "GIT_CONFIG_NOSYSTEM": "1",
}


def make_tarball(path: Path, top: str, files: dict[str, str]) -> None:
    """A tar.gz at ``path`` of ``files`` (name: text, mode 0755) under the directory ``top``."""
    with tarfile.open(path, "w:gz") as tar:
        for name, content in files.items():
            data = content.encode()
            info = tarfile.TarInfo(f"{top}/{name}")
            info.size = len(data)
            info.mode = 0o755
            tar.addfile(info, io.BytesIO(data))


def git(repo: Path, *args: str) -> str:
    env = {**os.environ, **GIT_ENV}
    done = subprocess.run(["git", *args], cwd=repo, env=env, capture_output=True, text=True,
                          check=True)
    return done.stdout.strip()


class FixtureRepo:
    """A fixture project committed into a git repository with a tag, a branch and history.

    main:    c1 (version 0.1.0, tag v0.1.0) -> c2 (version 0.2.0)
    feature: c1 -> c3 (version 0.3.0)
    """

    def __init__(self, path: Path) -> None:
        self.path = path

    def rev(self, ref: str) -> str:
        return git(self.path, "rev-parse", ref)


def _set_version(project: Path, version: str) -> None:
    pyproject = project / "pyproject.toml"
    text = pyproject.read_text()
    lines = [f'version = "{version}"' if ln.startswith("version = ") else ln
             for ln in text.splitlines()]
    pyproject.write_text("\n".join(lines) + "\n")


def make_fixture_repo(name: str, dest: Path) -> FixtureRepo:
    shutil.copytree(FIXTURES / name, dest)
    git(dest, "init", "-q", "-b", "main")
    git(dest, "add", "-A")
    git(dest, "commit", "-qm", "version 0.1.0")
    git(dest, "tag", "v0.1.0")
    git(dest, "checkout", "-q", "-b", "feature")
    _set_version(dest, "0.3.0")
    git(dest, "commit", "-qam", "version 0.3.0")
    git(dest, "checkout", "-q", "main")
    _set_version(dest, "0.2.0")
    git(dest, "commit", "-qam", "version 0.2.0")
    return FixtureRepo(dest)


@pytest.fixture(scope="session")
def blasdot_repo(tmp_path_factory: pytest.TempPathFactory) -> FixtureRepo:
    return make_fixture_repo("blasdot", tmp_path_factory.mktemp("src") / "blasdot")


@pytest.fixture(scope="session")
def purepy_repo(tmp_path_factory: pytest.TempPathFactory) -> FixtureRepo:
    return make_fixture_repo("purepy", tmp_path_factory.mktemp("src") / "purepy")


@pytest.fixture(scope="session")
def pythons() -> dict[str, Path]:
    """Installed CPython versions this suite may build for (3.9 and newer)."""
    found = {v: i.path for v, i in discover().items()
             if not v.endswith("t") and tuple(map(int, v.split("."))) >= (3, 9)}
    return found


@pytest.fixture(scope="session")
def two_pythons(pythons: dict[str, Path]) -> list[str]:
    newest_first = sorted(pythons, key=lambda v: tuple(map(int, v.split("."))), reverse=True)
    if len(newest_first) < 2:
        pytest.skip(f"needs two CPython versions >= 3.9; found: {sorted(pythons) or 'none'}")
    return newest_first[:2]


# Archives no recipe table knows are recorded in the wheels repository's archives.lock; a run
# whose test does not name a lock file records them in one of its own here (tests serve
# different archives under one name), never in this repository's.
_LOCKS = Path(tempfile.mkdtemp(prefix="mb-tests-locks-"))
atexit.register(shutil.rmtree, _LOCKS, True)


def tool_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """Environment for running the library: the tool interpreter is this one. Pass
    ``MB_ARCHIVES_LOCK=""`` to record archives in the repository's own archives.lock."""
    env = dict(os.environ)
    env["MB_ARCHIVES_LOCK"] = tempfile.mktemp(suffix=".lock", dir=_LOCKS)
    env.pop("VIRTUAL_ENV", None)
    env["MB_TOOL_PYTHON"] = sys.executable
    env["MB_BUILD_MODE"] = env.get("MB_TEST_BUILD_MODE", "native")
    env["PYTHONPATH"] = str(REPO_ROOT)
    for name in ("REPO_DIR", "REPO_URL", "BUILD_COMMIT", "CONFIG_PATH", "ENV_VARS_PATH", "PLAT",
                 "MB_PYTHON_VERSION", "WHEEL_SDIR", "MB_WORK_DIR", "MB_STEP_LOG"):
        env.pop(name, None)
    env.update(extra or {})
    return env


def objdump_glibc(data: bytes, tmp: Path) -> tuple[int, ...] | None:
    """The highest GLIBC_ version ``objdump -T`` lists for an ELF file (binutils: a reader
    independent of multibuild.build.glibc's)."""
    path = tmp / "elf"
    path.write_bytes(data)
    out = subprocess.run(["objdump", "-T", str(path)], capture_output=True, text=True,
                         check=True).stdout
    found = [tuple(int(p) for p in v.split(".")) for v in re.findall(r"\(GLIBC_([0-9.]+)\)", out)]
    return max(found) if found else None


def run_shell(script: str, env: Mapping[str, str] | None = None, cwd: Path = REPO_ROOT,
              timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """Run bash with the library sourced (common_utils.sh) and then ``script``."""
    full = f'source "{REPO_ROOT}/multibuild/common_utils.sh"\n{script}'
    return subprocess.run(["bash", "-c", full], cwd=cwd, env=tool_env(env), capture_output=True,
                          text=True, timeout=timeout, check=False)


def run_wheels(args: list[str], env: Mapping[str, str] | None = None,
               timeout: float = 900) -> subprocess.CompletedProcess[str]:
    """Run ``./wheels ARGS`` the way a user does."""
    return subprocess.run([str(REPO_ROOT / "wheels"), *args], cwd=REPO_ROOT, env=tool_env(env),
                          capture_output=True, text=True, timeout=timeout, check=False)


@pytest.fixture
def workspace(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path


# The CI files and what they read, copied by ci_copy.
CI_COPY = ("azure-pipelines.yml", ".travis.yml", "appveyor.yml", "azure", ".github",
           "env_vars.sh", "env_vars32.sh")


@pytest.fixture
def ci_copy(tmp_path: Path) -> Path:
    """A copy of this repository's CI files (and env_vars*.sh) to edit: tmp_path/wheels."""
    root = tmp_path / "wheels"
    root.mkdir()
    for name in CI_COPY:
        source = REPO_ROOT / name
        if source.is_dir():
            shutil.copytree(source, root / name)
        else:
            shutil.copy2(source, root / name)
    return root


# Docker mode in real containers (marker docker; ./wheels test --docker): the engine and the
# images are the session's, see tests/dockerengine.py.

@pytest.fixture(scope="session")
def docker_engine() -> Iterator[Any]:
    """The docker engine of the docker tests (``.env()`` gives its DOCKER_HOST)."""
    from dockerengine import Unavailable, engine

    try:
        found = engine()
    except Unavailable as exc:
        pytest.skip(f"needs a docker engine: {exc}")
    try:
        yield found
    finally:
        found.release()


@pytest.fixture(scope="session")
def docker_images(docker_engine: Any) -> dict[str, str]:
    """The tags of the Debian-made images (multibuild.build.debimage), built once per engine:
    ``build-bullseye`` (manylinux layout) and ``test-bullseye``."""
    from dockerengine import PACKAGES, Unavailable, provision

    from multibuild.build.debimage import RECIPES, build, image_present, image_tag

    env = {**os.environ, **docker_engine.env()}
    names = ("build-bullseye", "test-bullseye")
    tags = {name: image_tag(RECIPES[name], REPO_ROOT / "pyproject.toml") for name in names}
    if not all(image_present(tag, env) for tag in tags.values()):
        try:
            provision(PACKAGES[1:])  # debootstrap
        except Unavailable as exc:
            pytest.skip(f"cannot build the Debian images: {exc}")
        if os.geteuid() != 0:
            pytest.skip("building the Debian images needs root (debootstrap)")
    return {name: build(RECIPES[name], REPO_ROOT, env) for name in names}
