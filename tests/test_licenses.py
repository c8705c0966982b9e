"""The bundled-licence check run_tests uses, and config.sh's append_bundled_licenses that
makes the text it checks."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from conftest import REPO_ROOT, run_shell

BUNDLES = "This binary distribution of NumPy also bundles the following software:\n"


def install_dist(site: Path, licence: str) -> None:
    """A real installed distribution: a .dist-info with METADATA, LICENSE.txt and RECORD."""
    info = site / "demo-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: demo\nVersion: 1.0\n")
    (info / "LICENSE.txt").write_text(licence)
    (info / "RECORD").write_text(
        "demo-1.0.dist-info/METADATA,,\ndemo-1.0.dist-info/LICENSE.txt,,\n"
        "demo-1.0.dist-info/RECORD,,\n")


def check(site: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(REPO_ROOT / "tools" / "check_license.py"), *args],
        env={"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin"}, capture_output=True, text=True,
        check=False)


def test_licence_with_bundled_section_passes(tmp_path: Path) -> None:
    install_dist(tmp_path, f"Copyright (c) 2005 Demo\n\n----\n\n{BUNDLES}\nName: OpenBLAS\n")
    done = check(tmp_path, "demo", "--bundles", "OpenBLAS")
    assert done.returncode == 0, done.stderr
    assert "demo: bundled licences in demo-1.0.dist-info/LICENSE.txt" in done.stdout


def test_licence_problems_are_one_line_errors(tmp_path: Path) -> None:
    install_dist(tmp_path, "Copyright (c) 2005 Demo\n")
    plain = check(tmp_path, "demo", "--bundles", "OpenBLAS")
    assert plain.returncode == 1
    assert plain.stderr.count("\n") == 1 and "bundled-software licence text" in plain.stderr
    missing = check(tmp_path, "nosuchdist")
    assert missing.returncode == 1
    assert missing.stderr == "error: distribution 'nosuchdist' is not installed\n"


def test_licence_not_naming_a_bundled_library_fails(tmp_path: Path) -> None:
    install_dist(tmp_path, f"Copyright (c) 2005 Demo\n{BUNDLES}\nName: libgfortran\n")
    done = check(tmp_path, "demo", "--bundles", "OpenBLAS")
    assert done.returncode == 1 and "does not name bundled OpenBLAS" in done.stderr


def test_append_bundled_licenses_appends_once(tmp_path: Path) -> None:
    project = tmp_path / "numpy"
    (project / "tools" / "wheels").mkdir(parents=True)
    (project / "LICENSE.txt").write_text("Copyright (c) 2005 NumPy Developers.\n")
    (project / "LICENSES_bundled.txt").write_text("The NumPy repository bundles:\n")
    (project / "tools" / "wheels" / "LICENSE_linux.txt").write_text(f"{BUNDLES}\nName: OpenBLAS\n")
    script = (f'source "{REPO_ROOT}/config.sh"; append_bundled_licenses "{project}" '
              f'&& append_bundled_licenses "{project}"')
    done = run_shell(script)
    assert done.returncode == 0, done.stderr
    text = (project / "LICENSE.txt").read_text()
    assert text.count(BUNDLES) == 1 and text.count("The NumPy repository bundles") == 1
    assert text.startswith("Copyright (c) 2005 NumPy Developers.\n\n----\n")
