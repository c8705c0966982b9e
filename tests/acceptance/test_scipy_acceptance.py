"""Acceptance (slow, opt-in: ``./wheels test --slow -k scipy``): the second shipped
configuration, ``./wheels build --config scipy``, builds real scipy at the newest release on
PyPI from a local mirror of its sdist (GitHub is out of reach here): a Fortran compiler found or
installed (apt-get, as root, where gfortran is missing), LP64 scipy-openblas32, scipy's meson
flags only; the repaired wheel bundles libscipy_openblas, libgfortran and libquadmath and passes
scipy's fast suite, the OpenBLAS check and the licence check in a clean environment.

Needs PyPI (the sdist, scipy's build and test requirements); 30-60 minutes on 2 cores.
``SCIPY_ACCEPTANCE_VERSION`` (default: BUILD_COMMIT of configs/scipy/env_vars.sh) and
``SCIPY_ACCEPTANCE_PYTHON`` (default: the newest installed CPython scipy supports) choose.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest
from acceptance_checks import check_no_local_flags, check_sbom, check_tests_and_provenance
from conftest import REPO_ROOT, run_wheels

from multibuild.run.options import project_config
from multibuild.source.mirror import release_version

pytestmark = [pytest.mark.slow, pytest.mark.timeout(3 * 3600)]

# Python versions scipy 1.17 has wheels for.
SUPPORTED = ("3.13", "3.12", "3.11")


def test_scipy_release_with_config_scipy(tmp_path: Path, pythons: dict[str, Path]) -> None:
    tag = (os.environ.get("SCIPY_ACCEPTANCE_VERSION")
           or project_config(REPO_ROOT, "scipy").defaults["BUILD_COMMIT"])
    version = release_version(tag)
    assert version, f"{tag!r} is not a release tag"
    python = os.environ.get("SCIPY_ACCEPTANCE_PYTHON") or next(
        (v for v in SUPPORTED if v in pythons), None)
    if python is None or python not in pythons:
        pytest.skip(f"no CPython among {', '.join(SUPPORTED)} found; have {sorted(pythons)}")
    can_install = os.geteuid() == 0 and shutil.which("apt-get") is not None
    if shutil.which("gfortran") is None and not can_install:
        pytest.skip("gfortran is missing and cannot be installed here (needs root and apt-get)")
    cache = {"MB_CACHE_DIR": str(REPO_ROOT / "build" / "cache")}

    mirror = tmp_path / "scipy.git"
    made = run_wheels(["mirror", "scipy", version, "--dest", str(mirror)], cache)
    assert made.returncode == 0, made.stderr

    output, work = tmp_path / "wheelhouse", tmp_path / "work"
    done = run_wheels(
        ["build", "--config", "scipy", "--python", python, "--commit", f"v{version}",
         "--repo-url", str(mirror), "--repo-dir", str(tmp_path / "scipy"),
         "--output", str(output), "--work-dir", str(work)],
        cache, timeout=3 * 3600,
    )
    logs = "\n".join(p.read_text(errors="replace") for p in work.glob("*/build.log"))
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:] + logs[-6000:]

    (wheel,) = output.glob("*.whl")
    assert wheel.name.startswith(f"scipy-{version}-cp{python.replace('.', '')}-")
    assert "manylinux" in wheel.name
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        licence = next(n for n in names if re.search(r"\.dist-info/(licenses/)?LICENSE\.txt$", n))
        licence_text = archive.read(licence).decode()
    libs = [n.split("/")[-1] for n in names if n.startswith("scipy.libs/")]
    for lib in ("libscipy_openblas", "libgfortran", "libquadmath"):
        assert any(n.startswith(lib) for n in libs), libs
    assert licence_text.count(
        "This binary distribution of SciPy also bundles the following software") == 1
    assert "Name: OpenBLAS" in licence_text and "GCC runtime library" in licence_text

    # scipy's meson got scipy's flags only (LP64, no numpy flags) and found scipy-openblas.
    (build_line,) = [ln for ln in logs.splitlines() if ln.startswith("pip_wheel_cmd: ")]
    assert "-Csetup-args=-Dblas=openblas -Csetup-args=-Dlapack=openblas" in build_line
    assert "allow-noblas" not in build_line and "use-ilp64" not in build_line
    assert '"name": "scipy-openblas"' in logs  # scipy.show_config()
    assert "install_gfortran: " in logs
    checked = re.search(r"^.*scipy\.libs/libscipy_openblas[^ ]*: OpenBLAS 0\.3\.\S+ .*$", logs,
                        re.MULTILINE)
    assert checked and "USE64BITINT" not in checked.group(0), logs[-3000:]
    assert "scipy: bundled licences in" in logs
    assert " passed" in logs and "run_tests failed" not in logs

    # The summary and the report name the GCC runtime the repair grafted.
    assert "compiler runtimes bundled in" in done.stdout and "libgfortran" in done.stdout
    report = json.loads((output / "report.json").read_text())
    (target,) = report["targets"]
    assert target["passed"] and target["project"] == "scipy"
    assert target["project_version"] == version
    (entry,) = target["wheels"]
    assert any(n.startswith("libgfortran") for n in entry["compiler_runtimes"])
    assert any(n.startswith("libquadmath") for n in entry["compiler_runtimes"])
    assert report["repository"]["ref"] == f"v{version}"
    assert re.fullmatch(r"[0-9a-f]{40}", report["repository"]["commit"])
    assert "fortran compiler" in target["tools"] and "meson" in target["tools"]

    # What the wheel says it bundles, the flags it records, the test counts, the source.
    openblas = subprocess.run(
        ["bash", "-c", 'source configs/scipy/env_vars.sh && echo "$OPENBLAS_VERSION"'],
        cwd=REPO_ROOT, capture_output=True, text=True, check=True).stdout.strip()
    check_sbom(wheel, report, "scipy-openblas32", openblas,
               runtimes=("libgfortran", "libquadmath"))
    check_no_local_flags(wheel, "scipy")
    check_tests_and_provenance(report, f"scipy-{version}.tar.gz", at_least=60_000)
