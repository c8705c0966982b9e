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
