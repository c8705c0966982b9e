"""Local mirrors of a release made from its sdist on a (loopback) index, and clean_code's
fallback to one when REPO_URL is out of reach."""

from __future__ import annotations

import hashlib
import html
import http.server
import io
import json
import tarfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import FIXTURES, REPO_ROOT, git, run_wheels
from test_upload_helpers import PypiServer, free_port, running_pypiserver


def make_sdist(directory: Path, name: str = "purepy", version: str = "0.1.0") -> Path:
    """An sdist of a fixture project: NAME-VERSION/ with the fixture's files (no config.sh)."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}-{version}.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        for file in sorted((FIXTURES / name).rglob("*")):
            relative = file.relative_to(FIXTURES / name)
            if file.is_file() and relative.name not in ("config.sh", "env_vars.sh"):
                tar.add(file, arcname=f"{name}-{version}/{relative}")
        pkg_info = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n".encode()
        info = tarfile.TarInfo(f"{name}-{version}/PKG-INFO")
        info.size = len(pkg_info)
        tar.addfile(info, io.BytesIO(pkg_info))
    return path


def index_env(tmp_path: Path, index: str, **extra: str) -> dict[str, str]:
    return {"MB_SDIST_INDEX_URL": index, "MB_CACHE_DIR": str(tmp_path / "cache"),
            "PIP_CONFIG_FILE": "/dev/null", "MB_DOWNLOAD_ATTEMPTS": "2", **extra}


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PypiServer]:
    base = tmp_path_factory.mktemp("index")
    with running_pypiserver(base / "server") as server:
        make_sdist(server.packages)
        yield server


def test_mirror_holds_the_sdist_at_its_release_tag(tmp_path: Path, index: PypiServer) -> None:
    dest = tmp_path / "purepy.git"
    done = run_wheels(["mirror", "purepy", "0.1.0", "--dest", str(dest)],
                      index_env(tmp_path, index.simple))
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == str(dest)
    assert git(dest, "tag") == "v0.1.0"
    committed = git(dest, "show", "v0.1.0:pyproject.toml")
    assert committed == (FIXTURES / "purepy" / "pyproject.toml").read_text().strip()
    files = set(git(dest, "ls-tree", "-r", "--name-only", "v0.1.0").splitlines())
    assert {"PKG-INFO", "pyproject.toml", "purepy/__init__.py"} <= files
    sdist = index.packages / "purepy-0.1.0.tar.gz"
    assert hashlib.sha256(sdist.read_bytes()).hexdigest() in git(dest, "log", "-1", "--format=%B")

    # Again: the mirror is reused; elsewhere: the same sdist gives the same commit.
    again = run_wheels(["mirror", "purepy", "v0.1.0", "--dest", str(dest)],
                       index_env(tmp_path, index.simple))
    assert again.returncode == 0 and "already has v0.1.0" in again.stderr
    other = tmp_path / "other.git"
    assert run_wheels(["mirror", "purepy", "0.1.0", "--dest", str(other)],
                      index_env(tmp_path, index.simple)).returncode == 0
    assert git(other, "rev-parse", "v0.1.0") == git(dest, "rev-parse", "v0.1.0")


def test_mirror_refuses_bad_input(tmp_path: Path, index: PypiServer) -> None:
    env = index_env(tmp_path, index.simple)
    not_release = run_wheels(["mirror", "purepy", "main", "--dest", str(tmp_path / "a")], env)
    assert not_release.returncode != 0
    assert "'main' is not a release version" in not_release.stderr
    missing = run_wheels(["mirror", "purepy", "9.9.9", "--dest", str(tmp_path / "b")], env)
    assert missing.returncode != 0 and "no sdist of purepy 9.9.9" in missing.stderr
    occupied = tmp_path / "occupied"
    occupied.mkdir()
    (occupied / "keep.txt").write_text("mine")
    refused = run_wheels(["mirror", "purepy", "0.1.0", "--dest", str(occupied)], env)
    assert refused.returncode != 0 and "is not a mirror with tag v0.1.0" in refused.stderr
    assert (occupied / "keep.txt").read_text() == "mine"
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


class _TamperedIndex(http.server.BaseHTTPRequestHandler):
    """A simple index whose page publishes a sha256 the file does not have."""

    sdist = b""

    def do_GET(self) -> None:
        if self.path.startswith("/simple/purepy"):
            body = (b'<a href="/files/purepy-0.1.0.tar.gz#sha256=' + b"0" * 64
                    + b'">purepy-0.1.0.tar.gz</a>')
        elif self.path == "/files/purepy-0.1.0.tar.gz":
            body = self.sdist
        else:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


def test_mirror_rejects_a_file_whose_checksum_differs(tmp_path: Path) -> None:
    _TamperedIndex.sdist = make_sdist(tmp_path / "files").read_bytes()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _TamperedIndex)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/simple/"
        dest = tmp_path / "purepy.git"
        done = run_wheels(["mirror", "purepy", "0.1.0", "--dest", str(dest)],
                          index_env(tmp_path, url))
    finally:
        server.shutdown()
    assert done.returncode != 0
    assert "sha256 mismatch" in done.stderr
    assert not dest.exists()
    assert not list((tmp_path / "cache" / "sdists").glob("*.tar.gz"))


def _build_unreachable(tmp_path: Path, index: PypiServer, commit: str = "v0.1.0",
                       url: str | None = None, **extra: str) -> tuple[int, str, str, Path]:
    output = tmp_path / "out"
    env = index_env(tmp_path, index.simple, MB_SDIST_NAME="purepy",
                    CONFIG_PATH=str(FIXTURES / "purepy" / "config.sh"),
                    ENV_VARS_PATH=str(FIXTURES / "purepy" / "env_vars.sh"), **extra)
    # A remote URL nobody answers on (a closed loopback port): the clone fails at once.
    url = url or f"http://127.0.0.1:{free_port()}/purepy.git"
    done = run_wheels(["build", "--commit", commit, "--repo-url", url,
                       "--repo-dir", str(tmp_path / "checkout"), "--output", str(output),
                       "--work-dir", str(tmp_path / "work")], env)
    return done.returncode, done.stdout, done.stderr, output


def test_unreachable_repo_url_builds_the_release_from_its_sdist_and_says_so(
    tmp_path: Path, index: PypiServer
) -> None:
    url = f"http://127.0.0.1:{free_port()}/purepy.git"
    status, out, err, output = _build_unreachable(tmp_path, index, url=url)
    assert status == 0, out + err
    assert [p.name for p in output.glob("*.whl")] == ["purepy-0.1.0-py3-none-any.whl"]
    checkout = tmp_path / "checkout"
    sha = git(checkout, "rev-parse", "HEAD")
    sdist = index.packages / "purepy-0.1.0.tar.gz"
    digest = hashlib.sha256(sdist.read_bytes()).hexdigest()
    mirror = tmp_path / "cache" / "mirrors" / "purepy-0.1.0.git"
    said = (f"v0.1.0 = {sha} from the sdist purepy-0.1.0.tar.gz ({index.url}packages/"
            f"purepy-0.1.0.tar.gz, sha256 {digest}): a local mirror ({mirror}) stood in for "
            f"{url}; this commit exists only in that mirror, not upstream")
    # The log, the run's first line, the summary, report.json and report.html say the same.
    source_log = (output / "logs" / "source.log").read_text()
    assert "trying the sdist of v0.1.0 on the index" in source_log
    assert f"clean_code: {checkout} at {said}\n" in source_log
    assert f"wheels: source: {said}\n" in out
    assert f"\nsource: {said}\n" in out  # the summary
    assert f" from {url}" not in out + source_log
    report = json.loads((output / "report.json").read_text())
    assert report["repository"] == {
        "url": url, "requested_url": url, "ref": "v0.1.0", "commit": sha,
        "commit_upstream": False, "sdist_mirror": str(mirror),
        "fetched_url": f"{index.url}packages/purepy-0.1.0.tar.gz",
        "sdist": {"file": "purepy-0.1.0.tar.gz", "sha256": digest,
                  "url": f"{index.url}packages/purepy-0.1.0.tar.gz"}}
    assert f"<p>source: {html.escape(said)}</p>" in (output / "report.html").read_text()

    # A hash that exists only in that mirror is built, and never said to come from the URL.
    short = sha[:7]
    status, out, err, output = _build_unreachable(tmp_path, index, commit=short, url=url)
    assert status == 0, out + err
    assert f"wheels: source: {short} = {sha} from the sdist purepy-0.1.0.tar.gz (" in out
    assert "this commit exists only in that mirror, not upstream" in out
    assert f" from {url}" not in out
    report = json.loads((output / "report.json").read_text())
    assert (report["repository"]["ref"], report["repository"]["commit_upstream"]) == (short,
                                                                                      False)

    # An unknown ref: one line, exit 2, and the wheelhouse and its predecessor untouched.
    before = {p.relative_to(tmp_path): p.stat().st_mtime_ns for p in (
        *output.rglob("*"), *(tmp_path / "work" / "previous-wheelhouse").rglob("*"))}
    status, out, err, output = _build_unreachable(tmp_path, index, commit="nosuchref", url=url)
    assert status == 2, out + err
    assert err == f"error: clean_code: unknown ref 'nosuchref' in repository {url}\n"
    assert out == ""
    after = {p.relative_to(tmp_path): p.stat().st_mtime_ns for p in (
        *output.rglob("*"), *(tmp_path / "work" / "previous-wheelhouse").rglob("*"))}
    assert after == before and not list(tmp_path.glob("out.staging-*"))


def test_sdist_fallback_can_be_refused(tmp_path: Path, index: PypiServer) -> None:
    status, out, err, output = _build_unreachable(tmp_path, index, MB_SDIST_FALLBACK="0")
    assert status == 2
    assert err.startswith("error: clean_code: cannot clone http://127.0.0.1")
    assert err.count("\n") == 1 and out == ""
    source_log = (tmp_path / "work" / "source" / "build.log").read_text()
    assert "clean_code: git clone http://127.0.0.1" in source_log
    assert "trying the sdist" not in source_log
    assert not output.exists()


def test_wrapper_script_has_help() -> None:
    import subprocess

    done = subprocess.run([str(REPO_ROOT / "tools" / "make-sdist-mirror"), "--help"],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0 and done.stdout.startswith("usage: make-sdist-mirror")
