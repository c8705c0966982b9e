"""tools/set-build-commit against a local sdist mirror (multibuild/source/mirror.py): the mirror's
synthetic commit hash exists in no real history of the project, so writing it into the CI
files is refused (one line, non-zero, nothing written) unless --allow-mirror."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from conftest import REPO_ROOT, FixtureRepo, git, tool_env
from test_mirror import make_sdist

from multibuild.ci.cifiles import CI_FILES
from multibuild.net.extract import safe_extract_tar
from multibuild.source.mirror import commit_tree


def set_build_commit(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(REPO_ROOT / "tools" / "set-build-commit"), "--root", str(root),
                           *args], env=tool_env(), capture_output=True, text=True, check=False)


def texts(root: Path) -> dict[str, str]:
    return {name: (root / name).read_text() for name in CI_FILES.values()}


@pytest.fixture
def mirror_checkout(tmp_path: Path) -> tuple[Path, str]:
    """A checkout of a real mirror made by commit_tree from a local sdist, as clean_code's
    sdist fallback clones it: (checkout, the mirror's commit)."""
    sdist = make_sdist(tmp_path / "sdists")
    unpacked = tmp_path / "unpacked"
    safe_extract_tar(sdist, unpacked, sdist.name)
    commit = commit_tree(tmp_path / "purepy.git", unpacked / "purepy-0.1.0",
                         "purepy 0.1.0 from purepy-0.1.0.tar.gz\n", "v0.1.0")
    checkout = tmp_path / "checkout"
    subprocess.run(["git", "clone", "-q", str(tmp_path / "purepy.git"), str(checkout)],
                   check=True)
    return checkout, commit


def test_full_hash_of_an_sdist_mirror_is_refused_unless_allowed(
    ci_copy: Path, mirror_checkout: tuple[Path, str]
) -> None:
    checkout, commit = mirror_checkout
    assert git(checkout, "rev-parse", "v0.1.0^{commit}") == commit
    before = texts(ci_copy)
    for args in (["--full-hash", "v0.1.0"], [commit], [commit[:10]]):
        done = set_build_commit(ci_copy, "--repo", str(checkout), *args)
        assert done.returncode == 1, done.stdout + done.stderr
        assert done.stdout == ""
        (line,) = done.stderr.strip().splitlines()
        assert line.startswith(f"error: {args[-1]} is {commit[:12]} in {checkout}, a local "
                               "mirror made from an sdist (commit by wheels mirror "
                               "<mirror@localhost>), not the project's history")
        assert line.endswith("or pass --allow-mirror")
        assert texts(ci_copy) == before
    # The tag itself names the same release everywhere: written without complaint.
    done = set_build_commit(ci_copy, "--repo", str(checkout), "v0.1.0")
    assert done.returncode == 0, done.stderr
    assert "BUILD_COMMIT v2.2.6 -> v0.1.0" in done.stdout
    # Forced: the hash is written, as asked.
    done = set_build_commit(ci_copy, "--repo", str(checkout), "--full-hash",
                            "--allow-mirror", "v0.1.0")
    assert done.returncode == 0, done.stderr
    assert f"BUILD_COMMIT v0.1.0 -> {commit}" in done.stdout
    assert all(f"BUILD_COMMIT: {commit}" in text or f"BUILD_COMMIT={commit}" in text
               for text in texts(ci_copy).values())


def test_full_hash_of_a_real_history_is_written(ci_copy: Path,
                                                purepy_repo: FixtureRepo) -> None:
    repo = purepy_repo.path
    done = set_build_commit(ci_copy, "--repo", str(repo), "--full-hash", "v0.1.0")
    assert done.returncode == 0, done.stderr
    assert git(repo, "rev-parse", "v0.1.0") in done.stdout
