"""What the numpy and scipy acceptance runs check alike in a staged wheel and its report:
the SBOM (the project at its mirror commit, the scipy-openblas wheel, the GCC runtimes), the
build flags recorded in the wheel, the provenance of the source and the test counts."""

from __future__ import annotations

import hashlib
import json
import re
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from multibuild.build.sbom import RUNTIME_LICENCES, SBOM_FILE


def licence_of(component: dict[str, Any]) -> str:
    """A CycloneDX component's licence as written: an expression, an SPDX id or a name."""
    (licence,) = component["licenses"]
    if "expression" in licence:
        return str(licence["expression"])
    return str(licence["license"].get("id") or licence["license"].get("name"))


def check_sbom(wheel: Path, report: dict[str, Any], openblas: str, openblas_version: str,
               runtimes: tuple[str, ...] = ()) -> dict[str, Any]:
    """The wheel's SBOM names the project at the report's commit (a local mirror's: not
    upstream, with its sdist), the scipy-openblas wheel and the GCC ``runtimes`` with their
    Debian packages; the report links it. Returns the SBOM."""
    name, version = wheel.name.split("-")[:2]
    member = f"{name}-{version}.dist-info/sboms/{SBOM_FILE}"
    with zipfile.ZipFile(wheel) as archive:
        data = archive.read(member)
        record = archive.read(f"{name}-{version}.dist-info/RECORD").decode()
    assert f"\n{member},sha256=" in "\n" + record
    sbom = json.loads(data)
    root = sbom["metadata"]["component"]
    assert (root["name"], root["version"]) == (name, version)
    props = {p["name"]: p["value"] for p in root["properties"]}
    repository = report["repository"]
    assert props["multibuild:source:commit"] == repository["commit"]
    assert props["multibuild:source:commit-upstream"] == "false"  # a local sdist mirror
    (sdist,) = [r for r in root["externalReferences"] if r["type"] == "source-distribution"]
    assert sdist["hashes"][0]["content"] == repository["sdist"]["sha256"]
    components = {c["name"]: c for c in sbom["components"]}
    blas = components[openblas]
    assert blas["version"] == openblas_version
    assert re.fullmatch(r"[0-9a-f]{64}", blas["hashes"][0]["content"])
    assert blas["licenses"], blas
    for runtime in runtimes:
        (found,) = [c for c in sbom["components"] if any(
            p["name"] == "multibuild:bundled-as" and p["value"].split("/")[-1].startswith(runtime)
            for p in c["properties"])]
        assert licence_of(found) == RUNTIME_LICENCES[runtime], found
        assert found["purl"].startswith("pkg:deb/debian/"), found  # dpkg knew its package
    (target,) = report["targets"]
    (entry,) = target["wheels"]
    assert entry["sbom"]["path"] == member
    assert entry["sbom"]["sha256"] == hashlib.sha256(data).hexdigest()
    return dict(sbom)


def check_no_local_flags(wheel: Path, package: str) -> None:
    """The build configuration the wheel records (``<package>/__config__.py``, what
    show_config() prints) carries none of the build machine's library defaults."""
    with zipfile.ZipFile(wheel) as archive:
        config = archive.read(f"{package}/__config__.py").decode()
    assert "-Wl,-strip-all" not in config
    assert "/usr/local/include" not in config


def check_no_build_paths(wheel: Path, directories: Sequence[Path]) -> None:
    """No file of the wheel holds one of the build's ``directories`` (the work dir, the wheels
    repository, the checkout, the home directory): its bytes do not depend on where it was
    built. A directory counts where a path starts, not inside another (``/root`` is in the
    stable name ``/mb/root``)."""
    found = [re.compile(rb"(?<![\w./-])" + re.escape(str(d).encode()) + rb"(?![\w.-])")
             for d in directories]
    with zipfile.ZipFile(wheel) as archive:
        for info in archive.infolist():
            data = archive.read(info)
            for directory, pattern in zip(directories, found):
                match = pattern.search(data)
                assert match is None, (f"{info.filename} holds {directory}: "
                                       f"{data[max(0, match.start() - 60):match.end() + 60]!r}")


def check_tests_and_provenance(report: dict[str, Any], sdist_file: str,
                               at_least: int) -> None:
    (target,) = report["targets"]
    tests = target["tests"]
    assert tests["passed"] >= at_least and tests["failed"] == 0 and tests["errors"] == 0, tests
    assert tests["source"] == "junit-xml", tests
    repository = report["repository"]
    assert repository["commit_upstream"] is False
    assert repository["sdist"]["file"] == sdist_file
    assert re.fullmatch(r"[0-9a-f]{64}", repository["sdist"]["sha256"])
