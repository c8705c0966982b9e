"""multibuild/net/extract.py: links that escape only once a later link exists, writes through links,
decompression bombs, member counts; lay_out_prefix never writes outside the prefix; the wheel
source of OpenBLAS goes through the same checks."""

from __future__ import annotations

import io
import os
import struct
import tarfile
import time
import zipfile
import zlib
from collections.abc import Mapping
from pathlib import Path

import pytest

from multibuild import MultibuildError
from multibuild.net.extract import Limits, safe_extract_tar, safe_extract_zip

Entry = tuple[str, bytes] | tuple[str, str, str]  # (name, data) or (name, "link", target)


def make_tar(path: Path, entries: list[Entry]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for entry in entries:
            info = tarfile.TarInfo(entry[0])
            if len(entry) == 3:
                info.type = tarfile.SYMTYPE
                info.linkname = entry[2]
                tar.addfile(info)
            else:
                data = entry[1]
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    return path


def make_zip(path: Path, entries: list[Entry]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for entry in entries:
            if len(entry) == 3:
                info = zipfile.ZipInfo(entry[0])
                info.external_attr = 0o120777 << 16
                zf.writestr(info, entry[2])
            else:
                zf.writestr(entry[0], entry[1])
    return path


# The archive: the first link looks inside when it is made (lib/x does not exist yet,
# so "x/x/x/../../../.." stays in lib/.. lexically); once lib/x -> . exists it climbs 3 levels
# above the target.
CHAIN: list[Entry] = [
    ("lib/libopenblas.so", b"\x7fELF"),
    ("lib/pkgconfig", "link", "x/x/x/../../../../outside"),
    ("lib/x", "link", "."),
    ("lib/pkgconfig/openblas.pc", b"prefix=/evil\n"),
]
REVERSED: list[Entry] = [CHAIN[0], CHAIN[2], CHAIN[1], CHAIN[3]]
THROUGH_LINK: list[Entry] = [
    ("include/cblas.h", b"/* */"),
    ("lib/inc", "link", "../include"),  # inside: allowed
    ("lib/inc/evil.h", b"written through a link"),
]


@pytest.fixture
def sandbox(tmp_path: Path) -> tuple[Path, Path]:
    """(target directory, a directory 'outside' next to where escapes would land)."""
    dest = tmp_path / "a" / "b" / "c" / "dest"
    dest.mkdir(parents=True)
    return dest, tmp_path / "a" / "outside"


def extract(kind: str, tmp_path: Path, entries: list[Entry], dest: Path,
            limits: Limits | None = None) -> None:
    if kind == "tar":
        archive = make_tar(tmp_path / "x.tar.gz", entries)
        safe_extract_tar(archive, dest, archive.name, limits)
    else:
        archive = make_zip(tmp_path / "x.zip", entries)
        safe_extract_zip(archive, dest, archive.name, limits)


def everything(root: Path) -> list[str]:
    return sorted(str(p) for p in root.rglob("*")) if root.exists() else []


@pytest.mark.filterwarnings("ignore:Duplicate name")
@pytest.mark.parametrize("kind", ["tar", "zip"])
@pytest.mark.parametrize(("entries", "fragment"), [
    (CHAIN, "has '..' after a name"),
    (REVERSED, "has '..' after a name"),
    (THROUGH_LINK, "written through the link 'lib/inc'"),
    ([("lib/a", "link", "../../x")], "points outside the archive"),
    ([("lib/a", "link", "/etc")], "points outside the archive"),
    ([("lib/a", b"1"), ("lib/a", b"2")], "appears twice"),
    ([("lib/a", "link", "b"), ("lib/a/c", b"x")], "written through the link 'lib/a'"),
], ids=["chain", "chain-reversed", "through-link", "dotdot-link", "absolute-link", "twice",
        "dangling-link-dir"])
def test_escapes_are_refused(kind: str, entries: list[Entry], fragment: str,
                             tmp_path: Path, sandbox: tuple[Path, Path]) -> None:
    dest, outside = sandbox
    with pytest.raises(MultibuildError, match=fragment) as caught:
        extract(kind, tmp_path, entries, dest)
    assert "\n" not in str(caught.value)
    assert not outside.exists()
    written = [p for p in (tmp_path / "a").rglob("*") if not p.is_dir() or p.is_symlink()]
    assert all(dest in p.parents for p in written)


@pytest.mark.parametrize("kind", ["tar", "zip"])
def test_links_inside_still_work(kind: str, tmp_path: Path, sandbox: tuple[Path, Path]) -> None:
    dest, _ = sandbox
    extract(kind, tmp_path, [
        ("lib/libopenblas.so.0", b"\x7fELF"),
        ("lib/libopenblas.so", "link", "libopenblas.so.0"),
        ("include/cblas.h", b"/* */"),
        ("lib/cmake/openblas/inc", "link", "../../../include"),
    ], dest)
    assert (dest / "lib" / "libopenblas.so").read_bytes() == b"\x7fELF"
    assert (dest / "lib/cmake/openblas/inc/cblas.h").read_bytes() == b"/* */"


def gzip_bomb(path: Path, gib: int = 1) -> Path:
    """A ~1 MiB .tar.gz holding one member of ``gib`` GiB of zeros (concatenated gzip members:
    made in milliseconds)."""
    info = tarfile.TarInfo("lib/libopenblas.so")
    info.size = gib << 30
    zeros = bytes(1 << 20)
    with path.open("wb") as out:
        out.write(zlib.compress(info.tobuf(), wbits=31))
        member = zlib.compress(zeros, 9, wbits=31)
        for _ in range(gib << 10):
            out.write(member)
        out.write(zlib.compress(bytes(1024), wbits=31))
    return path


def zip_bomb(path: Path, gib: int = 1) -> Path:
    """A ~1 MiB zip holding one member of ``gib`` GiB of zeros (repeated full-flush deflate
    blocks, written by hand)."""
    zeros = bytes(1 << 20)
    comp = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = comp.compress(zeros) + comp.flush(zlib.Z_FULL_FLUSH)
    data = block * (gib << 10) + zlib.compressobj(9, zlib.DEFLATED, -15).flush()
    crc = 0
    for _ in range(gib << 10):
        crc = zlib.crc32(zeros, crc)
    name = b"lib/libopenblas.so"
    size = gib << 30
    local = struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 8, 0, 0, crc, len(data), size,
                        len(name), 0) + name
    central = struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, 8, 0, 0, crc,
                          len(data), size, len(name), 0, 0, 0, 0, 0o644 << 16, 0) + name
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 1, 1, len(central),
                      len(local) + len(data), 0)
    path.write_bytes(local + data + central + end)
    return path


