"""Library builders (library_builders.sh, recipes.py, recipes.json) and fetch_unpack / untar,
in real bash against a loopback mirror serving small synthetic source archives.

The slow counterpart (test_recipes_slow.py) builds real upstream sources."""

from __future__ import annotations

import io
import json
import re
import shutil
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import REPO_ROOT, make_tarball, run_shell
from source_mirror import Mirror, serving, sha256

from multibuild import MultibuildError
from multibuild.deps import recipes

BUILDERS = """build_zlib build_new_zlib build_bzip2 build_xz build_libpng build_jpeg
build_libjpeg_turbo build_tiff build_openjpeg build_lcms2 build_giflib build_libwebp
build_freetype build_libyaml build_szip build_libaec build_hdf5 build_blosc build_snappy build_lzo
build_lzf build_curl build_openssl build_netcdf build_pcre build_swig build_suitesparse build_fftw
build_fftw_case
build_cfitsio build_libtool build_ragel build_bison build_flex get_modern_cmake get_cmake
build_github build_simple fetch_unpack untar ensure_xz build_openblas openblas_get""".split()

# A configure script that writes a Makefile installing one file (honouring DESTDIR, as autotools
# does) and counts builds in $BUILD_COUNT.
CONFIGURE = """#!/bin/sh
prefix=/usr/local
for a in "$@"; do case $a in --prefix=*) prefix=${a#--prefix=};; esac; done
echo built >> "${BUILD_COUNT:-/dev/null}"
printf 'all:\\n\\t@echo compiling\\n' > Makefile
printf 'install:\\n\\tmkdir -p $(DESTDIR)%s/lib\\n' "$prefix" >> Makefile
printf '\\techo "$(notdir $(CURDIR)) %s" > $(DESTDIR)%s/lib/installed.txt\\n' "$*" "$prefix" \\
    >> Makefile
"""


def script(text: str, **kw: object) -> tuple[int, str, str]:
    done = run_shell(text, **kw)  # type: ignore[arg-type]
    return done.returncode, done.stdout, done.stderr


@pytest.fixture
def mirror(tmp_path: Path) -> Iterator[Mirror]:
    root = tmp_path / "mirror"
    root.mkdir()
    with serving(root) as served:
        yield served


class Work:
    """A job's directory, prefix and caches, and the environment prefix of its shell lines."""

    def __init__(self, tmp: Path, mirror: Mirror) -> None:
        self.dir = tmp / "work"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.prefix = tmp / "prefix"
        self.cache = tmp / "cache"
        self.count = tmp / "count"
        self.lock = tmp / "repo" / "archives.lock"  # the wheels repository's lock file
        self.mirror = mirror

    @property
    def builds(self) -> int:
        return len(self.count.read_text().split()) if self.count.exists() else 0

    def env(self, extra: str = "") -> str:
        return (f"cd {self.dir} && export BUILD_PREFIX={self.prefix} MB_CACHE_DIR={self.cache} "
                f"BUILD_COUNT={self.count} MB_SOURCE_MIRROR={self.mirror.url} "
                f"MB_ARCHIVES_LOCK={self.lock} MB_RETRY_BACKOFF=0 {extra}\n")


@pytest.fixture
def work(tmp_path: Path, mirror: Mirror) -> Work:
    return Work(tmp_path, mirror)


def serve_tarball(mirror: Mirror, name: str, top: str, files: dict[str, str] | None = None) -> str:
    path = mirror.root / name
    make_tarball(path, top, files if files is not None else {"configure": CONFIGURE})
    return sha256(path)


# --- the functions and the table -------------------------------------------------------------

def test_every_multibuild_builder_is_defined() -> None:
    code, out, err = script(f"for f in {' '.join(BUILDERS)}; do declare -F $f || echo MISSING $f; "
                            "done")
    assert code == 0 and "MISSING" not in out, out + err


def test_library_builders_sourced_alone_bring_the_library() -> None:
    # multibuild's own tests source library_builders.sh without common_utils.sh.
    done = run_shell(f'source "{REPO_ROOT}/multibuild/library_builders.sh"; declare -F build_hdf5 '
                     'fetch_unpack; echo "$LIBPNG_VERSION $ARCHIVE_SDIR"')
    assert done.returncode == 0, done.stderr
    assert "build_hdf5" in done.stdout and "fetch_unpack" in done.stdout
    assert "1.6.39 archives" in done.stdout


