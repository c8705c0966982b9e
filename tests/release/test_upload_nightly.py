"""Nightly versions: PEP 440 dev releases that sort, written into built wheels, and picked
by ``pip install --pre`` from a real index on 127.0.0.1."""

from __future__ import annotations

import base64
import hashlib
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest
from packaging.version import Version
from test_upload_helpers import (
    TOKEN,
    USER,
    PypiServer,
    loopback_env,
    make_wheel,
    running_pypiserver,
)

from multibuild.ci.nightly import main as nightly_main
from multibuild.ci.nightly import nightly_version, rewrite_wheel_version
from multibuild.release.upload import main as upload_main


@pytest.fixture
def pypiserver(tmp_path: Path) -> Iterator[PypiServer]:
    with running_pypiserver(tmp_path / "pypiserver") as server:
        yield server


DAY1 = datetime(2025, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
DAY2 = datetime(2025, 1, 3, 0, 0, 1, tzinfo=timezone.utc)


def test_nightly_versions_sort() -> None:
    assert nightly_version("2.3.0.dev0+git20250101.abc", DAY1) == "2.3.0.dev20250102030405"
    assert nightly_version("2.2.6", DAY1) == "2.2.7.dev20250102030405"
    assert nightly_version("2.3.0rc1", DAY1) == "2.3.0rc1.dev20250102030405"
    assert nightly_version("1!2.0", DAY1) == "1!2.1.dev20250102030405"
    assert nightly_version("2.3.0.dev0", dev=1234) == "2.3.0.dev1234"
    versions = [Version(nightly_version("2.2.6", d)) for d in (DAY1, DAY2)]
    assert Version("2.2.6") < versions[0] < versions[1] < Version("2.2.7")
    with pytest.raises(Exception, match="invalid version"):
        nightly_version("not a version")


def check_record(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        record = next(n for n in names if n.endswith(".dist-info/RECORD"))
        rows = [r.split(",") for r in archive.read(record).decode().splitlines()]
        assert {r[0] for r in rows} == set(names)
        for path, digest, size in rows:
            if path == record:
                continue
            data = archive.read(path)
            expected = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
            assert digest == "sha256=" + expected.decode() and int(size) == len(data)


def test_rewrite_wheel_version(tmp_path: Path) -> None:
    original = make_wheel(tmp_path / "in", version="2.3.0.dev0",
                          tag="cp312-cp312-manylinux_2_28_x86_64")
    before = original.read_bytes()
    new = rewrite_wheel_version(original, "2.3.0.dev20250102030405", tmp_path / "out")
    assert new.name == "tinypkg-2.3.0.dev20250102030405-cp312-cp312-manylinux_2_28_x86_64.whl"
    assert original.read_bytes() == before
    with zipfile.ZipFile(new) as archive:
        names = archive.namelist()
        assert "tinypkg-2.3.0.dev20250102030405.dist-info/METADATA" in names
        assert not any("2.3.0.dev0.dist-info" in n for n in names)
        metadata = archive.read("tinypkg-2.3.0.dev20250102030405.dist-info/METADATA").decode()
        assert "\nVersion: 2.3.0.dev20250102030405\n" in metadata
        assert "# tiny" in metadata  # the description is untouched
    check_record(new)
    assert list((tmp_path / "out").iterdir()) == [new]  # no temporary files left


def test_nightly_cli_with_date(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    wheel = make_wheel(tmp_path, version="1.0.0")
    assert nightly_main([str(wheel), "--date", "2025-01-02T03:04:05Z", "--replace"]) == 0
    assert [p.name for p in tmp_path.glob("*.whl")] == [
        "tinypkg-1.0.1.dev20250102030405-py3-none-any.whl"]
    assert nightly_main([str(tmp_path / "missing-1.0-py3-none-any.whl")]) == 1


def test_pip_install_pre_picks_the_newest_nightly(tmp_path: Path,
                                                  pypiserver: PypiServer) -> None:
    """The release and two nightlies on an index: --pre gets the newest, plain gets the release."""
    house = tmp_path / "wheelhouse"
    make_wheel(house, version="1.0.0")
    base = {"STAGING_UPLOAD_URL": pypiserver.url, "NIGHTLY_UPLOAD_URL": pypiserver.url,
            "STAGING_UPLOAD_USER": USER, "NIGHTLY_UPLOAD_USER": USER,
            "STAGING_UPLOAD_TOKEN": TOKEN, "NIGHTLY_UPLOAD_TOKEN": TOKEN}
    assert upload_main(["-w", str(house), "--channel", "staging"], loopback_env(**base)) == 0
    for stamp in ("2025-01-03T00:00:01Z", "2025-01-02T03:04:05Z"):  # newest first
        env = loopback_env(**base, BUILD_REASON="Schedule", NIGHTLY_BUILD_COMMIT="main",
                           MB_NIGHTLY_STAMP=stamp)
        assert upload_main(["-w", str(house), "--backoff", "0"], env) == 0
    assert sorted(pypiserver.files()) == [
        "tinypkg-1.0.0-py3-none-any.whl",
        "tinypkg-1.0.1.dev20250102030405-py3-none-any.whl",
        "tinypkg-1.0.1.dev20250103000001-py3-none-any.whl",
    ]

    def installed(*flags: str) -> str:
        target = tmp_path / f"target{len(flags)}"
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "--no-input", "--disable-pip-version-check",
             "--no-deps", "--target", str(target), "--index-url", pypiserver.simple, *flags,
             "tinypkg"], env=loopback_env(), check=True, capture_output=True)
        (info,) = target.glob("tinypkg-*.dist-info")
        return info.name

    assert installed("--pre") == "tinypkg-1.0.1.dev20250103000001.dist-info"
    assert installed() == "tinypkg-1.0.0.dist-info"
