"""Fetch a release's wheels back from the staging channel, verified, and check the set.

Sources:
- the anaconda.org files listing (``https://anaconda.org/ORG/PKG/files``): HTML pages, every
  ``?page=N`` link followed, files at ``/ORG/PKG/VERSION/download/FILE``;
- any PEP 503 (HTML) or PEP 691 (JSON) simple index, sha256 taken from the index.

Downloads run in parallel, each written to a temporary name in the destination directory,
checked against the index's sha256 (when it gives one) and renamed into place; the sha256 of
every file is recorded in ``sha256sums.txt`` (``sha256sum -c`` format). Files already present
and valid (index hash or manifest entry) are not fetched again.

The completeness gate compares the wheels with the expected (Python x platform) set.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import socket
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from html.parser import HTMLParser
from http.client import HTTPException, IncompleteRead
from pathlib import Path
from typing import IO, Any

from packaging.tags import Tag
from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    canonicalize_name,
    parse_sdist_filename,
    parse_wheel_filename,
)
from packaging.version import InvalidVersion, Version

from multibuild import MultibuildError
from multibuild.files import atomic_path, atomic_write
from multibuild.platforms import wheel_os

MANIFEST = "sha256sums.txt"
DEFAULT_STAGING_URL = "https://anaconda.org/multibuild-wheels-staging"
ANACONDA_HOSTS = ("anaconda.org", "www.anaconda.org")
_MAX_PAGES = 500
_CHUNK = 1 << 16
_JSON_ACCEPT = (
    "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html;q=0.2, "
    "text/html;q=0.1"
)


class DownloadError(MultibuildError):
    """A listing or a download that failed after its bounded retries, or a bad file."""


def redact_url(url: str) -> str:
    """``url`` without any user:password part."""
    parts = urllib.parse.urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc))


@dataclass
class Http:
    """HTTP GET with a timeout on every socket operation and bounded retries.

    Retried: 5xx and 429 answers, refused/reset connections, timeouts, truncated bodies.
    Not retried: other 4xx answers (a wrong URL or credentials does not heal).
    """

    timeout: float = 60.0
    attempts: int = 4
    backoff: float = 1.0
    auth: tuple[str, str] | None = None
    user_agent: str = "wheels-repo-download/1"
    sleep: Callable[[float], None] = time.sleep

    def _request(self, url: str, accept: str | None) -> urllib.request.Request:
        headers = {"User-Agent": self.user_agent}
        if accept:
            headers["Accept"] = accept
        if self.auth is not None:
            import base64

            raw = f"{self.auth[0]}:{self.auth[1]}".encode()
            headers["Authorization"] = "Basic " + base64.b64encode(raw).decode()
        return urllib.request.Request(url, headers=headers)

    def with_retries(self, url: str, action: Callable[[Any], Any], accept: str | None = None,
                     on_retry: Callable[[], None] | None = None) -> Any:
        """Open ``url`` and run ``action(response)``, retrying transient failures."""
        shown = redact_url(url)
        last = ""
        for attempt in range(1, self.attempts + 1):
            try:
                with urllib.request.urlopen(self._request(url, accept),
                                            timeout=self.timeout) as response:
                    return action(response)
            except urllib.error.HTTPError as exc:
                if exc.code < 500 and exc.code != 429:
                    raise DownloadError(f"{shown}: HTTP {exc.code} {exc.reason}") from None
                last = f"HTTP {exc.code} {exc.reason}"
            except (urllib.error.URLError, TimeoutError, socket.timeout, ConnectionError,
                    HTTPException, OSError) as exc:
                reason = getattr(exc, "reason", None) or exc
                if isinstance(reason, (TimeoutError, socket.timeout)):
                    last = f"no answer within {self.timeout:g}s"
                else:
                    last = f"{type(reason).__name__}: {reason}"
            if on_retry is not None:
                on_retry()
            if attempt < self.attempts:
                self.sleep(self.backoff * attempt)
        raise DownloadError(f"{shown}: {last} (gave up after {self.attempts} attempts)")

    def get(self, url: str, accept: str | None = None) -> tuple[bytes, str, str]:
        """(body, content type, final URL after redirects)."""

        def read(response: Any) -> tuple[bytes, str, str]:
            body = response.read()
            length = response.headers.get("Content-Length")
            if length is not None and len(body) != int(length):
                raise IncompleteRead(body, int(length) - len(body))
            return body, response.headers.get("Content-Type", ""), response.geturl()

        result: tuple[bytes, str, str] = self.with_retries(url, read, accept)
        return result


# --------------------------------------------------------------------------- listings


@dataclass(frozen=True)
class RemoteFile:
    filename: str
    url: str
    sha256: str | None = None


class _Links(HTMLParser):
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


def _links(html: str) -> list[tuple[str, str]]:
    parser = _Links()
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


def _matches(filename: str, package: str, version: Version) -> bool:
    parsed = file_version(filename)
    return parsed is not None and parsed == (canonicalize_name(package), version)


def _parse_version(version: str) -> Version:
    try:
        return Version(version)
    except InvalidVersion:
        raise MultibuildError(f"invalid version {version!r}") from None


def list_simple(http: Http, index_url: str, package: str, version: str) -> list[RemoteFile]:
    """Files of ``package`` at ``version`` on a PEP 691 (JSON) or PEP 503 (HTML) index."""
    wanted = _parse_version(version)
    url = index_url.rstrip("/") + "/" + canonicalize_name(package) + "/"
    try:
        body, ctype, final = http.get(url, accept=_JSON_ACCEPT)
    except DownloadError as exc:
        if "HTTP 404" in str(exc):
            return []
        raise
    files: list[RemoteFile] = []
    if "json" in ctype:
        try:
            data = json.loads(body)
            entries = [(f["filename"], f["url"], f.get("hashes", {}).get("sha256"))
                       for f in data["files"]]
        except (ValueError, KeyError, TypeError, AttributeError):
            raise DownloadError(f"{redact_url(url)}: not a PEP 691 project page") from None
    else:
        entries = []
        for href, text in _links(body.decode("utf-8", "replace")):
            path, _, fragment = href.partition("#")
            name = text or urllib.parse.unquote(path.rsplit("/", 1)[-1])
            digest = fragment[len("sha256="):] if fragment.startswith("sha256=") else None
            entries.append((name, path, digest))
    for name, href, digest in entries:
        if _matches(name, package, wanted):
            files.append(RemoteFile(name, urllib.parse.urljoin(final, href),
                                    digest.lower() if digest else None))
    return files


def anaconda_files_url(base: str, package: str, version: str | None = None) -> str:
    """The files listing of ``package`` in the channel at ``base`` (``.../ORG``)."""
    url = base.rstrip("/") + "/" + package + "/files"
    return url + ("?" + urllib.parse.urlencode({"version": version}) if version else "")


def list_anaconda(http: Http, base: str, package: str, version: str) -> list[RemoteFile]:
    """Files of ``package`` at ``version`` in an anaconda.org channel, from every page."""
    wanted = _parse_version(version)
    start = anaconda_files_url(base, package, version)
    listing_path = urllib.parse.urlsplit(start).path
    queue, seen = [start], {"1"}  # pages by number; the start URL is page 1
    found: dict[str, RemoteFile] = {}
    while queue:
        if len(seen) > _MAX_PAGES:
            raise DownloadError(f"{redact_url(start)}: more than {_MAX_PAGES} listing pages")
        page = queue.pop(0)
        body, _ctype, final = http.get(page, accept="text/html")
        for href, _text in _links(body.decode("utf-8", "replace")):
            absolute = urllib.parse.urljoin(final, href)
            parts = urllib.parse.urlsplit(absolute)
            if "/download/" in parts.path:
                name = urllib.parse.unquote(parts.path.rsplit("/", 1)[-1])
                if _matches(name, package, wanted):
                    found.setdefault(name, RemoteFile(name, absolute))
            elif parts.path == listing_path and "page=" in parts.query:
                number = urllib.parse.parse_qs(parts.query).get("page", ["1"])[0]
                if number not in seen:
                    seen.add(number)
                    queue.append(urllib.parse.urlunsplit(parts._replace(fragment="")))
    return sorted(found.values(), key=lambda f: f.filename)


def is_anaconda(url: str) -> bool:
    return (urllib.parse.urlsplit(url).hostname or "") in ANACONDA_HOSTS


def list_files(http: Http, url: str, package: str, version: str,
               source: str = "auto") -> list[RemoteFile]:
    """Dispatch on ``source``: ``anaconda``, ``simple`` or ``auto`` (by host name)."""
    if source == "auto":
        source = "anaconda" if is_anaconda(url) else "simple"
    if source == "anaconda":
        return list_anaconda(http, url, package, version)
    if source == "simple":
        return list_simple(http, url, package, version)
    raise MultibuildError(f"unknown source {source!r}; use anaconda, simple or auto")


# --------------------------------------------------------------------------- downloads


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def read_manifest(directory: Path) -> dict[str, str]:
    path = directory / MANIFEST
    entries: dict[str, str] = {}
    if path.is_file():
        for line in path.read_text().splitlines():
            digest, _, name = line.partition("  ")
            if digest and name:
                entries[name.lstrip("*")] = digest
    return entries


def write_manifest(directory: Path, entries: dict[str, str]) -> None:
    text = "".join(f"{entries[name]}  {name}\n" for name in sorted(entries))
    atomic_write(directory / MANIFEST, text)


@dataclass
class Outcome:
    file: RemoteFile
    path: Path
    sha256: str
    skipped: bool


def _is_valid(path: Path, file: RemoteFile, recorded: str | None) -> str | None:
    """The file's sha256 when ``path`` holds a valid copy of ``file``, else None."""
    if not path.is_file():
        return None
    expected = file.sha256 or recorded
    if not expected:
        return None
    actual = sha256_file(path)
    return actual if actual == expected else None


