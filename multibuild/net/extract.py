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
  the declared sizes before anything is written, and again while writing). The byte limit
  follows what is being unpacked: at most ``max_ratio`` times the archive's own size (real
  sources, wheels and OpenBLAS builds expand 3 to 10 times), at least ``min_bytes``, never
  above ``max_bytes``: a 1 MiB archive that would expand to 1 GiB is refused.

Limits default to :data:`DEFAULT_LIMITS` and may be set with ``MB_EXTRACT_MAX_BYTES``,
``MB_EXTRACT_MAX_RATIO`` and ``MB_EXTRACT_MAX_MEMBERS``.

The archive is unpacked into a fresh directory beside the target, renamed onto the target
(which must be missing or empty) only when every member is in place: a refused archive
leaves nothing behind.
"""

from __future__ import annotations

import base64
import contextlib
import csv
import hashlib
import os
import re
import shutil
import stat
import tarfile
import tempfile
import zipfile
import zlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from multibuild import MultibuildError
from multibuild.core.files import current_umask

_CHUNK = 1 << 20


@dataclass(frozen=True)
class Limits:
    """The most an archive may expand to: total bytes and number of members."""

    max_bytes: int = 2 << 30
    max_members: int = 200_000
    max_ratio: int = 50
    min_bytes: int = 64 << 20

    def byte_limit(self, archive: Path) -> int:
        """The bytes ``archive`` may expand to: ``max_ratio`` times its size, at least
        ``min_bytes``, at most ``max_bytes``."""
        return min(self.max_bytes, max(self.min_bytes, self.max_ratio * archive.stat().st_size))

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Limits:
        environ = os.environ if environ is None else environ
        values = {}
        for field_name, var in (("max_bytes", "MB_EXTRACT_MAX_BYTES"),
                                ("max_members", "MB_EXTRACT_MAX_MEMBERS"),
                                ("max_ratio", "MB_EXTRACT_MAX_RATIO")):
            raw = environ.get(var, "").strip()
            if raw:
                if not raw.isdigit() or int(raw) <= 0:
                    raise MultibuildError(f"{var}={raw!r} is not a positive whole number")
                values[field_name] = int(raw)
        if "max_bytes" in values:  # an explicit cap is the cap, however small
            values["min_bytes"] = min(values["max_bytes"], cls.min_bytes)
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

    def __init__(self, limits: Limits, archive: str, path: Path) -> None:
        self.max_bytes = limits.byte_limit(path)
        self.archive = archive
        self.written = 0

    def too_big(self, total: int) -> ExtractError:
        return ExtractError(f"{self.archive}: expands to more than {self.max_bytes} bytes "
                            f"({total} or more); refused (MB_EXTRACT_MAX_RATIO, "
                            "MB_EXTRACT_MAX_BYTES)")

    def copy(self, source: IO[bytes], dest: Path, mode: int) -> None:
        # "x": never follow or replace an existing name (a planted symlink, say).
        with open(dest, "xb") as out:
            for chunk in iter(lambda: source.read(_CHUNK), b""):
                self.written += len(chunk)
                if self.written > self.max_bytes:
                    raise self.too_big(self.written)
                out.write(chunk)
        os.chmod(dest, (mode & 0o755) | 0o600)


@contextlib.contextmanager
def _all_or_nothing(dest: Path, label: str) -> Iterator[Path]:
    """A fresh directory beside ``dest`` to unpack into, renamed onto ``dest`` (missing or
    empty) once complete, and removed whole on any failure or interruption."""
    try:
        if dest.is_symlink() or (dest.exists() and (not dest.is_dir() or any(dest.iterdir()))):
            raise ExtractError(f"{label}: the target {dest} is not a missing or empty directory")
        dest.parent.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(dir=dest.parent, prefix=f".{dest.name}.unpack-"))
    except OSError as exc:
        raise ExtractError(f"{label}: cannot unpack into {dest} ({exc.strerror})") from None
    try:
        yield work
        os.chmod(work, 0o777 & ~current_umask())
        os.rename(work, dest)  # onto an empty directory too (POSIX rename)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise


def _count(limits: Limits, archive: str, members: int) -> None:
    if members > limits.max_members:
        raise ExtractError(f"{archive}: more than {limits.max_members} members; refused")


def safe_extract_tar(archive: Path, dest: Path, label: str,
                     limits: Limits | None = None) -> None:
    """Extract a tar archive into ``dest``; refuse the whole archive on any unsafe member."""
    limits = limits or Limits.from_env()
    try:
        budget = _Budget(limits, label, archive)
        with tarfile.open(archive, "r:*") as tar, _all_or_nothing(dest, label) as work:
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
                if declared > budget.max_bytes:
                    raise budget.too_big(declared)
                plan.append((parts, member))
            for parts, member in plan:
                if member.isdir():
                    _prepare(work, parts, label, member.name, directory=True)
                    continue
                path = _prepare(work, parts, label, member.name)
                if member.issym():
                    _make_symlink(work, path, member.linkname, label, member.name)
                elif member.islnk():
                    source_path = work.joinpath(*member_parts(member.linkname, label))
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
    try:
        budget = _Budget(limits, label, archive)
        with zipfile.ZipFile(archive) as zf:
            infos = zf.infolist()
            _count(limits, label, len(infos))
            declared = sum(info.file_size for info in infos)
            if declared > budget.max_bytes:
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
            with _all_or_nothing(dest, label) as work:
                for parts, info, link in plan:
                    if info.is_dir():
                        _prepare(work, parts, label, info.filename, directory=True)
                        continue
                    path = _prepare(work, parts, label, info.filename)
                    if link is not None:
                        _make_symlink(work, path, link, label, info.filename)
                        continue
                    with zf.open(info) as source:
                        budget.copy(source, path, (info.external_attr >> 16) or 0o644)
    except (zipfile.BadZipFile, EOFError, OSError, zlib.error, NotImplementedError) as exc:
        raise ExtractError(f"{label}: truncated or corrupt archive ({exc})") from None


def check_links(root: Path, label: str) -> None:
    """Refuse a tree (say, part of an archive moved into a cache) holding a symbolic link
    that points at nothing or outside ``root``: a link that was inside the archive dangles
    once what it pointed at stayed behind."""
    real_root = os.path.realpath(root)
    for path in sorted(root.rglob("*")):
        if not path.is_symlink():
            continue
        shown = path.relative_to(root).as_posix()
        pointed = os.path.realpath(path)
        if not _inside(real_root, pointed):
            raise ExtractError(f"{label}: link {shown!r} -> {os.readlink(path)!r} points "
                               "outside the prefix")
        if not os.path.exists(pointed):
            raise ExtractError(f"{label}: link {shown!r} -> {os.readlink(path)!r} points at "
                               "nothing in the prefix (what it named was not laid out)")


def record_digest(data_sha256: bytes) -> str:
    """A RECORD-style (urlsafe base64, unpadded) sha256 of a raw digest."""
    return base64.urlsafe_b64encode(data_sha256).rstrip(b"=").decode()


def verify_wheel_record(root: Path, label: str,
                        corrections: Mapping[str, str] | None = None) -> None:
    """Check every file of an unpacked wheel against its RECORD hashes; ``corrections``
    (member name -> hex sha256) replaces the RECORD's hash of members a publisher is known to
    have misstated (the member is still checked, against the pinned value)."""
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
            if corrections and name in corrections:
                if digest.hexdigest() != corrections[name]:
                    raise ExtractError(f"{label}: {name} does not match its pinned sha256")
            elif record_digest(digest.digest()) != expected:
                raise ExtractError(f"{label}: {name} does not match its RECORD hash")
    for path in root.rglob("*"):
        if path.is_file() and path.relative_to(root).as_posix() not in listed:
            raise ExtractError(f"{label}: {path.relative_to(root)} is not listed in RECORD")
