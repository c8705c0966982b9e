"""universal2 from Linux: two thin macOS wheels cross-compiled with ziglang (x86_64, arm64),
each repaired with delocate, fused by delocate-merge (multibuild.build.macos.fuse and the shell's
fuse_macos_universal2 / build_universal2_wheel) into one universal2 wheel whose every binary
holds both architectures. delocate needs lipo/otool: the LLVM shims stand in on Linux."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from crossbuild import PY_TAG, llvm_bin_or_skip, macos_thin_wheel, wheel_names

from multibuild import MultibuildError
from multibuild.build import macos
from multibuild.build.repair import repair_wheel

REPO_ROOT = Path(__file__).resolve().parents[2]
PLAIN_PATH = "/usr/bin:/bin"
THIN = {"crossext/__init__.py", "crossext/_ext.so", "crossext/.dylibs/libhelper.dylib"}


@pytest.fixture
def cross_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.getbasetemp() / "cross"


@pytest.fixture
def llvm(monkeypatch: pytest.MonkeyPatch) -> Path:
    found = llvm_bin_or_skip()
    monkeypatch.setenv("MB_LLVM_BIN", str(found))
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}:{PLAIN_PATH}")
    return found


@pytest.fixture
def repaired_pair(cross_dir: Path, tmp_path: Path, llvm: Path) -> tuple[Path, Path]:
    out = tmp_path / "thin"
    x86 = repair_wheel(macos_thin_wheel(cross_dir, "x86_64")[0], out / "x86_64")
    arm = repair_wheel(macos_thin_wheel(cross_dir, "arm64")[0], out / "arm64")
    return x86, arm


def test_two_thin_wheels_fuse_into_a_valid_universal2_wheel(
    repaired_pair: tuple[Path, Path], tmp_path: Path, llvm: Path
) -> None:
    x86, arm = repaired_pair
    assert wheel_names(x86) - {n for n in wheel_names(x86) if ".dist-info/" in n} == THIN
    fused = macos.fuse(x86, arm, tmp_path / "fused")
    assert fused.name == f"crossext-1.0-{PY_TAG}-{PY_TAG}-macosx_11_0_universal2.whl"
    names = wheel_names(fused)
    assert {n for n in names if ".dist-info/" not in n} == THIN
    assert {n.split("/", 1)[1] for n in names if ".dist-info/" in n} == \
        {"METADATA", "WHEEL", "RECORD"}
    with subprocess.Popen(["unzip", "-p", str(fused), "crossext-1.0.dist-info/WHEEL"],
                          stdout=subprocess.PIPE, text=True) as proc:
        wheel_file = proc.communicate()[0]
    assert f"Tag: {PY_TAG}-{PY_TAG}-macosx_11_0_universal2" in wheel_file
    # Both architectures in every binary: our header reader, and llvm-lipo agrees.
    assert macos.wheel_binaries(fused) == {
        "crossext/_ext.so": ("x86_64", "arm64"),
        "crossext/.dylibs/libhelper.dylib": ("x86_64", "arm64"),
    }
    unpacked = tmp_path / "unpacked"
    subprocess.run(["unzip", "-q", str(fused), "-d", str(unpacked)], check=True)
    for member in ("crossext/_ext.so", "crossext/.dylibs/libhelper.dylib"):
        info = subprocess.run([str(llvm / "llvm-lipo"), "-info", str(unpacked / member)],
                              capture_output=True, text=True, check=True).stdout
        assert info.split(" are: ")[1].split() == ["x86_64", "arm64"]
    # The command line the shell uses reads the same headers; a non-Mach-O file is an error.
    ext, init = unpacked / "crossext/_ext.so", unpacked / "crossext/__init__.py"
    cli = subprocess.run([sys.executable, "-m", "multibuild.build.macos", "archs", str(ext),
                          str(init)],
                         cwd=REPO_ROOT, capture_output=True, text=True, check=False)
    assert cli.returncode == 1
    assert cli.stdout == f"{ext}\tx86_64 arm64\n"
    assert cli.stderr == f"error: {init} is not a Mach-O file\n"
    # Nothing left behind but the fused wheel.
    assert [p.name for p in (tmp_path / "fused").iterdir()] == [fused.name]


def test_fuse_refuses_mismatched_wheels(cross_dir: Path, tmp_path: Path) -> None:
    """Checked before any tool runs (no LLVM needed)."""
    x86, arm = (macos_thin_wheel(cross_dir, arch)[0] for arch in ("x86_64", "arm64"))
    with pytest.raises(MultibuildError, match="need one x86_64 and one arm64 wheel"):
        macos.fuse(x86, x86, tmp_path)
    other, _lib = macos_thin_wheel(cross_dir, "arm64", version="2.0")
    with pytest.raises(MultibuildError, match="different project or version"):
        macos.fuse(x86, other, tmp_path)
    with pytest.raises(MultibuildError, match="not a thin x86_64 or arm64 macOS wheel"):
        macos.fuse(x86, Path(arm.name.replace("arm64", "universal2")), tmp_path)
    assert not list(tmp_path.glob("*.whl"))


def test_build_universal2_wheel_builds_each_arch_then_fuses(
    cross_dir: Path, tmp_path: Path, llvm: Path
) -> None:
    """The shell path a universal2 CI job takes: build_wheel REPO_DIR universal2 runs the
    thin build once per architecture with PLAT set to it (here a stand-in builder hands out
    the cross-compiled wheels), repairs each, and fuses them into WHEEL_SDIR."""
    prebuilt = {arch: macos_thin_wheel(cross_dir, arch)[0] for arch in ("x86_64", "arm64")}
    config = tmp_path / "config.sh"
    config.write_text(f"""