def test_table_matches_the_shell_recipes_and_generated_files() -> None:
    table = recipes.load_table()
    shell = (REPO_ROOT / "multibuild" / "library_builders.sh").read_text()
    calls = {m.group(2): (m.group(1), m.group(3))
             for m in re.finditer(r"mb_recipe (build_\w+) ([\w-]+) (\w+) ", shell)}
    assert set(calls) == set(table)
    for key, recipe in table.items():
        assert calls[key] == (recipe.function, recipe.var), key
        assert re.search(rf"^function {recipe.function} \{{", shell, re.M), recipe.function
        known = recipe.known[recipe.version]  # the default version is always in the table
        if known.verified:
            assert known.sha256 is not None
        assert known.evidence
    # recipes.sh and the docs' recipe table (docs/library-builders.md) are generated from the
    # JSON, and in sync with it.
    assert (REPO_ROOT / "multibuild" / "recipes.sh").read_text() == recipes.shell_defaults(table)
    assert recipes.markdown_table(table) in (REPO_ROOT / "docs" / "library-builders.md").read_text()


def test_verified_checksums_are_those_of_debians_identical_archives() -> None:
    data = json.loads(recipes.TABLE.read_text())["recipes"]
    for key, entry in data.items():
        for version, known in entry["known"].items():
            debian = known.get("debian")
            if known["verified"]:
                assert debian and debian["identical"], (key, version)
                assert debian["sha256"] == known["sha256"], (key, version)
            elif debian:
                assert not debian["identical"] and debian["sha256"] != known["sha256"], key


def test_default_versions_are_overridable_before_sourcing() -> None:
    done = run_shell("echo $ZLIB_VERSION $OPENSSL_ROOT $HDF5_VERSION",
                     env={"ZLIB_VERSION": "1.3.1"})
    assert done.stdout.split() == ["1.3.1", "openssl-3.0.22", "1.10.8"]


@pytest.mark.parametrize(("key", "version", "file", "url"), [
    ("openjpeg", "2.1", "openjpeg-2.1.tar.gz",
     "https://github.com/uclouvain/openjpeg/archive/version.2.1.tar.gz"),
    ("openjpeg", "2.5.0", "openjpeg-2.5.0.tar.gz",
     "https://github.com/uclouvain/openjpeg/archive/v2.5.0.tar.gz"),
    ("cfitsio", "3450", "cfitsio3450.tar.gz",
     "https://heasarc.gsfc.nasa.gov/FTP/software/fitsio/c/cfitsio3450.tar.gz"),
    ("hdf5", "1.12.2", "hdf5-1.12.2.tar.gz", "https://support.hdfgroup.org/ftp/HDF5/releases/"
     "hdf5-1.12/hdf5-1.12.2/src/hdf5-1.12.2.tar.gz"),
])
def test_archive_names_and_urls_follow_upstream_layouts(key: str, version: str, file: str,
                                                        url: str) -> None:
    assert recipes.load_table()[key].names(version) == (file, url)


def test_resolve_mirror_download_url_and_refusals() -> None:
    png = recipes.load_table()["libpng"]
    default = recipes.resolve(png, caller="build_libpng")
    assert default.sha256 == png.known["1.6.39"].sha256
    assert default.url.startswith("https://github.com/glennrp/libpng/")
    mirrored = recipes.resolve(png, caller="build_libpng", mirror="http://m.example/src/")
    assert mirrored.url == "http://m.example/src/libpng-1.6.39.tar.gz"
    # A recipe's own download URL wins over the mirror (multibuild's OPENSSL_DOWNLOAD_URL).
    own = recipes.resolve(png, caller="build_libpng", mirror="http://m.example",
                          base_url="https://own.example/png")
    assert own.url == "https://own.example/png/libpng-1.6.39.tar.gz"
    # A version the table does not know has no sha256 here: the fetch checks the lock file.
    unknown = recipes.resolve(png, caller="build_libpng", version="1.6.40")
    assert unknown.sha256 is None and unknown.file == "libpng-1.6.40.tar.gz"
    with pytest.raises(MultibuildError, match="LIBPNG_SHA256='abc' is not a sha256"):
        recipes.resolve(png, caller="build_libpng", sha256="abc")
    with pytest.raises(MultibuildError, match=r"LIBPNG_VERSION='1\.6; rm' is not a version"):
        recipes.resolve(png, caller="build_libpng", version="1.6; rm")
    with pytest.raises(MultibuildError, match="MB_SOURCE_MIRROR 'mirror/dir' is not a URL"):
        recipes.resolve(png, caller="build_libpng", mirror="mirror/dir")
    # An upstream URL of the table is verified even through plain fetch_unpack.
    assert recipes.known_sha256(default.url, recipes.load_table()) == default.sha256


