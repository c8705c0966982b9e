"""OpenBLAS for builds: fetch, verify, cache and unpack it; check which one a package uses.

Two sources behind one interface:

* ``wheel`` (default): the ``scipy-openblas32`` / ``scipy-openblas64`` wheels from the package
  index, pinned by ``OPENBLAS_VERSION``, downloaded with pip for the *target* platform tag (so
  a macOS or Windows artifact can be fetched and inspected from Linux). pip checks the index's
  sha256; the wheel's RECORD hashes are checked again on extraction.
* ``tarball``: archives in the historical ``openblas-libs`` naming under a base URL, each
  verified against the sha256 table kept in the repository (``tools/openblas_sha256.json``).

Either way the result is a *prefix* holding ``lib/``, ``include/`` and ``lib/pkgconfig/*.pc``
(paths relative to ``${pcfiledir}``, so valid wherever the prefix lives), in a cache keyed by the
artifact's sha256. A warm run needs no network. Every write goes to a temporary name first and
is renamed into place; a failure leaves nothing behind.

Top-level imports are stdlib only: ``--check_version`` runs in a test environment that has
nothing but the package under test installed.
"""

from __future__ import annotations

import argparse
import ctypes
import hashlib
import importlib
import importlib.util
import json
import os
import re
import shlex
import subprocess
import sys
import sysconfig
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from multibuild import MultibuildError, UsageError, run_cli
from multibuild.core.files import atomic_write
from multibuild.core.shellvars import records
from multibuild.deps.licenses import copy_artifact_licence, has_artifact_licence
from multibuild.net.extract import check_links
from multibuild.net.extract import safe_extract_tar as safe_extract_tar  # moved there; re-exported
from multibuild.net.extract import safe_extract_zip as safe_extract_zip
from multibuild.net.extract import verify_wheel_record as verify_wheel_record
from multibuild.net.fetch import Http, Interrupted, exit_status, raise_on_sigterm, url_problem
from multibuild.net.fetch import download as fetch_download

if TYPE_CHECKING:
    from multibuild.core.platforms import Platform

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_VERSION = "0.3.34.481.3"
DEFAULT_SHA256_TABLE = ROOT / "tools" / "openblas_sha256.json"
SOURCES = ("wheel", "tarball")
# macOS deployment targets asked of the index when MACOSX_DEPLOYMENT_TARGET is unset.
DEFAULT_MACOS_TARGET = {"x86_64": "10.13", "arm64": "11.0"}
# multibuild platforms with no OpenBLAS artifact of their own.
UNSUPPORTED_PLATS = frozenset({"universal2"})
LIBRARY_SUFFIXES = {
    "linux": (".so", ".a"),
    "macos": (".dylib", ".a"),
    "windows": (".dll", ".lib", ".a"),
}
CONFIG_SYMBOLS = (
    "scipy_openblas_get_config64_", "scipy_openblas_get_config",
    "openblas_get_config64_", "openblas_get_config",
)
_CHUNK = 1 << 20


def _log(message: str) -> None:
    print(f"openblas: {message}", file=sys.stderr, flush=True)


def env_flag(value: str | None) -> bool:
    """numpy's reading of NPY_USE_BLAS_ILP64: unset, empty or ``0`` means off."""
    return (value or "").strip() not in ("", "0")


# --------------------------------------------------------------------------------------------
# Platforms: multibuild.core.platforms' table, narrowed to what has OpenBLAS artifacts.


def supported_platforms() -> list[Platform]:
    from multibuild.core.platforms import PLATFORMS

    return [p for p in PLATFORMS if p.plat not in UNSUPPORTED_PLATS]


def _unsupported(what: str) -> MultibuildError:
    keys = ", ".join(p.key for p in supported_platforms())
    return MultibuildError(f"OpenBLAS has no artifact for platform {what!r}; supported: {keys}")


def platform_by_name(name: str) -> Platform:
    """A platform from ``linux-x86_64`` style keys, or a ``PLAT`` value when unambiguous."""
    found = [p for p in supported_platforms() if name in (p.key, p.plat)]
    if len(found) != 1:
        raise _unsupported(name)
    return found[0]


def host_platform(environ: Mapping[str, str], plat: str | None = None) -> Platform:
    """This build's platform from ``sysconfig.get_platform()``, overridden by ``PLAT``.

    ``PLAT`` (or ``plat``) may also name another OS's platform, to fetch its artifact from
    here: a key such as ``macos-arm64`` or an unambiguous value such as ``win_amd64``.
    """
    sys_plat = sysconfig.get_platform()
    if sys_plat.startswith("linux"):
        os_name = "linux"
        arch = sys_plat.split("-", 1)[-1]
    elif sys_plat.startswith("macosx"):
        os_name = "macos"
        arch = sys_plat.rsplit("-", 1)[-1]
        if arch == "universal2":
            arch = os.uname().machine
    elif sys_plat.startswith("win"):
        os_name = "windows"
        arch = {"win32": "win32", "win-amd64": "win_amd64"}.get(sys_plat, sys_plat)
    else:
        raise _unsupported(sys_plat)
    arch = plat or environ.get("PLAT") or arch
    if os_name == "linux" and arch in ("i386", "i586"):
        arch = "i686"
    for platform in supported_platforms():
        if platform.os == os_name and platform.plat == arch:
            return platform
    # Another OS's platform, named by key (macos-arm64) or unambiguous PLAT (win_amd64).
    others = [p for p in supported_platforms() if arch in (p.key, p.plat)]
    if len(others) == 1:
        return others[0]
    raise _unsupported(f"{os_name}-{arch}")


