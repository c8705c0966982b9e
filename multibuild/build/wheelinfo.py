"""What a built wheel is: name, tags, size, hash and the libraries bundled into it."""

from __future__ import annotations

import hashlib
import zipfile
from dataclasses import dataclass
from pathlib import Path

from packaging.utils import parse_wheel_filename

# Where auditwheel, delvewheel and delocate put the libraries they copy in.
_LIB_DIR_SUFFIXES = (".libs", ".dylibs")


@dataclass(frozen=True)
class WheelInfo:
    path: Path
    tags: tuple[str, ...]
    size: int
    sha256: str
    bundled: tuple[str, ...]

    @property
    def platform_tags(self) -> tuple[str, ...]:
        return tuple(sorted({t.split("-")[-1] for t in self.tags}))


def bundled_libraries(path: Path) -> tuple[str, ...]:
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
    except zipfile.BadZipFile:  # a wheel a failed or interrupted build left half-written
        return ()
    libs = []
    for name in names:
        parts = name.split("/")
        if len(parts) >= 2 and parts[-2].endswith(_LIB_DIR_SUFFIXES) and parts[-1]:
            libs.append(parts[-1])
    return tuple(sorted(libs))


def inspect(path: Path) -> WheelInfo:
    _name, _version, _build, tags = parse_wheel_filename(path.name)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    return WheelInfo(
        path=path,
        tags=tuple(sorted(str(t) for t in tags)),
        size=path.stat().st_size,
        sha256=digest,
        bundled=bundled_libraries(path),
    )
