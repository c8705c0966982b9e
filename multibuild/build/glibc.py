"""Which glibc a wheel really needs: the versioned symbols of every ELF file in it.

A manylinux tag is a promise about symbol versions: every ELF file of the wheel (extensions and
the libraries a repair grafted) may reference only the ``GLIBC_``, ``GLIBCXX_``, ``CXXABI_`` and
``GCC_`` versions of the policy (auditwheel's policy data). :func:`wheel_references` reads each
ELF member's dynamic symbol table and version needs (``objdump -T`` shows the same), so a
report can name the highest glibc version needed and, for a wheel above its policy, which
symbol of which file pins it there. Any architecture's ELF is read (pyelftools, as auditwheel
does), so cross-built wheels are analysed on this host too.

  python -m multibuild.build.glibc WHEEL... [--policy manylinux_2_17_x86_64]
"""

from __future__ import annotations

import argparse
import io
import re
import sys
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from multibuild import MultibuildError, UsageError, run_cli

# The namespaces a manylinux policy restricts (auditwheel's "symbol_versions").
POLICY_NAMESPACES = ("GLIBC", "GLIBCXX", "CXXABI", "GCC")
_VERSION = re.compile(r"^([A-Z]+)_([0-9]+(?:\.[0-9]+)*)$")
_POLICY = re.compile(r"^manylinux_(\d+)_(\d+)_([a-z0-9_]+)$")
_LEGACY_POLICIES = {"manylinux1": (2, 5), "manylinux2010": (2, 12), "manylinux2014": (2, 17)}


@dataclass(frozen=True)
class VersionedReference:
    """One undefined symbol bound to a version of a shared library: ``memcpy@GLIBC_2.14``
    needed from ``libc.so.6`` by ``elf`` (the member's path in the wheel)."""

    elf: str
    library: str
    version: str
    symbol: str

    @property
    def namespace(self) -> str:
        match = _VERSION.match(self.version)
        return match.group(1) if match else self.version

    @property
    def number(self) -> tuple[int, ...] | None:
        match = _VERSION.match(self.version)
        return tuple(int(p) for p in match.group(2).split(".")) if match else None

    def describe(self) -> str:
        return f"{self.symbol}@{self.version} ({self.library}) in {self.elf}"


def version_text(number: tuple[int, ...] | None) -> str | None:
    return None if number is None else ".".join(map(str, number))


def elf_references(data: bytes, name: str) -> list[VersionedReference]:
    """The versioned undefined symbols of one ELF file (its bytes; ``name`` for messages)."""
    from elftools.common.exceptions import ELFError
    from elftools.elf.elffile import ELFFile
    from elftools.elf.gnuversions import GNUVerNeedSection, GNUVerSymSection
    from elftools.elf.sections import SymbolTableSection

    try:
        elf = ELFFile(io.BytesIO(data))
        needs: dict[int, tuple[str, str]] = {}
        versym: GNUVerSymSection | None = None
        for section in elf.iter_sections():
            if isinstance(section, GNUVerNeedSection):
                for verneed, auxiliaries in section.iter_versions():
                    for aux in auxiliaries:
                        needs[aux["vna_other"]] = (str(verneed.name), str(aux.name))
            elif isinstance(section, GNUVerSymSection):
                versym = section
        dynsym = elf.get_section_by_name(".dynsym")
        if not isinstance(dynsym, SymbolTableSection) or versym is None or not needs:
            return []
        found = []
        for index, symbol in enumerate(dynsym.iter_symbols()):
            if symbol["st_shndx"] != "SHN_UNDEF" or not symbol.name:
                continue
            ndx = versym.get_symbol(index)["ndx"]
            ndx = ndx if isinstance(ndx, int) else 0  # VER_NDX_LOCAL / GLOBAL: unversioned
            if ndx & 0x7FFF in needs:
                library, version = needs[ndx & 0x7FFF]
                found.append(VersionedReference(name, library, version, symbol.name))
        return found
    except (ELFError, ValueError, KeyError) as exc:
        raise MultibuildError(f"{name}: not a readable ELF file ({exc})") from None


def is_elf(data: bytes) -> bool:
    return data[:4] == b"\x7fELF"


