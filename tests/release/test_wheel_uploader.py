"""tools/wheel-uploader: from a staging index to a release index, both pypiservers on 127.0.0.1."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_upload_helpers import (
    REPO_ROOT,
    TOKEN,
    USER,
    PypiServer,
    loopback_env,
    make_wheel,
    sha256,
    start_pypiserver,
)

TAGS = {"linux": "cp312-cp312-manylinux_2_28_x86_64", "win": "cp312-cp312-win_amd64"}
EXPECT = ["--expect", "3.12:linux-x86_64", "--expect", "3.12:windows-win_amd64"]


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[tuple[PypiServer, PypiServer]]:
    staging = start_pypiserver(tmp_path / "staging")
    pypi = start_pypiserver(tmp_path / "pypi")
    for tag in TAGS.values():
        make_wheel(staging.packages, version="1.0.0", tag=tag)
    make_wheel(staging.packages, version="0.9.0", tag=TAGS["linux"])
    yield staging, pypi
    for server in (staging, pypi):
        server.process.kill()
        server.process.wait()


def uploader(tmp_path: Path, staging: PypiServer, pypi: PypiServer, *args: str,
             **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(REPO_ROOT / "tools" / "wheel-uploader"), "-u", staging.simple,
         "-w", str(tmp_path / "dl"), "--repository-url", pypi.url, "--no-progress", *args,
         "tinypkg", "1.0.0"],
        capture_output=True, text=True, cwd=tmp_path, timeout=300,
        env=loopback_env(TWINE_USERNAME=USER, TWINE_PASSWORD=TOKEN, **env))


def test_uploads_the_complete_set(tmp_path: Path, servers: tuple[PypiServer, PypiServer]) -> None:
    staging, pypi = servers
    done = uploader(tmp_path, staging, pypi, "-v", *EXPECT)
    assert done.returncode == 0, done.stderr
    assert pypi.files() == {n: h for n, h in staging.files().items() if "1.0.0" in n}
    assert "twine check --strict" in done.stdout.replace("-m twine", "twine")
    assert TOKEN not in done.stdout + done.stderr


def test_refuses_an_incomplete_set(tmp_path: Path, servers: tuple[PypiServer, PypiServer]) -> None:
    staging, pypi = servers
    more = [*EXPECT, "--expect", "3.13:linux-x86_64"]
    done = uploader(tmp_path, staging, pypi, *more)
    assert done.returncode == 1
    assert "missing wheel for cp313 on linux-x86_64" in done.stderr
    assert "error: incomplete set (1 missing, 0 unexpected); not uploading" in done.stderr
    assert pypi.files() == {}
    done = uploader(tmp_path, staging, pypi, "--allow-incomplete", *more)
    assert done.returncode == 0, done.stderr
    assert len(pypi.files()) == 2


def test_type_filter_and_dry_run(tmp_path: Path, servers: tuple[PypiServer, PypiServer]) -> None:
    staging, pypi = servers
    done = uploader(tmp_path, staging, pypi, "-t", "win", "-n", *EXPECT)
    assert done.returncode == 0, done.stderr
    assert [p.name for p in (tmp_path / "dl").glob("*.whl")] == [
        f"tinypkg-1.0.0-{TAGS['win']}.whl"]
    assert "not uploading (-n)" in done.stdout and pypi.files() == {}
    done = uploader(tmp_path, staging, pypi, "-t", "win", *EXPECT)
    assert done.returncode == 0, done.stderr
    assert list(pypi.files()) == [f"tinypkg-1.0.0-{TAGS['win']}.whl"]


def test_twine_check_strict_refuses(tmp_path: Path,
                                    servers: tuple[PypiServer, PypiServer]) -> None:
    staging, pypi = servers
    for path in staging.packages.glob("tinypkg-1.0.0-*.whl"):
        tag = path.name[len("tinypkg-1.0.0-"):-len(".whl")]
        path.unlink()
        make_wheel(staging.packages, version="1.0.0", tag=tag, description=False)
    done = uploader(tmp_path, staging, pypi, *EXPECT)
    assert done.returncode == 1
    assert "error: twine check --strict failed" in done.stderr
    assert "`long_description` missing" in done.stdout
    assert pypi.files() == {}


@pytest.mark.skipif(shutil.which("gpg") is None, reason="gpg is not installed")
def test_sign(tmp_path: Path, servers: tuple[PypiServer, PypiServer]) -> None:
    staging, pypi = servers
    home = tmp_path / "gnupg"
    home.mkdir(mode=0o700)
    env = {"GNUPGHOME": str(home)}
    subprocess.run(["gpg", "--batch", "--passphrase", "", "--quick-gen-key",
                    "Release <release@example.invalid>", "ed25519", "sign", "never"],
                   env=loopback_env(**env), check=True, capture_output=True)
    done = uploader(tmp_path, staging, pypi, "-s", "-n", *EXPECT, **env)
    assert done.returncode == 0, done.stderr
    for wheel in (tmp_path / "dl").glob("*.whl"):
        asc = wheel.with_name(wheel.name + ".asc")
        verify = subprocess.run(["gpg", "--verify", str(asc), str(wheel)],
                                env=loopback_env(**env), capture_output=True)
        assert verify.returncode == 0
    assert sha256(next((tmp_path / "dl").glob("*.whl")))  # the wheels are intact


# --------------------------------------------------------------------------- resumable release

PYTHONS = ["3.10", "3.11", "3.12", "3.13", "3.14"]
PLATFORMS = {"linux-x86_64": "manylinux_2_28_x86_64", "macos-arm64": "macosx_11_0_arm64",
             "windows-win_amd64": "win_amd64"}
FIFTEEN = [(py, key, f"cp{py.replace('.', '')}-cp{py.replace('.', '')}-{plat}")
           for py in PYTHONS for key, plat in PLATFORMS.items()]
EXPECT15 = [a for py, key, _ in FIFTEEN for a in ("--expect", f"{py}:{key}")]


@pytest.fixture
def fifteen(tmp_path: Path) -> Iterator[tuple[PypiServer, PypiServer]]:
    staging = start_pypiserver(tmp_path / "staging")
    pypi = start_pypiserver(tmp_path / "pypi")
    for _py, _key, tag in FIFTEEN:
        make_wheel(staging.packages, version="1.0.0", tag=tag)
    yield staging, pypi
    for server in (staging, pypi):
        server.process.kill()
        server.process.wait()


def test_nine_of_fifteen_present_then_rerun(tmp_path: Path,
                                            fifteen: tuple[PypiServer, PypiServer]) -> None:
    """The interrupted release of the issue: 9 of 15 already on the index."""
    staging, pypi = fifteen
    for path in sorted(staging.packages.glob("*.whl"))[:9]:
        shutil.copy2(path, pypi.packages / path.name)
    done = uploader(tmp_path, staging, pypi, *EXPECT15)
    assert done.returncode == 0, done.stdout + done.stderr
    assert pypi.files() == staging.files()
    assert done.stdout.count("uploading tinypkg-1.0.0-") == 6
    assert "uploaded 6 wheels" in done.stdout and "9 were already there" in done.stdout
    again = uploader(tmp_path, staging, pypi, *EXPECT15)
    assert again.returncode == 0, again.stderr
    assert "nothing to do: all 15 wheels are already on" in again.stdout
    assert "uploading" not in again.stdout
    assert TOKEN not in done.stdout + done.stderr + again.stdout + again.stderr


def test_different_content_on_the_index_stops_before_any_upload(
    tmp_path: Path, servers: tuple[PypiServer, PypiServer]
) -> None:
    staging, pypi = servers
    clash = make_wheel(pypi.packages, version="1.0.0", tag=TAGS["win"], payload="other build")
    done = uploader(tmp_path, staging, pypi, *EXPECT)
    assert done.returncode == 1
    line = done.stderr.strip().splitlines()[-1]
    assert line.startswith(f"error: {clash.name} is already on http://127.0.0.1:")
    assert "with different content" in line and "nothing uploaded" in line
    assert list(pypi.files()) == [clash.name]


def test_upload_failure_names_the_file_and_reason(
    tmp_path: Path, servers: tuple[PypiServer, PypiServer]
) -> None:
    staging, pypi = servers
    wrong = "wrong-password-42"
    done = subprocess.run(
        [sys.executable, str(REPO_ROOT / "tools" / "wheel-uploader"), "-u", staging.simple,
         "-w", str(tmp_path / "dl"), "--repository-url", pypi.url, "--no-progress", *EXPECT,
         "tinypkg", "1.0.0"], capture_output=True, text=True, cwd=tmp_path, timeout=300,
        env=loopback_env(TWINE_USERNAME=USER, TWINE_PASSWORD=wrong))
    assert done.returncode == 1
    errors = [ln for ln in done.stderr.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1, done.stderr
    assert "error: upload of tinypkg-1.0.0-cp312-cp312-manylinux_2_28_x86_64.whl to " in errors[0]
    assert "403" in errors[0] or "401" in errors[0]
    assert "exit status" not in errors[0] and wrong not in done.stdout + done.stderr
    assert pypi.files() == {}


def test_repository_from_pypirc_and_unknown_name(
    tmp_path: Path, servers: tuple[PypiServer, PypiServer]
) -> None:
    staging, pypi = servers
    pypirc = tmp_path / "pypirc"
    pypirc.write_text(f"[distutils]\nindex-servers = local\n\n[local]\nrepository = {pypi.url}\n"
                      f"username = {USER}\npassword = {TOKEN}\n")
    base = [sys.executable, str(REPO_ROOT / "tools" / "wheel-uploader"), "-u", staging.simple,
            "-w", str(tmp_path / "dl"), "--config-file", str(pypirc), "--no-progress", *EXPECT]
    missing = subprocess.run([*base, "-r", "nosuchrepo", "tinypkg", "1.0.0"],
                             capture_output=True, text=True, env=loopback_env(), timeout=120)
    assert missing.returncode == 1
    assert missing.stderr.strip() == (f"error: -r nosuchrepo: no such repository in {pypirc} "
                                      "(known: local, pypi, testpypi); or pass --repository-url")
    assert not (tmp_path / "dl").exists()  # checked before any download
    done = subprocess.run([*base, "-r", "local", "tinypkg", "1.0.0"], capture_output=True,
                          text=True, env=loopback_env(), timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert len(pypi.files()) == 2 and TOKEN not in done.stdout + done.stderr
