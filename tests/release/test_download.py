"""download-wheels: anaconda.org-style paginated listing, simple index, faults, completeness."""

from __future__ import annotations

import hashlib
import io
import subprocess
import sys
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_upload_helpers import (
    REPO_ROOT,
    TOKEN,
    USER,
    FileServer,
    PypiServer,
    SilentServer,
    loopback_env,
    make_wheel,
    running_pypiserver,
    running_silent_server,
    sha256,
)

from multibuild.release.download import (
    DownloadError,
    Http,
    RemoteFile,
    check_complete,
    download_all,
    expected_slots,
    list_anaconda,
    list_files,
    list_simple,
    main,
    read_manifest,
    wheel_slots,
)

SLOTS = [("3.11", "linux-x86_64"), ("3.12", "linux-x86_64"), ("3.12", "macos-arm64"),
         ("3.12", "windows-win_amd64"), ("3.13t", "linux-aarch64")]
TAGS = ["cp311-cp311-manylinux_2_28_x86_64", "cp312-cp312-manylinux_2_28_x86_64",
        "cp312-cp312-macosx_11_0_arm64", "cp312-cp312-win_amd64",
        "cp313-cp313t-manylinux_2_28_aarch64.manylinux2014_aarch64"]
EXPECT = [f"--expect={py}:{plat}" for py, plat in SLOTS]


@pytest.fixture
def pypiserver(tmp_path: Path) -> Iterator[PypiServer]:
    with running_pypiserver(tmp_path / "pypiserver") as server:
        yield server


@pytest.fixture
def silent_server() -> Iterator[SilentServer]:
    with running_silent_server() as server:
        yield server


def make_sdist(path: Path) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        data = b"Metadata-Version: 2.1\nName: tinypkg\nVersion: 1.0.0\n"
        info = tarfile.TarInfo("tinypkg-1.0.0/PKG-INFO")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return path


def visible(directory: Path) -> list[str]:
    """File names, without the manifest's lock file (.sha256sums.txt.lock)."""
    return sorted(p.name for p in directory.iterdir() if not p.name.startswith("."))


def quick() -> Http:
    return Http(timeout=2, attempts=3, backoff=0)


@pytest.fixture
def release(tmp_path: Path) -> dict[str, bytes]:
    """Five wheels, an sdist, and files of other versions and projects."""
    out = tmp_path / "built"
    for tag in TAGS:
        make_wheel(out, version="1.0.0", tag=tag)
    make_wheel(out, version="0.9.0", tag=TAGS[0])
    make_wheel(out, name="otherpkg", version="1.0.0", tag=TAGS[0])
    make_sdist(out / "tinypkg-1.0.0.tar.gz")
    return {p.name: p.read_bytes() for p in out.iterdir()}


@pytest.fixture
def channel(release: dict[str, bytes]) -> Iterator[FileServer]:
    server = FileServer("multibuild-wheels-staging", "tinypkg", dict(release)).start()
    yield server
    server.stop()


def wanted(release: dict[str, bytes]) -> list[str]:
    return sorted(n for n in release if n.startswith("tinypkg-1.0.0"))


def test_anaconda_listing_follows_every_page(channel: FileServer,
                                             release: dict[str, bytes]) -> None:
    files = list_anaconda(quick(), channel.channel, "tinypkg", "1.0.0")
    assert [f.filename for f in files] == wanted(release)
    assert channel.hits["/multibuild-wheels-staging/tinypkg/files"] == 4  # 8 files, 2 a page
    assert files[0].url == (f"{channel.url}multibuild-wheels-staging/tinypkg/1.0.0/download/"
                            f"{files[0].filename}")


