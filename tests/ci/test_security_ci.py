"""Refs, REPO_DIRs and the CI files (issue 19, points 2 and 5): every tool that takes a ref or
REPO_DIR checks it as git does (plus the shell policy of multibuild/core/refs.py), ``./wheels
check`` refuses an unsafe value already in a CI file, and CI-file edits are locked and all or
nothing."""

from __future__ import annotations

import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from conftest import REPO_ROOT, FixtureRepo, run_shell, run_wheels, tool_env

from multibuild.ci import setcommit
from multibuild.ci.cifiles import CI_FILES, read_all

BAD_REFS = [
    ("$(touch${IFS}/tmp/x)", "refused character(s)"),
    ("v1;touch", "refused character(s) ';'"),
    ("`touch`", "refused character(s) '`'"),
    ("v1.lock", "not a valid git ref"),
    ("v1/", "not a valid git ref"),
    ("x" * 300, "longer than 128 characters"),
    ("v1'x", "refused character(s) \"'\""),
]


def texts(root: Path) -> dict[str, bytes]:
    found = {p.name: p.read_bytes() for p in sorted(root.iterdir()) if p.is_file()}
    workflows = root / ".github" / "workflows"
    found.update({f".github/workflows/{p.name}": p.read_bytes()
                  for p in sorted(workflows.glob("*")) if p.is_file()})
    return found


def set_build_commit(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(REPO_ROOT / "tools" / "set-build-commit"), "--root", str(root),
                           *args], env=tool_env(), capture_output=True, text=True, check=False)


@pytest.mark.parametrize(("ref", "fragment"), BAD_REFS, ids=[r[:20] for r, _ in BAD_REFS])
def test_set_build_commit_refuses_refs_and_writes_nothing(ci_copy: Path, tmp_path: Path,
                                                          ref: str, fragment: str) -> None:
    before = texts(ci_copy)
    for nightly in ([], ["--nightly"]):
        done = set_build_commit(ci_copy, *nightly, ref)
        assert done.returncode == 2, done.stdout + done.stderr
        (line,) = done.stderr.splitlines()
        assert line.startswith("error: REF ") and fragment in line, line
        assert "Traceback" not in done.stderr and done.stdout == ""
    assert texts(ci_copy) == before


