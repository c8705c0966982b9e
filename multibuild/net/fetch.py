"""The one HTTP download layer of the project (standard library only).

Every download (OpenBLAS tarballs, sdists for the mirror, staged wheels, index pages) goes
through :class:`Http`:

- only ``http``/``https`` URLs; anything else (``file://``, ``ftp://``, a malformed URL) fails at
  once with one line, never retried;
- a timeout on every socket operation **and** an overall deadline per request, retries
  included: a server trickling a few bytes a second is given up when the deadline passes (a
  watchdog shuts the connection down, wherever the read is blocked);
- bounded retries, only for transient failures: 5xx and 429 answers, refused or reset
  connections, timeouts, truncated bodies; other 4xx answers fail at once;
- :meth:`Http.cancel` stops every download in flight at once (Ctrl-C, SIGTERM).

:func:`download` streams a URL to a file through ``multibuild.core.files.atomic_path`` (a ``.part``
name beside it, removed on any exit, the umask's mode once complete) and checks the length and
the sha256. :func:`update_manifest` merges entries into ``sha256sums.txt`` under an exclusive
``fcntl`` lock, so two tools writing one directory keep each other's entries.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import http.client
import signal
import socket
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from multibuild import MultibuildError
from multibuild.core.files import atomic_path, atomic_write, file_lock
from multibuild.core.urls import redact_url as redact_url  # re-exported: its old home

MANIFEST = "sha256sums.txt"
_CHUNK = 1 << 16
SCHEMES = ("http", "https")


class FetchError(MultibuildError):
    """A request that failed (after its bounded retries, where the failure was transient)."""


class Cancelled(FetchError):
    """Downloads were cancelled (an interrupt)."""


class DeadlinePassed(FetchError):
    """The deadline for every request of a client together (``total_deadline``) passed."""


def url_problem(url: str) -> str | None:
    """Why ``url`` cannot be fetched (one phrase), or None for a usable http(s) URL."""
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port  # raises ValueError on a bad port
    except ValueError as exc:
        return f"malformed URL ({exc})"
    del port
    if not parts.scheme:
        return "not a URL (expected http:// or https://)"
    if parts.scheme.lower() not in SCHEMES:
        return f"unsupported URL scheme {parts.scheme}:// (only http:// and https://)"
    if not parts.hostname:
        return "malformed URL (no host)"
    if any(c in url for c in " \t\r\n"):
        return "malformed URL (contains white space)"
    if "@" in parts.netloc:
        return ("a URL with user:password@ is refused (credentials go in the token variable "
                "or .pypirc, never in a URL)")
    if not parts.hostname.isascii() or not url.isascii():
        return "non-ASCII characters (percent-encode them)"
    return None


Origin = tuple[str, str, int]


def origin(url: str) -> Origin:
    """(scheme, host, port) of ``url``, the default port filled in: where credentials
    configured for ``url`` may go, and nowhere else."""
    parts = urllib.parse.urlsplit(url)
    scheme = parts.scheme.lower()
    return scheme, (parts.hostname or "").lower(), parts.port or (443 if scheme == "https"
                                                                  else 80)


def check_url(url: str, what: str = "URL") -> str:
    """``url`` itself when usable, else a one-line :class:`FetchError` naming it."""
    problem = url_problem(url)
    if problem is not None:
        raise FetchError(f"{what} {redact_url(url)!r}: {problem}")
    return url


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


# --------------------------------------------------------------------------- the watchdog


class _Watch:
    """The sockets of one request; :meth:`kill` shuts them down (deadline or cancel)."""

    def __init__(self) -> None:
        self.sockets: list[socket.socket] = []
        self.reason = ""
        self.lock = threading.Lock()

    def add(self, sock: socket.socket) -> None:
        with self.lock:
            self.sockets.append(sock)
            if self.reason:
                _shutdown(sock)

    def kill(self, reason: str) -> None:
        with self.lock:
            if not self.reason:
                self.reason = reason
            for sock in self.sockets:
                _shutdown(sock)


def _shutdown(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)


def _handlers(watch: _Watch, auth_origin: Origin | None,
              same_origin: bool) -> list[urllib.request.BaseHandler]:
    """urllib's HTTP(S) handlers whose connections report their sockets to ``watch``, and
    whose redirects never carry credentials away from ``auth_origin``, never go from https
    to http, and with ``same_origin`` never leave the origin asked of."""

    class WatchedHTTP(http.client.HTTPConnection):
        def connect(self) -> None:
            super().connect()
            watch.add(self.sock)

    class WatchedHTTPS(http.client.HTTPSConnection):
        def connect(self) -> None:
            super().connect()
            watch.add(self.sock)

    class HTTPHandler(urllib.request.HTTPHandler):
        def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
            return self.do_open(WatchedHTTP, req)

    class HTTPSHandler(urllib.request.HTTPSHandler):
        def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
            return self.do_open(WatchedHTTPS, req, context=self._context)  # type: ignore[attr-defined]

    class RedirectHandler(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, req: urllib.request.Request, fp: Any, code: int, msg: str,
                             headers: Any, newurl: str) -> urllib.request.Request | None:
            if url_problem(newurl) is not None:
                raise FetchError(f"{redact_url(req.full_url)}: redirected to an unsupported "
                                 f"URL {redact_url(newurl)!r}")
            old, new = origin(req.full_url), origin(newurl)
            if old[0] == "https" and new[0] != "https":
                raise FetchError(f"{redact_url(req.full_url)} redirected to "
                                 f"{redact_url(newurl)}: from https to http; refused")
            if same_origin and new != old:
                raise FetchError(f"{redact_url(req.full_url)} redirected to "
                                 f"{redact_url(newurl)}, another host; a listing is trusted "
                                 "only from the host it was asked of")
            redirected = super().redirect_request(req, fp, code, msg, headers, newurl)
            if redirected is not None and new != auth_origin:
                # urllib copies every header to the new request: the credentials stay home.
                redirected.remove_header("Authorization")
            return redirected

    return [HTTPHandler(), HTTPSHandler(), RedirectHandler()]


class _Body:
    """A response body read in pieces as they arrive, within the deadline and size bound."""

    def __init__(self, response: Any, http: Http, watch: _Watch, deadline: float,
                 max_bytes: int | None, label: str) -> None:
        self.response = response
        self.watch = watch
        self.http = http
        self.deadline = deadline
        self.max_bytes = max_bytes
        self.label = label
        self.received = 0
        length = response.headers.get("Content-Length")
        self.length = int(length) if length and length.strip().isdigit() else None
        if max_bytes is not None and self.length is not None and self.length > max_bytes:
            raise FetchError(f"{label}: {self.length} bytes announced, more than the limit of "
                             f"{max_bytes}")

    def chunks(self) -> Iterator[bytes]:
        reader = getattr(self.response, "read1", None) or self.response.read
        while True:
            self.http.check_cancelled()
            chunk = reader(_CHUNK)
            if not chunk:
                break
            self.received += len(chunk)
            if self.max_bytes is not None and self.received > self.max_bytes:
                raise FetchError(f"{self.label}: more than the limit of {self.max_bytes} bytes")
            if time.monotonic() > self.deadline:
                raise TimeoutError("deadline")
            yield chunk
        if self.watch.reason:  # the watchdog ended the body early: not a complete file
            self.http.check_cancelled()
            raise TimeoutError("deadline")
        if self.length is not None and self.received != self.length:
            raise http.client.IncompleteRead(b"", self.length - self.received)

    def read_all(self) -> bytes:
        return b"".join(self.chunks())


# --------------------------------------------------------------------------- the client


@dataclass
class Http:
    """HTTP GET with per-operation timeouts, an overall deadline and bounded retries.

    ``timeout``: seconds for any one socket operation (connect, each read);
    ``deadline``: seconds for a whole request, every attempt and wait included;
    ``total_deadline``: seconds for every request of this client together, counted from the
    first (a whole release download: any mix of slow servers ends then);
    ``attempts``: tries for transient failures; ``backoff``: seconds, times the attempt number;
    ``auth``: (user, password) sent only to the origin (scheme, host, port) of ``auth_url``.
    """

    timeout: float = 60.0
    attempts: int = 4
    backoff: float = 1.0
    deadline: float = 1800.0
    auth: tuple[str, str] | None = None
    auth_url: str = ""
    total_deadline: float | None = None
    user_agent: str = "wheels-repo-fetch/2"
    sleep: Callable[[float], None] = time.sleep
    log: Callable[[str], None] | None = None
    _cancelled: threading.Event = field(default_factory=threading.Event, repr=False)
    _watches: set[_Watch] = field(default_factory=set, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _run_end: float | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        for name in ("timeout", "deadline"):
            if not getattr(self, name) > 0:
                raise FetchError(f"{name} must be a positive number of seconds")
        if self.total_deadline is not None and not self.total_deadline > 0:
            raise FetchError("total_deadline must be a positive number of seconds")
        if self.auth is not None and url_problem(self.auth_url) is not None:
            raise FetchError("credentials need the URL they are for (auth_url)")
        if self.attempts < 1:
            raise FetchError("attempts must be at least 1")
        if self.backoff < 0:
            raise FetchError("backoff must not be negative")

    @property
    def auth_origin(self) -> Origin | None:
        return origin(self.auth_url) if self.auth is not None else None

    # ----------------------------------------------------------------- cancel (interrupts)

    def cancel(self) -> None:
        """Stop every request of this client now; later ones fail with :class:`Cancelled`."""
        self._cancelled.set()
        with self._lock:
            watches = list(self._watches)
        for watch in watches:
            watch.kill("cancelled")

    @property
    def cancelled(self) -> bool:
        return self._cancelled.is_set()

    def check_cancelled(self) -> None:
        if self._cancelled.is_set():
            raise Cancelled("interrupted")

    # ----------------------------------------------------------------- requests

    def _request(self, url: str, accept: str | None) -> urllib.request.Request:
        headers = {"User-Agent": self.user_agent}
        if accept:
            headers["Accept"] = accept
        if self.auth is not None and origin(url) == self.auth_origin:
            raw = f"{self.auth[0]}:{self.auth[1]}".encode()
            headers["Authorization"] = "Basic " + base64.b64encode(raw).decode()
        return urllib.request.Request(url, headers=headers)

    def _end(self, start: float) -> tuple[float, bool]:
        """When a request started at ``start`` must end, and whether that is the run's end."""
        own = start + self.deadline
        if self.total_deadline is None:
            return own, False
        with self._lock:
            if self._run_end is None:
                self._run_end = start + self.total_deadline
            run_end = self._run_end
        return min(own, run_end), run_end <= own

    def with_retries(self, url: str, action: Callable[[_Body], Any], accept: str | None = None,
                     on_retry: Callable[[], None] | None = None,
                     max_bytes: int | None = None, same_origin: bool = False) -> Any:
        """Open ``url`` and return ``action(body)``, retrying transient failures.
        ``same_origin``: refuse a redirect to another origin (listings)."""
        check_url(url)
        shown = redact_url(url)
        start = time.monotonic()
        deadline, run_bound = self._end(start)
        last = ""
        attempt = 0
        for attempt in range(1, self.attempts + 1):
            self.check_cancelled()
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            watch = _Watch()
            timer = threading.Timer(remaining, watch.kill, args=("deadline",))
            timer.daemon = True
            with self._lock:
                self._watches.add(watch)
            if self._cancelled.is_set():
                watch.kill("cancelled")
            timer.start()
            try:
                opener = urllib.request.build_opener(
                    *_handlers(watch, self.auth_origin, same_origin))
                with opener.open(self._request(url, accept),
                                 timeout=min(self.timeout, remaining)) as response:
                    return action(_Body(response, self, watch, deadline, max_bytes, shown))
            except urllib.error.HTTPError as exc:
                if exc.code < 500 and exc.code != 429:
                    raise FetchError(f"{shown}: HTTP {exc.code} {exc.reason}") from None
                last = f"HTTP {exc.code} {exc.reason}"
            except (urllib.error.URLError, ConnectionError, TimeoutError, socket.timeout,
                    http.client.HTTPException, OSError) as exc:
                if watch.reason == "cancelled" or self._cancelled.is_set():
                    raise Cancelled("interrupted") from None
                reason = getattr(exc, "reason", None) or exc
                if watch.reason == "deadline" or str(reason) == "deadline":
                    last = f"not complete within the {self.deadline:g}s deadline"
                    break
                if isinstance(reason, ValueError):  # urllib: unknown type, bad host
                    raise FetchError(f"{shown}: {reason}") from None
                if isinstance(reason, (TimeoutError, socket.timeout)):
                    last = f"no answer within {self.timeout:g}s"
                elif isinstance(exc, http.client.IncompleteRead):
                    last = f"truncated body ({exc.expected} bytes missing)"
                else:
                    last = f"{type(reason).__name__}: {reason}"
            finally:
                timer.cancel()
                with self._lock:
                    self._watches.discard(watch)
            if on_retry is not None:
                on_retry()
            if attempt < self.attempts:
                if self.log is not None:
                    self.log(f"{shown}: {last}; attempt {attempt + 1}/{self.attempts}")
                wait = min(self.backoff * attempt, max(0.0, deadline - time.monotonic()))
                if wait > 0 and self.sleep is time.sleep:
                    self._cancelled.wait(wait)  # a cancel ends the wait at once
                elif wait > 0:
                    self.sleep(wait)
            self.check_cancelled()
        if run_bound and time.monotonic() >= deadline - 0.05:
            raise DeadlinePassed(f"{shown}: not complete when the {self.total_deadline:g}s "
                                 "deadline of the whole run passed")
        if time.monotonic() >= deadline and "deadline" not in last:
            last = f"{last + '; ' if last else ''}not complete within the " \
                   f"{self.deadline:g}s deadline"
        tries = f"{attempt} attempt{'' if attempt == 1 else 's'}"
        raise FetchError(f"download of {shown} failed after {tries}: {last}")

    def get(self, url: str, accept: str | None = None,
            max_bytes: int | None = 64 << 20) -> tuple[bytes, str, str]:
        """(body, content type, final URL after redirects) of a small document."""

        def read(body: _Body) -> tuple[bytes, str, str]:
            data = body.read_all()
            return data, body.response.headers.get("Content-Type", ""), body.response.geturl()

        # A document (an index page, a file list) is trusted only from the origin asked of.
        result: tuple[bytes, str, str] = self.with_retries(url, read, accept,
                                                           max_bytes=max_bytes, same_origin=True)
        return result


