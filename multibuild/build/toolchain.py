"""The C and C++ compilers of a native Linux build, chosen once: zig or the host's.

A wheel built with the host's gcc needs the host's glibc (manylinux_2_35 on a current
distribution), and pip refuses it on older systems. zig (``ziglang`` from PyPI) compiles and
links against the symbol versions of any glibc without a sysroot, so a native build targets the
glibc of the manylinux policy asked for (``MB_ML_VER``: ``2014`` -> 2.17, ``_2_28`` -> 2.28) and
auditwheel repairs the wheel to exactly that policy. ``MB_NATIVE_TOOLCHAIN=host`` keeps the
host's compilers (and the host's glibc tag); docker mode always builds with its image's.

zig is reached through wrapper scripts (``multibuild/zig_cc.sh``: ``cc``, ``c++``, ``gcc``,
``g++``, ``ar``, ``ranlib``) in ``$MB_CACHE_DIR/toolchains/<id>/bin``, put on PATH right after
ccache's links (so ccache, when on, caches zig's compilations too) and named by CC=cc,
CXX=c++: build systems that take CC as one program work, and meson records plain names.
C++ links zig's libc++ statically (the host's libstdc++ would need GLIBCXX versions above the
policy). Every wrapper's content names the zig version, the target and a hash of the wrapper
body, so ccache and the incremental build directory (``MB_TOOLCHAIN_ID``) never reuse a
compilation made with another toolchain.

  python -m multibuild.build.toolchain check [--plat P]          the choice, or a one-line error
  python -m multibuild.build.toolchain activate --plat P         NAME=VALUE records (mb_import_vars)
  python -m multibuild.build.toolchain describe                  the toolchain record (JSON)
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform as host_platform
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from multibuild import MultibuildError, UsageError, run_cli
from multibuild.core.files import atomic_write
from multibuild.core.platforms import ManylinuxPolicy, default_plat, manylinux_policy
from multibuild.core.shellvars import records

CHOICES = ("zig", "host")
DEFAULT_CHOICE = "zig"
# zig's architecture name for each Linux PLAT.
ZIG_ARCH: dict[str, str] = {
    "x86_64": "x86_64", "i686": "x86", "aarch64": "aarch64", "ppc64le": "powerpc64le",
    "s390x": "s390x",
}
# The oldest glibc zig provides for an architecture (glibc_min in zig 0.17's
# lib/std/zig/target.zig; the others go back to 2.2.5).
ZIG_OLDEST_GLIBC: dict[str, tuple[int, int]] = {"aarch64": (2, 17), "ppc64le": (2, 19)}
# This library's floor: glibc 2.17 (manylinux2014) is what zig's libc++ and compiler runtime
# are built and tested against here, and what every CPython >= 3.9 wheel on PyPI may assume.
OLDEST_GLIBC = (2, 17)
# Cross builds zig makes from this host: {host machine: {PLAT, ...}}.
CROSS_PLATS: dict[str, frozenset[str]] = {"x86_64": frozenset({"aarch64"})}
TOOLS = ("cc", "c++", "gcc", "g++", "ar", "ranlib", "gfortran")
_WRAPPER_BODY = Path(__file__).parents[1] / "zig_cc.sh"
_CONFIG_LINE = ': "@MB_ZIG_CONFIG@"'
RECORD = "toolchain.json"


def _version_text(version: tuple[int, ...]) -> str:
    return ".".join(map(str, version))


@dataclass(frozen=True)
class Toolchain:
    """The compilers of one target: ``kind`` zig or host, for ``plat`` and ``policy``."""

    kind: str
    plat: str
    policy: ManylinuxPolicy
    cross: bool = False
    why: str = ""  # what chose it (the default, MB_NATIVE_TOOLCHAIN, docker mode)

    @property
    def zig_target(self) -> str:
        """zig's target: architecture, OS, ABI and glibc (``x86_64-linux-gnu.2.17``)."""
        return f"{self.query_target}.{self.policy.glibc_text}"

    @property
    def query_target(self) -> str:
        return f"{ZIG_ARCH[self.plat]}-linux-gnu"

    @property
    def policy_tag(self) -> str:
        return self.policy.tag(self.plat)


