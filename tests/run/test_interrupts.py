"""Signals to a running ``./wheels build`` (and ``./wheels replay``): every process the run
started is gone, the report says the run was interrupted and which targets were, the exit
status is 128 + the signal, and the output wheelhouse holds this run's files only.

Real signals to the real front door while a real build of the purepy fixture is in its
build_wheel step, held there deterministically by a config.sh whose pre_build sleeps."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import jsonschema
import pytest
from conftest import FIXTURES, REPO_ROOT, FixtureRepo, run_wheels, tool_env

from multibuild.run.report import SCHEMA

# pre_build leaves a half-made wheel (as a build stopped midway does), starts a marker process
# (its pid in the target's work dir) and waits for it, so the target sits in build_wheel until
# a signal stops it.
SLOW_CONFIG = """
function pre_build {{
    {ignore_term}
    python3 -c 'import sys, zipfile; zipfile.ZipFile(sys.argv[1], "w").writestr("x", "half")' \\
        "$WHEEL_SDIR/purepy-0.1.0-py3-none-any.whl"
    sleep 300 &
    echo $! > "$MB_WORK_DIR/marker.pid"
    wait $!
}}
function run_tests {{
    python -c 'import purepy; assert purepy.answer() == 42'
}}
"""


def tid(python: str) -> str:
    return f"cp{python.replace('.', '')}-linux-x86_64"


def slow_config(tmp: Path, *, ignore_term: bool = False) -> Path:
    """A config.sh holding build_wheel in pre_build; ``ignore_term``: the step's shell and
    everything it starts ignore SIGTERM (only SIGKILL stops them)."""
    path = tmp / "slow_config.sh"
    path.write_text(SLOW_CONFIG.format(ignore_term="trap '' TERM" if ignore_term else ":"))
    return path


def fixture_args(tmp: Path, repo: FixtureRepo) -> list[str]:
    return ["--commit", "v0.1.0", "--repo-url", str(repo.path),
            "--repo-dir", str(tmp / "checkout"), "--output", str(tmp / "out"),
            "--work-dir", str(tmp / "work")]


def fixture_env(config: Path, **extra: str) -> dict[str, str]:
    return {"CONFIG_PATH": str(config),
            "ENV_VARS_PATH": str(FIXTURES / "purepy" / "env_vars.sh"), **extra}


def state(pid: int) -> str | None:
    """The process state letter of ``pid`` (Z: a zombie, dead), or None when gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat[stat.rfind(")") + 2:].split()[0]


def pgid_of(pid: int) -> int:
    stat = Path(f"/proc/{pid}/stat").read_text()
    return int(stat[stat.rfind(")") + 2:].split()[2])


