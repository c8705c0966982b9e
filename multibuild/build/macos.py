"""macOS builds: interpreters, architecture flags, universal2 fusion and Mach-O facts.

Called by ``multibuild/osx_utils.sh`` (``mb_python build.macos ...``):

* ``installer VERSION [--macos X.Y] [--plat PLAT]`` - the python.org installer file name
  (``--url``: its address) of a CPython ``X.Y`` (newest binary release, see
  :data:`PYTHON_ORG_RELEASES`) or ``X.Y.Z``;
* ``fill VERSION``, ``installer-ext VERSION``, ``sdks VERSION`` - multibuild's ``fill_pyver``,
  ``pyinst_ext_for_version`` and ``macpython_sdk_list_for_version``;
* ``find VERSION --plat PLAT`` - the CI's own interpreter (Azure/GitHub tool cache) or an
  installed python.org framework, else exit 1;
* ``flags PLAT`` - ``export`` lines: ``MACOSX_DEPLOYMENT_TARGET``, ``ARCHFLAGS``, ``CFLAGS``,
  ``CXXFLAGS``, ``LDFLAGS``, ``_PYTHON_HOST_PLATFORM`` and ``CMAKE_OSX_ARCHITECTURES``;
* ``require-archs WHEEL`` - the ``delocate-wheel --require-archs`` value of a wheel's tag;
* ``fuse WHEEL WHEEL OUT_DIR`` - two thin wheels (x86_64 + arm64) into one universal2 wheel
  with ``delocate-merge``, then checks every binary holds both architectures;
* ``archs FILE...`` - architectures of Mach-O files (thin or fat), read from their headers;
* ``shims DIR`` - ``otool``, ``lipo``, ``install_name_tool`` and ``codesign`` for a Linux host,
  backed by LLVM's ``llvm-otool``, ``llvm-lipo`` and ``llvm-install-name-tool`` (``codesign``
  does nothing: nothing can sign on Linux), so that delocate runs there.
"""

from __future__ import annotations

import argparse
import glob
import os
import re
import shlex
import shutil
import struct
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path

from packaging.utils import parse_wheel_filename

from multibuild import MultibuildError
from multibuild.core.interpreters import parse_version
from multibuild.core.shellvars import records
from multibuild.deps.openblas import DEFAULT_MACOS_TARGET

MACOS_PLATS: tuple[str, ...] = ("x86_64", "arm64", "universal2")
# The thin architectures a PLAT builds.
THIN_ARCHS: dict[str, tuple[str, ...]] = {
    "x86_64": ("x86_64",), "arm64": ("arm64",), "universal2": ("x86_64", "arm64"),
}
# Default MACOSX_DEPLOYMENT_TARGET per PLAT: the same as the OpenBLAS artifacts are built for;
# a universal2 wheel is tagged with its x86_64 part's (lower) target.
DEPLOYMENT_TARGETS: dict[str, str] = {
    "x86_64": DEFAULT_MACOS_TARGET["x86_64"],
    "arm64": DEFAULT_MACOS_TARGET["arm64"],
    "universal2": DEFAULT_MACOS_TARGET["x86_64"],
}
# Newest python.org macOS installer of each CPython X.Y (X.Y.Z in MB_PYTHON_VERSION_FULL or
# on the command line wins). Releases in security-fix mode have no installers: their last
# binary release is listed.
PYTHON_ORG_RELEASES: dict[str, str] = {
    "3.9": "3.9.13", "3.10": "3.10.11", "3.11": "3.11.9", "3.12": "3.12.10",
    "3.13": "3.13.1", "3.14": "3.14.0",
}
# The last python.org macOS binary release of series it no longer builds installers for:
# what multibuild's fill_pyver gives for them (they only make sense for old wheels).
LEGACY_PYTHON_ORG_RELEASES: dict[str, str] = {
    "2.6": "2.6.6", "2.7": "2.7.18", "3.2": "3.2.5", "3.3": "3.3.5", "3.4": "3.4.4",
    "3.5": "3.5.4", "3.6": "3.6.8", "3.7": "3.7.9", "3.8": "3.8.10",
}
PYTHON_ORG_FTP = "https://www.python.org/ftp/python"
# The tool cache directories of CI services: <dir>/Python/X.Y.Z/<x64|arm64>/bin/pythonX.Y
TOOL_CACHE_VARIABLES: tuple[str, ...] = ("AGENT_TOOLSDIRECTORY", "RUNNER_TOOL_CACHE")
LLVM_TOOLS: dict[str, str] = {
    "otool": "llvm-otool", "lipo": "llvm-lipo", "install_name_tool": "llvm-install-name-tool",
}
_FULL_RE = re.compile(r"^3\.(\d+)\.(\d+)(t?)$")
_TARGET_RE = re.compile(r"^\d+(\.\d+)?$")
# Any X.Y.Z, with a pre-release suffix or not (3.9.1rc1): fill_pyver keeps it as given.
_ANY_FULL_RE = re.compile(r"^(\d+)\.(\d+)\.(\d+)[0-9A-Za-z.+-]*$")
_SERIES_RE = re.compile(r"^(\d+)(?:\.(\d+))?$")
_TAG_ARCH_RE = re.compile(r"^macosx_\d+_\d+_(?P<arch>.+)$")


