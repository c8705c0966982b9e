"""Pick the wheels of a wheelhouse that an interpreter can install, by tag matching.

The interpreter's supported tags come from ``packaging.tags.sys_tags()`` evaluated *in that
interpreter* (not in the tool's), so a wheelhouse holding wheels for several Pythons and
platforms yields exactly the ones that fit.
"""

from __future__ import annotations

import argparse
import json
import struct
import subprocess
import sys
import sysconfig
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import packaging
from packaging.tags import Tag, parse_tag
from packaging.utils import InvalidWheelFilename, parse_wheel_filename
from packaging.version import Version

from multibuild import MultibuildError, run_cli

_TAGS_SCRIPT = (
    "import sys; sys.path.append({path!r});"
    "from packaging.tags import sys_tags; print('\\n'.join(str(t) for t in sys_tags()))"
)
# What the tags of an interpreter depend on, read with the standard library of any Python 3.
_PROBE_SCRIPT = (
    "import json, struct, sys, sysconfig; print(json.dumps({"
    "'version': list(sys.version_info[:2]), 'implementation': sys.implementation.name,"
    "'soabi': sysconfig.get_config_var('SOABI') or '', 'platform': sysconfig.get_platform(),"
    "'bits': struct.calcsize('P') * 8}))"
)


def _run(python: str | Path, script: str) -> str:
    try:
        out = subprocess.run(
            [str(python), "-I", "-c", script], capture_output=True, text=True, check=False
        )
    except OSError as exc:
        raise MultibuildError(f"cannot run interpreter {python}: {exc.strerror}") from exc
    if out.returncode != 0:
        last = (out.stderr.strip().splitlines() or ["no output"])[-1]
        raise MultibuildError(f"cannot read the tags of interpreter {python}: {last}")
    return out.stdout


def _packaging_supports(version: tuple[int, int]) -> bool:
    """Whether the tool's ``packaging`` runs under Python ``version`` (its Requires-Python)."""
    from importlib.metadata import metadata

    from packaging.specifiers import SpecifierSet

    requires = metadata("packaging")["Requires-Python"] or ""
    return SpecifierSet(requires).contains(f"{version[0]}.{version[1]}")


def _older_cpython_tags(python: str | Path, probe: dict[str, Any]) -> list[Tag]:
    """The tags of a CPython older than the tool's ``packaging`` supports (3.6-3.8), computed
    here from what the interpreter reports: its ABI from SOABI (``cpython-37m-...`` ->
    ``cp37m``) and, as it runs on this machine with this machine's C library, this
    interpreter's platform tags when both report the same platform and pointer size."""
    from packaging.tags import compatible_tags, cpython_tags, platform_tags

    major, minor = (int(v) for v in probe["version"])
    if probe.get("implementation") != "cpython":
        raise MultibuildError(f"cannot read the tags of interpreter {python}: "
                              f"{probe.get('implementation')} is not CPython")
    parts = str(probe.get("soabi", "")).split("-")
    abi = f"cp{parts[1]}" if len(parts) > 1 and parts[0] == "cpython" else f"cp{major}{minor}"
    here = (sysconfig.get_platform(), struct.calcsize("P") * 8)
    if (probe.get("platform"), probe.get("bits")) != here:
        raise MultibuildError(
            f"cannot read the tags of interpreter {python}: Python {major}.{minor} is older "
            f"than the tool's packaging supports and runs on {probe.get('platform')} "
            f"({probe.get('bits')}-bit), not this tool's {here[0]} ({here[1]}-bit)")
    platforms = list(platform_tags())
    return [*cpython_tags((major, minor), [abi], platforms),
            *compatible_tags((major, minor), f"cp{major}{minor}", platforms)]


def interpreter_tags(python: str | Path) -> list[Tag]:
    """The tags ``python`` supports, most preferred first: ``packaging.tags.sys_tags()`` run
    by that interpreter, or, for one older than ``packaging`` supports, computed here."""
    probe = json.loads(_run(python, _PROBE_SCRIPT))
    version = (int(probe["version"][0]), int(probe["version"][1]))
    if not _packaging_supports(version):
        return _older_cpython_tags(python, probe)
    packaging_parent = str(Path(packaging.__file__).resolve().parent.parent)
    tags: list[Tag] = []
    for line in _run(python, _TAGS_SCRIPT.format(path=packaging_parent)).split():
        tags.extend(parse_tag(line))
    return tags


@dataclass(frozen=True)
class WheelFile:
    path: Path
    name: str
    version: Version
    tags: frozenset[Tag]


def read_wheelhouse(wheelhouse: Path) -> list[WheelFile]:
    wheels = []
    for path in sorted(wheelhouse.glob("*.whl")):
        try:
            name, version, _build, tags = parse_wheel_filename(path.name)
        except InvalidWheelFilename as exc:
            raise MultibuildError(f"bad wheel file name {path.name}: {exc}") from exc
        wheels.append(WheelFile(path, str(name), version, tags))
    return wheels


def select(wheels: list[WheelFile], tags: list[Tag]) -> list[WheelFile]:
    """For each project, the newest fitting wheel, the best-ranked tag among equals."""
    rank = {tag: index for index, tag in enumerate(tags)}
    best: dict[str, tuple[Version, int, WheelFile]] = {}
    for wheel in wheels:
        ranks = [rank[t] for t in wheel.tags if t in rank]
        if not ranks:
            continue
        key = (wheel.version, -min(ranks))
        current = best.get(wheel.name)
        if current is None or key > (current[0], current[1]):
            best[wheel.name] = (wheel.version, -min(ranks), wheel)
    return [entry[2] for _, entry in sorted(best.items())]


def fitting_wheels(wheelhouse: Path, python: str | Path) -> list[Path]:
    """Paths of the wheels to install for ``python``; an error when none fits."""
    if not wheelhouse.is_dir():
        raise MultibuildError(f"wheelhouse {wheelhouse} does not exist")
    wheels = read_wheelhouse(wheelhouse)
    tags = interpreter_tags(python)
    chosen = select(wheels, tags)
    if not chosen:
        names = ", ".join(w.path.name for w in wheels) or "none"
        shown = ", ".join(str(t) for t in tags[:6])
        raise MultibuildError(
            f"no wheel in {wheelhouse} fits {python}; wheels: {names}; "
            f"interpreter tags: {shown}, ... ({len(tags)} in all)"
        )
    return [w.path for w in chosen]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m multibuild.build.wheelfit",
        description="Print the wheels of WHEELHOUSE that PYTHON can install, one per line.",
    )
    parser.add_argument("wheelhouse", type=Path)
    parser.add_argument("--python", default=sys.executable, help="target interpreter")
    args = parser.parse_args(argv)

    def body() -> int:
        for path in fitting_wheels(args.wheelhouse, args.python):
            print(path)
        return 0

    return run_cli(body, 1)


if __name__ == "__main__":
    sys.exit(main())