def test_download_verify_manifest_and_skip_present(
    tmp_path: Path, channel: FileServer, release: dict[str, bytes]
) -> None:
    files = list_files(quick(), channel.channel, "tinypkg", "1.0.0", source="anaconda")
    dest = tmp_path / "dl"
    outcomes = download_all(quick(), files, dest, jobs=3, progress=False)
    assert visible(dest) == sorted([*wanted(release), "sha256sums.txt"])
    for name in wanted(release):
        assert (dest / name).read_bytes() == release[name]
    assert read_manifest(dest) == {o.file.filename: sha256(o.path) for o in outcomes}
    # Second run: every file is present and matches the manifest; nothing is fetched.
    before = dict(channel.hits)
    again = download_all(quick(), files, dest, progress=False)
    assert all(o.skipped for o in again) and channel.hits == before
    # A damaged local copy is fetched again.
    (dest / wanted(release)[0]).write_bytes(b"damaged")
    again = download_all(quick(), files, dest, progress=False)
    assert [o.file.filename for o in again if not o.skipped] == [wanted(release)[0]]
    assert (dest / wanted(release)[0]).read_bytes() == release[wanted(release)[0]]


def test_5xx_then_success_is_retried(tmp_path: Path, channel: FileServer,
                                     release: dict[str, bytes]) -> None:
    name = wanted(release)[1]
    channel.fail_first["/multibuild-wheels-staging/tinypkg/files"] = 2
    channel.fail_first[f"/multibuild-wheels-staging/tinypkg/1.0.0/download/{name}"] = 2
    files = list_anaconda(quick(), channel.channel, "tinypkg", "1.0.0")
    download_all(quick(), files, tmp_path, progress=False)
    assert (tmp_path / name).read_bytes() == release[name]
    assert channel.hits[f"/multibuild-wheels-staging/tinypkg/1.0.0/download/{name}"] == 3


def test_5xx_forever_is_bounded(tmp_path: Path, channel: FileServer,
                                release: dict[str, bytes]) -> None:
    name = wanted(release)[0]
    path = f"/multibuild-wheels-staging/tinypkg/1.0.0/download/{name}"
    channel.always_fail.add(path)
    files = list_anaconda(quick(), channel.channel, "tinypkg", "1.0.0")
    with pytest.raises(DownloadError, match=r"failed after 3 attempts: HTTP 503"):
        download_all(quick(), files, tmp_path, progress=False)
    assert channel.hits[path] == 3
    assert not (tmp_path / name).exists()
    assert not list(tmp_path.glob(".*part"))
    # The others were fetched and recorded.
    assert set(read_manifest(tmp_path)) == set(wanted(release)) - {name}


def test_server_that_never_answers_times_out(tmp_path: Path,
                                             silent_server: SilentServer) -> None:
    http = Http(timeout=0.5, attempts=2, backoff=0)
    with pytest.raises(DownloadError, match=r"failed after 2 attempts: no answer within 0.5s"):
        list_anaconda(http, silent_server.url + "org", "tinypkg", "1.0.0")
    file = RemoteFile("tinypkg-1.0.0-py3-none-any.whl", silent_server.url + "x.whl")
    with pytest.raises(DownloadError, match="no answer within"):
        download_all(http, [file], tmp_path, progress=False)
    assert visible(tmp_path) == ["sha256sums.txt"]


def test_checksum_mismatch_rejected_nothing_left(tmp_path: Path, channel: FileServer,
                                                 release: dict[str, bytes]) -> None:
    bad = wanted(release)[2]
    channel.simple_hashes[bad] = hashlib.sha256(b"something else").hexdigest()
    files = list_simple(quick(), channel.url + "simple/", "tinypkg", "1.0.0")
    assert all(f.sha256 for f in files)
    with pytest.raises(DownloadError, match=f"{bad}: sha256 mismatch.*rejected"):
        download_all(quick(), files, tmp_path, progress=False)
    assert not (tmp_path / bad).exists()
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".part")]
    assert bad not in read_manifest(tmp_path)


