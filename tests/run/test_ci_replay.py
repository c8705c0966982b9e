"""Local replay of a listed CI job: the Linux x86_64 job of azure-pipelines.yml (and of
.github/workflows/wheels.yml), pointed at the blasdot fixture project, builds, repairs and
tests a wheel on this machine."""

from __future__ import annotations

import platform
import zipfile
from pathlib import Path
from typing import Any

import pytest
from conftest import FIXTURES, run_wheels


def _fixture_flags(repo: Any, tmp_path: Path) -> list[str]:
    blasdot = FIXTURES / "blasdot"
    return [
        "--repo-url", str(repo.path), "--repo-dir", str(tmp_path / "checkout"),
        "--set", f"CONFIG_PATH={blasdot / 'config.sh'}",
        "--set", f"ENV_VARS_PATH={blasdot / 'env_vars.sh'}",
        "--output", str(tmp_path / "out"), "--work-dir", str(tmp_path / "work"),
    ]


@pytest.mark.skipif(platform.machine() != "x86_64", reason="replays the x86_64 job")
@pytest.mark.parametrize(("service", "file"), [("azure", "azure-pipelines.yml"),
                                               ("github", ".github/workflows/wheels.yml")])
def test_replay_of_a_linux_job_produces_tested_wheels(
    blasdot_repo: Any, pythons: dict[str, Path], tmp_path: Path, service: str, file: str
) -> None:
    """An Azure job and a GitHub Actions job: the same environment, event plan and steps."""
    usable = [v for v in ("3.13", "3.12", "3.11", "3.10") if v in pythons]
    if not usable:
        pytest.skip("needs one of CPython 3.10-3.13 on this machine")
    version = usable[0]
    job = f"{service}-linux-x86_64-cp{version.replace('.', '')}"
    listed = run_wheels(["jobs", job])
    assert listed.returncode == 0 and f"{job} " in listed.stdout and " run" in listed.stdout

    done = run_wheels(["replay", job, "--commit", "v0.1.0", *_fixture_flags(blasdot_repo,
                                                                             tmp_path)])
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr
    out = done.stdout
    assert f"replay: {job} ({file}:" in out
    assert "push event -> v0.1.0; CI would upload to staging; a replay uploads nothing" in out
    # The lifecycle ran with the job's variables and the fixture's hooks, tests included.
    assert "pre_build: FIXTURE_MARK=from-env-vars" in out
    assert "run_tests: FIXTURE_MARK=from-env-vars" in out and "blasdot ok" in out
    assert f"replay: {job}: passed" in out
    wheels = sorted((tmp_path / "out").glob("*.whl"))
    tag = f"cp{version.replace('.', '')}"
    assert [w.name.split("-")[:3] for w in wheels] == [["blasdot", "0.1.0", tag]]
    assert "manylinux" in wheels[0].name and wheels[0].name.endswith("x86_64.whl")
    with zipfile.ZipFile(wheels[0]) as archive:
        assert any(".libs/" in name for name in archive.namelist())  # repaired
    steps = (tmp_path / "work" / job / f"{tag}-linux-x86_64" / "steps.tsv").read_text()
    assert [ln.split("\t")[1] for ln in steps.splitlines() if ln.startswith("end")] == [
        "setup", "before_install", "clean_code", "build_wheel", "install_run"]


def test_replay_reports_jobs_this_host_cannot_run(tmp_path: Path) -> None:
    done = run_wheels(["replay", "azure-macos-arm64-cp313", "appveyor-windows-win32-*",
                       "--work-dir", str(tmp_path)])
    assert done.returncode == 1
    assert "replay: azure-macos-arm64-cp313: skipped: macOS job: runs on a macOS machine only" \
        in done.stdout
    assert "replay: appveyor-windows-win32-cp310: skipped: Windows job" in done.stdout
    assert "error: none of the selected jobs can run on this host" in done.stderr
    # Said once per job, not again in a closing list.
    assert done.stdout.count("replay: azure-macos-arm64-cp313: skipped") == 1
    unknown = run_wheels(["replay", "azure-linux-riscv64-cp312"])
    assert unknown.returncode == 2
    assert "error: no CI job matches 'azure-linux-riscv64-cp312'" in unknown.stderr


def test_replay_print_env_shows_the_job_environment_for_an_event(tmp_path: Path) -> None:
    done = run_wheels(["replay", "azure-linux-i686-cp312", "--print-env", "--event", "schedule",
                       "--set", "MB_BUILD_MODE=docker"])
    # i686 needs docker; with MB_BUILD_MODE=docker this host counts as able to run it.
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "schedule event -> main; CI would upload to nightly" in out
    for line in ("export BUILD_COMMIT='main'", "export ENV_VARS_PATH='env_vars32.sh'",
                 "export PLAT='i686'", "export MB_PYTHON_VERSION='3.12'",
                 "export MB_UPLOAD_CHANNEL='nightly'", "export REPO_DIR='numpy'"):
        assert line in out
    pull = run_wheels(["replay", "travis-linux-aarch64-cp310", "--print-env"])
    assert "skipped: aarch64 job" in pull.stdout
