"""What ``clean_code`` checked out: the repository URL, the ref as written, the full hash.

``clean_code`` keeps the URL asked for and the ref in the checkout's own git config
(``mb.url``, ``mb.ref``; ``mb.sdistmirror`` when a release's sdist stood in for an unreachable
repository); the hash is the checkout's HEAD. Per-target copies carry the same keys. In a
``./wheels`` run, ``clean_code`` also writes them as JSON to ``build/source/checkout.json``
(each target's copy to ``build/<target>/checkout.json``)::

  python -m multibuild.checkout describe DIR [--output FILE]
  {"url": "https://github.com/numpy/numpy.git", "ref": "v2.2.6", "sha": "<40 hex>",
   "sdist_mirror": null}

URLs are printed without any user:password part.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from multibuild import MultibuildError
from multibuild.files import atomic_write
from multibuild.urls import redact_url


@dataclass(frozen=True)
class Checkout:
    url: str  # the repository asked for (REPO_URL, else the checkout's origin); "" if none
    ref: str  # BUILD_COMMIT as written ("" when clean_code did not make this checkout)
    sha: str  # the full hash checked out
    sdist_mirror: str | None = None  # the local mirror of the release's sdist, if one stood in

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2) + "\n"


def _git(repo: Path, *args: str) -> str | None:
    done = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True,
                          check=False)
    return done.stdout.strip() if done.returncode == 0 else None


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
    return Checkout(url=redact_url(url) if url else "",
                    ref=_git(repo, "config", "--get", "mb.ref") or "", sha=sha,
                    sdist_mirror=mirror)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m multibuild.checkout",
        description="Report what clean_code checked out (URL, ref as written, full hash).",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    show = sub.add_parser("describe", help="print (or write) DIR's checkout as JSON")
    show.add_argument("dir", type=Path, help="REPO_DIR or a target's copy of it")
    show.add_argument("--output", type=Path, help="write the JSON here (atomically)")
    args = parser.parse_args(argv)
    try:
        text = describe(args.dir).to_json()
    except MultibuildError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if args.output:
        atomic_write(args.output, text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
