"""Platform policy as data: which targets exist and how each is built, repaired and tested."""

from __future__ import annotations

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
