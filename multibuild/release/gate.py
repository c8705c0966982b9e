"""``./wheels gate DIR``: the release's completeness gate on wheels already on disk.

The release workflow (``.github/workflows/release.yml``) downloads every build job's artifact
into DIR and runs this before anything is published: every (Python, platform) slot of the CI
matrix (``--ci github``: that workflow's own jobs) must have its wheel, verified as a wheel
(``multibuild.net.wheelcheck``), and no wheel may be outside the matrix. A missing wheel stops the
release with the list of what is missing (exit 1). ``--collect OUT`` then gathers the checked
wheels, one directory, for the publish job (a fresh directory, renamed into place).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

from multibuild import UsageError, run_cli
from multibuild.ci.cifiles import CI_FILES
from multibuild.net.wheelcheck import BadDistribution, verify_wheel
from multibuild.release.download import check_complete, expected_slots, matrix_pairs, parse_expect


def find_wheels(directory: Path) -> dict[str, Path]:
    """The wheels under ``directory`` (artifact folders included) by file name; the same name
    twice with different bytes is an error naming both."""
    found: dict[str, Path] = {}
    for path in sorted(directory.rglob("*.whl")):
        if not path.is_file():
            continue
        other = found.setdefault(path.name, path)
        if other is not path and other.read_bytes() != path.read_bytes():
            raise UsageError(f"{path.name}: two different files of that name: {other} and {path}")
    return found


def collect(wheels: dict[str, Path], out: Path) -> None:
    """Copy ``wheels`` into the new directory ``out`` (built under a temporary name)."""
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise UsageError(f"--collect {out}: exists and is not an empty directory; refused")
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.", suffix=".part"))
    try:
        for name, path in sorted(wheels.items()):
            shutil.copy2(path, partial / name)
        if out.exists():
            out.rmdir()
        partial.rename(out)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise


def _here(path: str) -> Path:
    """``path`` relative to where ``./wheels`` was run (it changes into the repository)."""
    return Path(os.environ.get("MB_INVOKED_FROM") or Path.cwd()) / path


def cmd_gate(args: argparse.Namespace) -> int:
    directory = _here(args.directory)
    if not directory.is_dir():
        raise UsageError(f"{args.directory}: no such directory")
    root = Path(args.root).resolve()
    pairs = parse_expect(args.expect) if args.expect else matrix_pairs(root, args.ci)
    wheels = find_wheels(directory)
    for name, path in sorted(wheels.items()):
        try:
            verify_wheel(path, name)
        except BadDistribution as exc:
            print(f"error: {path}: not a valid wheel: {exc}", file=sys.stderr)
            return 1
    gate = check_complete(wheels, expected_slots(pairs))
    if not gate.ok:
        print(gate.report(), file=sys.stderr)
        print(f"error: incomplete set in {directory}: {len(gate.missing)} missing, "
              f"{len(gate.unexpected)} unexpected; nothing is released", file=sys.stderr)
        return 1
    print(f"gate: complete: {len(pairs)} expected wheels present in {directory} "
          f"({len(wheels)} files)")
    if args.collect:
        collect(wheels, _here(args.collect))
        print(f"gate: {len(wheels)} wheels in {args.collect}")
    return 0


def add_subcommand(sub: argparse._SubParsersAction[argparse.ArgumentParser],
                   root: Path) -> None:
    gate = sub.add_parser(
        "gate", help="completeness gate: every wheel of the CI matrix is in a directory",
        description="Check the wheels under DIRECTORY (artifact folders included) against the "
        "expected (Python x platform) set of the CI matrix; list what is missing and exit 1 "
        "when the set is incomplete. The release workflow runs it before publishing.",
    )
    gate.add_argument("directory", help="where the wheels are (searched recursively)")
    gate.add_argument("--ci", choices=sorted(CI_FILES),
                      help="expect only the jobs of this service's CI file (default: all)")
    gate.add_argument("--expect", action="append", metavar="PYTHON:PLATFORM",
                      help="an expected slot instead of the matrix (repeat), e.g. "
                      "3.12:linux-x86_64")
    gate.add_argument("--collect", metavar="OUT",
                      help="copy the checked wheels into this new directory")
    gate.add_argument("--root", default=str(root), help=argparse.SUPPRESS)
    gate.set_defaults(func=cmd_gate)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m multibuild.release.gate")
    sub = parser.add_subparsers(dest="command", required=True)
    add_subcommand(sub, Path.cwd())
    args = parser.parse_args(["gate", *(argv if argv is not None else sys.argv[1:])])
    return run_cli(lambda: int(args.func(args)), 2)


if __name__ == "__main__":
    sys.exit(main())
