"""Credentials, redirects, content checks, 409 and the run-wide deadline (issue 19, points 3,
4, 6 and 9), against real servers on 127.0.0.1: two servers on different ports are two
origins; pypiserver is the index."""

from __future__ import annotations

import contextlib
import http.server
import io
import socket
import subprocess
import sys
import threading
import time
import urllib.request
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from test_upload_helpers import (
    REPO_ROOT,
    TOKEN,
    USER,
    FileServer,
    loopback_env,
    make_wheel,
    running_pypiserver,
    running_silent_server,
    sha256,
)

from multibuild.net import fetch
from multibuild.net.fetch import FetchError, Http
from multibuild.release import download, upload, wheel_uploader

EXP = ["--expect", "3.12:linux-x86_64"]
TAG = "cp312-cp312-manylinux_2_28_x86_64"


class Recorder:
    """A server that records each request (path, Authorization) and answers with
    ``respond(path, count)`` -> (status, headers, body)."""

    def __init__(self, respond: Callable[[str, int], tuple[int, dict[str, str], bytes]]) -> None:
        self.requests: list[tuple[str, str | None]] = []
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                owner.requests.append((self.path, self.headers.get("Authorization")))
                status, headers, body = respond(self.path, len(owner.requests))
                self.send_response(status)
                for name, value in {"Content-Length": str(len(body)), **headers}.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@contextlib.contextmanager
def recording(respond: Callable[[str, int], tuple[int, dict[str, str], bytes]]
              ) -> Iterator[Recorder]:
    server = Recorder(respond)
    try:
        yield server
    finally:
        server.stop()


def simple_page(files: dict[str, str]) -> bytes:
    links = "".join(f'<a href="/files/{n}#sha256={h}">{n}</a><br>' for n, h in files.items())
    return f"<!DOCTYPE html><html><body>{links}</body></html>".encode()


# -- point 3: credentials to their own origin only --------------------------------------------


def test_redirected_index_listing_is_refused_and_gets_no_token(tmp_path: Path) -> None:
    """pypiserver's default answer for a project it lacks is a 303 to its fallback index.
    There (another port: another origin) a listing claims every wheel is already staged.
    The upload step refuses it, naming both URLs; the other origin never sees the token,
    nor any request; nothing counts as uploaded; the step fails."""
    house = tmp_path / "wheelhouse"
    wheels = [make_wheel(house, tag=f"cp3{m}-cp3{m}-manylinux_2_28_x86_64") for m in (12, 13)]
    claimed = {w.name: sha256(w) for w in wheels}
    with recording(lambda path, n: (200, {"Content-Type": "text/html"}, simple_page(claimed))
                   ) as other, \
            running_pypiserver(tmp_path / "index", fallback=other.url + "simple/") as index:
        env = loopback_env(BUILD_REASON="IndividualCI", STAGING_UPLOAD_URL=index.url,
                           STAGING_UPLOAD_USER=USER, STAGING_UPLOAD_TOKEN=TOKEN)
        done = subprocess.run([sys.executable, "-m", "multibuild.release.upload", "-w", str(house),
                               "--backoff", "0"], env=env, capture_output=True, text=True,
                              timeout=120, check=False)
        assert done.returncode == 1, done.stdout + done.stderr
        (line,) = [ln for ln in done.stderr.splitlines() if ln.startswith("error:")]
        assert f"{index.url}simple/tinypkg/ redirected to {other.url}simple/tinypkg" in line
        assert "another host" in line
        assert "already on the index" not in done.stdout
        assert other.requests == []
        assert index.files() == {}
        assert TOKEN not in done.stdout + done.stderr