def wheel_references(wheel: Path) -> list[VersionedReference]:
    """The versioned undefined symbols of every ELF member of ``wheel``."""
    found: list[VersionedReference] = []
    try:
        with zipfile.ZipFile(wheel) as archive:
            for info in archive.infolist():
                if info.is_dir() or info.file_size < 64:
                    continue
                with archive.open(info) as member:
                    if not is_elf(member.read(4)):
                        continue
                found += elf_references(archive.read(info), info.filename)
    except (OSError, zipfile.BadZipFile) as exc:
        raise MultibuildError(f"{wheel.name}: cannot read the wheel ({exc})") from None
    return found


def highest(references: Iterable[VersionedReference], namespace: str = "GLIBC"
            ) -> tuple[int, ...] | None:
    """The highest version of ``namespace`` (``GLIBC``, ``GLIBCXX``, ...) referenced."""
    numbers = [r.number for r in references if r.namespace == namespace and r.number]
    return max(numbers) if numbers else None


def policy_glibc(policy: str) -> tuple[int, int]:
    """The glibc of a manylinux platform tag: ``manylinux_2_17_x86_64`` or
    ``manylinux2014_x86_64`` -> (2, 17)."""
    match = _POLICY.match(policy)
    if match:
        return int(match.group(1)), int(match.group(2))
    legacy, _, _arch = policy.partition("_")
    if legacy in _LEGACY_POLICIES:
        return _LEGACY_POLICIES[legacy]
    raise UsageError(f"{policy!r} is not a manylinux platform tag (e.g. manylinux_2_17_x86_64)")


def _policy_arch(policy: str) -> str:
    match = _POLICY.match(policy)
    if match:
        return match.group(3)
    return policy.partition("_")[2]


def allowed_versions(policy: str) -> dict[str, set[str]]:
    """The symbol versions auditwheel's policy ``policy`` allows, per namespace."""
    from auditwheel.architecture import Architecture
    from auditwheel.libc import Libc
    from auditwheel.policy import WheelPolicies

    arch = _policy_arch(policy)
    try:
        policies = WheelPolicies(libc=Libc.GLIBC, arch=Architecture(arch))
    except ValueError:
        raise UsageError(f"{policy}: auditwheel knows no architecture {arch!r}") from None
    for entry in policies:
        if policy == entry.name or policy in entry.aliases:
            return {ns: set(versions) for ns, versions in entry.symbol_versions.items()}
    known = ", ".join(sorted((p.name for p in policies if p.name.startswith("manylinux")),
                             key=lambda name: policy_glibc(name)))
    raise UsageError(f"auditwheel knows no policy {policy} (known: {known})")


def above_policy(references: Iterable[VersionedReference], policy: str
                 ) -> list[VersionedReference]:
    """The references ``policy`` does not allow, as auditwheel judges them: a version of a
    namespace the policy restricts (GLIBC, GLIBCXX, CXXABI, GCC, ZLIB, ...) that is not in its
    list (``GLIBC_PRIVATE`` included). A library's own versions (GFORTRAN_8) are not the
    policy's business."""
    allowed = allowed_versions(policy)
    outside = []
    for ref in references:
        if ref.namespace in allowed:
            if ref.version.split("_", 1)[1] not in allowed[ref.namespace]:
                outside.append(ref)
        elif ref.version.startswith("GLIBC_"):
            outside.append(ref)  # GLIBC_PRIVATE: never allowed
    return outside


def _worst_first(references: Iterable[VersionedReference]) -> list[VersionedReference]:
    """One reference per (elf, version), highest version first."""
    seen: dict[tuple[str, str], VersionedReference] = {}
    for ref in references:
        seen.setdefault((ref.elf, ref.version), ref)
    return sorted(seen.values(), key=lambda r: (r.number or (999,), r.elf), reverse=True)


def analyse(wheel: Path, policy: str | None = None) -> dict[str, Any]:
    """The report's record of ``wheel``: the highest version needed per namespace
    (``highest_glibc`` first of all) and, against ``policy``, whether it fits and which
    references break it (one per ELF file and version, highest first)."""
    references = wheel_references(wheel)
    record: dict[str, Any] = {
        "highest_glibc": version_text(highest(references)),
        "highest": {ns: version_text(highest(references, ns)) for ns in POLICY_NAMESPACES
                    if highest(references, ns)},
        "elf_files": len({r.elf for r in references}),
        "policy": policy,
        "policy_met": None,
        "above_policy": [],
    }
    if policy:
        outside = _worst_first(above_policy(references, policy))
        record["policy_met"] = not outside
        record["above_policy"] = [
            {"symbol": r.symbol, "version": r.version, "library": r.library, "elf": r.elf}
            for r in outside]
    return record