def _check_plat(plat: str) -> str:
    if plat not in MACOS_PLATS:
        raise MultibuildError(f"unsupported macOS PLAT {plat!r}; supported: "
                              + ", ".join(MACOS_PLATS))
    return plat


# -- python.org installers and interpreters ----------------------------------------------------


def full_version(version: str, environ: Mapping[str, str] | None = None) -> str:
    """``X.Y.Z[t]`` for an ``X.Y[t]`` or ``X.Y.Z[t]`` request (MB_PYTHON_VERSION_FULL wins)."""
    env = os.environ if environ is None else environ
    override = env.get("MB_PYTHON_VERSION_FULL", "").strip()
    if override:
        version = override
    if _FULL_RE.match(version):
        return version
    short = parse_version(version)
    thread = "t" if short.endswith("t") else ""
    base = short.rstrip("t")
    if base not in PYTHON_ORG_RELEASES:
        known = ", ".join(PYTHON_ORG_RELEASES)
        raise MultibuildError(f"no python.org macOS installer known for Python {short} "
                              f"(known: {known}); set MB_PYTHON_VERSION_FULL=X.Y.Z")
    return PYTHON_ORG_RELEASES[base] + thread


def installer_name(version: str, environ: Mapping[str, str] | None = None) -> str:
    """python.org's universal2 installer: ``python-3.12.10-macos11.pkg``. Free-threaded
    builds (``3.13t``) are an optional part of the same installer."""
    full = full_version(version, environ).rstrip("t")
    minor, patch = (int(p) for p in full.split(".")[1:])
    if (minor, patch) < (9, 1):
        raise MultibuildError(f"Python {full} has no universal2 macOS installer (needs 3.9.1+)")
    return f"python-{full}-macos11.pkg"


def installer_url(version: str, environ: Mapping[str, str] | None = None) -> str:
    full = full_version(version, environ).rstrip("t")
    return f"{PYTHON_ORG_FTP}/{full}/{installer_name(version, environ)}"


def fill_version(version: str) -> str:
    """multibuild's ``fill_pyver``: ``X.Y.Z`` (any suffix) as given; ``X.Y`` the newest
    python.org macOS binary release of that series; ``X`` the newest of its newest series."""
    spec = version.strip()
    if _ANY_FULL_RE.match(spec):
        return spec
    releases = {**LEGACY_PYTHON_ORG_RELEASES, **PYTHON_ORG_RELEASES}
    match = _SERIES_RE.match(spec)
    if match and match.group(2) is None:
        series = [s for s in releases if s.split(".")[0] == match.group(1)]
        if series:
            spec = max(series, key=lambda s: int(s.split(".")[1]))
    if spec not in releases:
        raise MultibuildError(f"cannot fill Python version {version!r}: expected X.Y.Z, or X or "
                              f"X.Y of a python.org macOS release ({', '.join(releases)})")
    return releases[spec]


def _triple(full: str) -> tuple[int, int, int]:
    match = _ANY_FULL_RE.match(full)
    if not match:
        raise MultibuildError(f"{full!r} is not an X.Y.Z version")
    major, minor, micro = (int(g) for g in match.groups())
    return major, minor, micro