def living_in_group(pgid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if pgid_of(int(entry.name)) == pgid and state(int(entry.name)) not in (None, "Z"):
                    found.append(int(entry.name))
            except (OSError, ValueError):
                continue
    return found


@dataclass
class Running:
    proc: subprocess.Popen[str]
    stdout: Path
    stderr: Path

    def output(self) -> str:
        return self.stdout.read_text() + self.stderr.read_text()


def start(tmp: Path, args: list[str], env: dict[str, str]) -> Running:
    """``./wheels ARGS`` as a user starts it, in a session of its own (as a terminal would)."""
    out, err = tmp / "stdout.txt", tmp / "stderr.txt"
    with out.open("w") as stdout, err.open("w") as stderr:
        proc = subprocess.Popen([str(REPO_ROOT / "wheels"), *args], cwd=REPO_ROOT,
                                env=tool_env(env), stdout=stdout, stderr=stderr, text=True,
                                start_new_session=True)
    return Running(proc, out, err)


def wait_in_build_wheel(run: Running, target_dirs: list[Path], timeout: float = 300) -> list[int]:
    """Wait until every target is in build_wheel with its marker running; their pids."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pids = []
        for work in target_dirs:
            steps = work / "steps.tsv"
            marker = work / "marker.pid"
            if (steps.is_file() and "start\tbuild_wheel\t" in steps.read_text()
                    and marker.is_file() and marker.read_text().strip()):
                pids.append(int(marker.read_text()))
        if len(pids) == len(target_dirs) and all(state(p) not in (None, "Z") for p in pids):
            return pids
        if run.proc.poll() is not None:
            pytest.fail(f"the build ended before build_wheel: {run.output()[-3000:]}")
        time.sleep(0.2)
    run.proc.kill()
    pytest.fail(f"no target reached build_wheel in {timeout}s: {run.output()[-3000:]}")


def report_of(output: Path) -> dict[str, Any]:
    data = json.loads((output / "report.json").read_text())
    jsonschema.Draft202012Validator(json.loads(SCHEMA.read_text()),
                                    format_checker=jsonschema.FormatChecker()).validate(data)
    return cast("dict[str, Any]", data)


def test_sigterm_stops_the_build_leaves_no_process_and_reports_it(
    tmp_path: Path, purepy_repo: FixtureRepo, two_pythons: list[str]
) -> None:
    first, second = two_pythons
    # A previous, passing run: its wheel and report must not survive in the wheelhouse.
    done = run_wheels(["build", "--python", first, *fixture_args(tmp_path, purepy_repo)],
                      fixture_env(FIXTURES / "purepy" / "config.sh"))
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr
    out, work = tmp_path / "out", tmp_path / "work"
    assert [p.name for p in out.glob("*.whl")] == ["purepy-0.1.0-py3-none-any.whl"]

    run = start(tmp_path, ["build", "--python", f"{first},{second}", "-j", "1",
                           *fixture_args(tmp_path, purepy_repo)],
                fixture_env(slow_config(tmp_path)))
    (marker,) = wait_in_build_wheel(run, [work / tid(first)])
    # ./wheels execs Python: the pid a user's signal reaches is the runner itself.
    cmdline = Path(f"/proc/{run.proc.pid}/cmdline").read_bytes().split(b"\0")
    group = pgid_of(marker)
    assert group != run.proc.pid and living_in_group(group)
    os.kill(run.proc.pid, signal.SIGTERM)  # the runner only, not its process groups
    assert run.proc.wait(timeout=60) == 143, run.output()[-3000:]
    assert [b"-m", b"multibuild"] == cmdline[1:3]

    # Nothing the run started is left: not the marker, not anything in its step's group.
    assert state(marker) in (None, "Z")
    assert living_in_group(group) == []
    stderr = run.stderr.read_text()
    assert "wheels: SIGTERM received: stopping 1 running step script(s)" in stderr
    assert (f"{tid(first)}: stopped in build_wheel; log: {work / tid(first) / 'build.log'}"
            in stderr)
    assert f"{tid(second)}: not started" in stderr
    assert "Traceback" not in run.output()

    data = report_of(out)
    assert (data["interrupted"], data["signal"], data["passed"]) == (True, "SIGTERM", False)
    assert data["summary"] == {"targets": 2, "passed": 0, "failed": 0, "interrupted": 2}
    targets = {t["id"]: t for t in data["targets"]}
    stopped, waiting = targets[tid(first)], targets[tid(second)]
    assert (stopped["result"], stopped["passed"], stopped["wheels"]) == ("interrupted", False, [])
    assert stopped["failed_step"] == "build_wheel"
    assert [s["result"] for s in stopped["steps"]] == [
        "passed", "passed", "passed", "interrupted"]
    assert (waiting["result"], waiting["passed"], waiting["steps"]) == ("not started", False, [])
    assert "Interrupted by SIGTERM" in (out / "report.html").read_text()

    # The step says it was interrupted, not that it failed; the run's time is the run's,
    # the checkout included.
    log = (work / tid(first) / "build.log").read_text()
    assert f"---- {tid(first)}: build_wheel: INTERRUPTED by SIGTERM after " in log
    assert stopped["steps"][-1]["signal"] == "SIGTERM"
    assert "build_wheel: FAILED" not in log + run.output()
    assert data["started"] <= data["checkout"]["started"] <= stopped["started"]
    assert data["duration"] >= stopped["duration"] + data["checkout"]["duration"]
    # The summary lists no wheel for a target that staged none.
    assert "purepy-0.1.0-py3-none-any.whl" not in run.stdout.read_text()

    # The wheelhouse is this run's only (with its logs); the previous run's is kept under the
    # work dir.
    assert sorted(p.name for p in out.iterdir()) == ["logs", "report.html", "report.json"]
    previous = work / "previous-wheelhouse"
    assert (previous / "purepy-0.1.0-py3-none-any.whl").is_file()
    assert json.loads((previous / "report.json").read_text())["passed"] is True
    assert [p.name for p in tmp_path.iterdir() if ".staging-" in p.name
            or ".previous-" in p.name] == []

    # A fresh run after the interrupted one compares with the last complete wheel, not with
    # what the signal left half-made: the same bytes.
    fresh = run_wheels(["build", "--fresh", "--python", first,
                        *fixture_args(tmp_path, purepy_repo)],
                       fixture_env(FIXTURES / "purepy" / "config.sh"))
    assert fresh.returncode == 0, fresh.stdout[-3000:] + fresh.stderr
    (target,) = report_of(out)["targets"]
    assert [w["reproduced"] for w in target["wheels"]] == [True]


def test_sigint_to_parallel_targets_kills_what_ignores_sigterm(
    tmp_path: Path, purepy_repo: FixtureRepo, two_pythons: list[str]
) -> None:
    work = tmp_path / "work"
    run = start(tmp_path, ["build", "--python", ",".join(two_pythons), "-j", "2",
                           *fixture_args(tmp_path, purepy_repo)],
                fixture_env(slow_config(tmp_path, ignore_term=True), MB_KILL_GRACE="2"))
    markers = wait_in_build_wheel(run, [work / tid(p) for p in two_pythons])
    groups = [pgid_of(m) for m in markers]
    os.kill(run.proc.pid, signal.SIGINT)  # Ctrl-C
    assert run.proc.wait(timeout=60) == 130, run.output()[-3000:]
    for marker, group in zip(markers, groups):
        assert state(marker) in (None, "Z")  # SIGKILL after the grace
        assert living_in_group(group) == []
    stderr = run.stderr.read_text()
    assert "(SIGTERM, SIGKILL after 2s)" in stderr
    for python in two_pythons:
        assert f"{tid(python)}: stopped in build_wheel" in stderr
    data = report_of(tmp_path / "out")
    assert (data["interrupted"], data["signal"]) == (True, "SIGINT")
    assert [(t["result"], t["passed"]) for t in data["targets"]] == [("interrupted", False)] * 2
    assert list((tmp_path / "out").glob("*.whl")) == []


def test_sigterm_to_a_replayed_job(tmp_path: Path, purepy_repo: FixtureRepo,
                                   pythons: dict[str, Path]) -> None:
    usable = [v for v in ("3.13", "3.12", "3.11", "3.10") if v in pythons]
    if not usable:
        pytest.skip("needs one of CPython 3.10-3.13 on this machine")
    job = f"azure-linux-x86_64-cp{usable[0].replace('.', '')}"
    config = slow_config(tmp_path)
    run = start(tmp_path, [
        "replay", job, "--commit", "v0.1.0", "--repo-url", str(purepy_repo.path),
        "--repo-dir", str(tmp_path / "checkout"), "--set", f"CONFIG_PATH={config}",
        "--set", f"ENV_VARS_PATH={FIXTURES / 'purepy' / 'env_vars.sh'}",
        "--output", str(tmp_path / "out"), "--work-dir", str(tmp_path / "work")], {})
    (marker,) = wait_in_build_wheel(run, [tmp_path / "work" / job / tid(usable[0])])
    os.kill(run.proc.pid, signal.SIGTERM)
    assert run.proc.wait(timeout=60) == 143, run.output()[-3000:]
    assert state(marker) in (None, "Z")
    assert f"replay: {job}: INTERRUPTED" in run.stdout.read_text()
    data = report_of(tmp_path / "out")
    assert (data["interrupted"], data["signal"]) == (True, "SIGTERM")
    assert [t["result"] for t in data["targets"]] == ["interrupted"]


def test_sigterm_to_another_repositorys_replayed_job(tmp_path: Path,
                                                     pythons: dict[str, Path]) -> None:
    """A Travis job of another wheels repository, run line by line in its own shell: a
    signal stops its shell and all it started, and the run reports it."""
    import shutil

    if not pythons:
        pytest.skip("needs a CPython >= 3.9")
    python = max(pythons, key=lambda v: tuple(map(int, v.split("."))))
    repo = tmp_path / "other-wheels"
    repo.mkdir()
    shutil.copytree(REPO_ROOT / "multibuild", repo / "multibuild",
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy2(REPO_ROOT / "pyproject.toml", repo / "pyproject.toml")
    (repo / ".travis.yml").write_text(
        "env:\n  global:\n    - REPO_DIR=proj\n    - BUILD_COMMIT=v1\n"
        f"jobs:\n  include:\n    - env: [MB_PYTHON_VERSION={python}]\n"
        "install:\n  - sleep 300 & echo $! > marker.pid; wait $!\n")
    job = f"travis-linux-x86_64-cp{python.replace('.', '')}"
    run = start(tmp_path, ["replay", job, "--repo", str(repo), "--work-dir",
                           str(tmp_path / "work")], {})
    marker_file = repo / "marker.pid"
    deadline = time.monotonic() + 120
    while not (marker_file.is_file() and marker_file.read_text().strip()):
        if time.monotonic() > deadline or run.proc.poll() is not None:
            run.proc.kill()
            pytest.fail(f"the job did not reach its install line: {run.output()[-3000:]}")
        time.sleep(0.2)
    marker = int(marker_file.read_text())
    os.kill(run.proc.pid, signal.SIGTERM)
    assert run.proc.wait(timeout=60) == 143, run.output()[-3000:]
    assert state(marker) in (None, "Z")
    assert f"replay: {job}: INTERRUPTED" in run.stdout.read_text()
    data = report_of(repo / "wheelhouse")
    assert (data["interrupted"], data["signal"]) == (True, "SIGTERM")
    assert [t["result"] for t in data["targets"]] == ["interrupted"]
