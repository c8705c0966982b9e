"""The target's Python for a zig cross build (``--plat aarch64`` on x86_64), from Debian.

A cross build needs the target interpreter's headers and its sysconfig data (extension suffix,
pyconfig.h), and a test run needs the interpreter itself. Debian ships both for arm64:
``debootstrap --download-only`` fetches (and verifies, with Debian's archive
keyring) the packages of a minimal root plus ``pythonX.Y`` and ``libpythonX.Y-dev``, which are
unpacked with ``dpkg-deb -x`` into ``$MB_CACHE_DIR/cross/<suite>-<arch>-pythonX.Y/root``: no
change to this machine's packages or architectures, nothing run as the target.

- **Build**: the headers are copied with the target's ``pyconfig.h``, and the target's
  ``_sysconfigdata`` module is rewritten to point at them; the build backend runs this
  machine's CPython X.Y with ``_PYTHON_SYSCONFIGDATA_NAME``, ``PYTHONPATH`` and
  ``_PYTHON_HOST_PLATFORM`` set to that (``multibuild.build.incremental``), so setuptools and meson
  see the target's extension suffix, headers and platform, and the wheel is tagged for it.
- **Test**: with Debian's ``qemu-user-static`` (installed as root when missing), a shim runs
  the root's ``pythonX.Y`` under ``qemu-aarch64-static -L ROOT``; the wheel and TEST_DEPENDS
  are installed for the target platform into a directory on its ``PYTHONPATH`` (uv
  ``--python-platform``). Without qemu the test step says "built, not tested" and the report
  marks the target so.

  python -m multibuild.build.crosspython build --plat aarch64 --python 3.11     NAME=VALUE records
  python -m multibuild.build.crosspython test-python --plat aarch64 --python 3.11
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import pprint
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from multibuild import MultibuildError, UsageError, run_cli
from multibuild.core.provision import SystemPackage, ensure
from multibuild.core.shellvars import records

# Debian's name of each PLAT a cross build targets, and its qemu-user binary.
DEBIAN_ARCH: dict[str, str] = {"aarch64": "arm64"}
QEMU: dict[str, str] = {"aarch64": "qemu-aarch64"}
# The Debian release whose pythonX.Y the target interpreter is.
SUITES: dict[str, str] = {"3.9": "bullseye", "3.11": "bookworm", "3.13": "trixie"}
# The glibc of each (what packages installed for its Python may need: uv's platform).
SUITE_GLIBC: dict[str, str] = {"bullseye": "2_31", "bookworm": "2_36", "trixie": "2_40"}
TEST_RECORD = "tested.json"
MIRROR = "http://deb.debian.org/debian"
DEBOOTSTRAP = SystemPackage("debootstrap", apt="debootstrap")
QEMU_STATIC = SystemPackage("qemu-aarch64-static", apt="qemu-user-static")


def check_target(plat: str, python: str) -> None:
    """Refuse, as bad input, a cross target this module cannot provide a Python for."""
    if plat not in DEBIAN_ARCH:
        raise UsageError(f"PLAT={plat}: no cross-build Python for it (cross builds: "
                         f"{', '.join(DEBIAN_ARCH)})")
    if python not in SUITES:
        offered = ", ".join(f"{v} (Debian {s})" for v, s in SUITES.items())
        raise UsageError(f"Python {python} for {plat}: cross builds use Debian's Python for "
                         f"the target, which is {offered}")


@dataclass(frozen=True)
class Root:
    """An unpacked Debian root holding pythonX.Y for ``plat``."""

    path: Path
    plat: str
    python: str

    @property
    def multiarch(self) -> str:
        return f"{self.plat}-linux-gnu"

    @property
    def interpreter(self) -> Path:
        return self.path / "usr" / "bin" / f"python{self.python}"

    @property
    def sysconfig_name(self) -> str:
        return f"_sysconfigdata__linux_{self.multiarch}"


def debian_root(plat: str, python: str, cache: Path, environ: Mapping[str, str]) -> Root:
    """The Debian root for ``plat`` with pythonX.Y, made once in ``cache/cross``."""
    check_target(plat, python)
    suite, arch = SUITES[python], DEBIAN_ARCH[plat]
    home = cache / "cross" / f"{suite}-{arch}-python{python}"
    root = Root(home / "root", plat, python)
    if root.interpreter.is_file():
        return root
    if ensure([DEBOOTSTRAP], environ, who="cross build", stream=sys.stderr):
        raise MultibuildError("cross builds need debootstrap to fetch the target's Python from "
                              "Debian (apt-get install debootstrap)")
    home.mkdir(parents=True, exist_ok=True)
    packages = [f"python{python}-minimal", f"libpython{python}-stdlib", f"libpython{python}",
                f"libpython{python}-dev"]
    print(f"cross: fetching Debian {suite} {arch} with python{python} (once, into {home})",
          file=sys.stderr, flush=True)
    with tempfile.TemporaryDirectory(dir=home, prefix=".fetch-") as scratch:
        fetched = Path(scratch) / "debootstrap"
        cmd = ["debootstrap", "--download-only", "--variant=minbase",
               f"--arch={arch}", f"--include={','.join(packages)}", suite, str(fetched),
               environ.get("MB_DEBIAN_MIRROR") or MIRROR]
        done = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=1800,
                              env=dict(environ))
        debs = sorted((fetched / "var" / "cache" / "apt" / "archives").glob("*.deb"))
        if done.returncode != 0 or not debs:
            last = (done.stderr.strip() or done.stdout.strip()).splitlines()[-1:] or ["?"]
            raise MultibuildError(f"debootstrap of Debian {suite} {arch} failed: {last[0]}")
        unpacked = Path(scratch) / "root"
        for deb in debs:
            subprocess.run(["dpkg-deb", "-x", str(deb), str(unpacked)], check=True,
                           capture_output=True)
        if not (unpacked / "usr" / "bin" / f"python{python}").is_file():
            raise MultibuildError(f"Debian {suite} {arch}: no python{python} in the packages")
        shutil.rmtree(root.path, ignore_errors=True)
        os.replace(unpacked, root.path)
    return root


def _literal_vars(module: Path) -> dict[str, object]:
    """``build_time_vars`` of a _sysconfigdata module, read as data (never executed)."""
    tree = ast.parse(module.read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == "build_time_vars" for t in node.targets):
            value = ast.literal_eval(node.value)
            if isinstance(value, dict):
                return value
    raise MultibuildError(f"{module}: no build_time_vars")


def build_python(root: Root, cache: Path) -> dict[str, str]:
    """The target's headers and sysconfig data, laid out for this machine's interpreter;
    returns the variables the build backend gets (MB_CROSS_*)."""
    home = root.path.parent
    include = home / "include" / f"python{root.python}"
    site = home / "sysconfig"
    module = site / f"{root.sysconfig_name}.py"
    if not module.is_file():
        debian_include = root.path / "usr" / "include" / f"python{root.python}"
        pyconfig = (root.path / "usr" / "include" / root.multiarch / f"python{root.python}"
                    / "pyconfig.h")
        source = root.path / "usr" / "lib" / f"python{root.python}" / f"{root.sysconfig_name}.py"
        if not (debian_include.is_dir() and pyconfig.is_file() and source.is_file()):
            raise MultibuildError(f"{root.path}: python{root.python}'s headers or sysconfig "
                                  "data are missing (libpython-dev)")
        shutil.rmtree(include, ignore_errors=True)
        shutil.copytree(debian_include, include)
        (include / "pyconfig.h").unlink()
        shutil.copyfile(pyconfig, include / "pyconfig.h")
        values = _literal_vars(source)
        for key in ("INCLUDEPY", "CONFINCLUDEPY", "INCLUDEDIR", "CONFINCLUDEDIR"):
            values[key] = str(include) if "PY" in key else str(include.parent)
        for key in ("LIBDIR", "LIBPL", "LIBDEST", "BINLIBDEST"):
            if isinstance(values.get(key), str) and str(values[key]).startswith("/"):
                values[key] = str(root.path) + str(values[key])
        site.mkdir(parents=True, exist_ok=True)
        text = ("# The target's sysconfig data (Debian's), its paths in this cross root.\n"
                f"build_time_vars = {pprint.pformat(values, width=100)}\n")
        tmp = module.with_suffix(".part")
        tmp.write_text(text)
        os.replace(tmp, module)
    # Python.h before 3.11 includes <crypt.h> (HAVE_CRYPT_H), which zig's glibc headers lack:
    # Debian's (libcrypt-dev, in the root) beside the target's headers.
    crypt = root.path / "usr" / "include" / "crypt.h"
    if crypt.is_file() and not (include / "crypt.h").is_file():
        shutil.copyfile(crypt, include / ".crypt.h.part")
        os.replace(include / ".crypt.h.part", include / "crypt.h")
    return {
        "MB_CROSS_SYSCONFIG_NAME": root.sysconfig_name,
        "MB_CROSS_SYSCONFIG_DIR": str(site),
        "MB_CROSS_HOST_PLATFORM": f"linux-{root.plat}",
        "MB_CROSS_INCLUDE": str(include),
    }


def backend_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """What a build backend of a cross build runs with: the target's sysconfig data and
    platform (empty for a native build)."""
    name = environ.get("MB_CROSS_SYSCONFIG_NAME")
    if not name:
        return {}
    path = [environ.get("MB_CROSS_SYSCONFIG_DIR", ""), environ.get("PYTHONPATH", "")]
    return {"_PYTHON_SYSCONFIGDATA_NAME": name,
            "_PYTHON_HOST_PLATFORM": environ.get("MB_CROSS_HOST_PLATFORM", ""),
            "PYTHONPATH": os.pathsep.join(p for p in path if p)}


def qemu_binary(plat: str, environ: Mapping[str, str]) -> str | None:
    """qemu-user for ``plat`` (the static build first: it needs no host libraries), installed
    from Debian's qemu-user-static as root when missing; None when it cannot be had."""
    name = QEMU[plat]
    for candidate in (f"{name}-static", name):
        found = shutil.which(candidate, path=environ.get("PATH"))
        if found:
            return found
    if plat == "aarch64" and not ensure([QEMU_STATIC], environ, who="cross test",
                                        stream=sys.stderr):
        return shutil.which(f"{name}-static", path=environ.get("PATH"))
    return None


