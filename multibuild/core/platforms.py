"""Platform policy as data: which targets exist and how each is built, repaired and tested."""

from __future__ import annotations

import argparse
import os
import platform as _platform
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from packaging.tags import Tag

from multibuild import MultibuildError

OsName = Literal["linux", "macos", "windows"]


@dataclass(frozen=True)
class Platform:
    """One build platform; ``plat`` is multibuild's ``PLAT`` value."""

    os: OsName
    plat: str
    bits: int
    # Ubuntu's docker name for the architecture, where it differs (used for test images).
    docker_arch: str = ""

    @property
    def key(self) -> str:
        return f"{self.os}-{self.plat}"


PLATFORMS: tuple[Platform, ...] = (
    Platform("linux", "x86_64", 64),
    Platform("linux", "i686", 32),
    Platform("linux", "aarch64", 64, docker_arch="arm64v8"),
    Platform("linux", "ppc64le", 64),
    Platform("linux", "s390x", 64),
    Platform("macos", "x86_64", 64),
    Platform("macos", "arm64", 64),
    Platform("macos", "universal2", 64),
    Platform("windows", "win32", 32),
    Platform("windows", "win_amd64", 64),
)

DEFAULT_MB_ML_VER = "_2_28"
# MB_ML_VER's legacy names (PEP 513, 571, 599) and the glibc each stands for; any other policy is
# ``_2_NN`` (PEP 600: manylinux_2_NN).
LEGACY_MANYLINUX: dict[str, tuple[int, int]] = {"1": (2, 5), "2010": (2, 12), "2014": (2, 17)}


@dataclass(frozen=True)
class ManylinuxPolicy:
    """The manylinux policy of ``MB_ML_VER``: ``2014`` is glibc 2.17, ``_2_28`` glibc 2.28."""

    ml_ver: str
    glibc: tuple[int, int]

    @property
    def glibc_text(self) -> str:
        return f"{self.glibc[0]}.{self.glibc[1]}"

    def tag(self, plat: str) -> str:
        """The PEP 600 platform tag for ``plat``: ``manylinux_2_17_x86_64``."""
        return f"manylinux_{self.glibc[0]}_{self.glibc[1]}_{plat}"

    @property
    def name(self) -> str:
        """How users name it: ``manylinux2014``, ``manylinux_2_28``."""
        if self.ml_ver in LEGACY_MANYLINUX:
            return f"manylinux{self.ml_ver}"
        return f"manylinux_{self.glibc[0]}_{self.glibc[1]}"


def manylinux_policy(ml_ver: str | None) -> ManylinuxPolicy:
    """``MB_ML_VER`` (empty: the default) as a policy; anything else is a one-line error."""
    value = ml_ver or DEFAULT_MB_ML_VER
    if value in LEGACY_MANYLINUX:
        return ManylinuxPolicy(value, LEGACY_MANYLINUX[value])
    match = re.fullmatch(r"_(\d+)_(\d+)", value)
    if not match or int(match.group(1)) != 2 or int(match.group(2)) < 5:
        raise MultibuildError(f"MB_ML_VER={value!r}: not a manylinux policy (1, 2010, 2014, or "
                              "_2_NN such as _2_28)")
    return ManylinuxPolicy(value, (2, int(match.group(2))))


def find_platform(os_name: str, plat: str) -> Platform:
    """The platform for ``os_name`` and ``plat``, or an error listing the supported ones."""
    for platform in PLATFORMS:
        if platform.os == os_name and platform.plat == plat:
            return platform
    supported = ", ".join(p.plat for p in PLATFORMS if p.os == os_name) or "none"
    raise MultibuildError(
        f"unsupported platform {plat!r} for {os_name}; supported: {supported}"
    )


def manylinux_image(plat: str, ml_ver: str = DEFAULT_MB_ML_VER, libc: str = "manylinux") -> str:
    """The pypa build image for ``plat``: ``MB_ML_VER`` is ``2014`` or ``_2_28`` style."""
    find_platform("linux", plat)
    return f"quay.io/pypa/{libc}{ml_ver}_{plat}"


def wheel_os(tag: Tag) -> OsName | None:
    """Which OS a wheel tag's platform belongs to; ``None`` for pure (``any``) wheels."""
    platform = tag.platform
    if platform == "any":
        return None
    if platform.startswith(("manylinux", "musllinux", "linux")):
        return "linux"
    if platform.startswith("macosx"):
        return "macos"
    if platform.startswith("win"):
        return "windows"
    raise MultibuildError(f"unknown wheel platform tag {platform!r}")


_HOST_OS: dict[str, OsName] = {"Linux": "linux", "Darwin": "macos", "Windows": "windows"}


def host_os(system: str | None = None) -> OsName:
    """This machine's OS (``platform.system()``; Git bash / MSYS / Cygwin count as Windows)."""
    name = system if system is not None else _platform.system()
    if name.upper().startswith(("MINGW", "MSYS", "CYGWIN")):
        return "windows"
    if name not in _HOST_OS:
        raise MultibuildError(f"unsupported host system {name!r}: Linux, macOS or Windows")
    return _HOST_OS[name]


