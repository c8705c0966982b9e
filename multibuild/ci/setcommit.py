"""``tools/set-build-commit REF``: set BUILD_COMMIT (or NIGHTLY_BUILD_COMMIT) in every CI file.

The round-trip YAML reader finds each file's variable (line and column of its scalar); only
that scalar's text is replaced, keeping its quoting style, so the file stays byte-identical
apart from the value. The result is parsed again and must differ from the original in that one
value only. All files are prepared before any is written (temp name, then rename).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import shlex
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from multibuild import MultibuildError, run_cli
from multibuild.ci.cifiles import CI_FILES, Variable, read_ci_file
from multibuild.core.files import atomic_write
from multibuild.core.refs import check_ref

_PLAIN_END = " \t\n,]}#"
_HEX = re.compile(r"^[0-9a-fA-F]+$")


@dataclass(frozen=True)
class Change:
    file: str
    line: int
    name: str
    old: str
    new: str
    text: str  # the new file content


def _scalar_text(new: str) -> str:
    """``new`` as a plain YAML scalar if it reads back as that string, else single-quoted."""
    for version in ((1, 2), (1, 1)):  # Travis and AppVeyor read YAML 1.1 (yes, on, 0x1, ...)
        yaml = YAML(typ="safe")
        yaml.version = version
        try:
            loaded = yaml.load(f"k: {new}\n")
        except YAMLError:
            loaded = None
        if not (isinstance(loaded, dict) and isinstance(loaded.get("k"), str)
                and loaded["k"] == new):
            return "'" + new.replace("'", "''") + "'"
    return new


def replace_scalar(text: str, var: Variable, new_scalar: str) -> str:
    """``text`` with the scalar of ``var`` (at its line and column) replaced by
    ``new_scalar``, in the scalar's own quoting style."""
    lines = text.splitlines(keepends=True)
    line = lines[var.line - 1]
    start = var.col
    quote = line[start:start + 1]
    if quote in ("'", '"'):
        if quote == "'":
            body = var.scalar.replace("'", "''")
            replacement = "'" + new_scalar.replace("'", "''") + "'"
        else:
            body = var.scalar.replace("\\", "\\\\").replace('"', '\\"')
            replacement = '"' + new_scalar.replace("\\", "\\\\").replace('"', '\\"') + '"'
        old = quote + body + quote
    else:
        old = var.scalar
        replacement = _scalar_text(new_scalar)
        end = start + len(old)
        if end < len(line) and line[end] not in _PLAIN_END:
            old = ""  # not the plain scalar we read
    if not old or line[start:start + len(old)] != old:
        raise MultibuildError(
            f"{var.file}:{var.line}: cannot edit {var.name}: unexpected formatting of its value"
        )
    lines[var.line - 1] = line[:start] + replacement + line[start + len(old):]
    return "".join(lines)



def plan_changes(root: Path, name: str, value: str) -> list[Change]:
    """The edit of every CI file under ``root``: ``name`` set to ``value``."""
    changes: list[Change] = []
    for service in CI_FILES:
        cifile = read_ci_file(root, service)
        if cifile is None:
            continue
        var = cifile.variables.get(name)
        if var is None:
            raise MultibuildError(f"{cifile.file}:{cifile.variables_line}: no {name} variable")
        # Travis runs its env entries as shell: the value goes in as one shell word (a
        # checked ref needs no quoting), replacing the text after NAME= as written.
        word = shlex.quote(value) if service == "travis" else value
        new_scalar = var.scalar[: len(var.scalar) - len(var.written)] + word
        text = replace_scalar(cifile.text, var, new_scalar) if var.value != value else cifile.text
        if text != cifile.text:
            _verify(root, service, cifile.text, text, name, value)
        changes.append(Change(cifile.file, var.line, name, var.value, value, text))
    if not changes:
        raise MultibuildError(f"no CI files in {root}")
    return changes


def _verify(root: Path, service: str, before: str, after: str, name: str, value: str) -> None:
    """``after`` parses, has ``name`` = ``value``, and equals ``before`` otherwise."""
    with tempfile.TemporaryDirectory() as scratch:
        copy = Path(scratch)
        target = copy / CI_FILES[service]
        target.parent.mkdir(parents=True, exist_ok=True)  # .github/workflows/
        target.write_text(after, encoding="utf-8")
        edited = read_ci_file(copy, service)
    assert edited is not None
    var = edited.variables.get(name)
    if var is None or var.value != value:
        raise MultibuildError(f"{CI_FILES[service]}: editing {name} failed; nothing written")
    lines_before, lines_after = before.splitlines(), after.splitlines()
    differing = [i for i, (a, b) in enumerate(zip(lines_before, lines_after)) if a != b]
    if len(lines_before) != len(lines_after) or len(differing) != 1:
        raise MultibuildError(f"{CI_FILES[service]}: editing {name} changed more than its value")


def git_commit(repo: Path, ref: str) -> str | None:
    """The commit ``ref`` names in ``repo`` (remote branch first, as clean_code resolves
    it), or ``None``."""
    for candidate in (f"refs/remotes/origin/{ref}^{{commit}}", f"{ref}^{{commit}}"):
        done = subprocess.run(
            ["git", "-C", str(repo), "rev-parse", "--verify", "--quiet", candidate],
            capture_output=True, text=True, check=False,
        )
        if done.returncode == 0 and done.stdout.strip():
            return done.stdout.strip()
    return None


