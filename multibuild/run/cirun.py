"""Run a wheels repository's own CI job here, the way its CI service runs it.

A ``script`` job (``multibuild.ci.cimatrix``) is another wheels repository's: its CI file calls
multibuild's functions itself (``source multibuild/common_utils.sh; before_install;
clean_code ...; build_wheel ...; install_run ...``). With this library swapped in for the
multibuild submodule, those steps run here unchanged:

- **Travis**: one bash shell, in the repository, with what Travis sets (``TRAVIS_*``, ``CI``),
  ``language: python``'s interpreter first on ``PATH``, the ``env`` entries ``export``ed as
  written (global, then the job's), then ``before_install``, ``install``, ``before_script``,
  ``script`` and ``after_success``, one line at a time. A failing line of ``before_install``
  or ``install`` (or any line once the repository's code turned errexit on, as multibuild's
  ``common_utils.sh`` does) stops the job; ``script`` lines all run, the job failing if one
  did; ``after_success`` runs only after a passing ``script`` and never changes the result.
- **Azure Pipelines**: the job's steps from its template, template parameters substituted,
  each ``bash``/``script`` step in a bash of its own with the job's variables (matrix entry,
  job ``variables``, pipeline ``variables``, Azure's predefined ones) in its environment and
  ``$(VAR)`` macros expanded; ``condition``s evaluated (default ``succeeded()``);
  ``##vso[task.setvariable]`` and ``##vso[task.prependpath]`` honoured for later steps;
  ``UsePythonVersion`` puts that CPython first on ``PATH``; ``checkout`` is the repository
  itself; other tasks are reported and not run.

Uploads: a replay uploads nothing unless asked (``--upload``). Travis's ``after_success`` runs
with ``anaconda``, ``twine`` and other uploaders (also as ``python -m twine``,
``python -m wheelhouse_uploader``) replaced by stubs that say what they would have done;
Azure's steps after the last one that builds or tests (the publishing steps) are skipped.
Secrets (Travis ``secure``, Azure secret variables) are never there; with ``--upload`` the
job's shell also gets this host's environment (where upload tokens are).

Values from the command line (``--set``, ``--commit``, ...) reach the job through its
environment, never through the shell code it evaluates.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from multibuild import MultibuildError
from multibuild.build.incremental import uv_binary
from multibuild.build.wheelinfo import inspect
from multibuild.ci.cifiles import TRAVIS_PHASES, Step, expand_macros
from multibuild.ci.cimatrix import Job, python_of
from multibuild.core.environment import HOST_VARIABLES
from multibuild.core.interrupts import ProcessGroups
from multibuild.run.options import Target
from multibuild.run.runner import Output, StepResult, TargetResult, read_step_log, run_logged

# Upload commands a replay replaces by stubs unless --upload, and modules for python -m.
UPLOADERS: tuple[str, ...] = ("anaconda", "twine", "wheelhouse-uploader", "ghr", "gh")
UPLOADER_MODULES: tuple[str, ...] = ("twine", "wheelhouse_uploader", "binstar_client")
# Shell code of a step that builds or tests: Azure steps after the last such are publishing.
_BUILDS_OR_TESTS = re.compile(
    r"\b(build_wheel|build_multilinux|build_index_wheel|install_run|ci_step\.sh\s+build)\b")
_VSO = re.compile(r"##vso\[(task\.setvariable|task\.prependpath)([^\]]*)\](.*)")


@dataclass
class JobRun:
    """Where and how a job runs: the repository, its work dir and log, the environment the
    service gives it, and the replay's choices."""

    job: Job
    root: Path
    work: Path
    env: dict[str, str]  # the job's process environment (service + job variables)
    overrides: dict[str, str] = field(default_factory=dict)  # --set, --commit, ...
    upload: bool = False
    event: str = "push"
    lenient: set[str] = field(default_factory=set)  # steps whose failure does not count

    @property
    def log(self) -> Path:
        return self.work / "build.log"

    @property
    def step_log(self) -> Path:
        return self.work / "steps.tsv"


# --------------------------------------------------------------------------- environments


def host_environment(environ: Mapping[str, str], upload: bool) -> dict[str, str]:
    """What of this host's environment a replayed job gets: what a shell needs to find tools
    and package indexes, and this library's own settings (MB_*), as a CI machine has them;
    with ``upload``, everything (upload tokens live there)."""
    if upload:
        return dict(environ)
    keep = {n: environ[n] for n in HOST_VARIABLES if n in environ}
    keep.update({n: v for n, v in environ.items()
                 if n.startswith("MB_") and n not in _JOB_OWNED})
    for name in ("USE_CCACHE", "DOCKER_HOST"):
        if name in environ:
            keep[name] = environ[name]
    return keep