def test_credentials_stay_on_their_origin_across_redirects(tmp_path: Path) -> None:
    data = b"payload"
    with recording(lambda path, n: (200, {}, data)) as other:
        def home(path: str, n: int) -> tuple[int, dict[str, str], bytes]:
            if path == "/same":
                return 302, {"Location": "/file"}, b""
            if path == "/away":
                return 302, {"Location": other.url + "file"}, b""
            return 200, {}, data

        with recording(home) as origin:
            http = Http(attempts=1, auth=(USER, TOKEN), auth_url=origin.url + "simple/")
            # A file may come from elsewhere (a CDN): it is followed, the token is not.
            fetch.download(http, origin.url + "away", tmp_path / "a")
            fetch.download(http, origin.url + "same", tmp_path / "b")
            # A listing may not: refused before the other origin is asked anything.
            with pytest.raises(FetchError, match=r"redirected to .*another host"):
                http.get(origin.url + "away")
            assert [p for p, _ in other.requests] == ["/file"]
            assert all(auth is None for _, auth in other.requests)
            sent = dict(origin.requests)
            assert sent["/same"] and sent["/file"] and sent["/away"]  # at home it goes along
            # A client whose credentials are for another origin sends none here (nor adds
            # them on a redirect: they go only with a request made to their origin).
            http2 = Http(attempts=1, auth=(USER, TOKEN), auth_url=other.url)
            fetch.download(http2, origin.url + "away", tmp_path / "c")
            assert origin.requests[-1] == ("/away", None)
            fetch.download(http2, other.url + "file", tmp_path / "d")
            assert other.requests[-1][1] is not None


def test_redirect_from_https_to_http_is_refused() -> None:
    """A scheme downgrade is refused whatever the host (checked where urllib redirects,
    before any request to the new URL)."""
    handlers = fetch._handlers(fetch._Watch(), fetch.origin("https://127.0.0.1:1/"), False)
    redirect = next(h for h in handlers if isinstance(h, urllib.request.HTTPRedirectHandler))
    request = urllib.request.Request("https://127.0.0.1:1/simple/x/",
                                     headers={"Authorization": "Basic abc"})
    with pytest.raises(FetchError, match="from https to http; refused"):
        redirect.redirect_request(request, io.BytesIO(), 302, "Found", {},
                                  "http://127.0.0.1:1/simple/x/")
    # Same origin, https: followed with the credentials; another origin: without them.
    same = redirect.redirect_request(request, io.BytesIO(), 302, "Found", {},
                                     "https://127.0.0.1:1/simple/x")
    other = redirect.redirect_request(request, io.BytesIO(), 302, "Found", {},
                                      "https://127.0.0.1:2/simple/x")
    assert same is not None and same.get_header("Authorization") == "Basic abc"
    assert other is not None and other.get_header("Authorization") is None