def download(http: Http, url: str, dest: Path, *, sha256: str | None = None,
             advance: Callable[[int], None] | None = None, max_bytes: int | None = None,
             check: Callable[[Path], None] | None = None) -> str:
    """Fetch ``url`` into ``dest`` (atomically; umask mode); return its sha256.

    ``sha256``: the expected digest (mismatch: nothing is kept, not retried);
    ``check(tmp_path)``: a further verification of the complete file before it is renamed
    into place (raise to reject it).
    """
    label = dest.name

    def save(body: _Body) -> str:
        received = 0
        try:
            with atomic_path(dest) as tmp:
                digest = hashlib.sha256()
                with open(tmp, "wb") as out:
                    for chunk in body.chunks():
                        out.write(chunk)
                        digest.update(chunk)
                        received += len(chunk)
                        if advance is not None:
                            advance(len(chunk))
                actual = digest.hexdigest()
                if sha256 and actual != sha256.lower():
                    raise FetchError(f"{label}: sha256 mismatch: expected {sha256}, downloaded "
                                     f"file has {actual}; file rejected")
                if check is not None:
                    check(tmp)
            return actual
        except BaseException:
            if advance is not None:
                advance(-received)
            raise

    result: str = http.with_retries(url, save, max_bytes=max_bytes)
    return result


