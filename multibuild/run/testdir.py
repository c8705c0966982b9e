"""Where ``run_tests`` runs: ``tmp_for_test/`` beside the project, as in multibuild.

multibuild's ``install_run`` runs config.sh's ``run_tests`` in ``tmp_for_test/`` inside the
wheels repository, so configs reach the project's sources as ``../$REPO_DIR/...`` (cftime's
``pytest ../cftime/test/test_cftime.py``) and the repository's own files as ``../NAME``
(numpy-wheels' ``../check_license.py``), while ``import`` finds only the installed wheel.

A target of ``./wheels build`` builds its own copy of the project, ``<work>/src/<name>``. Its
test directory is ``<work>/src/tmp_for_test``, and ``<work>/src`` holds, beside that copy, a
link to every other top-level entry of the repository: seen from the test directory, ``..``
is the repository with the target's own checkout in it, and parallel targets never share a
test directory. Anywhere else (a CI script calling ``install_run`` in the repository, a test
container at ``/io``) it is ``./tmp_for_test``, as in multibuild.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

TEST_DIR = "tmp_for_test"


def _inside(path: Path, parent: Path) -> bool:
    return path == parent or parent in path.parents


def link_repository(root: Path, view: Path, checkout: Path) -> None:
    """Make ``view`` (the directory holding ``checkout``) look like ``root``: one link per
    top-level entry of ``root``, except the checkout's own name and the directories holding
    ``view`` itself (a link to them would make a cycle). Links are relative when ``view`` is
    inside ``root`` (they then work in a container that mounts ``root`` elsewhere)."""
    keep = {checkout.name, TEST_DIR}
    wanted: dict[str, str] = {}
    for entry in sorted(os.listdir(root)):
        source = root / entry
        if entry in keep or _inside(view, source):
            continue
        wanted[entry] = (os.path.relpath(source, view) if _inside(view, root)
                         else str(source))
    for entry in os.listdir(view):
        path = view / entry
        if path.is_symlink() and os.readlink(path) != wanted.get(entry):
            path.unlink()
    for entry, target in wanted.items():
        path = view / entry
        if not path.is_symlink() and not path.exists():
            path.symlink_to(target)


def prepare(root: Path, repo_dir: str, work_dir: str, cwd: Path) -> Path:
    """The empty test directory for this ``install_run`` (see the module's docstring)."""
    checkout = Path(repo_dir) if repo_dir else None
    work = Path(work_dir).resolve() if work_dir else None
    if (checkout is not None and checkout.is_absolute() and work is not None
            and checkout.resolve().parent == work / "src"):
        view = checkout.resolve().parent
        link_repository(root.resolve(), view, checkout.resolve())
    else:
        view = cwd
    test_dir = view / TEST_DIR
    if test_dir.is_symlink() or test_dir.is_file():
        test_dir.unlink()
    elif test_dir.is_dir():
        shutil.rmtree(test_dir)  # left by an interrupted run
    test_dir.mkdir()
    return test_dir


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m multibuild.run.testdir",
        description="Make and print the empty directory install_run runs run_tests in.")
    parser.add_argument("--root", type=Path, required=True, help="the wheels repository")
    parser.add_argument("--repo-dir", default="", help="REPO_DIR as the build used it")
    parser.add_argument("--work-dir", default="", help="MB_WORK_DIR, if any")
    args = parser.parse_args(argv)
    try:
        print(prepare(args.root, args.repo_dir, args.work_dir, Path.cwd()))
    except OSError as exc:
        print(f"error: install_run: cannot make {TEST_DIR}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