def test_gate() -> None:
    names = [f"tinypkg-1.0.0-{tag}.whl" for tag in TAGS]
    assert wheel_slots(names[4]) == {("cp313t", "linux-aarch64")}
    assert check_complete([*names, "tinypkg-1.0.0.tar.gz"], expected_slots(SLOTS)).ok
    gate = check_complete([*names[1:], "tinypkg-1.0.0-cp312-cp312-musllinux_1_2_x86_64.whl"],
                          expected_slots(SLOTS))
    assert gate.missing == [("cp311", "linux-x86_64")]
    assert gate.unexpected == ["tinypkg-1.0.0-cp312-cp312-musllinux_1_2_x86_64.whl"]
    assert "missing wheel for cp311 on linux-x86_64" in gate.report()


def test_default_expected_set_is_the_ci_matrix() -> None:
    from multibuild.release.download import matrix_pairs

    pairs = matrix_pairs(REPO_ROOT)
    assert ("3.12", "linux-x86_64") in pairs and ("3.12", "windows-win_amd64") in pairs


def run_tool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(REPO_ROOT / "tools" / "download-wheels.py"),
                           *args], capture_output=True, text=True, env=loopback_env(),
                          cwd=REPO_ROOT, timeout=120)


def test_stage_download_gate_against_pypiserver(
    tmp_path: Path, pypiserver: PypiServer, release: dict[str, bytes]
) -> None:
    """Acceptance: stage with the upload step, bring back the exact files, gate a removal."""
    house = tmp_path / "wheelhouse"
    house.mkdir()
    for name in wanted(release):
        if name.endswith(".whl"):
            (house / name).write_bytes(release[name])
    env = loopback_env(BUILD_REASON="IndividualCI", BUILD_COMMIT="v1.0.0",
                       STAGING_UPLOAD_URL=pypiserver.url, STAGING_UPLOAD_USER=USER,
                       STAGING_UPLOAD_TOKEN=TOKEN)
    staged = subprocess.run([sys.executable, "-m", "multibuild.release.upload", "-w", str(house)],
                            env=env, capture_output=True, text=True, cwd=REPO_ROOT)
    assert staged.returncode == 0, staged.stderr
    local = {p.name: sha256(p) for p in house.glob("*.whl")}
    assert pypiserver.files() == local

    dest = tmp_path / "dl"
    done = run_tool("1.0.0", "-w", str(dest), "-u", pypiserver.simple, "-p", "tinypkg",
                    "--no-progress", *EXPECT)
    assert done.returncode == 0, done.stderr
    assert {p.name: sha256(p) for p in dest.glob("*.whl")} == local
    assert read_manifest(dest) == local
    assert "complete: 5 expected wheels present" in done.stdout
    again = run_tool("1.0.0", "-w", str(dest), "-u", pypiserver.simple, "-p", "tinypkg",
                     "--no-progress", *EXPECT)
    assert again.stdout.count("(present)") == 5

    removed = "tinypkg-1.0.0-cp312-cp312-macosx_11_0_arm64.whl"
    (pypiserver.packages / removed).unlink()
    done = run_tool("1.0.0", "-w", str(tmp_path / "dl2"), "-u", pypiserver.simple,
                    "-p", "tinypkg", "--no-progress", *EXPECT)
    assert done.returncode == 1
    assert "missing wheel for cp312 on macos-arm64" in done.stderr
    assert "error: incomplete set: 1 missing, 0 unexpected" in done.stderr
    assert TOKEN not in done.stdout + done.stderr + staged.stdout + staged.stderr


def test_cli_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                    channel: FileServer) -> None:
    assert main(["9.9.9", "-w", str(tmp_path), "-u", channel.channel, "--source", "anaconda",
                 "-p", "tinypkg", "--no-progress"]) == 2
    assert "error: no files of tinypkg 9.9.9" in capsys.readouterr().err
    assert main(["1.0.0", "-w", str(tmp_path), "-u", channel.channel, "--source", "anaconda",
                 "-p", "tinypkg", "--no-progress", "--expect", "bad"]) == 2
    assert "--expect 'bad'" in capsys.readouterr().err
