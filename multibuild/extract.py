"""Safe extraction of tar and zip archives (standard library only).

Every archive the project unpacks (OpenBLAS tarballs and wheels, sdists for the mirror) goes
through :func:`safe_extract_tar` / :func:`safe_extract_zip`. An archive is refused whole, with
one line naming the member, when:

- a member's name is absolute, has a drive letter or backslash, or a ``..`` component;
- a symlink could point outside the target: its target must be relative, with every ``..`` at
  its start and no more of them than the link's depth. A ``..`` after a name is refused
  because its meaning depends on whether that name is (or later becomes) a symlink: with
  ``lib/pkgconfig -> x/x/x/../../../../outside`` and then ``lib/x -> .``, the first link
  looks inside when it is made and points outside once the second exists;
- a member would be written through a symlink, or its final real path is not inside the
  target (checked on disk, just before writing);
- a hard link does not name a regular file extracted earlier;
- a member is a device, fifo or other special file, or appears twice;
- the archive has more members, or expands to more bytes, than the limits (checked against
  the declared sizes before anything is written, and again while writing).

Limits default to :data:`DEFAULT_LIMITS` and may be set with ``MB_EXTRACT_MAX_BYTES`` and
``MB_EXTRACT_MAX_MEMBERS``.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import os
import re
import stat
import tarfile
import zipfile
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from multibuild import MultibuildError

_CHUNK = 1 << 20


@dataclass(frozen=True)
class Limits:
    """The most an archive may expand to: total bytes and number of members."""

    max_bytes: int = 2 << 30
    max_members: int = 200_000

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Limits:
        environ = os.environ if environ is None else environ
        values = {}
        for field_name, var in (("max_bytes", "MB_EXTRACT_MAX_BYTES"),
                                ("max_members", "MB_EXTRACT_MAX_MEMBERS")):
            raw = environ.get(var, "").strip()
            if raw:
                if not raw.isdigit() or int(raw) <= 0:
                    raise MultibuildError(f"{var}={raw!r} is not a positive whole number")
                values[field_name] = int(raw)
        return cls(**values)


# 2 GiB and 200,000 members: numpy's sdist unpacks to about 100 MiB in 3,000 files, an
# OpenBLAS wheel to under 100 MiB; a decompression bomb is refused long before the disk fills.
DEFAULT_LIMITS = Limits()


class ExtractError(MultibuildError):
    """An archive refused as unsafe, too large or corrupt."""


def member_parts(name: str, archive: str) -> list[str]:
    """The path components of an archive member, refusing anything that could escape."""
    if "\\" in name or name.startswith("/") or re.match(r"^[A-Za-z]:", name):
        raise ExtractError(f"{archive}: member {name!r} has an absolute or Windows path")
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise ExtractError(f"{archive}: member {name!r} has a '..' component")
    if not parts:
        raise ExtractError(f"{archive}: member {name!r} has an empty path")
    if any("\0" in p for p in parts):
        raise ExtractError(f"{archive}: member {name!r} has a NUL byte")
    return parts


def check_link(member: list[str], link: str, archive: str, name: str) -> None:
    """Refuse a symlink target that could point outside the archive, now or later."""
    outside = ExtractError(f"{archive}: link {name!r} -> {link!r} points outside the archive")
    if not link or link.startswith("/") or "\\" in link or re.match(r"^[A-Za-z]:", link):
        raise outside
    parts = [p for p in link.split("/") if p not in ("", ".")]
    ups = 0
    while ups < len(parts) and parts[ups] == "..":
        ups += 1
    if ".." in parts[ups:]:
        raise ExtractError(f"{archive}: link {name!r} -> {link!r} has '..' after a name "
                           "(its target would depend on other links)")
    if ups > len(member) - 1:
        raise outside


def _inside(root: str, path: str) -> bool:
    return os.path.commonpath([root, path]) == root


def _prepare(dest: Path, parts: list[str], archive: str, name: str, *,
             directory: bool = False) -> Path:
    """The path to write member ``parts`` at: its directories are made one by one, each a
    real directory (never through a symlink), and its final real path is checked to be inside
    ``dest``; a file member's name must still be free."""
    real_root = os.path.realpath(dest)
    current = dest
    for part in parts if directory else parts[:-1]:
        current = current / part
        if current.is_symlink():
            raise ExtractError(f"{archive}: member {name!r} would be written through the link "
                               f"{current.relative_to(dest).as_posix()!r}")
        if not current.exists():
            current.mkdir()
        elif not current.is_dir():
            raise ExtractError(f"{archive}: member {name!r} needs "
                               f"{current.relative_to(dest).as_posix()!r} to be a directory")
    real = os.path.realpath(current)
    if not _inside(real_root, real) or real != os.path.join(real_root, *(
            parts if directory else parts[:-1])).rstrip(os.sep):
        raise ExtractError(f"{archive}: member {name!r} would be written outside the target")
    if directory:
        return current
    path = current / parts[-1]
    if os.path.lexists(path):
        raise ExtractError(f"{archive}: member {name!r} appears twice")
    return path


