"""Find CPython interpreters on this machine by ``X.Y`` version.

Looks where multibuild users keep them: pyenv versions, ``pythonX.Y`` on PATH, and the
``/opt/python/cpXY-cpXY`` layout of manylinux images. Never hard-codes a machine's paths.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from multibuild import MultibuildError, run_cli

_VERSION_RE = re.compile(r"^([23])\.(\d+)(t?)$")
_PROBE = (
    "import sys, sysconfig; ft = 't' if sysconfig.get_config_var('Py_GIL_DISABLED') else '';"
    " print('%d.%d%s' % (*sys.version_info[:2], ft), sys.implementation.name)"
)


# The oldest Python a target may have: uv makes its environments and seeds pip, pypa/build's
# hooks run in it, and wheelfit reads its tags (multibuild.build.wheelfit). The tool environment
# itself runs on Python >= 3.9.
OLDEST_PYTHON = (3, 6)


def unsupported_python(version: str) -> str | None:
    """Why this library does not build for Python ``version`` (as a CI job or --python names
    it: ``2.7``, ``3.5``, ``pypy3.8-7.3.8``); ``None`` for a CPython it builds for."""
    if version.lower().startswith("pypy"):
        return f"PyPy {version}: this library builds CPython wheels only"
    match = _VERSION_RE.match(version.strip())
    if match and (int(match.group(1)), int(match.group(2))) < OLDEST_PYTHON:
        oldest = ".".join(map(str, OLDEST_PYTHON))
        return f"Python {version} is older than {oldest}, the oldest this library builds for"
    return None


@dataclass(frozen=True)
class Interpreter:
    version: str  # "3.12"
    path: Path


def parse_version(spec: str) -> str:
    """Validate a ``MB_PYTHON_VERSION`` value such as ``3.12``."""
    if not _VERSION_RE.match(spec.strip()):
        raise MultibuildError(f"bad Python version {spec!r}: expected X.Y, e.g. 3.12")
    return spec.strip()


def _pyenv_root() -> Path | None:
    root = os.environ.get("PYENV_ROOT")
    if root:
        return Path(root)
    if shutil.which("pyenv"):
        out = subprocess.run(["pyenv", "root"], capture_output=True, text=True, check=False)
        if out.returncode == 0 and out.stdout.strip():
            return Path(out.stdout.strip())
    default = Path.home() / ".pyenv"
    return default if default.is_dir() else None


def _candidates() -> list[Path]:
    found: list[Path] = []
    root = _pyenv_root()
    if root and (root / "versions").is_dir():
        found += sorted((root / "versions").glob("*/bin/python3.*[0-9t]"))
    for entry in os.environ.get("PATH", "").split(os.pathsep):
        if entry:
            found += sorted(Path(entry).glob("python3.*[0-9t]"))
    found += sorted(Path("/opt/python").glob("cp3*/bin/python"))
    return found


def _probe(path: Path) -> str | None:
    try:
        out = subprocess.run(
            [str(path), "-c", _PROBE], capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    parts = out.stdout.split()
    if out.returncode != 0 or len(parts) != 2 or parts[1] != "cpython":
        return None
    return parts[0]


def discover() -> dict[str, Interpreter]:
    """Every CPython found, one per ``X.Y`` (the first place searched wins)."""
    result: dict[str, Interpreter] = {}
    seen: set[Path] = set()
    for path in _candidates():
        if not os.access(path, os.X_OK) or path.name.endswith("-config"):
            continue
        real = path.resolve()
        if real in seen:
            continue
        seen.add(real)
        version = _probe(path)
        if version and version not in result:
            result[version] = Interpreter(version, path)
    return dict(sorted(result.items(), key=lambda kv: tuple(map(int, kv[0].split(".")))))


def _named_for(path: Path, version: str) -> bool:
    """Whether ``path``'s name says it is CPython ``version``: ``python3.12`` (pyenv, PATH) or
    ``/opt/python/cp312-cp312/bin/python``."""
    tag = "cp" + version.rstrip("t").replace(".", "")
    return path.name == f"python{version}" or (
        path.name == "python" and path.parent.parent.name.startswith(f"{tag}-")
        and path.parent.parent.name.endswith("t") == version.endswith("t"))


@functools.cache
def locate(version: str) -> Interpreter | None:
    """The interpreter for ``version`` (X.Y) found quickly, or None: the places ``discover``
    searches, in its order, but only candidates named for ``version`` are probed (each probe
    starts an interpreter, and every run looks up its Pythons)."""
    for path in _candidates():
        if (_named_for(path, version) and os.access(path, os.X_OK)
                and _probe(path) == version):
            return Interpreter(version, path)
    return None


def find(version: str) -> Interpreter:
    """The interpreter for ``version``, or an error that lists the ones found (or says why
    this library does not build for that version: the line a CI job's listing gives)."""
    why = unsupported_python(version)
    if why:
        raise MultibuildError(why)
    version = parse_version(version)
    quick = locate(version)
    if quick is not None:
        return quick
    found = discover()
    if version in found:
        return found[version]
    listing = ", ".join(f"{v} ({i.path})" for v, i in found.items()) or "none"
    raise MultibuildError(f"no Python {version} found on this machine; found: {listing}")


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m multibuild.core.interpreters",
        description="Find CPython interpreters on this machine.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    find_cmd = sub.add_parser("find", help="print the path of Python X.Y")
    find_cmd.add_argument("version")
    sub.add_parser("list", help="print every interpreter found")
    args = parser.parse_args(argv)

    def body() -> int:
        if args.command == "find":
            print(find(args.version).path)
        else:
            for version, interp in discover().items():
                print(f"{version}\t{interp.path}")
        return 0

    return run_cli(body, 1)


if __name__ == "__main__":
    raise SystemExit(main())
