"""What ``clean_code`` checked out: the repository URL, the ref as written, the full hash.

``clean_code`` keeps the URL asked for and the ref in the checkout's own git config
(``mb.url``, ``mb.ref``; ``mb.sdistmirror`` when a release's sdist stood in for an unreachable
repository); the hash is the checkout's HEAD. Per-target copies carry the same keys. In a
``./wheels`` run, ``clean_code`` also writes them as JSON to ``build/source/checkout.json``
(each target's copy to ``build/<target>/checkout.json``)::

  python -m multibuild.source.checkout describe DIR [--output FILE] [--say PREFIX]
  {"url": "https://github.com/numpy/numpy.git", "ref": "v2.2.6", "sha": "<40 hex>",
   "sdist_mirror": null, "fetched_url": "https://github.com/numpy/numpy.git",
   "commit_upstream": true, "sdist": null}

A commit made by a local sdist mirror (``multibuild.source.mirror``) is not the project's: its hash
exists in no real history. Such a checkout says so (``commit_upstream`` false) and names the
sdist it was made from (file, URL, sha256) as what was really fetched; ``--say`` prints the
same as one line for the log. URLs are printed without any user:password part.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from multibuild import MultibuildError, run_cli
from multibuild.core.files import atomic_write
from multibuild.core.urls import redact_url
from multibuild.source.mirror import SdistSource, is_mirror_commit, sdist_source


@dataclass(frozen=True)
class Checkout:
    url: str  # the repository asked for (REPO_URL, else the checkout's origin); "" if none
    ref: str  # BUILD_COMMIT as written ("" when clean_code did not make this checkout)
    sha: str  # the full hash checked out
    sdist_mirror: str | None = None  # the local mirror of the release's sdist, if one stood in
    # What was really fetched: the sdist file's URL when the commit is a mirror's, else the
    # repository's URL.
    fetched_url: str = ""
    # Whether the commit exists in the repository asked for; False: only in a local mirror made
    # from the release's sdist (its hash exists in no real history of the project).
    commit_upstream: bool = True
    sdist: SdistSource | None = None  # the sdist behind a mirror commit

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2) + "\n"

    def record(self) -> dict[str, Any]:
        """The report's ``repository`` fields of this checkout (see report.schema.json)."""
        return {"url": self.url or None, "fetched_url": self.fetched_url or None,
                "ref": self.ref, "commit": self.sha, "commit_upstream": self.commit_upstream,
                "sdist_mirror": self.sdist_mirror,
                "sdist": asdict(self.sdist) if self.sdist else None}


def _git(repo: Path, *args: str) -> str | None:
    done = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True,
                          check=False)
    return done.stdout.strip() if done.returncode == 0 else None


def _local_dir(url: str) -> Path | None:
    path = Path(url)
    return path if "://" not in url and path.is_absolute() and path.is_dir() else None


def describe(repo: Path) -> Checkout:
    """What ``repo`` (REPO_DIR or a target's copy) holds; MultibuildError if no checkout."""
    if not (repo / ".git").exists():
        raise MultibuildError(f"{repo} is not a git checkout")
    sha = _git(repo, "rev-parse", "--verify", "--quiet", "HEAD")
    if not sha:
        raise MultibuildError(f"{repo} has no commit checked out")
    url = _git(repo, "config", "--get", "mb.url") or _git(
        repo, "config", "--get", "remote.origin.url") or ""
    mirror = _git(repo, "config", "--get", "mb.sdistmirror") or None
    upstream = not is_mirror_commit(repo, sha)
    sdist = None
    if not upstream:
        # The mirror: the stand-in clean_code made, else the repository asked for (a mirror
        # made with ./wheels mirror and given as REPO_URL).
        where = Path(mirror) if mirror else _local_dir(url)
        sdist = sdist_source(repo, sha, where)
    fetched = (sdist.url if sdist and sdist.url else mirror if mirror and not upstream
               else url)
    return Checkout(url=redact_url(url) if url else "",
                    ref=_git(repo, "config", "--get", "mb.ref") or "", sha=sha,
                    sdist_mirror=mirror, fetched_url=redact_url(fetched) if fetched else "",
                    commit_upstream=upstream, sdist=sdist)


def source_sentence(record: Mapping[str, Any]) -> str:
    """One line saying what was built, from a report's ``repository`` record: the ref as
    written, the commit, what was fetched and whether the commit exists upstream."""
    ref, commit = record.get("ref") or "?", record.get("commit") or "an unknown commit"
    asked = record.get("requested_url") or record.get("url") or "the local checkout"
    head = f"{ref} = {commit}"
    if record.get("commit_upstream", True) is not False:
        return f"{head} from {record.get('fetched_url') or asked}"
    sdist = record.get("sdist") or {}
    made = (f"the sdist {sdist.get('file')} ({sdist.get('url') or 'URL not recorded'}, "
            f"sha256 {sdist.get('sha256')})" if sdist else "an sdist")
    mirror = record.get("sdist_mirror")
    if mirror:
        return (f"{head} from {made}: a local mirror ({mirror}) stood in for {asked}; this "
                "commit exists only in that mirror, not upstream")
    return (f"{head} from the local mirror {asked}, made from {made}; this commit exists only "
            "in that mirror, not upstream")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m multibuild.source.checkout",
        description="Report what clean_code checked out (URL, ref as written, full hash).",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    show = sub.add_parser("describe", help="print (or write) DIR's checkout as JSON")
    show.add_argument("dir", type=Path, help="REPO_DIR or a target's copy of it")
    show.add_argument("--output", type=Path, help="write the JSON here (atomically)")
    show.add_argument("--say", metavar="PREFIX",
                      help="print one line saying what was checked out (ref, commit, what was "
                      "fetched, whether the commit exists upstream), after PREFIX")
    args = parser.parse_args(argv)

    def body() -> int:
        found = describe(args.dir)
        if args.output:
            atomic_write(args.output, found.to_json())
        elif args.say is None:
            sys.stdout.write(found.to_json())
        if args.say is not None:
            print(f"{args.say}{source_sentence(found.record())}")
        return 0

    return run_cli(body, 1)


if __name__ == "__main__":
    sys.exit(main())
