"""Bad input to the release tools (download-wheels, wheel-uploader, ./wheels upload,
openblas_support.py, the sdist mirror): each one a single ``error:`` line naming the culprit, a
non-zero exit, no traceback, nothing written, and nothing fetched first.

The documentation's Reliability page (docs/reliability.md) lists these cases; keep the two
in step.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest
from test_upload_helpers import REPO_ROOT, loopback_env

from multibuild.deps import openblas
from multibuild.release import download, upload, wheel_uploader

# Nothing listens there: a tool that tried to fetch before refusing its input would fail with
from multibuild.source import mirror

# a connection error instead of the expected line.
NOWHERE = "http://127.0.0.1:9/simple/"
DW = ["1.0.0", "-p", "tinypkg", "-u", NOWHERE, "--no-progress"]
WU = ["-u", NOWHERE, "--no-progress", "--repository-url", NOWHERE]
EXP = ["--expect", "3.12:linux-x86_64"]

# (id, tool, arguments ({dest}, {file}, {tmp} are replaced), environment, expected fragment)
CASES: list[tuple[str, str, list[str], dict[str, str], str]] = [
    ("dw-url-not-a-url", "dw", ["1.0.0", "-u", "notaurl", "-w", "{dest}", *EXP],
     {}, "-u 'notaurl': not a URL"),
    ("dw-url-file", "dw", ["1.0.0", "-u", "file:///srv/wheels", "-w", "{dest}", *EXP],
     {}, "unsupported URL scheme file://"),
    ("dw-url-ftp", "dw", ["1.0.0", "-u", "ftp://127.0.0.1/wheels", "-w", "{dest}", *EXP],
     {}, "unsupported URL scheme ftp://"),
    ("dw-url-malformed", "dw", ["1.0.0", "-u", "http://[::1/x", "-w", "{dest}", *EXP],
     {}, "malformed URL"),
    ("dw-url-no-host", "dw", ["1.0.0", "-u", "https:///org", "-w", "{dest}", *EXP],
     {}, "malformed URL (no host)"),
    ("dw-api-url", "dw", [*DW, "--api-url", "ftp://x/", "-w", "{dest}", *EXP],
     {}, "--api-url 'ftp://x/': unsupported URL scheme"),
    ("dw-w-is-a-file", "dw", [*DW, "-w", "{file}", *EXP], {}, "exists and is not a directory"),
    ("dw-timeout-negative", "dw", [*DW, "-w", "{dest}", "--timeout", "-1"],
     {}, "argument --timeout: '-1' must be a positive number of seconds"),
    ("dw-timeout-zero", "dw", [*DW, "-w", "{dest}", "--timeout", "0"],
     {}, "argument --timeout: '0' must be a positive"),
    ("dw-timeout-text", "dw", [*DW, "-w", "{dest}", "--timeout", "soon"],
     {}, "argument --timeout: 'soon' is not a number of seconds"),
    ("dw-timeout-inf", "dw", [*DW, "-w", "{dest}", "--timeout", "inf"],
     {}, "argument --timeout: 'inf' must be a positive"),
    ("dw-deadline-zero", "dw", [*DW, "-w", "{dest}", "--deadline", "0"],
     {}, "argument --deadline: '0' must be a positive"),
    ("dw-attempts-zero", "dw", [*DW, "-w", "{dest}", "--attempts", "0"],
     {}, "argument --attempts: '0' must be 1 or more"),
    ("dw-attempts-negative", "dw", [*DW, "-w", "{dest}", "--attempts", "-3"],
     {}, "argument --attempts: '-3' must be 1 or more"),
    ("dw-jobs-zero", "dw", [*DW, "-w", "{dest}", "-j", "0"],
     {}, "argument -j/--jobs: '0' must be 1 or more"),
    ("dw-jobs-negative", "dw", [*DW, "-w", "{dest}", "-j", "-2"],
     {}, "argument -j/--jobs: '-2' must be 1 or more"),
    ("dw-jobs-text", "dw", [*DW, "-w", "{dest}", "-j", "many"],
     {}, "argument -j/--jobs: 'many' is not a whole number"),
    ("dw-expect-bad", "dw", [*DW, "-w", "{dest}", "--expect", "bad"],
     {}, "--expect 'bad': use PYTHON:PLATFORM"),
    ("dw-version-bad", "dw", ["not.a.version!", "-p", "tinypkg", "-u", NOWHERE, "-w", "{dest}"],
     {}, "invalid version 'not.a.version!'"),
    ("dw-source-unknown", "dw", [*DW, "-w", "{dest}", "--source", "ftp"],
     {}, "argument --source: invalid choice: 'ftp'"),
    ("wu-url-not-a-url", "wu", ["-u", "notaurl", "-w", "{dest}", *EXP, "tinypkg", "1.0.0"],
     {}, "-u 'notaurl': not a URL"),
    ("wu-url-ftp", "wu", ["-u", "ftp://h/x", "-w", "{dest}", *EXP, "tinypkg", "1.0.0"],
     {}, "unsupported URL scheme ftp://"),
    ("wu-w-is-a-file", "wu", [*WU, "-w", "{file}", *EXP, "tinypkg", "1.0.0"],
     {}, "exists and is not a directory"),
    ("wu-no-such-repo", "wu", ["-u", NOWHERE, "-w", "{dest}", "-r", "nosuchrepo",
                               "--config-file", "{tmp}/pypirc", *EXP, "tinypkg", "1.0.0"],
     {}, "-r nosuchrepo: no such repository in"),
    ("wu-pypirc-broken", "wu", ["-u", NOWHERE, "-w", "{dest}", "-r", "pypi",
                                "--config-file", "{tmp}/broken-pypirc", *EXP, "tinypkg",
                                "1.0.0"], {}, "not a valid .pypirc"),
    ("wu-pypirc-no-url", "wu", ["-u", NOWHERE, "-w", "{dest}", "-r", "mine",
                                "--config-file", "{tmp}/nourl-pypirc", *EXP, "tinypkg",
                                "1.0.0"], {}, "-r mine: the [mine] section"),
    ("wu-repository-url-bad", "wu", ["-u", NOWHERE, "-w", "{dest}", "--repository-url",
                                     "upload.pypi.org", *EXP, "tinypkg", "1.0.0"],
     {}, "--repository-url 'upload.pypi.org': not a URL"),
    ("wu-timeout-negative", "wu", [*WU, "-w", "{dest}", "--timeout", "-5", "tinypkg", "1.0.0"],
     {}, "argument --timeout: '-5' must be a positive"),
    ("wu-attempts-zero", "wu", [*WU, "-w", "{dest}", "--attempts", "0", "tinypkg", "1.0.0"],
     {}, "argument --attempts: '0' must be 1 or more"),
    ("wu-upload-timeout-zero", "wu", [*WU, "-w", "{dest}", "--upload-timeout", "0", "tinypkg",
                                      "1.0.0"], {}, "argument --upload-timeout"),
    ("wu-expect-bad", "wu", [*WU, "-w", "{dest}", "--expect", "3.12", "tinypkg", "1.0.0"],
     {}, "--expect '3.12': use PYTHON:PLATFORM"),
    ("wu-version-bad", "wu", [*WU, "-w", "{dest}", *EXP, "tinypkg", "latest"],
     {}, "invalid version 'latest'"),
    ("upload-junk-wheels", "upload", ["-w", "{tmp}/junk", "--channel", "staging"],
     {"STAGING_UPLOAD_TOKEN": "t0k", "STAGING_UPLOAD_URL": NOWHERE},
     "junk/tinypkg-1.0.0-py3-none-any.whl: not a complete zip archive"),
    ("upload-html-wheel", "upload", ["-w", "{tmp}/html", "--channel", "staging"],
     {"STAGING_UPLOAD_TOKEN": "t0k", "STAGING_UPLOAD_URL": NOWHERE},
     "an HTML or JSON page, not a wheel; nothing uploaded"),
    ("upload-w-is-a-file", "upload", ["-w", "{file}", "--channel", "staging"],
     {}, "is not a directory"),
    ("upload-timeout-negative", "upload", ["--timeout", "-1"],
     {}, "argument --timeout: '-1' must be a positive"),
    ("upload-attempts-zero", "upload", ["--attempts", "0"],
     {}, "argument --attempts: '0' must be 1 or more"),
    ("upload-backoff-negative", "upload", ["--backoff", "-2"],
     {}, "argument --backoff"),
    ("upload-url-bad", "upload", ["--channel", "staging", "--url", "anaconda.org/org"],
     {}, "--url 'anaconda.org/org': not a URL"),
    ("upload-env-url-ftp", "upload", ["--channel", "staging"],
     {"STAGING_UPLOAD_URL": "ftp://h/x"}, "STAGING_UPLOAD_URL 'ftp://h/x': unsupported"),
    ("openblas-base-url", "openblas", ["--source", "tarball", "--base-url", "notaurl"],
     {}, "OpenBLAS base URL 'notaurl': not a URL"),
    ("openblas-base-url-ftp", "openblas", ["--source", "tarball", "--base-url", "ftp://h/{version}"],
     {}, "unsupported URL scheme ftp://"),
    ("openblas-retries", "openblas", ["--source", "tarball", "--base-url", NOWHERE],
     {"OPENBLAS_RETRIES": "many", "OPENBLAS_SHA256_TABLE": "{tmp}/table.json"},
     "OPENBLAS_RETRIES='many'"),
    ("mirror-index-url", "mirror", ["numpy", "2.2.6", "--dest", "{dest}", "--index-url",
                                    "notaurl"], {}, "sdist index 'notaurl': not a URL"),
    ("mirror-attempts", "mirror", ["numpy", "2.2.6", "--dest", "{dest}", "--index-url", NOWHERE],
     {"MB_DOWNLOAD_ATTEMPTS": "x"}, "MB_DOWNLOAD_ATTEMPTS='x'"),
]

MAINS: dict[str, Callable[[Sequence[str]], int]] = {
    "dw": lambda argv: download.main(argv, root=REPO_ROOT),
    "wu": lambda argv: wheel_uploader.main(argv, root=REPO_ROOT),
    "upload": lambda argv: upload.main(argv),
    "openblas": lambda argv: openblas.main(argv),
    "mirror": lambda argv: mirror.main(argv),
}


def prepare(tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("not a directory\n")
    (tmp_path / "broken-pypirc").write_text("[pypi\nusername = x\n")
    (tmp_path / "nourl-pypirc").write_text("[mine]\nusername = x\n")
    (tmp_path / "table.json").write_text(
        '{"files": {"openblas-v0.3.10-manylinux2014_x86_64.tar.gz": "' + "0" * 64 + '"}}')
    for name, data in (("junk", b"PK\x03\x04 not really a zip"),
                       ("html", b"<!DOCTYPE html><html>Sign in</html>")):
        (tmp_path / name).mkdir()
        (tmp_path / name / "tinypkg-1.0.0-py3-none-any.whl").write_bytes(data)


@pytest.mark.parametrize(("case", "tool", "argv", "env", "fragment"), CASES,
                         ids=[c[0] for c in CASES])
def test_bad_input_is_one_line(case: str, tool: str, argv: list[str], env: dict[str, str],
                               fragment: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                               capsys: pytest.CaptureFixture[str]) -> None:
    prepare(tmp_path)
    subst = {"{dest}": str(tmp_path / "dest"), "{file}": str(tmp_path / "afile"),
             "{tmp}": str(tmp_path)}

    def fill(text: str) -> str:
        for key, value in subst.items():
            text = text.replace(key, value)
        return text

    for name in ("BUILD_COMMIT", "BUILD_REASON", "TWINE_PASSWORD", "MB_ANACONDA_API_URL",
                 "OPENBLAS_BASE_URL", "STAGING_UPLOAD_URL", "STAGING_UPLOAD_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("OPENBLAS_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("MB_CACHE_DIR", str(tmp_path / "mbcache"))
    for name, value in env.items():
        monkeypatch.setenv(name, fill(value))
    try:
        code = MAINS[tool]([fill(a) for a in argv])
    except SystemExit as exc:
        code = exc.code  # type: ignore[assignment]
    out, err = capsys.readouterr()
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert code not in (0, None), (out, err)
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert fragment in lines[0], lines[0]
    assert not (tmp_path / "dest").exists()
    assert not (tmp_path / "cache").exists() or not any((tmp_path / "cache").rglob("*.tar.gz"))


def test_bad_input_count_matches_the_reliability_page() -> None:
    text = (REPO_ROOT / "docs" / "reliability.md").read_text()
    assert f"{len(CASES)} bad inputs to the release tools" in text


def test_no_traceback_end_to_end(tmp_path: Path) -> None:
    """The same refusals through the real entry points (tools/, ./wheels upload)."""
    prepare(tmp_path)
    runs = [
        [sys.executable, str(REPO_ROOT / "tools" / "download-wheels.py"), "1.0.0", "-u",
         "notaurl", "-w", str(tmp_path / "dest"), *EXP],
        [sys.executable, str(REPO_ROOT / "tools" / "wheel-uploader"), "-u", NOWHERE, "-w",
         str(tmp_path / "afile"), "tinypkg", "1.0.0"],
        [sys.executable, str(REPO_ROOT / "tools" / "openblas_support.py"), "--source",
         "tarball", "--base-url", "notaurl"],
        [str(REPO_ROOT / "wheels"), "upload", "-w", str(tmp_path / "junk"), "--channel",
         "staging"],
    ]
    for cmd in runs:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=tmp_path,
                              env=loopback_env(STAGING_UPLOAD_TOKEN="t0k"))
        lines = [ln for ln in done.stderr.splitlines() if ln.strip()]
        assert done.returncode != 0 and "Traceback" not in done.stderr, done.stderr
        assert lines[-1].startswith("error: ") and len(
            [ln for ln in lines if ln.startswith("error:")]) == 1, done.stderr


def test_upload_needs_no_build_commit(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``./wheels upload`` on a push: the channel comes from the event, no commit needed."""
    from test_upload_helpers import make_wheel

    house = tmp_path / "wheelhouse"
    make_wheel(house, tag="cp312-cp312-manylinux_2_28_x86_64")
    env = loopback_env(BUILD_REASON="IndividualCI", STAGING_UPLOAD_URL=NOWHERE)
    assert "BUILD_COMMIT" not in env
    assert upload.main(["-w", str(house)], env) == 0
    err = capsys.readouterr().err
    assert "BUILD_COMMIT" not in err and "warning: STAGING_UPLOAD_TOKEN is not set" in err
