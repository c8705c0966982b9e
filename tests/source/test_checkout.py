"""The project checkout in real git repositories: clean_code and fill_submodule with REPO_DIR as
a submodule, the URL asked for, per-target copies (git clones, valid under a concurrent
repack), and what was checked out (python -m multibuild.source.checkout)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from conftest import GIT_ENV, REPO_ROOT, git, run_shell

# Submodules with local-path URLs (what fixtures can offer offline) need git's file protocol.
FILE_PROTOCOL = {"GIT_CONFIG_COUNT": "1", "GIT_CONFIG_KEY_0": "protocol.file.allow",
                 "GIT_CONFIG_VALUE_0": "always"}


def shell(script: str, **env: str) -> subprocess.CompletedProcess[str]:
    return run_shell(script, env={**GIT_ENV, **env})


def ok(script: str, **env: str) -> str:
    done = shell(script, **env)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def errors(done: subprocess.CompletedProcess[str]) -> list[str]:
    return [ln for ln in done.stderr.splitlines() if ln.startswith("error:")]


def commit_files(repo: Path, files: dict[str, str], message: str) -> str:
    for name, text in files.items():
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).write_text(text)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", message)
    return git(repo, "rev-parse", "HEAD")


def make_project(path: Path, marker: str = "upstream") -> Path:
    """main: c1 (tag v1.0) -> c2; feature: c1 -> c3. ``marker`` tells the repositories apart."""
    path.mkdir(parents=True)
    git(path, "init", "-q", "-b", "main")
    commit_files(path, {"VERSION": "1.0\n", "ORIGIN": f"{marker}\n"}, "one")
    git(path, "tag", "-a", "v1.0", "-m", "release 1.0")
    git(path, "checkout", "-q", "-b", "feature")
    commit_files(path, {"feature.txt": "feature\n"}, "feature")
    git(path, "checkout", "-q", "main")
    commit_files(path, {"VERSION": "1.1.dev\n"}, "two")
    return path


def make_superproject(path: Path, project: Path, name: str = "proj") -> Path:
    """A wheels repository holding ``project`` as the submodule ``name``."""
    path.mkdir(parents=True)
    git(path, "init", "-q", "-b", "main")
    (path / "config.sh").write_text("function run_tests { :; }\n")
    git(path, "add", "-A")
    git(path, "-c", "protocol.file.allow=always", "submodule", "add", "-q", str(project), name)
    git(path, "commit", "-qm", "wheels repository")
    return path


def head(repo: Path) -> str:
    return git(repo, "rev-parse", "HEAD")


# --- REPO_DIR as a submodule -----------------------------------------------------------------

@pytest.mark.parametrize("ref", ["v1.0", "feature", "full", "short"])
def test_clean_code_fills_an_uninitialised_submodule_and_checks_out_any_ref(
    tmp_path: Path, ref: str
) -> None:
    project = make_project(tmp_path / "upstream")
    wheels = make_superproject(tmp_path / "wheels", project)
    fresh = tmp_path / "fresh"
    git(tmp_path, "clone", "-q", str(wheels), str(fresh))  # submodule not initialised
    assert (fresh / "proj").is_dir() and not any((fresh / "proj").iterdir())
    want = {"v1.0": git(project, "rev-parse", "v1.0^{commit}"),
            "feature": git(project, "rev-parse", "feature"),
            "full": git(project, "rev-parse", "main"),
            "short": git(project, "rev-parse", "feature")}[ref]
    commit = {"full": want, "short": want[:8]}.get(ref, ref)
    done = shell(f"cd {fresh} && clean_code proj {commit}")
    assert done.returncode == 0, done.stdout + done.stderr
    checkout = fresh / "proj"
    assert (checkout / ".git").is_dir()  # a repository of its own (multibuild's contract)
    assert head(checkout) == want
    assert git(checkout, "remote", "get-url", "origin") == str(project)
    assert git(checkout, "status", "--porcelain") == ""
    assert "fill_submodule: cloned submodule proj" in done.stderr  # stdout is clean_code's
    # versioneer / setuptools_scm see the project's history and tags.
    assert git(checkout, "describe", "--tags", "--always").startswith(
        "v1.0" if ref != "feature" else "v1.0-1-g")


def test_clean_code_turns_an_initialised_submodule_into_a_repository(tmp_path: Path) -> None:
    project = make_project(tmp_path / "upstream")
    wheels = make_superproject(tmp_path / "wheels", project)
    gitfile = (wheels / "proj" / ".git").read_text()
    assert gitfile.startswith("gitdir:")  # an ordinary submodule checkout
    ok(f"cd {wheels} && clean_code proj v1.0")
    assert (wheels / "proj" / ".git").is_dir()
    assert head(wheels / "proj") == git(project, "rev-parse", "v1.0^{commit}")
    assert git(wheels / "proj", "remote", "get-url", "origin") == str(project)
    # Filling again is a no-op; the next clean_code fetches and moves on.
    ok(f"cd {wheels} && fill_submodule proj")
    ok(f"cd {wheels} && clean_code proj main")
    assert head(wheels / "proj") == git(project, "rev-parse", "main")


def test_fill_submodule_contract(tmp_path: Path) -> None:
    project = make_project(tmp_path / "upstream")
    wheels = make_superproject(tmp_path / "wheels", project)
    submodule_head = head(wheels / "proj")
    out = ok(f"cd {wheels} && fill_submodule proj && fill_submodule proj && echo done")
    assert out.strip().endswith("done")
    assert (wheels / "proj" / ".git").is_dir() and head(wheels / "proj") == submodule_head
    no_arg = shell("fill_submodule")
    assert no_arg.returncode != 0
    assert errors(no_arg) == ["error: fill_submodule: no REPO_DIR given"]
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "file").write_text("x")
    not_repo = shell(f"fill_submodule {plain}")
    assert not_repo.returncode != 0
    assert errors(not_repo) == [f"error: fill_submodule: '{plain}' exists but is not a git "
                                "repository"]


def test_submodule_without_url_is_a_one_line_error(tmp_path: Path) -> None:
    project = make_project(tmp_path / "upstream")
    wheels = make_superproject(tmp_path / "wheels", project)
    git(wheels, "config", "-f", ".gitmodules", "--unset", "submodule.proj.url")
    git(wheels, "commit", "-qam", "lose the URL")
    fresh = tmp_path / "fresh"
    git(tmp_path, "clone", "-q", str(wheels), str(fresh))
    done = shell(f"cd {fresh} && clean_code proj v1.0")
    assert done.returncode != 0
    assert errors(done) == [f"error: fill_submodule: submodule 'proj' has no url in "
                            f"{fresh}/.gitmodules"]
    assert not any((fresh / "proj").iterdir())


def test_submodule_keeps_its_url_and_fetches_repo_url_as_another_remote(tmp_path: Path) -> None:
    project = make_project(tmp_path / "upstream")
    fork = tmp_path / "fork"
    git(tmp_path, "clone", "-q", str(project), str(fork))
    fork_feature = commit_files(fork, {"ORIGIN": "fork\n"}, "fork's main")
    wheels = make_superproject(tmp_path / "wheels", project)
    ok(f"cd {wheels} && clean_code proj main", REPO_URL=str(fork))
    checkout = wheels / "proj"
    assert head(checkout) == fork_feature  # main of the URL asked for, not of the submodule's
    assert (checkout / "ORIGIN").read_text() == "fork\n"
    assert git(checkout, "remote", "get-url", "origin") == str(project)  # pinned
    assert git(checkout, "remote", "get-url", "repo-url") == str(fork)
    # Without REPO_URL the submodule's own URL is asked for again.
    ok(f"cd {wheels} && clean_code proj main")
    assert head(checkout) == git(project, "rev-parse", "main")


# --- the URL asked for -----------------------------------------------------------------------

def test_changed_repo_url_repoints_origin_and_builds_the_new_source(tmp_path: Path) -> None:
    old = make_project(tmp_path / "old", "old")
    new = make_project(tmp_path / "new", "new")
    git(new, "tag", "only-new")
    git(old, "tag", "only-old")
    checkout = tmp_path / "co"
    ok(f"clean_code {checkout} main", REPO_URL=str(old))
    assert (checkout / "ORIGIN").read_text() == "old\n"
    out = ok(f"clean_code {checkout} main", REPO_URL=str(new))
    assert f"now fetches from {new} (was {old})" in out
    assert git(checkout, "remote", "get-url", "origin") == str(new)
    assert head(checkout) == head(new) and (checkout / "ORIGIN").read_text() == "new\n"
    # Tags and branches of the old repository no longer name anything.
    tags = git(checkout, "tag", "--list").split()
    assert "only-old" not in tags and "only-new" in tags
    stale = shell(f"clean_code {checkout} only-old", REPO_URL=str(new))
    assert stale.returncode != 0
    assert errors(stale) == [f"error: clean_code: unknown ref 'only-old' in repository {new}"]
    assert head(checkout) == head(new)  # untouched by the failed call


def test_unknown_ref_after_url_change_names_ref_and_url(tmp_path: Path) -> None:
    old = make_project(tmp_path / "old", "old")
    new = make_project(tmp_path / "new", "new")
    git(old, "branch", "old-only")
    checkout = tmp_path / "co"
    ok(f"clean_code {checkout} old-only", REPO_URL=str(old))
    done = shell(f"clean_code {checkout} old-only", REPO_URL=str(new))
    assert done.returncode != 0
    assert errors(done) == [f"error: clean_code: unknown ref 'old-only' in repository {new}"]


def test_url_change_is_refused_while_repo_dir_has_local_changes(tmp_path: Path) -> None:
    old = make_project(tmp_path / "old", "old")
    new = make_project(tmp_path / "new", "new")
    checkout = tmp_path / "co"
    ok(f"clean_code {checkout} main", REPO_URL=str(old))
    (checkout / "VERSION").write_text("edited\n")
    done = shell(f"clean_code {checkout} main", REPO_URL=str(new))
    assert done.returncode != 0
    (line,) = errors(done)
    assert line.startswith(f"error: clean_code: REPO_DIR '{checkout}' has local changes; "
                           f"refusing to switch it from {old} to {new}")
    assert (checkout / "VERSION").read_text() == "edited\n"
    assert git(checkout, "remote", "get-url", "origin") == str(old)


def test_unreachable_new_url_fails_and_keeps_nothing_of_it(tmp_path: Path) -> None:
    old = make_project(tmp_path / "old", "old")
    checkout = tmp_path / "co"
    ok(f"clean_code {checkout} main", REPO_URL=str(old))
    missing = tmp_path / "missing.git"
    done = shell(f"clean_code {checkout} main", REPO_URL=str(missing))
    assert done.returncode != 0
    assert errors(done) == [f"error: clean_code: cannot fetch from {missing} into {checkout}"]


def test_relative_repo_url_is_the_same_url(tmp_path: Path) -> None:
    project = make_project(tmp_path / "upstream")
    work = tmp_path / "work"
    work.mkdir()
    ok(f"cd {work} && clean_code co v1.0", REPO_URL="../upstream")
    assert git(work / "co", "remote", "get-url", "origin") == str(project)
    out = ok(f"cd {work} && clean_code co main", REPO_URL="../upstream")
    assert "now fetches from" not in out
    assert head(work / "co") == head(project)


def test_bad_repo_dirs_are_one_line_errors_and_touch_nothing(tmp_path: Path) -> None:
    project = make_project(tmp_path / "upstream")
    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    done = shell(f"clean_code {a_file} main", REPO_URL=str(project))
    assert done.returncode != 0
    assert errors(done) == [f"error: clean_code: REPO_DIR '{a_file}' is not a directory"]
    # A plain directory inside another repository is not that repository's checkout.
    outer = make_project(tmp_path / "outer")
    (outer / "sub").mkdir()
    (outer / "sub" / "keep.txt").write_text("precious")
    before = head(outer)
    done = shell(f"clean_code {outer}/sub main", REPO_URL=str(project))
    assert done.returncode != 0
    assert errors(done) == [f"error: clean_code: REPO_DIR '{outer}/sub' exists but is not a "
                            "git repository"]
    assert (outer / "sub" / "keep.txt").read_text() == "precious"
    assert head(outer) == before


def test_checkout_info_names_url_ref_and_hash(tmp_path: Path) -> None:
    project = make_project(tmp_path / "upstream")
    checkout, info = tmp_path / "co", tmp_path / "work" / "checkout.json"
    out = ok(f"clean_code {checkout} feature", REPO_URL=str(project),
             MB_WORK_DIR=str(tmp_path / "work"))
    recorded = json.loads(info.read_text())
    sha = git(project, "rev-parse", "feature")
    assert recorded == {"url": str(project), "ref": "feature", "sha": sha,
                        "sdist_mirror": None, "fetched_url": str(project),
                        "commit_upstream": True, "sdist": None}
    assert f"clean_code: {checkout} at feature = {sha} from {project}\n" in out
    # The same from the command line, for the copy of a target too.
    copy = tmp_path / "target" / "src" / "co"
    ok(f"mb_target_checkout {checkout} {copy}")
    described = subprocess.run(
        [sys.executable, "-m", "multibuild.source.checkout", "describe", str(copy)],
        capture_output=True, text=True, check=True, cwd=REPO_ROOT,
    )
    assert json.loads(described.stdout) == recorded
    missing = subprocess.run(
        [sys.executable, "-m", "multibuild.source.checkout", "describe", str(tmp_path)],
        capture_output=True, text=True, check=False, cwd=REPO_ROOT,
    )
    assert missing.returncode == 1
    assert missing.stderr.strip() == f"error: {tmp_path} is not a git checkout"


def test_checkout_info_never_shows_credentials(tmp_path: Path) -> None:
    from multibuild.source.checkout import describe

    project = make_project(tmp_path / "upstream")
    checkout = tmp_path / "co"
    ok(f"clean_code {checkout} main", REPO_URL=str(project))
    git(checkout, "config", "mb.url", "https://user:s3cret@example.invalid/proj.git")
    assert describe(checkout).url == "https://example.invalid/proj.git"
    done = shell(f"clean_code {checkout} main",
                 REPO_URL="https://user:s3cret@127.0.0.1:9/proj.git", MB_SDIST_FALLBACK="0")
    assert done.returncode != 0
    assert "s3cret" not in done.stdout + done.stderr
    assert "https://127.0.0.1:9/proj.git" in done.stderr


# --- per-target copies -----------------------------------------------------------------------

def make_project_with_submodule(tmp_path: Path) -> Path:
    lib = make_project(tmp_path / "lib", "lib")
    project = make_project(tmp_path / "upstream")
    git(project, "-c", "protocol.file.allow=always", "submodule", "add", "-q", str(lib),
        "vendor/lib")
    git(project, "commit", "-qm", "vendor lib")
    git(project, "tag", "-a", "v1.1", "-m", "release 1.1")
    commit_files(project, {"after.txt": "after\n"}, "after 1.1")
    return project


def test_target_copy_is_an_independent_git_work_tree_with_the_same_version(
    tmp_path: Path
) -> None:
    project = make_project_with_submodule(tmp_path)
    source, copy = tmp_path / "proj", tmp_path / "build" / "t1" / "src" / "proj"
    ok(f"clean_code {source} main", REPO_URL=str(project), **FILE_PROTOCOL)
    out = ok(f"mb_target_checkout {source} {copy}", MB_WORK_DIR=str(tmp_path / "build" / "t1"))
    assert f"clean_code: {copy}: clone of {source} at {head(source)}" in out
    recorded = json.loads((tmp_path / "build" / "t1" / "checkout.json").read_text())
    assert recorded == {"url": str(project), "ref": "main", "sha": head(source),
                        "sdist_mirror": None, "fetched_url": str(project),
                        "commit_upstream": True, "sdist": None}  # the project's
    describe = ("describe", "--tags", "--long", "--dirty")
    assert head(copy) == head(source) and git(copy, *describe) == git(source, *describe)
    assert git(copy, *describe).startswith("v1.1-1-g")
    assert git(copy, "status", "--porcelain") == ""
    assert (copy / ".git").is_dir() and not (copy / ".git" / "objects" / "info" /
                                             "alternates").exists()
    # The project's submodule came from the source's, at the recorded commit.
    assert head(copy / "vendor" / "lib") == head(source / "vendor" / "lib")
    assert (copy / "vendor" / "lib" / "ORIGIN").read_text() == "lib\n"
    status = git(copy, "submodule", "status")  # (stripped of its leading blank)
    assert status.startswith(head(copy / "vendor" / "lib")) and "vendor/lib" in status
    # No dependence on the source: it may be gc'd, repacked or removed.
    subprocess.run(["rm", "-rf", str(source)], check=True)
    git(copy, "fsck", "--connectivity-only")
    assert git(copy, *describe).startswith("v1.1-1-g")


def test_target_copy_is_updated_in_place_and_cleaned(tmp_path: Path) -> None:
    project = make_project(tmp_path / "upstream")
    source, copy = tmp_path / "proj", tmp_path / "t" / "src" / "proj"
    ok(f"clean_code {source} v1.0", REPO_URL=str(project))
    ok(f"mb_target_checkout {source} {copy}")
    inode = (copy / ".git").stat().st_ino
    (copy / "build-artifact.o").write_text("x")
    (copy / "VERSION").write_text("edited\n")
    (copy / "stale-repo").mkdir()
    git(copy / "stale-repo", "init", "-q")
    ok(f"clean_code {source} main", REPO_URL=str(project))
    ok(f"mb_target_checkout {source} {copy}")
    assert (copy / ".git").stat().st_ino == inode  # the same repository, updated
    assert head(copy) == head(project)
    assert not (copy / "build-artifact.o").exists() and not (copy / "stale-repo").exists()
    assert (copy / "VERSION").read_text() == "1.1.dev\n"
    assert git(copy, "describe", "--tags") == git(source, "describe", "--tags")
    # A broken copy (not a repository any more) is replaced.
    subprocess.run(["rm", "-rf", str(copy / ".git")], check=True)
    ok(f"mb_target_checkout {source} {copy}")
    assert head(copy) == head(project)


def test_target_checkout_of_an_unprepared_source_is_an_error(tmp_path: Path) -> None:
    done = shell(f"mb_target_checkout {tmp_path}/nothing {tmp_path}/dest")
    assert done.returncode != 0
    assert errors(done) == [f"error: mb_target_checkout: {tmp_path}/nothing is not a "
                            "prepared checkout"]


def make_big_loose_repo(path: Path, files: int = 2500) -> Path:
    """Many loose objects (a fresh clone or sdist mirror before any gc), a few tags."""
    path.mkdir()
    git(path, "init", "-q", "-b", "main")
    git(path, "config", "gc.auto", "0")  # only the churn below repacks it
    for part in range(files // 500):
        for i in range(500):
            sub = path / f"d{part}"
            sub.mkdir(exist_ok=True)
            (sub / f"f{i}.txt").write_text(f"{part} {i}\n" * (1 + i % 7))
        git(path, "add", "-A")
        git(path, "commit", "-qm", f"part {part}")
        git(path, "tag", f"v0.{part}")
    return path


def test_target_checkouts_are_complete_while_the_source_is_repacked(tmp_path: Path) -> None:
    source = make_big_loose_repo(tmp_path / "source")
    sha, described = head(source), git(source, "describe", "--tags", "--long")
    stop = threading.Event()
    rounds = [0]
    env = {**os.environ, **GIT_ENV}

    def churn() -> None:
        # git gc and full repacks (alternating delta settings, so the pack files change name):
        # what a background auto-gc, or a user's git, does to REPO_DIR while targets copy it.
        while not stop.is_set():
            command = (["gc", "--quiet", "--prune=now"] if rounds[0] % 2 == 0
                       else ["repack", "-a", "-d", "-f", "-q", "--window=0"])
            subprocess.run(["git", "-C", str(source), *command], env=env, check=False,
                           capture_output=True)
            rounds[0] += 1

    thread = threading.Thread(target=churn, daemon=True)
    thread.start()
    try:
        copies = [tmp_path / f"t{i}" / "src" / "source" for i in range(10)]
        script = "\n".join(f"mb_target_checkout {source} {c} || exit 1" for c in copies)
        done = shell(script)
    finally:
        stop.set()
        thread.join(timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert rounds[0] >= 2, "the source was not repacked during the checkouts"
    for copy in copies:
        git(copy, "fsck", "--connectivity-only")
        assert head(copy) == sha
        assert git(copy, "describe", "--tags", "--long") == described
        assert git(copy, "status", "--porcelain") == ""
        assert len(list(copy.glob("d*/f*.txt"))) == 2500
