"""The lifecycle end to end on real fixture projects: clean_code, build, repair, test, stage."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import FixtureRepo, run_wheels

from multibuild.build.repair import repair_wheel


@dataclass
class Build:
    proc: subprocess.CompletedProcess[str]
    output: Path
    work: Path

    @property
    def log(self) -> str:
        return self.proc.stdout + self.proc.stderr


def build(tmp: Path, repo: FixtureRepo, commit: str, pythons: str, *,
          config: Path | None = None, env_vars: Path | None = None) -> Build:
    env = {
        "CONFIG_PATH": str(config or repo.path / "config.sh"),
        "ENV_VARS_PATH": str(env_vars or repo.path / "env_vars.sh"),
    }
    output, work = tmp / "out", tmp / "work"
    proc = run_wheels(
        ["build", "--python", pythons, "--commit", commit, "--repo-url", str(repo.path),
         "--repo-dir", str(tmp / "checkout"), "--output", str(output), "--work-dir", str(work)],
        env,
    )
    return Build(proc, output, work)


def nodot(version: str) -> str:
    return version.replace(".", "")


@pytest.fixture(scope="module")
def tag_build(tmp_path_factory: pytest.TempPathFactory, blasdot_repo: FixtureRepo,
              two_pythons: list[str]) -> Build:
    return build(tmp_path_factory.mktemp("tag"), blasdot_repo, "v0.1.0", ",".join(two_pythons))


@pytest.fixture(scope="module")
def hash_build(tmp_path_factory: pytest.TempPathFactory, blasdot_repo: FixtureRepo,
               two_pythons: list[str]) -> Build:
    short = blasdot_repo.rev("main")[:8]
    return build(tmp_path_factory.mktemp("hash"), blasdot_repo, short, ",".join(two_pythons))


def auditwheel_show(wheel: Path) -> str:
    # Verbose show resolves each extension's libraries: the bundled copy inside the wheel.
    done = subprocess.run([sys.executable, "-m", "auditwheel", "-v", "show", str(wheel)],
                          capture_output=True, text=True, check=True)
    return done.stdout + done.stderr


@pytest.mark.parametrize("which,version", [("tag_build", "0.1.0"), ("hash_build", "0.2.0")])
def test_builds_repaired_tested_wheels_for_two_pythons(
    request: pytest.FixtureRequest, which: str, version: str, two_pythons: list[str]
) -> None:
    result: Build = request.getfixturevalue(which)
    assert result.proc.returncode == 0, result.log
    wheels = sorted(result.output.glob("*.whl"))
    assert len(wheels) == 2, wheels
    for python in two_pythons:
        (wheel,) = [w for w in wheels if f"-cp{nodot(python)}-" in w.name]
        assert wheel.name.startswith(f"blasdot-{version}-")
        assert "manylinux" in wheel.name and "linux_x86_64" not in wheel.name.split("manylinux")[0]
        shown = auditwheel_show(wheel)
        assert "blasdot.libs/libscipy_openblas" in shown, shown[-2000:]
        libs = [n for n in zipfile.ZipFile(wheel).namelist() if ".libs/" in n]
        assert any("libscipy_openblas" in n for n in libs), libs
    # One-screen summary: every target passed, bundled library named.
    assert "passed" in result.proc.stdout and "libscipy_openbla" in result.proc.stdout
    assert "2 targets passed" in result.proc.stdout
    report = json.loads((result.output / "report.json").read_text())
    assert {t["passed"] for t in report["targets"]} == {True}
    assert sorted(w["file"] for t in report["targets"] for w in t["wheels"]) == [
        w.name for w in wheels]


def test_env_vars_reach_pre_build_and_run_tests(tag_build: Build) -> None:
    assert "pre_build: FIXTURE_MARK=from-env-vars" in tag_build.log
    assert "run_tests: FIXTURE_MARK=from-env-vars" in tag_build.log
    assert "blasdot ok: OpenBLAS 0.3.34" in tag_build.log


def fresh_venv(python: Path, path: Path) -> Path:
    subprocess.run([sys.executable, "-m", "uv", "venv", "-q", "--no-python-downloads", "-p",
                    str(python), str(path)], check=True)
    return path / "bin" / "python"


def install(venv_python: Path, wheel: Path) -> None:
    subprocess.run([sys.executable, "-m", "uv", "pip", "install", "-q", "--python",
                    str(venv_python), str(wheel)], check=True)


IMPORT_CHECK = "import blasdot; assert blasdot.ddot([1, 2], [3, 4]) == 11.0"


def test_repaired_wheel_works_without_openblas_and_unrepaired_fails(
    tag_build: Build, two_pythons: list[str], pythons: dict[str, Path], tmp_path: Path
) -> None:
    python = two_pythons[0]
    (repaired,) = tag_build.output.glob(f"*-cp{nodot(python)}-*.whl")
    venv = fresh_venv(pythons[python], tmp_path / "good")
    install(venv, repaired)
    has_openblas = subprocess.run([str(venv), "-c", "import scipy_openblas32"], check=False)
    assert has_openblas.returncode != 0, "test environment must not contain scipy-openblas32"
    ok = subprocess.run([str(venv), "-c", IMPORT_CHECK], capture_output=True, text=True,
                        check=False, cwd=tmp_path)
    assert ok.returncode == 0, ok.stderr

    # The same sources built without repair, with the build environment the lifecycle made.
    target = next(tag_build.work.glob(f"cp{nodot(python)}-*"))
    build_python = target / "venv" / "bin" / "python"
    checkout = tag_build.work.parent / "checkout"
    subprocess.run(["git", "checkout", "-q", "v0.1.0"], cwd=checkout, check=True)
    get = "import scipy_openblas32 as s; print(s.get_include_dir()); print(s.get_lib_dir())"
    include, libdir = subprocess.run([str(build_python), "-c", get], capture_output=True,
                                     text=True, check=True).stdout.split()
    raw_dir = tmp_path / "raw"
    subprocess.run(
        [str(build_python), "-m", "pip", "wheel", "-q", "--no-build-isolation", "--no-deps",
         "-w", str(raw_dir), "."],
        cwd=checkout, check=True,
        env={"PATH": "/usr/bin:/bin", "BLASDOT_INCLUDE": include, "BLASDOT_LIBDIR": libdir,
             "HOME": str(tmp_path)},
    )
    (raw,) = raw_dir.glob("*.whl")
    assert raw.name.endswith("linux_x86_64.whl")
    bad = fresh_venv(pythons[python], tmp_path / "bad")
    install(bad, raw)
    fails = subprocess.run([str(bad), "-c", IMPORT_CHECK], capture_output=True, text=True,
                           check=False, cwd=tmp_path)
    assert fails.returncode != 0
    assert "libscipy_openblas.so" in fails.stderr


def test_pure_wheel_passes_repair_untouched(
    tmp_path: Path, purepy_repo: FixtureRepo, two_pythons: list[str]
) -> None:
    result = build(tmp_path, purepy_repo, "v0.1.0", two_pythons[0])
    assert result.proc.returncode == 0, result.log
    (wheel,) = result.output.glob("*.whl")
    assert wheel.name == "purepy-0.1.0-py3-none-any.whl"
    assert "auditwheel" not in result.log
    # Repair into another directory: a byte-identical copy.
    out = tmp_path / "repaired"
    repaired = repair_wheel(wheel, out)
    assert repaired.read_bytes() == wheel.read_bytes()


OVERRIDE_CONFIG = """
# A config.sh that replaces the library's build_wheel and defines its own tests.
function build_wheel {
    echo "custom build_wheel for $1 on $2"
    build_bdist_wheel "$1"
}
function pre_build {
    echo "override pre_build: FIXTURE_MARK=$FIXTURE_MARK"
    $PIP_CMD install --quiet "scipy-openblas32==$OPENBLAS_WHEEL_VERSION"
    BLASDOT_INCLUDE=$($PYTHON_EXE -c 'import scipy_openblas32 as s; print(s.get_include_dir())')
    BLASDOT_LIBDIR=$($PYTHON_EXE -c 'import scipy_openblas32 as s; print(s.get_lib_dir())')
    export BLASDOT_INCLUDE BLASDOT_LIBDIR LD_LIBRARY_PATH=$BLASDOT_LIBDIR
}
function run_tests {
    echo "custom run_tests in $PWD: FIXTURE_MARK=$FIXTURE_MARK"
    python -c 'import blasdot; print("dot", blasdot.ddot([2], [21]))'
}
"""


def test_config_overrides_build_wheel_and_run_tests(
    tmp_path: Path, blasdot_repo: FixtureRepo, two_pythons: list[str]
) -> None:
    config = tmp_path / "config.sh"
    config.write_text(OVERRIDE_CONFIG)
    result = build(tmp_path, blasdot_repo, "v0.1.0", two_pythons[0], config=config)
    assert result.proc.returncode == 0, result.log
    assert "custom build_wheel for" in result.log
    assert "setup.py bdist_wheel" in result.log or "running bdist_wheel" in result.log
    assert "override pre_build: FIXTURE_MARK=from-env-vars" in result.log
    assert "custom run_tests in /tmp" in result.log and "FIXTURE_MARK=from-env-vars" in result.log
    assert "dot 42.0" in result.log
    assert len(list(result.output.glob("blasdot-0.1.0-*manylinux*.whl"))) == 1