def installer_ext(version: str) -> str:
    """``pkg``, or ``dmg`` for python.org installers older than 2.7.9 and 3.4.2."""
    full = _triple(fill_version(version))
    if full < (2, 7, 9) or (3, 0, 0) <= full < (3, 4, 2):
        return "dmg"
    return "pkg"


def sdk_versions(version: str, plat: str = "") -> list[str]:
    """multibuild's ``macpython_sdk_list_for_version``: the minimum macOS versions python.org
    built CPython ``version`` for, oldest first (10.6: 64/32-bit; 10.9: 64-bit); 11.0 for
    ``PLAT=arm64``. Newer installers are listed by their x86_64 build target, 10.9."""
    if plat == "arm64":
        return ["11.0"]
    full = _triple(fill_version(version))
    if full[0] not in (2, 3):
        raise MultibuildError(f"Python {version!r}: expected a 2.x or 3.x version")
    last_dual, first_64 = ((2, 7, 18), (2, 7, 15)) if full[0] == 2 else ((3, 8, 0), (3, 6, 5))
    found = (["10.6"] if full < last_dual else []) + (["10.9"] if full >= first_64 else [])
    return found


def _has_universal2(full: tuple[int, int, int]) -> bool:
    return full == (3, 8, 10) or full >= (3, 9, 1)


def installer_file(version: str, macos: str = "", plat: str = "",
                   environ: Mapping[str, str] | None = None) -> str:
    """multibuild's ``pyinst_fname_for_version VERSION [MACOS]``: python.org's installer of
    CPython ``version`` built for macOS ``macos`` (``10.6``, ``10.9``, ``11``).

    PLAT arm64 or universal2, ``11``, and CPython 3.10+ (python.org builds nothing else) take the
    universal2 installer; so does no ``macos`` where it exists (this library builds every PLAT
    from it), else the newest ``macpython_sdk_for_version`` build."""
    env = os.environ if environ is None else environ
    spec = version.strip()
    base = spec.rstrip("t")
    if _FULL_RE.match(spec) or base in PYTHON_ORG_RELEASES:
        full = full_version(spec, env).rstrip("t")  # MB_PYTHON_VERSION_FULL applies
    else:
        full = fill_version(spec)
    triple = _triple(full)
    if macos and not _TARGET_RE.match(macos):
        raise MultibuildError(f"macOS version {macos!r} is not X or X.Y")
    universal = (plat in ("arm64", "universal2") or triple >= (3, 10, 0)
                 or macos.split(".")[0] == "11" or (not macos and _has_universal2(triple)))
    if universal:
        if not _has_universal2(triple):
            raise MultibuildError(f"Python {full} has no universal2 (macOS 11) installer; "
                                  "there is one for 3.8.10 and 3.9.1+")
        return f"python-{full}-macos{'11.0' if full == '3.9.1' else '11'}.pkg"
    target = macos or sdk_versions(full, plat)[-1]
    return f"python-{full}-macosx{target}.{installer_ext(full)}"


def installer_file_url(version: str, macos: str = "", plat: str = "",
                       environ: Mapping[str, str] | None = None) -> str:
    """Download address of :func:`installer_file` (directory: the numeric X.Y.Z)."""
    name = installer_file(version, macos, plat, environ)
    full = name.split("-")[1]
    directory = ".".join(str(p) for p in _triple(full))
    return f"{PYTHON_ORG_FTP}/{directory}/{name}"


def framework_python(version: str) -> Path:
    """Where the python.org installer puts ``pythonX.Y`` (``PythonT`` for free-threaded)."""
    short = parse_version(version.rsplit(".", 1)[0] if _FULL_RE.match(version) else version)
    if short.endswith("t"):
        return Path(f"/Library/Frameworks/PythonT.framework/Versions/{short}/bin/python{short}")
    return Path(f"/Library/Frameworks/Python.framework/Versions/{short}/bin/python{short}")


def _version_key(path: Path) -> tuple[int, ...]:
    return tuple(int(p) for p in re.findall(r"\d+", path.name)[:3])