@dataclass(frozen=True)
class Target:
    """What to fetch: platform, integer width and OpenBLAS version."""

    platform: Platform
    ilp64: bool
    version: str
    ml_ver: str = ""
    ml_libc: str = "manylinux"
    macos_target: str = ""

    def __post_init__(self) -> None:
        if self.ilp64 and self.platform.bits == 32:
            raise MultibuildError(
                f"64-bit integer OpenBLAS (NPY_USE_BLAS_ILP64) requested for 32-bit platform "
                f"{self.platform.key}"
            )

    @property
    def width(self) -> str:
        return "ilp64" if self.ilp64 else "lp64"

    @property
    def label(self) -> str:
        return f"{self.platform.key} {self.width} {self.version}"

    @property
    def wheel_dist(self) -> str:
        return "scipy-openblas64" if self.ilp64 else "scipy-openblas32"

    def wheel_platform_tag(self) -> str:
        plat = self.platform
        if plat.os == "linux":
            return f"{self.ml_libc}{self.ml_ver}_{plat.plat}"
        if plat.os == "macos":
            target = self.macos_target or DEFAULT_MACOS_TARGET[plat.plat]
            major, _, minor = target.partition(".")
            return f"macosx_{major}_{minor or 0}_{plat.plat}"
        return plat.plat

    def tarball_pattern(self) -> re.Pattern[str]:
        """The historical openblas-libs file name(s) for this target."""
        width = "64_" if self.ilp64 else ""
        version = self.version if self.version.startswith("v") else f"v{self.version}"
        head = re.escape(f"openblas{width}-{version}-")
        plat = self.platform
        if plat.os == "linux":
            tail = re.escape(f"{self.ml_libc}{self.ml_ver}_{plat.plat}.tar.gz")
        elif plat.os == "macos":
            tail = rf"macosx_\d+_\d+_{re.escape(plat.plat)}-gf_[0-9a-f]+\.tar\.gz"
        else:
            tail = rf"{re.escape(plat.plat)}-gcc_[0-9_]+\.zip"
        return re.compile(head + tail)


def make_target(
    environ: Mapping[str, str],
    *,
    platform: Platform | None = None,
    plat: str | None = None,
    ilp64: bool | None = None,
    version: str | None = None,
) -> Target:
    """The target of this build: ``PLAT``, ``MB_ML_VER``, ``NPY_USE_BLAS_ILP64``, ..."""
    from multibuild.core.platforms import manylinux_policy

    if platform is None:
        platform = host_platform(environ, plat)
    if ilp64 is None:
        ilp64 = env_flag(environ.get("NPY_USE_BLAS_ILP64"))
    libc = environ.get("MB_ML_LIBC") or "manylinux"
    if libc not in ("manylinux", "musllinux"):
        raise MultibuildError(f"MB_ML_LIBC={libc!r} is not manylinux or musllinux")
    ml_ver = environ.get("MB_ML_VER") or ""
    if libc == "manylinux":
        ml_ver = manylinux_policy(ml_ver).ml_ver
    elif not re.fullmatch(r"_\d+_\d+", ml_ver):
        raise MultibuildError(f"MB_ML_VER={ml_ver!r} is not a musllinux policy (_1_1, _1_2)")
    macos_target = environ.get("MACOSX_DEPLOYMENT_TARGET", "")
    if macos_target and not re.fullmatch(r"\d+(\.\d+)?", macos_target):
        raise MultibuildError(f"MACOSX_DEPLOYMENT_TARGET={macos_target!r} is not a version")
    version = version or environ.get("OPENBLAS_VERSION") or DEFAULT_VERSION
    if not re.fullmatch(r"v?[0-9][0-9A-Za-z.\-_+]*", version):
        raise MultibuildError(f"OPENBLAS_VERSION={version!r} is not a version")
    return Target(platform, ilp64, version, ml_ver, libc, macos_target)


# --------------------------------------------------------------------------------------------
# Cache: <cache>/<sha256[:32]>/ is an unpacked prefix; <cache>/index/*.json remember which
# sha256 a wheel request resolved to, so a warm run needs no index query.


def default_cache_dir(environ: Mapping[str, str]) -> Path:
    if environ.get("OPENBLAS_CACHE_DIR"):
        return Path(environ["OPENBLAS_CACHE_DIR"])
    base = environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "wheels-openblas"


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


