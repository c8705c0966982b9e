"""The multibuild helper functions config.sh files rely on, and clean_code, run in real bash."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from conftest import FixtureRepo, make_tarball, run_shell


def ok(script: str, **kw: object) -> str:
    done = run_shell(script, **kw)  # type: ignore[arg-type]
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_check_sha256sum(tmp_path: Path) -> None:
    f = tmp_path / "f.txt"
    f.write_text("payload")
    good = hashlib.sha256(b"payload").hexdigest()
    ok(f"check_sha256sum {f} {good}")
    bad = run_shell(f"check_sha256sum {f} {'0' * 64}")
    assert bad.returncode != 0
    assert f"sha256 mismatch for {f}" in bad.stderr


def test_untar_and_fetch_unpack(tmp_path: Path) -> None:
    archive = tmp_path / "pkg-1.0.tar.gz"
    make_tarball(archive, "pkg-1.0", {"README": "hello"})
    work = tmp_path / "work"
    work.mkdir()
    ok(f"cd {work} && untar {archive} && cat pkg-1.0/README")
    out = ok(f"cd {work} && rm -rf pkg-1.0 && fetch_unpack file://{archive} && cat pkg-1.0/README"
             " && ls archives")
    assert "hello" in out and "pkg-1.0.tar.gz" in out
    bad = run_shell(f"cd {work} && untar {tmp_path}/x.rar")
    assert bad.returncode != 0 and "unknown archive type" in bad.stderr


# --- clean_code --------------------------------------------------------------------------------

@pytest.mark.parametrize("ref_kind", ["tag", "branch", "full", "short"])
def test_clean_code_checks_out_any_ref(tmp_path: Path, blasdot_repo: FixtureRepo,
                                       ref_kind: str) -> None:
    refs = {
        "tag": ("v0.1.0", blasdot_repo.rev("v0.1.0")),
        "branch": ("feature", blasdot_repo.rev("feature")),
        "full": (blasdot_repo.rev("main"), blasdot_repo.rev("main")),
        "short": (blasdot_repo.rev("feature")[:7], blasdot_repo.rev("feature")),
    }
    ref, sha = refs[ref_kind]
    checkout = tmp_path / "co"
    out = ok(f'clean_code {checkout} {ref} && cd {checkout} && git rev-parse HEAD',
             env={"REPO_URL": str(blasdot_repo.path)})
    assert out.strip().splitlines()[-1] == sha


def test_clean_code_cleans_resets_and_refetches(tmp_path: Path, blasdot_repo: FixtureRepo) -> None:
    checkout = tmp_path / "co"
    env = {"REPO_URL": str(blasdot_repo.path)}
    ok(f"clean_code {checkout} v0.1.0", env=env)
    (checkout / "stray.o").write_text("x")
    (checkout / "setup.py").write_text("# local edit")
    ok(f"clean_code {checkout} main", env=env)
    assert not (checkout / "stray.o").exists()
    assert "local edit" not in (checkout / "setup.py").read_text()
    assert 'version = "0.2.0"' in (checkout / "pyproject.toml").read_text()


def test_clean_code_unknown_ref_is_one_line_error(tmp_path: Path,
                                                   blasdot_repo: FixtureRepo) -> None:
    done = run_shell(f"clean_code {tmp_path}/co no-such-ref",
                     env={"REPO_URL": str(blasdot_repo.path)})
    assert done.returncode != 0
    errors = [ln for ln in done.stderr.splitlines() if ln.startswith("error:")]
    assert errors == [f"error: clean_code: unknown ref 'no-such-ref' in repository "
                      f"{blasdot_repo.path}"]


def test_clean_code_without_repo_dir_or_url(tmp_path: Path) -> None:
    no_dir = run_shell("clean_code '' v1")
    assert no_dir.returncode != 0 and "REPO_DIR is not set" in no_dir.stderr
    no_url = run_shell(f"clean_code {tmp_path}/missing v1")
    assert no_url.returncode != 0
    assert "is missing and REPO_URL is not set" in no_url.stderr