def candidate_interpreters(
    version: str, plat: str, environ: Mapping[str, str], machine: str | None = None
) -> list[Path]:
    """Where Python ``version`` for ``plat`` may be, best first.

    A CI's tool cache (``AGENT_TOOLSDIRECTORY`` on Azure, ``RUNNER_TOOL_CACHE`` on GitHub)
    holds thin interpreters of the machine's architecture; the python.org framework is
    universal2. universal2 builds prefer the framework; thin builds the CI's own interpreter.
    """
    _check_plat(plat)
    short = parse_version(version)
    arch = (machine or os.uname().machine).lower()
    arch_dir = "arm64" if arch in ("arm64", "aarch64") else "x64"
    cached: list[Path] = []
    base = short.rstrip("t")
    for name in TOOL_CACHE_VARIABLES:
        root = environ.get(name)
        if not root:
            continue
        found = [Path(p) for p in glob.glob(str(Path(root, "Python", f"{base}.*")))]
        for release in sorted(found, key=_version_key, reverse=True):
            suffix = "-freethreaded" if short.endswith("t") else ""
            cached.append(release / f"{arch_dir}{suffix}" / "bin" / f"python{short}")
    framework = [framework_python(short)]
    return framework + cached if plat == "universal2" else cached + framework


def find_interpreter(
    version: str, plat: str, environ: Mapping[str, str], machine: str | None = None
) -> Path | None:
    for path in candidate_interpreters(version, plat, environ, machine):
        if path.is_file() and os.access(path, os.X_OK):
            return path
    return None


# -- compiler flags ----------------------------------------------------------------------------


def deployment_target(plat: str, environ: Mapping[str, str]) -> str:
    target = environ.get("MACOSX_DEPLOYMENT_TARGET", "").strip() or DEPLOYMENT_TARGETS[
        _check_plat(plat)]
    if not _TARGET_RE.match(target):
        raise MultibuildError(f"MACOSX_DEPLOYMENT_TARGET={target!r} is not a version")
    if plat == "arm64" and int(target.split(".")[0]) < 11:
        return "11.0"  # the first macOS on arm64 (a universal2 target is its x86_64 part's)
    return target


def _strip_arch_flags(flags: str) -> list[str]:
    words = shlex.split(flags)
    kept: list[str] = []
    skip = False
    for word in words:
        if skip:
            skip = False
            continue
        if word == "-arch":
            skip = True
            continue
        kept.append(word)
    return kept


def build_flags(plat: str, environ: Mapping[str, str]) -> dict[str, str]:
    """The compiler environment of a macOS build for ``plat`` (any earlier ``-arch`` flags of
    CFLAGS/CXXFLAGS/LDFLAGS are replaced, so applying it twice changes nothing)."""
    target = deployment_target(plat, environ)
    arch_words = [w for arch in THIN_ARCHS[plat] for w in ("-arch", arch)]
    archflags = " ".join(arch_words)
    flags = {
        "MACOSX_DEPLOYMENT_TARGET": target,
        "ARCHFLAGS": archflags,
        "_PYTHON_HOST_PLATFORM": f"macosx-{target}-{plat}",
        "CMAKE_OSX_ARCHITECTURES": ";".join(THIN_ARCHS[plat]),
    }
    for name in ("CFLAGS", "CXXFLAGS", "LDFLAGS"):
        rest = _strip_arch_flags(environ.get(name, ""))
        flags[name] = shlex.join([*arch_words, *rest])
    return flags


def require_archs(wheel_name: str) -> str | None:
    """``delocate-wheel --require-archs`` value for a macOS wheel's platform tag."""
    tags = parse_wheel_filename(Path(wheel_name).name)[3]
    archs: set[str] = set()
    for tag in tags:
        match = _TAG_ARCH_RE.match(tag.platform)
        if not match:
            raise MultibuildError(f"{wheel_name}: {tag.platform!r} is not a macOS platform tag")
        archs.update(THIN_ARCHS.get(match.group("arch"), ()))
    return ",".join(a for a in ("x86_64", "arm64") if a in archs) or None


# -- Mach-O headers ----------------------------------------------------------------------------

_CPU_TYPES = {7: "i386", 0x01000007: "x86_64", 12: "arm", 0x0100000C: "arm64", 18: "ppc",
              0x01000012: "ppc64"}
