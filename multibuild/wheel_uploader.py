"""``tools/wheel-uploader``: release a complete, checked set of staged wheels to PyPI.

terryfy's interface: ``wheel-uploader [-u URL] [-w DIR] [-t TYPE] [-c] [-n] [-s] [-r REPO] [-v]
PKG VERSION``. Download the wheels of PKG VERSION from the channel at URL, keep those of the
platform TYPE, refuse an incomplete set (``--allow-incomplete`` overrides), ``twine check
--strict``, sign with gpg on ``-s``, and upload with twine (``-n``: everything but the upload).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from multibuild import MultibuildError
from multibuild.download import (
    DEFAULT_STAGING_URL,
    Http,
    RemoteFile,
    check_complete,
    download_all,
    expected_slots,
    list_files,
    matrix_pairs,
    parse_expect,
    redact_url,
    wheel_slots,
)

# -t TYPE -> platform key prefixes (the platform table's keys: linux-x86_64, macos-arm64, ...)
TYPES: dict[str, tuple[str, ...]] = {
    "all": ("",),
    "macosx": ("macos-",),
    "macos": ("macos-",),
    "win": ("windows-",),
    "windows": ("windows-",),
    "manylinux": ("linux-",),
    "manylinux1": ("linux-",),
    "manylinux2014": ("linux-",),
    "linux": ("linux-", "musllinux-"),
    "musllinux": ("musllinux-",),
    "any": ("any",),
}


def of_type(filename: str, kind: str) -> bool:
    prefixes = TYPES[kind]
    return any(plat.startswith(prefixes) for _py, plat in wheel_slots(filename))


def _run(cmd: list[str], verbose: bool, what: str) -> None:
    if verbose:
        print("+ " + " ".join(redact_url(c) for c in cmd), flush=True)
    done = subprocess.run(cmd, stdin=subprocess.DEVNULL, check=False)
    if done.returncode != 0:
        raise MultibuildError(f"{what} failed with exit status {done.returncode}")


def sign(paths: Sequence[Path], identity: str | None, verbose: bool) -> list[Path]:
    """Detached ASCII-armoured gpg signatures (``FILE.asc``) of ``paths``."""
    signatures = []
    for path in paths:
        asc = path.with_name(path.name + ".asc")
        asc.unlink(missing_ok=True)
        cmd = ["gpg", "--batch", "--yes", "--detach-sign", "--armor"]
        if identity:
            cmd += ["--local-user", identity]
        try:
            _run([*cmd, "--output", str(asc), str(path)], verbose, f"gpg signing {path.name}")
        except FileNotFoundError:
            raise MultibuildError("gpg is not installed; cannot sign (-s)") from None
        signatures.append(asc)
    return signatures


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="wheel-uploader",
        description="Download the staged wheels of PKG VERSION, check the set is complete, "
        "check and optionally sign them, and upload them with twine.",
    )
    parser.add_argument("package", metavar="PKG")
    parser.add_argument("version", metavar="VERSION")
    parser.add_argument("-u", "--url", default=os.environ.get("MB_STAGING_URL",
                                                              DEFAULT_STAGING_URL),
                        help="channel holding the wheels: anaconda.org/ORG or a simple index")
    parser.add_argument("-w", "--wheel-dir", type=Path, default=Path("."),
                        help="directory to download into (default: .)")
    parser.add_argument("-t", "--type", dest="kind", choices=sorted(TYPES), default="all",
                        help="platform type of wheels to upload (default: all)")
    parser.add_argument("-c", "--clobber", action="store_true",
                        help="download again even when a valid copy is present")
    parser.add_argument("-n", "--no-upload", action="store_true",
                        help="download, check and sign, but do not upload")
    parser.add_argument("-s", "--sign", action="store_true", help="sign wheels with gpg")
    parser.add_argument("-i", "--identity", help="gpg key to sign with")
    parser.add_argument("-r", "--repository", default="pypi",
                        help="twine repository name from .pypirc (default: pypi)")
    parser.add_argument("--repository-url", help="upload URL (overrides -r)")
    parser.add_argument("-v", "--verbose", action="store_true", help="say more")
    parser.add_argument("--source", choices=("auto", "anaconda", "simple"), default="auto")
    parser.add_argument("--expect", action="append", default=[], metavar="PYTHON:PLATFORM",
                        help="an expected wheel slot (repeat); default: the CI matrix")
    parser.add_argument("--allow-incomplete", action="store_true",
                        help="upload even when the completeness gate fails")
    parser.add_argument("--timeout", type=float, default=60.0)
    parser.add_argument("--attempts", type=int, default=4)
    parser.add_argument("--no-progress", action="store_true")
    return parser


def main(argv: Sequence[str] | None = None, root: Path | None = None) -> int:
    root = root or Path(__file__).resolve().parent.parent
    args = build_parser().parse_args(argv)
    try:
        http = Http(timeout=args.timeout, attempts=max(1, args.attempts))
        listed = list_files(http, args.url, args.package, args.version, args.source)
        wheels: list[RemoteFile] = [
            f for f in listed if f.filename.endswith(".whl") and of_type(f.filename, args.kind)
        ]
        if not wheels:
            raise MultibuildError(f"no {args.kind} wheels of {args.package} {args.version} "
                                  f"at {redact_url(args.url)}")
        outcomes = download_all(http, wheels, args.wheel_dir.resolve(), jobs=4,
                                clobber=args.clobber, progress=not args.no_progress)
        paths = [o.path for o in outcomes]
        if args.verbose:
            for outcome in outcomes:
                print(f"{outcome.sha256}  {outcome.path.name}")
        pairs = parse_expect(args.expect) if args.expect else matrix_pairs(root)
        expected = {s for s in expected_slots(pairs) if s[1].startswith(TYPES[args.kind])}
        gate = check_complete([p.name for p in paths], expected)
        if not gate.ok:
            print(gate.report(), file=sys.stderr)
            if not args.allow_incomplete:
                raise MultibuildError(
                    f"incomplete set ({len(gate.missing)} missing, {len(gate.unexpected)} "
                    "unexpected); not uploading (--allow-incomplete to override)"
                )
            print("warning: uploading an incomplete set (--allow-incomplete)", file=sys.stderr)
        _run([sys.executable, "-m", "twine", "check", "--strict", *map(str, paths)],
             args.verbose, "twine check --strict")
        signatures = sign(paths, args.identity, args.verbose) if args.sign else []
        if args.no_upload:
            print(f"wheel-uploader: {len(paths)} wheels checked; not uploading (-n)")
            return 0
        target = (["--repository-url", args.repository_url] if args.repository_url
                  else ["-r", args.repository])
        verbose = ["--verbose"] if args.verbose else []
        _run([sys.executable, "-m", "twine", "upload", "--non-interactive",
              "--disable-progress-bar", *verbose, *target,
              *map(str, paths), *map(str, signatures)], args.verbose, "twine upload")
        print(f"wheel-uploader: uploaded {len(paths)} wheels")
        return 0
    except MultibuildError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