def test_python(root: Root, environ: Mapping[str, str]) -> tuple[Path | None, str]:
    """(a ``python`` that runs the target interpreter under qemu-user, how), or (None, why
    not). The shim lives beside the root; it is checked by running it. MB_CROSS_TEST=0 skips
    the emulated tests (numpy's suite would take hours under qemu)."""
    if environ.get("MB_CROSS_TEST", "1") == "0":
        return None, "MB_CROSS_TEST=0"
    qemu = qemu_binary(root.plat, environ)
    if qemu is None:
        return None, (f"no {QEMU[root.plat]} here (Debian: apt-get install qemu-user-static, as "
                      "root)")
    shim_dir = root.path.parent / "bin"
    shim_dir.mkdir(parents=True, exist_ok=True)
    shim = shim_dir / "python"
    text = ("#!/bin/sh\n# The target's Python under qemu-user (multibuild/build/crosspython.py).\n"
            f"exec '{qemu}' -L '{root.path}' '{root.interpreter}' \"$@\"\n")
    if not shim.is_file() or shim.read_text() != text:
        tmp = shim.with_suffix(".part")
        tmp.write_text(text)
        tmp.chmod(0o755)
        os.replace(tmp, shim)
    (shim_dir / f"python{root.python}").unlink(missing_ok=True)
    (shim_dir / f"python{root.python}").symlink_to("python")
    (shim_dir / "python3").unlink(missing_ok=True)
    (shim_dir / "python3").symlink_to("python")
    probe = subprocess.run([str(shim), "-c", "import platform; print(platform.machine())"],
                           capture_output=True, text=True, check=False, timeout=300)
    if probe.returncode != 0 or probe.stdout.strip() != root.plat:
        reason = (probe.stderr.strip().splitlines() or [probe.stdout.strip() or "?"])[-1]
        return None, f"{Path(qemu).name} cannot run the target's python: {reason}"
    return shim, (f"{Path(qemu).name} running Debian {SUITES[root.python]}'s python"
                  f"{root.python} ({DEBIAN_ARCH[root.plat]})")


