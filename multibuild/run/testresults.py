"""What a target's test run found: counts of passed, failed, skipped, xfailed, xpassed and
errored tests, and how long it took.

``install_run`` asks pytest for a JUnit XML file (``PYTEST_ADDOPTS=--junitxml=...``; any
pytest the project's ``run_tests`` starts reads it, ``numpy.test()`` and ``scipy.test()``
included), so the counts come from the test runner itself, for any project that tests with
pytest. Without that file (a ``run_tests`` that chose its own ``--junitxml``, or several
pytest sessions, each replacing the file) the counts come from pytest's closing summary lines
in the step's log (``47608 passed, 1054 skipped, 31 xfailed in 171.20s``), summed over the
sessions. A run that used no pytest has no counts.

:class:`TestResults` is the record ``report.json`` holds per target (``tests``; schema
``$defs/tests``): plain counts, the duration, where they came from and how many pytest
sessions they cover.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, Literal

# Where install_run asks pytest to write its JUnit XML, in the target's work dir.
JUNIT_XML = "test-results.xml"
Source = Literal["junit-xml", "pytest-summary"]
_COUNTS = ("passed", "failed", "skipped", "xfailed", "xpassed", "errors")
# pytest's closing line, with -q or framed in '=': "1 failed, 2 passed, 1 xfailed in 0.12s".
_OUTCOME = r"\d+ (?:passed|failed|skipped|xfailed|xpassed|errors?|warnings?|deselected|rerun)"
_SUMMARY = re.compile(
    rf"^=*\s*((?:{_OUTCOME})(?:, {_OUTCOME})*|no tests ran) in (\d+(?:\.\d+)?)s"
    r"(?: \([\d:.]+\))?\s*=*\s*$")
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
# pytest's word for each count: "error" and "errors" are the same.
_WORDS = {"passed": "passed", "failed": "failed", "skipped": "skipped", "xfailed": "xfailed",
          "xpassed": "xpassed", "error": "errors", "errors": "errors"}


@dataclass(frozen=True)
class TestResults:
    """The counts of one target's test run (all its pytest sessions together)."""

    __test__ = False  # not a pytest test class, whatever imports it

    passed: int = 0
    failed: int = 0
    skipped: int = 0
    xfailed: int = 0
    xpassed: int = 0
    errors: int = 0
    duration: float | None = None  # seconds the sessions took, as the runner measured them
    source: Source = "pytest-summary"
    sessions: int = 1  # pytest sessions counted
    reruns: int = 0  # tests run again after failing (pytest-rerunfailures): a flaky pass

    @property
    def total(self) -> int:
        return sum(getattr(self, name) for name in _COUNTS)

    @property
    def ok(self) -> bool:
        """No failure and no error among the tests counted."""
        return self.failed == 0 and self.errors == 0

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        if self.duration is not None:
            data["duration"] = round(self.duration, 3)
        return data

    @classmethod
    def of(cls, counts: Mapping[str, int], duration: float | None, source: Source,
           sessions: int = 1, reruns: int = 0) -> TestResults:
        """From counts keyed passed, failed, skipped, xfailed, xpassed, errors."""
        return cls(passed=counts.get("passed", 0), failed=counts.get("failed", 0),
                   skipped=counts.get("skipped", 0), xfailed=counts.get("xfailed", 0),
                   xpassed=counts.get("xpassed", 0), errors=counts.get("errors", 0),
                   duration=duration, source=source, sessions=sessions, reruns=reruns)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TestResults:
        """The record as report.json holds it (unknown keys ignored)."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    def describe(self) -> str:
        """``48,651 passed, 1,054 skipped, 31 xfailed in 171.2s`` (zero counts left out)."""
        parts = [f"{getattr(self, name):,} {name}" for name in _COUNTS if getattr(self, name)]
        text = ", ".join(parts) or "no tests ran"
        if self.duration is not None:
            text += f" in {self.duration:.1f}s"
        if self.sessions > 1:
            text += f" ({self.sessions} pytest sessions)"
        if self.reruns:
            text += f" ({self.reruns} rerun)"
        return text


def from_junit_xml(path: Path, xpassed: int = 0) -> TestResults | None:
    """The counts of a pytest JUnit XML file; None when absent or unreadable. JUnit has no
    word for a non-strict XPASS (pytest writes it as a pass): ``xpassed``, from pytest's summary
    line of the same session, moves that many from passed."""
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError):
        return None
    suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
    if not suites:
        return None
    counts = dict.fromkeys(_COUNTS, 0)
    duration = 0.0
    reruns = 0
    for suite in suites:
        duration += float(suite.get("time") or 0.0)
        for case in suite.iter("testcase"):
            kinds = {child.tag: child for child in case}
            # Surefire's (and pytest-rerunfailures') record of a failed try before a pass.
            reruns += sum(child.tag.startswith(("rerun", "flaky")) for child in case)
            if "error" in kinds:
                counts["errors"] += 1
            elif "failure" in kinds:
                counts["failed"] += 1
            elif "skipped" in kinds:
                xfail = kinds["skipped"].get("type") == "pytest.xfail"
                counts["xfailed" if xfail else "skipped"] += 1
            else:
                counts["passed"] += 1
    moved = min(xpassed, counts["passed"])
    counts["passed"] -= moved
    counts["xpassed"] = moved
    return TestResults.of(counts, duration, "junit-xml", reruns=reruns)


def pytest_summaries(text: str) -> list[TestResults]:
    """Every pytest session's closing summary line in ``text`` (a step log), in order."""
    found = []
    for line in text.splitlines():
        match = _SUMMARY.match(_ANSI.sub("", line).strip())
        if not match:
            continue
        counts = dict.fromkeys(_COUNTS, 0)
        reruns = 0
        if match.group(1) != "no tests ran":
            for part in match.group(1).split(", "):
                number, word = part.split(" ", 1)
                if word in _WORDS:
                    counts[_WORDS[word]] += int(number)
                elif word == "rerun":
                    reruns += int(number)
        found.append(TestResults.of(counts, float(match.group(2)), "pytest-summary",
                                    reruns=reruns))
    return found