def default_plat(os_name: OsName, machine: str | None = None) -> str:
    """``PLAT`` when none is given: the machine's architecture, in the OS's spelling."""
    arch = (machine if machine is not None else _platform.machine()).lower()
    if os_name == "windows":
        return "win32" if arch in ("x86", "i386", "i686") else "win_amd64"
    if os_name == "macos":
        return "arm64" if arch in ("arm64", "aarch64") else "x86_64"
    return {"amd64": "x86_64", "arm64": "aarch64", "i386": "i686"}.get(arch, arch)


# The GitHub-hosted runner of each platform (what .github/workflows/wheels.yml runs its jobs
# on; i686 builds in the manylinux i686 image on an x86_64 runner). A platform without one
# (ppc64le, s390x) stays on Travis CI: `./wheels check` expects the workflow to carry every
# other platform's jobs of the other CI files.
GITHUB_RUNNERS: dict[str, str] = {
    "linux-x86_64": "ubuntu-24.04", "linux-i686": "ubuntu-24.04",
    "linux-aarch64": "ubuntu-24.04-arm",
    "macos-x86_64": "macos-15-intel", "macos-arm64": "macos-14", "macos-universal2": "macos-14",
    "windows-win32": "windows-2022", "windows-win_amd64": "windows-2022",
}


def github_runner_plats(label: str) -> tuple[str, ...]:
    """The PLAT values a GitHub-hosted runner label can build (``ubuntu-24.04-arm``:
    aarch64; ``macos-15-intel``: x86_64 and universal2; ``windows-2022``: win32, win_amd64)."""
    lowered = label.lower()
    arm = lowered.endswith("-arm") or lowered.endswith("-arm64")
    if lowered.startswith("ubuntu"):
        return ("aarch64",) if arm else ("x86_64", "i686")
    if lowered.startswith("macos"):
        version = lowered.split("-")[1] if "-" in lowered else ""
        intel = lowered.endswith("-intel") or lowered.endswith("-large") or (
            version.isdigit() and int(version) <= 13)
        return ("x86_64", "universal2") if intel else ("arm64", "universal2")
    if lowered.startswith("windows"):
        return () if arm else ("win32", "win_amd64")
    return ()


# What a CI job of each OS runs (the runner's lifecycle steps after `source
# multibuild/travis_steps.sh`): the steps file and the functions behind each step. `./wheels
# jobs` and `./wheels replay` name them for jobs this host cannot run.
CI_ENTRY_POINTS: dict[str, str] = {
    "linux": "travis_linux_steps.sh: before_install, build_wheel (docker mode: "
             "build_multilinux), install_run",
    "macos": "travis_osx_steps.sh: before_install=get_macpython_environment, "
             "build_wheel=wrap_wheel_builder+delocate-wheel (universal2: "
             "fuse_macos_universal2), install_run",
    "windows": "windows_steps.sh: before_install=get_windows_python, "
               "build_wheel=build_pip_wheel+delvewheel repair --add-path, install_run",
}


# PLAT values a library archive may be built for (multibuild's get_distutils_platform PLAT): the
# Linux and macOS platforms, and the old 64/32-bit macOS "intel".
ARCHIVE_PLATS: tuple[str, ...] = (
    *dict.fromkeys(p.plat for p in PLATFORMS if p.os != "windows"), "intel")


def archive_platform_tag(plat: str, system: str, ml_ver: str = "", macos_target: str = "") -> str:
    """The platform tag of a library archive built for ``plat`` (multibuild's
    ``get_distutils_platform PLAT [UNAME]`` and ``get_distutils_platform_ex``):
    ``manylinux{MB_ML_VER}_{plat}``, or on Darwin ``macosx_{target}_{plat}`` (i686 is i386)."""
    if plat not in ARCHIVE_PLATS:
        raise MultibuildError(f"unknown PLAT {plat!r}; expected one of {', '.join(ARCHIVE_PLATS)}")
    if system != "Darwin":
        if plat == "intel":
            raise MultibuildError("PLAT 'intel' is a macOS platform, not a manylinux one")
        return f"manylinux{ml_ver or DEFAULT_MB_ML_VER}_{plat}"
    if not re.match(r"^\d+([.-]\d+)*$", macos_target):
        raise MultibuildError(f"MACOSX_DEPLOYMENT_TARGET={macos_target!r} is not a macOS version")
    arch = "i386" if plat == "i686" else plat
    return f"macosx_{re.sub(r'[.-]', '_', macos_target)}_{arch}"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m multibuild.core.platforms",
                                     description="Platform decisions for the shell library.")
    parser.add_argument("--function", default="",
                        help="shell function to name in error messages")
    sub = parser.add_subparsers(dest="command", required=True)
    tag = sub.add_parser("archive-tag", help="platform tag of a library archive for PLAT")
    tag.add_argument("plat")
    tag.add_argument("--system", default=_platform.system(), help="uname -s (Linux, Darwin)")
    tag.add_argument("--ml-ver", default="", help=f"MB_ML_VER (default {DEFAULT_MB_ML_VER})")
    plat = sub.add_parser("default-plat", help="PLAT when none is given, for OS")
    plat.add_argument("os", choices=sorted(set(_HOST_OS.values())))
    args = parser.parse_args(argv)
    try:
        if args.command == "archive-tag":
            print(archive_platform_tag(args.plat, args.system, args.ml_ver,
                                       os.environ.get("MACOSX_DEPLOYMENT_TARGET", "")))
        else:
            print(default_plat(args.os))
    except MultibuildError as exc:
        where = f"{args.function}: " if args.function else ""
        print(f"error: {where}{exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