def machine_plat(machine: str | None = None) -> str:
    """This host's architecture as a Linux PLAT (x86_64, aarch64, ...)."""
    return default_plat("linux", machine if machine is not None else host_platform.machine())


def choose(environ: Mapping[str, str], plat: str | None = None,
           machine: str | None = None) -> Toolchain:
    """The toolchain of a native Linux build of ``plat`` (default: PLAT, else this machine's)
    under ``environ`` (MB_NATIVE_TOOLCHAIN, MB_ML_VER, MB_ML_LIBC, MB_BUILD_MODE). Bad input
    is a one-line UsageError naming the variable, before anything is built."""
    plat = plat or environ.get("PLAT") or machine_plat(machine)
    here = machine_plat(machine)
    try:
        policy = manylinux_policy(environ.get("MB_ML_VER"))
    except MultibuildError as exc:
        if (environ.get("MB_ML_LIBC") or "manylinux") != "musllinux":
            raise UsageError(str(exc)) from None
        policy = manylinux_policy(None)  # musllinux versions are the image's business
    wanted = environ.get("MB_NATIVE_TOOLCHAIN", "").strip() or DEFAULT_CHOICE
    if wanted not in CHOICES:
        raise UsageError(f"MB_NATIVE_TOOLCHAIN={wanted!r}: expected {' or '.join(CHOICES)}")
    runtime = environ.get("MB_GFORTRAN_RUNTIME", "").strip()
    if runtime and runtime not in ("auto", "host") and not Path(runtime).is_dir():
        raise UsageError(f"MB_GFORTRAN_RUNTIME={runtime}: not a directory (auto, host, or a "
                         "directory holding a libgfortran.so.5 built for the policy)")
    if environ.get("MB_IN_CONTAINER") or environ.get("MB_BUILD_MODE") == "docker":
        return Toolchain("host", plat, policy, why="docker mode: the image's compilers")
    cross = plat != here
    if wanted == "host":
        if cross:
            raise UsageError(f"PLAT={plat}: MB_NATIVE_TOOLCHAIN=host cannot build for {plat} on "
                             f"this {here} machine (zig can: leave MB_NATIVE_TOOLCHAIN unset)")
        return Toolchain("host", plat, policy, why="MB_NATIVE_TOOLCHAIN=host")
    if plat not in ZIG_ARCH:
        raise UsageError(f"PLAT={plat}: no zig target for it (zig builds "
                         f"{', '.join(ZIG_ARCH)}); use docker mode or MB_NATIVE_TOOLCHAIN=host")
    if (environ.get("MB_ML_LIBC") or "manylinux") != "manylinux":
        raise UsageError(f"MB_ML_LIBC={environ['MB_ML_LIBC']}: zig builds manylinux (glibc) "
                         "wheels only here; use docker mode with a musllinux image, or "
                         "MB_NATIVE_TOOLCHAIN=host on a musl system")
    oldest = max(OLDEST_GLIBC, ZIG_OLDEST_GLIBC.get(plat, OLDEST_GLIBC))
    if policy.glibc < oldest:
        who = ("zig's oldest for " + plat) if oldest > OLDEST_GLIBC else \
            "the oldest this library builds against with zig"
        newer = "2014" if oldest == OLDEST_GLIBC else "_2_28"
        raise UsageError(
            f"MB_ML_VER={policy.ml_ver}: {policy.name} (glibc {policy.glibc_text}) is older than "
            f"glibc {_version_text(oldest)}, {who}; use MB_ML_VER={newer} or newer, or docker "
            f"mode with a {policy.name} image")
    if cross and plat not in CROSS_PLATS.get(here, frozenset()):
        targets = ", ".join(sorted(CROSS_PLATS.get(here, frozenset()))) or "none"
        raise UsageError(f"PLAT={plat}: zig cross builds from this {here} machine are for "
                         f"{targets} only (use docker mode on {plat} hardware)")
    from multibuild.build.glibc import allowed_versions

    try:  # auditwheel must know the policy to repair to it
        allowed_versions(policy.tag(plat))
    except UsageError as exc:
        raise UsageError(f"MB_ML_VER={policy.ml_ver}: {exc}") from None
    why = "MB_NATIVE_TOOLCHAIN=zig" if environ.get("MB_NATIVE_TOOLCHAIN") else "the default"
    return Toolchain("zig", plat, policy, cross=cross, why=why)