# Set by the job or by the replay, never taken from the host.
_JOB_OWNED = frozenset({"MB_PYTHON_VERSION", "MB_WORK_DIR", "MB_STEP_LOG", "MB_TARGET_ID",
                        "MB_SOURCE_DIR", "MB_GIVEN_REPO_DIR", "MB_EVENT", "MB_UPLOAD_CHANNEL",
                        "MB_ROOT"})


def ci_python(run: JobRun, spec: str, name: str) -> Path | None:
    """A virtual environment of CPython ``spec`` (``3.8``, ``3.x``) under the job's work dir,
    as Travis's ``language: python`` and Azure's ``UsePythonVersion`` give one (pip in it);
    None when this machine has no such Python."""
    from multibuild.core.interpreters import discover, locate

    version = python_of(spec)
    if version.endswith(".x") or version in ("3", "3.x"):
        found = [v for v in discover() if v.startswith("3.") and not v.endswith("t")]
        version = max(found, key=lambda v: int(v.split(".")[1])) if found else version
    interpreter = locate(version) if re.fullmatch(r"\d+\.\d+t?", version) else None
    if interpreter is None:
        return None
    venv = run.work / name
    stamp = venv / ".mb-python"
    if not (stamp.is_file() and stamp.read_text() == str(interpreter.path)):
        shutil.rmtree(venv, ignore_errors=True)
        uv = uv_binary(run.env)
        command = ([uv, "venv", "--quiet", "--seed", "--python", str(interpreter.path), str(venv)]
                   if uv else [str(interpreter.path), "-m", "venv", str(venv)])
        done = subprocess.run(command, capture_output=True, text=True, check=False,
                              env={**os.environ, "UV_PYTHON_DOWNLOADS": "never"})
        if done.returncode != 0:
            raise MultibuildError(f"cannot make the job's Python {version} environment "
                                  f"{venv}: {(done.stderr.strip().splitlines() or ['?'])[-1]}")
        stamp.write_text(str(interpreter.path))
    return venv / "bin"


def _upload_stubs(run: JobRun) -> Path:
    """A directory of stand-ins for the upload commands (and, in its ``py`` directory, for
    ``python -m twine`` and the like): each says it did not upload."""
    stubs = run.work / "upload-stubs"
    stubs.mkdir(parents=True, exist_ok=True)
    for name in UPLOADERS:
        path = stubs / name
        # The arguments are not printed: they may hold a token.
        path.write_text("#!/bin/sh\necho \"replay: upload skipped: $(basename \"$0\") (a replay "
                        "uploads only with ./wheels replay --upload)\"\n")
        path.chmod(0o755)
    for module in UPLOADER_MODULES:
        package = stubs / "py" / module
        package.mkdir(parents=True, exist_ok=True)
        (package / "__init__.py").write_text("")
        (package / "__main__.py").write_text(
            f"print('replay: upload skipped: python -m {module} (a replay uploads only with "
            "./wheels replay --upload)')\n")
    return stubs


# --------------------------------------------------------------------------- step records


