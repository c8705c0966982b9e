"""Keep-going: one deliberately failing target among passing ones. Every target is built, the
passing wheels are staged, the failing one is not, the summary and report say so, and the
run's exit status is non-zero."""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path

import jsonschema
import pytest
from conftest import FIXTURES, FixtureRepo, run_wheels

from multibuild.run.report import SCHEMA

FAILING = """
# run_tests fails for one Python only: MB_PYTHON_VERSION={python}
function run_tests {{
    if [ "$MB_PYTHON_VERSION" = {python} ]; then
        echo "deliberate failure for {python}"
        exit 1
    fi
    python -c 'import blasdot; assert blasdot.ddot([1, 2], [3, 4]) == 11.0; print("blasdot ok")'
}}
"""


@dataclass
class Run:
    proc: subprocess.CompletedProcess[str]
    output: Path
    work: Path
    passing: str
    failing: str


def failing_config(tmp: Path, python: str) -> Path:
    """The blasdot fixture's config.sh with a run_tests that fails for ``python``."""
    config = tmp / "config.sh"
    base = (FIXTURES / "blasdot" / "config.sh").read_text()
    config.write_text(base + FAILING.format(python=python))
    return config


def build(tmp: Path, repo: FixtureRepo, pythons: list[str], config: Path,
          jobs: int) -> subprocess.CompletedProcess[str]:
    return run_wheels(
        ["build", "--python", ",".join(pythons), "--commit", "v0.1.0", "-j", str(jobs),
         "--repo-url", str(repo.path), "--repo-dir", str(tmp / "checkout"),
         "--output", str(tmp / "out"), "--work-dir", str(tmp / "work")],
        {"CONFIG_PATH": str(config),
         "ENV_VARS_PATH": str(FIXTURES / "blasdot" / "env_vars.sh")},
    )


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory, blasdot_repo: FixtureRepo,
        two_pythons: list[str]) -> Run:
    tmp = tmp_path_factory.mktemp("keepgoing")
    # The failing target comes first: the run must go on to the next one.
    failing, passing = two_pythons[1], two_pythons[0]
    proc = build(tmp, blasdot_repo, [failing, passing], failing_config(tmp, failing), jobs=1)
    return Run(proc, tmp / "out", tmp / "work", passing, failing)


def tid(python: str) -> str:
    return f"cp{python.replace('.', '')}-linux-x86_64"


def test_every_target_built_failing_one_not_staged_exit_non_zero(run: Run) -> None:
    log = run.proc.stdout + run.proc.stderr
    assert run.proc.returncode == 1, log
    assert "wheels: 1 of 2 targets failed" in run.proc.stderr
    staged = sorted(p.name for p in run.output.glob("*.whl"))
    assert len(staged) == 1 and f"-cp{run.passing.replace('.', '')}-" in staged[0], staged
    # The failing target's wheel was built and kept in its own work dir, never staged.
    (kept,) = (run.work / tid(run.failing) / "wheelhouse").glob("*.whl")
    assert kept.name not in staged
    # One summary with both verdicts; the failure's log named with its tail.
    assert f"[{tid(run.failing)}] FAILED at install_run" in run.proc.stdout
    assert f"[{tid(run.passing)}] passed" in run.proc.stdout
    summary = run.proc.stdout[run.proc.stdout.index("Wheels"):]
    assert "failed at install_run" in summary and "passed" in summary
    assert f"{tid(run.failing)} log: {run.work / tid(run.failing) / 'build.log'}" in summary
    assert f"deliberate failure for {run.failing}" in summary


def test_report_of_a_real_run(run: Run) -> None:
    data = json.loads((run.output / "report.json").read_text())
    jsonschema.Draft202012Validator(json.loads(SCHEMA.read_text()),
                                    format_checker=jsonschema.FormatChecker()).validate(data)
    targets = {t["id"]: t for t in data["targets"]}
    assert list(targets) == [tid(run.failing), tid(run.passing)]
    assert data["summary"] == {"targets": 2, "passed": 1, "failed": 1, "interrupted": 0}
    assert not data["passed"] and not data["interrupted"]
    good, bad = targets[tid(run.passing)], targets[tid(run.failing)]
    names = ["setup", "before_install", "clean_code", "build_wheel", "install_run"]
    for target in (good, bad):
        assert [s["name"] for s in target["steps"]] == names
        assert all(s["duration"] is not None and s["duration"] >= 0 for s in target["steps"])
        assert Path(target["log"]).is_file()
        # A copy of the log kept beside the report (the next run writes a new build.log).
        assert target["log_href"] == f"logs/{target['id']}.log"
        assert (run.output / target["log_href"]).read_text() == Path(target["log"]).read_text()
    assert good["result"] == "passed" and good["failure_tail"] == ""
    (wheel,) = good["wheels"]
    assert (run.output / wheel["file"]).stat().st_size == wheel["size"]
    assert any(lib.startswith("libscipy_openblas") for lib in wheel["bundled"])
    assert wheel["platform_tags"][0].startswith("manylinux")
    assert (bad["failed_step"], bad["wheels"]) == ("install_run", [])
    assert bad["steps"][-1]["result"] == "failed"
    assert f"deliberate failure for {run.failing}" in bad["failure_tail"]
    assert bad["rejected_wheels"][0]["file"].endswith(".whl")
    page = (run.output / "report.html").read_text()
    assert 'class="failed"' in page and 'class="passed"' in page
    assert f'href="{bad["log_href"]}"' in page


def test_each_target_has_one_log_of_its_own(run: Run) -> None:
    for python, other in ((run.passing, run.failing), (run.failing, run.passing)):
        log = (run.work / tid(python) / "build.log").read_text()
        assert f"---- {tid(python)}: build_wheel" in log
        assert tid(other) not in log
        assert (run.work / tid(python) / "src" / "checkout" / "setup.py").is_file()
