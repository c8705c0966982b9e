"""A wheels repository in the multibuild style, end to end through its own ``./wheels build``.

The temporary repository holds this library (``multibuild/``, ``wheels``, ``pyproject.toml``),
the fixture's ``config.sh``, ``env_vars.sh`` and ``azure-pipelines.yml`` (REPO_DIR, BUILD_COMMIT),
and the project as a git submodule, uninitialised in the fresh clone that is built (as CI or a
release manager would clone it). ``config.sh`` uses multibuild's idioms: an ``IS_OSX`` branch,
``build_zlib``, ``fetch_unpack`` and ``suppress build_simple`` of archives served on 127.0.0.1,
a C library built into ``BUILD_PREFIX`` that the wheel links and the repair bundles. The
project's version comes from ``git describe`` (setuptools_scm), so it is right only if the
per-target copy is a valid git work tree at the checked-out commit.
"""

from __future__ import annotations

import functools
import http.server
import io
import json
import re
import shutil
import subprocess
import tarfile
import threading
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import FIXTURES, GIT_ENV, REPO_ROOT, git, tool_env

PROJECT = "tinyver"


@dataclass
class RepoBuild:
    proc: subprocess.CompletedProcess[str]
    root: Path  # the fresh clone of the wheels repository that was built
    project: Path  # the project's upstream repository
    python: str

    @property
    def log(self) -> str:
        """What the run said, and its checkout's log (kept beside the report)."""
        source = self.root / "wheelhouse" / "logs" / "source.log"
        return (self.proc.stdout + self.proc.stderr
                + (source.read_text() if source.is_file() else ""))


def _tarball(dest: Path, top: str, files: dict[str, tuple[bytes, int]]) -> None:
    with tarfile.open(dest, "w:gz") as archive:
        for name, (data, mode) in files.items():
            info = tarfile.TarInfo(f"{top}/{name}")
            info.size, info.mode = len(data), mode
            archive.addfile(info, io.BytesIO(data))


