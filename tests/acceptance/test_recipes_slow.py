"""The library builders on real upstream sources, offline: Debian's .orig archives served on
127.0.0.1 as MB_SOURCE_MIRROR, built with the real recipes, then a C extension linking zlib and
libpng built, repaired by auditwheel (libpng bundled; zlib is a manylinux system library) and
run from a clean environment (slow: ./wheels test --slow -k recipes)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import FIXTURES, REPO_ROOT, run_shell, tool_env
from source_mirror import DebianUnavailable, Mirror, debian_origs, serving

from multibuild.deps import recipes

pytestmark = pytest.mark.slow

# The recipes built here, in build order (each after the ones it needs).
TESTED = {"zlib": "build_new_zlib", "bzip2": "build_bzip2", "xz": "build_xz",
          "libpng": "build_libpng", "libjpeg-turbo": "build_libjpeg_turbo",
          "freetype": "build_freetype", "hdf5": "build_hdf5"}
DEBIAN_CACHE = REPO_ROOT / "build" / "cache" / "debian-sources"


@dataclass
class Upstream:
    mirror: Mirror
    overrides: dict[str, str]  # <VAR>_SHA256 of Debian's repacked archives


@pytest.fixture(scope="module")
def upstream(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Upstream]:
    table = recipes.load_table()
    data = json.loads(recipes.TABLE.read_text())["recipes"]
    wanted = []
    for key in TESTED:
        debian = data[key]["known"][table[key].version]["debian"]
        wanted.append((debian["package"], debian["orig"], debian["sha256"]))
    try:
        origs = debian_origs(DEBIAN_CACHE, wanted)
    except DebianUnavailable as exc:
        pytest.skip(f"Debian's source archives are not available: {exc}")
    root = tmp_path_factory.mktemp("mirror")
    overrides = {}
    for key in TESTED:
        recipe = table[key]
        debian = data[key]["known"][recipe.version]["debian"]
        file, _url = recipe.names(recipe.version)
        shutil.copyfile(origs[debian["orig"]], root / file)  # the recipe's own file name
        if not debian["identical"]:
            overrides[f"{recipe.var}_SHA256"] = debian["sha256"]
    with serving(root) as mirror:
        yield Upstream(mirror, overrides)


@dataclass
class Built:
    prefix: Path
    cache: Path
    output: str


def build_script(work: Path, prefix: Path, cache: Path, upstream: Upstream) -> str:
    exports = " ".join(f"{k}={v}" for k, v in upstream.overrides.items())
    return (f"set -e\ncd {work}\nexport BUILD_PREFIX={prefix} MB_CACHE_DIR={cache} "
            f"MB_SOURCE_MIRROR={upstream.mirror.url} MB_JOBS=2 {exports}\n"
            # libaec's archive cannot be obtained here (recipes.json): its stamp skips it, as
            # multibuild users do, and HDF5 configures without szip.
            "touch libaec-stamp\n" + "\n".join(TESTED.values()) + "\necho all-built\n")


@pytest.fixture(scope="module")
def built(upstream: Upstream, tmp_path_factory: pytest.TempPathFactory) -> Built:
    tmp = tmp_path_factory.mktemp("recipes")
    work, prefix, cache = tmp / "work", tmp / "prefix", tmp / "cache"
    work.mkdir()
    done = run_shell(build_script(work, prefix, cache, upstream), timeout=5400)
    assert done.returncode == 0 and "all-built" in done.stdout, (
        done.stdout[-4000:] + done.stderr[-4000:])
    return Built(prefix, cache, done.stdout + done.stderr)


def test_real_recipes_build_verified_sources_into_build_prefix(built: Built,
                                                              upstream: Upstream) -> None:
    lib, include = built.prefix / "lib", built.prefix / "include"
    for name in ("libz.so.1.2.13", "libbz2.a", "liblzma.so.5", "libpng16.so.16",
                 "libjpeg.so.62", "libturbojpeg.so", "libfreetype.so.6", "libhdf5.so"):
        assert list(lib.glob(name + "*")), name
    for header in ("zlib.h", "bzlib.h", "lzma.h", "png.h", "jpeglib.h",
                   "freetype2/ft2build.h", "hdf5.h"):
        assert (include / header).is_file(), header
    # FreeType found the libpng and bzip2 built before it.
    assert "libpng" in (lib / "pkgconfig" / "freetype2.pc").read_text()
    for key in TESTED:
        file, _url = recipes.load_table()[key].names(recipes.load_table()[key].version)
        assert upstream.mirror.hits(file) == 1, file
    # Only Debian's repacks needed a checksum of their own; the others matched the table.
    assert set(upstream.overrides) == {"ZLIB_SHA256", "FREETYPE_SHA256", "HDF5_SHA256"}
    assert "is in no recipe table" not in built.output


def test_a_new_job_refills_build_prefix_from_the_library_cache(built: Built, upstream: Upstream,
                                                               tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    prefix_copy = tmp_path / "kept"
    shutil.copytree(built.prefix, prefix_copy, symlinks=True)
    shutil.rmtree(built.prefix)  # a new container: no stamps, an empty BUILD_PREFIX
    try:
        done = run_shell(build_script(work, built.prefix, built.cache, upstream), timeout=600)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        assert done.stdout.count("from the library cache") == len(TESTED)
        assert "built, cached" not in done.stdout
        assert (built.prefix / "include" / "hdf5.h").is_file()
    finally:
        shutil.rmtree(built.prefix, ignore_errors=True)
        shutil.copytree(prefix_copy, built.prefix, symlinks=True)


def test_extension_linking_zlib_and_libpng_is_repaired_and_runs_from_its_wheel(
        built: Built, tmp_path: Path) -> None:
    project = tmp_path / "pngz"
    shutil.copytree(FIXTURES / "pngz", project)
    dist, wheelhouse = tmp_path / "dist", tmp_path / "wheelhouse"
    env = tool_env({"PNGZ_PREFIX": str(built.prefix), "PIP_CONFIG_FILE": "/dev/null"})
    subprocess.run([sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir",
                    str(dist), str(project)], env=env, check=True, capture_output=True)
    wheelhouse.mkdir()
    done = run_shell(f"export LD_LIBRARY_PATH={built.prefix}/lib\n"
                     f"repair_wheelhouse {dist} {wheelhouse}", timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    (wheel,) = wheelhouse.glob("pngz-*.whl")
    assert "manylinux" in wheel.name
    names = zipfile.ZipFile(wheel).namelist()
    bundled = sorted(n.split("/", 1)[1] for n in names if n.startswith("pngz.libs/"))
    assert any(n.startswith("libpng16-") for n in bundled), bundled
    # libz.so.1 is one of the system libraries every manylinux platform provides (auditwheel's
    # policy): it is linked, not grafted, as with multibuild's build_zlib.
    assert manylinux_whitelists("libz.so.1") and not any(n.startswith("libz") for n in bundled)

    # A clean environment: no LD_LIBRARY_PATH, no BUILD_PREFIX; the wheel's own copies load.
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    clean = {k: v for k, v in os.environ.items() if k not in ("LD_LIBRARY_PATH", "PYTHONPATH")}
    clean["PIP_CONFIG_FILE"] = "/dev/null"
    subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet",
                    "--no-index", "--no-input", str(wheel)], env=clean, check=True)
    check = ("import pngz\n"
             "assert pngz.roundtrip(b'abc' * 1000) == b'abc' * 1000\n"
             "png = pngz.gray_png(16, 8)\n"
             "assert png.startswith(b'\\x89PNG\\r\\n\\x1a\\n'), png[:8]\n"
             "print(pngz.zlib_version(), pngz.libpng_version())\n"
             "print(open('/proc/self/maps').read())\n")
    empty = tmp_path / "empty"
    empty.mkdir()
    ran = subprocess.run([str(venv / "bin" / "python"), "-c", check], cwd=empty, env=clean,
                         capture_output=True, text=True, check=False)
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.splitlines()[0] == "1.2.13 1.6.39"
    loaded = [line.split()[-1] for line in ran.stdout.splitlines()[1:] if ".so" in line]
    assert any("/pngz.libs/libpng16-" in path for path in loaded), loaded
    assert any("/libz.so" in path and "pngz.libs" not in path for path in loaded), loaded


def manylinux_whitelists(library: str) -> bool:
    """Whether every manylinux policy of the installed auditwheel counts ``library`` as part of
    the platform."""
    import auditwheel

    policies = json.loads((Path(auditwheel.__file__).parent / "policy" /
                           "manylinux-policy.json").read_text())
    return all(library in policy["lib_whitelist"] for policy in policies
               if policy["name"] != "linux")
