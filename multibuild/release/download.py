"""Fetch a release's wheels back from the staging channel, verified, and check the set.

Sources:
- anaconda.org: the API's file list (``https://api.anaconda.org/package/ORG/PKG/files``, JSON
  with each file's ``basename``, ``version``, ``sha256``/``md5`` and ``download_url``) when it
  answers, else the HTML files listing (``https://anaconda.org/ORG/PKG/files``, every
  ``?page=N`` followed; no checksums there);
- any PEP 503 (HTML) or PEP 691 (JSON) simple index, sha256 taken from the index.

Every file is verified before it is kept: against the listing's sha256 (or md5) where it gives
one, otherwise by opening it (``multibuild.net.wheelcheck``: a complete zip whose WHEEL, METADATA
and RECORD match the file name; an sdist that reads to its end). A bad file is removed, never
recorded, and fetched again on the next run; a file already present is kept only if it passes
the same checks (a manifest entry alone vouches for nothing).

Downloads run in parallel through ``multibuild.net.fetch`` (timeouts, deadline, bounded retries,
``.part`` names removed on any exit); each completed file's sha256 is merged into
``sha256sums.txt`` (``sha256sum -c`` format) under a lock as soon as it is verified, so an
interrupted run keeps what it finished and a rerun completes it. One Ctrl-C or SIGTERM stops
every download at once.

The completeness gate compares the wheels with the expected (Python x platform) set.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import urllib.parse
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import NoReturn

from packaging.tags import Tag
from packaging.utils import (
    parse_wheel_filename,
)

from multibuild import MultibuildError, UsageError, run_cli
from multibuild.core.platforms import wheel_os
from multibuild.core.refs import shown
from multibuild.net.fetch import (
    MANIFEST,
    Cancelled,
    DeadlinePassed,
    FetchError,
    Http,
    Interrupted,
    check_url,
    exit_status,
    read_manifest,
    redact_url,
    sha256_file,
    sigterm_raises,
    update_manifest,
    write_manifest,
)
from multibuild.net.index import (
    PROJECT_NAME,
    RemoteFile,
    check_file_name,
    check_project_name,
    fetch_file,
    is_release_file,
    list_simple,
    load_json,
    page_links,
    parse_release_version,
    present_digest,
)

__all__ = [  # the download API other modules use (Http and friends live in multibuild.net.fetch)
    "MANIFEST", "DownloadError", "Http", "RemoteFile", "download_all", "fetch_file",
    "list_files", "list_simple", "read_manifest", "redact_url", "sha256_file",
    "write_manifest",
]

DEFAULT_STAGING_URL = "https://anaconda.org/multibuild-wheels-staging"
ANACONDA_HOSTS = ("anaconda.org", "www.anaconda.org")
ANACONDA_API = "https://api.anaconda.org"
_MAX_PAGES = 500

DownloadError = FetchError  # the historical name
# Every request of one release download together (listing, every file, every retry): any
# mix of hanging, dripping or failing servers ends the run by then.
DEFAULT_TOTAL_DEADLINE = 900.0
TOTAL_DEADLINE_VAR = "MB_DOWNLOAD_TOTAL_DEADLINE"


# --------------------------------------------------------------------------- listings


def anaconda_files_url(base: str, package: str, version: str | None = None) -> str:
    """The files listing of ``package`` in the channel at ``base`` (``.../ORG``)."""
    url = base.rstrip("/") + "/" + package + "/files"
    return url + ("?" + urllib.parse.urlencode({"version": version}) if version else "")


def anaconda_api_url(base: str) -> str | None:
    """The API serving the channel at ``base``: api.anaconda.org for anaconda.org, else none
    unless given (``--api-url``, ``MB_ANACONDA_API_URL``)."""
    explicit = os.environ.get("MB_ANACONDA_API_URL")
    if explicit is not None:
        try:
            return check_url(explicit, "MB_ANACONDA_API_URL")
        except FetchError as exc:
            raise UsageError(str(exc)) from None
    return ANACONDA_API if is_anaconda(base) else None


def anaconda_org(url: str) -> str:
    """ORG of a channel URL ``https://anaconda.org/ORG``; one line for anything else."""
    path = [p for p in urllib.parse.urlsplit(url).path.split("/") if p]
    if len(path) != 1 or not PROJECT_NAME.fullmatch(path[0]):
        raise UsageError(f"{redact_url(url)!r}: an anaconda.org channel URL names one "
                         "organisation: https://anaconda.org/ORG")
    return path[0]


