"""Wheels the host prepares for a container that has no network (docker mode's ``--network
none``): a find-links directory holding every wheel a step will ask pip or uv for.

The requirements are resolved for the container's interpreter, not the host's (``uv pip
compile --python-version --python-platform``: environment markers such as
``python_version < "3.11"`` are evaluated for the target), then each pinned wheel is
downloaded for the container's tags (``pip download --no-deps --platform --abi``) with the
host's own package-index settings. Every file lands under a temporary name first; a stamp per
(requirements, target) makes a warm call a no-op, and a lock lets parallel targets share one
directory.

  python -m multibuild.build.findlinks DEST --python 3.9 --glibc 2.31 [--arch x86_64] REQ...
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform as _platform
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from multibuild import MultibuildError, run_cli
from multibuild.core.files import atomic_write, file_lock

_FORMAT = 1
# glibc minors of the legacy manylinux names (PEP 599, 571, 513), where the arch has them.
_LEGACY = {17: ("manylinux2014", ("x86_64", "i686", "aarch64", "ppc64le", "s390x", "armv7l")),
           12: ("manylinux2010", ("x86_64", "i686")),
           5: ("manylinux1", ("x86_64", "i686"))}
# The manylinux targets uv's --python-platform knows, per architecture.
_UV_GLIBC_MINORS = (17, 28, *range(31, 41))


@dataclass(frozen=True)
class WheelTarget:
    """The interpreter and platform a container installs wheels for."""

    python: str  # X.Y
    glibc: tuple[int, int]
    arch: str = "x86_64"

    @property
    def abi(self) -> str:
        return "cp" + self.python.replace(".", "")

    def platforms(self) -> list[str]:
        """Every platform tag pip accepts there, newest first (manylinux_2_5 and up)."""
        major, newest = self.glibc
        tags: list[str] = []
        for minor in range(newest, 4, -1):
            tags.append(f"manylinux_{major}_{minor}_{self.arch}")
            legacy, arches = _LEGACY.get(minor, ("", ()))
            if major == 2 and self.arch in arches:
                tags.append(f"{legacy}_{self.arch}")
        return [*tags, f"linux_{self.arch}"]

    def uv_platform(self) -> str:
        """uv's ``--python-platform`` for this target: the newest manylinux it knows that the
        container's glibc satisfies."""
        if self.arch in ("x86_64", "aarch64") and self.glibc[0] == 2:
            fitting = [m for m in _UV_GLIBC_MINORS if m <= self.glibc[1]]
            if fitting:
                minor = fitting[-1]
                return f"{self.arch}-manylinux_2_{minor}" if minor != 17 \
                    else f"{self.arch}-manylinux2014"
        return f"{self.arch}-unknown-linux-gnu"

    def describe(self) -> str:
        return f"CPython {self.python}, glibc {self.glibc[0]}.{self.glibc[1]}, {self.arch}"


def parse_glibc(text: str) -> tuple[int, int]:
    major, _, minor = text.strip().partition(".")
    if not (major.isdigit() and minor.isdigit()):
        raise MultibuildError(f"glibc version {text!r} is not MAJOR.MINOR")
    return int(major), int(minor)


def normalized(requirements: Sequence[str]) -> list[str]:
    """One requirement a line, each once, sorted: the stamp must not depend on the order."""
    return sorted({r.strip() for r in requirements if r.strip()})


def stamp_key(requirements: Sequence[str], target: WheelTarget) -> str:
    record = {"format": _FORMAT, "requirements": normalized(requirements),
              "python": target.python, "glibc": list(target.glibc), "arch": target.arch}
    return hashlib.sha256(json.dumps(record, sort_keys=True).encode()).hexdigest()[:32]


def _last_line(done: subprocess.CompletedProcess[str]) -> str:
    lines = [ln.strip() for ln in (done.stderr + done.stdout).splitlines()
             if ln.strip() and not ln.startswith("WARNING: Location")]
    return lines[-1] if lines else f"exit status {done.returncode}"


def _uv(environ: Mapping[str, str]) -> str:
    from multibuild.build.incremental import uv_binary

    found = uv_binary({**environ, "MB_USE_UV": "1"})
    if not found:
        raise MultibuildError("preparing wheels for a container needs uv (the tool "
                              "environment's): reinstall it with ./wheels")
    return found


