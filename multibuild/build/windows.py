"""Windows builds: the CI's interpreter for a Python version and PLAT, and delvewheel.

Called by ``multibuild/windows_steps.sh`` (``mb_python build.windows ...``):

* ``find VERSION --plat PLAT`` - the interpreter of the CI machine: ``MB_PYTHON_EXE`` when set,
  else AppVeyor's ``C:\\PythonXY[-x64]``, else the tool cache of Azure/GitHub
  (``%AGENT_TOOLSDIRECTORY%\\Python\\X.Y.Z\\x64|x86\\python.exe``), else the ``py`` launcher
  (``py -X.Y-64``/``-32``);
* ``candidates VERSION --plat PLAT`` - the places looked at, in order (for the record);
* ``delvewheel WHEEL DEST`` - the ``delvewheel repair`` command line for a wheel, with
  ``--add-path`` from ``MB_DLL_PATH`` (the OpenBLAS DLL directory that ``build_openblas``
  exports).
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path, PurePath, PurePosixPath, PureWindowsPath

from packaging.utils import parse_wheel_filename

from multibuild import MultibuildError, run_cli
from multibuild.core.interpreters import parse_version

WINDOWS_PLATS: dict[str, int] = {"win32": 32, "win_amd64": 64}
# Tool cache architecture directory names (Azure Pipelines, GitHub Actions).
_CACHE_ARCH = {"win32": "x86", "win_amd64": "x64"}
TOOL_CACHE_VARIABLES: tuple[str, ...] = ("AGENT_TOOLSDIRECTORY", "RUNNER_TOOL_CACHE")


def _check_plat(plat: str) -> int:
    if plat not in WINDOWS_PLATS:
        raise MultibuildError(f"unsupported Windows PLAT {plat!r}; supported: "
                              + ", ".join(WINDOWS_PLATS))
    return WINDOWS_PLATS[plat]


def _release_key(name: str) -> tuple[int, ...]:
    return tuple(int(p) for p in re.findall(r"\d+", name)[:3])


def candidates(
    version: str, plat: str, environ: Mapping[str, str],
    listdir: Callable[[str], list[str]] | None = None,
) -> list[str]:
    """Interpreter paths for ``version`` on ``plat``, best first (Windows spelling).

    ``listdir`` lists a directory (default :func:`os.listdir`, empty when missing); tests pass
    their own to decide for a Windows machine from anywhere.
    """
    bits = _check_plat(plat)
    short = parse_version(version)
    nodot = short.replace(".", "")
    ls = listdir or _listdir
    found: list[str] = []
    if environ.get("MB_PYTHON_EXE"):
        found.append(environ["MB_PYTHON_EXE"])
    suffix = "-x64" if bits == 64 else ""
    found.append(str(PureWindowsPath("C:\\", f"Python{nodot}{suffix}", "python.exe")))
    base = short.rstrip("t")
    arch = _CACHE_ARCH[plat] + ("-freethreaded" if short.endswith("t") else "")
    exe = f"python{short}.exe" if short.endswith("t") else "python.exe"
    for name in TOOL_CACHE_VARIABLES:
        root = environ.get(name)
        if not root:
            continue
        cache = _path_type(root)(root, "Python")
        releases = [r for r in ls(str(cache)) if r == base or r.startswith(base + ".")]
        for release in sorted(releases, key=_release_key, reverse=True):
            found.append(str(cache / release / arch / exe))
    return list(dict.fromkeys(found))


def _path_type(root: str) -> type[PurePath]:
    """Windows spelling for Windows paths (C:\\..., \\\\server\\...), else POSIX."""
    return PureWindowsPath if re.match(r"^([A-Za-z]:|\\\\)", root) else PurePosixPath


def _listdir(path: str) -> list[str]:
    try:
        return os.listdir(path)
    except OSError:
        return []


def py_launcher_args(version: str, plat: str) -> list[str]:
    """The ``py`` launcher's selector: ``py -3.12-64`` (``-3.13t-32`` for free-threaded)."""
    bits = _check_plat(plat)
    return ["py", f"-{parse_version(version)}-{bits}"]


def find_interpreter(
    version: str, plat: str, environ: Mapping[str, str],
    exists: Callable[[str], bool] = os.path.isfile,
    listdir: Callable[[str], list[str]] | None = None,
) -> str:
    """The first existing candidate, else what the ``py`` launcher names, else an error."""
    looked = candidates(version, plat, environ, listdir)
    for path in looked:
        if exists(path):
            return path
    if shutil.which("py"):
        out = subprocess.run(
            [*py_launcher_args(version, plat), "-c", "import sys; print(sys.executable)"],
            capture_output=True, text=True, check=False,
        )
        if out.returncode == 0 and out.stdout.strip():
            return out.stdout.strip()
    raise MultibuildError(
        f"no Python {version} for {plat} on this machine; looked at {', '.join(looked)} and "
        f"`{' '.join(py_launcher_args(version, plat))}`"
    )


def dll_dirs(environ: Mapping[str, str]) -> list[str]:
    """Directories delvewheel searches besides PATH: ``MB_DLL_PATH`` (os.pathsep list)."""
    return [p for p in environ.get("MB_DLL_PATH", "").split(os.pathsep) if p]


def delvewheel_command(
    wheel: Path, dest: Path, environ: Mapping[str, str], tool: Sequence[str] = ("delvewheel",)
) -> list[str]:
    """``delvewheel repair -w DEST [--add-path DIRS] WHEEL`` for a Windows wheel."""
    tags = parse_wheel_filename(wheel.name)[3]
    if not all(t.platform.startswith("win") for t in tags):
        raise MultibuildError(f"{wheel.name} is not a Windows wheel")
    cmd = [*tool, "repair", "-w", str(dest)]
    dirs = dll_dirs(environ)
    if dirs:
        cmd += ["--add-path", os.pathsep.join(dirs)]
    extra = environ.get("MB_DELVEWHEEL_ARGS", "")
    if extra:
        cmd += shlex.split(extra)
    return [*cmd, str(wheel)]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m multibuild.build.windows",
                                     description="Windows interpreters and delvewheel.")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, text in (("find", "path of the CI's Python VERSION for PLAT"),
                       ("candidates", "the places looked at, best first")):
        cmd = sub.add_parser(name, help=text)
        cmd.add_argument("version")
        cmd.add_argument("--plat", default="win_amd64")
    repair = sub.add_parser("delvewheel", help="print the delvewheel repair command of WHEEL")
    repair.add_argument("wheel", type=Path)
    repair.add_argument("dest", type=Path)
    args = parser.parse_args(argv)

    def body() -> int:
        if args.command == "find":
            print(find_interpreter(args.version, args.plat, os.environ))
        elif args.command == "candidates":
            print("\n".join([*candidates(args.version, args.plat, os.environ),
                             " ".join(py_launcher_args(args.version, args.plat))]))
        else:
            print(shlex.join(delvewheel_command(args.wheel, args.dest, os.environ)))
        return 0

    return run_cli(body, 1)


if __name__ == "__main__":
    sys.exit(main())