# --- fetch_unpack and untar --------------------------------------------------------------------

def test_fetch_unpack_prints_the_unpacked_dir_caches_and_refreshes(work: Work,
                                                                   mirror: Mirror) -> None:
    digest = serve_tarball(mirror, "pkg-1.0.tar.gz", "pkg-1.0", {"README": "hello"})
    code, out, err = script(work.env() + f"out=$(fetch_unpack {mirror.url}/pkg-1.0.tar.gz)\n"
                            'echo "dir=$out"; cat "$out/README"; echo; touch "$out/stale"')
    assert code == 0, err
    assert "dir=pkg-1.0" in out and "hello" in out
    assert (work.dir / "archives" / "pkg-1.0.tar.gz").is_file()
    # No checksum known: recorded on first download in the repository's lock, with a notice.
    assert f"notice: fetch_unpack: pkg-1.0.tar.gz is in no recipe table; its sha256 {digest} " \
        f"is now recorded in {work.lock}" in err
    assert f"{digest}  pkg-1.0.tar.gz" in work.lock.read_text()
    # Re-run: the archive comes from ARCHIVE_SDIR (the server is not asked again) and the
    # unpacked tree is replaced, as multibuild's rsync --delete did.
    before = mirror.hits("pkg-1.0.tar.gz")
    code, out, err = script(work.env() + f"fetch_unpack {mirror.url}/pkg-1.0.tar.gz")
    assert code == 0 and out.split() == ["pkg-1.0"], err
    assert mirror.hits("pkg-1.0.tar.gz") == before
    assert not (work.dir / "pkg-1.0" / "stale").exists()


def test_fetch_unpack_archive_name_dir_and_checksum_arguments(work: Work, mirror: Mirror) -> None:
    digest = serve_tarball(mirror, "v2.tar.gz", "thing-2", {"a": "1"})
    code, out, err = script(work.env("ARCHIVE_SDIR=../store") +
                            f"fetch_unpack {mirror.url}/v2.tar.gz thing-2.tar.gz {digest}")
    assert code == 0 and out.split() == ["thing-2"], err
    assert (work.dir.parent / "store" / "thing-2.tar.gz").is_file()
    assert "notice" not in err and not work.lock.exists()


def test_a_tampered_archive_is_refused_and_nothing_is_kept(work: Work, mirror: Mirror) -> None:
    digest = serve_tarball(mirror, "pkg-1.0.tar.gz", "pkg-1.0", {"README": "good"})
    serve_tarball(mirror, "pkg-1.0.tar.gz", "pkg-1.0", {"README": "evil"})
    code, out, err = script(work.env() + f"fetch_unpack {mirror.url}/pkg-1.0.tar.gz '' {digest}")
    assert code != 0 and out == ""
    assert "sha256 mismatch" in err and "pkg-1.0.tar.gz" in err
    assert not (work.dir / "pkg-1.0").exists()
    assert not any((work.dir / "archives").iterdir())


