"""Run targets through the lifecycle the CI files run, on this machine, and summarize.

Each target gets its own work directory (environments, wheelhouse, step log, build log);
wheels of targets whose every step passed are staged into the output wheelhouse.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from multibuild.options import RunOptions, Target
from multibuild.wheelinfo import WheelInfo, inspect

# The steps every CI job runs, in order: (name, shell command). CI files call the same.
LIFECYCLE_STEPS: tuple[tuple[str, str], ...] = (
    ("setup", "source multibuild/travis_steps.sh"),
    ("before_install", "before_install"),
    ("clean_code", 'clean_code "$REPO_DIR" "$BUILD_COMMIT"'),
    ("build_wheel", 'build_wheel "$REPO_DIR" "$PLAT"'),
    ("install_run", 'install_run "$PLAT"'),
)
_TAIL_LINES = 20


def step_script(steps: tuple[tuple[str, str], ...] = LIFECYCLE_STEPS) -> str:
    lines = ["set -e", "source multibuild/common_utils.sh", "trap mb_record_exit EXIT"]
    for name, command in steps:
        lines += [f"mb_step_start {name}", command, f"mb_step_end {name}"]
    return "\n".join(lines) + "\n"


@dataclass
class StepResult:
    name: str
    start: float
    end: float | None = None
    status: int | None = None

    @property
    def passed(self) -> bool:
        return self.status == 0


@dataclass
class TargetResult:
    target: Target
    status: int
    log: Path
    steps: list[StepResult] = field(default_factory=list)
    wheels: list[WheelInfo] = field(default_factory=list)
    tail: str = ""

    @property
    def passed(self) -> bool:
        return self.status == 0 and all(s.passed for s in self.steps)

    @property
    def failed_step(self) -> str | None:
        return next((s.name for s in self.steps if not s.passed), None)


def read_step_log(path: Path) -> list[StepResult]:
    steps: dict[str, StepResult] = {}
    if not path.is_file():
        return []
    for line in path.read_text().splitlines():
        kind, name, stamp, *rest = line.split("\t")
        if kind == "start":
            steps[name] = StepResult(name, float(stamp))
        elif kind == "end" and name in steps:
            steps[name].end = float(stamp)
            steps[name].status = int(rest[0]) if rest else None
    return list(steps.values())


def target_environment(
    options: RunOptions, target: Target, work: Path, environ: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The target's environment: ``environ`` (default: this process's; a replayed CI job
    passes its own) with the target's variables on top."""
    env = dict(os.environ if environ is None else environ)
    env.update(
        MB_PYTHON_VERSION=target.python,
        PLAT=target.plat,
        BUILD_COMMIT=options.build_commit,
        REPO_DIR=options.repo_dir,
        CONFIG_PATH=options.config_path,
        WHEEL_SDIR=str(work / "wheelhouse"),
        MB_WORK_DIR=str(work),
        MB_STEP_LOG=str(work / "steps.tsv"),
        MB_ROOT=str(options.root),
    )
    if options.repo_url:
        env["REPO_URL"] = options.repo_url
    if options.env_vars_path:
        env["ENV_VARS_PATH"] = options.env_vars_path
    # The target's shell must not inherit the tool's virtual environment.
    env.pop("VIRTUAL_ENV", None)
    return env


def run_target(
    options: RunOptions, target: Target, *, echo: bool = True,
    environ: Mapping[str, str] | None = None,
) -> TargetResult:
    work = options.work_dir / target.id
    shutil.rmtree(work, ignore_errors=True)
    (work / "wheelhouse").mkdir(parents=True)
    log_path = work / "build.log"
    env = target_environment(options, target, work, environ)
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            ["bash", "-c", step_script()], cwd=options.root, env=env,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace",
        )
        assert proc.stdout is not None
        for line in proc.stdout:
            log.write(line)
            if echo:
                sys.stdout.write(f"[{target.id}] {line}")
                sys.stdout.flush()
        status = proc.wait()
    steps = read_step_log(work / "steps.tsv")
    result = TargetResult(target, status, log_path, steps)
    result.wheels = [inspect(p) for p in sorted((work / "wheelhouse").glob("*.whl"))]
    if not result.passed:
        result.tail = "\n".join(log_path.read_text(errors="replace").splitlines()[-_TAIL_LINES:])
    return result


def stage(result: TargetResult, output_dir: Path) -> None:
    """Copy a passing target's wheels into the output wheelhouse (temp name, then rename)."""
    if not result.passed:
        return
    output_dir.mkdir(parents=True, exist_ok=True)
    staged = []
    for wheel in result.wheels:
        fd, tmp = tempfile.mkstemp(dir=output_dir, prefix=".staging-", suffix=".whl")
        os.close(fd)
        shutil.copyfile(wheel.path, tmp)
        target = output_dir / wheel.path.name
        os.replace(tmp, target)
        staged.append(inspect(target))
    result.wheels = staged


def run_all(
    options: RunOptions, *, echo: bool = True, environ: Mapping[str, str] | None = None
) -> list[TargetResult]:
    results = []
    for target in options.targets:
        started = time.time()
        result = run_target(options, target, echo=echo, environ=environ)
        stage(result, options.output_dir)
        verdict = "passed" if result.passed else f"FAILED at {result.failed_step}"
        print(f"[{target.id}] {verdict} in {time.time() - started:.0f}s", flush=True)
        results.append(result)
    return results
