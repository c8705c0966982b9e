"""What a run records about what it built: the repository URL, the ref as written and the
resolved commit, the project version, the Python and tool versions, and the compiler runtimes
(libgfortran, libquadmath) the repair tool grafted, in report.json, report.html and the
summary."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

from conftest import FixtureRepo, git
from rich.console import Console
from test_report import validate
from test_upload_helpers import make_wheel

from multibuild.build.wheelinfo import inspect
from multibuild.run.options import Target
from multibuild.run.report import checkout_record, write_run_report
from multibuild.run.runner import StepResult, TargetResult
from multibuild.run.summary import print_summary

RUNTIMES = ("libgfortran-040039e1.so.5.0.0", "libquadmath-96973f99.so.0.0.0")


def scipy_like_result(tmp: Path) -> TargetResult:
    target = Target("3.12", "x86_64")
    work = tmp / "work" / target.id
    work.mkdir(parents=True)
    log = work / "build.log"
    log.write_text(
        "  The Meson build system\n  Version: 1.9.1\n"
        "  Fortran compiler for the host machine: gfortran (gcc 12.2.0 \"GNU Fortran\")\n"
        "  Found ninja-1.13.0 at /tmp/overlay/bin/ninja\n")
    wheel = make_wheel(work / "wheelhouse", name="scipy", version="1.17.1",
                       tag="cp312-cp312-manylinux_2_27_x86_64")
    with zipfile.ZipFile(wheel, "a") as archive:
        for lib in ("libscipy_openblas-b75cc656.so", *RUNTIMES):
            archive.writestr(f"scipy.libs/{lib}", b"\x7fELF")
    t0 = 1_700_000_000.0
    steps = [StepResult(n, t0 + i, t0 + i + 1, 0)
             for i, n in enumerate(("setup", "before_install", "clean_code", "build_wheel",
                                    "install_run"))]
    return TargetResult(target, 0, log, steps, [inspect(wheel)], started=t0, ended=t0 + 6)


def test_report_records_source_versions_and_compiler_runtimes(
    tmp_path: Path, purepy_repo: FixtureRepo
) -> None:
    checkout = tmp_path / "checkout"
    git(tmp_path, "clone", "-q", str(purepy_repo.path), str(checkout))
    git(checkout, "checkout", "-q", "v0.1.0")
    repository = checkout_record(checkout, "v0.1.0", "https://example.invalid/purepy.git")
    assert repository == {
        "url": str(purepy_repo.path), "requested_url": "https://example.invalid/purepy.git",
        "fetched_url": str(purepy_repo.path), "ref": "v0.1.0",
        "commit": purepy_repo.rev("v0.1.0"), "commit_upstream": True, "sdist_mirror": None,
        "sdist": None,
    }
    out = tmp_path / "wheelhouse"
    path = write_run_report(out, [scipy_like_result(tmp_path)], "v0.1.0",
                            repository=repository)
    data = json.loads(path.read_text())
    validate(data)
    assert data["repository"]["commit"] == purepy_repo.rev("v0.1.0")
    (target,) = data["targets"]
    assert (target["project"], target["project_version"]) == ("scipy", "1.17.1")
    assert target["python_version"] == "3.12"  # no build environment left: the target's
    assert target["tools"]["meson"] == "1.9.1" and target["tools"]["ninja"] == "1.13.0"
    assert target["tools"]["fortran compiler"].startswith("gfortran (gcc 12.2.0")
    assert "auditwheel" in target["tools"] and "uv" in target["tools"]
    (wheel,) = target["wheels"]
    assert wheel["compiler_runtimes"] == list(RUNTIMES)
    page = (out / "report.html").read_text()
    assert (f"source: v0.1.0 = {purepy_repo.rev('v0.1.0')} from {purepy_repo.path}</p>"
            in page)
    assert "compiler runtimes bundled: " + ", ".join(RUNTIMES) in page
    assert "scipy 1.17.1; Python 3.12" in page


def test_summary_calls_out_the_bundled_gcc_runtime(tmp_path: Path) -> None:
    stream = io.StringIO()
    print_summary([scipy_like_result(tmp_path)], Console(file=stream, width=200))
    text = stream.getvalue()
    assert ("cp312-linux-x86_64: compiler runtimes bundled in "
            "scipy-1.17.1-cp312-cp312-manylinux_2_27_x86_64.whl: " + ", ".join(RUNTIMES)) in text


def test_checkout_record_of_a_directory_that_is_no_checkout(tmp_path: Path) -> None:
    assert checkout_record(tmp_path, "main") == {
        "url": None, "requested_url": None, "fetched_url": None, "ref": "main",
        "commit": None, "commit_upstream": None, "sdist_mirror": None, "sdist": None}


def test_summary_shows_no_wheel_for_a_target_that_staged_none(tmp_path: Path) -> None:
    stopped = scipy_like_result(tmp_path)  # it built its wheel, then a signal came
    stopped.interrupted = True
    stream = io.StringIO()
    print_summary([stopped], Console(file=stream, width=250))
    text = stream.getvalue()
    assert "- (none staged)" in text and "interrupted in" in text
    assert "scipy-1.17.1" not in text and "MB" not in text and "compiler runtimes" not in text