# --------------------------------------------------------------------------- zig itself


def zig_binary() -> Path:
    """The zig of the ``ziglang`` package in the tool environment."""
    try:
        import ziglang
    except ImportError:
        raise MultibuildError("ziglang is not installed in the tool environment (pinned in "
                              "pyproject.toml; rerun ./wheels to install it)") from None
    zig = Path(ziglang.__file__).parent / ("zig.exe" if os.name == "nt" else "zig")
    if not zig.is_file():
        raise MultibuildError(f"ziglang has no zig binary at {zig}")
    return zig


def _run(cmd: Sequence[str]) -> str:
    done = subprocess.run(list(cmd), capture_output=True, text=True, check=False, timeout=120)
    if done.returncode != 0:
        raise MultibuildError(f"{' '.join(cmd)} failed: {done.stderr.strip()[-300:]}")
    return done.stdout.strip()


def zig_versions(zig: Path) -> tuple[str, str]:
    """(zig's version, the version of the clang inside it)."""
    version = _run([str(zig), "version"])
    first = _run([str(zig), "cc", "--version"]).splitlines()[0]
    clang = first.split("version", 1)[-1].strip() if "version" in first else first
    return version, clang


def _body_digest() -> str:
    return hashlib.sha256(_WRAPPER_BODY.read_bytes()).hexdigest()


def wrapper_text(zig: Path, tool: str, toolchain: Toolchain, zig_version: str,
                 clang_version: str, python_include: str = "") -> str:
    """The wrapper script of ``tool``: zig_cc.sh with its configuration filled in."""
    body = _WRAPPER_BODY.read_text()
    if _CONFIG_LINE not in body:
        raise MultibuildError(f"{_WRAPPER_BODY}: the configuration line is missing")
    kind = tool if tool in ("ar", "ranlib", "gfortran") else \
        ("c++" if tool in ("c++", "g++") else "cc")
    config = "\n".join([
        f"# zig {zig_version} {kind} for {toolchain.zig_target} ({toolchain.policy_tag}); "
        f"body sha256 {_body_digest()}",
        f"MB_ZIG={_quote(str(zig))}",
        f"MB_ZIG_TOOL={kind}",
        f"MB_ZIG_TARGET={toolchain.zig_target}",
        f"MB_ZIG_QUERY_TARGET={toolchain.query_target}",
        f"MB_ZIG_SYSTEM_LIBS={_quote(os.pathsep.join(system_dirs(toolchain, 'lib')))}",
        f"MB_ZIG_SYSTEM_INCLUDES={_quote(os.pathsep.join(system_dirs(toolchain, 'include')))}",
        f"MB_ZIG_CACHE={_quote(str(zig_cache_dir()))}",
        f"MB_ZIG_LLD_VERSION={_quote(clang_version)}",
        f"MB_ZIG_PYTHON_INCLUDE={_quote(python_include)}",
    ])
    return body.replace(_CONFIG_LINE, config, 1)


def zig_cache_dir() -> Path:
    """zig's global cache as zig finds it (ZIG_GLOBAL_CACHE_DIR, XDG_CACHE_HOME/zig,
    ~/.cache/zig): compiled libc stubs and libc++ shared by every build of this user."""
    if os.environ.get("ZIG_GLOBAL_CACHE_DIR"):
        return Path(os.environ["ZIG_GLOBAL_CACHE_DIR"])
    if os.environ.get("XDG_CACHE_HOME"):
        return Path(os.environ["XDG_CACHE_HOME"]) / "zig"
    return Path.home() / ".cache" / "zig"