class StepLog:
    """The job's steps.tsv (the runner's format), written from Python."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.path.write_text("")

    def start(self, name: str) -> float:
        now = time.time()
        with self.path.open("a") as out:
            out.write(f"start\t{name}\t{now:.6f}\n")
        return now

    def end(self, name: str, status: int) -> None:
        with self.path.open("a") as out:
            out.write(f"end\t{name}\t{time.time():.6f}\t{status}\n")


def _result(run: JobRun, target: Target, status: int, started: float,
            counted: Callable[[StepResult], bool] = lambda s: True) -> TargetResult:
    steps = [s for s in read_step_log(run.step_log) if counted(s)]
    result = TargetResult(target, status, run.log, steps, started=started, ended=time.time())
    return result


# --------------------------------------------------------------------------- Travis


def travis_driver(job: Job, overrides: Mapping[str, str], stubs: Path | None) -> str:
    """The bash script that runs a Travis job as Travis does (see the module docstring).
    The job's lines are the repository's code: Travis evaluates each with ``eval``, and so
    does this script; every other value reaches it through the environment."""
    quote = shlex.quote
    out = [
        "# A Travis job, replayed by multibuild/run/cirun.py.",
        "__mb_phase=; __mb_where=; __mb_cmd=; __mb_failed=0",
        '__mb_now() { local t=${EPOCHREALTIME:-$(date +%s)}; printf "%s" "${t/,/.}"; }',
        "__mb_open() {",
        '    __mb_phase=$1; printf "start\\t%s\\t%s\\n" "$1" "$(__mb_now)" >> "$MB_STEP_LOG"',
        '    echo "---- ${MB_TARGET_ID}: $1"',
        "}",
        "__mb_close() {",
        '    printf "end\\t%s\\t%s\\t%s\\n" "$__mb_phase" "$(__mb_now)" "$1" >> "$MB_STEP_LOG"',
        '    if [ "$1" -eq 0 ]; then echo "---- ${MB_TARGET_ID}: $__mb_phase: passed"',
        '    else echo "---- ${MB_TARGET_ID}: $__mb_phase: FAILED (exit $1)"; fi',
        "    __mb_phase=",
        "}",
        "__mb_stopped() {",
        '    echo "replay: $__mb_where ($__mb_phase): \\`$__mb_cmd\\` failed (exit $1);'
        ' the job stops here, as on Travis" >&2',
        "}",
        "__mb_exit() {",
        "    local status=$?",
        '    if [ "$__mb_phase" == after_success ]; then',
        '        echo "replay: $__mb_where (after_success): \\`$__mb_cmd\\` failed (exit'
        ' $status); that does not change the result of the job, as on Travis" >&2',
        '        __mb_close "$status"; exit "$__mb_failed"',
        '    elif [ -n "$__mb_phase" ]; then',
        '        [ "$status" -eq 0 ] && status=1',
        '        __mb_stopped "$status"; __mb_close "$status"',
        "    fi",
        "}",
        "trap __mb_exit EXIT",
    ]

    def command(phase: str, where: str, text: str, stop: bool) -> None:
        out.append(f"__mb_where={quote(where)}; __mb_cmd={quote(text)}")
        out.append('printf "$ %s\\n" "$__mb_cmd"')
        out.append('eval "$__mb_cmd"')
        out.append("__mb_status=$?")
        if phase == "after_success":  # never changes the result; the rest still runs
            out.append('if [ "$__mb_status" -ne 0 ]; then echo "replay: $__mb_where '
                       '(after_success): \\`$__mb_cmd\\` failed (exit $__mb_status)" >&2; fi')
        elif stop:
            out.append('if [ "$__mb_status" -ne 0 ]; then __mb_stopped "$__mb_status"; '
                       '__mb_close "$__mb_status"; exit "$__mb_status"; fi')
        else:  # script: every line runs; the job fails if one did
            out.append('if [ "$__mb_status" -ne 0 ] && [ "$__mb_failed" -eq 0 ]; then '
                       '__mb_failed=$__mb_status; echo "replay: $__mb_where ($__mb_phase): '
                       '\\`$__mb_cmd\\` failed (exit $__mb_status)" >&2; fi')

    out.append("__mb_open env")
    for entry in job.exports:
        command("env", entry.where, f"export {entry.text}", stop=True)
    for name in overrides:  # the replay's own values: from the environment, not evaluated
        out.append(f'export {name}="$MB_REPLAY_SET_{name}"')
    out.append("__mb_close 0")
    for phase in TRAVIS_PHASES:
        lines = [s for s in job.script if s.phase == phase and s.kind == "shell"]
        if not lines:
            continue
        if phase == "after_success":
            out.append('if [ "$__mb_failed" -ne 0 ]; then trap - EXIT; exit "$__mb_failed"; fi')
            if stubs is not None:
                out.append(f"export PATH={quote(str(stubs))}:\"$PATH\"")
                out.append(f"export PYTHONPATH={quote(str(stubs / 'py'))}"
                           '${PYTHONPATH:+:$PYTHONPATH}')
        out.append(f"__mb_open {phase}")
        for step in lines:
            command(phase, step.where, step.text, stop=phase != "script")
        out.append('__mb_close "$__mb_failed"' if phase == "script" else "__mb_close 0")
    out.append('trap - EXIT; exit "$__mb_failed"')
    return "\n".join(out) + "\n"


def run_travis(run: JobRun, output: Output | None, groups: ProcessGroups) -> int:
    """Run a Travis job (one bash shell); its exit status."""
    job = run.job
    env = dict(run.env)
    extra = dict(job.extra)
    if extra.get("language", "python") == "python" and extra.get("python"):
        bin_dir = ci_python(run, extra["python"], "travis-python")
        if bin_dir is None:
            _say(output, job, f"replay: Travis's python {extra['python']} is not on this "
                 "machine; the job's shell keeps this host's python3", run.log)
        else:
            env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
            env["VIRTUAL_ENV"] = str(bin_dir.parent)
    for name, value in run.overrides.items():
        env[f"MB_REPLAY_SET_{name}"] = value
    stubs = None if run.upload else _upload_stubs(run)
    script = travis_driver(job, run.overrides, stubs)
    return run_logged(["bash", "--noprofile", "--norc", "-c", script], run.root, env, run.log,
                      output, job.id, groups, append=True)


# --------------------------------------------------------------------------- Azure


class Condition:
    """Azure's condition expressions: functions (and, or, not, eq, ne, in, notIn, contains,
    startsWith, endsWith, coalesce, gt, ge, lt, le, succeeded, failed, always,
    succeededOrFailed, canceled), 'strings', numbers, true/false and variables['Name'] /
    variables.Name. String comparisons ignore case, as Azure's do."""

    _TOKEN = re.compile(r"\s*(?:(?P<str>'(?:[^']|'')*')|(?P<num>-?\d+(?:\.\d+)?)"
                        r"|(?P<name>[A-Za-z_][A-Za-z0-9_.]*)|(?P<punct>[(),\[\]]))")

    def __init__(self, variables: Mapping[str, str], state: str) -> None:
        self.variables = {k.upper(): v for k, v in variables.items()}
        self.state = state  # "succeeded" or "failed" so far

    def evaluate(self, text: str) -> bool:
        self.tokens = self._tokens(text)
        self.pos = 0
        value = self._expr()
        if self.pos != len(self.tokens):
            raise MultibuildError(f"cannot read condition {text!r}")
        return self._truthy(value)

    def _tokens(self, text: str) -> list[tuple[str, str]]:
        tokens, pos = [], 0
        while pos < len(text.rstrip()):
            match = self._TOKEN.match(text, pos)
            if not match:
                raise MultibuildError(f"cannot read condition {text!r} at {text[pos:]!r}")
            kind = match.lastgroup or ""
            tokens.append((kind, match.group(kind)))
            pos = match.end()
        return tokens

    def _take(self, value: str | None = None) -> tuple[str, str]:
        if self.pos >= len(self.tokens):
            raise MultibuildError("condition ends too soon")
        token = self.tokens[self.pos]
        if value is not None and token[1] != value:
            raise MultibuildError(f"condition: expected {value!r}, found {token[1]!r}")
        self.pos += 1
        return token

    def _expr(self) -> object:
        kind, value = self._take()
        if kind == "str":
            return value[1:-1].replace("''", "'")
        if kind == "num":
            return float(value)
        if kind != "name":
            raise MultibuildError(f"condition: unexpected {value!r}")
        lowered = value.lower()
        if lowered in ("true", "false"):
            return lowered == "true"
        if lowered == "null":
            return None
        if lowered == "variables":
            self._take("[")
            name = str(self._expr())
            self._take("]")
            return self.variables.get(name.upper(), "")
        if lowered.startswith("variables."):
            return self.variables.get(value[len("variables."):].upper(), "")
        self._take("(")
        args: list[object] = []
        while self.tokens[self.pos][1] != ")":
            args.append(self._expr())
            if self.tokens[self.pos][1] == ",":
                self._take(",")
        self._take(")")
        return self._call(lowered, args)

    @staticmethod
    def _text(value: object) -> str:
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, float):
            return str(int(value)) if value.is_integer() else str(value)
        return "" if value is None else str(value)

    @staticmethod
    def _truthy(value: object) -> bool:
        if isinstance(value, str):
            return value != ""
        return bool(value)

    def _equal(self, left: object, right: object) -> bool:
        try:
            return float(self._text(left)) == float(self._text(right))
        except ValueError:
            return self._text(left).lower() == self._text(right).lower()

    def _call(self, name: str, args: list[object]) -> object:
        text = [self._text(a).lower() for a in args]
        calls: dict[str, Callable[[], object]] = {
            "and": lambda: all(self._truthy(a) for a in args),
            "or": lambda: any(self._truthy(a) for a in args),
            "not": lambda: not self._truthy(args[0]),
            "eq": lambda: self._equal(args[0], args[1]),
            "ne": lambda: not self._equal(args[0], args[1]),
            "in": lambda: any(self._equal(args[0], a) for a in args[1:]),
            "notin": lambda: not any(self._equal(args[0], a) for a in args[1:]),
            "contains": lambda: text[1] in text[0],
            "startswith": lambda: text[0].startswith(text[1]),
            "endswith": lambda: text[0].endswith(text[1]),
            "coalesce": lambda: next((a for a in args if self._text(a) != ""), ""),
            "gt": lambda: float(text[0]) > float(text[1]),
            "ge": lambda: float(text[0]) >= float(text[1]),
            "lt": lambda: float(text[0]) < float(text[1]),
            "le": lambda: float(text[0]) <= float(text[1]),
            "succeeded": lambda: self.state == "succeeded",
            "failed": lambda: self.state == "failed",
            "succeededorfailed": lambda: True,
            "always": lambda: True,
            "canceled": lambda: False,
        }
        if name not in calls:
            raise MultibuildError(f"condition: unknown function {name}()")
        return calls[name]()