def _hexdigest(value: object, length: int) -> str | None:
    if isinstance(value, str) and re.fullmatch(f"[0-9a-fA-F]{{{length}}}", value):
        return value.lower()
    return None


def list_anaconda_api(http: Http, api: str, base: str, package: str,
                      version: str) -> list[RemoteFile]:
    """Files of ``package`` at ``version`` from the anaconda.org API, with their checksums.

    ``GET {api}/package/{org}/{package}/files`` answers a JSON list, one object per file:
    ``basename``, ``version``, ``sha256``, ``md5``, ``download_url`` (``//host/path``), ...
    """
    wanted = parse_release_version(version)
    org = anaconda_org(base)
    url = f"{api.rstrip('/')}/package/{org}/{package}/files"
    body, _ctype, final = http.get(url, accept="application/json")
    try:
        entries = load_json(body)
        if not isinstance(entries, list):
            raise ValueError("not a list")
    except ValueError:
        raise FetchError(f"{redact_url(url)}: not the API's JSON file list") from None
    found: dict[str, RemoteFile] = {}
    for entry in entries:
        if not isinstance(entry, dict) or not isinstance(entry.get("basename"), str):
            continue
        name = entry["basename"].rsplit("/", 1)[-1]
        if not is_release_file(name, package, wanted):
            continue
        link = entry.get("download_url")
        if isinstance(link, str) and link:
            href = urllib.parse.urljoin(final, link)
        else:
            href = f"{base.rstrip('/')}/{package}/{version}/download/{name}"
        found[name] = RemoteFile(name, href, _hexdigest(entry.get("sha256"), 64),
                                 _hexdigest(entry.get("md5"), 32))
    return sorted(found.values(), key=lambda f: f.filename)


def list_anaconda(http: Http, base: str, package: str, version: str,
                  api: str | None = None) -> list[RemoteFile]:
    """Files of ``package`` at ``version`` in an anaconda.org channel: from the API (with
    checksums) when there is one and it answers, else from every page of the HTML listing."""
    api = api or anaconda_api_url(base)
    if api:
        try:
            return list_anaconda_api(http, api, base, package, version)
        except Cancelled:
            raise
        except FetchError as exc:
            print(f"warning: {exc}; using the HTML files listing (no checksums: every file is "
                  "verified by its contents)", file=sys.stderr, flush=True)
    return list_anaconda_html(http, base, package, version)


def list_anaconda_html(http: Http, base: str, package: str, version: str) -> list[RemoteFile]:
    """Files of ``package`` at ``version`` from every page of the HTML files listing."""
    wanted = parse_release_version(version)
    start = anaconda_files_url(base, package, version)
    listing_path = urllib.parse.urlsplit(start).path
    queue, seen = [start], {"1"}  # pages by number; the start URL is page 1
    found: dict[str, RemoteFile] = {}
    while queue:
        if len(seen) > _MAX_PAGES:
            raise DownloadError(f"{redact_url(start)}: more than {_MAX_PAGES} listing pages")
        page = queue.pop(0)
        body, _ctype, final = http.get(page, accept="text/html")
        for href, _text in page_links(body.decode("utf-8", "replace")):
            absolute = urllib.parse.urljoin(final, href)
            parts = urllib.parse.urlsplit(absolute)
            if "/download/" in parts.path:
                name = urllib.parse.unquote(parts.path.rsplit("/", 1)[-1])
                if is_release_file(name, package, wanted):
                    found.setdefault(name, RemoteFile(name, absolute))
            elif parts.path == listing_path and "page=" in parts.query:
                number = urllib.parse.parse_qs(parts.query).get("page", ["1"])[0]
                if number not in seen:
                    seen.add(number)
                    queue.append(urllib.parse.urlunsplit(parts._replace(fragment="")))
    return sorted(found.values(), key=lambda f: f.filename)


