"""Wheels whose archive differs only in order, timestamps and modes normalise to the same bytes."""

from __future__ import annotations

import base64
import hashlib
import stat
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from conftest import REPO_ROOT, git, tool_env

from multibuild.build.reproducible import commit_epoch, normalize_wheel

NAME = "demo-1.0-cp312-cp312-manylinux_2_28_x86_64.whl"
FILES = {
    "demo/__init__.py": b"from demo._core import f\n",
    "demo/_core.so": b"\x7fELF fake shared object",
    "demo.libs/libz-1a2b3c4d.so.1": b"\x7fELF zlib",
    "demo-1.0.dist-info/METADATA": b"Metadata-Version: 2.1\nName: demo\nVersion: 1.0\n",
    "demo-1.0.dist-info/WHEEL": b"Wheel-Version: 1.0\nRoot-Is-Purelib: false\n",
}


def _record() -> bytes:
    lines = []
    for name, data in FILES.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        lines.append(f"{name},sha256={digest},{len(data)}")
    lines.append("demo-1.0.dist-info/RECORD,,")
    return ("\n".join(lines) + "\n").encode()


def _make(path: Path, order: list[str], when: tuple[int, ...], exec_mode: int) -> Path:
    members = {**FILES, "demo-1.0.dist-info/RECORD": _record()}
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(zipfile.ZipInfo("demo/", date_time=when), b"")
        for name in order:
            info = zipfile.ZipInfo(name, date_time=when)
            info.external_attr = ((exec_mode if name.endswith(".so") or ".so." in name
                                   else 0o600) | 0o100000) << 16
            archive.writestr(info, members[name])
    return path


def test_two_builds_normalise_to_identical_bytes(tmp_path: Path) -> None:
    names = [*FILES, "demo-1.0.dist-info/RECORD"]
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first = _make(tmp_path / "a" / NAME, names, (2026, 12, 1, 10, 0, 0), 0o775)
    second = _make(tmp_path / "b" / NAME, list(reversed(names)), (2026, 12, 2, 11, 30, 0), 0o755)
    assert first.read_bytes() != second.read_bytes()
    assert normalize_wheel(first, 1_700_000_000) and normalize_wheel(second, 1_700_000_000)
    assert first.read_bytes() == second.read_bytes()
    with zipfile.ZipFile(first) as archive:
        assert archive.testzip() is None
        names_out = archive.namelist()
        assert names_out[-1] == "demo-1.0.dist-info/RECORD"
        assert all(n.startswith("demo-1.0.dist-info/") for n in names_out[-3:])
        assert {archive.getinfo(n).date_time for n in names_out} == {(2023, 11, 14, 22, 13, 20)}
        modes = {n: stat.S_IMODE(archive.getinfo(n).external_attr >> 16) for n in names_out}
        assert modes["demo/_core.so"] == 0o755 and modes["demo/__init__.py"] == 0o644
        for name, data in FILES.items():
            assert archive.read(name) == data  # contents, hence RECORD hashes, unchanged
    assert not normalize_wheel(first, 1_700_000_000)  # already normal: left alone


def test_normalised_wheel_still_installs(tmp_path: Path) -> None:
    wheel = tmp_path / "purepy-0.1.0-py3-none-any.whl"
    src = tmp_path / "src"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "-q", "-w", str(tmp_path), str(REPO_ROOT / "tests/fixtures/purepy")],
                   check=True, env=tool_env(), capture_output=True)
    assert normalize_wheel(wheel, 1_700_000_000)
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target",
                    str(src), str(wheel)], check=True, capture_output=True)
    assert any(src.glob("purepy*.dist-info/RECORD"))


def test_commit_epoch_is_the_committer_date(tmp_path: Path) -> None:
    git(tmp_path, "init", "-q")
    (tmp_path / "f").write_text("x")
    git(tmp_path, "add", "f")
    subprocess.run(["git", "-C", str(tmp_path), "-c", "user.name=a", "-c", "user.email=a@b",
                    "commit", "-qm", "c"], check=True,
                   env={**tool_env(), "GIT_COMMITTER_DATE": "2024-01-02T03:04:05Z"})
    assert commit_epoch(tmp_path) == 1704164645


def test_epoch_of_a_non_repository_is_a_one_line_error(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "multibuild.build.reproducible", "epoch",
                           str(tmp_path)], capture_output=True, text=True, env=tool_env())
    assert done.returncode == 2
    assert done.stderr.startswith(f"error: {tmp_path}: cannot read the commit date")
    assert len(done.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("content", [b"<html>not a wheel</html>", b""])
def test_normalize_refuses_a_non_zip(tmp_path: Path, content: bytes) -> None:
    junk = tmp_path / NAME
    junk.write_bytes(content)
    done = subprocess.run([sys.executable, "-m", "multibuild.build.reproducible", "normalize",
                           str(junk)], capture_output=True, text=True, env=tool_env())
    assert done.returncode == 2 and "not a zip archive" in done.stderr
    assert junk.read_bytes() == content
