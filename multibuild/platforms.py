"""Platform policy as data: which targets exist and how each is built, repaired and tested."""

from __future__ import annotations

import platform as _platform
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
