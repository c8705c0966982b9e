"""Hardening of the download layer and download-wheels (issue 12), against real loopback
servers, real processes and real signals: the anaconda.org API's checksums, broken staged
files rejected and fetched again, a trickling server given up at the deadline, Ctrl-C and
SIGTERM, two processes writing one manifest, the umask."""

from __future__ import annotations

import hashlib
import os
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_upload_helpers import REPO_ROOT, FileServer, loopback_env, make_wheel, sha256

from multibuild.net.fetch import Http, update_manifest
from multibuild.release.download import (
    DownloadError,
    RemoteFile,
    download_all,
    list_anaconda,
    read_manifest,
)

ORG, PKG = "multibuild-wheels-staging", "tinypkg"
TAGS = ["cp311-cp311-manylinux_2_28_x86_64", "cp312-cp312-manylinux_2_28_x86_64",
        "cp312-cp312-win_amd64", "cp313-cp313-macosx_11_0_arm64"]
EXPECT = ["--expect=3.11:linux-x86_64", "--expect=3.12:linux-x86_64",
          "--expect=3.12:windows-win_amd64", "--expect=3.13:macos-arm64"]


@pytest.fixture
def wheels(tmp_path: Path) -> dict[str, bytes]:
    out = tmp_path / "built"
    for tag in TAGS:
        make_wheel(out, version="1.0.0", tag=tag)
    return {p.name: p.read_bytes() for p in sorted(out.iterdir())}


@pytest.fixture
def channel(wheels: dict[str, bytes]) -> Iterator[FileServer]:
    server = FileServer(ORG, PKG, dict(wheels), page_size=10).start()
    yield server
    server.stop()


def quick(**kwargs: float) -> Http:
    values = {"timeout": 2.0, "attempts": 2, "backoff": 0.0, **kwargs}
    return Http(**values)  # type: ignore[arg-type]


def tool(*args: str, umask: int | None = None, **env: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(REPO_ROOT / "tools" / "download-wheels.py"), *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=loopback_env(**env),
        cwd=REPO_ROOT, preexec_fn=(lambda: os.umask(umask)) if umask is not None else None)


def run_tool(*args: str, umask: int | None = None, **env: str) -> tuple[int, str, str]:
    proc = tool(*args, umask=umask, **env)
    out, err = proc.communicate(timeout=120)
    return proc.returncode, out, err


def parts(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.rglob("*.part")) if directory.exists() else []


# --------------------------------------------------------------------------- verification


def test_anaconda_api_checksums_are_used(tmp_path: Path, channel: FileServer,
                                         wheels: dict[str, bytes]) -> None:
    channel.api = True
    api = channel.url + "api"
    files = list_anaconda(quick(), channel.channel, PKG, "1.0.0", api=api)
    assert [f.filename for f in files] == sorted(wheels)
    assert all(f.sha256 == hashlib.sha256(wheels[f.filename]).hexdigest() for f in files)
    assert all(f.md5 and "/download/" in f.url and f.url.startswith("http://") for f in files)
    # A file whose bytes differ from the API's sha256 is rejected, removed, not recorded.
    bad = sorted(wheels)[1]
    channel.api_hashes[bad] = hashlib.sha256(b"something else").hexdigest()
    files = list_anaconda(quick(), channel.channel, PKG, "1.0.0", api=api)
    with pytest.raises(DownloadError, match=f"{bad}: sha256 mismatch"):
        download_all(quick(), files, tmp_path, progress=False)
    assert not (tmp_path / bad).exists() and bad not in read_manifest(tmp_path)
    assert len(read_manifest(tmp_path)) == 3 and parts(tmp_path) == []


def test_broken_staged_files_are_rejected_and_fetched_again(
    tmp_path: Path, channel: FileServer, wheels: dict[str, bytes]
) -> None:
    """The HTML listing gives no checksum: each file is checked by its contents."""
    html, truncated, short, good = sorted(wheels)
    original = dict(wheels)
    channel.files[html] = b"<!DOCTYPE html><html><body>Sign in</body></html>"
    channel.files[truncated] = original[truncated][:-200]  # a valid length, a cut zip
    channel.no_length.add(short)  # the connection closes early, nothing says how long it was
    channel.short[short] = len(original[short]) // 2
    dest = tmp_path / "dl"
    code, _out, err = run_tool("1.0.0", "-w", str(dest), "-u", channel.channel, "--source",
                               "anaconda", "-p", PKG, "--no-progress", "--attempts", "1",
                               *EXPECT)
    assert code == 2
    error = err.strip().splitlines()[-1]
    assert f"{html}: an HTML or JSON page, not a wheel; file rejected" in error
    assert f"{truncated}: not a complete zip archive" in error
    assert f"{short}: not a complete zip archive" in error
    assert sorted(p.name for p in dest.glob("*.whl")) == [good]
    assert list(read_manifest(dest)) == [good] and parts(dest) == []
    # The channel is fixed: the next run fetches only what was rejected, and completes.
    channel.files.update(original)
    channel.no_length.clear()
    channel.short.clear()
    code, out, err = run_tool("1.0.0", "-w", str(dest), "-u", channel.channel, "--source",
                              "anaconda", "-p", PKG, "--no-progress", *EXPECT)
    assert code == 0, err
    assert out.count("(downloaded)") == 3 and out.count("(present)") == 1
    assert read_manifest(dest) == {n: hashlib.sha256(d).hexdigest() for n, d in original.items()}