def is_anaconda(url: str) -> bool:
    try:
        return (urllib.parse.urlsplit(url).hostname or "") in ANACONDA_HOSTS
    except ValueError:
        return False


def list_files(http: Http, url: str, package: str, version: str,
               source: str = "auto", api: str | None = None) -> list[RemoteFile]:
    """Dispatch on ``source``: ``anaconda``, ``simple`` or ``auto`` (by host name)."""
    if source == "auto":
        source = "anaconda" if is_anaconda(url) else "simple"
    if source == "anaconda":
        anaconda_org(url)
        return list_anaconda(http, url, package, version, api)
    if source == "simple":
        return list_simple(http, url, package, version)
    raise MultibuildError(f"unknown source {source!r}; use anaconda, simple or auto")


# --------------------------------------------------------------------------- downloads


@dataclass
class Outcome:
    file: RemoteFile
    path: Path
    sha256: str
    skipped: bool


def download_all(http: Http, files: Sequence[RemoteFile], directory: Path, *, jobs: int = 4,
                 clobber: bool = False, progress: bool = True,
                 log: Callable[[str], None] | None = None) -> list[Outcome]:
    """Fetch ``files`` in parallel into ``directory``, each verified; the manifest records
    each one as soon as it is complete (merged under a lock with what is on disk)."""
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    for file in files:
        check_file_name(file.filename)
    directory.mkdir(parents=True, exist_ok=True)
    manifest = read_manifest(directory)
    outcomes: list[Outcome] = []
    todo: list[RemoteFile] = []
    stale: list[str] = []
    for file in files:
        path = directory / file.filename
        valid = None if clobber else present_digest(path, file, manifest.get(file.filename))
        if valid is not None:
            outcomes.append(Outcome(file, path, valid, skipped=True))
            continue
        if os.path.lexists(path) and not clobber:
            if log is not None:
                log(f"{file.filename}: the copy present fails verification; fetching it again")
            path.unlink()
        stale.append(file.filename)
        todo.append(file)
    update_manifest(directory, {o.file.filename: o.sha256 for o in outcomes}, remove=stale)
    errors: list[str] = []
    late: list[str] = []  # not fetched before the whole run's deadline
    columns = (TextColumn("[bold]{task.description}"), BarColumn(), DownloadColumn(),
               TransferSpeedColumn(), TimeRemainingColumn())
    with Progress(*columns, disable=not progress, transient=False) as bar:
        task = bar.add_task(f"{len(todo)} files", total=None)

        def advance(n: int) -> None:
            bar.advance(task, n)

        pool = ThreadPoolExecutor(max_workers=max(1, jobs))
        try:
            futures = {pool.submit(fetch_file, http, f, directory, advance): f for f in todo}
            for future in as_completed(futures):
                file = futures[future]
                try:
                    path, digest = future.result()
                except Cancelled:
                    continue
                except DeadlinePassed:
                    late.append(file.filename)
                    continue
                except MultibuildError as exc:
                    errors.append(str(exc))
                    continue
                update_manifest(directory, {file.filename: digest})
                outcomes.append(Outcome(file, path, digest, skipped=False))
        except BaseException:
            # Ctrl-C, SIGTERM: stop every download now (their .part files go with them).
            http.cancel()
            pool.shutdown(wait=True, cancel_futures=True)
            raise
        finally:
            pool.shutdown(wait=True)
    if late:
        raise DeadlinePassed(
            f"the {http.total_deadline:g}s deadline of the whole download passed with "
            f"{len(late)} of {len(todo)} files not fetched (first: {sorted(late)[0]}); "
            f"--total-deadline or {TOTAL_DEADLINE_VAR} sets it; run again to fetch the rest"
            + (f"; also: {'; '.join(sorted(errors))}" if errors else ""))
    if errors:
        raise FetchError("; ".join(sorted(errors)))
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