@pytest.mark.parametrize("kind", ["tar", "zip"])
def test_a_1mib_archive_of_1gib_is_refused_before_writing(kind: str, tmp_path: Path) -> None:
    archive = (gzip_bomb(tmp_path / "bomb.tar.gz") if kind == "tar"
               else zip_bomb(tmp_path / "bomb.zip"))
    assert archive.stat().st_size < 2 << 20
    dest = tmp_path / "dest"
    started = time.monotonic()
    with pytest.raises(MultibuildError, match=r"expands to more than \d+ bytes"):
        (safe_extract_tar if kind == "tar" else safe_extract_zip)(
            archive, dest, archive.name, Limits(max_bytes=512 << 20))
    assert time.monotonic() - started < 10  # refused on the header, not after inflating it
    assert everything(dest) == []


@pytest.mark.parametrize("kind", ["tar", "zip"])
def test_default_limit_refuses_a_bomb_larger_than_it(kind: str, tmp_path: Path) -> None:
    gib = (Limits().max_bytes >> 30) + 1
    archive = (gzip_bomb(tmp_path / "bomb.tar.gz", gib) if kind == "tar"
               else zip_bomb(tmp_path / "bomb.zip", gib))
    with pytest.raises(MultibuildError, match="expands to more than"):
        (safe_extract_tar if kind == "tar" else safe_extract_zip)(
            archive, tmp_path / "dest", archive.name)
    assert everything(tmp_path / "dest") == []


