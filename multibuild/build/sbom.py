"""What a repaired wheel bundles, said inside it: a PEP 770 CycloneDX SBOM.

The repair tools copy libraries into the wheel (auditwheel into ``<pkg>.libs/``, delocate into
``<pkg>/.dylibs/``, delvewheel into ``<pkg>.libs/``). For each copied file this module finds
the file it was copied from and what provided that file:

* an OpenBLAS prefix of ``multibuild.deps.openblas`` (its ``openblas-origin.json``): the
  scipy-openblas wheel's name, version, sha256 and licence;
* an installed Python distribution (a ``*.dist-info/RECORD`` listing the file): its name,
  version and licence;
* an OS package (``whichprovides``: dpkg, rpm, apk), e.g. Debian's ``libgfortran5`` for the
  GCC runtime, with the licence of the GCC runtime libraries (``RUNTIME_LICENCES``);
* else the file alone (name and hash).

auditwheel names each copy ``<stem>-<first 8 hex of the source's sha256>.<ext>``: the source is
the file of that name and hash in the library search path (``LD_LIBRARY_PATH``, the dynamic
linker's cache, the system's library directories); other tools keep the name.

The SBOM (``<name>-<version>.dist-info/sboms/multibuild.cdx.json``, CycloneDX 1.6, written
with cyclonedx-python-lib) names the project at its commit (the ref, the repository, and for an
sdist stand-in the sdist's URL and sha256) and every bundled library; auditwheel's own
``auditwheel.cdx.json`` stays beside it. Its bytes depend only on its inputs: the serial
number is derived from them and the timestamp is ``SOURCE_DATE_EPOCH``.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import uuid
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.parser import HeaderParser
from pathlib import Path
from typing import Any

from packaging.utils import canonicalize_name, parse_wheel_filename

from multibuild.deps.licenses import declared_licence, short_licence

SBOM_FILE = "multibuild.cdx.json"
# Property names of this library in the SBOM.
_NS = "multibuild"
# Directories the repair tools put bundled libraries in (see multibuild.build.wheelinfo).
_LIB_DIR_SUFFIXES = (".libs", ".dylibs")
# auditwheel's name of a grafted library: <stem>-<8 hex of its source's sha256>.<ext>.
_GRAFTED = re.compile(r"^(?P<stem>[^.]+?)-(?P<hash>[0-9a-f]{8})\.(?P<ext>.+)$")
# The GCC runtime libraries: their licence (policy as data), by file stem.
RUNTIME_LICENCES: dict[str, str] = {
    "libgfortran": "GPL-3.0-or-later WITH GCC-exception-3.1",
    "libgcc_s": "GPL-3.0-or-later WITH GCC-exception-3.1",
    "libstdc++": "GPL-3.0-or-later WITH GCC-exception-3.1",
    "libgomp": "GPL-3.0-or-later WITH GCC-exception-3.1",
    "libatomic": "GPL-3.0-or-later WITH GCC-exception-3.1",
    "libquadmath": "LGPL-2.1-or-later",
}
_SYSTEM_LIB_DIRS = ("/lib64", "/usr/lib64", "/lib", "/usr/lib", "/usr/local/lib")


@dataclass(frozen=True)
class Bundled:
    """One library a repair tool copied into the wheel, and what provided it."""

    member: str  # its path in the wheel
    sha256: str  # of the copy in the wheel
    # The file it was copied from, as its provider has it: an OS package's path, a path in a
    # wheel or distribution (never a path of this build machine's caches or work dirs).
    source: str | None = None
    name: str | None = None  # what provided it: a distribution or OS package
    version: str | None = None
    purl: str | None = None
    licence: str | None = None
    artifact: str | None = None  # a wheel the library came in (file name) ...
    artifact_sha256: str | None = None  # ... and its sha256
    identified_by: str = "file"  # openblas-origin, python-dist, os-package, file
    properties: dict[str, str] = field(default_factory=dict)


def bundled_members(wheel: Path) -> list[tuple[str, bytes]]:
    """(member, contents) of every library the repair tool copied into ``wheel``."""
    with zipfile.ZipFile(wheel) as archive:
        return [(info.filename, archive.read(info)) for info in archive.infolist()
                if not info.is_dir() and "/" in info.filename
                and info.filename.rsplit("/", 2)[-2].endswith(_LIB_DIR_SUFFIXES)]


def _ldconfig_dirs() -> list[str]:
    try:
        done = subprocess.run(["ldconfig", "-p"], capture_output=True, text=True, timeout=30,
                              check=False, env={**os.environ, "LC_ALL": "C"})
    except (OSError, subprocess.TimeoutExpired):
        return []
    return [os.path.dirname(line.rsplit("=> ", 1)[1].strip())
            for line in done.stdout.splitlines() if "=> " in line]


def search_dirs(environ: Mapping[str, str]) -> list[Path]:
    """Where the repair tools looked for libraries: the search path variables, then the
    dynamic linker's cache and the system's library directories."""
    dirs: list[str] = []
    for name in ("LD_LIBRARY_PATH", "DYLD_LIBRARY_PATH", "DYLD_FALLBACK_LIBRARY_PATH",
                 "MB_DLL_PATH"):
        dirs += [p for p in environ.get(name, "").split(os.pathsep) if p]
    dirs += _ldconfig_dirs()
    dirs += _SYSTEM_LIB_DIRS
    return [Path(d) for d in dict.fromkeys(dirs) if Path(d).is_dir()]


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def find_source(member: str, dirs: Sequence[Path]) -> Path | None:
    """The file ``member`` was copied from: for auditwheel's ``<stem>-<hash>.<ext>`` the
    file ``<stem>.<ext>`` whose sha256 starts with ``<hash>``; else the first file of the
    same name."""
    name = member.rsplit("/", 1)[-1]
    grafted = _GRAFTED.match(name)
    if grafted:
        original = f"{grafted['stem']}.{grafted['ext']}"
        for directory in dirs:
            candidate = directory / original
            if candidate.is_file() and _sha256(candidate).startswith(grafted["hash"]):
                return candidate
    for directory in dirs:
        if (directory / name).is_file():
            return directory / name
    return None


def _from_openblas_prefix(source: Path) -> dict[str, Any] | None:
    from multibuild.deps.openblas import ORIGIN, read_origin

    for prefix in list(source.parents)[:3]:
        if (prefix / ORIGIN).is_file():
            origin = read_origin(prefix) or {}
            artifact = str(origin.get("artifact") or "")
            name = origin.get("name")
            version = origin.get("version")
            if artifact.endswith(".whl"):
                dist, wheel_version, _build, _tags = parse_wheel_filename(artifact)
                name, version = name or str(dist), str(wheel_version)
            purl = (f"pkg:pypi/{canonicalize_name(str(name))}@{version}"
                    f"?file_name={artifact}") if name and artifact.endswith(".whl") else None
            licence = short_licence(str(origin.get("license") or ""))
            inside = source.relative_to(prefix).as_posix()
            return {"name": name or "OpenBLAS", "version": version, "purl": purl,
                    "licence": licence, "artifact": artifact or None,
                    "source": f"{artifact}: {inside}" if artifact else inside,
                    "artifact_sha256": origin.get("sha256"),
                    "identified_by": "openblas-origin"}
    return None


def _from_python_dist(source: Path) -> dict[str, Any] | None:
    for site in source.parents:
        if site.name not in ("site-packages", "dist-packages"):
            continue
        relative = source.relative_to(site).as_posix()
        for record in site.glob("*.dist-info/RECORD"):
            listed = {line.split(",", 1)[0] for line in
                      record.read_text(encoding="utf-8", errors="replace").splitlines()}
            if relative in listed:
                text = (record.parent / "METADATA").read_text(encoding="utf-8",
                                                              errors="replace")
                meta = HeaderParser().parsestr(text)
                name, version = meta.get("Name") or "", meta.get("Version") or ""
                return {"name": name, "version": version,
                        "purl": f"pkg:pypi/{canonicalize_name(name)}@{version}",
                        "licence": declared_licence(text), "identified_by": "python-dist",
                        "source": f"{name} {version}: {relative}"}
        return None
    return None


def _from_os_package(source: Path) -> dict[str, Any] | None:
    try:
        from whichprovides import whichprovides
    except ImportError:
        return None
    for path in dict.fromkeys([source, source.resolve()]):
        try:
            found = whichprovides(str(path))
        except (OSError, subprocess.SubprocessError):
            continue
        for provided in found.values():
            return {"name": provided.package_name, "version": provided.package_version,
                    "source": str(path),
                    "purl": provided.purl, "identified_by": "os-package",
                    "properties": {f"{_NS}:os-package": f"{provided.distro or ''} "
                                   f"{provided.package_type}".strip()}}
    return None


def runtime_licence(member: str) -> str | None:
    """The licence of a GCC runtime library (by its file stem: ``libgfortran`` of
    ``scipy.libs/libgfortran-040039e1.so.5.0.0``), else None."""
    stem = member.rsplit("/", 1)[-1].split(".", 1)[0]
    return RUNTIME_LICENCES.get(re.sub(r"-[0-9a-f]{8}$", "", stem))


def identify(member: str, contents: bytes, dirs: Sequence[Path]) -> Bundled:
    """What provided the bundled library ``member`` (its bytes in the wheel: ``contents``)."""
    digest = hashlib.sha256(contents).hexdigest()
    source = find_source(member, dirs)
    facts: dict[str, Any] = {}
    if source is not None:
        facts = (_from_openblas_prefix(source) or _from_python_dist(source)
                 or _from_os_package(source) or {})
    if not facts.get("licence"):
        facts["licence"] = runtime_licence(member)
    if source is not None and "source" not in facts:
        facts["source"] = source.name  # only its name: the path is this machine's
    return Bundled(member=member, sha256=digest, **facts)


@dataclass(frozen=True)
class Project:
    """The project a wheel was built from, at its commit (multibuild.source.checkout)."""

    name: str
    version: str
    wheel: str  # the wheel's file name
    ref: str | None = None
    commit: str | None = None
    repository: str | None = None  # the repository asked for
    commit_upstream: bool | None = None
    sdist: Mapping[str, Any] | None = None  # file, url, sha256 of an sdist stand-in


def project_of(wheel: Path, checkout: Path | None) -> Project:
    name, version, _build, _tags = parse_wheel_filename(wheel.name)
    if checkout is None:
        return Project(str(name), str(version), wheel.name)
    from multibuild import MultibuildError
    from multibuild.source.checkout import describe

    try:
        found = describe(checkout)
    except MultibuildError:
        return Project(str(name), str(version), wheel.name)
    record = found.record()
    return Project(str(name), str(version), wheel.name, ref=found.ref or None, commit=found.sha,
                   repository=found.url or None, commit_upstream=found.commit_upstream,
                   sdist=record["sdist"])


def _licences(expression: str | None) -> list[Any]:
    if not expression:
        return []
    from cyclonedx.contrib.license.factories import LicenseFactory

    return [LicenseFactory().make_from_string(expression)]


def render(project: Project, bundled: Iterable[Bundled], epoch: int) -> str:
    """The CycloneDX 1.6 JSON of ``project`` bundling ``bundled``; the same inputs give the
    same bytes."""
    from cyclonedx.model import (
        ExternalReference,
        ExternalReferenceType,
        HashAlgorithm,
        HashType,
        Property,
        XsUri,
    )
    from cyclonedx.model.bom import Bom, BomMetaData
    from cyclonedx.model.component import Component, ComponentType
    from cyclonedx.output.json import JsonV1Dot6
    from packageurl import PackageURL

    libs = sorted(bundled, key=lambda b: b.member)
    root_purl = (f"pkg:pypi/{canonicalize_name(project.name)}@{project.version}"
                 f"?file_name={project.wheel}")
    refs: list[ExternalReference] = []
    properties = []
    if project.repository:
        refs.append(ExternalReference(type=ExternalReferenceType.VCS,
                                      url=XsUri(project.repository),
                                      comment=f"commit {project.commit} (ref {project.ref})"))
    if project.sdist and project.sdist.get("url"):
        refs.append(ExternalReference(
            type=ExternalReferenceType.SOURCE_DISTRIBUTION, url=XsUri(project.sdist["url"]),
            comment=f"the sdist {project.sdist.get('file')} this build's commit was made from",
            hashes=[HashType(alg=HashAlgorithm.SHA_256, content=project.sdist["sha256"])]))
    for key, value in (("ref", project.ref), ("commit", project.commit),
                       ("commit-upstream", None if project.commit_upstream is None
                        else str(project.commit_upstream).lower())):
        if value:
            properties.append(Property(name=f"{_NS}:source:{key}", value=value))
    root = Component(name=project.name, version=project.version, type=ComponentType.LIBRARY,
                     bom_ref=root_purl, purl=PackageURL.from_string(root_purl),
                     external_references=refs, properties=properties)
    components = []
    for lib in libs:
        hashes = [HashType(alg=HashAlgorithm.SHA_256, content=lib.artifact_sha256 or lib.sha256)]
        props = [Property(name=f"{_NS}:bundled-as", value=lib.member),
                 Property(name=f"{_NS}:bundled-sha256", value=lib.sha256),
                 Property(name=f"{_NS}:identified-by", value=lib.identified_by)]
        if lib.source:
            props.append(Property(name=f"{_NS}:copied-from", value=lib.source))
        if lib.artifact:
            props.append(Property(name=f"{_NS}:artifact", value=lib.artifact))
        props += [Property(name=k, value=v) for k, v in sorted(lib.properties.items())]
        components.append(Component(
            name=lib.name or lib.member.rsplit("/", 1)[-1], version=lib.version,
            type=ComponentType.LIBRARY, bom_ref=f"{lib.purl or 'file'}#{lib.member}",
            purl=PackageURL.from_string(lib.purl) if lib.purl else None, hashes=hashes,
            licenses=_licences(lib.licence), properties=props))
    inputs = json.dumps([project.wheel, project.commit, project.sdist,
                         [(b.member, b.sha256, b.purl, b.licence) for b in libs]],
                        sort_keys=True, default=str)
    serial = uuid.uuid5(uuid.NAMESPACE_URL, f"{_NS}-sbom:{inputs}")
    bom = Bom(serial_number=serial, metadata=BomMetaData(
        component=root, timestamp=datetime.fromtimestamp(epoch, timezone.utc)),
        components=components)
    bom.register_dependency(root, components)
    return JsonV1Dot6(bom).output_as_string(indent=2) + "\n"


def dist_info(wheel: Path) -> str:
    """The ``<name>-<version>.dist-info`` directory of ``wheel``."""
    with zipfile.ZipFile(wheel) as archive:
        tops = {n.split("/", 1)[0] for n in archive.namelist() if "/" in n}
    found = sorted(t for t in tops if t.endswith(".dist-info"))
    if len(found) != 1:
        from multibuild import MultibuildError

        raise MultibuildError(f"{wheel.name}: expected one .dist-info directory, found "
                              f"{len(found)}")
    return found[0]


def wheel_sbom(wheel: Path, environ: Mapping[str, str], checkout: Path | None,
               epoch: int) -> tuple[str, bytes]:
    """(member path, bytes) of the SBOM of the repaired ``wheel``."""
    dirs = search_dirs(environ)
    bundled = [identify(member, contents, dirs) for member, contents in bundled_members(wheel)]
    text = render(project_of(wheel, checkout), bundled, epoch)
    return f"{dist_info(wheel)}/sboms/{SBOM_FILE}", text.encode()


def summary(data: Mapping[str, Any]) -> list[str]:
    """``name version (licence)`` of each component of an SBOM (its JSON), for a report."""
    out = []
    for component in data.get("components") or []:
        licences = [lic.get("expression") or (lic.get("license") or {}).get("id")
                    or (lic.get("license") or {}).get("name")
                    for lic in component.get("licenses") or []]
        text = f"{component.get('name')} {component.get('version') or ''}".strip()
        if any(licences):
            text += f" ({', '.join(filter(None, licences))})"
        out.append(text)
    return out