def matrix_pairs(root: Path, service: str | None = None) -> list[tuple[str, str]]:
    """(python, platform key) pairs of the build jobs of every CI file (``multibuild.ci.cimatrix``),
    or of one service's file (``github``: what the release workflow's builds make).

    Platform keys are the platform table's (``linux-x86_64``, ``windows-win_amd64``).
    """
    try:
        from multibuild.ci import cimatrix
    except ImportError:
        raise MultibuildError(
            "no CI matrix reader (multibuild.ci.cimatrix); pass --expect PYTHON:PLATFORM"
        ) from None
    pairs = sorted({
        (job.python, f"{job.os}-{job.plat}")
        for job in cimatrix.expand(root)
        if job.kind == "build" and job.python and job.plat
        and (service is None or job.service == service)
    })
    if not pairs:
        which = f"the {service} CI file" if service else "the CI files"
        raise MultibuildError(f"{which} under {root} define no build jobs")
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


class OneLineParser(argparse.ArgumentParser):
    """argparse whose errors are one line (``error: ...``) and exit status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"error: {message} (see {self.prog} --help)\n")


def nonempty(value: str, option: str) -> str:
    """An option's value, refusing an empty one (which would mean the default)."""
    if not value.strip():
        raise UsageError(f"{option} '': empty value (leave the option out for the default)")
    return value


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be 1 or more")
    return value


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r} must be a positive number of seconds")
    return value


def check_destination(path: Path, option: str = "-w") -> Path:
    """A directory to download into: it may not exist yet; it may not be a file, a link to
    nothing, or hold a manifest that is not a file."""
    try:
        if path.is_symlink() and not path.exists():
            raise UsageError(f"{option} {shown(str(path))}: a link to a missing directory; "
                             "refused (it would be created where the link points)")
        if os.path.lexists(path) and not path.is_dir():
            raise UsageError(f"{option} {shown(str(path))}: exists and is not a directory")
        manifest = path / MANIFEST
        if os.path.lexists(manifest) and (manifest.is_symlink() or not manifest.is_file()):
            raise UsageError(f"{option} {shown(str(path))}: {MANIFEST} there is not a regular "
                             "file")
        parent = path.parent if not path.exists() else path
        while not parent.exists():
            parent = parent.parent
        if not parent.is_dir() or not os.access(parent, os.W_OK):
            raise UsageError(f"{option} {shown(str(path))}: {parent} is not a writable "
                             "directory")
    except OSError as exc:
        raise UsageError(f"{option} {shown(str(path))}: {exc.strerror}") from None
    return path


def default_package(root: Path) -> str:
    from multibuild.ci.cifiles import azure_variables

    name = os.environ.get("MB_PACKAGE_NAME") or azure_variables(root).get("REPO_DIR", "")
    if not name:
        raise UsageError("no package name: pass --package or set MB_PACKAGE_NAME")
    return check_project_name(name, "MB_PACKAGE_NAME" if os.environ.get("MB_PACKAGE_NAME")
                              else "REPO_DIR")


