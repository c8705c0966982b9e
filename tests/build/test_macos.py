"""macOS jobs from Linux: installer names, deployment targets and architecture flags (Python and
the sourced osx_utils.sh), interpreter lookup, Mach-O headers, and delocate / repairwheel on a
cross-compiled (ziglang) macOS extension wheel."""

from __future__ import annotations

import os
import struct
import subprocess
import sys
from pathlib import Path

import pytest
from crossbuild import (
    LLVM_HINT,
    PY_TAG,
    adhoc_signature_state,
    llvm_bin_or_skip,
    macos_thin_wheel,
    wheel_member,
    wheel_names,
)

from multibuild import MultibuildError
from multibuild.build import macos
from multibuild.build.repair import choose_tool, repair_command, repair_wheel

REPO_ROOT = Path(__file__).resolve().parents[2]
PLAIN_PATH = "/usr/bin:/bin"  # no otool/lipo on it: delocate must go through the shims


@pytest.fixture
def cross_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.getbasetemp() / "cross"


def shell(script: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    base = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp"),
            "MB_TOOL_PYTHON": str(REPO_ROOT / ".venv" / "bin" / "python")}
    return subprocess.run(["bash", "-c", script], cwd=REPO_ROOT, env={**base, **(env or {})},
                          capture_output=True, text=True, check=False)


# -- decisions ---------------------------------------------------------------------------------


def test_installer_file_names_and_urls() -> None:
    assert macos.installer_name("3.12", {}) == "python-3.12.10-macos11.pkg"
    assert macos.installer_name("3.9", {}) == "python-3.9.13-macos11.pkg"
    assert macos.installer_name("3.11.4", {}) == "python-3.11.4-macos11.pkg"
    assert macos.installer_name("3.13t", {}) == "python-3.13.1-macos11.pkg"
    assert macos.installer_url("3.10", {}) == \
        "https://www.python.org/ftp/python/3.10.11/python-3.10.11-macos11.pkg"
    assert macos.installer_name("3.12", {"MB_PYTHON_VERSION_FULL": "3.12.7"}) == \
        "python-3.12.7-macos11.pkg"
    with pytest.raises(MultibuildError, match=r"needs 3\.9\.1"):
        macos.installer_name("3.8.10", {})
    with pytest.raises(MultibuildError, match="MB_PYTHON_VERSION_FULL"):
        macos.installer_name("3.7", {})
    with pytest.raises(MultibuildError, match="bad Python version"):
        macos.installer_name("three", {})


@pytest.mark.parametrize(("plat", "target", "archflags", "host_platform"), [
    ("x86_64", "10.13", "-arch x86_64", "macosx-10.13-x86_64"),
    ("arm64", "11.0", "-arch arm64", "macosx-11.0-arm64"),
    ("universal2", "10.13", "-arch x86_64 -arch arm64", "macosx-10.13-universal2"),
])
def test_build_flags_per_plat(plat: str, target: str, archflags: str,
                              host_platform: str) -> None:
    flags = macos.build_flags(plat, {"CFLAGS": "-O2 -arch ppc", "LDFLAGS": ""})
    assert flags["MACOSX_DEPLOYMENT_TARGET"] == target
    assert flags["ARCHFLAGS"] == archflags
    assert flags["_PYTHON_HOST_PLATFORM"] == host_platform
    assert flags["CFLAGS"] == f"{archflags} -O2"  # an earlier -arch is replaced, -O2 kept
    assert flags["LDFLAGS"] == archflags
    # Applying the flags twice changes nothing (wrap_wheel_builder may nest).
    assert macos.build_flags(plat, {**flags}) == flags


def test_deployment_target_from_environment() -> None:
    assert macos.build_flags("x86_64", {"MACOSX_DEPLOYMENT_TARGET": "10.15"})[
        "_PYTHON_HOST_PLATFORM"] == "macosx-10.15-x86_64"
    # arm64 starts at macOS 11: a universal2 job's 10.13 applies to its x86_64 half only.
    assert macos.deployment_target("arm64", {"MACOSX_DEPLOYMENT_TARGET": "10.13"}) == "11.0"
    with pytest.raises(MultibuildError, match="not a version"):
        macos.build_flags("x86_64", {"MACOSX_DEPLOYMENT_TARGET": "ventura"})
    with pytest.raises(MultibuildError, match="unsupported macOS PLAT 'i686'"):
        macos.build_flags("i686", {})