# --------------------------------------------------------------------------- who can install it

# The glibc of each release of the long-lived distributions (what pip compares a manylinux tag
# with). Per family, oldest release first.
DISTRIBUTIONS: tuple[tuple[str, tuple[tuple[str, tuple[int, int]], ...]], ...] = (
    ("RHEL", (("CentOS/RHEL 7", (2, 17)), ("RHEL 8 (Alma, Rocky)", (2, 28)),
              ("RHEL 9", (2, 34)), ("RHEL 10", (2, 39)))),
    ("Debian", (("Debian 8", (2, 19)), ("Debian 9", (2, 24)), ("Debian 10", (2, 28)),
                ("Debian 11", (2, 31)), ("Debian 12", (2, 36)), ("Debian 13", (2, 41)))),
    ("Ubuntu", (("Ubuntu 14.04", (2, 19)), ("Ubuntu 16.04", (2, 23)), ("Ubuntu 18.04", (2, 27)),
                ("Ubuntu 20.04", (2, 31)), ("Ubuntu 22.04", (2, 35)), ("Ubuntu 24.04", (2, 39)))),
    ("Amazon Linux", (("Amazon Linux 2", (2, 26)), ("Amazon Linux 2023", (2, 34)))),
)


def tag_glibc(platform_tags: Iterable[str]) -> tuple[int, int] | None:
    """The oldest glibc a wheel with these platform tags installs on (pip takes the most
    compatible tag); None for a wheel no glibc tag covers (linux_x86_64, macOS, pure)."""
    found = []
    for tag in platform_tags:
        try:
            found.append(policy_glibc(tag))
        except UsageError:
            continue
    return min(found) if found else None


def installs_on(glibc: tuple[int, int] | None) -> list[str]:
    """The oldest release of each distribution family whose glibc is at least ``glibc``:
    ``["CentOS/RHEL 7+", "Debian 8+", ...]`` (empty when no release qualifies or no glibc)."""
    if glibc is None:
        return []
    oldest = []
    for _family, releases in DISTRIBUTIONS:
        fit = next((name for name, version in releases if version >= glibc), None)
        if fit:
            oldest.append(f"{fit}+")
    return oldest


_ANALYSED: dict[tuple[str, str | None], dict[str, Any]] = {}


def portability(wheel: Path, platform_tags: Sequence[str], policy: str | None,
                sha256: str = "") -> dict[str, Any]:
    """What the report says about a Linux wheel: the glibc its tag promises and the oldest
    distributions that honour it (``installs_on``), and what its ELF files really need against
    the toolchain's ``policy`` (``glibc``: :func:`analyse`; null when the file is gone). Read
    once per content (``sha256``, else the path): the summary after the report, whose
    wheelhouse has moved by then, gets the report's answer."""
    glibc = tag_glibc(platform_tags)
    key = (sha256 or str(wheel), policy)
    if key not in _ANALYSED and wheel.is_file():
        _ANALYSED[key] = analyse(wheel, policy)
    return {"tag_glibc": None if glibc is None else f"{glibc[0]}.{glibc[1]}",
            "installs_on": installs_on(glibc), "glibc": _ANALYSED.get(key)}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m multibuild.build.glibc",
        description="The highest glibc (and GCC runtime) symbol versions the ELF files of each "
                    "wheel need; with --policy, the references that policy does not allow.")
    parser.add_argument("wheels", nargs="+", type=Path, metavar="WHEEL")
    parser.add_argument("--policy", help="a manylinux platform tag, e.g. manylinux_2_17_x86_64")
    args = parser.parse_args(argv)

    def body() -> int:
        status = 0
        if args.policy:
            policy_glibc(args.policy)
        for wheel in args.wheels:
            if not wheel.is_file():
                raise UsageError(f"{wheel}: no such wheel")
            record = analyse(wheel, args.policy)
            needs = ", ".join(f"{ns}_{v}" for ns, v in record["highest"].items()) or "no glibc"
            verdict = ""
            if args.policy:
                verdict = (f"; fits {args.policy}" if record["policy_met"]
                           else f"; ABOVE {args.policy}")
            print(f"{wheel.name}: needs {needs}{verdict}")
            for ref in record["above_policy"]:
                print(f"  {ref['symbol']}@{ref['version']} ({ref['library']}) in {ref['elf']}")
            if record["policy_met"] is False:
                status = 1
        return status

    return run_cli(body)


if __name__ == "__main__":
    sys.exit(main())