_CPU_SUBTYPE_ARM64E = 2
_THIN_MAGICS = {b"\xcf\xfa\xed\xfe": "<", b"\xce\xfa\xed\xfe": "<",
                b"\xfe\xed\xfa\xcf": ">", b"\xfe\xed\xfa\xce": ">"}


def _cpu_name(cputype: int, subtype: int) -> str:
    name = _CPU_TYPES.get(cputype, f"cpu{cputype:#x}")
    if name == "arm64" and subtype & 0xFF == _CPU_SUBTYPE_ARM64E:
        return "arm64e"
    return name


def macho_archs(data: bytes) -> tuple[str, ...] | None:
    """Architectures of a Mach-O image (thin or fat) from its header; ``None`` if it is not
    Mach-O."""
    magic = data[:4]
    if magic in _THIN_MAGICS and len(data) >= 12:
        cputype, subtype = struct.unpack(_THIN_MAGICS[magic] + "ii", data[4:12])
        return (_cpu_name(cputype, subtype),)
    if magic in (b"\xca\xfe\xba\xbe", b"\xca\xfe\xba\xbf") and len(data) >= 8:
        count = struct.unpack(">I", data[4:8])[0]
        wide = magic == b"\xca\xfe\xba\xbf"
        size = 32 if wide else 20
        # Java class files share the magic; their "count" is a version number (>= 45).
        if count == 0 or count > 16 or len(data) < 8 + count * size:
            return None
        archs = []
        for index in range(count):
            cputype, subtype = struct.unpack(">ii", data[8 + index * size: 16 + index * size])
            archs.append(_cpu_name(cputype, subtype))
        return tuple(archs)
    return None


def wheel_binaries(wheel: Path) -> dict[str, tuple[str, ...]]:
    """Every Mach-O member of a wheel and its architectures."""
    found: dict[str, tuple[str, ...]] = {}
    with zipfile.ZipFile(wheel) as archive:
        for info in archive.infolist():
            if info.is_dir():
                continue
            with archive.open(info) as member:
                head = member.read(8 + 16 * 32)
            archs = macho_archs(head)
            if archs is not None:
                found[info.filename] = archs
    return found


# -- universal2 --------------------------------------------------------------------------------


def _thin_arch(wheel: Path) -> str:
    archs = require_archs(wheel.name)
    if archs not in ("x86_64", "arm64"):
        raise MultibuildError(f"{wheel.name} is not a thin x86_64 or arm64 macOS wheel")
    return archs


def _run_tool(module: str, script: str, args: Sequence[str], env: Mapping[str, str]) -> None:
    try:
        __import__(module)
        cmd = [sys.executable, "-m", module, *args]
    except ImportError:
        found = shutil.which(script)
        if not found:
            raise MultibuildError(f"{script} is not installed") from None
        cmd = [found, *args]
    print("+ " + shlex.join(cmd), flush=True)
    done = subprocess.run(cmd, env=dict(env), check=False)
    if done.returncode != 0:
        raise MultibuildError(f"{script} failed (exit {done.returncode})")


def cctools_env(environ: Mapping[str, str], scratch: Path) -> dict[str, str]:
    """``environ`` with ``otool``/``lipo``/``install_name_tool``/``codesign`` on PATH: the
    system's on macOS, LLVM-backed shims in ``scratch`` elsewhere."""
    env = dict(environ)
    path = env.get("PATH", os.defpath)
    if all(shutil.which(tool, path=path) for tool in (*LLVM_TOOLS, "codesign")):
        return env
    shims = write_shims(scratch / "cctools", environ)
    env["PATH"] = os.pathsep.join([str(shims), path])
    return env