@pytest.mark.parametrize("kind", ["tar", "zip"])
def test_member_count_and_env_limits(kind: str, tmp_path: Path,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    entries: list[Entry] = [(f"f{i}", b"x") for i in range(20)]
    with pytest.raises(MultibuildError, match="more than 10 members"):
        extract(kind, tmp_path, entries, tmp_path / "d1", Limits(max_members=10))
    monkeypatch.setenv("MB_EXTRACT_MAX_BYTES", "10")
    with pytest.raises(MultibuildError, match="expands to more than 10 bytes"):
        extract(kind, tmp_path, entries, tmp_path / "d2")
    monkeypatch.setenv("MB_EXTRACT_MAX_BYTES", "-1")
    with pytest.raises(MultibuildError, match="MB_EXTRACT_MAX_BYTES='-1' is not a positive"):
        extract(kind, tmp_path, entries, tmp_path / "d3")


# --------------------------------------------------------------------------- lay_out_prefix


def linux_target() -> object:
    from multibuild.deps.openblas import make_target

    return make_target({"PLAT": "x86_64", "MB_ML_VER": "2014"}, ilp64=False,
                       version="0.3.10")


def test_lay_out_prefix_never_writes_outside(tmp_path: Path) -> None:
    """Even given a tree with a linked pkgconfig (made by hand, not by extraction)."""
    from multibuild.deps.openblas import lay_out_prefix

    outside = tmp_path / "outside"
    outside.mkdir()
    pc = outside / "openblas.pc"
    pc.write_text("prefix=/usr/local\n")
    tree = tmp_path / "tree"
    (tree / "lib").mkdir(parents=True)
    (tree / "lib" / "libopenblas.so").write_bytes(b"\x7fELF")
    (tree / "lib" / "pkgconfig").symlink_to(outside)
    with pytest.raises(MultibuildError, match="lib/pkgconfig is a link"):
        lay_out_prefix(tree, tmp_path / "staged", linux_target(), "t")  # type: ignore[arg-type]
    assert pc.read_text() == "prefix=/usr/local\n"
    # A .pc that is itself a link to a file outside.
    tree2 = tmp_path / "tree2"
    (tree2 / "lib" / "pkgconfig").mkdir(parents=True)
    (tree2 / "lib" / "libopenblas.so").write_bytes(b"\x7fELF")
    (tree2 / "lib" / "pkgconfig" / "openblas.pc").symlink_to(pc)
    with pytest.raises(MultibuildError, match="points outside the prefix"):
        lay_out_prefix(tree2, tmp_path / "staged2", linux_target(), "t")  # type: ignore[arg-type]
    assert pc.read_text() == "prefix=/usr/local\n" and sorted(os.listdir(outside)) == [pc.name]


# --------------------------------------------------------------------------- the wheel source


def test_openblas_wheel_source_refuses_the_chain(tmp_path: Path) -> None:
    from multibuild.deps.openblas import Options, Target, fetch_wheel

    outside = tmp_path / "cache" / ".." / "outside"

    def downloader(target: Target, dest: Path, environ: Mapping[str, str]) -> Path:
        wheel = dest / "scipy_openblas32-0.3.10-py3-none-manylinux2014_x86_64.whl"
        make_zip(wheel, [("scipy_openblas32/" + e[0], *e[1:]) for e in CHAIN])  # type: ignore[misc]
        return wheel

    options = Options(cache_dir=tmp_path / "cache")
    with pytest.raises(MultibuildError, match=r"has '\.\.' after a name"):
        fetch_wheel(linux_target(), options, {}, downloader)  # type: ignore[arg-type]
    assert not outside.exists()
    assert [p.name for p in (tmp_path / "cache").iterdir()] == []