def test_osx_utils_decisions_in_the_shell() -> None:
    """The shell functions on Linux: nothing macOS-specific runs to decide."""
    script = """
set -e
source multibuild/osx_utils.sh
echo "installer=$(pyinst_fname_for_version "$MB_PYTHON_VERSION")"
echo "url=$(macpython_installer_url "$MB_PYTHON_VERSION")"
macos_arch_flags
echo "target=$MACOSX_DEPLOYMENT_TARGET"
echo "archflags=$ARCHFLAGS"
echo "host=$_PYTHON_HOST_PLATFORM"
echo "cmake=$CMAKE_OSX_ARCHITECTURES"
"""
    seen = {}
    for plat in ("x86_64", "arm64", "universal2"):
        done = shell(script, {"MB_PYTHON_VERSION": "3.12", "PLAT": plat})
        assert done.returncode == 0, done.stderr
        seen[plat] = dict(line.split("=", 1) for line in done.stdout.splitlines())
    assert {v["installer"] for v in seen.values()} == {"python-3.12.10-macos11.pkg"}
    assert seen["x86_64"]["url"].endswith("/3.12.10/python-3.12.10-macos11.pkg")
    assert [seen[p]["target"] for p in ("x86_64", "arm64", "universal2")] == \
        ["10.13", "11.0", "10.13"]
    assert seen["arm64"]["archflags"] == "-arch arm64"
    assert seen["universal2"]["archflags"] == "-arch x86_64 -arch arm64"
    assert seen["universal2"]["host"] == "macosx-10.13-universal2"
    assert seen["universal2"]["cmake"] == "x86_64;arm64"


def test_wrap_wheel_builder_sets_flags_for_the_builder_only() -> None:
    script = """
source multibuild/osx_utils.sh
function show { echo "in: $ARCHFLAGS $MACOSX_DEPLOYMENT_TARGET $CFLAGS"; }
wrap_wheel_builder show
echo "after: ${ARCHFLAGS:-unset}"
PLAT= wrap_wheel_builder show || echo "status: $?"
"""
    done = shell(script, {"PLAT": "arm64", "CFLAGS": "-g"})
    assert done.stdout.splitlines()[:2] == ["in: -arch arm64 11.0 -arch arm64 -g",
                                            "after: unset"]
    assert "status: 1" in done.stdout
    assert "error: macos_arch_flags: PLAT is not set" in done.stderr