def azure_predefined(run: JobRun) -> dict[str, str]:
    """Azure's predefined variables a build reads, for this replay."""
    agent = run.work / "agent"
    return {
        "Build.Reason": {"push": "IndividualCI", "pull_request": "PullRequest",
                         "schedule": "Schedule"}[run.event],
        "Build.SourcesDirectory": str(run.root), "Build.Repository.LocalPath": str(run.root),
        "System.DefaultWorkingDirectory": str(run.root),
        "Build.SourceBranch": "refs/heads/main", "Build.SourceBranchName": "main",
        "Build.ArtifactStagingDirectory": str(agent / "a"),
        "Agent.OS": "Linux", "Agent.WorkFolder": str(agent),
        "Agent.TempDirectory": str(agent / "tmp"), "Agent.ToolsDirectory": str(agent / "tools"),
        "System.PullRequest.PullRequestNumber": "1" if run.event == "pull_request" else "",
    }


def _env_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", name).upper()


def publishing_steps(steps: tuple[Step, ...]) -> set[int]:
    """Indexes of the steps after the last one that builds or tests a wheel."""
    last = max((i for i, s in enumerate(steps)
                if s.kind == "shell" and _BUILDS_OR_TESTS.search(s.text)), default=None)
    return set() if last is None else set(range(last + 1, len(steps)))


