"""Every repaired wheel says what it bundles: a PEP 770 CycloneDX SBOM in
``.dist-info/sboms/`` (listed in RECORD, byte-reproducible) naming the project at its commit,
the OpenBLAS of a scipy-openblas wheel (name, version, sha256, licence) and a GCC runtime
library with the Debian package that provided it; auditwheel's own SBOM stays beside it, and
report.json links it.

A real build of the blasdot fixture (``./wheels build``): OpenBLAS through ``build_openblas``
(the scipy-openblas32 wheel from PyPI, as numpy's config does) and libgomp linked in.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from conftest import FIXTURES, FixtureRepo, run_wheels

from multibuild.build.sbom import RUNTIME_LICENCES, SBOM_FILE, Bundled, Project, render
from multibuild.deps.openblas import default_cache_dir

CONFIG = """
function pre_build {
    build_openblas
    export BLASDOT_INCLUDE=$OPENBLAS_INCLUDE_DIR BLASDOT_LIBDIR=$OPENBLAS_LIB_DIR
    # A GCC runtime library the wheel must bundle (not in any manylinux policy).
    export LDFLAGS="${LDFLAGS:-} -Wl,--no-as-needed -lgomp"
}
function pip_opts {
    echo "--no-build-isolation"
}
function run_tests {
    python -c 'import blasdot; assert blasdot.ddot([1, 2], [3, 4]) == 11.0'
}
"""


@dataclass
class Built:
    wheel: Path
    report: dict[str, Any]
    output: Path
    stdout: str

    @property
    def caches(self) -> list[Path]:
        """The origin records of the OpenBLAS prefixes in the cache (openblas.py's default)."""
        return sorted(default_cache_dir(os.environ).glob("*/openblas-origin.json"))


def build(tmp: Path, repo: FixtureRepo, python: str) -> Built:
    config = tmp / "config.sh"
    config.write_text(CONFIG)
    env = {"CONFIG_PATH": str(config),
           "ENV_VARS_PATH": str(FIXTURES / "blasdot" / "env_vars.sh"),
           "NPY_USE_BLAS_ILP64": "", "OPENBLAS_VERSION": "0.3.34.481.3"}
    done = run_wheels(["build", "--python", python, "--commit", "v0.1.0",
                       "--repo-url", str(repo.path), "--repo-dir", str(tmp / "checkout"),
                       "--output", str(tmp / "out"), "--work-dir", str(tmp / "work")], env)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr
    (wheel,) = (tmp / "out").glob("*.whl")
    return Built(wheel, json.loads((tmp / "out" / "report.json").read_text()), tmp / "out",
                 done.stdout)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory, blasdot_repo: FixtureRepo,
          two_pythons: list[str]) -> Built:
    if shutil.which("gcc") is None:
        pytest.skip("needs gcc")
    return build(tmp_path_factory.mktemp("sbom"), blasdot_repo, two_pythons[0])