def _exe(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\n")
    path.chmod(0o755)
    return path


def test_interpreter_lookup_prefers_the_ci_tool_cache(tmp_path: Path) -> None:
    cache = tmp_path / "hostedtoolcache"
    _exe(cache / "Python/3.12.1/x64/bin/python3.12")
    newest = _exe(cache / "Python/3.12.10/x64/bin/python3.12")
    arm = _exe(cache / "Python/3.12.10/arm64/bin/python3.12")
    _exe(cache / "Python/3.11.9/x64/bin/python3.11")
    env = {"AGENT_TOOLSDIRECTORY": str(cache)}
    assert macos.find_interpreter("3.12", "x86_64", env, machine="x86_64") == newest
    assert macos.find_interpreter("3.12", "arm64", env, machine="arm64") == arm
    assert macos.find_interpreter("3.13", "x86_64", env, machine="x86_64") is None
    # universal2 wants python.org's universal2 framework first; the tool cache is thin.
    order = macos.candidate_interpreters("3.12", "universal2", env, machine="x86_64")
    assert order[0] == Path("/Library/Frameworks/Python.framework/Versions/3.12/bin/python3.12")
    assert order[1] == newest
    assert macos.framework_python("3.13t") == \
        Path("/Library/Frameworks/PythonT.framework/Versions/3.13t/bin/python3.13t")


def test_require_archs_from_the_platform_tag() -> None:
    assert macos.require_archs("a-1-cp312-cp312-macosx_10_13_x86_64.whl") == "x86_64"
    assert macos.require_archs("a-1-cp312-cp312-macosx_11_0_arm64.whl") == "arm64"
    assert macos.require_archs("a-1-cp312-cp312-macosx_10_13_universal2.whl") == "x86_64,arm64"
    assert macos.require_archs("a-1-cp312-cp312-macosx_10_9_intel.whl") is None
    with pytest.raises(MultibuildError, match="not a macOS platform tag"):
        macos.require_archs("a-1-cp312-cp312-win_amd64.whl")


def test_macho_header_parsing() -> None:
    thin_arm = struct.pack("<Iii", 0xFEEDFACF, 0x0100000C, 0) + bytes(20)
    thin_x86 = struct.pack("<Iii", 0xFEEDFACF, 0x01000007, 3) + bytes(20)
    fat = struct.pack(">II", 0xCAFEBABE, 2) + struct.pack(">iiIII", 0x01000007, 3, 4096, 1, 12) \
        + struct.pack(">iiIII", 0x0100000C, 0, 8192, 1, 14)
    assert macos.macho_archs(thin_arm) == ("arm64",)
    assert macos.macho_archs(thin_x86) == ("x86_64",)
    assert macos.macho_archs(fat) == ("x86_64", "arm64")
    java_class = struct.pack(">IHH", 0xCAFEBABE, 0, 61) + bytes(16)
    assert macos.macho_archs(java_class) is None
    assert macos.macho_archs(b"\x7fELF" + bytes(60)) is None


# -- real artifacts ----------------------------------------------------------------------------


def test_zig_cross_compiles_thin_extensions(cross_dir: Path) -> None:
    for arch in ("x86_64", "arm64"):
        wheel, lib = macos_thin_wheel(cross_dir, arch)
        assert wheel.name == f"crossext-1.0-{PY_TAG}-{PY_TAG}-macosx_11_0_{arch}.whl"
        assert macos.wheel_binaries(wheel) == {"crossext/_ext.so": (arch,)}
        assert macos.macho_archs((lib / "libhelper.dylib").read_bytes()) == (arch,)


def test_llvm_shims_speak_the_cctools_dialect(cross_dir: Path, tmp_path: Path) -> None:
    llvm = llvm_bin_or_skip()
    _wheel, lib = macos_thin_wheel(cross_dir, "x86_64")
    shims = macos.write_shims(tmp_path / "shims", {"MB_LLVM_BIN": str(llvm), "PATH": PLAIN_PATH})
    env = {"PATH": f"{shims}:{PLAIN_PATH}"}
    dylib = lib / "libhelper.dylib"
    # delocate calls `otool -arch all -m -L`; llvm-otool knows no -m.
    listing = subprocess.run(["otool", "-arch", "all", "-m", "-D", str(dylib)], env=env,
                             capture_output=True, text=True, check=True)
    assert listing.stdout.splitlines() == [f"{dylib}:", "@rpath/libhelper.dylib"]
    info = subprocess.run(["lipo", "-info", str(dylib)], env=env, capture_output=True,
                          text=True, check=True)
    assert info.stdout.strip() == f"Non-fat file: {dylib} is architecture: x86_64"
    # A non-binary: Apple's wording, which delocate-merge reads as "copy, do not fuse".
    text = tmp_path / "notes.txt"
    text.write_text("hello\n")
    refused = subprocess.run(["lipo", "-create", str(text), str(text), "-output",
                              str(tmp_path / "x")], env=env, capture_output=True, text=True,
                             check=False)
    assert refused.returncode != 0
    assert refused.stderr == \
        f"fatal error: lipo: can't figure out the architecture type of: {text}\n"
    assert subprocess.run(["codesign", "--verify", str(dylib)], env=env,
                          capture_output=True, text=True, check=False).returncode == 0


def test_no_llvm_is_one_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real_glob = macos.glob.glob
    monkeypatch.setattr(macos.glob, "glob",
                        lambda pattern: [] if "llvm" in pattern else real_glob(pattern))
    with pytest.raises(MultibuildError, match="install Debian's llvm-16 or set MB_LLVM_BIN"):
        macos.find_llvm_bin({"PATH": str(tmp_path), "MB_LLVM_BIN": str(tmp_path)})


def test_delocate_repairs_a_cross_compiled_wheel_on_linux(
    cross_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """repair.py picks delocate-wheel --require-archs by the tag; with no otool on PATH it
    runs delocate through the LLVM shims. The library is bundled and the install name of the
    extension rewritten to the bundled copy."""
    llvm = llvm_bin_or_skip()
    wheel, _lib = macos_thin_wheel(cross_dir, "arm64")
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}:{PLAIN_PATH}")
    monkeypatch.setenv("MB_LLVM_BIN", str(llvm))
    monkeypatch.delenv("MB_REPAIR_TOOL", raising=False)
    cmd = repair_command(wheel, tmp_path, "macos")
    assert cmd[-5:] == ["-w", str(tmp_path), "--require-archs", "arm64", str(wheel)]
    repaired = repair_wheel(wheel, tmp_path / "out")
    assert repaired.name == wheel.name
    names = wheel_names(repaired)
    assert {"crossext/_ext.so", "crossext/.dylibs/libhelper.dylib"} <= names
    ext = tmp_path / "_ext.so"
    ext.write_bytes(wheel_member(repaired, "crossext/_ext.so"))
    listing = subprocess.run([str(llvm / "llvm-otool"), "-L", str(ext)], capture_output=True,
                             text=True, check=True).stdout
    assert "@loader_path/.dylibs/libhelper.dylib" in listing
    assert "@rpath/libhelper.dylib" not in listing
    assert macos.wheel_binaries(repaired) == {
        "crossext/_ext.so": ("arm64",), "crossext/.dylibs/libhelper.dylib": ("arm64",)}
    # codesign is a no-op on Linux, yet arm64 binaries stay loadable: zig signs them ad hoc
    # ("linker-signed") and llvm-install-name-tool re-computes that signature after its edit.
    assert adhoc_signature_state(wheel_member(wheel, "crossext/_ext.so")) == "valid"
    for member in ("crossext/_ext.so", "crossext/.dylibs/libhelper.dylib"):
        assert adhoc_signature_state(wheel_member(repaired, member)) == "valid", member


def test_delocate_refuses_a_wheel_whose_tag_lies_about_its_arch(
    cross_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    llvm = llvm_bin_or_skip()
    wheel, _lib = macos_thin_wheel(cross_dir, "arm64")
    liar = tmp_path / wheel.name.replace("arm64", "x86_64")
    liar.write_bytes(wheel.read_bytes())
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}:{PLAIN_PATH}")
    monkeypatch.setenv("MB_LLVM_BIN", str(llvm))
    with pytest.raises(MultibuildError, match=r"repair of .* failed"):
        repair_wheel(liar, tmp_path / "out")
    assert not list((tmp_path / "out").glob("*.whl"))  # nothing half-written


def test_repairwheel_option_repairs_macos_wheels_without_otool(
    cross_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """MB_REPAIR_TOOL=repairwheel: pure Python (no otool, no LLVM); the library is found only
    through DYLD_FALLBACK_LIBRARY_PATH (the extension has no rpath), as build_openblas
    exports it."""
    wheel, lib = macos_thin_wheel(cross_dir, "x86_64", rpath=False)
    monkeypatch.setenv("MB_REPAIR_TOOL", "repairwheel")
    monkeypatch.setenv("DYLD_FALLBACK_LIBRARY_PATH", str(lib))
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}:{PLAIN_PATH}")
    assert choose_tool(wheel) == "repairwheel"
    cmd = repair_command(wheel, tmp_path, "macos")
    assert cmd[-5:] == ["-o", str(tmp_path), "-l", str(lib), str(wheel)]
    repaired = repair_wheel(wheel, tmp_path / "out")
    assert "crossext/.dylibs/libhelper.dylib" in wheel_names(repaired), LLVM_HINT
