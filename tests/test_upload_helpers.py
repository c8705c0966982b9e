"""Helpers for the upload/download/wheel-uploader tests: tiny real wheels, a real pypiserver
with a password file, an anaconda.org-style file server, and a silent server. No tests here."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import http.server
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
TOKEN = "tok-SECRET-7f3a9c1e5b"
USER = "stager"


def record_hash(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def make_wheel(directory: Path, name: str = "tinypkg", version: str = "1.0.0",
               tag: str = "py3-none-any", payload: str = "", description: bool = True) -> Path:
    """A small, valid wheel (METADATA, WHEEL, RECORD with hashes) built with zipfile."""
    directory.mkdir(parents=True, exist_ok=True)
    dist = name.replace("-", "_")
    info = f"{dist}-{version}.dist-info"
    metadata = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\nSummary: tiny test\n"
    if description:
        metadata += "Description-Content-Type: text/markdown\n\n# tiny\n\nA test package.\n"
    files = {
        f"{dist}/__init__.py": f"VALUE = {payload!r}\n",
        f"{info}/METADATA": metadata,
        f"{info}/WHEEL": (
            f"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: {tag}\n"
        ),
    }
    path = directory / f"{dist}-{version}-{tag}.whl"
    records = []
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for member, text in files.items():
            data = text.encode()
            archive.writestr(member, data)
            records.append(f"{member},{record_hash(data)},{len(data)}")
        records.append(f"{info}/RECORD,,")
        archive.writestr(f"{info}/RECORD", "\n".join(records) + "\n")
    return path


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def loopback_env(**extra: str) -> dict[str, str]:
    """The environment for tools that talk to a loopback index."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("TWINE_", "PIP_", "STAGING_", "NIGHTLY_", "BUILD_", "MB_"))}
    env.update(PIP_CONFIG_FILE="/dev/null", PIP_NO_INPUT="1", PYTHONPATH=str(REPO_ROOT),
               NO_COLOR="1")
    env.update(extra)
    return env


@dataclass
class PypiServer:
    url: str
    packages: Path
    process: subprocess.Popen[bytes]

    @property
    def simple(self) -> str:
        return self.url + "simple/"

    def files(self) -> dict[str, str]:
        return {p.name: sha256(p) for p in sorted(self.packages.iterdir()) if p.is_file()}


def start_pypiserver(base: Path, *, overwrite: bool = False,
                     fallback: str | None = None) -> PypiServer:
    """pypiserver on 127.0.0.1 with an htpasswd file (USER / TOKEN), no fallback to PyPI
    (``fallback``: its default behaviour, a 303 to that URL for unknown projects)."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # passlib imports crypt
        from passlib.apache import HtpasswdFile

    base.mkdir(parents=True, exist_ok=True)
    packages = base / "packages"
    packages.mkdir(exist_ok=True)
    htpasswd = HtpasswdFile(str(base / "htpasswd"), new=True)
    htpasswd.set_password(USER, TOKEN)
    htpasswd.save()
    port = free_port()
    cmd = [sys.executable, "-m", "pypiserver", "run", "-p", str(port), "-i", "127.0.0.1",
           "-P", str(base / "htpasswd"), "-a", "update", "--log-stream", "none",
           *(["--fallback-url", fallback] if fallback else ["--disable-fallback"])]
    if overwrite:
        cmd.append("--overwrite")
    process = subprocess.Popen([*cmd, str(packages)], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 30
    while True:
        try:
            with urllib.request.urlopen(url + "health", timeout=2):
                break
        except (urllib.error.URLError, OSError):
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                raise RuntimeError("pypiserver did not start") from None
            time.sleep(0.1)
    return PypiServer(url, packages, process)


@contextlib.contextmanager
def running_pypiserver(base: Path, *, overwrite: bool = False,
                       fallback: str | None = None) -> Iterator[PypiServer]:
    server = start_pypiserver(base, overwrite=overwrite, fallback=fallback)
    try:
        yield server
    finally:
        server.process.kill()
        server.process.wait()


# --------------------------------------------------------------------------- anaconda-style


ANACONDA_PAGE = """<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>{package} :: Anaconda.org</title></head>
<body>
<div class="container">
  <div class="row">
    <h1><a href="/{org}">{org}</a> / <a href="/{org}/{package}">{package}</a></h1>
    <ul class="nav nav-tabs">
      <li><a href="/{org}/{package}">Overview</a></li>
      <li class="active"><a href="/{org}/{package}/files">Files</a></li>
      <li><a href="/{org}/{package}/labels">Labels</a></li>
    </ul>
  </div>
  <form class="form-inline" action="/{org}/{package}/files" method="get">
    <select name="version"><option value="">All versions</option></select>
  </form>
  <table class="table full-width">
    <thead><tr><th></th><th>Name</th><th>Type</th><th>Size</th><th>Uploaded</th>
    <th>Downloads</th><th>Labels</th></tr></thead>
    <tbody>
{rows}
    </tbody>
  </table>
  <nav><ul class="pagination">
{pages}
  </ul></nav>
