"""Byte-identical wheels from identical builds.

Two builds of the same commit with the same toolchain compile the same files, but the wheel
archive around them still differs: member order, timestamps (the build's wall clock) and
permission bits vary. ``SOURCE_DATE_EPOCH`` (the commit's date, :func:`commit_epoch`) fixes the
timestamps the build backend and auditwheel write; :func:`normalize_wheel` then rewrites the
repaired wheel so its bytes depend only on its contents: members sorted with the
``.dist-info`` directory last and ``RECORD`` at the very end (where the wheel spec asks for it),
every timestamp the commit's, regular-file modes 0644/0755, no directory entries, one
compression level. Contents and RECORD hashes are unchanged.

  python -m multibuild.build.reproducible epoch REPO          # prints the commit's epoch
  python -m multibuild.build.reproducible normalize --epoch N WHEEL...
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import os
import subprocess
import sys
import time
import zipfile
import zlib
from collections.abc import Mapping, Sequence
from pathlib import Path

from multibuild import MultibuildError, run_cli
from multibuild.core.files import atomic_path

# The zip format cannot store dates before 1980.
_ZIP_EPOCH = 315532800  # 1980-01-01T00:00:00Z
_COMPRESS_LEVEL = zlib.Z_DEFAULT_COMPRESSION


def commit_epoch(repo: Path) -> int:
    """The committer date of ``repo``'s HEAD, in seconds since the epoch."""
    done = subprocess.run(["git", "-C", str(repo), "log", "-1", "--format=%ct", "HEAD"],
                          capture_output=True, text=True, check=False)
    stamp = done.stdout.strip()
    if done.returncode != 0 or not stamp.isdigit():
        raise MultibuildError(f"{repo}: cannot read the commit date of HEAD "
                              f"({done.stderr.strip() or 'not a git checkout'})")
    return int(stamp)


def source_date_epoch(environ: Mapping[str, str]) -> int:
    """SOURCE_DATE_EPOCH of ``environ`` (the earliest zip date, 1980, when unset)."""
    value = environ.get("SOURCE_DATE_EPOCH", "").strip()
    if not value:
        return _ZIP_EPOCH
    if not value.isdigit():
        raise MultibuildError(f"SOURCE_DATE_EPOCH={value!r}: expected whole seconds since "
                              "the epoch")
    return int(value)


def _member_order(name: str) -> tuple[int, str]:
    top = name.split("/", 1)[0]
    if top.endswith(".dist-info"):
        return (2 if name == f"{top}/RECORD" else 1, name)
    return (0, name)


def _file_mode(info: zipfile.ZipInfo) -> int:
    executable = (info.external_attr >> 16) & 0o111
    return 0o755 if executable else 0o644


def normalized_bytes_differ(path: Path, epoch: int) -> bool:
    """Whether :func:`normalize_wheel` would change ``path``."""
    stamp = time.gmtime(max(epoch, _ZIP_EPOCH))[:6]
    with zipfile.ZipFile(path) as archive:
        infos = archive.infolist()
    names = [i.filename for i in infos]
    return (names != sorted((n for n in names if not n.endswith("/")), key=_member_order)
            or any(i.date_time != stamp or i.external_attr != (0o100000 | _file_mode(i)) << 16
                   or i.compress_type != zipfile.ZIP_DEFLATED for i in infos))


def record_line(name: str, data: bytes) -> str:
    """The RECORD line of member ``name`` holding ``data`` (the wheel spec's hash form)."""
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(data)}"


def _with_record(record: bytes, added: Mapping[str, bytes]) -> bytes:
    """RECORD with a line for each added member (replacing any it had), before its own."""
    lines = [ln for ln in record.decode().splitlines()
             if ln and ln.split(",", 1)[0] not in added]
    own = [ln for ln in lines if ln.split(",", 1)[0].endswith(".dist-info/RECORD")]
    rest = [ln for ln in lines if ln not in own]
    rest += [record_line(name, data) for name, data in sorted(added.items())]
    return ("\n".join(rest + own) + "\n").encode()