def fuse(first: Path, second: Path, out_dir: Path,
         environ: Mapping[str, str] | None = None) -> Path:
    """Fuse a thin x86_64 and a thin arm64 wheel of one release into a universal2 wheel in
    ``out_dir`` (``delocate-merge``); every binary of the result must hold both archs."""
    env = dict(os.environ if environ is None else environ)
    names = [parse_wheel_filename(w.name)[:2] for w in (first, second)]
    if names[0] != names[1]:
        raise MultibuildError(f"cannot fuse {first.name} with {second.name}: different "
                              "project or version")
    if {_thin_arch(first), _thin_arch(second)} != {"x86_64", "arm64"}:
        raise MultibuildError(f"cannot fuse {first.name} with {second.name}: need one x86_64 "
                              "and one arm64 wheel")
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out_dir, prefix=".fuse-") as scratch_name:
        scratch = Path(scratch_name)
        tool_env = cctools_env(env, scratch)
        _run_tool("delocate.cmd.delocate_merge", "delocate-merge",
                  [str(first.resolve()), str(second.resolve()), "-w", str(scratch / "out")],
                  tool_env)
        produced = sorted((scratch / "out").glob("*.whl"))
        if len(produced) != 1 or require_archs(produced[0].name) != "x86_64,arm64":
            raise MultibuildError(f"delocate-merge made {[p.name for p in produced]}, not one "
                                  "universal2 wheel")
        thin = {name: archs for name, archs in wheel_binaries(produced[0]).items()
                if set(archs) != {"x86_64", "arm64"}}
        if thin:
            listing = ", ".join(f"{n} ({'+'.join(a)})" for n, a in sorted(thin.items()))
            raise MultibuildError(f"fused wheel has binaries without both archs: {listing}")
        target = out_dir / produced[0].name
        os.replace(produced[0], target)
    return target


# -- cctools shims for a Linux host ------------------------------------------------------------


def find_llvm_bin(environ: Mapping[str, str]) -> Path:
    """A directory with llvm-otool, llvm-lipo and llvm-install-name-tool: MB_LLVM_BIN, else
    PATH, else the newest /usr/lib/llvm-*/bin (Debian's llvm-NN packages)."""
    wanted = tuple(LLVM_TOOLS.values())
    candidates: list[Path] = []
    if environ.get("MB_LLVM_BIN"):
        candidates.append(Path(environ["MB_LLVM_BIN"]))
    on_path = shutil.which("llvm-otool", path=environ.get("PATH", os.defpath))
    if on_path:
        candidates.append(Path(on_path).parent)
    candidates += sorted((Path(p) for p in glob.glob("/usr/lib/llvm-*/bin")),
                         key=lambda p: _version_key(p.parent), reverse=True)
    for directory in candidates:
        if all((directory / tool).is_file() for tool in wanted):
            return directory
    raise MultibuildError("no LLVM Mach-O tools (llvm-otool, llvm-lipo, llvm-install-name-tool)"
                          ": install Debian's llvm-16 or set MB_LLVM_BIN (or repair with "
                          "MB_REPAIR_TOOL=repairwheel)")


_SHIM_BODIES: dict[str, str] = {
    # llvm-otool has no -m (and needs none): drop it.
    "otool": 'for arg in "$@"; do shift; [ "$arg" = -m ] || set -- "$@" "$arg"; done\n'
             'exec "$LLVM/llvm-otool" "$@"\n',
    "install_name_tool": 'exec "$LLVM/llvm-install-name-tool" "$@"\n',
    # Apple's wording for a non-binary, which delocate-merge reads as "copy, do not fuse".
    "lipo": 'err=$(mktemp) || exit 1\n'
            '"$LLVM/llvm-lipo" "$@" 2> "$err"\n'
            'status=$?\n'
            'file=$(sed -n "s/^.*\'\\(.*\\)\': The file was not recognized as a valid object'
            '.*$/\\1/p" "$err" | head -n 1)\n'
            'if [ "$status" -ne 0 ] && [ -n "$file" ]; then\n'
            '    echo "fatal error: lipo: can\'t figure out the architecture type of: $file" >&2\n'
            'else\n'
            '    cat "$err" >&2\n'
            'fi\n'
            'rm -f "$err"\n'
            'exit "$status"\n',
    # Nothing can sign on Linux: a wheel repaired here is signed (ad hoc) on macOS, if at all.
    "codesign": "exit 0\n",
}


def write_shims(dest: Path, environ: Mapping[str, str] | None = None) -> Path:
    """Write ``otool``, ``lipo``, ``install_name_tool`` and ``codesign`` into ``dest``: POSIX
    shell scripts calling LLVM's tools (see :data:`_SHIM_BODIES`)."""
    env = os.environ if environ is None else environ
    llvm = find_llvm_bin(env)
    dest.mkdir(parents=True, exist_ok=True)
    for name, body in _SHIM_BODIES.items():
        script = (f"#!/bin/sh\n# {name} for delocate on a non-macOS host (multibuild.build.macos)\n"
                  f"LLVM={shlex.quote(str(llvm))}\n{body}")
        tmp = dest / f".{name}.tmp"
        tmp.write_text(script)
        tmp.chmod(0o755)
        os.replace(tmp, dest / name)
    return dest