def system_dirs(toolchain: Toolchain, kind: str) -> list[str]:
    """The system's library (``lib``) or header (``include``) directories a native build
    searches after its own, as gcc does (zig with a target searches none); none when cross
    compiling: those hold this machine's architecture."""
    if toolchain.cross:
        return []
    triplet = f"{machine_plat()}-linux-gnu"
    if kind == "include":
        candidates = ["/usr/local/include", f"/usr/include/{triplet}", "/usr/include"]
    else:
        candidates = ["/usr/local/lib", f"/usr/lib/{triplet}", f"/lib/{triplet}", "/usr/lib64",
                      "/lib64", "/usr/lib", "/lib"]
        # Last, gcc's own (libgomp for -fopenmp/-lgomp): found as gcc finds it; what it
        # needs above the policy is named by the repair, never hidden.
        gcc = shutil.which("gcc", path="/usr/local/bin:/usr/bin:/bin")
        if gcc:
            done = subprocess.run([gcc, "-print-libgcc-file-name"], capture_output=True,
                                  text=True, check=False, timeout=60)
            if done.returncode == 0 and done.stdout.strip():
                candidates.append(str(Path(done.stdout.strip()).parent))
    return [d for d in candidates if Path(d).is_dir()]


def _quote(value: str) -> str:
    return "'" + value.replace("'", "'\\''") + "'"


@dataclass(frozen=True)
class Installed:
    """A toolchain's wrappers on disk: ``bin`` holds them; ``ident`` names the toolchain
    (zig version, target, wrapper body) for cache and build-directory keys."""

    bin: Path
    ident: str
    zig: Path
    zig_version: str
    clang_version: str


def install(toolchain: Toolchain, cache: Path, python_include: str = "") -> Installed:
    """Write (or reuse) the wrappers and meson machine files of ``toolchain`` under
    ``cache/toolchains/``; written beside and renamed into place, so concurrent targets
    never see a half-written toolchain. ``python_include``: a cross build's target Python
    headers, which the compilers search first."""
    zig = zig_binary()
    stat = zig.stat()
    probe = hashlib.sha256(f"{zig}|{stat.st_size}|{stat.st_mtime_ns}".encode()).hexdigest()[:16]
    info_path = cache / "toolchains" / f"zig-info-{probe}.json"
    try:
        info = json.loads(info_path.read_text())
        zig_version, clang_version = str(info["zig"]), str(info["clang"])
    except (OSError, ValueError, KeyError, TypeError):
        zig_version, clang_version = zig_versions(zig)
        atomic_write(info_path, json.dumps({"zig": zig_version, "clang": clang_version}) + "\n")
    texts = {tool: wrapper_text(zig, tool, toolchain, zig_version, clang_version,
                                python_include) for tool in TOOLS}
    digest = hashlib.sha256("\0".join(texts[t] for t in TOOLS).encode()).hexdigest()[:12]
    name = f"zig-{zig_version}-{toolchain.zig_target}-{digest}"
    root = cache / "toolchains" / name
    if not (root / "bin" / "ranlib").is_file():
        root.parent.mkdir(parents=True, exist_ok=True)
        scratch = Path(tempfile.mkdtemp(dir=root.parent, prefix=f".{name}."))
        try:
            (scratch / "bin").mkdir()
            for tool, text in texts.items():
                path = scratch / "bin" / tool
                path.write_text(text)
                path.chmod(0o755)
            if toolchain.cross:
                (scratch / "cross.ini").write_text(meson_cross_file(toolchain, root / "bin"))
                (scratch / "native.ini").write_text(meson_build_machine_file())
            else:
                (scratch / "native.ini").write_text(meson_machine_file(root / "bin"))
            (scratch / "toolchain.cmake").write_text(cmake_toolchain_file(toolchain,
                                                                          root / "bin"))
            try:
                scratch.rename(root)
            except OSError:  # another target installed it meanwhile
                if not (root / "bin" / "ranlib").is_file():
                    raise
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    return Installed(root / "bin", f"zig {zig_version} {toolchain.zig_target} {digest}", zig,
                     zig_version, clang_version)


def meson_machine_file(bin_dir: Path) -> str:
    """A meson native file naming the wrappers. C and C++ by name, found on PATH (ccache's
    links first when ccache is on, as for CC and CXX); ar by path."""
    return ("# multibuild's zig toolchain (multibuild/build/toolchain.py)\n[binaries]\n"
            "c = 'cc'\ncpp = 'c++'\n"
            f"ar = {_quote(str(bin_dir / 'ar'))}\n")


