"""Archives, the minor points (issue 19, point 10): the byte limit follows the size of what
is unpacked, a link that stays inside an archive but dangles once part of it is laid out is
refused, and a refused archive leaves nothing in the target."""

from __future__ import annotations

import time
import zipfile
from pathlib import Path

import pytest
from test_extract import gzip_bomb, linux_target, make_tar, make_zip, zip_bomb

from multibuild import MultibuildError
from multibuild.deps.openblas import lay_out_prefix
from multibuild.net.extract import Limits, safe_extract_tar, safe_extract_zip


@pytest.mark.parametrize("kind", ["tar", "zip"])
def test_a_1gib_bomb_is_refused_by_the_default_limits(kind: str, tmp_path: Path) -> None:
    """No explicit limit: a ~1 MiB archive may expand to max(64 MiB, 50 times its size)."""
    archive = (gzip_bomb(tmp_path / "bomb.tar.gz") if kind == "tar"
               else zip_bomb(tmp_path / "bomb.zip"))
    assert archive.stat().st_size < 2 << 20
    started = time.monotonic()
    with pytest.raises(MultibuildError, match=r"expands to more than 67108864 bytes"):
        (safe_extract_tar if kind == "tar" else safe_extract_zip)(
            archive, tmp_path / "dest", archive.name)
    assert time.monotonic() - started < 10
    assert not (tmp_path / "dest").exists()
    assert [p.name for p in tmp_path.iterdir()] == [archive.name]


def test_the_limit_follows_the_archive_size(tmp_path: Path) -> None:
    big = tmp_path / "big"
    big.write_bytes(bytes(10 << 20))
    small = tmp_path / "small"
    small.write_bytes(b"x")
    limits = Limits()
    assert limits.byte_limit(small) == 64 << 20
    assert limits.byte_limit(big) == 500 << 20
    assert Limits(max_bytes=100 << 20).byte_limit(big) == 100 << 20
    assert Limits.from_env({"MB_EXTRACT_MAX_RATIO": "2"}).byte_limit(big) == 64 << 20
    assert Limits.from_env({"MB_EXTRACT_MAX_BYTES": "10"}).byte_limit(big) == 10
    with pytest.raises(MultibuildError, match="MB_EXTRACT_MAX_RATIO='x' is not a positive"):
        Limits.from_env({"MB_EXTRACT_MAX_RATIO": "x"})


@pytest.mark.parametrize("kind", ["tar", "zip"])
def test_a_refused_archive_leaves_nothing_in_the_target(kind: str, tmp_path: Path) -> None:
    """Refused while writing (the second copy of a member), after other members were
    already unpacked: the target stays as it was, and no scratch directory is left."""
    entries = [("lib/libopenblas.so", b"\x7fELF"), ("include/cblas.h", b"/* */"),
               ("lib/a", b"1"), ("lib/a", b"2")]
    dest = tmp_path / "dest"
    dest.mkdir()
    if kind == "tar":
        archive = make_tar(tmp_path / "x.tar.gz", entries)  # type: ignore[arg-type]
        call = safe_extract_tar
    else:
        with pytest.warns(UserWarning, match="Duplicate name"):
            archive = make_zip(tmp_path / "x.zip", entries)  # type: ignore[arg-type]
        call = safe_extract_zip
    with pytest.raises(MultibuildError, match="appears twice"):
        call(archive, dest, archive.name)
    assert list(dest.iterdir()) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([archive.name, "dest"])


def test_a_target_with_files_in_it_is_refused(tmp_path: Path) -> None:
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "mine").write_text("keep")
    archive = make_tar(tmp_path / "x.tar.gz", [("a", b"1")])
    with pytest.raises(MultibuildError, match="is not a missing or empty directory"):
        safe_extract_tar(archive, dest, archive.name)
    assert [p.name for p in dest.iterdir()] == ["mine"]


def test_a_complete_archive_lands_whole(tmp_path: Path) -> None:
    archive = make_zip(tmp_path / "x.zip", [("lib/libopenblas.so.0", b"\x7fELF"),
                                            ("lib/libopenblas.so", "link", "libopenblas.so.0")])
    safe_extract_zip(archive, tmp_path / "new" / "dest", archive.name)
    assert (tmp_path / "new" / "dest" / "lib" / "libopenblas.so").read_bytes() == b"\x7fELF"
    assert sorted(p.name for p in (tmp_path / "new").iterdir()) == ["dest"]
    assert zipfile.is_zipfile(archive)


def test_a_link_left_dangling_by_the_layout_is_refused(tmp_path: Path) -> None:
    """Links that stay inside the archive, but only lib/, include/ and bin/ of its root are
    laid out: in the cache they would point at nothing, or out of the prefix."""
    cases = {
        "nothing": ([("openblas/share/libopenblas.so.0", b"\x7fELF"),
                     ("openblas/lib/libopenblas.so", "link", "../share/libopenblas.so.0")],
                    "link 'lib/libopenblas.so' -> '../share/libopenblas.so.0' points at "
                    "nothing in the prefix"),
        "outside": ([("README", b"text"),
                     ("openblas/lib/libopenblas.so", "link", "../../README")],
                    "link 'lib/libopenblas.so' -> '../../README' points outside the prefix"),
    }
    for name, (entries, message) in cases.items():
        archive = make_tar(tmp_path / f"{name}.tar.gz",  # type: ignore[arg-type]
                           [*entries, ("openblas/lib/libopenblas.a", b"!<arch>"),
                            ("openblas/include/cblas.h", b"/* */")])
        tree = tmp_path / f"tree-{name}"
        safe_extract_tar(archive, tree, archive.name)  # inside the archive: fine
        assert (tree / "openblas" / "lib" / "libopenblas.so").is_file()
        with pytest.raises(MultibuildError, match=message.replace(".", r"\.")):
            lay_out_prefix(tree, tmp_path / f"staged-{name}", linux_target(),  # type: ignore[arg-type]
                           name)
