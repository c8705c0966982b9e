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


def openblas_prefix(tmp: Path, dist: str = "scipy-openblas64") -> Path:
    """An OpenBLAS cache prefix as lay_out_prefix leaves it: the licence file of the real
    scipy-openblas wheel installed in the tool environment, kept as LICENSE.txt."""
    from importlib import metadata

    from multibuild.deps.licenses import copy_artifact_licence

    files = metadata.distribution(dist).files or []
    info = next(f for f in files if f.parts[0].endswith(".dist-info")).parts[0]
    site = Path(str(metadata.distribution(dist).locate_file(info))).parent
    tree = tmp / "unpacked" / dist.replace("-", "_")
    tree.mkdir(parents=True)
    (tree.parent / info).symlink_to(site / info)
    prefix = tmp / "prefix"
    prefix.mkdir()
    assert copy_artifact_licence(tree, prefix) == prefix / "LICENSE.txt"
    return prefix


def append(config: Path, project: Path, prefix: Path | None) -> subprocess.CompletedProcess[str]:
    env = {"OPENBLAS": str(prefix) if prefix else ""}
    return run_shell(f'source "{config}"; append_bundled_licenses "{project}"', env)


def test_numpy_2_3_and_newer_take_the_text_from_the_openblas_wheel(tmp_path: Path) -> None:
    """numpy >= 2.3 has neither LICENSES_bundled.txt nor tools/wheels/LICENSE_<os>.txt."""
    project = tmp_path / "numpy"
    project.mkdir()
    (project / "LICENSE.txt").write_text("Copyright (c) 2005 NumPy Developers.\n")
    prefix = openblas_prefix(tmp_path)
    first = append(REPO_ROOT / "config.sh", project, prefix)
    assert first.returncode == 0, first.stderr
    assert f"appended bundled licences from {prefix}/LICENSE.txt" in first.stdout
    assert append(REPO_ROOT / "config.sh", project, prefix).returncode == 0  # once only
    text = (project / "LICENSE.txt").read_text()
    assert text.count(BUNDLES) == 1
    assert "Name: OpenBLAS" in text and "Name: GCC runtime library" in text
    assert text.startswith("Copyright (c) 2005 NumPy Developers.\n\n----\n\n" + BUNDLES)
    install_dist(tmp_path / "site", text)
    assert check(tmp_path / "site", "demo", "--bundles", "OpenBLAS").returncode == 0


def test_scipy_config_heads_the_text_for_scipy(tmp_path: Path) -> None:
    project = tmp_path / "scipy"
    project.mkdir()
    (project / "LICENSE.txt").write_text("Copyright (c) 2001-2002 Enthought, Inc. 2003, SciPy "
                                         "Developers.\n")
    (project / "LICENSES_bundled.txt").write_text("The SciPy repository and source "
                                                  "distributions bundle:\n")
    prefix = openblas_prefix(tmp_path, "scipy-openblas32")
    done = append(REPO_ROOT / "configs" / "scipy" / "config.sh", project, prefix)
    assert done.returncode == 0, done.stderr
    text = (project / "LICENSE.txt").read_text()
    assert text.count("This binary distribution of SciPy also bundles the following "
                      "software:\n") == 1
    assert "NumPy" not in text.split("----", 1)[1].split("Name:", 1)[0]
    assert text.rstrip().endswith("The SciPy repository and source distributions bundle:")


def test_no_licence_text_anywhere_is_a_one_line_error(tmp_path: Path) -> None:
    project = tmp_path / "numpy"
    project.mkdir()
    (project / "LICENSE.txt").write_text("Copyright (c) 2005 NumPy Developers.\n")
    empty_prefix = tmp_path / "prefix"
    empty_prefix.mkdir()  # an OpenBLAS from a tarball: no licence file of its own
    done = append(REPO_ROOT / "config.sh", project, empty_prefix)
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1
    assert done.stderr.startswith("error: append_bundled_licenses: no licence text for the "
                                  "bundled OpenBLAS: neither ")
    assert (project / "LICENSE.txt").read_text() == "Copyright (c) 2005 NumPy Developers.\n"


def test_openblas_cache_laid_out_before_licences_were_kept_gets_the_licence(
    tmp_path: Path,
) -> None:
    """A prefix cached by an older version (no LICENSE.txt) is completed on the next fetch."""
    env = {"OPENBLAS_CACHE_DIR": str(tmp_path / "cache"), "PLAT": "x86_64",
           "NPY_USE_BLAS_ILP64": "1", "OPENBLAS_VERSION": "0.3.34.481.3"}
    first = run_shell("openblas_get", env)
    assert first.returncode == 0, first.stderr
    prefix = Path(first.stdout.strip())
    (prefix / "LICENSE.txt").unlink()
    offline = run_shell("openblas_get", {**env, "OPENBLAS_OFFLINE": "1"})
    assert offline.stdout.strip() == str(prefix)  # offline: the prefix as it is
    again = run_shell("openblas_get", env)
    assert again.returncode == 0, again.stderr
    assert again.stdout.strip() == str(prefix)
    assert "GCC runtime library" in (prefix / "LICENSE.txt").read_text()