class Cache:
    def __init__(self, root: Path) -> None:
        self.root = root

    def prefix_dir(self, sha256: str) -> Path:
        return self.root / sha256[:32]

    def cached_prefix(self, sha256: str) -> Path | None:
        path = self.prefix_dir(sha256)
        return path if (path / "lib").is_dir() else None

    def _index_path(self, key: str) -> Path:
        return self.root / "index" / (hashlib.sha256(key.encode()).hexdigest()[:32] + ".json")

    def lookup(self, key: str) -> str | None:
        try:
            data = json.loads(self._index_path(key).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        sha = data.get("sha256") if isinstance(data, dict) else None
        return sha if isinstance(sha, str) and re.fullmatch(r"[0-9a-f]{64}", sha) else None

    def remember(self, key: str, sha256: str, artifact: str) -> None:
        record = {"key": key, "sha256": sha256, "artifact": artifact}
        atomic_write(self._index_path(key), json.dumps(record, indent=1) + "\n")

    def scratch(self) -> tempfile.TemporaryDirectory[str]:
        self.root.mkdir(parents=True, exist_ok=True)
        return tempfile.TemporaryDirectory(dir=self.root, prefix=".tmp-")

    def install(self, staged: Path, sha256: str) -> Path:
        """Rename a fully prepared prefix into place; a concurrent winner is kept."""
        final = self.prefix_dir(sha256)
        try:
            os.rename(staged, final)
        except OSError:
            if self.cached_prefix(sha256) is None:
                raise
        return final


# --------------------------------------------------------------------------------------------
# Prefix layout.


def _find_root(tree: Path, label: str) -> Path:
    """The shallowest directory of ``tree`` that has a ``lib`` directory."""
    candidates = sorted(
        (p.parent for p in tree.rglob("lib") if p.is_dir() and not p.is_symlink()),
        key=lambda p: len(p.parts),
    )
    if not candidates:
        raise MultibuildError(f"{label}: archive has no lib/ directory")
    return candidates[0]


def library_files(prefix: Path, os_name: str) -> list[str]:
    suffixes = LIBRARY_SUFFIXES[os_name]
    return sorted(
        p.name for p in (prefix / "lib").iterdir()
        if "openblas" in p.name.lower()
        and (p.name.endswith(suffixes) or (os_name == "linux" and ".so." in p.name))
    )


_PC_RELATIVE = {
    "prefix": "${pcfiledir}/../..",
    "exec_prefix": "${pcfiledir}/../..",
    "libdir": "${pcfiledir}/..",
    "includedir": "${pcfiledir}/../../include",
}


def relocate_pc(text: str) -> str:
    """Make absolute prefix/libdir/includedir variables relative to ``${pcfiledir}``."""
    lines = []
    for line in text.splitlines():
        name, sep, value = line.partition("=")
        key = name.strip()
        absolute = value.strip().startswith("/") or re.match(r"^[A-Za-z]:[/\\]", value.strip())
        if sep and ":" not in name and key in _PC_RELATIVE and absolute:
            line = f"{key}={_PC_RELATIVE[key]}"
        lines.append(line)
    return "\n".join(lines) + "\n"


def _generated_pc(prefix: Path, target: Target, libname: str) -> str:
    return (
        "libdir=${pcfiledir}/..\n"
        "includedir=${pcfiledir}/../../include\n"
        f"version={target.version.lstrip('v')}\n\n"
        "Name: openblas\n"
        "Description: OpenBLAS (unpacked by multibuild.deps.openblas)\n"
        "Version: ${version}\n"
        f"Libs: -L${{libdir}} -l{libname}\n"
        "Cflags: -I${includedir}\n"
    )


def lay_out_prefix(tree: Path, staged: Path, target: Target, label: str) -> None:
    """Move lib/, include/ (and bin/) of an unpacked artifact into ``staged``.

    Nothing is ever written outside ``staged``: linked directories are not moved, a linked
    ``lib/pkgconfig`` is refused, and ``.pc`` files are rewritten by replacing them (a link is
    replaced, never followed), after checking that each one's real path is inside."""
    root = _find_root(tree, label)
    staged.mkdir()
    for name in ("lib", "include", "bin"):
        source = root / name
        if source.is_dir() and not source.is_symlink():
            os.rename(source, staged / name)
    copy_artifact_licence(tree, staged)  # the OpenBLAS/GCC runtime text for bundled licences
    libs = library_files(staged, target.platform.os)
    if not libs:
        raise MultibuildError(f"{label}: no OpenBLAS library for {target.platform.os} in lib/")
    real_staged = os.path.realpath(staged)

    def inside(path: Path) -> bool:
        real = os.path.realpath(path)
        return os.path.commonpath([real_staged, real]) == real_staged

    pkgconfig = staged / "lib" / "pkgconfig"
    if pkgconfig.is_symlink() or (os.path.lexists(pkgconfig) and not pkgconfig.is_dir()):
        raise MultibuildError(f"{label}: lib/pkgconfig is a link or a file; refused")
    pcs = sorted(pkgconfig.glob("*.pc")) if pkgconfig.is_dir() else []
    for pc in pcs:
        if not inside(pc) or not pc.is_file():
            raise MultibuildError(f"{label}: lib/pkgconfig/{pc.name} points outside the prefix")
        atomic_write(pc, relocate_pc(pc.read_text(encoding="utf-8")))
    if not pcs:
        pkgconfig.mkdir(exist_ok=True)
        stem = re.sub(r"(\.dll)?\.(a|lib|dll|dylib|so)(\.[0-9.]+)?$", "", libs[0])
        libname = stem[3:] if stem.startswith("lib") else stem
        atomic_write(pkgconfig / "openblas.pc", _generated_pc(staged, target, libname))
    check_links(staged, label)  # every link still lands on something inside the prefix


# --------------------------------------------------------------------------------------------
# Downloads: multibuild.net.fetch (timeouts, deadline, bounded retries, atomic writes).


def _retries(environ: Mapping[str, str]) -> tuple[int, float]:
    attempts_raw = environ.get("OPENBLAS_RETRIES", "3")
    wait_raw = environ.get("OPENBLAS_RETRY_WAIT", "1")
    try:
        attempts, wait = int(attempts_raw), float(wait_raw)
    except ValueError:
        attempts, wait = 0, -1.0
    if attempts < 1 or not wait >= 0:
        raise MultibuildError(
            f"OPENBLAS_RETRIES={attempts_raw!r} / OPENBLAS_RETRY_WAIT={wait_raw!r}: use a whole "
            "number of attempts (1 or more) and a number of seconds (0 or more)"
        )
    return attempts, wait


def http_client(environ: Mapping[str, str]) -> Http:
    attempts, wait = _retries(environ)
    return Http(timeout=60.0, attempts=attempts, backoff=wait, user_agent="wheels-openblas",
                log=lambda message: _log(f"download of {message}"))


def download(url: str, dest: Path, environ: Mapping[str, str], sha256: str | None = None) -> str:
    """Fetch ``url`` into ``dest``, retrying transient failures a bounded number of times."""
    return fetch_download(http_client(environ), url, dest, sha256=sha256,
                          check=lambda tmp: check_not_html(tmp, dest.name))


def check_not_html(path: Path, label: str) -> None:
    with open(path, "rb") as handle:
        text = handle.read(512).lstrip().lower()
    if text.startswith((b"<!doctype", b"<html", b"<?xml", b"<head", b"<body")):
        raise MultibuildError(f"{label}: the server returned an HTML page instead of an archive")


# --------------------------------------------------------------------------------------------
# Sources.


@dataclass(frozen=True)
class Options:
    source: str = "wheel"
    cache_dir: Path = Path()
    base_url: str = ""
    sha256_table: Path = DEFAULT_SHA256_TABLE
    offline: bool = False

    @classmethod
    def from_env(cls, environ: Mapping[str, str], **overrides: object) -> Options:
        values: dict[str, object] = {
            "source": environ.get("OPENBLAS_SOURCE") or "wheel",
            "cache_dir": default_cache_dir(environ),
            "base_url": environ.get("OPENBLAS_BASE_URL", ""),
            "sha256_table": Path(environ.get("OPENBLAS_SHA256_TABLE") or DEFAULT_SHA256_TABLE),
            "offline": env_flag(environ.get("OPENBLAS_OFFLINE")),
        }
        values.update({k: v for k, v in overrides.items() if v is not None})
        _retries(environ)  # bad OPENBLAS_RETRIES / OPENBLAS_RETRY_WAIT: refused before anything
        cache = Path(str(values["cache_dir"]))
        if os.path.lexists(cache) and not cache.is_dir():
            raise UsageError(f"cache directory {cache} (--cache-dir, OPENBLAS_CACHE_DIR): "
                             "exists and is not a directory")
        base_url = str(values["base_url"])
        problem = url_problem(base_url.replace("{version}", "v0")) if base_url else None
        if problem is not None:
            raise MultibuildError(f"OpenBLAS base URL {base_url!r}: {problem}")
        if values["source"] not in SOURCES:
            raise MultibuildError(
                f"OpenBLAS source {values['source']!r} is not one of {', '.join(SOURCES)}"
            )
        return cls(**values)  # type: ignore[arg-type]


def load_table(path: Path) -> tuple[str, dict[str, str]]:
    """The base URL template and the ``file name -> sha256`` table of the tarball source."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise MultibuildError(
            f"cannot read OpenBLAS checksum table {path}: {exc.strerror}"
        ) from None
    except (ValueError, RecursionError) as exc:  # RecursionError: nested thousands deep
        raise MultibuildError(f"OpenBLAS checksum table {path} is not JSON: {exc}") from None
    files = data.get("files") if isinstance(data, dict) else None
    if not isinstance(files, dict):
        raise MultibuildError(f"OpenBLAS checksum table {path} has no 'files' object")
    for name, sha in files.items():
        if not isinstance(sha, str) or not re.fullmatch(r"[0-9a-f]{64}", sha):
            raise MultibuildError(f"OpenBLAS checksum table {path}: bad sha256 for {name}")
    base = data.get("base_url", "")
    return (base if isinstance(base, str) else ""), dict(files)


def tarball_name(target: Target, files: Mapping[str, str], table: Path) -> str:
    pattern = target.tarball_pattern()
    names = sorted(n for n in files if pattern.fullmatch(n))
    if len(names) != 1:
        problem = "no entry" if not names else f"several entries ({', '.join(names)})"
        raise MultibuildError(
            f"{problem} for {target.label} in checksum table {table} "
            f"(file name pattern {pattern.pattern})"
        )
    return names[0]


def fetch_tarball(target: Target, options: Options, environ: Mapping[str, str]) -> Path:
    base_template, files = load_table(options.sha256_table)
    name = tarball_name(target, files, options.sha256_table)
    sha = files[name]
    cache = Cache(options.cache_dir)
    hit = cache.cached_prefix(sha)
    if hit:
        return hit
    base = options.base_url or base_template
    if not base:
        raise MultibuildError("no base URL for OpenBLAS tarballs (set OPENBLAS_BASE_URL)")
    if options.offline:
        raise MultibuildError(
            f"{name} is not in the cache {cache.root} and OPENBLAS_OFFLINE is set"
        )
    version = target.version if target.version.startswith("v") else f"v{target.version}"
    url = base.replace("{version}", version).rstrip("/") + "/" + name
    with cache.scratch() as scratch:
        work = Path(scratch)
        archive = work / name
        _log(f"downloading {url}")
        download(url, archive, environ)
        actual = sha256_file(archive)
        if actual != sha:
            raise MultibuildError(f"{name}: sha256 mismatch: expected {sha}, got {actual}")
        tree = work / "tree"
        tree.mkdir()
        if name.endswith(".zip"):
            safe_extract_zip(archive, tree, name)
        else:
            safe_extract_tar(archive, tree, name)
        staged = work / "prefix"
        lay_out_prefix(tree, staged, target, name)
        _write_origin(staged, target, name, sha, url)
        return cache.install(staged, sha)


# What a prefix came from: the artifact's file name, sha256, URL (or "package index"), and for
# a wheel its distribution name and licence (its METADATA): what a wheel's SBOM names
# (multibuild.build.sbom) for the library it bundles from this prefix.
ORIGIN = "openblas-origin.json"


def artifact_metadata(tree: Path) -> dict[str, str | None]:
    """Name and declared licence of an unpacked wheel (``tree`` holds its
    ``*.dist-info/METADATA``)."""
    from email.parser import HeaderParser

    from multibuild.deps.licenses import declared_licence

    found = sorted(tree.glob("*.dist-info/METADATA"))
    if not found:
        return {}
    text = found[0].read_text(encoding="utf-8", errors="replace")
    return {"name": HeaderParser().parsestr(text).get("Name"),
            "license": declared_licence(text)}


def read_origin(prefix: Path) -> dict[str, object] | None:
    try:
        data = json.loads((prefix / ORIGIN).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _write_origin(staged: Path, target: Target, artifact: str, sha: str, url: str,
                  metadata: Mapping[str, str | None] | None = None) -> None:
    record = {
        "artifact": artifact, "sha256": sha, "url": url, "platform": target.platform.key,
        "ilp64": target.ilp64, "version": target.version, **(metadata or {}),
    }
    atomic_write(staged / ORIGIN, json.dumps(record, indent=1) + "\n")


def pip_download(target: Target, dest: Path, environ: Mapping[str, str]) -> Path:
    """Download the scipy-openblas wheel of ``target`` into ``dest`` with pip."""
    attempts, _wait = _retries(environ)
    spec = f"{target.wheel_dist}=={target.version}"
    tag = target.wheel_platform_tag()
    cmd = [
        sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:",
        "--platform", tag, "--no-input", "--disable-pip-version-check", "--quiet",
        "--retries", str(attempts), "--dest", str(dest), spec,
    ]
    _log(f"downloading {spec} for {tag}")
    result = subprocess.run(cmd, capture_output=True, text=True, check=False, env=dict(environ))
    wheels = sorted(dest.glob("*.whl"))
    if result.returncode != 0 or len(wheels) != 1:
        lines = [ln for ln in result.stderr.splitlines() if ln.startswith("ERROR")]
        detail = lines[-1] if lines else (result.stderr.strip().splitlines() or ["no wheel"])[-1]
        raise MultibuildError(
            f"cannot get {spec} for {target.platform.key} (platform tag {tag}): {detail}"
        )
    return wheels[0]


# Published scipy-openblas wheels whose RECORD misstates a member's hash: the manylinux2014
# ones (the newest for glibc 2.17) list libgfortran's hash from before the library was rewritten
# (scipy/scipy#22654 shows the rewritten copy). The member is checked against the sha256 of what
# PyPI serves (pip verified the wheel against the index's hash), pinned here, instead.
_GFORTRAN_X86_64 = "0352e75f0719d9a299cb52919977eb5d7bd249d1fcad06d5e14030b272aae619"
_GFORTRAN_AARCH64 = "038a5e3c53dfc3e3c00dd55c7f734cc8a0afa08f5557e07a0158c8e7695254f5"
RECORD_CORRECTIONS: dict[str, dict[str, str]] = {
    f"scipy_openblas{width}-0.3.31.188.0-py3-none-manylinux2014_{arch}.manylinux_2_17_{arch}.whl":
        {f"scipy_openblas{width}/lib/libgfortran-{stem}.so.5.0.0": digest}
    for width in ("32", "64")
    for arch, stem, digest in (("x86_64", "040039e1", _GFORTRAN_X86_64),
                               ("aarch64", "daac5196", _GFORTRAN_AARCH64))
}


# Test hook and the seam of the wheel source: (target, dest dir, environ) -> wheel path.
WheelDownloader = Callable[[Target, Path, Mapping[str, str]], Path]


def fetch_wheel(
    target: Target, options: Options, environ: Mapping[str, str],
    downloader: WheelDownloader = pip_download,
) -> Path:
    cache = Cache(options.cache_dir)
    key = f"wheel|{target.wheel_dist}|{target.version}|{target.wheel_platform_tag()}"
    known = cache.lookup(key)
    if known:
        hit = cache.cached_prefix(known)
        if hit and (options.offline or (has_artifact_licence(hit)
                                         and "license" in (read_origin(hit) or {}))):
            return hit
    if options.offline:
        raise MultibuildError(
            f"{target.wheel_dist} {target.version} for {target.platform.key} is not in the cache "
            f"{cache.root} and OPENBLAS_OFFLINE is set"
        )
    with cache.scratch() as scratch:
        work = Path(scratch)
        (work / "dl").mkdir()
        wheel = downloader(target, work / "dl", environ)
        sha = sha256_file(wheel)
        hit = cache.cached_prefix(sha)
        if hit is None:
            tree = work / "tree"
            tree.mkdir()
            safe_extract_zip(wheel, tree, wheel.name)
            verify_wheel_record(tree, wheel.name, RECORD_CORRECTIONS.get(wheel.name))
            package = tree / target.wheel_dist.replace("-", "_")
            if not package.is_dir():
                raise MultibuildError(f"{wheel.name}: no {package.name}/ package in the wheel")
            staged = work / "prefix"
            lay_out_prefix(package, staged, target, wheel.name)
            _write_origin(staged, target, wheel.name, sha, "package index",
                          artifact_metadata(tree))
            hit = cache.install(staged, sha)
        elif not has_artifact_licence(hit) or "license" not in (read_origin(hit) or {}):
            # Laid out before the licence file and the wheel's metadata were kept.
            tree = work / "tree"
            safe_extract_zip(wheel, tree, wheel.name)
            copy_artifact_licence(tree / target.wheel_dist.replace("-", "_"), hit)
            _write_origin(hit, target, wheel.name, sha, "package index",
                          artifact_metadata(tree))
        cache.remember(key, sha, wheel.name)
        return hit


def fetch(target: Target, options: Options, environ: Mapping[str, str]) -> Path:
    """The unpacked, verified OpenBLAS prefix for ``target``."""
    if options.source == "tarball":
        return fetch_tarball(target, options, environ)
    return fetch_wheel(target, options, environ)


def verify_prefix(prefix: Path, target: Target) -> list[str]:
    """Problems of an unpacked prefix (empty when it is usable)."""
    problems = []
    if not library_files(prefix, target.platform.os):
        problems.append("no OpenBLAS library in lib/")
    if not list((prefix / "include").glob("cblas*.h")):
        problems.append("no include/cblas.h")
    pcs = sorted((prefix / "lib" / "pkgconfig").glob("*.pc"))
    if not pcs:
        problems.append("no lib/pkgconfig/*.pc")
    for pc in pcs:
        for line in pc.read_text(encoding="utf-8").splitlines():
            key, sep, value = line.partition("=")
            if sep and key.strip() in _PC_RELATIVE and value.strip().startswith("/"):
                problems.append(f"{pc.name}: {key.strip()} is absolute ({value.strip()})")
    return problems


# --------------------------------------------------------------------------------------------
# Build environment.


def build_exports(prefix: Path, target: Target, environ: Mapping[str, str]) -> dict[str, str]:
    """What a build needs to find OpenBLAS: pkg-config, setuptools and the repair tools."""

    def prepend(name: str, value: str) -> str:
        old = [p for p in environ.get(name, "").split(os.pathsep) if p and p != value]
        return os.pathsep.join([value, *old])

    lib = str(prefix / "lib")
    pcs = sorted(p.stem for p in (prefix / "lib" / "pkgconfig").glob("*.pc"))
    pc_name = "scipy-openblas" if "scipy-openblas" in pcs else (pcs[0] if pcs else "openblas")
    # Only what any meson project with BLAS/LAPACK options understands (scipy's meson rejects
    # unknown options): a project's own flags, e.g. numpy's -Dallow-noblas, live in its config.
    settings = [f"-Dblas={pc_name}", f"-Dlapack={pc_name}"]
    if target.ilp64:
        settings.append("-Duse-ilp64=true")
    exports = {
        "OPENBLAS": str(prefix),
        "OPENBLAS_LIB_DIR": lib,
        "OPENBLAS_INCLUDE_DIR": str(prefix / "include"),
        "OPENBLAS_PKG_CONFIG_NAME": pc_name,
        "OPENBLAS_CONFIG_SETTINGS": " ".join(f"-Csetup-args={s}" for s in settings),
        "PKG_CONFIG_PATH": prepend("PKG_CONFIG_PATH", str(prefix / "lib" / "pkgconfig")),
    }
    if target.platform.os == "linux":
        exports["LD_LIBRARY_PATH"] = prepend("LD_LIBRARY_PATH", lib)
    elif target.platform.os == "macos":
        exports["DYLD_FALLBACK_LIBRARY_PATH"] = prepend("DYLD_FALLBACK_LIBRARY_PATH", lib)
    else:
        exports["MB_DLL_PATH"] = prepend("MB_DLL_PATH", lib)
    return exports


# --------------------------------------------------------------------------------------------
# --check_version: which OpenBLAS does the installed package under test use?


def _loaded_openblas() -> list[Path]:
    """OpenBLAS libraries mapped into this process (Linux: /proc/self/maps)."""
    maps = Path("/proc/self/maps")
    if not maps.is_file():
        return []
    found = {
        line.split(None, 5)[-1].strip()
        for line in maps.read_text().splitlines()
        if "openblas" in line.lower() and len(line.split(None, 5)) == 6
    }
    return sorted(Path(p) for p in found if p.startswith("/"))


def _is_shared_lib(path: Path) -> bool:
    name = path.name
    return name.endswith((".so", ".dylib", ".dll")) or ".so." in name


def package_library(package: str) -> Path:
    """The OpenBLAS library that the installed ``package`` bundles and loads."""
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        spec = None
    if spec is None or spec.origin is None:
        raise MultibuildError(f"package under test {package!r} is not installed")
    before = set(_loaded_openblas())
    try:
        importlib.import_module(package)
    except Exception as exc:
        raise MultibuildError(f"importing {package} failed: {exc}") from None
    loaded = [p for p in _loaded_openblas() if p not in before] or _loaded_openblas()
    pkg_dir = Path(spec.origin).parent
    top = package.split(".")[0]
    dirs = [pkg_dir.parent / f"{top}.libs", pkg_dir / ".libs", pkg_dir / ".dylibs"]
    libs = sorted(
        p for d in dirs if d.is_dir() for p in d.iterdir()
        if "openblas" in p.name.lower() and _is_shared_lib(p)
    )
    # scipy imports numpy, which loads numpy's own OpenBLAS: a package that bundles one is
    # checked on its own copy, loaded or not.
    own = [p for p in loaded if any(p.resolve().parent == d.resolve() for d in dirs)]
    if libs and loaded and not own:
        loaded = []
    elif own:
        loaded = own
    if len(loaded) > 1:
        raise MultibuildError(
            f"{package} loaded several OpenBLAS libraries: {', '.join(map(str, loaded))}"
        )
    if loaded:
        return loaded[0]
    if len(libs) != 1:
        where = ", ".join(str(d) for d in dirs)
        what = "no OpenBLAS library" if not libs else f"{len(libs)} OpenBLAS libraries"
        raise MultibuildError(f"{what} bundled with {package} (looked in {where})")
    return libs[0]


def library_config(library: Path) -> tuple[str, str]:
    """The configuration string of an OpenBLAS library and the symbol that returned it."""
    try:
        dll = ctypes.CDLL(str(library), mode=getattr(ctypes, "RTLD_GLOBAL", 0))
    except OSError as exc:
        raise MultibuildError(f"cannot load {library}: {exc}") from None
    for symbol in CONFIG_SYMBOLS:
        func = getattr(dll, symbol, None)
        if func is None:
            continue
        func.restype = ctypes.c_char_p
        value = func()
        if not isinstance(value, bytes):
            raise MultibuildError(f"{library}: {symbol}() returned nothing")
        return value.decode("utf-8", "replace"), symbol
    raise MultibuildError(f"{library} exports none of {', '.join(CONFIG_SYMBOLS)}")


def check_version(
    expected: str, ilp64: bool, *, package: str = "numpy", library: Path | None = None,
) -> str:
    """Assert the OpenBLAS that ``package`` uses has version ``expected`` and width ``ilp64``."""
    lib = library if library is not None else package_library(package)
    config, symbol = library_config(lib)
    words = config.split()
    version = words[1] if len(words) > 1 and words[0] == "OpenBLAS" else "?"
    want = expected.lstrip("v")
    if version != want:
        raise MultibuildError(
            f"{lib.name}: OpenBLAS version {version}, expected {want} (config: {config.strip()})"
        )
    is_ilp64 = "USE64BITINT" in words
    if is_ilp64 != ilp64:
        has = "64-bit (ILP64)" if is_ilp64 else "32-bit (LP64)"
        raise MultibuildError(
            f"{lib.name}: OpenBLAS uses {has} integers, expected "
            f"{'64-bit (ILP64)' if ilp64 else '32-bit (LP64)'} (config: {config.strip()})"
        )
    return f"{lib}: {config.strip()} [{symbol}]"


# --------------------------------------------------------------------------------------------
# --test: resolve and verify every platform's artifact.


def test_targets(
    names: Sequence[str], environ: Mapping[str, str], version: str | None,
    ilp64: bool | None,
) -> Iterator[Target]:
    platforms = (
        supported_platforms() if not names or "all" in names
        else [platform_by_name(n) for n in names]
    )
    for platform in platforms:
        widths = [ilp64] if ilp64 is not None else [False, True]
        for width in widths:
            if width and platform.bits == 32:
                continue
            yield make_target(environ, platform=platform, ilp64=width, version=version)


def run_tests(
    names: Sequence[str], options: Options, environ: Mapping[str, str],
    version: str | None, ilp64: bool | None,
) -> int:
    failures = []
    for target in test_targets(names, environ, version, ilp64):
        try:
            prefix = fetch(target, options, environ)
            problems = verify_prefix(prefix, target)
        except MultibuildError as exc:
            problems = [str(exc)]
            prefix = None
        if problems:
            failures.append(target.label)
            print(f"FAIL {target.label}: {'; '.join(problems)}", flush=True)
        else:
            libs = ", ".join(library_files(prefix, target.platform.os)) if prefix else ""
            print(f"ok   {target.label}: {prefix} ({libs})", flush=True)
    if failures:
        raise MultibuildError(f"OpenBLAS artifacts failed for: {', '.join(failures)}")
    return 0


# --------------------------------------------------------------------------------------------
# Command line (also tools/openblas_support.py).


def build_parser(prog: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Fetch, verify and unpack OpenBLAS for this platform and print the prefix "
        "(lib/, include/, lib/pkgconfig/*.pc); or check the OpenBLAS a package uses; or check "
        "the artifacts of every platform. Environment: OPENBLAS_VERSION, NPY_USE_BLAS_ILP64, "
        "PLAT, MB_ML_VER, MB_ML_LIBC, MACOSX_DEPLOYMENT_TARGET, OPENBLAS_SOURCE, "
        "OPENBLAS_BASE_URL, OPENBLAS_SHA256_TABLE, OPENBLAS_CACHE_DIR, OPENBLAS_OFFLINE, "
        "OPENBLAS_RETRIES, OPENBLAS_RETRY_WAIT.",
    )
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument(
        "--check_version", "--check-version", nargs="?", const="", default=None,
        metavar="VERSION",
        help="load the OpenBLAS of the installed package under test and check its version "
        "(default OPENBLAS_VERSION) and integer width",
    )
    mode.add_argument(
        "--test", nargs="*", default=None, metavar="PLATFORM",
        help="fetch and verify the artifacts of these platforms (e.g. linux-x86_64, "
        "macos-arm64, win_amd64) or 'all' (the default)",
    )
    mode.add_argument(
        "--exports", action="store_true",
        help="print shell 'export' lines for a build (PKG_CONFIG_PATH, OPENBLAS, ...)",
    )
    mode.add_argument(
        "--records", action="store_true",
        help="the same as NAME=VALUE lines, for the library's mb_import_vars (never eval'd)",
    )
    width = parser.add_mutually_exclusive_group()
    width.add_argument("--ilp64", dest="ilp64", action="store_true", default=None,
                       help="64-bit integers (default: from NPY_USE_BLAS_ILP64)")
    width.add_argument("--lp64", dest="ilp64", action="store_false",
                       help="32-bit integers")
    parser.add_argument("--openblas-version", help="default: OPENBLAS_VERSION or "
                        f"{DEFAULT_VERSION}")
    parser.add_argument("--plat", help="target PLAT (default: PLAT or this machine's)")
    parser.add_argument("--source", choices=SOURCES, help="default: OPENBLAS_SOURCE or wheel")
    parser.add_argument("--base-url", help="tarball source: base URL ({version} expands)")
    parser.add_argument("--sha256-table", type=Path, help="tarball source: checksum table")
    parser.add_argument("--cache-dir", type=Path,
                        help="default: OPENBLAS_CACHE_DIR or ~/.cache/wheels-openblas")
    parser.add_argument("--offline", action="store_true", default=None,
                        help="use the cache only; fail rather than download")
    parser.add_argument("--package", default=None,
                        help="--check_version: package under test (default: "
                        "OPENBLAS_CHECK_PACKAGE or numpy)")
    parser.add_argument("--library", type=Path,
                        help="--check_version: load this library instead of the package's")
    return parser


def main(argv: Sequence[str] | None = None, prog: str | None = None) -> int:
    args = build_parser(prog).parse_args(argv)
    environ = os.environ
    raise_on_sigterm()  # SIGTERM, like Ctrl-C, removes the partial download and scratch files

    def body() -> int:
        if args.check_version is not None:
            ilp64 = args.ilp64
            if ilp64 is None:
                ilp64 = env_flag(environ.get("NPY_USE_BLAS_ILP64"))
            expected = (args.check_version or args.openblas_version
                        or environ.get("OPENBLAS_VERSION") or DEFAULT_VERSION)
            package = args.package or environ.get("OPENBLAS_CHECK_PACKAGE") or "numpy"
            print(check_version(expected, ilp64, package=package, library=args.library))
            return 0
        options = Options.from_env(
            environ, source=args.source, cache_dir=args.cache_dir, base_url=args.base_url,
            sha256_table=args.sha256_table, offline=args.offline,
        )
        if args.test is not None:
            return run_tests(args.test, options, environ, args.openblas_version, args.ilp64)
        target = make_target(environ, plat=args.plat, ilp64=args.ilp64,
                             version=args.openblas_version)
        prefix = fetch(target, options, environ)
        if args.records:
            sys.stdout.write(records(build_exports(prefix, target, environ)))
        elif args.exports:
            for name, value in build_exports(prefix, target, environ).items():
                print(f"export {name}={shlex.quote(value)}")
        else:
            print(prefix)
        return 0

    try:
        return run_cli(body)
    except OSError as exc:
        print(f"error: {exc.filename or 'OpenBLAS'}: {exc.strerror}", file=sys.stderr)
        return 1
    except (KeyboardInterrupt, Interrupted) as exc:
        _log("interrupted; nothing was left in the cache")
        return exit_status(exc)


if __name__ == "__main__":
    sys.exit(main())