def meson_cross_file(toolchain: Toolchain, bin_dir: Path) -> str:
    """A meson cross file for ``toolchain``'s target: zig's wrappers by name (on PATH, as for
    a native build), the host machine, and no running of target programs."""
    cpu = ZIG_ARCH[toolchain.plat]
    return ("# multibuild's zig toolchain, cross (multibuild/build/toolchain.py)\n[binaries]\n"
            "c = 'cc'\ncpp = 'c++'\n"
            f"ar = {_quote(str(bin_dir / 'ar'))}\n"
            "\n[host_machine]\nsystem = 'linux'\n"
            f"cpu_family = '{cpu}'\ncpu = '{cpu}'\nendian = 'little'\n"
            "\n[properties]\nneeds_exe_wrapper = true\n")


def cmake_toolchain_file(toolchain: Toolchain, bin_dir: Path) -> str:
    """A CMake toolchain file (CMAKE_TOOLCHAIN_FILE: CMake and scikit-build-core) naming the
    wrappers: C and C++ by name, found on PATH as CC and CXX are (ccache's links first when
    ccache is on), ar and ranlib by path; for a cross build the target system too."""
    lines = ["# multibuild's zig toolchain (multibuild/build/toolchain.py)",
             'set(CMAKE_C_COMPILER "cc")', 'set(CMAKE_CXX_COMPILER "c++")',
             f'set(CMAKE_AR "{bin_dir / "ar"}" CACHE FILEPATH "zig ar")',
             f'set(CMAKE_RANLIB "{bin_dir / "ranlib"}" CACHE FILEPATH "zig ranlib")']
    if toolchain.cross:
        lines += ["set(CMAKE_SYSTEM_NAME Linux)",
                  f"set(CMAKE_SYSTEM_PROCESSOR {toolchain.plat})",
                  # Build-machine programs from PATH; no sysroot: libraries and headers from
                  # the paths the build names, as the wrappers search nothing of this machine.
                  "set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)"]
    return "\n".join(lines) + "\n"


def meson_build_machine_file() -> str:
    """The build machine's compilers of a cross build (meson takes CC for the build machine
    there, and CC names the target's wrapper): the machine's own, by path."""
    lines = ["# the build machine of a cross build (multibuild/build/toolchain.py)", "[binaries]"]
    for key, names in (("c", ("cc", "gcc")), ("cpp", ("c++", "g++"))):
        found = next((shutil.which(n, path="/usr/local/bin:/usr/bin:/bin") for n in names
                      if shutil.which(n, path="/usr/local/bin:/usr/bin:/bin")), None)
        if found:
            lines.append(f"{key} = {_quote(found)}")
    return "\n".join(lines) + "\n"


def toolchain_path(path: str, bin_dir: Path) -> str:
    """``path`` with ``bin_dir`` right after ccache's link directory (so ccache, when on,
    runs zig's wrappers) or first, and no other toolchain's wrappers."""
    entries = [p for p in path.split(os.pathsep)
               if p and p != str(bin_dir) and f"{os.sep}toolchains{os.sep}zig-" not in p]
    where = next((i + 1 for i, p in enumerate(entries) if p.endswith(f"{os.sep}ccache-bin")), 0)
    entries.insert(where, str(bin_dir))
    return os.pathsep.join(entries)


def activation(toolchain: Toolchain, cache: Path, environ: Mapping[str, str]
               ) -> tuple[dict[str, str], dict[str, Any]]:
    """(what the build shell exports, the report's record) for ``toolchain``."""
    if toolchain.kind == "host":
        return {"MB_TOOLCHAIN_ID": f"host {toolchain.plat}"}, host_record(toolchain, environ)
    cross: dict[str, str] = {}
    if toolchain.cross:
        from multibuild.build.crosspython import build_python, debian_root

        python = environ.get("MB_PYTHON_VERSION", "")
        cross = build_python(debian_root(toolchain.plat, python, cache, environ), cache)
        cross["MB_MESON_CROSS_FILE"] = ""  # set below, beside the wrappers
    installed = install(toolchain, cache, cross.get("MB_CROSS_INCLUDE", ""))
    if cross:
        cross["MB_MESON_CROSS_FILE"] = str(installed.bin.parent / "cross.ini")
    exports = {
        "CC": "cc", "CXX": "c++",
        "AR": str(installed.bin / "ar"), "RANLIB": str(installed.bin / "ranlib"),
        # No LDSHARED: setuptools puts CC (CXX) in place of the compiler of Python's own
        # LDSHARED (LDCXXSHARED) already, and zlib's configure would take an exported one as
        # its whole link command (no soname, no symbol versions).
        "PATH": toolchain_path(environ.get("PATH", ""), installed.bin),
        "MB_TOOLCHAIN_BIN": str(installed.bin),
        "MB_TOOLCHAIN_ID": installed.ident,
        "MB_MESON_NATIVE_FILE": str(installed.bin.parent / "native.ini"),
        # CMake >= 3.21 reads it from the environment when it configures a build directory.
        "CMAKE_TOOLCHAIN_FILE": str(installed.bin.parent / "toolchain.cmake"),
        # auditwheel repairs to exactly this policy (--only-plat, multibuild.build.repair).
        "AUDITWHEEL_PLAT": toolchain.policy_tag,
        "MB_POLICY_PLAT": toolchain.policy_tag,
        **cross,
    }
    return exports, zig_record(toolchain, installed)


