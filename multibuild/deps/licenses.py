"""The licences of what a binary distribution bundles: appended before the build, checked after.

Before the build (``pre_build``), the project's licence file gains the bundled-software text:
the OpenBLAS and GCC runtime licences from the scipy-openblas wheel's own licence file (kept in
the OpenBLAS cache prefix as ``LICENSE.txt``), else the project's ``tools/wheels/LICENSE_<os>.txt``,
plus the project's ``LICENSES_bundled.txt`` where it has one:

  python -m multibuild.deps.licenses append REPO_DIR --name NumPy --openblas "$OPENBLAS"

After the install, in the test environment, with only the standard library (like
``--check_version``):

  python tools/check_license.py numpy --bundles OpenBLAS
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import sys
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path

from multibuild import MultibuildError, run_cli

# The heading a binary distribution's licence text carries above its bundled components.
_BUNDLES_HEADING = re.compile(
    r"This binary distribution of \w+ also bundles the following software"
)
# The same heading as projects and artifacts write it (scipy: "can also bundle ...").
_ANY_HEADING = re.compile(
    r"^This binary distribution of \S+ (?:can )?also bundles? the following software[^\n]*\n"
    r"(?:\(depending on the build\):\n)?", re.MULTILINE)
# Where an OpenBLAS cache prefix keeps the licence file of the artifact it came from.
ARTIFACT_LICENCE = "LICENSE.txt"
_SEPARATOR = "\n----\n\n"


def declared_licence(metadata_text: str) -> str | None:
    """The licence a distribution's METADATA declares, short: License-Expression, else the
    first line of License (some put the whole text there), else the licence classifiers."""
    from email.parser import HeaderParser

    meta = HeaderParser().parsestr(metadata_text)
    if meta.get("License-Expression"):
        return str(meta["License-Expression"]).strip()
    first = str(meta.get("License") or "").strip().splitlines()
    if first and first[0].strip() and first[0].strip().upper() != "UNKNOWN":
        return short_licence(first[0])
    classifiers = [c.rsplit(" :: ", 1)[-1] for c in meta.get_all("Classifier") or []
                   if c.startswith("License ::")]
    return " AND ".join(classifiers) or None


def short_licence(value: str | None) -> str | None:
    """A declared licence's first line (a name or an expression), at most 200 characters."""
    lines = (value or "").strip().splitlines()
    return lines[0].strip()[:200] or None if lines else None


def license_texts(distribution: str) -> dict[str, str]:
    """{file in the dist-info: text} of every licence file ``distribution`` installed."""
    try:
        dist = metadata.distribution(distribution)
    except metadata.PackageNotFoundError:
        raise MultibuildError(f"distribution {distribution!r} is not installed") from None
    texts = {}
    for file in dist.files or []:
        parts = file.parts
        in_dist_info = len(parts) >= 2 and parts[0].endswith(".dist-info")
        if in_dist_info and ("licenses" in parts[1:-1] or "LICEN" in parts[-1].upper()):
            texts[str(file)] = file.read_text(encoding="utf-8")
    if not texts:
        raise MultibuildError(f"{distribution}: no licence file in its .dist-info")
    return texts


def check_bundled(distribution: str, bundles: Sequence[str]) -> str:
    """Assert a licence file of ``distribution`` has the bundled-software section naming each
    of ``bundles``; return the file that does."""
    texts = license_texts(distribution)
    for name, text in texts.items():
        if "Copyright" in text and _BUNDLES_HEADING.search(text):
            missing = [b for b in bundles if not re.search(rf"^Name:\s*{re.escape(b)}\b", text,
                                                           re.MULTILINE)]
            if missing:
                raise MultibuildError(
                    f"{distribution}: {name} does not name bundled {', '.join(missing)}"
                )
            return name
    raise MultibuildError(
        f"{distribution}: none of {', '.join(texts)} has the bundled-software licence text "
        "(was the wheel built with pre_build's append_bundled_licenses?)"
    )


# --------------------------------------------------------------------------- before the build


def has_artifact_licence(prefix: Path) -> bool:
    return (prefix / ARTIFACT_LICENCE).is_file()


