"""report.html in a real browser (Debian's headless Chromium): it fits a 1280 px screen (no
horizontal overflow) and every link resolves, where the run wrote it, after the next run moved
it to previous-wheelhouse/, and copied elsewhere whole.

``./wheels test`` installs Debian's ``chromium`` as root when missing (as it does LLVM);
without it these tests skip, saying so.
"""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
import urllib.parse
from pathlib import Path
from typing import Any

import pytest
from conftest import FIXTURES, FixtureRepo, run_wheels
from test_report_provenance import scipy_like_result

from multibuild.cli import TEST_SYSTEM_PACKAGES
from multibuild.run.report import write_run_report
from multibuild.run.testresults import TestResults

CHROMIUM = TEST_SYSTEM_PACKAGES["chromium"].probe
WIDTH = 1280
# Run after the page loaded: the page's width against the window's, every link as the
# browser resolved it, and the anchors that exist; written into the DOM Chromium dumps.
PROBE = """<script>
document.documentElement.setAttribute("data-probe", JSON.stringify({
  scroll: document.documentElement.scrollWidth,
  client: document.documentElement.clientWidth,
  links: Array.from(document.links).map(a => a.href),
  ids: Array.from(document.querySelectorAll("[id]")).map(e => e.id)}));
</script>"""


def render(page: Path, tmp: Path) -> dict[str, Any]:
    """What the probe saw in ``page`` (a report.html), rendered at WIDTH px: a copy with the
    probe appended, beside the page so its relative links resolve the same."""
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} missing: ./wheels test installs Debian's chromium as root "
                    "(apt-get install chromium)")
    probe = page.with_name(".probe-" + page.name)
    probe.write_text(page.read_text().replace("</body>", PROBE + "\n</body>"))
    profile = tmp / "chromium-profile"
    profile.mkdir(exist_ok=True)
    try:
        done = subprocess.run(
            [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--no-first-run", f"--user-data-dir={profile}", f"--window-size={WIDTH},900",
             "--dump-dom", probe.as_uri()],
            capture_output=True, text=True, timeout=120, check=False)
    finally:
        probe.unlink()
    found = re.search(r'data-probe="([^"]*)"', done.stdout)
    assert found, f"no probe result (exit {done.returncode}): {done.stderr[-2000:]}"
    data: dict[str, Any] = json.loads(html.unescape(found.group(1)))
    return data


def check_page(page: Path, tmp: Path) -> list[str]:
    """Assert ``page`` fits WIDTH px and every link resolves; the links, as resolved."""
    seen = render(page, tmp)
    assert WIDTH - 20 <= seen["client"] <= WIDTH  # less a vertical scroll bar
    assert seen["scroll"] <= seen["client"], f"{page}: {seen['scroll']} px wide"
    probe_uri = page.with_name(".probe-" + page.name).as_uri()
    for link in seen["links"]:
        url = urllib.parse.urlsplit(link)
        assert url.scheme == "file", link  # nothing outside the report's directory
        if url.fragment and link.startswith(probe_uri + "#"):
            assert url.fragment in seen["ids"], link
            continue
        target = Path(urllib.parse.unquote(url.path))
        assert target.is_file(), f"{page}: broken link {link}"
        assert page.parent in target.parents, f"{page}: {link} is outside the report"
    return list(seen["links"])


def test_measurement_sees_overflow(tmp_path: Path) -> None:
    wide = tmp_path / "wide.html"
    wide.write_text('<!DOCTYPE html><html><body><div style="width:2000px">x</div></body></html>')
    seen = render(wide, tmp_path)
    assert seen["scroll"] >= 2000 > seen["client"]


def test_a_report_with_long_names_fits_and_moves(tmp_path: Path) -> None:
    one = scipy_like_result(tmp_path)
    one.tests = TestResults(passed=69874, skipped=7460, xfailed=153, duration=612.4,
                            source="junit-xml")
    one.tail = "E" * 400 + "\n" + "a very long failure line " * 30
    out = tmp_path / "wheelhouse"
    write_run_report(out, [one], "v1.17.1", jobs=1, repository={
        "url": "https://github.com/scipy/scipy.git", "requested_url": None, "ref": "v1.17.1",
        "commit": "a" * 40, "commit_upstream": False, "fetched_url": "https://files." + "x" * 80,
        "sdist_mirror": "/very/long/path/" + "y" * 120,
        "sdist": {"file": "scipy-1.17.1.tar.gz", "url": "https://files." + "x" * 80,
                  "sha256": "b" * 64}})
    links = check_page(out / "report.html", tmp_path)
    assert any(link.endswith("/logs/cp312-linux-x86_64.log") for link in links)
    copied = tmp_path / "copied" / "elsewhere"
    shutil.copytree(out, copied)
    check_page(copied / "report.html", tmp_path)


def test_reports_of_real_runs_fit_and_their_links_survive_the_next_run(
    tmp_path: Path, purepy_repo: FixtureRepo, two_pythons: list[str]
) -> None:
    args = ["build", "--python", ",".join(two_pythons), "-j", "2", "--commit", "v0.1.0",
            "--repo-url", str(purepy_repo.path), "--repo-dir", str(tmp_path / "checkout"),
            "--output", str(tmp_path / "out"), "--work-dir", str(tmp_path / "work")]
    env = {"CONFIG_PATH": str(FIXTURES / "purepy" / "config.sh"),
           "ENV_VARS_PATH": str(FIXTURES / "purepy" / "env_vars.sh")}
    for _ in range(2):
        done = run_wheels(args, env)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr
    current = tmp_path / "out" / "report.html"
    previous = tmp_path / "work" / "previous-wheelhouse" / "report.html"
    for page in (current, previous):
        links = check_page(page, tmp_path)
        logs = [link for link in links if link.endswith(".log")]
        # Each target's log (matrix and section) and the checkout's.
        assert len(logs) == 2 * len(two_pythons) + 1, logs
    # The previous report's logs are that run's, not the new run's files.
    old = (previous.parent / "logs" / f"cp{two_pythons[0].replace('.', '')}-linux-x86_64.log")
    new = tmp_path / "out" / "logs" / old.name
    assert old.read_text() != "" and old.stat().st_ino != new.stat().st_ino
    assert json.loads((previous.parent / "report.json").read_text())["written"] != json.loads(
        (current.parent / "report.json").read_text())["written"]