# --------------------------------------------------------------------------- manifests


def parse_manifest(text: str) -> dict[str, str]:
    entries: dict[str, str] = {}
    for line in text.splitlines():
        digest, _, name = line.partition("  ")
        if not name and " *" in line:
            digest, _, name = line.partition(" *")
        digest = digest.strip().lower()
        if len(digest) == 64 and all(c in "0123456789abcdef" for c in digest) and name:
            entries[name.lstrip("*")] = digest
    return entries


def read_manifest(directory: Path) -> dict[str, str]:
    """``sha256sums.txt`` of ``directory`` as {file name: sha256}; unreadable lines skipped."""
    try:
        return parse_manifest((directory / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError):
        return {}


@contextlib.contextmanager
def manifest_lock(directory: Path) -> Iterator[None]:
    """An exclusive lock on ``directory``'s manifest (a lock file beside it)."""
    with file_lock(directory / f".{MANIFEST}.lock"):
        yield


def update_manifest(directory: Path, add: Mapping[str, str] | None = None,
                    remove: Iterable[str] = ()) -> dict[str, str]:
    """Merge ``add`` into (and drop ``remove`` from) the manifest on disk, under the lock."""
    with manifest_lock(directory):
        entries = read_manifest(directory)
        entries.update(add or {})
        for name in remove:
            entries.pop(name, None)
        text = "".join(f"{entries[name]}  {name}\n" for name in sorted(entries))
        atomic_write(directory / MANIFEST, text)
        return entries


def write_manifest(directory: Path, entries: Mapping[str, str]) -> None:
    """Record ``entries`` (merged with what is on disk at write time)."""
    update_manifest(directory, entries)


# --------------------------------------------------------------------------- interrupts


class Interrupted(BaseException):
    """SIGTERM turned into an exception, so that ``finally`` blocks run."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


@contextlib.contextmanager
def sigterm_raises() -> Iterator[None]:
    """In the main thread: SIGTERM raises :class:`Interrupted` (``finally`` blocks run)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, _frame: object) -> None:
        raise Interrupted(signum)

    old = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)


def raise_on_sigterm() -> None:
    """For a command's ``main``: from now on SIGTERM raises :class:`Interrupted`."""
    if threading.current_thread() is threading.main_thread():

        def handler(signum: int, _frame: object) -> None:
            raise Interrupted(signum)

        signal.signal(signal.SIGTERM, handler)


def exit_status(exc: BaseException) -> int:
    """The conventional exit status of an interrupt: 130 for SIGINT, 143 for SIGTERM."""
    if isinstance(exc, Interrupted):
        return 128 + exc.signum
    return 130


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)