def run_azure(run: JobRun, output: Output | None, groups: ProcessGroups) -> int:
    """Run an Azure job's steps one by one; the job's exit status (the first failure's)."""
    job = run.job
    variables: dict[str, str] = azure_predefined(run)
    for name, value in job.env:
        variables[name] = value
    for name, value in run.overrides.items():
        variables[name] = value
    # Job variables may name others: $(Agent.WorkFolder)/tmp_for_test.
    variables = {k: expand_macros(v, variables) for k, v in variables.items()}
    for path in ("Agent.WorkFolder", "Agent.TempDirectory", "Build.ArtifactStagingDirectory"):
        Path(variables[path]).mkdir(parents=True, exist_ok=True)
    prepend: list[str] = []
    publishing = publishing_steps(job.script)
    steps = StepLog(run.step_log)
    scripts = run.work / "steps"
    scripts.mkdir(parents=True, exist_ok=True)
    failed = 0
    for index, step in enumerate(job.script):
        name = f"{index + 1:02d} {step.phase}"[:60]
        state = "failed" if failed else "succeeded"
        if index in publishing and not run.upload:
            _say(output, job, f"replay: step {name!r} ({step.where}) skipped: publishing step "
                 "(after the last build or test step; ./wheels replay --upload runs it)",
                 run.log)
            continue
        try:
            wanted = Condition(variables, state).evaluate(
                expand_macros(step.condition, variables) or "succeeded()")
        except MultibuildError as exc:
            raise MultibuildError(f"{step.where}: {exc}") from None
        if not wanted:
            _say(output, job, f"replay: step {name!r} skipped (condition: "
                 f"{step.condition or 'succeeded()'})", run.log)
            continue
        steps.start(name)
        status = _azure_step(run, step, name, index, variables, prepend, scripts, output,
                             groups)
        steps.end(name, status)
        if step.continue_on_error:
            run.lenient.add(name)
        if status != 0 and not step.continue_on_error and not failed:
            failed = status
            _say(output, job, f"replay: {step.where} (step {step.phase!r}) failed "
                 f"(exit {status}); later steps run only if their condition says so, as on "
                 "Azure", run.log)
    return failed