function build_pip_wheel {{
    # Stand-in for pip wheel on a Mac: the library's wrapper around the build, as
    # build_pip_wheel has it, handing out the cross-compiled wheel of PLAT, then the repair.
    wrap_wheel_builder stand_in_build
}}
function stand_in_build {{
    # Runs with the compiler environment of PLAT.
    echo "thin build for PLAT=$PLAT ARCHFLAGS=$ARCHFLAGS target=$MACOSX_DEPLOYMENT_TARGET"
    mkdir -p "$WHEEL_SDIR"
    case "$PLAT" in
        x86_64) cp {prebuilt['x86_64']} "$WHEEL_SDIR" ;;
        arm64) cp {prebuilt['arm64']} "$WHEEL_SDIR" ;;
    esac
    repair_wheelhouse "$WHEEL_SDIR"
}}
function run_tests {{
    # not run here
    true
}}
""")
    wheelhouse = tmp_path / "wheelhouse"
    repo = tmp_path / "repo"
    repo.mkdir()
    env = {
        "PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp"),
        "MB_TOOL_PYTHON": sys.executable, "MB_LLVM_BIN": str(llvm),
        "MB_HOST_SYSTEM": "Darwin", "CONFIG_PATH": str(config),
        "WHEEL_SDIR": str(wheelhouse), "PLAT": "universal2",
        # The cross-compiled binaries need macOS 11 (delocate checks the tag against them).
        "MACOSX_DEPLOYMENT_TARGET": "11.0",
    }
    env["PATH"] = f"{Path(sys.executable).parent}:{PLAIN_PATH}"
    script = f'source multibuild/travis_steps.sh && build_wheel {repo} "$PLAT"'
    done = subprocess.run(["bash", "-c", script], cwd=REPO_ROOT, env=env, capture_output=True,
                          text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "thin build for PLAT=x86_64 ARCHFLAGS=-arch x86_64 target=11.0" in done.stdout
    assert "thin build for PLAT=arm64 ARCHFLAGS=-arch arm64 target=11.0" in done.stdout
    assert [p.name for p in wheelhouse.iterdir()] == \
        [f"crossext-1.0-{PY_TAG}-{PY_TAG}-macosx_11_0_universal2.whl"]
    fused = next(wheelhouse.iterdir())
    assert set(macos.wheel_binaries(fused).values()) == {("x86_64", "arm64")}


def test_fuse_without_a_twin_is_an_error(cross_dir: Path, tmp_path: Path) -> None:
    x86_dir, arm_dir = tmp_path / "x86", tmp_path / "arm"
    x86_dir.mkdir()
    arm_dir.mkdir()
    wheel, _lib = macos_thin_wheel(cross_dir, "x86_64")
    (x86_dir / wheel.name).write_bytes(wheel.read_bytes())
    env = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp"),
           "MB_TOOL_PYTHON": sys.executable}
    done = subprocess.run(
        ["bash", "-c", f"source multibuild/osx_utils.sh; "
                       f"fuse_macos_universal2 {x86_dir} {arm_dir} {tmp_path / 'out'}"],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, check=False)
    assert done.returncode == 1
    assert done.stderr.strip() == (f"error: fuse_macos_universal2: no arm64 wheel for "
                                   f"crossext-1.0-{PY_TAG}-{PY_TAG} in {arm_dir}")