def fetch_file(http: Http, file: RemoteFile, directory: Path,
               advance: Callable[[int], None] = lambda n: None) -> tuple[Path, str]:
    """Download ``file`` into ``directory`` through a temporary name; verify; rename."""
    if "/" in file.filename or "\\" in file.filename or file.filename.startswith("."):
        raise DownloadError(f"refusing file name {file.filename!r}")
    target = directory / file.filename

    def save(response: Any) -> tuple[Path, str]:
        received = 0
        try:
            with atomic_path(target) as tmp:
                digest = hashlib.sha256()
                handle: IO[bytes]
                with tmp.open("wb") as handle:
                    for chunk in iter(lambda: response.read(_CHUNK), b""):
                        handle.write(chunk)
                        digest.update(chunk)
                        received += len(chunk)
                        advance(len(chunk))
                length = response.headers.get("Content-Length")
                if length is not None and received != int(length):
                    raise IncompleteRead(b"", int(length) - received)
                actual = digest.hexdigest()
                if file.sha256 and actual != file.sha256:
                    raise DownloadError(
                        f"{file.filename}: sha256 mismatch: index says {file.sha256}, "
                        f"downloaded file has {actual}; file rejected"
                    )
            return target, actual
        except BaseException:
            advance(-received)
            raise

    result: tuple[Path, str] = http.with_retries(file.url, save)
    return result