def _azure_step(run: JobRun, step: Step, name: str, index: int, variables: dict[str, str],
                prepend: list[str], scripts: Path, output: Output | None,
                groups: ProcessGroups) -> int:
    job = run.job
    _say(output, job, f"---- {job.id}: step {name} ({step.where})", run.log)
    if step.kind == "checkout":
        _say(output, job, "checkout: the repository is this directory", run.log)
        return 0
    if step.kind == "python":
        spec = expand_macros(step.text, variables)
        bin_dir = ci_python(run, spec, f"azure-python-{python_of(spec)}")
        if bin_dir is None:
            _say(output, job, f"error: UsePythonVersion {spec!r}: no such CPython on this "
                 "machine (./wheels interpreters lists them)", run.log)
            return 1
        prepend.insert(0, str(bin_dir))
        _say(output, job, f"UsePythonVersion: {spec} -> {bin_dir} first on PATH", run.log)
        return 0
    if step.kind == "task":
        _say(output, job, f"replay: Azure task {step.text!r} is not replayed here; skipped",
             run.log)
        return 0
    env = dict(run.env)
    env.update({_env_name(k): v for k, v in variables.items()})
    env.update({k: expand_macros(v, variables) for k, v in step.env})
    if prepend:
        env["PATH"] = os.pathsep.join([*prepend, env.get("PATH", "")])
    script = scripts / f"{index + 1:02d}.sh"
    script.write_text(expand_macros(step.text, variables) + "\n")
    cwd = Path(expand_macros(step.working_directory, variables)) \
        if step.working_directory else run.root

    def logging_command(line: str) -> None:
        match = _VSO.search(line)
        if not match:
            return
        command, props, value = match.group(1), match.group(2), match.group(3).rstrip("\r\n")
        if command == "task.prependpath":
            prepend.insert(0, value)
            return
        settings = dict(p.split("=", 1) for p in props.strip().split(";") if "=" in p)
        if settings.get("variable"):
            variables[settings["variable"]] = value

    return run_logged(["bash", "--noprofile", "--norc", str(script)], cwd if cwd.is_absolute()
                      else run.root / cwd, env, run.log, output, job.id, groups,
                      append=True, on_line=logging_command)


# --------------------------------------------------------------------------- the job


def _say(output: Output | None, job: Job, text: str, log: Path | None = None) -> None:
    """A line of the replay's own about the job: to the terminal and the job's log."""
    if log is not None:
        with log.open("ab") as out:
            out.write(text.encode() + b"\n")
    if output is not None:
        output.line(job.id, text + "\n")


def job_target(job: Job) -> Target:
    return Target(job.python, job.plat, job.os)


def run_job(run: JobRun, output: Output | None, groups: ProcessGroups) -> TargetResult:
    """Run a script job in the repository (its wheels go to the repository's wheelhouse, as
    on CI); the result, with the job's phases or steps as its steps."""
    run.work.mkdir(parents=True, exist_ok=True)
    run.log.write_bytes(b"")
    run.step_log.write_text("")
    started = time.time()
    if run.job.service == "travis":
        status = run_travis(run, output, groups)
        counted: Callable[[StepResult], bool] = lambda s: s.name != "after_success"  # noqa: E731
    elif run.job.service == "azure":
        status = run_azure(run, output, groups)
        counted = lambda s: s.name not in run.lenient  # noqa: E731
    else:
        raise MultibuildError(f"{run.job.id}: {run.job.service} jobs are not replayed here")
    result = _result(run, job_target(run.job), status, started, counted)
    result.interrupted = groups.interrupted and not result.passed
    return result


def collect_wheels(result: TargetResult, wheelhouse: Path, keep: Path) -> None:
    """Move the wheels a job left in the repository's wheelhouse to ``keep`` (the job's own
    directory), so the next job starts with none, as on a fresh CI machine."""
    keep.mkdir(parents=True, exist_ok=True)
    for old in keep.glob("*.whl"):
        old.unlink()
    if wheelhouse.is_dir():
        for wheel in sorted(wheelhouse.glob("*.whl")):
            os.replace(wheel, keep / wheel.name)
    result.wheels = [inspect(p) for p in sorted(keep.glob("*.whl"))]
