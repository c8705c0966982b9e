"""-j: targets built at the same time, each isolated (own checkout, environments, wheelhouse,
log), produce the same wheels as one after another, with whole logs instead of interleaving."""

from __future__ import annotations

import json
import subprocess
import zipfile
from pathlib import Path
from typing import Any

import pytest
from conftest import FIXTURES, FixtureRepo, run_wheels

from multibuild.run.runner import read_step_log


def build(tmp: Path, repo: FixtureRepo, pythons: list[str],
          jobs: int) -> subprocess.CompletedProcess[str]:
    return run_wheels(
        ["build", "--python", ",".join(pythons), "--commit", "v0.1.0", "-j", str(jobs),
         "--repo-url", str(repo.path), "--repo-dir", str(tmp / "checkout"),
         "--output", str(tmp / "out"), "--work-dir", str(tmp / "work")],
        {"CONFIG_PATH": str(FIXTURES / "blasdot" / "config.sh"),
         "ENV_VARS_PATH": str(FIXTURES / "blasdot" / "env_vars.sh")},
    )


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory, blasdot_repo: FixtureRepo,
         two_pythons: list[str]) -> dict[int, Path]:
    found = {}
    for jobs in (1, 2):
        tmp = tmp_path_factory.mktemp(f"j{jobs}")
        done = build(tmp, blasdot_repo, two_pythons, jobs)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr
        (tmp / "stdout.txt").write_text(done.stdout)
        found[jobs] = tmp
    return found


def describe(wheel: Path) -> tuple[str, list[str], str]:
    with zipfile.ZipFile(wheel) as archive:
        names = sorted(archive.namelist())
        wheel_meta = next(n for n in names if n.endswith(".dist-info/WHEEL"))
        tags = sorted(ln for ln in archive.read(wheel_meta).decode().splitlines()
                      if ln.startswith("Tag:"))
    return wheel.name, names, "\n".join(tags)


def test_parallel_wheels_match_sequential_wheels(runs: dict[int, Path]) -> None:
    sequential = sorted((runs[1] / "out").glob("*.whl"))
    parallel = sorted((runs[2] / "out").glob("*.whl"))
    assert len(sequential) == 2
    assert [describe(w) for w in parallel] == [describe(w) for w in sequential]
    reports = [json.loads((runs[j] / "out" / "report.json").read_text()) for j in (1, 2)]
    assert reports[1]["jobs"] == 2

    def shape(report: dict[str, Any]) -> list[tuple[Any, ...]]:
        return [(t["id"], t["passed"], [(w["file"], w["bundled"]) for w in t["wheels"]])
                for t in report["targets"]]

    assert shape(reports[1]) == shape(reports[0])


def test_targets_ran_at_the_same_time_in_isolation(runs: dict[int, Path],
                                                   two_pythons: list[str]) -> None:
    work = runs[2] / "work"
    ids = [f"cp{p.replace('.', '')}-linux-x86_64" for p in two_pythons]
    spans = {}
    for target in ids:
        steps = read_step_log(work / target / "steps.tsv")
        spans[target] = (steps[0].start, steps[-1].end)
        # Own checkout, build environment and test environment.
        for sub in ("src/checkout/setup.py", "venv/bin/python", "test-venv/bin/python"):
            assert (work / target / sub).exists(), sub
    (a0, a1), (b0, b1) = spans.values()
    assert a1 is not None and b1 is not None
    assert a0 < b1 and b0 < a1  # the two runs overlapped


def test_parallel_output_is_whole_logs_not_interleaved(runs: dict[int, Path],
                                                       two_pythons: list[str]) -> None:
    out = (runs[2] / "stdout.txt").read_text()
    ids = [f"cp{p.replace('.', '')}-linux-x86_64" for p in two_pythons]
    for target in ids:
        other = next(i for i in ids if i != target)
        start = out.index(f"==== {target}: ")
        end = out.index(f"==== end of {target}", start)
        block = out[start:end]
        assert f"---- {target}: install_run: passed" in block
        assert other not in block.split("\n", 1)[1]  # nothing of the other target inside
    # Sequential runs stream, each line tagged with its target.
    sequential = (runs[1] / "stdout.txt").read_text()
    assert f"[{ids[0]}] ---- {ids[0]}: build_wheel" in sequential


def test_jobs_must_be_positive(tmp_path: Path) -> None:
    done = run_wheels(["build", "-j", "0", "--commit", "v1", "--repo-dir", str(tmp_path)])
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1].startswith("error: -j 0:")