def zig_record(toolchain: Toolchain, installed: Installed) -> dict[str, Any]:
    return {
        "name": "zig",
        "why": toolchain.why,
        "compiler": f"zig {installed.zig_version} (clang {installed.clang_version})",
        "version": installed.zig_version,
        "target": toolchain.zig_target,
        "glibc": toolchain.policy.glibc_text,
        "policy": toolchain.policy_tag,
        "cross": toolchain.cross,
        "cxx_runtime": f"libc++ (LLVM {installed.clang_version}), linked statically by zig",
        "fortran": None,
    }


def _first_line(cmd: Sequence[str], environ: Mapping[str, str]) -> str | None:
    try:
        done = subprocess.run(list(cmd), capture_output=True, text=True, check=False,
                              timeout=60, env=dict(environ))
    except (OSError, subprocess.TimeoutExpired):
        return None
    lines = done.stdout.strip().splitlines()
    return lines[0].strip() if done.returncode == 0 and lines else None


def host_glibc() -> str | None:
    libc = os.confstr("CS_GNU_LIBC_VERSION") if hasattr(os, "confstr") else None
    return libc.split()[1] if libc and libc.startswith("glibc ") else None


def host_record(toolchain: Toolchain, environ: Mapping[str, str]) -> dict[str, Any]:
    compiler = environ.get("CC", "").split()[-1:] or ["cc"]
    return {
        "name": "host",
        "why": toolchain.why,
        "compiler": _first_line([*compiler, "--version"], environ),
        "version": _first_line([*compiler, "-dumpversion"], environ),
        "target": _first_line([*compiler, "-dumpmachine"], environ),
        "glibc": host_glibc(),
        "policy": None,
        "cross": False,
        "cxx_runtime": "the host's libstdc++ (shared)",
        "fortran": None,
    }


# --------------------------------------------------------------------------- Fortran

# zig compiles no Fortran: the machine's gfortran does, and its objects are linked by zig's cc
# (meson links mixed C/Fortran extensions with the C compiler) against a gfortran runtime. The
# machine's libgfortran needs its glibc (2.34 on Debian 12); one built for glibc 2.17 keeps the
# policy. Where one comes from (MB_GFORTRAN_RUNTIME): "auto" (the default) takes the
# libgfortran of the OpenBLAS the build uses (OPENBLAS_LIB_DIR: manylinux2014 scipy-openblas
# wheels bundle one), else that of the scipy-openblas32 manylinux2014 wheel below (fetched,
# verified and cached like OpenBLAS); a directory names one; "host" keeps the machine's.
RUNTIME_WHEEL = ("scipy-openblas32", "0.3.31.188.0")


def find_gfortran(environ: Mapping[str, str]) -> str | None:
    """The machine's gfortran (never the toolchain's wrapper of it)."""
    wrappers = environ.get("MB_TOOLCHAIN_BIN", "")
    path = os.pathsep.join(p for p in environ.get("PATH", "").split(os.pathsep)
                           if p and p != wrappers)
    return shutil.which("gfortran", path=path)


def _needed(path: Path) -> list[str]:
    from elftools.elf.dynamic import DynamicSection
    from elftools.elf.elffile import ELFFile

    with path.open("rb") as handle:
        elf = ELFFile(handle)
        section = elf.get_section_by_name(".dynamic")
        if not isinstance(section, DynamicSection):
            return []
        return [str(getattr(t, "needed", "")) for t in section.iter_tags()
                if t.entry.d_tag == "DT_NEEDED"]


