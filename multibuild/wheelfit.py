"""Pick the wheels of a wheelhouse that an interpreter can install, by tag matching.

The interpreter's supported tags come from ``packaging.tags.sys_tags()`` evaluated *in that
interpreter* (not in the tool's), so a wheelhouse holding wheels for several Pythons and
platforms yields exactly the ones that fit.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import packaging
from packaging.tags import Tag, parse_tag
from packaging.utils import InvalidWheelFilename, parse_wheel_filename
from packaging.version import Version

from multibuild import MultibuildError

_TAGS_SCRIPT = (
    "import sys; sys.path.append({path!r});"
    "from packaging.tags import sys_tags; print('\\n'.join(str(t) for t in sys_tags()))"
)


def interpreter_tags(python: str | Path) -> list[Tag]:
    """The tags ``python`` supports, most preferred first."""
    packaging_parent = str(Path(packaging.__file__).resolve().parent.parent)
    script = _TAGS_SCRIPT.format(path=packaging_parent)
    try:
        out = subprocess.run(
            [str(python), "-I", "-c", script], capture_output=True, text=True, check=False
        )
    except OSError as exc:
        raise MultibuildError(f"cannot run interpreter {python}: {exc.strerror}") from exc
    if out.returncode != 0:
        last = (out.stderr.strip().splitlines() or ["no output"])[-1]
        raise MultibuildError(f"cannot read the tags of interpreter {python}: {last}")
    tags: list[Tag] = []
    for line in out.stdout.split():
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
        prog="python -m multibuild.wheelfit",
        description="Print the wheels of WHEELHOUSE that PYTHON can install, one per line.",
    )
    parser.add_argument("wheelhouse", type=Path)
    parser.add_argument("--python", default=sys.executable, help="target interpreter")
    args = parser.parse_args(argv)
    try:
        for path in fitting_wheels(args.wheelhouse, args.python):
            print(path)
    except MultibuildError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
