"""The run report (report.json against the shipped schema, report.html) and the timed CI log
groups of the lifecycle steps."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path

import jsonschema
import pytest
from conftest import run_shell
from test_upload_helpers import make_wheel

from multibuild.build.wheelinfo import inspect
from multibuild.release.upload import passed_wheels, select_wheels
from multibuild.run.options import Target
from multibuild.run.report import SCHEMA, write_report, write_run_report
from multibuild.run.runner import StepResult, TargetResult


def validate(data: object) -> None:
    schema = json.loads(SCHEMA.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker()).validate(
        data)


def result(tmp: Path, python: str, failed_at: str | None) -> TargetResult:
    target = Target(python, "x86_64")
    work = tmp / "work" / target.id
    log = work / "build.log"
    log.parent.mkdir(parents=True)
    log.write_text("".join(f"line {i}\n" for i in range(30)) + "error: run_tests failed\n")
    nodot = python.replace(".", "")
    wheel = make_wheel(work / "wheelhouse", tag=f"cp{nodot}-cp{nodot}-manylinux_2_28_x86_64")
    t0 = 1_700_000_000.0
    steps = []
    for i, name in enumerate(("setup", "before_install", "clean_code", "build_wheel",
                              "install_run")):
        status = 1 if name == failed_at else 0
        steps.append(StepResult(name, t0 + i, t0 + i + 0.5, status))
        if status:
            break
    res = TargetResult(target, 1 if failed_at else 0, log, steps, [inspect(wheel)],
                       started=t0, ended=t0 + 5)
    if failed_at:
        res.tail = "\n".join(log.read_text().splitlines()[-20:])
    return res


class Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []
        self.cells: list[tuple[str, str]] = []
        self._cell: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "a" and found.get("href"):
            self.hrefs.append(str(found["href"]))
        if tag == "td" and (found.get("id") or "").startswith("m-"):
            self._cell = f"{found['id']} {found.get('class')}"

    def handle_endtag(self, tag: str) -> None:
        if tag == "td":
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell:
            self.cells.append((self._cell, data))


def test_run_report_json_schema_content_and_upload_contract(tmp_path: Path) -> None:
    results = [result(tmp_path, "3.12", None), result(tmp_path, "3.11", "install_run")]
    out = tmp_path / "wheelhouse"
    path = write_run_report(out, results, "v1.2.3", jobs=2)
    data = json.loads(path.read_text())
    validate(data)
    assert sorted(p.name for p in out.iterdir()) == ["logs", "report.html", "report.json"]
    # The logs are kept beside the report (no temporary names left), so it can be moved.
    assert sorted(p.name for p in (out / "logs").iterdir()) == [
        "cp311-linux-x86_64.log", "cp312-linux-x86_64.log"]
    assert data["build_commit"] == "v1.2.3" and data["jobs"] == 2 and data["passed"] is False
    assert data["summary"] == {"targets": 2, "passed": 1, "failed": 1, "interrupted": 0}
    assert (data["interrupted"], data["signal"]) == (False, None)
    good, bad = data["targets"]
    assert (good["id"], good["result"], good["failed_step"]) == ("cp312-linux-x86_64", "passed",
                                                                 None)
    assert [s["name"] for s in good["steps"]] == ["setup", "before_install", "clean_code",
                                                  "build_wheel", "install_run"]
    assert {s["duration"] for s in good["steps"]} == {0.5}
    assert good["duration"] == 5.0 and good["started"].startswith("2023-11-")
    (wheel,) = good["wheels"]
    assert wheel["file"] == results[0].wheels[0].path.name
    assert wheel["size"] == results[0].wheels[0].size and len(wheel["sha256"]) == 64
    assert wheel["tags"] == ["cp312-cp312-manylinux_2_28_x86_64"]
    assert wheel["platform_tags"] == ["manylinux_2_28_x86_64"] and wheel["bundled"] == []
    assert good["log"] == str(results[0].log) and good["failure_tail"] == ""
    assert good["log_href"] == "logs/cp312-linux-x86_64.log"
    assert (out / good["log_href"]).read_text() == results[0].log.read_text()
    assert good["tests"] is None  # no test step output to count
    # The failed target: failed step, tail of its log, its wheel listed as rejected only.
    assert (bad["passed"], bad["failed_step"], bad["wheels"]) == (False, "install_run", [])
    assert bad["rejected_wheels"][0]["file"].startswith("tinypkg-1.0.0-cp311")
    assert bad["failure_tail"].endswith("error: run_tests failed")
    assert bad["steps"][-1] == {**bad["steps"][-1], "name": "install_run", "result": "failed",
                                "status": 1}
    # ./wheels upload reads the same contract: only the passing target's wheel.
    assert passed_wheels(path) == {wheel["file"]: wheel["sha256"]}


def test_report_html_is_a_self_contained_matrix_with_log_links(tmp_path: Path) -> None:
    results = [result(tmp_path, "3.12", None), result(tmp_path, "3.11", "build_wheel"),
               result(tmp_path, "3.10", None)]
    out = tmp_path / "wheelhouse"
    write_run_report(out, results, "main")
    page = (out / "report.html").read_text()
    assert "<style>" in page and "<link" not in page and "<script" not in page
    parser = Links()
    parser.feed(page)
    logs = [h for h in parser.hrefs if h.endswith(".log")]
    assert len(logs) == 6  # matrix cell and section of each target
    for href in logs:
        assert href.startswith("logs/") and (out / href).resolve().is_file()
    # Moved elsewhere (as to previous-wheelhouse/), every link still resolves.
    moved = tmp_path / "elsewhere" / "previous-wheelhouse"
    moved.parent.mkdir()
    out.rename(moved)
    assert all((moved / href).is_file() for href in logs)
    classes = {cell.split()[0]: cell.split()[1] for cell, _ in parser.cells}
    assert classes == {"m-cp312-linux-x86_64": "passed", "m-cp311-linux-x86_64": "failed",
                       "m-cp310-linux-x86_64": "passed"}
    texts = " ".join(text for _, text in parser.cells)
    assert "failed at build_wheel" in texts and "5.0s" in texts
    # Rows are Pythons in version order, columns platforms.
    assert page.index("<th>3.10</th>") < page.index("<th>3.11</th>") < page.index("<th>3.12</th>")
    assert "<th>linux-x86_64</th>" in page
    assert "error: run_tests failed" in page  # the failure tail
    assert "at a time" not in page  # no -j given
    write_run_report(tmp_path / "one", results[:1], "main", jobs=1)
    assert "at a time" not in (tmp_path / "one" / "report.html").read_text()
    write_run_report(tmp_path / "two", results[:2], "main", jobs=2)
    assert "with 2 at a time" in (tmp_path / "two" / "report.html").read_text()


def test_interrupted_run_lists_no_unfinished_target_as_passed(tmp_path: Path) -> None:
    done = result(tmp_path, "3.12", None)  # finished before the signal: stays passed
    stopped = result(tmp_path, "3.11", "build_wheel")  # its exit trap recorded a failure
    stopped.interrupted = True
    waiting = TargetResult(Target("3.10", "x86_64"), 1, tmp_path / "none" / "build.log",
                           interrupted=True)
    out = tmp_path / "wheelhouse"
    staged = tmp_path / "wheelhouse.staging-1"
    path = write_run_report(out, [done, stopped, waiting], "v1", interrupted_by="SIGINT",
                            into=staged)
    assert path == staged / "report.json" and not out.exists()
    data = json.loads(path.read_text())
    validate(data)
    assert (data["interrupted"], data["signal"], data["passed"]) == (True, "SIGINT", False)
    assert data["summary"] == {"targets": 3, "passed": 1, "failed": 0, "interrupted": 2}
    first, second, third = data["targets"]
    assert (first["result"], first["passed"], first["interrupted"]) == ("passed", True, False)
    assert (second["result"], second["passed"], second["wheels"]) == ("interrupted", False, [])
    assert (second["failed_step"], second["steps"][-1]["result"]) == ("build_wheel",
                                                                      "interrupted")
    assert (third["result"], third["failed_step"], third["steps"]) == ("not started", None, [])
    # Links are relative to the report: the logs are kept beside it.
    assert first["log_href"] == "logs/cp312-linux-x86_64.log"
    assert (staged / first["log_href"]).is_file() and "log_href" not in third
    # ./wheels upload would take the finished, passing target's wheel only.
    assert list(passed_wheels(path)) == [first["wheels"][0]["file"]]
    page = (staged / "report.html").read_text()
    assert "Interrupted by SIGINT: 2 of 3 targets unfinished" in page
    assert 'class="interrupted" id="m-cp311-linux-x86_64"' in page
    assert "not started (interrupted)" in page
    # The schema refuses an interrupted target or run that claims to have passed.
    for broken in ({**data, "targets": [{**second, "passed": True, "wheels": []}]},
                   {**data, "passed": True}):
        with pytest.raises(jsonschema.ValidationError):
            validate(broken)


def test_minimal_report_stays_valid_and_is_escaped(tmp_path: Path) -> None:
    wheel = make_wheel(tmp_path / "w")
    path = write_report(tmp_path / "w", [("cp312", True, [wheel])], "v1")
    validate(json.loads(path.read_text()))
    assert select_wheels(tmp_path / "w") == [wheel]
    evil = result(tmp_path, "3.12", "setup")
    evil.tail = "<script>alert(1)</script>"
    write_run_report(tmp_path / "o", [evil], "<b>")
    page = (tmp_path / "o" / "report.html").read_text()
    assert "<script>" not in page and "&lt;script&gt;" in page and "<b>" not in page


@pytest.mark.parametrize("service,env,expected", [
    ("azure", {"TF_BUILD": "True"},
     [r"^##\[group\]cp312-linux-x86_64: build_wheel$", r"^##\[endgroup\]$",
      r"^##\[error\]cp312-linux-x86_64: install_run failed \(exit 3\) after \d+\.\ds$"]),
    ("github", {"GITHUB_ACTIONS": "true"},
     [r"^::group::cp312-linux-x86_64: build_wheel$", r"^::endgroup::$",
      r"^::error::cp312-linux-x86_64: install_run failed"]),
    ("travis", {"TRAVIS": "true"},
     # (\r reads as a line end here)
     [r"^travis_fold:start:cp312-linux-x86_64\.build_wheel$",
      r"^travis_time:start:cp312-linux-x86_64\.build_wheel$",
      r"^travis_time:end:cp312-linux-x86_64\.build_wheel:start=\d+,finish=\d+,duration=\d+$",
      r"travis_fold:end:cp312-linux-x86_64\.build_wheel$"]),
    ("none", {}, [r"^---- cp312-linux-x86_64: build_wheel$"]),
])
def test_steps_open_timed_ci_log_groups(tmp_path: Path, service: str, env: dict[str, str],
                                        expected: list[str]) -> None:
    steps = tmp_path / "steps.tsv"
    script = """
        set -e
        trap mb_record_exit EXIT
        mb_step_start build_wheel; sleep 0.2; mb_step_end build_wheel
        mb_step_start install_run; (exit 3)
    """
    # Only this service's variable is set (the test may itself run on some CI).
    clean = {"TF_BUILD": "", "GITHUB_ACTIONS": "", "TRAVIS": "", "MB_LOG_GROUPS": ""}
    done = run_shell(script, env={**clean, **env, "MB_TARGET_ID": "cp312-linux-x86_64",
                                  "MB_STEP_LOG": str(steps)})
    assert done.returncode == 3
    out = done.stdout.replace("\x1b[0K", "")  # Travis clears the line after each marker
    for pattern in expected:
        assert re.search(pattern, out, re.M), (pattern, out)
    assert re.search(r"^---- cp312-linux-x86_64: build_wheel: passed in \d+\.\ds$", out, re.M)
    assert "install_run: FAILED (exit 3)" in out
    rows = [line.split("\t") for line in steps.read_text().splitlines()]
    assert [(r[0], r[1]) for r in rows] == [("start", "build_wheel"), ("end", "build_wheel"),
                                            ("start", "install_run"), ("end", "install_run")]
    assert rows[1][3] == "0" and rows[3][3] == "3"
    assert float(rows[1][2]) >= float(rows[0][2]) > 1e9  # epoch seconds, in order