def copy_artifact_licence(tree: Path, prefix: Path) -> Path | None:
    """Keep the licence file of an unpacked OpenBLAS artifact (a scipy-openblas wheel's
    ``*.dist-info/licenses/LICENSE*``) as ``prefix/LICENSE.txt``; None when it has none."""
    for root in (tree, tree.parent):
        found = sorted(root.glob("*.dist-info/licenses/LICEN[CS]E*"))
        found += sorted(root.glob("*.dist-info/LICEN[CS]E*"))
        for candidate in found:
            if candidate.is_file():
                target = prefix / ARTIFACT_LICENCE
                partial = prefix / f".{ARTIFACT_LICENCE}.{os.getpid()}"
                shutil.copyfile(candidate, partial)
                os.replace(partial, target)  # the prefix may be in use by a parallel build
                return target
    return None


def bundled_section(text: str, project: str) -> str:
    """The bundled-software part of a licence text, headed for ``project``: from the
    "This binary distribution of X also bundles" line on, else the whole text under that
    heading."""
    heading = f"This binary distribution of {project} also bundles the following software:\n"
    match = _ANY_HEADING.search(text)
    body = text[match.end():] if match else "\n" + text
    return heading + body.rstrip("\n") + "\n"


def _os_file() -> str:
    if sys.platform == "darwin":
        return "LICENSE_osx.txt"
    if sys.platform.startswith(("win", "cygwin", "msys")):
        return "LICENSE_win32.txt"
    return "LICENSE_linux.txt"


def licence_file(project_dir: Path) -> Path:
    for name in ("LICENSE.txt", "LICENSE", "LICENSE.rst", "COPYING"):
        if (project_dir / name).is_file():
            return project_dir / name
    raise MultibuildError(f"{project_dir}: no LICENSE.txt (or LICENSE) to add bundled licences to")


def append_bundled(project_dir: Path, project: str, openblas: Path | None) -> str:
    """Append the licences of what the binary bundles to the project's licence file, once
    (``clean_code`` restores the file for the next build); return what was done."""
    target = licence_file(project_dir)
    text = target.read_text(encoding="utf-8")
    if _BUNDLES_HEADING.search(text):
        return f"{target}: bundled licences already appended"
    artifact = openblas / ARTIFACT_LICENCE if openblas else None
    project_os_file = project_dir / "tools" / "wheels" / _os_file()
    if artifact is not None and artifact.is_file():
        runtime, origin = artifact.read_text(encoding="utf-8"), artifact
    elif project_os_file.is_file():
        runtime, origin = project_os_file.read_text(encoding="utf-8"), project_os_file
    else:
        where = f"{artifact} nor " if artifact is not None else ""
        raise MultibuildError(
            f"no licence text for the bundled OpenBLAS: neither {where}{project_os_file} exists"
        )
    parts = [bundled_section(runtime, project)]
    source_bundled = project_dir / "LICENSES_bundled.txt"
    if source_bundled.is_file():
        parts.append(source_bundled.read_text(encoding="utf-8").strip("\n") + "\n")
    with target.open("a", encoding="utf-8") as handle:
        handle.write(_SEPARATOR + _SEPARATOR.join(parts))
    used = [str(origin)] + ([str(source_bundled)] if source_bundled.is_file() else [])
    return f"{target}: appended bundled licences from {', '.join(used)}"


def append_main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m multibuild.deps.licenses append",
        description="Append the licences of what a binary wheel bundles (OpenBLAS, the GCC "
        "runtime) to the project's licence file, once.")
    parser.add_argument("project_dir", type=Path)
    parser.add_argument("--name", required=True, help="the project's name in the heading, "
                        "e.g. NumPy, SciPy")
    parser.add_argument("--openblas", default="",
                        help="the OpenBLAS prefix build_openblas exported (OPENBLAS)")
    args = parser.parse_args(argv)
    try:
        openblas = Path(args.openblas) if args.openblas else None
        print(append_bundled(args.project_dir, args.name, openblas))
    except (MultibuildError, OSError) as exc:
        print(f"error: append_bundled_licenses: {exc}", file=sys.stderr)
        return 1
    return 0


# --------------------------------------------------------------------------- after install


def main(argv: Sequence[str] | None = None, prog: str | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog=prog, description="Check an installed distribution's licence text names the "
        "software its binary wheel bundles.")
    parser.add_argument("distribution", nargs="?", default="numpy")
    parser.add_argument("--bundles", action="append", default=[], metavar="NAME",
                        help="a bundled component whose licence must be named (repeatable)")
    args = parser.parse_args(argv)

    def body() -> int:
        found = check_bundled(args.distribution, args.bundles)
        print(f"{args.distribution}: bundled licences in {found}")
        return 0

    return run_cli(body, 1)


if __name__ == "__main__":
    if sys.argv[1:2] == ["append"]:
        sys.exit(append_main(sys.argv[2:]))
    sys.exit(main())
