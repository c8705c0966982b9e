"""Package-index listings and verified file fetches, shared by every stage that reads an index.

- :func:`list_simple`: the files of a project release on a PEP 691 (JSON) or PEP 503 (HTML)
  simple index, with the sha256 the index gives;
- :func:`fetch_file`: one listed file through ``multibuild.net.fetch`` (temporary name, sha256
  as the bytes arrive, the file's own structure by ``multibuild.net.wheelcheck``, then rename);
- the rules every listing obeys: project names an index can have, file names that stay in
  their directory, a wheel's or sdist's (name, version).

The sdist mirror (``multibuild.source.mirror``) and the release downloader
(``multibuild.release.download``) both use these; neither needs the other.
"""

from __future__ import annotations

import hashlib
import json
import re
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    canonicalize_name,
    parse_sdist_filename,
    parse_wheel_filename,
)
from packaging.version import InvalidVersion, Version

from multibuild import MultibuildError, UsageError
from multibuild.core.refs import shown
from multibuild.net.fetch import MANIFEST, FetchError, Http, redact_url, sha256_file
from multibuild.net.fetch import download as fetch_download
from multibuild.net.wheelcheck import BadDistribution, verify_distribution

_JSON_ACCEPT = (
    "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html;q=0.2, "
    "text/html;q=0.1"
)


@dataclass(frozen=True)
class RemoteFile:
    filename: str
    url: str
    sha256: str | None = None
    md5: str | None = None


class _LinkParser(HTMLParser):
    """Every ``<a href>`` of a page with its text."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.links: list[tuple[str, str]] = []
        self._href: str | None = None
        self._text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self._href = dict(attrs).get("href")
            self._text = []

    def handle_data(self, data: str) -> None:
        if self._href is not None:
            self._text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "a" and self._href is not None:
            self.links.append((self._href, "".join(self._text).strip()))
            self._href = None


def page_links(html: str) -> list[tuple[str, str]]:
    parser = _LinkParser()
    parser.feed(html)
    parser.close()
    return parser.links


def file_version(filename: str) -> tuple[str, Version] | None:
    """(canonical project name, version) of a wheel or sdist file name; None for others."""
    try:
        if filename.endswith(".whl"):
            name, version, _build, _tags = parse_wheel_filename(filename)
            return str(name), version
        if filename.endswith((".tar.gz", ".zip")):
            sname, sversion = parse_sdist_filename(filename)
            return str(sname), sversion
    except (InvalidWheelFilename, InvalidSdistFilename, InvalidVersion):
        return None
    return None


def is_release_file(filename: str, package: str, version: Version) -> bool:
    parsed = file_version(filename)
    return parsed is not None and parsed == (canonicalize_name(package), version)


def load_json(body: bytes | str) -> Any:
    """``json.loads`` whose every failure is a ValueError: a document nested thousands of
    levels deep (RecursionError) is as malformed as a truncated one."""
    try:
        return json.loads(body)
    except RecursionError:
        raise ValueError("nested too deeply") from None


PROJECT_NAME = re.compile(r"[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?")


def check_project_name(name: str, what: str = "-p") -> str:
    """``name`` when it is a project name an index can have (PEP 508), else one line."""
    if not PROJECT_NAME.fullmatch(name) or len(name) > 200:
        raise UsageError(f"{what} {shown(name)}: not a project name (ASCII letters, digits and "
                         ". _ -, starting and ending with a letter or digit)")
    return name


def parse_release_version(version: str) -> Version:
    try:
        return Version(version)
    except InvalidVersion:
        raise MultibuildError(f"invalid version {version!r}") from None


def list_simple(http: Http, index_url: str, package: str, version: str) -> list[RemoteFile]:
    """Files of ``package`` at ``version`` on a PEP 691 (JSON) or PEP 503 (HTML) index."""
    wanted = parse_release_version(version)
    url = index_url.rstrip("/") + "/" + canonicalize_name(package) + "/"
    try:
        body, ctype, final = http.get(url, accept=_JSON_ACCEPT)
    except FetchError as exc:
        if "HTTP 404" in str(exc):
            return []
        raise
    files: list[RemoteFile] = []
    if "json" in ctype:
        try:
            data: Any = load_json(body)
            entries = [(f["filename"], f["url"], f.get("hashes", {}).get("sha256"))
                       for f in data["files"]]
        except (ValueError, KeyError, TypeError, AttributeError):
            raise FetchError(f"{redact_url(url)}: not a PEP 691 project page") from None
    else:
        entries = []
        for href, text in page_links(body.decode("utf-8", "replace")):
            path, _, fragment = href.partition("#")
            name = text or urllib.parse.unquote(path.rsplit("/", 1)[-1])
            digest = fragment[len("sha256="):] if fragment.startswith("sha256=") else None
            entries.append((name, path, digest))
    for name, href, digest in entries:
        if is_release_file(name, package, wanted):
            files.append(RemoteFile(name, urllib.parse.urljoin(final, href),
                                    digest.lower() if digest else None))
    return files


def _md5(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def verify_file(path: Path, file: RemoteFile) -> None:
    """Raise unless ``path`` is ``file``: the listing's md5 when it gives one and no sha256
    (the sha256 is checked as the bytes arrive), and always the file's own structure
    (``multibuild.net.wheelcheck``): a listing vouches for bytes, not for what a wheel says."""
    if file.md5 and not file.sha256:
        actual = _md5(path)
        if actual != file.md5:
            raise FetchError(f"{file.filename}: md5 mismatch: the listing says {file.md5}, "
                             f"the file has {actual}; file rejected")
    verify_distribution(path, file.filename)


def present_digest(path: Path, file: RemoteFile, recorded: str | None) -> str | None:
    """The sha256 of ``path`` when it already holds a verified copy of ``file``, else None."""
    if not path.is_file() or path.is_symlink():
        return None
    actual = sha256_file(path)
    if file.sha256 and actual != file.sha256:
        return None
    try:
        verify_file(path, file)
    except MultibuildError:
        return None
    if recorded is not None and recorded != actual:
        return None  # changed since it was recorded: fetch it again
    return actual


def check_file_name(filename: str) -> None:
    if ("/" in filename or "\\" in filename or filename.startswith(".") or "\0" in filename
            or filename == MANIFEST):
        raise FetchError(f"refusing file name {filename!r}")


def fetch_file(http: Http, file: RemoteFile, directory: Path,
               advance: Callable[[int], None] = lambda n: None) -> tuple[Path, str]:
    """Download ``file`` into ``directory`` through a temporary name; verify; rename."""
    check_file_name(file.filename)
    target = directory / file.filename
    try:
        digest = fetch_download(http, file.url, target, sha256=file.sha256, advance=advance,
                                check=lambda tmp: verify_file(tmp, file))
    except BadDistribution as exc:
        raise FetchError(f"{exc}; file rejected") from None
    return target, digest