def normalize_wheel(path: Path, epoch: int, add: Mapping[str, bytes] | None = None) -> bool:
    """Rewrite ``path`` in the normal form (see the module docstring), with the members of
    ``add`` (name: bytes) added or replaced and listed in RECORD; True if it changed."""
    if not add and not normalized_bytes_differ(path, epoch):
        return False
    added = dict(add or {})
    stamp = time.gmtime(max(epoch, _ZIP_EPOCH))[:6]
    mode = path.stat().st_mode & 0o777
    with zipfile.ZipFile(path) as source, atomic_path(path, mode=mode) as tmp, \
            zipfile.ZipFile(tmp, "w") as out:
        contents = {i.filename: (i, source.read(i)) for i in source.infolist()
                    if not i.is_dir()}
        executable = {name: bool(_file_mode(info) & 0o111) for name, (info, _) in contents.items()}
        for name, data in added.items():
            contents[name] = (zipfile.ZipInfo(name), data)
            executable.setdefault(name, False)  # a replaced member keeps its mode
        if added:
            record = next((n for n in contents if n.endswith(".dist-info/RECORD")
                           and n.count("/") == 1), None)
            if record is None:
                raise MultibuildError(f"{path.name}: no .dist-info/RECORD to list "
                                      f"{', '.join(sorted(added))} in")
            info, data = contents[record]
            contents[record] = (info, _with_record(data, added))
        for name in sorted(contents, key=_member_order):
            clone = zipfile.ZipInfo(name, date_time=stamp)
            clone.external_attr = (0o100000 | (0o755 if executable[name] else 0o644)) << 16
            clone.compress_type = zipfile.ZIP_DEFLATED
            clone.create_system = 3  # Unix: the mode bits above are meaningful
            out.writestr(clone, contents[name][1], compresslevel=_COMPRESS_LEVEL)
    return True


def path_map(environ: Mapping[str, str]) -> list[tuple[str, str]]:
    """MB_PATH_MAP of ``environ`` (mb_path_map: "OLD=NEW" lines): the build's directories and
    the stable names a wheel holds instead, longest first (a directory inside another is
    rewritten before it)."""
    pairs = []
    for line in environ.get("MB_PATH_MAP", "").splitlines():
        old, sep, new = line.rpartition("=")
        if sep and old.startswith("/") and old != "/":
            pairs.append((old, new))
    return sorted(pairs, key=lambda pair: len(pair[0]), reverse=True)


def unmapped_paths(path: Path, mapping: Sequence[tuple[str, str]]
                   ) -> tuple[dict[str, bytes], list[str]]:
    """The text members of wheel ``path`` holding a build directory of ``mapping``, rewritten
    to hold its stable name (numpy's and scipy's ``__config__.py``, meson-python's and
    CMake's recorded paths); and the binary members still holding one (compiled without
    -ffile-prefix-map), which no rewrite can fix without breaking them."""
    if not mapping:
        return {}, []
    olds = [(old.encode(), new.encode()) for old, new in mapping]
    rewritten: dict[str, bytes] = {}
    binary: list[str] = []
    with zipfile.ZipFile(path) as archive:
        for info in archive.infolist():
            if info.is_dir() or info.filename.endswith(".dist-info/RECORD"):
                continue
            data = archive.read(info)
            if not any(old in data for old, _ in olds):
                continue
            if b"\0" in data:
                binary.append(info.filename)
                continue
            for old, new in olds:
                data = data.replace(old, new)
            rewritten[info.filename] = data
    return rewritten, binary


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m multibuild.build.reproducible",
                                     description="Reproducible wheels: commit epoch and "
                                     "archive normalisation.")
    sub = parser.add_subparsers(dest="command", required=True)
    epoch = sub.add_parser("epoch", help="print the commit date of REPO's HEAD (seconds)")
    epoch.add_argument("repo", type=Path)
    normal = sub.add_parser("normalize", help="rewrite wheels in the normal archive form")
    normal.add_argument("--epoch", type=int,
                        help="timestamp for every member (default: SOURCE_DATE_EPOCH)")
    normal.add_argument("wheels", nargs="+", type=Path)
    args = parser.parse_args(argv)

    def body() -> int:
        if args.command == "epoch":
            print(commit_epoch(args.repo))
            return 0
        stamp = args.epoch if args.epoch is not None else source_date_epoch(os.environ)
        for wheel in args.wheels:
            if not wheel.is_file():
                raise MultibuildError(f"{wheel}: no such wheel")
            try:
                changed = normalize_wheel(wheel, stamp)
            except zipfile.BadZipFile:
                raise MultibuildError(f"{wheel}: not a zip archive") from None
            print(f"{'normalized' if changed else 'already normal'}: {wheel.name}")
        return 0

    return run_cli(body, 2)


if __name__ == "__main__":
    sys.exit(main())