def test_a_changed_archive_under_a_recorded_name_is_refused(work: Work, mirror: Mirror) -> None:
    serve_tarball(mirror, "pkg-1.0.tar.gz", "pkg-1.0", {"README": "first"})
    assert script(work.env() + f"fetch_unpack {mirror.url}/pkg-1.0.tar.gz")[0] == 0
    (work.dir / "archives" / "pkg-1.0.tar.gz").unlink()  # fetched again: must be the same file
    serve_tarball(mirror, "pkg-1.0.tar.gz", "pkg-1.0", {"README": "second"})
    code, _out, err = script(work.env() + f"fetch_unpack {mirror.url}/pkg-1.0.tar.gz")
    assert code != 0 and "sha256 mismatch" in err
    # MB_REQUIRE_SHA256=1: an archive with no known checksum is not even fetched.
    code, _out, err = script(work.env("MB_REQUIRE_SHA256=1") +
                             f"fetch_unpack {mirror.url}/other-1.0.tar.gz")
    assert code != 0 and "no sha256 known for other-1.0.tar.gz" in err
    assert mirror.hits("other-1.0.tar.gz") == 0


def test_downloads_are_retried_with_a_bound(work: Work, mirror: Mirror) -> None:
    serve_tarball(mirror, "flaky-1.0.tar.gz", "flaky-1.0", {"x": "1"})
    mirror.fail("flaky-1.0.tar.gz", 2)
    code, out, err = script(work.env("MB_RETRIES=3") +
                            f"fetch_unpack {mirror.url}/flaky-1.0.tar.gz")
    assert code == 0 and out.split() == ["flaky-1.0"], err
    assert mirror.hits("flaky-1.0.tar.gz") == 3
    mirror.fail("down-1.0.tar.gz", 100)
    code, out, err = script(work.env("MB_RETRIES=2") +
                            f"fetch_unpack {mirror.url}/down-1.0.tar.gz")
    assert code != 0 and "failed after 2 attempts" in err
    assert mirror.hits("down-1.0.tar.gz") == 2
    # A missing file (404) does not heal: not retried.
    code, _out, err = script(work.env("MB_RETRIES=3") + f"fetch_unpack {mirror.url}/nope.tar.gz")
    assert code != 0 and "HTTP 404" in err and mirror.hits("nope.tar.gz") == 1


def test_escaping_archives_are_refused(work: Work, mirror: Mirror) -> None:
    evil = mirror.root / "evil-1.0.tar.gz"
    with tarfile.open(evil, "w:gz") as tar:
        for name in ("evil-1.0/ok", "../outside"):
            info = tarfile.TarInfo(name)
            info.size = 1
            tar.addfile(info, io.BytesIO(b"x"))
    code, _out, err = script(work.env() + f"fetch_unpack {mirror.url}/evil-1.0.tar.gz")
    assert code != 0 and "'..'" in err
    assert not (work.dir.parent / "outside").exists() and not (work.dir / "evil-1.0").exists()
    code, _out, err = script(f"cd {work.dir} && untar {evil}")
    assert code != 0 and not (work.dir.parent / "outside").exists()


def test_unpacked_files_keep_their_archived_times(work: Work, mirror: Mirror) -> None:
    # Autotools trees depend on it (configure older than configure.ac would be regenerated).
    with tarfile.open(mirror.root / "times-1.0.tar.gz", "w:gz") as tar:
        for name, when in (("times-1.0/configure.ac", 1_000_000_000),
                           ("times-1.0/configure", 1_600_000_000)):
            info = tarfile.TarInfo(name)
            info.size, info.mtime = 1, when
            tar.addfile(info, io.BytesIO(b"x"))
    code, _out, err = script(work.env() + f"fetch_unpack {mirror.url}/times-1.0.tar.gz")
    assert code == 0, err
    tree = work.dir / "times-1.0"
    assert (tree / "configure.ac").stat().st_mtime == 1_000_000_000
    assert (tree / "configure").stat().st_mtime == 1_600_000_000


def test_untar_contract(tmp_path: Path) -> None:
    archive = tmp_path / "pkg-2.0.tar.xz"
    with tarfile.open(archive, "w:xz") as tar:
        info = tarfile.TarInfo("pkg-2.0/f")
        info.size = 2
        tar.addfile(info, io.BytesIO(b"hi"))
    code, out, err = script(f"cd {tmp_path} && untar {archive} && cat pkg-2.0/f")
    assert code == 0 and out == "hi", err
    for call, message in ((f"untar {tmp_path}/x.rar", "untar: unknown archive type"),
                          ("untar", "untar: ARCHIVE (argument 1) is empty"),
                          (f"untar {tmp_path}/none.tar.gz", "untar: no such file"),
                          ("fetch_unpack", "fetch_unpack: URL (argument 1) is empty")):
        code, _out, err = script(f"cd {tmp_path} && {call}")
        lines = err.strip().splitlines()
        assert code != 0 and len(lines) == 1 and message in lines[0], (call, err)


