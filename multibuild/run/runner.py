"""Run targets through the lifecycle the CI files run, on this machine, and summarize.

The project is checked out once per run (``clean_code`` in REPO_DIR, as multibuild does); every
target then works on its own copy under its own work directory ``build/<target>/`` (checkout
``src/``, environments, build directory, wheelhouse, step log, ``build.log``), so targets never
share a build tree and can run in parallel (``-j``). The work directory stays between runs:
each run resets only its per-run files (:data:`RUN_FILES`) and keeps the checkout copy, the
environments and the build directory, which the steps reuse while what they were made from is
unchanged (``multibuild.build.incremental``); ``--fresh`` starts from an empty one. Every selected
target is built even when another fails; wheels of targets whose every step passed are staged
into the run's fresh wheelhouse (``multibuild.run.staging``). Each step script runs in a process
group of its own, which a signal to the run kills (``multibuild.core.interrupts``): the run then
starts no further target and marks the unfinished ones interrupted.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from subprocess import PIPE, STDOUT
from typing import TextIO

from rich.table import Table

from multibuild.build.incremental import (
    build_mode_of,
    ccache_by_default,
    read_wheel_record,
    reproduced,
    uv_binary,
    write_wheel_record,
)
from multibuild.build.wheelinfo import WheelInfo, inspect
from multibuild.core.files import atomic_path
from multibuild.core.interpreters import locate
from multibuild.core.interrupts import ProcessGroups
from multibuild.core.platforms import host_os
from multibuild.core.progress import Condenser, interval_from
from multibuild.run import testreuse
from multibuild.run.options import RunOptions, Target
from multibuild.run.testresults import JUNIT_XML, TestResults, collect

# The steps every CI job runs for each target, in order: (name, shell command). CI files reach
# them through ci_step.sh -> ./wheels build. clean_code of REPO_DIR itself runs once per run,
# before any target and before anything is staged (prepare_source); the target's clean_code
# step takes its own copy of that checkout.
LIFECYCLE_STEPS: tuple[tuple[str, str], ...] = (
    ("setup", "source multibuild/travis_steps.sh"),
    ("before_install", "before_install"),
    ("clean_code", 'mb_target_checkout "$MB_SOURCE_DIR" "$REPO_DIR"'),
    ("build_wheel", 'build_wheel "$REPO_DIR" "$PLAT"'),
    ("install_run", 'install_run "$PLAT"'),
)
SOURCE_STEPS: tuple[tuple[str, str], ...] = (
    ("setup", "source multibuild/travis_steps.sh"),
    ("clean_code", 'clean_code "$REPO_DIR" "$BUILD_COMMIT"'),
)
_TAIL_LINES = 20
# What each run of a target writes anew; the rest of its work dir (src/, venv/, test-venv/,
# build-dir/ and the keys beside them, the previous run's wheel hashes) is kept.
RUN_FILES: tuple[str, ...] = ("wheelhouse", "steps.tsv", "build.log", "checkout.json",
                              "ccache-stats.log", JUNIT_XML, "interrupted", "tmp_for_test",
                              testreuse.PENDING, testreuse.REUSED,
                              "toolchain.json", "tested.json")
# Lines CI services interpret (log groups, folds, timers, annotations): never prefixed.
_CI_MARKERS = ("##[", "##vso[", "::", "travis_fold:", "travis_time:")


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
    signal: str | None = None  # the signal that interrupted it (the run wrote its name)

    @property
    def passed(self) -> bool:
        return self.status == 0

    @property
    def duration(self) -> float | None:
        return None if self.end is None else max(0.0, self.end - self.start)


@dataclass
class TargetResult:
    target: Target
    status: int
    log: Path
    steps: list[StepResult] = field(default_factory=list)
    wheels: list[WheelInfo] = field(default_factory=list)
    tail: str = ""
    started: float = 0.0
    ended: float = 0.0
    # Stopped by a signal to the run before it finished (or before it started: no steps).
    interrupted: bool = False
    # Per wheel file: the same bytes as the previous run's wheel of this commit (None: no
    # such wheel to compare with).
    reproduced: dict[str, bool | None] = field(default_factory=dict)
    tests: TestResults | None = None  # what its test run counted (multibuild.run.testresults)
    # Not run again: nothing they depend on changed since {"run": ID, "when": TIME}, whose
    # counts ``tests`` holds (multibuild.run.testreuse).
    tests_reused: dict[str, str] | None = None

    @property
    def built(self) -> bool:
        """Its build step passed: the wheels in its wheelhouse are complete and repaired."""
        return any(s.name == "build_wheel" and s.passed for s in self.steps)

    @property
    def passed(self) -> bool:
        return (not self.interrupted and self.status == 0 and bool(self.steps)
                and all(s.passed for s in self.steps))

    @property
    def failed_step(self) -> str | None:
        if self.passed:
            return None
        return next((s.name for s in self.steps if not s.passed), "start")

    @property
    def duration(self) -> float:
        return max(0.0, self.ended - self.started)


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
            steps[name].signal = rest[1] if len(rest) > 1 and rest[1] else None
    return list(steps.values())


def current_step(path: Path) -> str:
    """The step a running target is in (the last started one), from its step log."""
    steps = read_step_log(path)
    if not steps:
        return "starting"
    last = steps[-1]
    return last.name if last.end is None else f"{last.name} done"


def source_dir(options: RunOptions) -> Path:
    """REPO_DIR as clean_code sees it: relative paths are relative to the repository root."""
    return (options.root / options.repo_dir).resolve()


def target_checkout(options: RunOptions, work: Path) -> Path:
    """The target's own, stable copy of the checkout: ``<work>/src/<REPO_DIR name>``."""
    return work / "src" / (source_dir(options).name or "project")