def runtime_fit(library: Path, policy: str) -> tuple[bool, str | None]:
    """Whether ``library`` and the gfortran runtime libraries it needs from its own directory
    (libquadmath) fit ``policy``; and the highest glibc they need."""
    from multibuild.build.glibc import above_policy, elf_references, highest, version_text

    files = [library] + [library.parent / name for name in _needed(library)
                         if name.startswith("libquadmath") and (library.parent / name).is_file()]
    references = [r for f in files for r in elf_references(f.read_bytes(), f.name)]
    return not above_policy(references, policy), version_text(highest(references))


def runtime_candidates(directory: Path) -> list[Path]:
    """The gfortran 8+ runtimes (``libgfortran*.so.5*``, real files) in ``directory``."""
    if not directory.is_dir():
        return []
    return sorted(p for p in directory.iterdir()
                  if p.name.startswith("libgfortran") and ".so.5" in p.name
                  and p.is_file() and not p.is_symlink())


def fetched_runtime_dir(toolchain: Toolchain, environ: Mapping[str, str]) -> Path:
    """The lib/ directory of RUNTIME_WHEEL's manylinux2014 wheel for the target (its
    libgfortran and libquadmath), downloaded and verified by multibuild.deps.openblas."""
    from multibuild.deps import openblas

    target = openblas.make_target({**environ, "MB_ML_VER": "2014", "MB_ML_LIBC": ""},
                                  plat=toolchain.plat, ilp64=False, version=RUNTIME_WHEEL[1])
    prefix = openblas.fetch(target, openblas.Options.from_env(environ, source="wheel"), environ)
    return prefix / "lib"


def fortran_runtime(toolchain: Toolchain, environ: Mapping[str, str], cache: Path
                    ) -> tuple[dict[str, str], dict[str, Any] | None]:
    """(what the build exports, the toolchain record's ``fortran``) for a build with gfortran
    on PATH: a runtime that fits the policy, linked first (MB_GFORTRAN_RUNTIME_LINKDIR, and
    LD_LIBRARY_PATH for the repair), or the machine's, which will pin a Fortran-linking wheel
    above the policy (the repair then says what pins it)."""
    gfortran = find_gfortran(environ)
    if gfortran is None or toolchain.kind != "zig":
        return {}, None
    version = _first_line([gfortran, "--version"], environ)
    choice = environ.get("MB_GFORTRAN_RUNTIME", "").strip() or "auto"
    policy = toolchain.policy_tag
    directories: list[Path] = []
    if choice == "auto":
        if environ.get("OPENBLAS_LIB_DIR"):
            directories.append(Path(environ["OPENBLAS_LIB_DIR"]))
    elif choice != "host":
        directories.append(Path(choice))  # choose() checked it is a directory
    for index in range(2):
        for directory in directories:
            for library in runtime_candidates(directory):
                fits, glibc = runtime_fit(library, policy)
                if fits:
                    return _use_runtime(library, cache, environ), {
                        "compiler": version, "runtime": library.name,
                        "runtime_from": str(directory), "runtime_glibc": glibc,
                        "fits_policy": True}
        if choice != "auto" or index:
            break
        try:
            directories = [fetched_runtime_dir(toolchain, environ)]
        except MultibuildError as exc:  # offline, say: the build goes on with the machine's
            print(f"toolchain: cannot fetch the gfortran runtime of {' '.join(RUNTIME_WHEEL)}: "
                  f"{exc}", file=sys.stderr)
            break
    host = Path(_first_line([gfortran, "-print-file-name=libgfortran.so.5"], environ) or "")
    fits, glibc = runtime_fit(host.resolve(), policy) if host.is_file() else (False, None)
    print(f"toolchain: no gfortran runtime for {policy} (MB_GFORTRAN_RUNTIME={choice}); a "
          f"wheel that links Fortran gets the machine's libgfortran.so.5, which needs glibc "
          f"{glibc or '?'}: its tag will be above the policy, and the repair names what pins "
          "it (docker mode builds it within the policy)", file=sys.stderr)
    return {}, {"compiler": version, "runtime": "libgfortran.so.5 (the machine's)",
                "runtime_from": str(host.parent) if host.is_file() else None,
                "runtime_glibc": glibc, "fits_policy": fits}


