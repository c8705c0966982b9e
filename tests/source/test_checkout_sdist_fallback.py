"""clean_code's sdist-mirror fallback with an existing REPO_DIR: the next run with the same
(unreachable) REPO_URL is not a URL change, and a new release tag gets its own mirror."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import GIT_ENV, git, run_shell
from test_mirror import index_env, make_sdist
from test_upload_helpers import PypiServer, free_port, running_pypiserver


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PypiServer]:
    with running_pypiserver(tmp_path_factory.mktemp("index") / "server") as server:
        make_sdist(server.packages, version="0.1.0")
        make_sdist(server.packages, version="0.2.0")
        yield server


def test_sdist_stand_in_is_reused_and_follows_new_release_tags(
    tmp_path: Path, index: PypiServer
) -> None:
    url = f"http://127.0.0.1:{free_port()}/purepy.git"  # nobody answers there
    checkout, info = tmp_path / "purepy", tmp_path / "work" / "checkout.json"
    env = {**GIT_ENV, **index_env(tmp_path, index.simple, REPO_URL=url,
                                  MB_WORK_DIR=str(tmp_path / "work"))}
    first = run_shell(f"clean_code {checkout} v0.1.0", env=env)
    assert first.returncode == 0, first.stderr
    assert "trying the sdist of v0.1.0 on the index" in first.stderr
    v010 = git(checkout, "rev-parse", "HEAD")
    recorded = json.loads(info.read_text())
    assert recorded["url"] == url and recorded["ref"] == "v0.1.0" and recorded["sha"] == v010
    assert recorded["sdist_mirror"].endswith("purepy-0.1.0.git")

    again = run_shell(f"clean_code {checkout} v0.1.0", env=env)
    assert again.returncode == 0, again.stderr
    assert "now fetches from" not in again.stdout and "trying the sdist" not in again.stderr
    assert git(checkout, "rev-parse", "HEAD") == v010

    newer = run_shell(f"clean_code {checkout} v0.2.0", env=env)
    assert newer.returncode == 0, newer.stderr
    assert "trying the sdist of v0.2.0 on the index" in newer.stderr
    assert "Version: 0.2.0" in (checkout / "PKG-INFO").read_text()
    assert json.loads(info.read_text())["sdist_mirror"].endswith("purepy-0.2.0.git")

    refused = run_shell(f"clean_code {checkout} v0.3.0", env=env)
    assert refused.returncode != 0
    assert f"error: clean_code: unknown ref 'v0.3.0' in repository {url}" in refused.stderr
