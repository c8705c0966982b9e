"""System packages a run or the tests need, installed where this library may install them.

One policy for every caller (``./wheels test``'s LLVM, ``./wheels build``'s ccache, the shell's
``install_gfortran``): a package whose probe is missing is installed with ``apt-get`` on
Debian/Ubuntu when running as root or with passwordless ``sudo`` (the package lists are
updated once if the first attempt fails), with ``brew`` on macOS; anywhere else, or when that
fails, the caller gets the packages still missing and says so in one line. Installs are
bounded by a timeout.

  python -m multibuild.core.provision install PROBE [--apt PKG] [--brew PKG] [--who NAME]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

_INSTALL_TIMEOUT = 900
_UPDATE_TIMEOUT = 300


@dataclass(frozen=True)
class SystemPackage:
    """A package and what proves it is installed: a command on PATH or an absolute path."""

    probe: str
    apt: str | None = None
    brew: str | None = None

    def present(self, environ: Mapping[str, str]) -> bool:
        if os.path.isabs(self.probe):
            return Path(self.probe).exists()
        return shutil.which(self.probe, path=environ.get("PATH")) is not None


def is_root(environ: Mapping[str, str]) -> bool:
    """Whether this process runs as root (MB_EUID overrides the check, for tests)."""
    if environ.get("MB_EUID"):
        return environ["MB_EUID"] == "0"
    return hasattr(os, "geteuid") and os.geteuid() == 0


def _sudo_prefix(environ: Mapping[str, str]) -> list[str] | None:
    """[] as root, ["sudo", "-n"] with passwordless sudo, else None."""
    if is_root(environ):
        return []
    sudo = shutil.which("sudo", path=environ.get("PATH"))
    if sudo is None:
        return None
    done = subprocess.run([sudo, "-n", "true"], capture_output=True, check=False,
                          env=dict(environ))
    return [sudo, "-n"] if done.returncode == 0 else None


def installer(environ: Mapping[str, str]) -> tuple[str, list[str]] | None:
    """(tool name, command prefix) of the package manager this process may use, or None."""
    path = environ.get("PATH")
    if sys.platform == "darwin":
        brew = shutil.which("brew", path=path)
        return ("brew", [brew, "install"]) if brew else None
    apt = shutil.which("apt-get", path=path)
    if apt is None:
        return None
    prefix = _sudo_prefix(environ)
    if prefix is None:
        return None
    return ("apt-get", [*prefix, "env", "DEBIAN_FRONTEND=noninteractive", apt, "-y", "-q"])


def _run(cmd: list[str], environ: Mapping[str, str], timeout: float
         ) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, env=dict(environ), capture_output=True, text=True,
                          timeout=timeout, check=False)


def ensure(packages: Sequence[SystemPackage], environ: Mapping[str, str] | None = None, *,
           who: str = "wheels", stream: TextIO | None = None) -> list[SystemPackage]:
    """Install the missing ``packages`` where allowed; return those still missing.

    Says what it installs (``who: PROBE not on PATH; installing it with apt-get``) on
    ``stream`` (default stdout) and, on failure, the tool's last line on stderr."""
    env = dict(os.environ if environ is None else environ)
    out = stream if stream is not None else sys.stdout
    missing = [p for p in packages if not p.present(env)]
    tool = installer(env) if missing else None
    if tool is None:
        return missing
    name, prefix = tool
    wanted = [p for p in missing if (p.brew if name == "brew" else p.apt)]
    if not wanted:
        return missing
    names = [str(p.brew if name == "brew" else p.apt) for p in wanted]
    for package, pkg in zip(wanted, names):
        what = "it" if pkg == package.probe else pkg
        print(f"{who}: {package.probe} not on PATH; installing {what} with {name}", file=out,
              flush=True)
    try:
        if name == "brew":
            done = _run([*prefix, *names], env, _INSTALL_TIMEOUT)
        else:
            install = [*prefix, "install", "--no-install-recommends", *names]
            done = _run(install, env, _INSTALL_TIMEOUT)
            if done.returncode != 0:  # stale or missing package lists: update once
                _run([*prefix, "update"], env, _UPDATE_TIMEOUT)
                done = _run(install, env, _INSTALL_TIMEOUT)
    except subprocess.TimeoutExpired:
        print(f"{who}: {name} timed out installing {', '.join(names)}", file=sys.stderr)
        return [p for p in packages if not p.present(env)]
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or done.stdout.strip().splitlines()
                or ["no output"])[-1]
        print(f"{who}: {name} could not install {', '.join(names)} ({last})", file=sys.stderr)
    return [p for p in packages if not p.present(env)]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m multibuild.core.provision",
                                     description="Install a missing system package with the "
                                     "OS package manager where allowed.")
    sub = parser.add_subparsers(dest="command", required=True)
    install = sub.add_parser("install", help="install PROBE's package when PROBE is missing; "
                             "exit 1 if it is still missing")
    install.add_argument("probe", help="command on PATH (or absolute path) that proves it")
    install.add_argument("--apt", help="Debian/Ubuntu package name")
    install.add_argument("--brew", help="Homebrew formula")
    install.add_argument("--who", default="wheels", help="name to prefix messages with")
    args = parser.parse_args(argv)
    package = SystemPackage(args.probe, args.apt, args.brew)
    return 1 if ensure([package], who=args.who) else 0


if __name__ == "__main__":
    sys.exit(main())
