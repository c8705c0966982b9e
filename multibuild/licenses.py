"""Check that an installed binary distribution carries the licences of what it bundles.

Runs in the test environment with only the standard library (like ``--check_version``):

  python tools/check_license.py numpy --bundles OpenBLAS
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Sequence
from importlib import metadata

from multibuild import MultibuildError

# The heading a binary distribution's licence text carries above its bundled components.
_BUNDLES_HEADING = re.compile(
    r"This binary distribution of \w+ also bundles the following software"
)


def license_texts(distribution: str) -> dict[str, str]:
    """{file in the dist-info: text} of every licence file ``distribution`` installed."""
    try:
        dist = metadata.distribution(distribution)
    except metadata.PackageNotFoundError:
        raise MultibuildError(f"distribution {distribution!r} is not installed") from None
    texts = {}
    for file in dist.files or []:
        parts = file.parts
        in_dist_info = len(parts) >= 2 and parts[0].endswith(".dist-info")
        if in_dist_info and ("licenses" in parts[1:-1] or "LICEN" in parts[-1].upper()):
            texts[str(file)] = file.read_text(encoding="utf-8")
    if not texts:
        raise MultibuildError(f"{distribution}: no licence file in its .dist-info")
    return texts


def check_bundled(distribution: str, bundles: Sequence[str]) -> str:
    """Assert a licence file of ``distribution`` has the bundled-software section naming each
    of ``bundles``; return the file that does."""
    texts = license_texts(distribution)
    for name, text in texts.items():
        if "Copyright" in text and _BUNDLES_HEADING.search(text):
            missing = [b for b in bundles if not re.search(rf"^Name:\s*{re.escape(b)}\b", text,
                                                           re.MULTILINE)]
            if missing:
                raise MultibuildError(
                    f"{distribution}: {name} does not name bundled {', '.join(missing)}"
                )
            return name
    raise MultibuildError(
        f"{distribution}: none of {', '.join(texts)} has the bundled-software licence text "
        "(was the wheel built with pre_build's append_bundled_licenses?)"
    )


def main(argv: Sequence[str] | None = None, prog: str | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog=prog, description="Check an installed distribution's licence text names the "
        "software its binary wheel bundles.")
    parser.add_argument("distribution", nargs="?", default="numpy")
    parser.add_argument("--bundles", action="append", default=[], metavar="NAME",
                        help="a bundled component whose licence must be named (repeatable)")
    args = parser.parse_args(argv)
    try:
        found = check_bundled(args.distribution, args.bundles)
    except MultibuildError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"{args.distribution}: bundled licences in {found}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