def download_all(http: Http, files: Sequence[RemoteFile], directory: Path, *, jobs: int = 4,
                 clobber: bool = False, progress: bool = True) -> list[Outcome]:
    """Fetch ``files`` in parallel into ``directory``; the manifest records every sha256."""
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    directory.mkdir(parents=True, exist_ok=True)
    manifest = read_manifest(directory)
    outcomes: list[Outcome] = []
    todo: list[RemoteFile] = []
    for file in files:
        path = directory / file.filename
        valid = None if clobber else _is_valid(path, file, manifest.get(file.filename))
        if valid is not None:
            outcomes.append(Outcome(file, path, valid, skipped=True))
        else:
            todo.append(file)
    errors: list[str] = []
    columns = (TextColumn("[bold]{task.description}"), BarColumn(), DownloadColumn(),
               TransferSpeedColumn(), TimeRemainingColumn())
    with Progress(*columns, disable=not progress, transient=False) as bar:
        task = bar.add_task(f"{len(todo)} files", total=None)

        def advance(n: int) -> None:
            bar.advance(task, n)

        with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
            futures = {pool.submit(fetch_file, http, f, directory, advance): f for f in todo}
            for future in as_completed(futures):
                file = futures[future]
                try:
                    path, digest = future.result()
                except MultibuildError as exc:
                    errors.append(str(exc))
                    continue
                outcomes.append(Outcome(file, path, digest, skipped=False))
    for outcome in outcomes:
        manifest[outcome.file.filename] = outcome.sha256
    write_manifest(directory, manifest)
    if errors:
        raise DownloadError("; ".join(sorted(errors)))
    return sorted(outcomes, key=lambda o: o.file.filename)