# --- recipes ---------------------------------------------------------------------------------

def test_recipe_builds_from_the_mirror_stamps_and_hits_the_cache(work: Work,
                                                                 mirror: Mirror) -> None:
    digest = serve_tarball(mirror, "liblzf-9.9.tar.gz", "liblzf-9.9")
    code, out, err = script(work.env(f"LZF_VERSION=9.9 LZF_SHA256={digest}") + "build_lzf")
    assert code == 0, err
    assert work.builds == 1 and "built, cached as" in out
    assert (work.prefix / "lib" / "installed.txt").read_text().startswith("liblzf-9.9 ")
    assert (work.dir / "liblzf-stamp").is_file()
    assert mirror.hits("liblzf-9.9.tar.gz") == 1
    # A new job (no stamp, an empty BUILD_PREFIX, no archives): from the cache, nothing fetched.
    shutil.rmtree(work.prefix)
    fresh = Work(work.dir.parent / "job2", mirror)
    fresh.prefix, fresh.cache, fresh.count = work.prefix, work.cache, work.count
    code, out, err = script(fresh.env(f"LZF_VERSION=9.9 LZF_SHA256={digest}") + "build_lzf")
    assert code == 0 and "from the library cache" in out, err
    assert work.builds == 1 and mirror.hits("liblzf-9.9.tar.gz") == 1
    assert (fresh.prefix / "lib" / "installed.txt").is_file()


def test_a_pinned_version_outside_the_table_is_recorded_then_checked(work: Work,
                                                                     mirror: Mirror) -> None:
    """A config pins LZF_VERSION=9.9, which the table does not know: the first build fetches
    it and records its sha256 in the repository's lock file (one notice line); later builds
    check it against that record; a different file is a hard error; strict mode refuses an
    unrecorded archive."""
    digest = serve_tarball(mirror, "liblzf-9.9.tar.gz", "liblzf-9.9")
    code, _out, err = script(work.env("LZF_VERSION=9.9") + "build_lzf")
    assert code == 0, err
    notices = [ln for ln in err.splitlines() if ln.startswith("notice:")]
    assert notices == [f"notice: build_lzf: liblzf-9.9.tar.gz is in no recipe table; its sha256 "
                       f"{digest} is now recorded in {work.lock} (commit it: later runs check "
                       "the archive against it)"]
    assert work.lock.read_text().startswith("# sha256 of the source archives")
    assert f"{digest}  liblzf-9.9.tar.gz\n" in work.lock.read_text()
    assert (work.prefix / "lib" / "installed.txt").is_file()
    # Another job fetches it again (no archive, no cache): checked against the record.
    again = Work(work.dir.parent / "job2", mirror)
    again.lock = work.lock
    code, _out, err = script(again.env("LZF_VERSION=9.9") + "build_lzf")
    assert code == 0 and "notice" not in err, err
    # The server now has another file under that name: refused, nothing installed.
    serve_tarball(mirror, "liblzf-9.9.tar.gz", "liblzf-9.9", {"configure": "#!/bin/sh\nexit 1\n"})
    third = Work(work.dir.parent / "job3", mirror)
    third.lock = work.lock
    code, _out, err = script(third.env("LZF_VERSION=9.9") + "build_lzf")
    assert code != 0 and "sha256 mismatch" in err and digest in err
    assert not third.prefix.exists() and not (third.dir / "liblzf-stamp").exists()
    # Strict mode: an archive recorded nowhere is not even fetched.
    strict = Work(work.dir.parent / "job4", mirror)
    serve_tarball(mirror, "liblzf-9.8.tar.gz", "liblzf-9.8")
    code, _out, err = script(strict.env("LZF_VERSION=9.8 MB_REQUIRE_SHA256=1") + "build_lzf")
    assert code != 0 and mirror.hits("liblzf-9.8.tar.gz") == 0
    last = err.strip().splitlines()[-1]
    assert last.startswith("error: build_lzf: no sha256 known for liblzf-9.8.tar.gz")
    assert "MB_REQUIRE_SHA256=1 refuses it" in last


