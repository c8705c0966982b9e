"""Test counts of a target's test run: pytest's JUnit XML (asked for by install_run through
PYTEST_ADDOPTS, so any pytest run_tests starts writes it, pytest.main() as numpy.test() calls
it included), else pytest's closing summary lines; in report.json, the summary and report.html.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import FIXTURES, FixtureRepo, run_wheels
from rich.console import Console
from test_report import result, validate

from multibuild.run.report import write_run_report
from multibuild.run.summary import print_summary
from multibuild.run.testresults import TestResults, collect, from_junit_xml, pytest_summaries

# A suite with every outcome but a failure: 3 passed, 1 skipped, 1 xfailed, 1 xpassed.
SUITE = '''
import pytest

def test_a(): pass
def test_b(): pass
def test_c(): pass
def test_skipped(): pytest.skip("not here")
@pytest.mark.xfail(reason="known")
def test_xfailed(): assert False
@pytest.mark.xfail(reason="fixed meanwhile")
def test_xpassed(): pass
'''

# run_tests the way numpy.test() runs pytest: in-process, pytest.main(); TWICE runs it again.
CONFIG = """
function run_tests {
    cat > test_suite.py <<'EOF'
SUITE
EOF
    python -c 'import sys, pytest
sys.exit(pytest.main(["-q", "-p", "no:cacheprovider", "test_suite.py"]))'
    if [ -n "${TWICE:-}" ]; then python -m pytest -q -p no:cacheprovider test_suite.py; fi
}
""".replace("SUITE", SUITE)


def test_junit_xml_and_summary_lines(tmp_path: Path) -> None:
    (tmp_path / "test_suite.py").write_text(SUITE)
    xml = tmp_path / "results.xml"
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           f"--junitxml={xml}", "test_suite.py"], cwd=tmp_path,
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout
    (summary,) = pytest_summaries(done.stdout)
    assert (summary.passed, summary.skipped, summary.xfailed, summary.xpassed) == (3, 1, 1, 1)
    assert summary.source == "pytest-summary" and summary.duration is not None
    counted = from_junit_xml(xml, xpassed=summary.xpassed)
    assert counted is not None
    assert (counted.passed, counted.failed, counted.skipped, counted.xfailed, counted.xpassed,
            counted.errors) == (3, 0, 1, 1, 1, 0)
    assert counted.source == "junit-xml" and counted.duration is not None
    assert TestResults.from_json(counted.to_json()) == TestResults(
        **{**counted.to_json(), "duration": round(counted.duration, 3)})


@pytest.mark.parametrize("line,expected", [
    ("47608 passed, 1054 skipped, 31 xfailed, 5 xpassed in 171.20s (0:02:51)",
     (47608, 0, 1054, 31, 5, 0, 171.2)),
    ("===== 1 failed, 2 passed, 3 warnings, 1 error in 0.12s =====", (2, 1, 0, 0, 0, 1, 0.12)),
    ("\x1b[31m======= 2 errors in 1.50s ========\x1b[0m", (0, 0, 0, 0, 0, 2, 1.5)),
    ("no tests ran in 0.01s", (0, 0, 0, 0, 0, 0, 0.01)),
])
def test_summary_line_forms(line: str, expected: tuple[float, ...]) -> None:
    (found,) = pytest_summaries(f"noise\n{line}\nmore noise 3 passed\n")
    assert (found.passed, found.failed, found.skipped, found.xfailed, found.xpassed,
            found.errors, found.duration) == expected


def test_several_sessions_are_summed_from_the_log(tmp_path: Path) -> None:
    log = tmp_path / "build.log"
    log.write_text("---- t: build_wheel\n5 passed in 1.00s\n---- t: install_run\n"
                   "3 passed, 1 skipped in 1.00s\n2 passed, 1 failed in 0.50s\n")
    (tmp_path / "test-results.xml").write_text("<testsuite/>")  # the last session's only
    found = collect(tmp_path, log)
    assert found == TestResults(passed=5, failed=1, skipped=1, duration=1.5,
                                source="pytest-summary", sessions=2)
    assert found.describe() == "5 passed, 1 failed, 1 skipped in 1.5s (2 pytest sessions)"
    log.write_text("---- t: install_run\nall fine\n")
    (tmp_path / "test-results.xml").unlink()
    assert collect(tmp_path, log) is None  # no pytest: nothing to count


def test_counts_in_report_summary_and_html(tmp_path: Path) -> None:
    one = result(tmp_path, "3.12", None)
    one.tests = TestResults(passed=48651, skipped=1054, xfailed=31, duration=171.25,
                            source="junit-xml")
    out = tmp_path / "wheelhouse"
    data = json.loads(write_run_report(out, [one], "v1").read_text())
    validate(data)
    assert data["targets"][0]["tests"] == {
        "passed": 48651, "failed": 0, "skipped": 1054, "xfailed": 31, "xpassed": 0, "errors": 0,
        "duration": 171.25, "source": "junit-xml", "sessions": 1, "reruns": 0}
    page = (out / "report.html").read_text()
    assert "tests: 48,651 passed, 1,054 skipped, 31 xfailed in 171.2s" in page
    stream = io.StringIO()
    print_summary([one], Console(file=stream, width=250))
    assert "48,651 passed, 1,054 skipped, 31 xfailed in 171.2s" in stream.getvalue()


@pytest.mark.parametrize("twice", [False, True])
def test_a_real_run_counts_its_tests(tmp_path: Path, purepy_repo: FixtureRepo,
                                     twice: bool) -> None:
    config = tmp_path / "config.sh"
    config.write_text(("TWICE=1\n" if twice else "") + CONFIG)
    env = {"CONFIG_PATH": str(config), "ENV_VARS_PATH": str(FIXTURES / "purepy" / "env_vars.sh"),
           "TEST_DEPENDS": "pytest"}
    done = run_wheels(["build", "--commit", "v0.1.0", "--repo-url", str(purepy_repo.path),
                       "--repo-dir", str(tmp_path / "checkout"),
                       "--output", str(tmp_path / "out"), "--work-dir", str(tmp_path / "work")],
                      env)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["jobs"] == 1  # one target: one at a time, whatever -j says
    (target,) = report["targets"]
    tests = target["tests"]
    factor = 2 if twice else 1
    assert (tests["passed"], tests["failed"], tests["skipped"], tests["xfailed"],
            tests["xpassed"], tests["errors"]) == (3 * factor, 0, factor, factor, factor, 0)
    assert tests["source"] == ("pytest-summary" if twice else "junit-xml")
    assert tests["sessions"] == factor and tests["duration"] >= 0
    shown = f"{3 * factor} passed, {factor} skipped, {factor} xfailed, {factor} xpassed"
    assert shown in done.stdout  # the summary table
    assert shown in (tmp_path / "out" / "report.html").read_text()


def test_reused_results_in_report_summary_and_html(tmp_path: Path) -> None:
    one = result(tmp_path, "3.12", None)
    one.tests = TestResults(passed=2, duration=0.25, source="junit-xml")
    one.tests_reused = {"run": "0123456789ab", "when": "2026-12-06 05:10:42 UTC"}
    out = tmp_path / "wheelhouse"
    data = json.loads(write_run_report(out, [one], "v1", run_id="ba9876543210").read_text())
    validate(data)
    assert data["run_id"] == "ba9876543210"
    (target,) = data["targets"]
    assert target["tests_reused"] == one.tests_reused and target["tests"]["passed"] == 2
    said = "tests reused from run 0123456789ab (2026-12-06 05:10:42 UTC): 2 passed in 0.2s"
    assert said in (out / "report.html").read_text()
    stream = io.StringIO()
    print_summary([one], Console(file=stream, width=300))
    assert said in stream.getvalue()
