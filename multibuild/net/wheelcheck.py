"""Is this file really the wheel (or sdist) its name says? Checked without installing it.

Used for every staged file that no index hash vouches for (download-wheels, wheel-uploader,
``./wheels upload``): an HTML error page saved as ``.whl``, a truncated download, a short body
sent without Content-Length, or a wheel renamed to another version or platform all fail here.

A wheel passes when it is a complete zip (every member's CRC checked), has exactly one
``NAME-VERSION.dist-info`` whose ``WHEEL`` tags, ``METADATA`` name and version match the file
name, and whose ``RECORD`` lists every file with a matching sha256.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import tarfile
import zipfile
import zlib
from email.message import Message
from email.parser import HeaderParser
from pathlib import Path

from packaging.tags import Tag, parse_tag
from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    canonicalize_name,
    parse_sdist_filename,
    parse_wheel_filename,
)
from packaging.version import InvalidVersion, Version

from multibuild import MultibuildError

_UNHASHED = ("RECORD", "RECORD.jws", "RECORD.p7s")


class BadDistribution(MultibuildError):
    """A file that is not the wheel or sdist its name says it is."""


def _looks_like_html(path: Path) -> bool:
    with open(path, "rb") as handle:
        head = handle.read(512).lstrip().lower()
    return head.startswith((b"<!doctype", b"<html", b"<?xml", b"<head", b"<body", b"{"))


def _record_hash(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(
        b"=").decode()


def verify_wheel(path: Path, filename: str | None = None) -> None:
    """Raise :class:`BadDistribution` (one line) unless ``path`` is a sound wheel named
    ``filename`` (default: its own name)."""
    name = filename or path.name
    try:
        dist, version, _build, tags = parse_wheel_filename(name)
    except (InvalidWheelFilename, InvalidVersion) as exc:
        raise BadDistribution(f"{name}: not a wheel file name ({exc})") from None
    if _looks_like_html(path):
        raise BadDistribution(f"{name}: an HTML or JSON page, not a wheel")
    try:
        with zipfile.ZipFile(path) as zf:
            bad = zf.testzip()
            if bad is not None:
                raise BadDistribution(f"{name}: member {bad} is corrupt (CRC mismatch)")
            members = {info.filename: info for info in zf.infolist() if not info.is_dir()}
            infos = sorted({m.split("/", 1)[0] for m in members
                            if m.split("/", 1)[0].endswith(".dist-info")})
            if len(infos) != 1:
                raise BadDistribution(f"{name}: {len(infos)} .dist-info directories, not 1")
            info_dir = infos[0]
            stem = info_dir[: -len(".dist-info")]
            info_name, _, info_version = stem.rpartition("-")
            if (canonicalize_name(info_name) != dist
                    or _version(info_version) != version):
                raise BadDistribution(f"{name}: {info_dir} does not match the file name")
            for needed in ("WHEEL", "METADATA", "RECORD"):
                if f"{info_dir}/{needed}" not in members:
                    raise BadDistribution(f"{name}: no {info_dir}/{needed}")
            wheel_meta = _headers(zf.read(f"{info_dir}/WHEEL"))
            declared: set[Tag] = set()
            for value in wheel_meta.get_all("Tag") or []:
                declared |= set(parse_tag(value.strip()))
            if declared != set(tags):
                raise BadDistribution(
                    f"{name}: WHEEL tags {', '.join(sorted(map(str, declared))) or 'none'} do "
                    "not match the file name's"
                )
            metadata = _headers(zf.read(f"{info_dir}/METADATA"))
            meta_name, meta_version = metadata.get("Name", ""), metadata.get("Version", "")
            if canonicalize_name(meta_name) != dist or _version(meta_version) != version:
                raise BadDistribution(f"{name}: METADATA says {meta_name} {meta_version}")
            _check_record(zf, members, f"{info_dir}/RECORD", info_dir, name)
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, NotImplementedError) as exc:
        raise BadDistribution(f"{name}: not a complete zip archive ({exc})") from None


def _version(text: str) -> Version | None:
    try:
        return Version(text)
    except InvalidVersion:
        return None


def _headers(data: bytes) -> Message:
    return HeaderParser().parsestr(data.decode("utf-8", "replace"))


def _check_record(zf: zipfile.ZipFile, members: dict[str, zipfile.ZipInfo], record: str,
                  info_dir: str, name: str) -> None:
    listed: dict[str, str] = {}
    text = zf.read(record).decode("utf-8", "replace")
    for row in csv.reader(io.StringIO(text)):
        if row:
            listed[row[0]] = row[1] if len(row) > 1 else ""
    for member in members:
        if member not in listed and member not in {f"{info_dir}/{u}" for u in _UNHASHED}:
            raise BadDistribution(f"{name}: {member} is not listed in RECORD")
    for member, spec in listed.items():
        if member.split("/", 1)[-1] in _UNHASHED and member.startswith(info_dir + "/"):
            continue
        if member not in members:
            raise BadDistribution(f"{name}: RECORD lists {member}, which is missing")
        if not spec:
            raise BadDistribution(f"{name}: RECORD has no hash for {member}")
        algo = spec.partition("=")[0]
        if algo != "sha256":
            data = zf.read(member)
            try:
                digest = hashlib.new(algo, data).digest()
            except ValueError:
                raise BadDistribution(f"{name}: RECORD uses unknown hash {algo!r}") from None
            actual = f"{algo}=" + base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
        else:
            actual = _record_hash(zf.read(member))
        if actual != spec:
            raise BadDistribution(f"{name}: {member} does not match its RECORD hash")


def verify_sdist(path: Path, filename: str | None = None) -> None:
    """A complete ``.tar.gz`` (or ``.zip``) sdist whose name parses; every byte is read."""
    name = filename or path.name
    try:
        parse_sdist_filename(name)
    except (InvalidSdistFilename, InvalidVersion) as exc:
        raise BadDistribution(f"{name}: not an sdist file name ({exc})") from None
    if _looks_like_html(path):
        raise BadDistribution(f"{name}: an HTML or JSON page, not an sdist")
    try:
        if name.endswith(".zip"):
            with zipfile.ZipFile(path) as zf:
                if zf.testzip() is not None:
                    raise BadDistribution(f"{name}: a member is corrupt (CRC mismatch)")
            return
        with tarfile.open(path, "r:gz") as tar:
            for member in tar:
                if member.isfile():
                    stream = tar.extractfile(member)
                    if stream is not None:
                        while stream.read(1 << 20):
                            pass
    except (tarfile.TarError, zipfile.BadZipFile, zlib.error, EOFError, OSError) as exc:
        raise BadDistribution(f"{name}: not a complete archive ({exc})") from None


def verify_distribution(path: Path, filename: str | None = None) -> None:
    """:func:`verify_wheel` or :func:`verify_sdist` by file name; other files pass."""
    name = filename or path.name
    if name.endswith(".whl"):
        verify_wheel(path, name)
    elif name.endswith((".tar.gz", ".zip")):
        verify_sdist(path, name)