def uv_index_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """``environ`` with pip's index settings given to uv too (where uv has none of its own),
    so both resolve against the same indexes."""
    env = {**environ, "UV_PYTHON_DOWNLOADS": "never"}
    for pip_name, uv_name in (("PIP_INDEX_URL", "UV_INDEX_URL"),
                              ("PIP_EXTRA_INDEX_URL", "UV_EXTRA_INDEX_URL"),
                              ("PIP_FIND_LINKS", "UV_FIND_LINKS")):
        if environ.get(pip_name) and not environ.get(uv_name):
            env[uv_name] = environ[pip_name]
    return env


def resolve(requirements: Sequence[str], target: WheelTarget, scratch: Path,
            environ: Mapping[str, str]) -> list[str]:
    """``requirements`` and everything they need, pinned, for ``target``."""
    wanted = scratch / "requirements.in"
    pinned = scratch / "requirements.txt"
    wanted.write_text("\n".join(normalized(requirements)) + "\n")
    cmd = [_uv(environ), "pip", "compile", "--quiet", "--no-header", "--no-annotate",
           "--python-version", target.python, "--python-platform", target.uv_platform(),
           "--only-binary", ":all:", str(wanted), "-o", str(pinned)]
    done = subprocess.run(cmd, env=uv_index_environment(environ), capture_output=True,
                          text=True, check=False, timeout=600)
    if done.returncode != 0:
        raise MultibuildError(f"cannot resolve {' '.join(normalized(requirements))} for the "
                              f"container ({target.describe()}): {_last_line(done)}")
    return [ln.strip() for ln in pinned.read_text().splitlines()
            if ln.strip() and not ln.startswith("#")]


def download(pins: Sequence[str], target: WheelTarget, dest: Path,
             environ: Mapping[str, str]) -> list[str]:
    """Download the wheel of each pin for ``target`` into ``dest``; the file names."""
    if not pins:
        return []
    with tempfile.TemporaryDirectory(dir=dest, prefix=".download-") as scratch:
        cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
               "--disable-pip-version-check", "--no-input", "--only-binary=:all:",
               "--dest", scratch, "--python-version", target.python,
               "--implementation", "cp", "--abi", target.abi, "--abi", "abi3", "--abi", "none"]
        for tag in target.platforms():
            cmd += ["--platform", tag]
        done = subprocess.run([*cmd, *pins], env=dict(environ), capture_output=True,
                              text=True, check=False, timeout=1800)
        if done.returncode != 0:
            raise MultibuildError(f"cannot download wheels for the container "
                                  f"({target.describe()}): {_last_line(done)}")
        names = sorted(p.name for p in Path(scratch).glob("*.whl"))
        for name in names:
            os.replace(Path(scratch) / name, dest / name)  # whole files only
    return names


def prepare(requirements: Sequence[str], target: WheelTarget, dest: Path,
            environ: Mapping[str, str] | None = None, *, say: bool = True) -> bool:
    """Make ``dest`` a find-links directory holding ``requirements`` (and what they need) for
    ``target``. False when an earlier call had done it already."""
    env = dict(os.environ if environ is None else environ)
    if not normalized(requirements):
        return False
    dest.mkdir(parents=True, exist_ok=True)
    stamp = dest / ".prepared" / stamp_key(requirements, target)
    if stamp.is_file():
        return False
    with file_lock(dest / ".lock"):
        if stamp.is_file():  # prepared by a parallel target meanwhile
            return False
        with tempfile.TemporaryDirectory(dir=dest, prefix=".resolve-") as scratch:
            pins = resolve(requirements, target, Path(scratch), env)
        names = download(pins, target, dest, env)
        atomic_write(stamp, "\n".join(pins) + "\n")
    if say:
        print(f"docker: prepared {len(names)} wheels for the container ({target.describe()}) "
              f"in {dest}", flush=True)
    return True


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m multibuild.build.findlinks",
                                     description="Download wheels for a container without "
                                     "network into a find-links directory.")
    parser.add_argument("dest", type=Path)
    parser.add_argument("requirements", nargs="+")
    parser.add_argument("--python", required=True, help="the container's Python, X.Y")
    parser.add_argument("--glibc", required=True, help="the container's glibc, e.g. 2.31")
    parser.add_argument("--arch", default=_platform.machine())
    args = parser.parse_args(argv)

    def body() -> int:
        target = WheelTarget(args.python, parse_glibc(args.glibc), args.arch)
        prepare(args.requirements, target, args.dest)
        return 0

    return run_cli(body, 1)


if __name__ == "__main__":
    sys.exit(main())