@pytest.mark.parametrize("tool", ["download", "upload", "wheel-uploader"])
def test_a_url_with_userinfo_is_refused_before_any_lookup(
        tool: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    looked_up: list[object] = []
    monkeypatch.setattr(socket, "getaddrinfo", lambda *a, **k: looked_up.append(a) or [])
    url = "http://user:s3cr3t@index.invalid/simple/"
    if tool == "download":
        code = download.main(["1.0.0", "-p", "tinypkg", "-u", url, "-w",
                              str(tmp_path / "d"), *EXP], root=REPO_ROOT)
    elif tool == "upload":
        code = upload.main(["-w", str(tmp_path), "--channel", "staging", "--url", url],
                           loopback_env(STAGING_UPLOAD_TOKEN="t0k"))
    else:
        code = wheel_uploader.main(["-u", "http://127.0.0.1:9/simple/", "--repository-url",
                                    url, "-w", str(tmp_path / "d"), *EXP, "tinypkg", "1.0.0"],
                                   root=REPO_ROOT)
    err = capsys.readouterr().err
    assert code not in (0, None)
    (line,) = err.splitlines()
    assert "a URL with user:password@ is refused" in line and "s3cr3t" not in line
    assert looked_up == [] and not (tmp_path / "d").exists()


@pytest.mark.parametrize(("args", "env", "fragment"), [
    (["--token-var", "PATH"], {}, "--token-var 'PATH': not the name of a token variable"),
    (["--token-var", "HOME"], {}, "--token-var 'HOME': not the name of a token variable"),
    (["--token-var", "staging_token"], {}, "not the name of a token variable"),
    (["--token-var", ""], {}, "--token-var '': empty value"),
    ([], {"MB_STAGING_TOKEN_VAR": "USER"}, "MB_STAGING_TOKEN_VAR 'USER': not the name of a "),
    ([], {"MB_STAGING_TOKEN_VAR": ""}, "MB_STAGING_TOKEN_VAR '': not the name of a token"),
])
def test_token_var_must_name_a_token(args: list[str], env: dict[str, str], fragment: str,
                                     tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    make_wheel(tmp_path / "w", tag=TAG)
    code = upload.main(["-w", str(tmp_path / "w"), "--channel", "staging",
                        "--url", "http://127.0.0.1:9/", *args],
                       loopback_env(STAGING_UPLOAD_TOKEN="t0k", PATH_TOKEN="x", **env))
    (line,) = capsys.readouterr().err.splitlines()
    assert code == 2 and fragment in line, line


def test_nothing_to_upload_is_an_error_when_a_token_is_there(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "w").mkdir()
    env = loopback_env(STAGING_UPLOAD_TOKEN="t0k")
    code = upload.main(["-w", str(tmp_path / "w"), "--channel", "staging",
                        "--url", "http://127.0.0.1:9/"], env)
    (line,) = capsys.readouterr().err.splitlines()
    assert code == 1 and line.startswith("error: no tested wheels to upload"), line
    # Without a token (a fork): a warning, as before.
    code = upload.main(["-w", str(tmp_path / "w"), "--channel", "staging",
                        "--url", "http://127.0.0.1:9/"], loopback_env())
    assert code == 0 and "STAGING_UPLOAD_TOKEN is not set" in capsys.readouterr().err


# -- point 4: content checked whatever the listing says ---------------------------------------


def lying_wheels(directory: Path) -> dict[str, bytes]:
    """Wheels that the listing's sha256 would vouch for: a RECORD that lies, and WHEEL tags
    of win_amd64 under a manylinux file name."""
    good = make_wheel(directory / "src", tag=TAG)
    record_lie = directory / "tinypkg-1.0.0-cp312-cp312-manylinux_2_28_x86_64.whl"
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(record_lie, "w") as out:
        for info in src.infolist():
            data = src.read(info)
            if info.filename == "tinypkg/__init__.py":
                data = b"import os; os.system('id')\n"  # RECORD still has the old hash
            out.writestr(info.filename, data)
    tags = make_wheel(directory / "win", tag="cp313-cp313-win_amd64")
    mislabeled = "tinypkg-1.0.0-cp313-cp313-manylinux_2_28_x86_64.whl"
    return {record_lie.name: record_lie.read_bytes(), mislabeled: tags.read_bytes()}


@pytest.mark.parametrize("api", [False, True], ids=["simple-sha256", "anaconda-api-sha256"])
def test_a_listed_sha256_does_not_skip_the_content_check(api: bool, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch,
                                                         capsys: pytest.CaptureFixture[str]
                                                         ) -> None:
    files = lying_wheels(tmp_path / "made")
    server = FileServer("org", "tinypkg", files, api=api).start()
    try:
        if api:
            monkeypatch.setenv("MB_ANACONDA_API_URL", server.url + "api")
            url, source = server.channel, ["--source", "anaconda"]
        else:
            url, source = server.url + "simple/", []
        dest = tmp_path / "dest"
        code = download.main(["1.0.0", "-p", "tinypkg", "-u", url, "-w", str(dest),
                              "--no-progress", *source, "--expect", "3.12:linux-x86_64",
                              "--expect", "3.13:linux-x86_64"], root=REPO_ROOT)
        err = capsys.readouterr().err
        assert code == 2, err
        (line,) = [ln for ln in err.splitlines() if ln.startswith("error:")]
        assert "tinypkg/__init__.py does not match its RECORD hash" in line
        assert "WHEEL tags cp313-cp313-win_amd64 do not match the file name's" in line
        assert [p.name for p in dest.iterdir() if p.suffix == ".whl"] == []
        assert download.read_manifest(dest) == {}
    finally:
        server.stop()


def test_wheel_uploader_uploads_no_wheel_whose_content_lies(tmp_path: Path) -> None:
    files = lying_wheels(tmp_path / "made")
    server = FileServer("org", "tinypkg", files).start()
    try:
        with running_pypiserver(tmp_path / "target") as target:
            done = subprocess.run(
                [sys.executable, str(REPO_ROOT / "tools" / "wheel-uploader"), "-u",
                 server.url + "simple/", "--repository-url", target.url, "-w",
                 str(tmp_path / "w"), "--no-progress", "--expect", "3.12:linux-x86_64",
                 "--expect", "3.13:linux-x86_64", "tinypkg", "1.0.0"],
                env=loopback_env(TWINE_USERNAME=USER, TWINE_PASSWORD=TOKEN),
                capture_output=True, text=True, timeout=300, check=False)
            assert done.returncode == 1, done.stdout + done.stderr
            assert "Traceback" not in done.stderr
            assert "does not match its RECORD hash" in done.stderr
            assert target.files() == {}
    finally:
        server.stop()


# -- point 6: 409 Conflict -------------------------------------------------------------------


def test_two_uploads_of_one_set_at_once_both_succeed(tmp_path: Path) -> None:
    house = tmp_path / "w"
    for minor in range(10, 14):
        make_wheel(house, tag=f"cp3{minor}-cp3{minor}-manylinux_2_28_x86_64")
    with running_pypiserver(tmp_path / "index") as index:
        env = loopback_env(BUILD_REASON="IndividualCI", STAGING_UPLOAD_URL=index.url,
                           STAGING_UPLOAD_USER=USER, STAGING_UPLOAD_TOKEN=TOKEN)
        cmd = [sys.executable, "-m", "multibuild.release.upload", "-w", str(house),
               "--backoff", "0"]
        procs = [subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True) for _ in range(2)]
        outputs = [p.communicate(timeout=300) for p in procs]
        for proc, (out, err) in zip(procs, outputs):
            assert proc.returncode == 0, out + err
        assert index.files() == {p.name: sha256(p) for p in house.iterdir()}


@pytest.mark.parametrize("same", [True, False], ids=["same-content", "other-content"])
def test_a_409_is_judged_by_the_index_content(same: bool, tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    """The upload races another: the listing said the file was missing, the index refuses
    it (409 Conflict; pypiserver and PyPI answer twine 400). Then the listing decides: this
    run's bytes there count as uploaded; other bytes are an error naming the file."""
    wheel = make_wheel(tmp_path / "w", tag=TAG, payload="ours")
    theirs = wheel if same else make_wheel(tmp_path / "other", tag=TAG, payload="theirs")
    with running_pypiserver(tmp_path / "index") as index:
        (index.packages / wheel.name).write_bytes(theirs.read_bytes())  # the racing upload

        def listing(path: str, count: int) -> tuple[int, dict[str, str], bytes]:
            if count == 1:  # before the upload: not there yet
                return 404, {}, b"not found"
            return 200, {"Content-Type": "text/html"}, simple_page({wheel.name: sha256(theirs)})

        with recording(listing) as lister:
            env = loopback_env(STAGING_UPLOAD_URL=index.url, STAGING_UPLOAD_USER=USER,
                               STAGING_UPLOAD_TOKEN=TOKEN, STAGING_INDEX_URL=lister.url)
            code = upload.main(["-w", str(tmp_path / "w"), "--channel", "staging",
                                "--backoff", "0"], env)
            # The listing lives on another origin than the upload URL: no token went there.
            assert all(auth is None for _, auth in lister.requests)
    out, err = capsys.readouterr()
    assert "HTTPError: 400 Bad Request" in out  # the index's refusal, relayed from twine
    if same:
        assert code == 0, err
        assert f"{wheel.name} is on the index with this run's content" in out
        assert f"uploaded {wheel.name}" in out
    else:
        assert code == 1
        (line,) = [ln for ln in err.splitlines() if ln.startswith("error:")]
        assert line.startswith(f"error: {wheel.name}: the index keeps a different file"), line
        assert out.count("attempt ") == 1


# -- point 9: one deadline for the whole download ---------------------------------------------


def test_dripping_servers_are_bounded_by_the_run_deadline(tmp_path: Path) -> None:
    files = {f"tinypkg-1.0.0-cp3{m}-cp3{m}-manylinux_2_28_x86_64.whl": bytes(4096)
             for m in range(10, 14)}
    server = FileServer("org", "tinypkg", files, trickle=set(files)).start()
    dest = tmp_path / "dest"
    try:
        started = time.monotonic()
        done = subprocess.run(
            [sys.executable, str(REPO_ROOT / "tools" / "download-wheels.py"), "1.0.0", "-p",
             "tinypkg", "-u", server.url + "simple/", "-w", str(dest), "--no-progress",
             "--no-gate", "-j", "2", "--timeout", "30", "--deadline", "600",
             "--total-deadline", "3"], env=loopback_env(), capture_output=True, text=True,
            timeout=120, check=False)
        elapsed = time.monotonic() - started
    finally:
        server.stop()
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    (line,) = [ln for ln in done.stderr.splitlines() if ln.startswith("error:")]
    assert "the 3s deadline of the whole download passed with 4 of 4 files not fetched" in line
    assert elapsed < 15, elapsed  # 4 KiB files at 16 bytes/s, 2 at a time: 8½ minutes otherwise
    assert sorted(p.name for p in dest.iterdir()) in ([], [".sha256sums.txt.lock"],
                                                      [".sha256sums.txt.lock", "sha256sums.txt"])
    assert download.read_manifest(dest) == {}


def test_a_hanging_index_is_bounded_by_the_run_deadline(tmp_path: Path) -> None:
    with running_silent_server() as silent:
        started = time.monotonic()
        done = subprocess.run(
            [sys.executable, str(REPO_ROOT / "tools" / "download-wheels.py"), "1.0.0", "-p",
             "tinypkg", "-u", silent.url + "simple/", "-w", str(tmp_path / "d"),
             "--no-progress", "--no-gate"],
            env=loopback_env(MB_DOWNLOAD_TOTAL_DEADLINE="2"), capture_output=True,
            text=True, timeout=120, check=False)
    assert time.monotonic() - started < 12
    (line,) = [ln for ln in done.stderr.splitlines() if ln.startswith("error:")]
    assert done.returncode == 2 and "2s deadline of the whole run passed" in line, line


def test_the_run_deadline_setting_is_checked(tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    import os

    os.environ["MB_DOWNLOAD_TOTAL_DEADLINE"] = "soon"
    try:
        code = download.main(["1.0.0", "-p", "tinypkg", "-u", "http://127.0.0.1:9/simple/",
                              "-w", str(tmp_path / "d"), "--no-gate"], root=REPO_ROOT)
    finally:
        del os.environ["MB_DOWNLOAD_TOTAL_DEADLINE"]
    (line,) = capsys.readouterr().err.splitlines()
    assert code == 2 and line == ("error: MB_DOWNLOAD_TOTAL_DEADLINE: 'soon' is not a number "
                                  "of seconds")


def test_the_run_deadline_bounds_the_download_not_the_upload_after_it(tmp_path: Path) -> None:
    """wheel-uploader: --total-deadline bounds fetching the staged set; reading the target
    afterwards (here a listing that takes longer than the whole deadline) and uploading go
    on under their own timeouts."""
    def slow_listing(path: str, count: int) -> tuple[int, dict[str, str], bytes]:
        time.sleep(6)
        return 404, {}, b"not found"

    with running_pypiserver(tmp_path / "staging") as staging, \
            running_pypiserver(tmp_path / "target") as target, \
            recording(slow_listing) as target_listing:
        make_wheel(staging.packages, tag=TAG)
        done = subprocess.run(
            [sys.executable, str(REPO_ROOT / "tools" / "wheel-uploader"), "-u", staging.simple,
             "-w", str(tmp_path / "dl"), "--repository-url", target.url, "--index-url",
             target_listing.url, "--no-progress", "--total-deadline", "5", *EXP, "tinypkg",
             "1.0.0"], env=loopback_env(TWINE_USERNAME=USER, TWINE_PASSWORD=TOKEN),
            capture_output=True, text=True, timeout=300, check=False)
        assert done.returncode == 0, done.stdout + done.stderr
        assert target.files() == staging.files()
        assert [p for p, _ in target_listing.requests] == ["/tinypkg/"]