# --------------------------------------------------------------------------- completeness


Slot = tuple[str, str]  # (python tag like cp312 / cp313t / py3, platform key like linux-x86_64)


def python_tag(python: str) -> str:
    """``3.12`` -> ``cp312``; ``3.13t`` -> ``cp313t``; tags pass through."""
    match = re.fullmatch(r"(\d+)\.(\d+)(t?)", python)
    if match:
        return f"cp{match[1]}{match[2]}{match[3]}"
    return python


_ARCH = re.compile(r"^(?:manylinux\d*(?:_\d+_\d+)?|linux|musllinux_\d+_\d+|macosx_\d+_\d+)_(.+)$")


def platform_key(tag: Tag) -> str:
    """The platform table's key (``linux-x86_64``, ``macos-arm64``, ``windows-win_amd64``)."""
    os_name = wheel_os(tag)
    if os_name is None:
        return "any"
    if os_name == "windows":
        return f"windows-{tag.platform}"
    match = _ARCH.match(tag.platform)
    arch = match[1] if match else tag.platform
    if tag.platform.startswith("musllinux"):
        return f"musllinux-{arch}"
    return f"{os_name}-{arch}"


def wheel_slots(filename: str) -> set[Slot]:
    """Every (python, platform) slot a wheel file fills."""
    _name, _version, _build, tags = parse_wheel_filename(filename)
    slots = set()
    for tag in tags:
        python = tag.interpreter
        if tag.abi.endswith("t") and tag.abi.startswith("cp"):
            python = tag.abi  # free-threaded: cp313-cp313t
        slots.add((python, platform_key(tag)))
    return slots


def expected_slots(pairs: Iterable[tuple[str, str]]) -> set[Slot]:
    """The expected set from explicit (python, platform) pairs, e.g. ("3.12", "linux-x86_64")."""
    return {(python_tag(python), platform) for python, platform in pairs}


def matrix_pairs(root: Path) -> list[tuple[str, str]]:
    """(python, platform key) pairs of the build jobs of every CI file (``multibuild.cimatrix``).

    Platform keys are the platform table's (``linux-x86_64``, ``windows-win_amd64``).
    """
    try:
        from multibuild import cimatrix
    except ImportError:
        raise MultibuildError(
            "no CI matrix reader (multibuild.cimatrix); pass --expect PYTHON:PLATFORM"
        ) from None
    pairs = sorted({
        (job.python, f"{job.os}-{job.plat}")
        for job in cimatrix.expand(root)
        if job.kind == "build" and job.python and job.plat
    })
    if not pairs:
        raise MultibuildError(f"the CI files under {root} define no build jobs")
    return pairs


@dataclass
class GateResult:
    missing: list[Slot] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.missing and not self.unexpected

    def report(self) -> str:
        lines = [f"missing wheel for {py} on {plat}" for py, plat in self.missing]
        lines += [f"unexpected wheel {name}" for name in self.unexpected]
        return "\n".join(lines)