def target_environment(
    options: RunOptions, target: Target, work: Path, environ: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The target's environment: ``environ`` (default: this process's; a replayed CI job
    passes its own) with the target's variables on top."""
    env = dict(os.environ if environ is None else environ)
    for name, value in options.ci_environment(target).items():
        env.setdefault(name, value)  # the CI job's variables, under the environment's
    env.update(
        MB_PYTHON_VERSION=target.python,
        PLAT=target.plat,
        BUILD_COMMIT=options.build_commit,
        REPO_DIR=str(target_checkout(options, work)),
        MB_GIVEN_REPO_DIR=options.repo_dir,  # what run_tests sees: ../$REPO_DIR
        MB_SOURCE_DIR=str(source_dir(options)),
        MB_TARGET_ID=target.id,
        CONFIG_PATH=options.config_path,
        WHEEL_SDIR=str(work / "wheelhouse"),
        MB_WORK_DIR=str(work),
        MB_STEP_LOG=str(work / "steps.tsv"),
        MB_INTERRUPT_MARK=str(work / "interrupted"),
        MB_ROOT=str(options.root),
    )
    if not env.get("USE_CCACHE"):  # on by default where it helps (native, outside CI)
        env["USE_CCACHE"] = "1" if ccache_by_default(env) else "0"
    env.update(step_shortcuts(env, target))
    if "MB_JOBS" not in env:  # make -j of library builds: share the cores between targets
        env["MB_JOBS"] = str(max(1, (os.cpu_count() or 1) // max(1, options.jobs)))
    if options.repo_url:
        env["REPO_URL"] = options.repo_url
    if options.env_vars_path:
        env["ENV_VARS_PATH"] = options.env_vars_path
    # The target's shell must not inherit the tool's virtual environment.
    env.pop("VIRTUAL_ENV", None)
    return env


def step_shortcuts(env: Mapping[str, str], target: Target) -> dict[str, str]:
    """What the step scripts would otherwise look up with a Python helper each time (every
    run pays for those): the build mode resolved once, the tool environment's uv and, in
    native Linux builds, the target's base interpreter (MB_PYTHON_BASE)."""
    mode = build_mode_of(env)
    found: dict[str, str] = {"MB_BUILD_MODE": mode}
    uv = uv_binary(env)
    if uv and not env.get("MB_UV"):
        found["MB_UV"] = uv
    if mode == "native" and target.os == "linux" == host_os():
        interpreter = locate(target.python)
        if interpreter is not None:
            found["MB_PYTHON_BASE"] = str(interpreter.path)
    return found


class Output:
    """The terminal side of a run: prefixed streaming, whole logs, or a live status board."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stdout
        self.lock = threading.Lock()
        self.interval = interval_from(os.environ)
        self.condensers: dict[str, Condenser] = {}  # progress lines condensed per target

    def line(self, prefix: str, text: str) -> None:
        condenser = self.condensers.setdefault(prefix, Condenser(self.interval))
        if condenser.feed(text) is None:
            return  # in build.log only
        with self.lock:
            raw = text.startswith(_CI_MARKERS)
            self.stream.write(text if raw else f"[{prefix}] {text}")
            self.stream.flush()

    def block(self, title: str, path: Path) -> None:
        """A finished target's whole log at once, so parallel targets never interleave."""
        with self.lock:
            self.stream.write(f"==== {title}: {path} (progress condensed; all of it there)\n")
            lines = path.read_text(errors="replace").splitlines(keepends=True)
            self.stream.writelines(Condenser(self.interval, clock=None).lines(lines))
            self.stream.write(f"==== end of {title}\n")
            self.stream.flush()

    def say(self, text: str) -> None:
        with self.lock:
            self.stream.write(text + "\n")
            self.stream.flush()


def _run_script(
    script: str, cwd: Path, env: Mapping[str, str], log_path: Path,
    echo: Output | None, prefix: str, groups: ProcessGroups,
) -> int:
    """Run a step script in a process group of its own (everything it starts, too), all
    output into ``log_path`` (and streamed to ``echo``)."""
    return run_logged(["bash", "-c", script], cwd, env, log_path, echo, prefix, groups)


def run_logged(
    argv: list[str], cwd: Path, env: Mapping[str, str], log_path: Path,
    echo: Output | None, prefix: str, groups: ProcessGroups, *, append: bool = False,
    on_line: Callable[[str], None] | None = None,
) -> int:
    """Run ``argv`` in a process group of its own (everything it starts, too), all output
    into ``log_path`` (appended to with ``append``), streamed to ``echo`` and handed a line
    at a time to ``on_line`` (a CI service's logging commands). A signal to the run writes
    its name to ``env``'s MB_INTERRUPT_MARK first, so the open step says it was interrupted."""
    mark = Path(env["MB_INTERRUPT_MARK"]) if env.get("MB_INTERRUPT_MARK") else None
    # Bytes, not text: a carriage return (Travis folds and timers) must reach the log as is.
    with log_path.open("ab" if append else "wb") as log:
        if echo is None and on_line is None:
            proc = groups.start(argv, cwd=cwd, env=dict(env), stdout=log, stderr=STDOUT,
                                mark=mark)
            return proc.wait()
        proc = groups.start(argv, cwd=cwd, env=dict(env), stdout=PIPE, stderr=STDOUT,
                            mark=mark)
        assert proc.stdout is not None
        for line in proc.stdout:
            log.write(line)
            log.flush()
            text = line.decode(errors="replace")
            if on_line is not None:
                on_line(text)
            if echo is not None:
                echo.line(prefix, text)
        return proc.wait()


def _tail(log_path: Path) -> str:
    if not log_path.is_file():
        return ""
    lines = log_path.read_text(errors="replace").splitlines()
    return "\n".join(lines[-_TAIL_LINES:])


def run_target(
    options: RunOptions, target: Target, *, echo: bool | Output = True,
    environ: Mapping[str, str] | None = None, groups: ProcessGroups | None = None,
) -> TargetResult:
    """Build, repair and test one target in ``<work_dir>/<target>/``; all its output goes to
    that directory's ``build.log`` (and, with ``echo``, to the terminal, prefixed)."""
    groups = groups if groups is not None else ProcessGroups()
    work = options.work_dir / target.id
    if groups.interrupted:
        return not_started(options, target)
    previous = read_wheel_record(work)  # kept even by --fresh: was it reproduced?
    if options.fresh:
        shutil.rmtree(work, ignore_errors=True)
    reset_run_files(work)
    log_path = work / "build.log"
    env = target_environment(options, target, work, environ)
    env["MB_RUN_ID"] = groups.run_id  # labels what the steps start outside their group
    env["MB_REUSE_TESTS"] = "1" if testreuse.reuse_wanted(env, options.retest) else "0"
    output = echo if isinstance(echo, Output) else (Output() if echo else None)
    started = time.time()
    status = _run_script(step_script(), options.root, env, log_path, output, target.id, groups)
    result = TargetResult(target, status, log_path, read_step_log(work / "steps.tsv"),
                          started=started, ended=time.time())
    # A script a signal stopped did not finish, whatever its last step recorded.
    result.interrupted = groups.interrupted and not result.passed
    result.wheels = [inspect(p) for p in sorted((work / "wheelhouse").glob("*.whl"))]
    if result.wheels and result.built:
        # Only complete, repaired wheels are compared and remembered: a wheel a signal or a
        # failure left half-made (unrepaired) is no reference for the next run.
        commit = _checkout_commit(work)
        hashes = {w.path.name: w.sha256 for w in result.wheels}
        result.reproduced = reproduced(previous, commit, hashes)
        write_wheel_record(work, commit, hashes)
    tested = next((s for s in result.steps if s.name == "install_run"), None)
    if tested is not None:
        reused = testreuse.reused_record(work)
        if reused is not None and tested.passed:
            result.tests, result.tests_reused = reused
        else:
            result.tests = collect(work, log_path)
            if not result.interrupted:
                testreuse.remember(work, groups.run_id, tested.passed, result.tests)
    if not result.passed:
        result.tail = _tail(log_path)
    return result


def reset_run_files(work: Path) -> None:
    """Remove the previous run's per-run files (RUN_FILES) of a target; make its wheelhouse."""
    for name in RUN_FILES:
        path = work / name
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)
    (work / "wheelhouse").mkdir(parents=True)


def _checkout_commit(work: Path) -> str | None:
    """The commit the target's checkout copy held (its checkout.json), if known."""
    try:
        sha = json.loads((work / "checkout.json").read_text()).get("sha")
    except (OSError, ValueError, AttributeError):
        return None
    return sha if isinstance(sha, str) else None


def not_started(options: RunOptions, target: Target) -> TargetResult:
    """A target the run was interrupted before starting."""
    return TargetResult(target, 1, options.work_dir / target.id / "build.log", interrupted=True)


def stage(result: TargetResult, output_dir: Path) -> None:
    """Copy a passing target's wheels into the run's wheelhouse (temp name, then rename)."""
    if not result.passed:
        return
    output_dir.mkdir(parents=True, exist_ok=True)
    staged = []
    for wheel in result.wheels:
        target = output_dir / wheel.path.name
        with atomic_path(target) as tmp:
            shutil.copyfile(wheel.path, tmp)
        staged.append(inspect(target))
    result.wheels = staged


@dataclass
class SourceResult:
    """The once-per-run clean_code of REPO_DIR."""

    status: int
    log: Path
    steps: list[StepResult]
    started: float
    ended: float

    @property
    def passed(self) -> bool:
        return self.status == 0

    @property
    def duration(self) -> float:
        return max(0.0, self.ended - self.started)

    @property
    def error(self) -> str:
        """Why it failed, in one line: the last ``error:`` line the step wrote (clean_code's,
        mb_source_project's), else the step and its status."""
        try:
            lines = self.log.read_text(errors="replace").splitlines()
        except OSError:
            lines = []
        said = [ln[len("error: "):].strip() for ln in lines if ln.startswith("error: ")]
        if said:
            return said[-1]
        step = next((s.name for s in self.steps if not s.passed), "clean_code")
        return f"{step} failed (exit {self.status}); log: {self.log}"


def prepare_source(
    options: RunOptions, environ: Mapping[str, str] | None = None,
    groups: ProcessGroups | None = None,
) -> SourceResult:
    """clean_code REPO_DIR at BUILD_COMMIT (cloning REPO_URL when missing), as CI does, with
    the library, env_vars.sh and config.sh sourced (config.sh may override clean_code). Its
    output goes to ``<work-dir>/source/build.log`` only: a failure here is an error before
    any build (``SourceResult.error``), said in one line."""
    work = options.work_dir / "source"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    first = options.targets[0]
    env = target_environment(options, first, work, environ)
    env.update(REPO_DIR=options.repo_dir, MB_STEP_LOG=str(work / "steps.tsv"))
    env.pop("MB_TARGET_ID", None)
    started = time.time()
    status = _run_script(step_script(SOURCE_STEPS), options.root, env, work / "build.log",
                         None, "source", groups if groups is not None else ProcessGroups())
    return SourceResult(status, work / "build.log", read_step_log(work / "steps.tsv"),
                        started, time.time())


class StatusBoard:
    """One live line per target: target, current step, elapsed time, verdict."""

    def __init__(self, options: RunOptions) -> None:
        self.options = options
        self.started: dict[str, float] = {}
        self.done: dict[str, TargetResult] = {}

    def render(self) -> Table:

        table = Table(show_header=True, box=None, pad_edge=False)
        for column in ("target", "step", "elapsed", ""):
            table.add_column(column)
        now = time.time()
        for target in self.options.targets:
            result = self.done.get(target.id)
            if result is not None and result.interrupted and not result.steps:
                table.add_row(target.id, "-", "-", "[yellow]not started[/]")
            elif result is not None:
                verdict = ("[green]passed[/]" if result.passed
                           else f"[yellow]interrupted[/] in {result.failed_step}"
                           if result.interrupted else f"[red]failed[/] at {result.failed_step}")
                table.add_row(target.id, "done", f"{result.duration:.0f}s", verdict)
            elif target.id in self.started:
                steps = self.options.work_dir / target.id / "steps.tsv"
                elapsed = now - self.started[target.id]
                table.add_row(target.id, current_step(steps), f"{elapsed:.0f}s",
                              "[yellow]running[/]")
            else:
                table.add_row(target.id, "-", "-", "[dim]waiting[/]")
        return table


@contextmanager
def _live(board: StatusBoard, enabled: bool) -> Iterator[None]:
    if not enabled:
        yield
        return
    from rich.console import Console
    from rich.live import Live

    with Live(get_renderable=board.render, console=Console(), refresh_per_second=4,
              transient=False):
        yield


def _verdict(result: TargetResult) -> str:
    if result.interrupted and not result.steps:
        return f"[{result.target.id}] not started (interrupted)"
    verdict = ("passed" if result.passed else f"INTERRUPTED in {result.failed_step}"
               if result.interrupted else f"FAILED at {result.failed_step}")
    return f"[{result.target.id}] {verdict} in {result.duration:.0f}s"


def effective_jobs(options: RunOptions) -> int:
    """How many targets really build at once: -j N, at most the number of targets."""
    return max(1, min(options.jobs, len(options.targets)))


def run_all(
    options: RunOptions, *, echo: bool = True, environ: Mapping[str, str] | None = None,
    stream: TextIO | None = None, groups: ProcessGroups | None = None,
    stage_dir: Path | None = None,
) -> list[TargetResult]:
    """Every target of ``options`` (its source prepared: ``prepare_source``),
    ``options.jobs`` at a time; failures do not stop the others. One target at a time
    streams its output (prefixed with the target id); several write only their build.log
    and show one live status line each on a terminal, or each whole log once the target is
    done elsewhere (CI, pipes).

    Passing wheels are staged into ``stage_dir`` (default: the output wheelhouse). The step
    scripts run in ``groups``; without one, the run makes its own and handles the signals.
    After a signal, no target starts and every unfinished one is marked interrupted."""
    if groups is None:
        own = ProcessGroups()
        with own.handling_signals():
            return run_all(options, echo=echo, environ=environ, stream=stream, groups=own,
                           stage_dir=stage_dir)
    output = Output(stream)
    into = stage_dir if stage_dir is not None else options.output_dir
    jobs = effective_jobs(options)
    try:
        if jobs == 1:
            results = []
            for target in options.targets:
                result = run_target(options, target, echo=output if echo else False,
                                    environ=environ, groups=groups)
                stage(result, into)
                output.say(_verdict(result))
                results.append(result)
            return results
        return _run_parallel(options, jobs, output, echo, environ, groups, into)
    except BaseException:
        groups.kill(signal.SIGTERM)  # only the step scripts this run started, each in its own group
        raise


def _run_parallel(
    options: RunOptions, jobs: int, output: Output, echo: bool,
    environ: Mapping[str, str] | None, groups: ProcessGroups, into: Path,
) -> list[TargetResult]:
    board = StatusBoard(options)
    live = echo and output.stream.isatty()
    if not live:
        output.say(f"wheels: {len(options.targets)} targets, {jobs} at a time; "
                   f"each target's log is shown when it is done")

    def one(target: Target) -> TargetResult:
        if groups.interrupted:
            result = not_started(options, target)
            board.done[target.id] = result
            return result
        board.started[target.id] = time.time()
        result = run_target(options, target, echo=False, environ=environ, groups=groups)
        stage(result, into)
        board.done[target.id] = result
        if not live:
            if echo:
                output.block(target.id, result.log)
            output.say(_verdict(result))
        return result

    with _live(board, live), ThreadPoolExecutor(max_workers=jobs) as pool:
        return list(pool.map(one, options.targets))