def test_a_manifest_entry_never_vouches_for_a_bad_file(tmp_path: Path, channel: FileServer,
                                                       wheels: dict[str, bytes]) -> None:
    dest = tmp_path / "dl"
    dest.mkdir()
    name = sorted(wheels)[0]
    junk = b"<html>not a wheel</html>"
    (dest / name).write_bytes(junk)
    update_manifest(dest, {name: hashlib.sha256(junk).hexdigest()})  # a forged entry
    files = list_anaconda(quick(), channel.channel, PKG, "1.0.0")
    outcomes = download_all(quick(), files, dest, progress=False)
    assert [o.file.filename for o in outcomes if not o.skipped] == sorted(wheels)
    assert (dest / name).read_bytes() == wheels[name]
    assert read_manifest(dest)[name] == hashlib.sha256(wheels[name]).hexdigest()


# --------------------------------------------------------------------------- the HTTP layer


def test_trickling_server_is_given_up_at_the_deadline(tmp_path: Path, channel: FileServer,
                                                      wheels: dict[str, bytes]) -> None:
    name = sorted(wheels)[0]
    channel.trickle.add(name)  # 16 bytes a second: no socket timeout ever fires
    file = RemoteFile(name, f"{channel.channel}/{PKG}/1.0.0/download/{name}")
    started = time.monotonic()
    with pytest.raises(DownloadError, match=r"not complete within the 3s deadline"):
        download_all(quick(timeout=2, deadline=3, attempts=3), [file], tmp_path,
                     progress=False)
    assert time.monotonic() - started < 6
    assert parts(tmp_path) == [] and not (tmp_path / name).exists()


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://127.0.0.1/x.whl", "notaurl",
                                 "http://[::1/x.whl", "http:///x.whl"])
def test_unsupported_urls_fail_at_once_without_retries(tmp_path: Path, url: str) -> None:
    sleeps: list[float] = []
    http = Http(timeout=2, attempts=5, backoff=10, sleep=sleeps.append)
    with pytest.raises(DownloadError) as caught:
        download_all(http, [RemoteFile("tinypkg-1.0.0-py3-none-any.whl", url)], tmp_path,
                     progress=False)
    message = str(caught.value)
    assert "\n" not in message and "attempts" not in message and sleeps == []
    assert any(word in message for word in ("unsupported URL scheme", "not a URL", "malformed"))


def test_4xx_is_not_retried_5xx_is(tmp_path: Path, channel: FileServer,
                                   wheels: dict[str, bytes]) -> None:
    missing = RemoteFile("tinypkg-1.0.0-py3-none-any.whl", channel.url + "nothing/here.whl")
    with pytest.raises(DownloadError, match="HTTP 404"):
        download_all(quick(attempts=4), [missing], tmp_path, progress=False)
    assert channel.hits["/nothing/here.whl"] == 1


# --------------------------------------------------------------------------- interrupts


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_one_signal_stops_download_wheels_and_keeps_the_manifest(
    tmp_path: Path, channel: FileServer, wheels: dict[str, bytes], signum: int
) -> None:
    names = sorted(wheels)
    slow = names[:2]
    channel.trickle.update(slow)  # two workers stuck on slow files, the others finish
    dest = tmp_path / "dl"
    proc = tool("1.0.0", "-w", str(dest), "-u", channel.channel, "--source", "anaconda",
                "-p", PKG, "--no-progress", "-j", "4", *EXPECT)
    deadline = time.monotonic() + 60
    while len(read_manifest(dest)) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert sorted(read_manifest(dest)) == names[2:]
    time.sleep(0.5)  # the slow ones are mid-transfer (.part files exist)
    assert parts(dest)
    sent = time.monotonic()
    proc.send_signal(signum)
    _out, err = proc.communicate(timeout=30)
    assert time.monotonic() - sent < 5  # promptly: worker threads stopped too
    assert proc.returncode == 128 + signum
    assert "interrupted; 2 verified files recorded" in err and "Traceback" not in err
    assert parts(dest) == [] and sorted(read_manifest(dest)) == names[2:]
    assert not [p for p in dest.iterdir() if p.name.startswith(".") and "lock" not in p.name]
    # The rerun fetches only the two that were cut off.
    channel.trickle.clear()
    code, out, err = run_tool("1.0.0", "-w", str(dest), "-u", channel.channel, "--source",
                              "anaconda", "-p", PKG, "--no-progress", *EXPECT)
    assert code == 0, err
    assert out.count("(downloaded)") == 2 and out.count("(present)") == 2


# --------------------------------------------------------------------------- the manifest


WRITER = """
import sys
from pathlib import Path
from multibuild.net.fetch import update_manifest
directory, prefix, count = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
for i in range(count):
    update_manifest(directory, {f"{prefix}-{i}.whl": f"{i:064x}"})
"""


def test_two_processes_writing_one_manifest_lose_nothing(tmp_path: Path) -> None:
    """download-wheels and wheel-uploader writing one wheelhouse at the same time."""
    count = 150
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(tmp_path), prefix, str(count)],
                              env=loopback_env())
             for prefix in ("download-wheels", "wheel-uploader")]
    assert [p.wait(timeout=120) for p in procs] == [0, 0]
    entries = read_manifest(tmp_path)
    assert len(entries) == 2 * count
    assert entries["wheel-uploader-149.whl"] == f"{149:064x}"


# --------------------------------------------------------------------------- modes


@pytest.mark.parametrize("umask", [0o022, 0o027])
def test_downloads_and_manifest_get_the_umask_mode(tmp_path: Path, channel: FileServer,
                                                   umask: int) -> None:
    dest = tmp_path / "dl"
    code, _out, err = run_tool("1.0.0", "-w", str(dest), "-u", channel.channel, "--source",
                               "anaconda", "-p", PKG, "--no-progress", *EXPECT, umask=umask)
    assert code == 0, err
    expected = 0o666 & ~umask
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in dest.iterdir()}
    assert modes and all(mode == expected for mode in modes.values()), modes
    assert sha256(dest / "sha256sums.txt")