def check_complete(filenames: Iterable[str], expected: set[Slot]) -> GateResult:
    """Compare wheel file names with the expected slots (sdists are ignored)."""
    filled: set[Slot] = set()
    result = GateResult()
    for name in sorted(filenames):
        if not name.endswith(".whl"):
            continue
        slots = wheel_slots(name)
        filled |= slots
        if not slots & expected:
            result.unexpected.append(name)
    result.missing = sorted(expected - filled)
    return result


def parse_expect(values: Sequence[str]) -> list[tuple[str, str]]:
    pairs = []
    for value in values:
        python, sep, platform = value.partition(":")
        if not sep or not python or not platform:
            raise MultibuildError(
                f"--expect {value!r}: use PYTHON:PLATFORM, e.g. 3.12:linux-x86_64"
            )
        pairs.append((python, platform))
    return pairs


# --------------------------------------------------------------------------- CLI


def default_package(root: Path) -> str:
    from multibuild.cifiles import azure_variables

    name = os.environ.get("MB_PACKAGE_NAME") or azure_variables(root).get("REPO_DIR", "")
    if not name:
        raise MultibuildError("no package name: pass --package or set MB_PACKAGE_NAME")
    return name


def build_parser(prog: str = "download-wheels.py") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Download every wheel and sdist of the package at VERSION from the staging "
        "channel, verify them, and check the set is complete.",
    )
    parser.add_argument("version", metavar="VERSION", help="release version, e.g. 2.2.6")
    parser.add_argument("-w", "--wheelhouse", default=None,
                        help="destination directory (default: release/installers)")
    parser.add_argument("-u", "--url", default=os.environ.get("MB_STAGING_URL",
                                                              DEFAULT_STAGING_URL),
                        help="channel: anaconda.org/ORG or a simple index URL")
    parser.add_argument("--source", choices=("auto", "anaconda", "simple"), default="auto",
                        help="listing type (default: anaconda for anaconda.org, else simple)")
    parser.add_argument("-p", "--package", help="project name (default: REPO_DIR of the CI files)")
    parser.add_argument("-j", "--jobs", type=int, default=4, help="parallel downloads")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds per socket operation")
    parser.add_argument("--attempts", type=int, default=4, help="tries per request")
    parser.add_argument("--expect", action="append", default=[], metavar="PYTHON:PLATFORM",
                        help="an expected wheel slot (repeat); default: the CI matrix")
    parser.add_argument("--no-gate", action="store_true", help="skip the completeness gate")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    return parser


def main(argv: Sequence[str] | None = None, root: Path | None = None) -> int:
    root = root or Path(__file__).resolve().parent.parent
    args = build_parser().parse_args(argv)
    try:
        package = args.package or default_package(root)
        directory = Path(args.wheelhouse or "release/installers").resolve()
        http = Http(timeout=args.timeout, attempts=max(1, args.attempts))
        files = list_files(http, args.url, package, args.version, args.source)
        if not files:
            raise MultibuildError(
                f"no files of {package} {args.version} at {redact_url(args.url)}"
            )
        outcomes = download_all(http, files, directory, jobs=args.jobs,
                                progress=not args.no_progress)
        for outcome in outcomes:
            state = "present" if outcome.skipped else "downloaded"
            print(f"{outcome.sha256}  {outcome.file.filename}  ({state})")
        print(f"{len(outcomes)} files in {directory}; sha256 in {directory / MANIFEST}")
        if args.no_gate:
            return 0
        pairs = parse_expect(args.expect) if args.expect else matrix_pairs(root)
        gate = check_complete([o.file.filename for o in outcomes], expected_slots(pairs))
        if not gate.ok:
            print(gate.report(), file=sys.stderr)
            print(f"error: incomplete set: {len(gate.missing)} missing, "
                  f"{len(gate.unexpected)} unexpected", file=sys.stderr)
            return 1
        print(f"complete: {len(pairs)} expected wheels present")
        return 0
    except MultibuildError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