def _use_runtime(library: Path, cache: Path, environ: Mapping[str, str]) -> dict[str, str]:
    """A directory where ``-lgfortran`` (and ``-lquadmath``) find ``library`` (and the
    libquadmath it needs, beside it), and where the repair finds them by their own names
    (LD_LIBRARY_PATH): that directory holds only these, so nothing else beside the runtime
    (the OpenBLAS of the wheel it came from) shadows what the build links."""
    digest = hashlib.sha256(str(library.resolve()).encode()).hexdigest()[:12]
    linkdir = cache / "toolchains" / f"gfortran-runtime-{digest}"
    linkdir.mkdir(parents=True, exist_ok=True)
    links = {"libgfortran.so": library, library.name: library}
    for name in _needed(library):
        if name.startswith("libquadmath") and (library.parent / name).is_file():
            links["libquadmath.so"] = links[name] = library.parent / name
    for name, target in links.items():
        link = linkdir / name
        if not (link.is_symlink() and os.readlink(link) == str(target)):
            tmp = linkdir / f".{name}.{os.getpid()}"
            tmp.unlink(missing_ok=True)
            tmp.symlink_to(target)
            os.replace(tmp, link)
    search = environ.get("LD_LIBRARY_PATH", "")
    return {"MB_GFORTRAN_RUNTIME_LINKDIR": str(linkdir),
            "LD_LIBRARY_PATH": os.pathsep.join(
                p for p in [str(linkdir), *search.split(os.pathsep)] if p)}


def write_record(work_dir: Path, record: Mapping[str, Any]) -> None:
    atomic_write(work_dir / RECORD, json.dumps(record, indent=1, sort_keys=True) + "\n")


def read_record(work_dir: Path) -> dict[str, Any] | None:
    try:
        data = json.loads((work_dir / RECORD).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def default_cache(environ: Mapping[str, str]) -> Path:
    """MB_CACHE_DIR, else build/cache under the wheels repository (as mb_cache_dir)."""
    if environ.get("MB_CACHE_DIR"):
        return Path(environ["MB_CACHE_DIR"])
    root = Path(environ.get("MB_ROOT") or Path(__file__).resolve().parents[2])
    return root / "build" / "cache"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m multibuild.build.toolchain",
                                     description="The compilers of a native Linux build.")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, text in (("check", "print the toolchain of PLAT, or a one-line error"),
                       ("activate", "install the toolchain; print what the build exports as "
                                    "NAME=VALUE records and record it in MB_WORK_DIR"),
                       ("fortran", "after pre_build: the gfortran runtime of the build "
                                   "(records, and its record in MB_WORK_DIR)"),
                       ("describe", "print the record of the toolchain as JSON")):
        cmd = sub.add_parser(name, help=text)
        cmd.add_argument("--plat", default=None, help="PLAT (default: PLAT, else this machine)")
    args = parser.parse_args(argv)
    environ = os.environ

    def body() -> int:
        toolchain = choose(environ, args.plat)
        if args.command == "check":
            target = toolchain.zig_target if toolchain.kind == "zig" else "host glibc"
            print(f"{toolchain.kind} {target} {toolchain.policy_tag} ({toolchain.why})")
            return 0
        if args.command == "fortran":
            exports, fortran = fortran_runtime(toolchain, environ, default_cache(environ))
            work = Path(environ["MB_WORK_DIR"]) if environ.get("MB_WORK_DIR") else None
            current = read_record(work) if work else None
            if work and current is not None and fortran is not None:
                write_record(work, {**current, "fortran": fortran})
            sys.stdout.write(records(exports))
            return 0
        exports, record = activation(toolchain, default_cache(environ), environ)
        if args.command == "describe":
            print(json.dumps(record, indent=1, sort_keys=True))
            return 0
        if environ.get("MB_WORK_DIR"):
            write_record(Path(environ["MB_WORK_DIR"]), record)
        sys.stdout.write(records(exports))
        return 0

    return run_cli(body)


if __name__ == "__main__":
    sys.exit(main())