def test_an_archive_under_multibuilds_name_in_archive_sdir_is_used(work: Work,
                                                                   mirror: Mirror) -> None:
    """pillow-wheels keeps its archives in ARCHIVE_SDIR under multibuild's names:
    xz-5.4.4.tar.gz, where the table's recipe fetches xz-5.4.4.tar.xz. Nothing is fetched."""
    store = work.dir / "deps"
    store.mkdir()
    make_tarball(store / "xz-5.4.4.tar.gz", "xz-5.4.4", {"configure": CONFIGURE})
    digest = sha256(store / "xz-5.4.4.tar.gz")
    code, _out, err = script(work.env("ARCHIVE_SDIR=deps XZ_VERSION=5.4.4") + "build_xz")
    assert code == 0, err
    assert mirror.requests == []
    assert (work.prefix / "lib" / "installed.txt").read_text().startswith("xz-5.4.4 ")
    assert f"{digest}  xz-5.4.4.tar.gz" in work.lock.read_text()
    assert "notice: build_xz: xz-5.4.4.tar.gz is in no recipe table" in err
    assert recipes.load_table()["openjpeg"].also_named("2.5.0") == ["v2.5.0.tar.gz"]
    assert recipes.load_table()["openjpeg"].also_named("2.1") == ["version.2.1.tar.gz"]
    assert recipes.load_table()["libpng"].also_named("1.6.40") == []


def test_recipe_checksum_mismatch_installs_nothing(work: Work, mirror: Mirror) -> None:
    serve_tarball(mirror, "liblzf-9.9.tar.gz", "liblzf-9.9")
    code, _out, err = script(work.env(f"LZF_VERSION=9.9 LZF_SHA256={'0' * 64}") + "build_lzf")
    assert code != 0 and "sha256 mismatch" in err
    assert work.builds == 0 and not work.prefix.exists()
    assert not (work.dir / "liblzf-stamp").exists()
    assert not list((work.dir / "archives").glob("liblzf*"))


def test_default_recipe_goes_to_the_mirror_with_the_tables_checksum(work: Work,
                                                                    mirror: Mirror) -> None:
    # The mirror holds something else under bzip2's name: the table's sha256 refuses it.
    serve_tarball(mirror, "bzip2-1.0.8.tar.gz", "bzip2-1.0.8")
    code, _out, err = script(work.env() + "build_bzip2")
    assert code != 0 and "sha256 mismatch" in err
    assert recipes.load_table()["bzip2"].known["1.0.8"].sha256 in err
    assert mirror.hits("bzip2-1.0.8.tar.gz") == 1


def test_source_tree_with_another_name_and_download_url_variable(work: Work,
                                                                 mirror: Mirror) -> None:
    # Repacked archives unpack to other names (hdf5-1.10.8+repack1): the one tree is used.
    config = ("#!/bin/sh\nprefix=/usr/local\nfor a in \"$@\"; do case $a in --prefix=*) "
              "prefix=${a#--prefix=};; esac; done\n"
              "printf 'all:\\n\\ninstall_sw:\\n\\tmkdir -p $(DESTDIR)%s/lib && echo \"%s\" > "
              "$(DESTDIR)%s/lib/installed.txt\\n' \"$prefix\" \"$*\" \"$prefix\" > Makefile\n")
    serve_tarball(mirror, "openssl-9.0.0.tar.gz", "openssl-9.0.0+repack", {"config": config})
    digest = sha256(mirror.root / "openssl-9.0.0.tar.gz")
    (mirror.root / "own").mkdir()
    (mirror.root / "openssl-9.0.0.tar.gz").rename(mirror.root / "own" / "openssl-9.0.0.tar.gz")
    code, _out, err = script(work.env(
        f"OPENSSL_ROOT=openssl-9.0.0 OPENSSL_HASH={digest} "
        f"OPENSSL_DOWNLOAD_URL={mirror.url}/own") + "build_openssl")
    assert code == 0, err
    installed = (work.prefix / "lib" / "installed.txt").read_text()
    assert "no-shared -fPIC" in installed and "--libdir=lib" in installed
    assert mirror.hits("openssl-9.0.0.tar.gz") == 1 and (work.dir / "openssl-stamp").is_file()


