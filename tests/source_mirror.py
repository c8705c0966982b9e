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
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from multibuild.build.debimage import DebianUnavailable as DebianUnavailable  # re-exported
from multibuild.build.debimage import deb_src_lines, debian_mirror
from multibuild.build.debimage import debian_origs as debimage_origs


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
# Debian source packages (multibuild.build.debimage fetches them with a private apt configuration).

DEBIAN_SUITES = ("bookworm", "bookworm-updates")


def debian_origs(cache: Path, wanted: Iterable[tuple[str, str, str]]) -> dict[str, Path]:
    """Debian's ``.orig`` archives ``(package, orig file name, sha256)`` of bookworm, from
    ``cache`` or fetched into it with ``apt-get source --download-only``."""
    lines = deb_src_lines(debian_mirror(os.environ), DEBIAN_SUITES, ("bookworm-security",))
    return debimage_origs(cache, wanted, lines)
