"""A local git mirror of a project release, made from its sdist on a package index.

Where the project's repository cannot be reached (no GitHub here), its source release still
can: the sdist is fetched straight from the index's simple page (PEP 503/691, sha256 checked,
retried with a bound), extracted safely, committed into a bare git repository and tagged
``vX.Y.Z``. ``REPO_URL=/path/to/mirror.git`` then builds it like any clone. Fetching the file
directly matters: ``pip download`` of numpy's sdist builds the whole package to read metadata.

  ./wheels mirror numpy 2.2.6 --dest ../numpy.git
  python -m multibuild.source.mirror numpy 2.2.6 --dest DIR [--index-url URL]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from multibuild import MultibuildError, run_cli
from multibuild.net.extract import safe_extract_tar
from multibuild.net.fetch import (
    Http,
    Interrupted,
    check_url,
    exit_status,
    raise_on_sigterm,
    redact_url,
    sha256_file,
)
from multibuild.net.index import RemoteFile, check_project_name, fetch_file, list_simple

DEFAULT_INDEX = "https://pypi.org/simple"
# Release tags this fallback understands: v2.2.6, 2.2.6, v2.3.0rc1.
_RELEASE_TAG = re.compile(r"^v?(\d+(?:\.\d+)+(?:(?:a|b|rc)\d+)?(?:\.post\d+)?)$")


def index_url(environ: Mapping[str, str]) -> str:
    return (environ.get("MB_SDIST_INDEX_URL") or environ.get("PIP_INDEX_URL")
            or environ.get("UV_INDEX_URL") or DEFAULT_INDEX)


def cache_dir(environ: Mapping[str, str]) -> Path:
    """MB_CACHE_DIR, else build/cache in the wheels repository (as ``mb_cache_dir``)."""
    if environ.get("MB_CACHE_DIR"):
        return Path(environ["MB_CACHE_DIR"])
    root = environ.get("MB_ROOT") or str(Path(__file__).resolve().parents[2])
    return Path(root) / "build" / "cache"


def release_version(ref: str) -> str | None:
    """The version a release tag names (``v2.2.6`` -> ``2.2.6``); None for other refs."""
    match = _RELEASE_TAG.match(ref)
    return match.group(1) if match else None


def pick_sdist(files: Sequence[RemoteFile], package: str, version: str, where: str) -> RemoteFile:
    sdists = [f for f in files if f.filename.endswith(".tar.gz")]
    if not sdists:
        raise MultibuildError(f"no sdist of {package} {version} on {where}")
    chosen = sdists[0]
    if not chosen.sha256:
        raise MultibuildError(f"{where}: no sha256 published for {chosen.filename}; refusing it")
    return chosen


@dataclass(frozen=True)
class SdistSource:
    """The sdist a mirror was made from: its file name, where it came from (credentials
    removed) and its sha256."""

    file: str
    url: str | None
    sha256: str


def fetch_sdist(package: str, version: str,
                environ: Mapping[str, str]) -> tuple[Path, SdistSource]:
    """Download (or reuse from the cache) the verified sdist: (path, where it came from)."""
    url = check_url(index_url(environ), "sdist index")
    raw = environ.get("MB_DOWNLOAD_ATTEMPTS", "4")
    if not raw.strip().isdigit() or int(raw) < 1:
        raise MultibuildError(f"MB_DOWNLOAD_ATTEMPTS={raw!r} is not a whole number of 1 or more")
    http = Http(attempts=int(raw))
    sdist = pick_sdist(list_simple(http, url, package, version), package, version,
                       redact_url(url))
    assert sdist.sha256 is not None  # pick_sdist refuses a file without one
    source = SdistSource(sdist.filename, redact_url(sdist.url), sdist.sha256)
    directory = cache_dir(environ) / "sdists"
    directory.mkdir(parents=True, exist_ok=True)
    cached = directory / sdist.filename
    if cached.is_file() and sha256_file(cached) == sdist.sha256:
        return cached, source
    print(f"mirror: downloading {sdist.filename} from {redact_url(url)}", file=sys.stderr)
    path, _digest = fetch_file(http, sdist, directory)
    return path, source


# Where a mirror keeps the sdist it was made from (its own git config; the commit message holds
# the file name and sha256 too, so a clone of the mirror still knows them).
_SDIST_KEYS = {"file": "mb.sdist.file", "url": "mb.sdist.url", "sha256": "mb.sdist.sha256"}
_MESSAGE = re.compile(r"^\S+ \S+ from (?P<file>\S+)\n\nsdist sha256: (?P<sha256>[0-9a-f]{64})$",
                      re.MULTILINE)


def _config(repo: Path, key: str) -> str | None:
    done = subprocess.run(["git", "-C", str(repo), "config", "--get", key],
                          capture_output=True, text=True, check=False)
    return done.stdout.strip() or None if done.returncode == 0 else None


def sdist_source(repo: Path, commit: str, mirror: Path | None = None) -> SdistSource | None:
    """The sdist behind mirror commit ``commit`` of ``repo`` (a mirror, or a clone of one):
    file and sha256 from the commit message, the URL from the mirror's config (``mirror``,
    else ``repo``) when it recorded one."""
    done = subprocess.run(["git", "-C", str(repo), "log", "-1", "--format=%B", commit],
                          capture_output=True, text=True, check=False)
    found = _MESSAGE.search(done.stdout) if done.returncode == 0 else None
    if found is None:
        return None
    url = None
    for where in (mirror, repo):
        if where is not None and where.is_dir() and \
                _config(where, _SDIST_KEYS["sha256"]) == found["sha256"]:
            url = _config(where, _SDIST_KEYS["url"])
            break
    return SdistSource(found["file"], url, found["sha256"])


def _git(git_dir: Path, *args: str, work_tree: Path | None = None,
         env: Mapping[str, str] | None = None) -> str:
    command = ["git", f"--git-dir={git_dir}"]
    if work_tree is not None:
        command.append(f"--work-tree={work_tree}")
    proc = subprocess.run([*command, *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})})
    if proc.returncode != 0:
        detail = proc.stderr.strip().splitlines()[-1:] or ["no output"]
        raise MultibuildError(f"git {args[0]} in {git_dir} failed: {detail[0]}")
    return proc.stdout.strip()


def mirror_tag(dest: Path, tag: str) -> str | None:
    """The commit ``tag`` names in the mirror ``dest``; None when absent."""
    if not (dest / "HEAD").is_file():
        return None
    try:
        return _git(dest, "rev-parse", "--verify", "--quiet", f"refs/tags/{tag}^{{commit}}")
    except MultibuildError:
        return None


# The author of a mirror's commit: its hash exists in no real history of the project.
MIRROR_NAME, MIRROR_EMAIL = "wheels mirror", "mirror@localhost"


def is_mirror_commit(repo: Path, commit: str) -> bool:
    """Whether ``commit`` in the repository ``repo`` was made by ``commit_tree``."""
    done = subprocess.run(["git", "-C", str(repo), "log", "-1", "--format=%an <%ae>", commit],
                          capture_output=True, text=True, check=False)
    return done.returncode == 0 and done.stdout.strip() == f"{MIRROR_NAME} <{MIRROR_EMAIL}>"


def commit_tree(git_dir: Path, tree: Path, message: str, tag: str) -> str:
    """Commit every file of ``tree`` byte for byte into the bare repository ``git_dir``."""
    _git(git_dir, "init", "--quiet", "--bare", "--initial-branch=main")
    # No end-of-line or filter attributes: the commit holds the sdist's exact bytes.
    info = git_dir / "info"
    info.mkdir(exist_ok=True)
    (info / "attributes").write_text("* -text -filter -diff\n")
    identity = {
        "GIT_AUTHOR_NAME": MIRROR_NAME, "GIT_AUTHOR_EMAIL": MIRROR_EMAIL,
        "GIT_COMMITTER_NAME": MIRROR_NAME, "GIT_COMMITTER_EMAIL": MIRROR_EMAIL,
        # A fixed date makes the same sdist give the same commit hash everywhere.
        "GIT_AUTHOR_DATE": "2000-01-01T00:00:00Z", "GIT_COMMITTER_DATE": "2000-01-01T00:00:00Z",
    }
    _git(git_dir, "-c", "core.autocrlf=false", "add", "--all", "--force", work_tree=tree)
    _git(git_dir, "commit", "--quiet", "--no-verify", "-m", message, work_tree=tree, env=identity)
    _git(git_dir, "tag", tag, env=identity)
    return _git(git_dir, "rev-parse", "HEAD")


def make_mirror(package: str, version: str, dest: Path, environ: Mapping[str, str],
                *, force: bool = False) -> str:
    """Make (or reuse) the bare mirror ``dest`` holding ``package`` ``version`` at tag
    ``vVERSION``; return the tagged commit."""
    tag = f"v{version}"
    existing = mirror_tag(dest, tag)
    if existing and not force:
        print(f"mirror: {dest} already has {tag} ({existing[:12]})", file=sys.stderr)
        return existing
    if dest.exists() and not force and not existing:
        raise MultibuildError(f"{dest} exists and is not a mirror with tag {tag}; "
                              "choose another --dest or pass --force")
    sdist, source = fetch_sdist(package, version, environ)
    digest = source.sha256
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=dest.parent, prefix=f".{dest.name}.") as scratch:
        unpacked = Path(scratch) / "src"
        safe_extract_tar(sdist, unpacked, sdist.name)
        roots = list(unpacked.iterdir())
        if len(roots) != 1 or not roots[0].is_dir():
            raise MultibuildError(f"{sdist.name}: expected one top-level directory")
        staged = Path(scratch) / "mirror.git"
        commit = commit_tree(
            staged, roots[0], f"{package} {version} from {sdist.name}\n\nsdist sha256: {digest}\n",
            tag,
        )
        for field, key in _SDIST_KEYS.items():  # what was really fetched, for the reports
            value = getattr(source, field)
            if value:
                _git(staged, "config", key, value)
        if dest.exists():
            shutil.rmtree(dest)
        try:
            os.replace(staged, dest)
        except OSError:
            # Another run made the same mirror meanwhile (parallel targets): keep theirs.
            if mirror_tag(dest, tag) != commit:
                raise
    print(f"mirror: {package} {version} -> {dest} (tag {tag}, {commit[:12]})", file=sys.stderr)
    return commit


def default_dest(package: str, version: str, environ: Mapping[str, str]) -> Path:
    return cache_dir(environ) / "mirrors" / f"{package}-{version}.git"


def build_parser(prog: str = "python -m multibuild.source.mirror") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Make a local git mirror of a project release from its sdist on a package "
        "index: one commit holding the sdist's files, tagged vVERSION. Build it with "
        "REPO_URL=DEST.",
    )
    add_arguments(parser)
    return parser


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("package", help="project name on the index, e.g. numpy")
    parser.add_argument("version", help="release version, e.g. 2.2.6 (or a tag: v2.2.6)")
    parser.add_argument("--dest", help="bare repository to create (default: "
                        "build/cache/mirrors/PACKAGE-VERSION.git, or under MB_CACHE_DIR)")
    parser.add_argument("--index-url", help="simple index (default: MB_SDIST_INDEX_URL, "
                        f"PIP_INDEX_URL, then {DEFAULT_INDEX})")
    parser.add_argument("--force", action="store_true", help="replace an existing --dest")


def run(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    check_project_name(args.package, "PACKAGE")  # it names the mirror's directory, too
    version = release_version(args.version)
    if version is None:
        raise MultibuildError(f"{args.version!r} is not a release version or tag (e.g. 2.2.6)")
    env = dict(environ)
    if args.index_url:
        env["MB_SDIST_INDEX_URL"] = args.index_url
    dest = Path(args.dest).resolve() if args.dest else default_dest(args.package, version, env)
    make_mirror(args.package, version, dest, env, force=args.force)
    print(dest)
    return 0


def main(argv: Sequence[str] | None = None,
         prog: str = "python -m multibuild.source.mirror") -> int:
    args = build_parser(prog).parse_args(argv)
    raise_on_sigterm()  # SIGTERM, like Ctrl-C, removes the partial download
    try:
        return run_cli(lambda: run(args, os.environ), 2)
    except (KeyboardInterrupt, Interrupted) as exc:
        print("mirror: interrupted", file=sys.stderr)
        return exit_status(exc)


if __name__ == "__main__":
    sys.exit(main())