def test_build_github_and_build_simple_arguments(work: Work, mirror: Mirror) -> None:
    serve_tarball(mirror, "arb-2.11.1.tar.gz", "arb-2.11.1")
    code, _out, err = script(work.env() + "build_github fredrik-johansson/arb 2.11.1 --with-x")
    assert code == 0, err
    assert "--with-x" in (work.prefix / "lib" / "installed.txt").read_text()
    assert (work.dir / "arb-stamp").is_file()
    assert "notice: fetch_unpack: arb-2.11.1.tar.gz is in no recipe table" in err  # recorded
    for call, message in (
            ("build_github arb", "build_github: OWNER/REPO (argument 1) is 'arb'"),
            ("build_github a/b", "build_github: TAG (argument 2) is ''"),
            ("build_simple", "build_simple: NAME is empty"),
            ("build_simple tiny", "build_simple: VERSION is empty"),
            ("build_simple tiny 1.0", "build_simple: URL is empty"),
            ("build_simple a/b 1.0 http://x", "build_simple: NAME 'a/b' must not contain '/'")):
        code, _out, err = script(work.env() + call)
        assert code != 0 and message in err and len(err.strip().splitlines()) == 1, (call, err)


def test_build_simple_checks_name_sha256_and_table_urls(work: Work, mirror: Mirror) -> None:
    digest = serve_tarball(mirror, "tiny-1.0.tar.gz", "tiny-1.0")
    code, _out, err = script(work.env(f"TINY_SHA256={digest}") +
                             f"build_simple tiny 1.0 {mirror.url}")
    assert code == 0 and "is in no recipe table" not in err, err
    serve_tarball(mirror, "my-lib-1.0.tar.gz", "my-lib-1.0")
    code, _out, err = script(work.env(f"MY_LIB_SHA256={'1' * 64}") +
                             f"build_simple my-lib 1.0 {mirror.url}")
    assert code != 0 and "sha256 mismatch" in err and "1" * 64 in err


def test_library_functions_work_under_set_e(work: Work, mirror: Mirror) -> None:
    digest = serve_tarball(mirror, "liblzf-9.9.tar.gz", "liblzf-9.9")
    env = work.env(f"LZF_VERSION=9.9 LZF_SHA256={digest}")
    code, out, err = script("set -e\n" + env + "build_lzf; build_lzf; rm liblzf-stamp; build_lzf\n"
                            f"out=$(fetch_unpack {mirror.url}/liblzf-9.9.tar.gz '' {digest})\n"
                            "echo survived $out")
    assert code == 0 and "survived liblzf-9.9" in out, out + err
    code, out, _err = script("set -e\n" + work.env("LZF_VERSION=8.8") +
                             "rm -f liblzf-stamp; build_lzf; echo not-reached")
    assert code != 0 and "not-reached" not in out


def test_build_zlib_uses_the_systems_zlib_when_the_compiler_finds_it(tmp_path: Path) -> None:
    code, out, _err = script(f"cd {tmp_path} && mb_have_header zlib.h && echo found")
    if "found" not in out:
        pytest.skip("no zlib.h here: build_zlib would install it with the package manager")
    code, out, err = script(f"cd {tmp_path} && export BUILD_PREFIX={tmp_path}/prefix && build_zlib")
    assert code == 0 and (tmp_path / "zlib-stamp").is_file(), err
    assert not (tmp_path / "prefix").exists()


def test_get_modern_cmake_prints_a_cmake_command() -> None:
    code, out, err = script("get_modern_cmake; get_cmake")
    if code != 0 and "no CMake >= 3" in err:
        pytest.skip("no cmake >= 3 here and no package manager to install it")
    assert code == 0 and out.split() == ["cmake", "cmake"], err
    assert "deprecated" in err