def _make_symlink(dest: Path, path: Path, link: str, archive: str, name: str) -> None:
    real_root = os.path.realpath(dest)
    pointed = os.path.realpath(os.path.join(os.path.realpath(path.parent), link))
    if not _inside(real_root, pointed):
        raise ExtractError(f"{archive}: link {name!r} -> {link!r} points outside the archive")
    os.symlink(link, path)


class _Budget:
    """Counts bytes written against the limit (declared sizes can lie)."""

    def __init__(self, limits: Limits, archive: str) -> None:
        self.limits = limits
        self.archive = archive
        self.written = 0

    def too_big(self, total: int) -> ExtractError:
        return ExtractError(f"{self.archive}: expands to more than "
                            f"{self.limits.max_bytes} bytes ({total} or more); refused")

    def copy(self, source: IO[bytes], dest: Path, mode: int) -> None:
        # "x": never follow or replace an existing name (a planted symlink, say).
        with open(dest, "xb") as out:
            for chunk in iter(lambda: source.read(_CHUNK), b""):
                self.written += len(chunk)
                if self.written > self.limits.max_bytes:
                    raise self.too_big(self.written)
                out.write(chunk)
        os.chmod(dest, (mode & 0o755) | 0o600)


def _count(limits: Limits, archive: str, members: int) -> None:
    if members > limits.max_members:
        raise ExtractError(f"{archive}: more than {limits.max_members} members; refused")


def safe_extract_tar(archive: Path, dest: Path, label: str,
                     limits: Limits | None = None) -> None:
    """Extract a tar archive into ``dest``; refuse the whole archive on any unsafe member."""
    limits = limits or Limits.from_env()
    budget = _Budget(limits, label)
    try:
        with tarfile.open(archive, "r:*") as tar:
            # Read the headers one by one: the limits stop a bomb before its data is inflated
            # further than the member whose header crosses them.
            plan: list[tuple[list[str], tarfile.TarInfo]] = []
            regular: dict[str, int] = {}  # regular files so far: name -> size
            declared = 0
            while True:
                member = tar.next()
                if member is None:
                    break
                _count(limits, label, len(plan) + 1)
                parts = member_parts(member.name, label)
                if member.issym():
                    check_link(parts, member.linkname, label, member.name)
                elif member.islnk():
                    target = "/".join(member_parts(member.linkname, label))
                    if target not in regular:
                        raise ExtractError(
                            f"{label}: hard link {member.name!r} -> {member.linkname!r} does "
                            "not point at a regular file of the archive"
                        )
                    declared += regular[target]
                elif member.isfile():
                    declared += member.size
                    regular["/".join(parts)] = member.size
                elif not member.isdir():
                    raise ExtractError(f"{label}: member {member.name!r} is a special file")
                if declared > limits.max_bytes:
                    raise budget.too_big(declared)
                plan.append((parts, member))
            dest.mkdir(parents=True, exist_ok=True)
            for parts, member in plan:
                if member.isdir():
                    _prepare(dest, parts, label, member.name, directory=True)
                    continue
                path = _prepare(dest, parts, label, member.name)
                if member.issym():
                    _make_symlink(dest, path, member.linkname, label, member.name)
                elif member.islnk():
                    source_path = dest.joinpath(*member_parts(member.linkname, label))
                    if source_path.is_symlink():
                        raise ExtractError(f"{label}: hard link {member.name!r} names a link")
                    with open(source_path, "rb") as source:
                        budget.copy(source, path, member.mode)
                else:
                    stream = tar.extractfile(member)
                    if stream is None:
                        raise ExtractError(f"{label}: cannot read member {member.name!r}")
                    with stream:
                        budget.copy(stream, path, member.mode)
    except (tarfile.TarError, EOFError, OSError, zlib.error) as exc:
        raise ExtractError(f"{label}: truncated or corrupt archive ({exc})") from None