# The test step's part of a target's build.log: from its opening line (plain, or a CI
# service's group/fold marker) on.
_TEST_STEP = re.compile(r"^(?:---- |##\[group\]|::group::|.*\r\x1b\[0K)(?:\S+: )?install_run\s*$",
                        re.MULTILINE)


def install_run_log(log: str) -> str:
    """The part of a target's build.log the test step (install_run) wrote."""
    starts = list(_TEST_STEP.finditer(log))
    return log[starts[-1].start():] if starts else ""


def collect(work_dir: Path, log: Path) -> TestResults | None:
    """The test results of a target's last run: the JUnit XML install_run asked pytest for
    when one session wrote it, else pytest's summary lines in the test step's log."""
    try:
        text = install_run_log(log.read_text(errors="replace"))
    except OSError:
        text = ""
    summaries = pytest_summaries(text)
    if len(summaries) <= 1:
        xpassed = summaries[0].xpassed if summaries else 0
        from_xml = from_junit_xml(work_dir / JUNIT_XML, xpassed)
        if from_xml is not None:
            if summaries and summaries[0].reruns > from_xml.reruns:
                from dataclasses import replace

                return replace(from_xml, reruns=summaries[0].reruns)
            return from_xml
    if not summaries:
        return None
    total = {name: sum(int(getattr(s, name)) for s in summaries) for name in _COUNTS}
    durations = [s.duration for s in summaries if s.duration is not None]
    return TestResults.of(total, sum(durations) if durations else None, "pytest-summary",
                          sessions=len(summaries), reruns=sum(s.reruns for s in summaries))