def members(wheel: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(wheel) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def test_the_wheel_carries_its_sbom_listed_in_record(built: Built) -> None:
    files = members(built.wheel)
    member = f"blasdot-0.1.0.dist-info/sboms/{SBOM_FILE}"
    assert member in files
    record = files["blasdot-0.1.0.dist-info/RECORD"].decode().splitlines()
    digest = base64.urlsafe_b64encode(hashlib.sha256(files[member]).digest()).rstrip(b"=")
    assert f"{member},sha256={digest.decode()},{len(files[member])}" in record
    # RECORD lists every member (itself without a hash), nothing twice.
    listed = [line.split(",", 1)[0] for line in record]
    assert sorted(listed) == sorted(files) and len(set(listed)) == len(listed)
    # The archive keeps its normal form: RECORD last, the dist-info before it.
    assert list(files)[-1] == "blasdot-0.1.0.dist-info/RECORD"


def test_the_sbom_names_the_project_at_its_commit_and_what_it_bundles(
    built: Built, blasdot_repo: FixtureRepo
) -> None:
    data = json.loads(members(built.wheel)[f"blasdot-0.1.0.dist-info/sboms/{SBOM_FILE}"])
    assert (data["bomFormat"], data["specVersion"]) == ("CycloneDX", "1.6")
    root = data["metadata"]["component"]
    assert (root["name"], root["version"]) == ("blasdot", "0.1.0")
    assert root["purl"] == f"pkg:pypi/blasdot@0.1.0?file_name={built.wheel.name}"
    props = {p["name"]: p["value"] for p in root["properties"]}
    assert props == {"multibuild:source:ref": "v0.1.0",
                     "multibuild:source:commit": blasdot_repo.rev("v0.1.0"),
                     "multibuild:source:commit-upstream": "true"}
    (vcs,) = root["externalReferences"]
    assert (vcs["type"], vcs["url"]) == ("vcs", str(blasdot_repo.path))
    components = {c["name"]: c for c in data["components"]}

    openblas = components["scipy-openblas32"]
    bundled = {p["name"]: p["value"] for p in openblas["properties"]}
    artifact, inside = bundled["multibuild:copied-from"].split(": ")
    assert inside == "lib/libscipy_openblas.so"  # a path in the wheel, not this machine's
    (origin,) = [json.loads(p.read_text()) for p in built.caches
                 if json.loads(p.read_text())["artifact"] == artifact]
    assert openblas["version"] == "0.3.34.481.3"
    assert openblas["hashes"] == [{"alg": "SHA-256", "content": origin["sha256"]}]
    assert openblas["purl"] == ("pkg:pypi/scipy-openblas32@0.3.34.481.3"
                                f"?file_name={origin['artifact']}")
    assert openblas["licenses"] == [{"license": {"name": "BSD 2-Clause License"}}]
    assert bundled["multibuild:identified-by"] == "openblas-origin"
    assert bundled["multibuild:bundled-as"].startswith("blasdot.libs/libscipy_openblas-")
    copy = members(built.wheel)[bundled["multibuild:bundled-as"]]
    assert bundled["multibuild:bundled-sha256"] == hashlib.sha256(copy).hexdigest()

    gomp = [c for c in data["components"] if any(
        p["value"].startswith("blasdot.libs/libgomp-") for p in c["properties"])]
    assert len(gomp) == 1
    assert gomp[0]["licenses"] == [{"expression": RUNTIME_LICENCES["libgomp"]}]
    if shutil.which("dpkg"):  # Debian: the package that provided it
        assert gomp[0]["name"] == "libgomp1" and gomp[0]["purl"].startswith("pkg:deb/debian/")
    deps = {d["ref"]: d.get("dependsOn", []) for d in data["dependencies"]}
    assert sorted(deps[root["bom-ref"]]) == sorted(c["bom-ref"] for c in data["components"])


def test_auditwheel_sbom_stays_and_the_report_links_ours(built: Built) -> None:
    files = members(built.wheel)
    sboms = sorted(n for n in files if "/sboms/" in n)
    if shutil.which("dpkg"):  # auditwheel records what an OS package provided
        assert sboms == ["blasdot-0.1.0.dist-info/sboms/auditwheel.cdx.json",
                         f"blasdot-0.1.0.dist-info/sboms/{SBOM_FILE}"]
    (target,) = built.report["targets"]
    (wheel,) = target["wheels"]
    sbom = wheel["sbom"]
    member = f"blasdot-0.1.0.dist-info/sboms/{SBOM_FILE}"
    assert sbom["path"] == member
    assert sbom["sha256"] == hashlib.sha256(files[member]).hexdigest()
    assert (built.output / sbom["href"]).read_bytes() == files[member]
    assert any(c.startswith("scipy-openblas32 0.3.34.481.3") for c in sbom["components"])
    assert f"sbom: {built.wheel.name}: {member}: " in built.stdout
    page = (built.output / "report.html").read_text()
    assert f'<a href="{sbom["href"]}">CycloneDX</a>' in page


def test_a_rebuild_gives_the_same_bytes(built: Built, tmp_path_factory: pytest.TempPathFactory,
                                        blasdot_repo: FixtureRepo,
                                        two_pythons: list[str]) -> None:
    again = build(tmp_path_factory.mktemp("sbom-again"), blasdot_repo, two_pythons[0])
    assert again.wheel.name == built.wheel.name
    assert again.wheel.read_bytes() == built.wheel.read_bytes()


def test_render_depends_only_on_its_inputs() -> None:
    project = Project("pkg", "1.0", "pkg-1.0-cp312-cp312-manylinux_2_28_x86_64.whl", ref="v1.0",
                      commit="c" * 40, repository="https://example.invalid/pkg.git",
                      commit_upstream=False,
                      sdist={"file": "pkg-1.0.tar.gz", "url": "https://files.invalid/pkg-1.0.tar.gz",
                             "sha256": "d" * 64})
    libs = [Bundled("pkg.libs/libgfortran-0123abcd.so.5.0.0", "e" * 64, name="libgfortran5",
                    version="12.2.0-14", purl="pkg:deb/debian/libgfortran5@12.2.0-14",
                    licence=RUNTIME_LICENCES["libgfortran"], identified_by="os-package")]
    first = render(project, libs, 1_700_000_000)
    assert render(project, list(reversed(libs)), 1_700_000_000) == first
    data = json.loads(first)
    assert data["metadata"]["timestamp"] == "2023-11-14T22:13:20+00:00"
    assert data["serialNumber"].startswith("urn:uuid:")
    refs = {r["type"]: r for r in data["metadata"]["component"]["externalReferences"]}
    assert refs["source-distribution"]["hashes"] == [{"alg": "SHA-256", "content": "d" * 64}]
    # A different library gives a different serial number.
    other = render(project, [Bundled("pkg.libs/x.so", "f" * 64)], 1_700_000_000)
    assert json.loads(other)["serialNumber"] != data["serialNumber"]