def safe_extract_zip(archive: Path, dest: Path, label: str,
                     limits: Limits | None = None) -> None:
    """Extract a zip archive into ``dest``; refuse the whole archive on any unsafe member."""
    limits = limits or Limits.from_env()
    budget = _Budget(limits, label)
    try:
        with zipfile.ZipFile(archive) as zf:
            infos = zf.infolist()
            _count(limits, label, len(infos))
            declared = sum(info.file_size for info in infos)
            if declared > limits.max_bytes:
                raise budget.too_big(declared)
            plan: list[tuple[list[str], zipfile.ZipInfo, str | None]] = []
            for info in infos:
                parts = member_parts(info.filename, label)
                mode = info.external_attr >> 16
                link = None
                if stat.S_ISLNK(mode):
                    if info.file_size > 4096:
                        raise ExtractError(f"{label}: link {info.filename!r} is too long")
                    link = zf.read(info).decode("utf-8", "replace")
                    check_link(parts, link, label, info.filename)
                elif mode and not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)) \
                        and stat.S_IFMT(mode):
                    raise ExtractError(f"{label}: member {info.filename!r} is a special file")
                plan.append((parts, info, link))
            dest.mkdir(parents=True, exist_ok=True)
            for parts, info, link in plan:
                if info.is_dir():
                    _prepare(dest, parts, label, info.filename, directory=True)
                    continue
                path = _prepare(dest, parts, label, info.filename)
                if link is not None:
                    _make_symlink(dest, path, link, label, info.filename)
                    continue
                with zf.open(info) as source:
                    budget.copy(source, path, (info.external_attr >> 16) or 0o644)
    except (zipfile.BadZipFile, EOFError, OSError, zlib.error, NotImplementedError) as exc:
        raise ExtractError(f"{label}: truncated or corrupt archive ({exc})") from None


def record_digest(data_sha256: bytes) -> str:
    """A RECORD-style (urlsafe base64, unpadded) sha256 of a raw digest."""
    return base64.urlsafe_b64encode(data_sha256).rstrip(b"=").decode()


def verify_wheel_record(root: Path, label: str) -> None:
    """Check every file of an unpacked wheel against its RECORD hashes."""
    records = list(root.glob("*.dist-info/RECORD"))
    if len(records) != 1:
        raise ExtractError(f"{label}: wheel has no single .dist-info/RECORD")
    listed = set()
    with open(records[0], newline="", encoding="utf-8") as handle:
        for row in csv.reader(handle):
            if not row:
                continue
            name, hash_spec = row[0], (row[1] if len(row) > 1 else "")
            listed.add(name)
            if not hash_spec:
                continue
            algo, _, expected = hash_spec.partition("=")
            if algo != "sha256":
                raise ExtractError(f"{label}: RECORD uses {algo!r} for {name}")
            path = root.joinpath(*member_parts(name, label))
            digest = hashlib.sha256()
            with open(path, "rb") as data:
                for chunk in iter(lambda: data.read(_CHUNK), b""):
                    digest.update(chunk)
            if record_digest(digest.digest()) != expected:
                raise ExtractError(f"{label}: {name} does not match its RECORD hash")
    for path in root.rglob("*"):
        if path.is_file() and path.relative_to(root).as_posix() not in listed:
            raise ExtractError(f"{label}: {path.relative_to(root)} is not listed in RECORD")
