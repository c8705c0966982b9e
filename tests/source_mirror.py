"""A loopback source mirror for the library-builder tests, and real upstream archives from
Debian's source packages.

:class:`Mirror` serves a directory on 127.0.0.1 the way ``MB_SOURCE_MIRROR`` expects (each
archive under its file name), logs every request and can fail a path a given number of times.
:func:`debian_origs` obtains Debian's ``.orig`` tarballs with apt (a private configuration under
the cache directory: no change to the system's apt sources) and keeps them between runs.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any


class Mirror:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.requests: list[str] = []
        self.failures: dict[str, int] = {}  # path -> how many more 503 answers
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def hits(self, name: str) -> int:
        return sum(1 for path in self.requests if path.rsplit("/", 1)[-1] == name)

    def fail(self, name: str, times: int) -> None:
        self.failures["/" + name] = times

    def start(self) -> None:
        mirror = self

        class Handler(SimpleHTTPRequestHandler):
            def do_GET(self) -> None:
                mirror.requests.append(self.path)
                left = mirror.failures.get(self.path, 0)
                if left:
                    mirror.failures[self.path] = left - 1
                    self.send_error(503, "try again")
                    return
                super().do_GET()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        handler = partial(Handler, directory=str(self.root))
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


@contextmanager
def serving(root: Path) -> Iterator[Mirror]:
    mirror = Mirror(root)
    mirror.start()
    try:
        yield mirror
    finally:
        mirror.stop()


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --------------------------------------------------------------------------------------------
# Debian source packages.

DEBIAN_SUITES = ("bookworm", "bookworm-updates")
KEYRING = Path("/usr/share/keyrings/debian-archive-keyring.gpg")


class DebianUnavailable(Exception):
    """Debian's source archives cannot be fetched here (the message says why)."""


def _apt(config: Path, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    state = config.parent
    options = [
        "-o", f"Dir::Etc::sourcelist={config}", "-o", "Dir::Etc::sourceparts=/nonexistent",
        "-o", f"Dir::State::Lists={state / 'lists'}", "-o", f"Dir::Cache={state / 'cache'}",
        "-o", "APT::Sandbox::User=root",  # no switch to _apt, who cannot write our cache
    ]
    return subprocess.run([args[0], *options, *args[1:]], cwd=cwd, capture_output=True,
                          text=True, timeout=900, check=False)


def _apt_config(state: Path) -> Path:
    if shutil.which("apt-get") is None:
        raise DebianUnavailable("apt-get is not installed (a Debian or Ubuntu host is needed)")
    if not KEYRING.is_file():
        raise DebianUnavailable(f"{KEYRING} is missing (apt-get install debian-archive-keyring)")
    for sub in ("lists/partial", "cache/archives/partial"):
        (state / sub).mkdir(parents=True, exist_ok=True)
    config = state / "sources.list"
    lines = [f"deb-src [signed-by={KEYRING}] http://deb.debian.org/debian {suite} main"
             for suite in DEBIAN_SUITES]
    lines.append(f"deb-src [signed-by={KEYRING}] http://deb.debian.org/debian-security "
                 "bookworm-security main")
    config.write_text("\n".join(lines) + "\n")
    done = _apt(config, "apt-get", "update")
    if done.returncode != 0:
        raise DebianUnavailable("apt-get update of Debian's source index failed: "
                                + (done.stderr.strip().splitlines() or ["?"])[-1])
    return config


def _versions(config: Path, package: str) -> list[str]:
    done = _apt(config, "apt-cache", "showsrc", package)
    found = [line.split(":", 1)[1].strip() for line in done.stdout.splitlines()
             if line.startswith("Version:")]
    return list(dict.fromkeys(reversed(found)))  # newest last in apt's output


def debian_origs(cache: Path, wanted: Iterable[tuple[str, str, str]]) -> dict[str, Path]:
    """Debian's ``.orig`` archives ``(package, orig file name, sha256)``, from ``cache`` or
    fetched into it with ``apt-get source --download-only`` (each version of the package
    until one brings that file)."""
    cache.mkdir(parents=True, exist_ok=True)
    found: dict[str, Path] = {}
    config: Path | None = None
    for package, orig, digest in wanted:
        path = cache / orig
        if path.is_file() and sha256(path) == digest:
            found[orig] = path
            continue
        if config is None:
            config = _apt_config(cache / "apt")
        for version in _versions(config, package):
            with tempfile.TemporaryDirectory(dir=cache) as scratch:
                _apt(config, "apt-get", "source", "--download-only", "-qq",
                     f"{package}={version}", cwd=Path(scratch))
                got = Path(scratch) / orig
                if got.is_file() and sha256(got) == digest:
                    os.replace(got, path)
                    break
        if not path.is_file():
            raise DebianUnavailable(f"apt-get source {package} did not bring {orig} "
                                    f"(sha256 {digest[:12]}...)")
        found[orig] = path
    return found
