"""Inputs that raised a traceback or were silently accepted (issue 19, points 7 and 8): each
is now one ``error:`` line naming the culprit, exit status 2, no traceback, nothing written
and nothing fetched. Run through the real entry points a release manager types.

The documentation's Reliability page (docs/reliability.md) lists these cases; keep the two
in step."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from test_upload_helpers import REPO_ROOT, loopback_env, make_wheel

NOWHERE = "http://127.0.0.1:9/simple/"  # nothing listens: a request would fail differently
TOOLS = {
    "dw": [sys.executable, str(REPO_ROOT / "tools" / "download-wheels.py")],
    "wu": [sys.executable, str(REPO_ROOT / "tools" / "wheel-uploader")],
    "upload": [str(REPO_ROOT / "wheels"), "upload"],
    "openblas": [sys.executable, str(REPO_ROOT / "tools" / "openblas_support.py")],
    "setcommit": [str(REPO_ROOT / "tools" / "set-build-commit")],
}
DW = ["1.0.0", "-u", NOWHERE, "--no-progress", "--expect", "3.12:linux-x86_64"]
UPLOAD_ENV = {"STAGING_UPLOAD_TOKEN": "t0k", "NIGHTLY_UPLOAD_TOKEN": "t0k",
              "STAGING_UPLOAD_URL": "http://127.0.0.1:9/", "NIGHTLY_UPLOAD_URL":
              "http://127.0.0.1:9/"}

# (id, tool, argv ({t} is the test's directory), environment, the error line's fragment)
CASES: list[tuple[str, str, list[str], dict[str, str], str]] = [
    # point 7: were tracebacks
    ("dw-w-name-too-long", "dw", [*DW, "-p", "tinypkg", "-w", "{t}/" + "n" * 5000], {},
     "File name too long"),
    ("dw-manifest-is-a-directory", "dw", [*DW, "-p", "tinypkg", "-w", "{t}/manifest-dir"], {},
     "sha256sums.txt there is not a regular file"),
    ("dw-p-non-ascii", "dw", [*DW, "-p", "nümpy", "-w", "{t}/d"], {},
     "-p 'nümpy': not a project name"),
    ("upload-report-nested", "upload", ["-w", "{t}/nested", "--channel", "staging"],
     UPLOAD_ENV, "report.json: not a valid test report (nested too deeply)"),
    ("upload-nightly-stamp", "upload", ["-w", "{t}/house", "--channel", "nightly"],
     {**UPLOAD_ENV, "MB_NIGHTLY_STAMP": "yesterday"},
     "MB_NIGHTLY_STAMP 'yesterday': not an ISO date and time"),
    ("openblas-cache-dir-dev-null", "openblas", ["--cache-dir", "/dev/null"], {},
     "cache directory /dev/null (--cache-dir, OPENBLAS_CACHE_DIR): exists and is not a "
     "directory"),
    # point 8: were accepted
    ("dw-anaconda-api-ftp", "dw", ["1.0.0", "-p", "tinypkg", "-u", "http://127.0.0.1:9/org",
                                   "--source", "anaconda", "-w", "{t}/d", "--no-gate"],
     {"MB_ANACONDA_API_URL": "ftp://127.0.0.1/api"},
     "MB_ANACONDA_API_URL 'ftp://127.0.0.1/api': unsupported URL scheme ftp://"),
    ("upload-token-var-empty", "upload", ["-w", "{t}/house", "--channel", "staging",
                                          "--token-var", ""], UPLOAD_ENV,
     "--token-var '': empty value"),
    ("dw-p-empty", "dw", [*DW, "-p", "", "-w", "{t}/d"], {}, "-p '': not a project name"),
    ("dw-w-dangling-link", "dw", [*DW, "-p", "tinypkg", "-w", "{t}/dangling"], {},
     "a link to a missing directory; refused"),
    ("upload-report-is-a-directory", "upload", ["-w", "{t}/reportdir", "--channel", "staging"],
     UPLOAD_ENV, "report.json: not a regular file"),
    ("upload-anaconda-without-org", "upload", ["-w", "{t}/house", "--channel", "staging",
                                               "--url", "https://anaconda.org/"], UPLOAD_ENV,
     "'https://anaconda.org/': an anaconda.org channel URL names one organisation"),
    ("upload-nightly-repo-dir-missing", "upload", ["-w", "{t}/house", "--channel", "nightly",
                                                   "--repo-dir", "{t}/nonexistent"],
     UPLOAD_ENV, "nonexistent': not a git checkout"),
    ("wu-config-file-is-a-directory", "wu", ["-u", NOWHERE, "--no-progress", "-w", "{t}/d",
                                             "--config-file", "{t}/confdir", "--expect",
                                             "3.12:linux-x86_64", "tinypkg", "1.0.0"], {},
     "confdir': not a regular file"),
    ("setcommit-azure-is-a-directory", "setcommit", ["--root", "{t}/ci", "v3.0.0"], {},
     "azure-pipelines.yml:1: not a regular file"),
]


def prepare(tmp: Path) -> None:
    (tmp / "manifest-dir" / "sha256sums.txt").mkdir(parents=True)
    (tmp / "nested").mkdir()
    (tmp / "nested" / "report.json").write_text("[" * 200_000)
    make_wheel(tmp / "nested", tag="cp312-cp312-manylinux_2_28_x86_64")
    make_wheel(tmp / "house", tag="cp312-cp312-manylinux_2_28_x86_64")
    (tmp / "reportdir" / "report.json").mkdir(parents=True)
    make_wheel(tmp / "reportdir", tag="cp312-cp312-manylinux_2_28_x86_64")
    (tmp / "dangling").symlink_to(tmp / "not-there")
    (tmp / "confdir").mkdir()
    ci = tmp / "ci"
    ci.mkdir()
    for name in (".travis.yml", "appveyor.yml"):
        (ci / name).write_bytes((REPO_ROOT / name).read_bytes())
    (ci / "azure-pipelines.yml").mkdir()


def snapshot(tmp: Path) -> dict[str, bytes | None]:
    found: dict[str, bytes | None] = {}
    for path in sorted(tmp.rglob("*")):
        key = str(path.relative_to(tmp))
        found[key] = path.read_bytes() if path.is_file() and not path.is_symlink() else None
    return found


@pytest.mark.parametrize(("case", "tool", "argv", "env", "fragment"), CASES,
                         ids=[c[0] for c in CASES])
def test_bad_input_is_one_line_exit_2(case: str, tool: str, argv: list[str],
                                      env: dict[str, str], fragment: str,
                                      tmp_path: Path) -> None:
    prepare(tmp_path)
    before = snapshot(tmp_path)
    full = loopback_env(MB_TOOL_PYTHON=sys.executable, OPENBLAS_CACHE_DIR=str(tmp_path / "c"),
                        **env)
    args = [a.replace("{t}", str(tmp_path)) for a in argv]
    done = subprocess.run([*TOOLS[tool], *args], env=full, capture_output=True, text=True,
                          timeout=120, cwd=tmp_path, check=False)
    lines = [ln for ln in done.stderr.splitlines() if ln.strip()]
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr
    assert fragment in lines[0], lines[0]
    assert len(lines[0]) < 400  # a 5,000-character name is shortened
    assert snapshot(tmp_path) == before
    assert not os.path.lexists(tmp_path / "not-there")


def test_case_count_matches_the_reliability_page() -> None:
    text = (REPO_ROOT / "docs" / "reliability.md").read_text()
    assert f"{len(CASES)} inputs that were tracebacks or silently accepted" in text
