"""``./wheels build`` builds the repository asked for: a changed ``--repo-url`` for an existing
REPO_DIR re-points it, and a ref that the new repository lacks stops the run before anything
is built or staged (issue 14 item 5)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from conftest import FIXTURES, GIT_ENV, FixtureRepo, git, run_shell, run_wheels


def build(tmp: Path, url: Path, commit: str, python: str,
          out: str = "out") -> subprocess.CompletedProcess[str]:
    return run_wheels(
        ["build", "--python", python, "--commit", commit, "--repo-url", str(url),
         "--repo-dir", str(tmp / "checkout"), "--output", str(tmp / out),
         "--work-dir", str(tmp / f"work-{out}")],
        {"CONFIG_PATH": str(FIXTURES / "purepy" / "config.sh"),
         "ENV_VARS_PATH": str(FIXTURES / "purepy" / "env_vars.sh")},
    )


def checked_out(tmp: Path, url: Path, commit: str) -> None:
    """REPO_DIR as an earlier run left it: clean_code of ``commit`` from ``url``."""
    done = run_shell(f"clean_code {tmp / 'checkout'} {commit}",
                     env={**GIT_ENV, "REPO_URL": str(url)})
    assert done.returncode == 0, done.stderr


@pytest.fixture
def fork(tmp_path: Path, purepy_repo: FixtureRepo) -> Path:
    """A clone of purepy whose main says version 0.9.0."""
    path = tmp_path / "fork"
    git(tmp_path, "clone", "-q", str(purepy_repo.path), str(path))
    pyproject = path / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace('version = "0.2.0"', 'version = "0.9.0"'))
    git(path, "commit", "-qam", "fork: 0.9.0")
    return path


def test_changed_repo_url_builds_the_new_repository(
    tmp_path: Path, purepy_repo: FixtureRepo, fork: Path, two_pythons: list[str]
) -> None:
    checked_out(tmp_path, purepy_repo.path, "main")  # version 0.2.0 there
    second = build(tmp_path, fork, "main", two_pythons[0], "out2")
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr
    source_log = (tmp_path / "out2" / "logs" / "source.log").read_text()
    assert f"now fetches from {fork} (was {purepy_repo.path})" in source_log
    assert f"wheels: source: main = {git(fork, 'rev-parse', 'main')} from {fork}\n" in second.stdout
    assert [p.name for p in (tmp_path / "out2").glob("*.whl")] == [
        "purepy-0.9.0-py3-none-any.whl"]
    recorded = json.loads((tmp_path / "work-out2" / "source" / "checkout.json").read_text())
    assert recorded == {"url": str(fork), "ref": "main", "sha": git(fork, "rev-parse", "main"),
                        "sdist_mirror": None, "fetched_url": str(fork),
                        "commit_upstream": True, "sdist": None}


def test_unknown_ref_after_url_change_builds_and_stages_nothing(
    tmp_path: Path, purepy_repo: FixtureRepo, fork: Path, two_pythons: list[str]
) -> None:
    checked_out(tmp_path, purepy_repo.path, "feature")
    assert "feature" not in git(fork, "branch", "--list")  # the fork has no such branch
    done = build(tmp_path, fork, "feature", two_pythons[0], "out2")
    assert done.returncode == 2
    assert done.stderr == f"error: clean_code: unknown ref 'feature' in repository {fork}\n"
    assert not (tmp_path / "out2").exists() or not list((tmp_path / "out2").glob("*.whl"))
    assert not list((tmp_path / "work-out2").glob("cp*/wheelhouse/*.whl"))