def serve_archives(directory: Path) -> None:
    """The archives config.sh fetches: libtiny's source (build_simple) and a data archive."""
    source = FIXTURES / "libtiny-1.0"
    _tarball(directory / "tiny-1.0.tar.gz", "tiny-1.0",
             {p.name: (p.read_bytes(), 0o755 if p.name == "configure" else 0o644)
              for p in source.iterdir()})
    _tarball(directory / "tinydata-1.0.tar.gz", "tinydata-1.0", {"answer.txt": (b"42\n", 0o644)})


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def archive_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    directory = tmp_path_factory.mktemp("served")
    serve_archives(directory)
    handler = functools.partial(_Quiet, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def make_project(dest: Path) -> Path:
    """v1.2.0, then one more commit on main: setuptools_scm calls that 1.2.1.dev1+g<hash>."""
    shutil.copytree(FIXTURES / PROJECT, dest)
    git(dest, "init", "-q", "-b", "main")
    git(dest, "add", "-A")
    git(dest, "commit", "-qm", "tinyver 1.2.0")
    git(dest, "tag", "-a", "v1.2.0", "-m", "release 1.2.0")
    (dest / "NEWS").write_text("after 1.2.0\n")
    git(dest, "add", "NEWS")
    git(dest, "commit", "-qm", "news")
    return dest


def make_wheels_repo(dest: Path, project: Path) -> Path:
    dest.mkdir()
    shutil.copytree(REPO_ROOT / "multibuild", dest / "multibuild",
                    ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("wheels", "pyproject.toml"):
        shutil.copy2(REPO_ROOT / name, dest / name)
    fixture = FIXTURES / f"{PROJECT}-wheels"
    for name in ("config.sh", "env_vars.sh", "azure-pipelines.yml"):
        shutil.copy2(fixture / name, dest / name)
    shutil.copy2(fixture / "gitignore", dest / ".gitignore")
    git(dest, "init", "-q", "-b", "main")
    git(dest, "add", "-A")
    git(dest, "-c", "protocol.file.allow=always", "submodule", "add", "-q", str(project), PROJECT)
    git(dest, "commit", "-qm", "tinyver wheels")
    return dest


@pytest.fixture(scope="module")
def repo_build(tmp_path_factory: pytest.TempPathFactory, pythons: dict[str, Path],
               archive_server: str) -> RepoBuild:
    if not pythons:
        pytest.skip("needs a CPython >= 3.9")
    python = max(pythons, key=lambda v: tuple(map(int, v.split("."))))
    tmp = tmp_path_factory.mktemp("wheels-repo")
    project = make_project(tmp / "tinyver-upstream")
    upstream = make_wheels_repo(tmp / "tinyver-wheels", project)
    fresh = tmp / "clone"
    git(tmp, "clone", "-q", str(upstream), str(fresh))  # as CI or a person clones it
    env = tool_env({**GIT_ENV, "TINY_SERVER_URL": archive_server,
                    # ./wheels reuses this suite's tool environment (same pyproject.toml pins)
                    "MB_TOOL_VENV": str(REPO_ROOT / ".venv")})
    proc = subprocess.run([str(fresh / "wheels"), "build", "--python", python], cwd=fresh,
                          env=env, capture_output=True, text=True, timeout=900, check=False)
    return RepoBuild(proc, fresh, project, python)


def test_fresh_clone_with_submodule_project_builds_repairs_and_tests_a_wheel(
    repo_build: RepoBuild,
) -> None:
    assert repo_build.proc.returncode == 0, repo_build.log[-6000:]
    fresh, sha = repo_build.root, git(repo_build.project, "rev-parse", "main")
    # The submodule was filled (a repository of its own) and checked out at BUILD_COMMIT.
    assert (fresh / PROJECT / ".git").is_dir()
    assert git(fresh / PROJECT, "rev-parse", "HEAD") == sha
    # The configuration's work dir: build/<config>/ (its name: REPO_DIR of the CI files).
    (work,) = (fresh / "build").glob("*/source")
    assert work.parent.name == PROJECT
    info = json.loads((work / "checkout.json").read_text())
    assert info == {"url": str(repo_build.project), "ref": "main", "sha": sha,
                    "sdist_mirror": None, "fetched_url": str(repo_build.project),
                    "commit_upstream": True, "sdist": None}
    (target,) = [p for p in work.parent.glob("cp*") if p.is_dir()]
    assert json.loads((target / "checkout.json").read_text()) == info
    (wheel,) = sorted((fresh / "wheelhouse").glob("*.whl"))
    # git describe in the target's copy: 1.2.1.dev1+g<hash>, not dirty (no .dYYYYMMDD).
    nodot = repo_build.python.replace(".", "")
    match = re.fullmatch(rf"tinyver-1\.2\.1\.dev1\+g([0-9a-f]{{7,}})-cp{nodot}-cp{nodot}-"
                         r"manylinux[\w.]*_x86_64\.whl", wheel.name)
    assert match and sha.startswith(match.group(1)), wheel.name
    # Repaired: libtiny, built by build_simple into BUILD_PREFIX, travels in the wheel.
    names = zipfile.ZipFile(wheel).namelist()
    assert any(re.match(r"tinyver\.libs/libtiny.*\.so", n) for n in names), names
    version = wheel.name.split("-")[1]
    assert f"run_tests: tinyver {version} 42" in repo_build.log
    assert "pre_build: not macOS" in repo_build.log  # the IS_OSX branch
    assert "pre_build: tinydata answer 42" in repo_build.log  # fetch_unpack unpacked it here
    assert "fill_submodule: cloned submodule tinyver" in repo_build.log
    report = json.loads((fresh / "wheelhouse" / "report.json").read_text())
    assert [t["passed"] for t in report["targets"]] == [True]


# multibuild's documented contracts of the functions the fixture config.sh uses.

def test_fetch_unpack_prints_the_unpacked_directory(repo_build: RepoBuild) -> None:
    assert "pre_build: fetch_unpack printed [tinydata-1.0]" in repo_build.log


def test_suppress_announces_the_command(repo_build: RepoBuild) -> None:
    assert re.search(r"Running build_simple tiny 1\.0 http://127\.0\.0\.1:\d+",
                     repo_build.log)


def test_build_simple_writes_its_stamp(repo_build: RepoBuild) -> None:
    assert (repo_build.root / "tiny-stamp").exists()


def test_build_zlib_is_satisfied_and_stamped(repo_build: RepoBuild) -> None:
    assert "pre_build: build_zlib done" in repo_build.log
    assert (repo_build.root / "zlib-stamp").exists()

