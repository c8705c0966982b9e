"""Acceptance (slow, opt-in: ``./wheels test --slow -k numpy``): the shipped configuration builds
real numpy at a release tag from a local mirror of its sdist, repairs the wheel so it bundles
ILP64 OpenBLAS, and passes numpy's fast test suite, the OpenBLAS check and the licence check in
a clean environment. Two releases: BUILD_COMMIT of the CI files (2.2.6, which still ships
LICENSES_bundled.txt and tools/wheels/LICENSE_<os>.txt) and the newest numpy on PyPI (2.4.6,
which ships neither: its bundled licences come from the scipy-openblas wheel).

Needs PyPI (the sdist, numpy's build and test requirements); 6-15 minutes each on 2 cores.
``NUMPY_ACCEPTANCE_VERSION`` replaces both versions with one; ``NUMPY_ACCEPTANCE_PYTHON``
(default: the newest installed CPython both releases support) chooses the Python.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest
from acceptance_checks import (
    check_no_build_paths,
    check_no_local_flags,
    check_sbom,
    check_tests_and_provenance,
)
from conftest import REPO_ROOT, objdump_glibc, run_wheels

from multibuild.build.glibc import policy_glibc
from multibuild.ci.cifiles import azure_variables
from multibuild.source.mirror import release_version

pytestmark = [pytest.mark.slow, pytest.mark.timeout(3 * 3600)]

# The newest numpy release on PyPI when this was written (`pip index versions numpy`).
NEWEST_NUMPY = "2.4.6"
# Python versions both numpy 2.2 and 2.4 have wheels for.
SUPPORTED = ("3.13", "3.12", "3.11")
_NINJA_LINE = re.compile(r"\[\d+/\d+\] ")


# The manylinux policy of each run (MB_ML_VER): BUILD_COMMIT's release for both policies the
# zig toolchain targets (numpy 2.2's own wheels are manylinux2014 and manylinux_2_28).
POLICY_TAGS = {"2014": ({"manylinux2014_x86_64", "manylinux_2_17_x86_64"}, (2, 17)),
               "_2_28": ({"manylinux_2_28_x86_64"}, (2, 28))}


def versions() -> list[tuple[str, str]]:
    forced = os.environ.get("NUMPY_ACCEPTANCE_VERSION")
    if forced:
        return [(forced, "_2_28")]
    build_commit = azure_variables(REPO_ROOT)["BUILD_COMMIT"]
    return [(build_commit, "2014"), (build_commit, "_2_28"), (NEWEST_NUMPY, "_2_28")]


@pytest.mark.parametrize("tag,ml_ver", versions(), ids=[f"{t}-{m}" for t, m in versions()])
def test_numpy_release_from_a_local_mirror(
    tag: str, ml_ver: str, tmp_path: Path, pythons: dict[str, Path]
) -> None:
    version = release_version(tag)
    assert version, f"{tag!r} is not a release tag"
    python = os.environ.get("NUMPY_ACCEPTANCE_PYTHON") or next(
        (v for v in SUPPORTED if v in pythons), None)
    if python is None or python not in pythons:
        pytest.skip(f"no CPython among {', '.join(SUPPORTED)} found; have {sorted(pythons)}")
    # The sdist is 20 MB: keep it in the shared cache.
    cache = {"MB_CACHE_DIR": str(REPO_ROOT / "build" / "cache"), "MB_ML_VER": ml_ver}

    mirror = tmp_path / "numpy.git"
    made = run_wheels(["mirror", "numpy", version, "--dest", str(mirror)], cache)
    assert made.returncode == 0, made.stderr

    output, work = tmp_path / "wheelhouse", tmp_path / "work"
    done = run_wheels(
        ["build", "--python", python, "--commit", f"v{version}", "--repo-url", str(mirror),
         "--repo-dir", str(tmp_path / "numpy"), "--output", str(output), "--work-dir", str(work)],
        cache, timeout=3 * 3600,
    )
    logs = "\n".join(p.read_text(errors="replace") for p in work.glob("*/build.log"))
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:] + logs[-6000:]

    (wheel,) = output.glob("*.whl")
    assert wheel.name.startswith(f"numpy-{version}-cp{python.replace('.', '')}-")
    # Built natively with zig for the policy's glibc: exactly its tag, auditwheel agreeing, and
    # no ELF file of the wheel (numpy's extensions, OpenBLAS, its GCC runtime) needing more.
    tags, glibc = POLICY_TAGS[ml_ver]
    assert set(wheel.name[:-4].split("-")[-1].split(".")) == tags, wheel.name
    shown = subprocess.run([sys.executable, "-m", "auditwheel", "show", str(wheel)],
                           capture_output=True, text=True, check=True).stdout
    found = re.search(r'consistent\s+with\s+the\s+following\s+platform\s+tag:\s*"([^"]+)"', shown)
    assert found and policy_glibc(found.group(1)) <= glibc, shown
    for name, data in _elf_members(wheel).items():
        assert (objdump_glibc(data, tmp_path) or (0,)) <= glibc, name
    assert f"toolchain: zig 0.17.0 x86_64-linux-gnu.{glibc[0]}.{glibc[1]}" in logs
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        licence = next(n for n in names if re.search(r"\.dist-info/(licenses/)?LICENSE\.txt$", n))
        licence_text = archive.read(licence).decode()
    assert any(n.startswith("numpy.libs/libscipy_openblas64_") for n in names), names
    assert licence_text.count(
        "This binary distribution of NumPy also bundles the following software") == 1
    assert "Name: OpenBLAS" in licence_text and "GCC runtime library" in licence_text

    # The tests ran on the installed wheel, in a clean environment, and checked the OpenBLAS.
    assert "-Csetup-args=-Dblas=scipy-openblas" in logs
    assert "-Csetup-args=-Duse-ilp64=true" in logs and "-Csetup-args=-Dallow-noblas=false" in logs
    assert '"name": "scipy-openblas"' in logs and "USE_64BITINT=1" in logs  # show_config()
    openblas = subprocess.run(
        ["bash", "-c", 'source env_vars.sh && echo "$OPENBLAS_VERSION"'], cwd=REPO_ROOT,
        env={**os.environ, "MB_ML_VER": ml_ver}, capture_output=True, text=True,
        check=True).stdout.strip()
    assert f"OpenBLAS {openblas}" in logs and "USE64BITINT" in logs
    assert "numpy: bundled licences in" in logs
    assert " passed" in logs and "run_tests failed" not in logs

    # The build was visible, condensed: meson's [n/m] lines all in build.log, a few on screen.
    in_log = len(_NINJA_LINE.findall(logs))
    on_screen = len(_NINJA_LINE.findall(done.stdout))
    assert in_log > 500 and 0 < on_screen < in_log / 5, (in_log, on_screen)

    report = json.loads((output / "report.json").read_text())
    assert [t["passed"] for t in report["targets"]] == [True]
    (target,) = report["targets"]
    assert report["repository"]["ref"] == f"v{version}"
    assert re.fullmatch(r"[0-9a-f]{40}", report["repository"]["commit"])
    assert report["repository"]["url"] == str(mirror)
    assert target["project"] == "numpy" and target["project_version"] == version
    assert target["python_version"].startswith(python + ".")
    assert {"auditwheel", "pip", "meson", "ninja"} <= set(target["tools"]), target["tools"]
    assert target["toolchain"]["name"] == "zig"
    assert all(w["glibc"]["policy_met"] for w in target["wheels"])

    # What the wheel says it bundles, the flags it records, the test counts, the source.
    check_sbom(wheel, report, "scipy-openblas64", openblas)
    check_no_local_flags(wheel, "numpy")
    check_tests_and_provenance(report, f"numpy-{version}.tar.gz", at_least=40_000)
    # Not tmp_path itself: the mirror there is the source's URL, which the SBOM names.
    check_no_build_paths(wheel, (work, tmp_path / "numpy", REPO_ROOT, Path.home()))

    # A second run with no change: the same bytes, numpy's tests reused with their counts.
    def build_in(work_dir: Path, out: Path) -> dict[str, Any]:
        again = run_wheels(
            ["build", "--python", python, "--commit", f"v{version}", "--repo-url", str(mirror),
             "--repo-dir", str(tmp_path / "numpy"), "--output", str(out),
             "--work-dir", str(work_dir)], cache, timeout=3 * 3600)
        assert again.returncode == 0, (again.stdout + again.stderr)[-4000:]
        built: dict[str, Any] = json.loads((out / "report.json").read_text())["targets"][0]
        return built

    rerun = build_in(work, tmp_path / "wheelhouse-again")
    assert rerun["wheels"][0]["reproduced"] is True
    assert rerun["tests_reused"]["run"] == report["run_id"]
    assert rerun["tests"]["passed"] == target["tests"]["passed"] >= 40_000
    # The same commit in a work dir at another path: the same bytes. No space in it (the fast
    # suite's fixtures have one): numpy's own f2py tests split sys.executable on spaces
    # (test_f2py2e.py::test_*freethreading_compatible), though its wheel is the same there too.
    elsewhere = build_in(tmp_path / "another-place", tmp_path / "wheelhouse-elsewhere")
    other = tmp_path / "wheelhouse-elsewhere" / elsewhere["wheels"][0]["file"]
    assert other.name == wheel.name and other.read_bytes() == wheel.read_bytes()


def _elf_members(wheel: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(wheel) as archive:
        return {n: archive.read(n) for n in archive.namelist() if n.endswith(".so")
                or ".so." in n}