def add_source_arguments(parser: argparse.ArgumentParser) -> None:
    """The options download-wheels and wheel-uploader share."""
    parser.add_argument("--source", choices=("auto", "anaconda", "simple"), default="auto",
                        help="listing type (default: anaconda for anaconda.org, else simple)")
    parser.add_argument("--api-url", default=None,
                        help="anaconda API serving the channel (default: https://api.anaconda.org "
                        "for anaconda.org; MB_ANACONDA_API_URL)")
    parser.add_argument("-j", "--jobs", type=positive_int, default=4, help="parallel downloads")
    parser.add_argument("--timeout", type=positive_float, default=60.0,
                        help="seconds for each socket operation (default: 60)")
    parser.add_argument("--deadline", type=positive_float, default=1800.0,
                        help="seconds for each whole download, retries included (default: 1800)")
    parser.add_argument("--total-deadline", type=positive_float, default=None,
                        help="seconds for every request of the run together, listing included "
                        f"(default: {DEFAULT_TOTAL_DEADLINE:g}, or {TOTAL_DEADLINE_VAR})")
    parser.add_argument("--attempts", type=positive_int, default=4, help="tries per request")
    parser.add_argument("--expect", action="append", default=[], metavar="PYTHON:PLATFORM",
                        help="an expected wheel slot (repeat); default: the CI matrix")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def build_parser(prog: str = "download-wheels.py") -> argparse.ArgumentParser:
    parser = OneLineParser(
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
    parser.add_argument("-p", "--package", help="project name (default: REPO_DIR of the CI files)")
    add_source_arguments(parser)
    parser.add_argument("--no-gate", action="store_true", help="skip the completeness gate")
    return parser


def total_deadline(args: argparse.Namespace, environ: Mapping[str, str]) -> float:
    """--total-deadline, else MB_DOWNLOAD_TOTAL_DEADLINE, else the default (15 minutes)."""
    if args.total_deadline is not None:
        return float(args.total_deadline)
    raw = environ.get(TOTAL_DEADLINE_VAR, "").strip()
    if not raw:
        return DEFAULT_TOTAL_DEADLINE
    try:
        return positive_float(raw)
    except argparse.ArgumentTypeError as exc:
        raise UsageError(f"{TOTAL_DEADLINE_VAR}: {exc}") from None


def http_from_args(args: argparse.Namespace, environ: Mapping[str, str] | None = None) -> Http:
    return Http(timeout=args.timeout, attempts=args.attempts, deadline=args.deadline,
                total_deadline=total_deadline(args, os.environ if environ is None else environ))


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def main(argv: Sequence[str] | None = None, root: Path | None = None) -> int:
    root = root or Path(__file__).resolve().parents[2]
    args = build_parser().parse_args(argv)

    def body() -> int:
        directory = Path("release/installers")
        with sigterm_raises():
            # Every input is checked before the first request.
            parse_release_version(args.version)
            check_url(args.url, "-u")
            if args.api_url:
                check_url(args.api_url, "--api-url")
            if args.wheelhouse is not None:
                directory = Path(nonempty(args.wheelhouse, "-w"))
            directory = check_destination(directory).resolve()
            package = (check_project_name(args.package) if args.package is not None
                       else default_package(root))
            pairs = None
            if not args.no_gate:
                pairs = parse_expect(args.expect) if args.expect else matrix_pairs(root)
            http = http_from_args(args)
            if is_anaconda(args.url) or args.source == "anaconda":
                anaconda_org(args.url)
                anaconda_api_url(args.url)
            try:
                files = list_files(http, args.url, package, args.version, args.source,
                                   args.api_url)
                if not files:
                    raise MultibuildError(
                        f"no files of {package} {args.version} at {redact_url(args.url)}"
                    )
                outcomes = download_all(http, files, directory, jobs=args.jobs,
                                        progress=not args.no_progress, log=say)
            except (KeyboardInterrupt, Interrupted) as exc:
                done = len(read_manifest(directory)) if directory.is_dir() else 0
                say(f"download-wheels: interrupted; {done} verified files recorded in "
                    f"{directory / MANIFEST}; run again to finish")
                return exit_status(exc)
            for outcome in outcomes:
                state = "present" if outcome.skipped else "downloaded"
                print(f"{outcome.sha256}  {outcome.file.filename}  ({state})")
            print(f"{len(outcomes)} files in {directory}; sha256 in {directory / MANIFEST}")
            if pairs is None:
                return 0
            gate = check_complete([o.file.filename for o in outcomes], expected_slots(pairs))
            if not gate.ok:
                print(gate.report(), file=sys.stderr)
                print(f"error: incomplete set: {len(gate.missing)} missing, "
                      f"{len(gate.unexpected)} unexpected", file=sys.stderr)
                return 1
            print(f"complete: {len(pairs)} expected wheels present")
            return 0

    try:
        return run_cli(body, 2)
    except (KeyboardInterrupt, Interrupted) as exc:
        say("download-wheels: interrupted")
        return exit_status(exc)


if __name__ == "__main__":
    sys.exit(main())