def write_test_record(work_dir: Path, tested: bool, how: str) -> None:
    """``tested.json`` in a target's work dir: whether its wheel was tested, and how or why
    not (the report marks a cross-built wheel "built, not tested")."""
    from multibuild.core.files import atomic_write

    atomic_write(work_dir / TEST_RECORD, json.dumps({"tested": tested, "how": how}) + "\n")


def read_test_record(work_dir: Path) -> dict[str, object] | None:
    try:
        data = json.loads((work_dir / TEST_RECORD).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m multibuild.build.crosspython",
                                     description="The target's Python of a cross build.")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, text in (("build", "headers and sysconfig data: NAME=VALUE records"),
                       ("test-python", "MB_CROSS_TEST_PYTHON (or MB_CROSS_UNTESTED, why) "
                                       "records")):
        cmd = sub.add_parser(name, help=text)
        cmd.add_argument("--plat", required=True)
        cmd.add_argument("--python", required=True, help="X.Y")
    record = sub.add_parser("record-test", help="write MB_WORK_DIR/tested.json")
    record.add_argument("--tested", choices=("true", "false"), required=True)
    record.add_argument("--how", required=True)
    args = parser.parse_args(argv)
    from multibuild.build.toolchain import default_cache

    if args.command == "record-test":
        if os.environ.get("MB_WORK_DIR"):
            write_test_record(Path(os.environ["MB_WORK_DIR"]), args.tested == "true", args.how)
        return 0

    environ = os.environ

    def body() -> int:
        root = debian_root(args.plat, args.python, default_cache(environ), environ)
        if args.command == "build":
            sys.stdout.write(records(build_python(root, default_cache(environ))))
        else:
            shim, how = test_python(root, environ)
            if shim is None:
                sys.stdout.write(records({"MB_CROSS_UNTESTED": how}))
            else:
                platform = f"{args.plat}-manylinux_{SUITE_GLIBC[SUITES[args.python]]}"
                sys.stdout.write(records({"MB_CROSS_TEST_PYTHON": str(shim),
                                          "MB_CROSS_TESTED_WITH": how,
                                          "MB_CROSS_UV_PLATFORM": platform}))
        return 0

    return run_cli(body)


if __name__ == "__main__":
    sys.exit(main())