def _project_repo(root: Path, explicit: str | None) -> Path | None:
    if explicit:
        repo = Path(explicit)
        if not (repo / ".git").exists():
            raise MultibuildError(f"--repo {explicit}: not a git repository")
        return repo
    cifile = read_ci_file(root, "azure")
    repo_dir = cifile.variables.get("REPO_DIR") if cifile else None
    if repo_dir and (root / repo_dir.value / ".git").exists():
        return root / repo_dir.value
    return None


def _is_hash_of(value: str, sha: str) -> bool:
    return len(value) >= 4 and sha.startswith(value.lower()) and bool(_HEX.match(value))


def _refuse_mirror_hash(repo: Path, ref: str, sha: str) -> None:
    """A local sdist mirror's commit (``multibuild.source.mirror``) has a hash of its own: CI,
    cloning the real repository, would not find it."""
    from multibuild.source.mirror import MIRROR_EMAIL, MIRROR_NAME, is_mirror_commit

    if is_mirror_commit(repo, sha):
        raise MultibuildError(
            f"{ref} is {sha[:12]} in {repo}, a local mirror made from an sdist (commit by "
            f"{MIRROR_NAME} <{MIRROR_EMAIL}>), not the project's history: CI would not find "
            "that hash; write the tag (no --full-hash), use --repo with a clone of the real "
            "repository, or pass --allow-mirror")


def run(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="tools/set-build-commit",
        description="Set BUILD_COMMIT (or, with --nightly, NIGHTLY_BUILD_COMMIT) in every CI "
        "file, keeping comments and formatting; print what changed.",
    )
    parser.add_argument("ref", help="tag, branch or commit hash of the project")
    parser.add_argument("--nightly", action="store_true", help="set NIGHTLY_BUILD_COMMIT")
    parser.add_argument("--repo", help="project repository to verify REF in "
                        "(default: REPO_DIR when it is cloned)")
    parser.add_argument("--full-hash", action="store_true",
                        help="write the full commit hash REF names (needs the repository)")
    parser.add_argument("--allow-mirror", action="store_true",
                        help="write a hash even when the repository is a local mirror made "
                        "from an sdist (its commits exist nowhere else)")
    parser.add_argument("--root", default=str(Path(__file__).resolve().parents[2]),
                        help="wheels repository (default: this one)")
    args = parser.parse_args(argv)
    root = Path(args.root).resolve()
    name = "NIGHTLY_BUILD_COMMIT" if args.nightly else "BUILD_COMMIT"
    ref = check_ref(args.ref.strip(), "REF")
    repo = _project_repo(root, args.repo)
    value = ref
    if repo is not None:
        sha = git_commit(repo, ref)
        if sha is None:
            raise MultibuildError(f"unknown ref {ref!r} in repository {repo} (fetch it first?)")
        value = sha if args.full_hash else ref
        if _is_hash_of(value, sha) and not args.allow_mirror:
            _refuse_mirror_hash(repo, ref, sha)
    elif args.full_hash:
        raise MultibuildError("--full-hash needs the project repository: clone it into "
                              "REPO_DIR or pass --repo PATH")
    else:
        print(f"note: project repository not found; {ref!r} not verified "
              "(clone it into REPO_DIR or pass --repo)", file=sys.stderr)
    check_ref(value, "REF")
    # Read, edit and replace under one lock: two runs at once never lose an update.
    with ci_files_lock(root):
        changes = plan_changes(root, name, value)
        replace_all(root, [c for c in changes if c.old != c.new])
    for change in changes:
        if change.old == change.new:
            print(f"{change.file}:{change.line}: {name} already {change.new}")
        else:
            print(f"{change.file}:{change.line}: {name} {change.old} -> {change.new}")
    return 0


@contextlib.contextmanager
def ci_files_lock(root: Path) -> Iterator[None]:
    """An exclusive ``flock`` on the wheels repository's directory for the duration of a CI
    file edit (no lock file to leave behind; every editor here takes it)."""
    import fcntl

    fd = os.open(root, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def replace_all(root: Path, changes: Sequence[Change]) -> None:
    """Replace the files of ``changes`` all or none: every new text is written to a
    temporary name first, then each is renamed into place; if any step fails, the files
    already replaced get their old text back and the temporaries are removed."""
    staged: list[tuple[Path, Path, bytes, int]] = []
    done: list[tuple[Path, bytes, int]] = []
    try:
        for change in changes:
            path = root / change.file
            mode = path.stat().st_mode & 0o777  # keeps the mode of the file it replaces
            fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
            with os.fdopen(fd, "wb") as out:
                out.write(change.text.encode("utf-8"))
            os.chmod(name, mode)
            staged.append((Path(name), path, path.read_bytes(), mode))
        for tmp, path, old, mode in staged:
            os.replace(tmp, path)
            done.append((path, old, mode))
    except BaseException as exc:
        for path, old, mode in reversed(done):
            atomic_write(path, old, mode=mode)
        for tmp, _path, _old, _mode in staged:
            tmp.unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise MultibuildError(f"cannot replace the CI files ({exc}); none was changed") \
                from None
        raise


def main(argv: Sequence[str] | None = None) -> int:
    return run_cli(lambda: run(argv))


if __name__ == "__main__":
    sys.exit(main())