@pytest.mark.parametrize(("file", "old", "new", "where"), [
    (".travis.yml", "- BUILD_COMMIT=v2.2.6", "- BUILD_COMMIT=$(touch${IFS}/tmp/x)",
     ".travis.yml:6: BUILD_COMMIT '$(touch${IFS}/tmp/x)': not an accepted ref"),
    ("azure-pipelines.yml", "NIGHTLY_BUILD_COMMIT: main", "NIGHTLY_BUILD_COMMIT: main;id",
     "azure-pipelines.yml:6: NIGHTLY_BUILD_COMMIT 'main;id': not an accepted ref"),
    ("appveyor.yml", "REPO_DIR: numpy", "REPO_DIR: '$(id)'",
     "appveyor.yml:7: REPO_DIR '$(id)': REPO_DIR in a CI file is one directory name"),
    (".travis.yml", "- REPO_URL=https://github.com/numpy/numpy.git",
     "- REPO_URL=https://github.com/numpy/numpy.git;id",
     ".travis.yml:9: REPO_URL 'https://github.com/numpy/numpy.git;id': refused character(s) "
     "';'"),
    (".travis.yml", "- BUILD_COMMIT=v2.2.6", "- BUILD_COMMIT=v1.lock",
     ".travis.yml:6: BUILD_COMMIT 'v1.lock': not a valid git ref"),
], ids=["travis-commit", "azure-nightly", "appveyor-repo-dir", "travis-url", "travis-lock"])
def test_check_refuses_an_unsafe_value_already_in_a_ci_file(
        ci_copy: Path, file: str, old: str, new: str, where: str) -> None:
    path = ci_copy / file
    path.write_text(path.read_text().replace(old, new, 1))
    done = run_wheels(["check", "--root", str(ci_copy)])
    assert done.returncode == 1
    errors = [ln for ln in done.stderr.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1 and errors[0].startswith(f"error: {where}"), done.stderr


def test_set_build_commit_writes_a_checked_value_that_needs_no_quoting(ci_copy: Path) -> None:
    """What it writes reads back as the same string in YAML 1.1 and 1.2 and as one shell
    word in Travis's env."""
    for ref in ("maintenance/2.3.x", "1.10", "yes", "@tag", "v2+local"):
        done = set_build_commit(ci_copy, ref)
        assert done.returncode == 0, done.stderr
        values = {f.file: f.variables["BUILD_COMMIT"].value for f in read_all(ci_copy)}
        assert set(values.values()) == {ref}, values
        assert run_wheels(["check", "--root", str(ci_copy)]).returncode == 0


def test_bad_repo_dir_and_commit_stop_a_build_before_any_clone(
        tmp_path: Path, purepy_repo: FixtureRepo) -> None:
    canary = tmp_path / "canary"
    common = ["build", "--repo-url", str(purepy_repo.path), "--output", str(tmp_path / "out"),
              "--work-dir", str(tmp_path / "work")]
    before = sorted(os.listdir(tmp_path))
    cases = [
        (["--repo-dir", f"$(touch {canary})", "--commit", "v0.1.0"], {},
         "error: --repo-dir '$(touch "),
        (["--commit", "v0.1.0"], {"REPO_DIR": "a b"}, "error: REPO_DIR 'a b': refused"),
        (["--repo-dir", str(tmp_path / "co"), "--commit", "`id`"], {},
         "error: --commit '`id`': not an accepted ref"),
        (["--repo-dir", str(tmp_path / "co")], {"BUILD_COMMIT": "x" * 300},
         "error: BUILD_COMMIT 'xxxx"),
    ]
    for args, env, message in cases:
        done = run_wheels([*common, *args], env)
        assert done.returncode == 2, done.stdout + done.stderr
        (line,) = done.stderr.splitlines()
        assert line.startswith(message), line
    assert sorted(os.listdir(tmp_path)) == before
    assert not canary.exists()


def test_clean_code_refuses_a_hostile_repo_dir_or_ref(tmp_path: Path,
                                                      purepy_repo: FixtureRepo) -> None:
    """CI steps call clean_code directly (multibuild's contract), without ./wheels."""
    canary = tmp_path / "canary"
    for repo_dir, ref, message in (
            (f"$(touch {canary})", "v0.1.0", "error: clean_code: REPO_DIR '$(touch "),
            ("proj", f"v1;touch {canary}", "error: clean_code: BUILD_COMMIT 'v1;touch "),
            ("-rf", "v0.1.0", "error: clean_code: REPO_DIR '-rf': it may not start with '-'")):
        done = run_shell('clean_code "$1" "$2"'.replace("$1", "$MB_A").replace("$2", "$MB_B"),
                         {"MB_A": repo_dir, "MB_B": ref, "REPO_URL": str(purepy_repo.path)},
                         cwd=tmp_path)
        assert done.returncode != 0
        (line,) = done.stderr.splitlines()
        assert line.startswith(message), line
        assert os.listdir(tmp_path) == []


def test_replay_refuses_a_bad_commit_or_repo_dir_before_building(tmp_path: Path) -> None:
    for args, message in ((["--commit", "$(id)"], "error: BUILD_COMMIT '$(id)'"),
                          (["--repo-dir", "x;y"], "error: REPO_DIR 'x;y'")):
        done = run_wheels(["replay", "azure-linux-x86_64-cp312", "--output",
                           str(tmp_path / "out"), "--work-dir", str(tmp_path / "w"), *args])
        assert done.returncode == 2, done.stdout + done.stderr
        errors = [ln for ln in done.stderr.splitlines() if ln.startswith("error:")]
        assert len(errors) == 1 and errors[0].startswith(message), done.stderr
        assert not (tmp_path / "out").exists() and not (tmp_path / "w").exists()


# -- point 5: one lock, all files or none ------------------------------------------------------


def test_concurrent_set_build_commit_loses_no_update(ci_copy: Path) -> None:
    """Eight processes at once, three rounds: every change is applied on top of the one
    before it (the printed old -> new values form one chain), and the files agree."""
    env = tool_env()

    def one(ref: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "multibuild.ci.setcommit", "--root",
                               str(ci_copy), ref], env=env, capture_output=True, text=True,
                              check=False, cwd=REPO_ROOT)

    current = "v2.2.6"
    for round_number in range(3):
        refs = [f"v9.{round_number}.{i}" for i in range(8)]
        with ThreadPoolExecutor(len(refs)) as pool:
            results = list(pool.map(one, refs))
        changes: dict[str, str] = {}
        for done in results:
            assert done.returncode == 0, done.stderr
            transitions = {tuple(ln.rsplit(": BUILD_COMMIT ", 1)[1].split(" -> "))
                           for ln in done.stdout.splitlines()}
            assert len(transitions) == 1, done.stdout  # all three files went old -> new
            ((old, new),) = transitions
            changes[old] = new
        chain = [current]
        while chain[-1] in changes:
            chain.append(changes[chain[-1]])
        assert len(chain) == len(refs) + 1, (current, changes)  # no update lost
        values = {f.variables["BUILD_COMMIT"].value for f in read_all(ci_copy)}
        assert values == {chain[-1]}
        current = chain[-1]


def test_a_failed_replacement_puts_every_file_back(ci_copy: Path,
                                                   monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    before = texts(ci_copy)
    real_replace = os.replace
    calls: list[str] = []

    def flaky(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
        calls.append(str(dst))
        if len(calls) == 2:  # the second CI file cannot be renamed into place
            raise OSError(28, "No space left on device")
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", flaky)
    assert setcommit.main(["--root", str(ci_copy), "v3.0.0"]) == 1
    errors = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("error:")]
    assert errors == ["error: cannot replace the CI files ([Errno 28] No space left on "
                      "device); none was changed"]
    monkeypatch.undo()
    assert texts(ci_copy) == before
    assert not [p for p in ci_copy.iterdir() if p.name.endswith(".part")]
    assert len(calls) >= 3  # the first file was replaced, then put back


def test_a_ci_file_that_is_a_directory_stops_every_edit(ci_copy: Path) -> None:
    (ci_copy / "azure-pipelines.yml").unlink()
    (ci_copy / "azure-pipelines.yml").mkdir()
    before = texts(ci_copy)
    done = set_build_commit(ci_copy, "v3.0.0")
    assert done.returncode == 2
    (line,) = done.stderr.splitlines()
    assert line.startswith("error: ") and "azure-pipelines.yml:1: not a regular file" in line
    assert texts(ci_copy) == before
    check = run_wheels(["check", "--root", str(ci_copy)])
    assert check.returncode == 1 and "azure-pipelines.yml:1: not a regular file" in check.stderr
    assert set(CI_FILES.values()) - set(before) == {"azure-pipelines.yml"}