</div>
</body>
</html>
"""

ANACONDA_ROW = """      <tr>
        <td><input type="checkbox" name="file" value="{filename}"></td>
        <td><a href="/{org}/{package}/{version}/download/{filename}" data-toggle="tooltip"
          title="{filename}"><i class="fa fa-download"></i> {filename}</a></td>
        <td>pypi</td><td>{size} bytes</td><td>1 day and 2 hours ago</td><td>0</td>
        <td><span class="label label-info">main</span></td>
      </tr>"""


@dataclass
class FileServer:
    """anaconda.org-style listing (page_size files a page) plus files, with faults."""

    org: str
    package: str
    files: dict[str, bytes]
    page_size: int = 2
    fail_first: dict[str, int] = field(default_factory=dict)  # path -> 503s before success
    always_fail: set[str] = field(default_factory=set)
    simple_hashes: dict[str, str] = field(default_factory=dict)  # filename -> sha256 to claim
    api: bool = False  # serve the anaconda.org API's file list at /api/package/ORG/PKG/files
    api_hashes: dict[str, str] = field(default_factory=dict)  # filename -> sha256 the API claims
    no_length: set[str] = field(default_factory=set)  # names sent without Content-Length
    short: dict[str, int] = field(default_factory=dict)  # name -> bytes sent before closing
    trickle: set[str] = field(default_factory=set)  # names sent at 16 bytes a second
    hits: dict[str, int] = field(default_factory=dict)
    url: str = ""
    stopped: bool = False
    _server: http.server.ThreadingHTTPServer | None = None

    @property
    def channel(self) -> str:
        return f"{self.url}{self.org}"

    def page(self, number: int, version: str) -> bytes:
        names = sorted(self.files)
        pages = max(1, -(-len(names) // self.page_size))
        chunk = names[(number - 1) * self.page_size: number * self.page_size]
        rows = "\n".join(ANACONDA_ROW.format(org=self.org, package=self.package,
                                             version=version, filename=n,
                                             size=len(self.files[n])) for n in chunk)
        links = []
        base = f"/{self.org}/{self.package}/files"
        if number > 1:
            prev = f"{base}?page={number - 1}"
            links.append(f'    <li class="prev"><a href="{prev}">&laquo;</a></li>')
        for i in range(1, pages + 1):
            cls = ' class="active"' if i == number else ""
            links.append(f'    <li{cls}><a href="{base}?page={i}">{i}</a></li>')
        if number < pages:
            nxt = f"{base}?page={number + 1}"
            links.append(f'    <li class="next"><a href="{nxt}">&raquo;</a></li>')
        return ANACONDA_PAGE.format(org=self.org, package=self.package, rows=rows,
                                    pages="\n".join(links)).encode()

    def simple_page(self) -> bytes:
        links = []
        for name in sorted(self.files):
            digest = self.simple_hashes.get(name, hashlib.sha256(self.files[name]).hexdigest())
            links.append(f'<a href="/files/{name}#sha256={digest}">{name}</a><br>')
        return ("<!DOCTYPE html><html><body>" + "\n".join(links) + "</body></html>").encode()

    def api_files(self) -> bytes:
        """The anaconda.org API's answer: a JSON list, one object per file."""
        import json

        entries = []
        for name, data in sorted(self.files.items()):
            version = name.split("-")[1].removesuffix(".tar.gz")
            entries.append({
                "basename": name, "version": version, "size": len(data), "type": "pypi",
                "full_name": f"{self.org}/{self.package}/{version}/{name}",
                "labels": ["main"], "ndownloads": 0, "attrs": {},
                "md5": hashlib.md5(data).hexdigest(),
                "sha256": self.api_hashes.get(name, hashlib.sha256(data).hexdigest()),
                "download_url": f"//{self.url.split('//', 1)[1]}download/{self.org}/"
                                f"{self.package}/{version}/{name}",
            })
        return json.dumps(entries).encode()

    def start(self) -> FileServer:
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                pass

            def send(self, code: int, body: bytes, ctype: str = "text/html") -> None:
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                path, _, query = self.path.partition("?")
                owner.hits[path] = owner.hits.get(path, 0) + 1
                if path in owner.always_fail:
                    return self.send(503, b"busy")
                if owner.fail_first.get(path, 0) > 0:
                    owner.fail_first[path] -= 1
                    return self.send(503, b"busy")
                params = dict(p.partition("=")[::2] for p in query.split("&") if p)
                if path == f"/{owner.org}/{owner.package}/files":
                    version = params.get("version", "1.0.0") or "1.0.0"
                    return self.send(200, owner.page(int(params.get("page", "1")), version))
                if path == f"/simple/{owner.package}/":
                    return self.send(200, owner.simple_page())
                if owner.api and path == f"/api/package/{owner.org}/{owner.package}/files":
                    return self.send(200, owner.api_files(), "application/json")
                name = path.rsplit("/", 1)[-1]
                if ("/download/" in path or path.startswith("/files/")) and name in owner.files:
                    return self.file(name, owner.files[name])
                return self.send(404, b"not found")

            def file(self, name: str, data: bytes) -> None:
                if name in owner.trickle:
                    self.send_response(200)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    for start in range(0, len(data), 16):
                        if owner.stopped:
                            return
                        self.wfile.write(data[start:start + 16])
                        self.wfile.flush()
                        time.sleep(1)
                    return
                if name in owner.no_length or name in owner.short:
                    self.send_response(200)
                    self.send_header("Content-Type", "application/octet-stream")
                    if name not in owner.no_length:
                        self.send_header("Content-Length", str(len(data)))
                    self.send_header("Connection", "close")
                    self.end_headers()
                    self.wfile.write(data[: owner.short.get(name, len(data))])
                    self.close_connection = True
                    return
                self.send(200, data, "application/octet-stream")

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self.stopped = True
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


class SilentServer:
    """Accepts connections and never answers (until stopped)."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/"
        self.conns: list[socket.socket] = []
        self.stopped = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.stopped.is_set():
            try:
                conn, _ = self.sock.accept()
                self.conns.append(conn)
            except OSError:
                continue

    def stop(self) -> None:
        self.stopped.set()
        for conn in self.conns:
            conn.close()
        self.sock.close()


@contextlib.contextmanager
def running_silent_server() -> Iterator[SilentServer]:
    server = SilentServer()
    try:
        yield server
    finally:
        server.stop()