# -- command line ------------------------------------------------------------------------------


def _exports(values: Mapping[str, str]) -> str:
    """NAME=VALUE records for mb_import_vars (osx_utils.sh macos_arch_flags)."""
    return records(values).rstrip("\n")


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog="python -m multibuild.build.macos", description=__doc__
                                     .split("\n\n")[0])
    parser.add_argument("--function", default="",
                        help="shell function to name in error messages")
    sub = parser.add_subparsers(dest="command", required=True)
    inst = sub.add_parser("installer", help="python.org installer file name of VERSION")
    inst.add_argument("version")
    inst.add_argument("--url", action="store_true", help="print the download address")
    inst.add_argument("--full-version", action="store_true", help="print X.Y.Z")
    inst.add_argument("--macos", default="", help="macOS version it is built for (10.9, 11)")
    inst.add_argument("--plat", default="", help="PLAT (arm64 and universal2 need macOS 11)")
    fill = sub.add_parser("fill", help="X.Y.Z of a Python version (fill_pyver)")
    fill.add_argument("version")
    ext = sub.add_parser("installer-ext", help="pkg or dmg (pyinst_ext_for_version)")
    ext.add_argument("version")
    sdks = sub.add_parser("sdks", help="macOS versions python.org built VERSION for")
    sdks.add_argument("version")
    sdks.add_argument("--plat", default="")
    find = sub.add_parser("find", help="path of an installed Python VERSION for PLAT")
    find.add_argument("version")
    find.add_argument("--plat", default="x86_64")
    flags = sub.add_parser("flags", help="export lines of the compiler environment of PLAT")
    flags.add_argument("plat")
    req = sub.add_parser("require-archs", help="--require-archs value of a wheel")
    req.add_argument("wheel")
    fuse_cmd = sub.add_parser("fuse", help="fuse a thin x86_64 and arm64 wheel (universal2)")
    fuse_cmd.add_argument("wheels", nargs=2, type=Path)
    fuse_cmd.add_argument("out_dir", type=Path)
    archs = sub.add_parser("archs", help="architectures of Mach-O files")
    archs.add_argument("files", nargs="+", type=Path)
    shims = sub.add_parser("shims", help="write LLVM-backed cctools shims into DIR")
    shims.add_argument("dir", type=Path)
    args = parser.parse_args(args_list)
    try:
        if args.command == "installer":
            if args.full_version:
                print(full_version(args.version))
            elif args.url:
                print(installer_file_url(args.version, args.macos, args.plat))
            else:
                print(installer_file(args.version, args.macos, args.plat))
        elif args.command == "fill":
            print(fill_version(args.version))
        elif args.command == "installer-ext":
            print(installer_ext(args.version))
        elif args.command == "sdks":
            print(" ".join(sdk_versions(args.version, args.plat)))
        elif args.command == "find":
            found = find_interpreter(args.version, args.plat, os.environ)
            if found is None:
                print(f"error: no Python {args.version} for {args.plat} installed "
                      "(tool cache or python.org framework)", file=sys.stderr)
                return 1
            print(found)
        elif args.command == "flags":
            print(_exports(build_flags(args.plat, os.environ)))
        elif args.command == "require-archs":
            print(require_archs(args.wheel) or "")
        elif args.command == "fuse":
            print(fuse(args.wheels[0], args.wheels[1], args.out_dir))
        elif args.command == "archs":
            for path in args.files:
                found_archs = macho_archs(path.read_bytes()[: 8 + 16 * 32])
                if found_archs is None:
                    raise MultibuildError(f"{path} is not a Mach-O file")
                print(f"{path}\t{' '.join(found_archs)}")
        else:
            print(write_shims(args.dir))
    except (MultibuildError, OSError) as exc:
        where = f"{args.function}: " if args.function else ""
        print(f"error: {where}{exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
