"""``./wheels check``: the CI files agree with each other and with the platform table.

Fails, naming file and line, when a shared variable (BUILD_COMMIT, ...) is missing or differs
between files, a matrix entry names an unknown platform or Python, a job lacks a required
variable or a library step, or two jobs build the same thing.

That layout (every CI file, ``bash multibuild/ci_step.sh STEP`` steps) is this repository's.
Another wheels repository's CI files (no ``ci_step.sh``: their jobs call multibuild's functions
themselves) are checked for what matters there: the files parse, and the shared variables they
have (BUILD_COMMIT, REPO_DIR, ...) are safe by the same rules and agree, in every file and every
Azure job template.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from multibuild import MultibuildError
from multibuild.ci.cifiles import (
    CI_FILES,
    SHARED_VARIABLES,
    CIFile,
    MatrixEntry,
    Problem,
    Variable,
    find_repository,
    read_ci_file,
)
from multibuild.ci.cimatrix import JOB_VARIABLES, KNOWN_PYTHONS, Job, entry_job, job_id
from multibuild.core.platforms import GITHUB_RUNNERS, find_platform, github_runner_plats
from multibuild.core.refs import ref_problem, repo_dir_problem, shown, url_problem

CI_STEPS: tuple[str, ...] = ("build", "upload", "check")
# The steps every build job runs, in this order.
BUILD_JOB_STEPS: tuple[str, ...] = ("build", "upload")
_SECTION = {"azure": "variables", "travis": "env.global", "appveyor": "environment",
            "github": "env"}
# Travis arch -> the PLAT values it can build natively.
_TRAVIS_ARCH = {
    "amd64": ("x86_64", "i686"), "arm64": ("aarch64",), "arm64-graviton2": ("aarch64",),
    "ppc64le": ("ppc64le",), "s390x": ("s390x",),
}


def _safe_and_agreeing(cifile: CIFile, name: str, var: Variable,
                       reference: dict[str, Variable]) -> list[Problem]:
    """The problem with shared variable ``name`` of ``cifile``: a value the shell would
    interpret, or one that differs from the first file's (kept in ``reference``)."""
    unsafe = value_problem(name, var.value)
    if unsafe is not None:
        return [Problem(cifile.file, var.line, unsafe)]
    first = reference.setdefault(name, var)
    if first is not var and first.value != var.value:
        return [Problem(cifile.file, var.line,
                        f"{name} is {var.value!r} but {first.file}:{first.line} has "
                        f"{first.value!r}")]
    return []


def _shared(files: list[CIFile]) -> list[Problem]:
    problems: list[Problem] = []
    reference: dict[str, Variable] = {}
    for cifile in files:
        for name in SHARED_VARIABLES:
            var = cifile.variables.get(name)
            if var is None:
                problems.append(Problem(
                    cifile.file, cifile.variables_line,
                    f"required variable {name} is missing from {_SECTION[cifile.service]}"))
                continue
            if not var.value.strip():
                problems.append(Problem(cifile.file, var.line, f"{name} is empty"))
                continue
            problems += _safe_and_agreeing(cifile, name, var, reference)
    return problems


def value_problem(name: str, value: str) -> str | None:
    """Why a shared variable's value may not stay in a CI file (Travis runs its env entries
    as shell, so a value is refused rather than trusted to be quoted), or None."""
    if name in ("BUILD_COMMIT", "NIGHTLY_BUILD_COMMIT"):
        problem = ref_problem(value)
    elif name == "REPO_DIR":
        problem = repo_dir_problem(value, single=True)
    elif name == "REPO_URL":
        problem = url_problem(value)
    else:
        return None
    return None if problem is None else f"{name} {shown(value)}: {problem}"


def _entry(root: Path, entry: MatrixEntry, job: Job) -> list[Problem]:
    problems: list[Problem] = []

    def add(message: str, line: int = entry.line, file: str = entry.file) -> None:
        problems.append(Problem(file, line, f"job {job.id}: {message}"))

    env = job.environment
    for name in JOB_VARIABLES:
        if not env.get(name):
            add(f"required variable {name} is missing")
    for name, var in entry.variables.items():
        unsafe = value_problem(name, var.value)
        if unsafe is not None:
            add(unsafe, var.line, var.file)
        if var.raw is not None and not isinstance(var.raw, str):
            add(f"{name} is the YAML number {var.raw}; quote it ({name}: \"{var.value}\")",
                var.line, var.file)
    python_var = entry.variables.get("MB_PYTHON_VERSION")
    line = python_var.line if python_var else entry.line
    if job.python and job.python not in KNOWN_PYTHONS:
        add(f"unknown Python {job.python!r} (known: {', '.join(KNOWN_PYTHONS)})", line)
    plat_var = entry.variables.get("PLAT")
    line = plat_var.line if plat_var else entry.line
    if job.plat:
        try:
            platform = find_platform(job.os, job.plat)
        except MultibuildError as exc:
            add(str(exc), line)
        else:
            env_vars = env.get("ENV_VARS_PATH", "")
            if env_vars and not (root / env_vars).is_file():
                add(f"ENV_VARS_PATH file {env_vars!r} not found", line)
            if platform.bits == 32 and not env_vars and (root / "env_vars32.sh").is_file():
                add(f"32-bit platform {job.plat} without ENV_VARS_PATH (expected env_vars32.sh)",
                    line)
        arch = entry.extra.get("arch")
        if arch is not None and job.plat not in _TRAVIS_ARCH.get(arch, ()):
            add(f"PLAT {job.plat} cannot be built on Travis arch {arch!r}", line)
        runner = entry.extra.get("runner")
        if runner is not None and job.plat not in github_runner_plats(runner):
            add(f"PLAT {job.plat} cannot be built on the GitHub runner {runner!r}", line)
    unknown = [s for s in entry.steps if s not in CI_STEPS]
    if unknown:
        add(f"unknown ci_step.sh step(s): {', '.join(unknown)} (known: {', '.join(CI_STEPS)})")
    missing = [s for s in BUILD_JOB_STEPS if s not in entry.steps]
    if missing:
        add(f"does not run the library step(s) {', '.join(missing)} "
            f"(bash multibuild/ci_step.sh STEP)")
    return problems


def _target(job: Job) -> tuple[str, str, str]:
    return (job.os, job.plat, job.python)


def github_matrix_problems(files: list[CIFile], jobs: list[Job]) -> list[Problem]:
    """The GitHub workflow carries the one matrix of the other CI files: every job they have
    on a platform GitHub has a runner for (platforms.GITHUB_RUNNERS), and nothing else."""
    github = next((f for f in files if f.service == "github"), None)
    others = [j for j in jobs if j.service != "github" and j.kind == "build"]
    if github is None or not others:
        return []
    problems: list[Problem] = []
    own = {_target(j): j for j in jobs if j.service == "github"}
    wanted: dict[tuple[str, str, str], Job] = {}
    for job in others:
        if f"{job.os}-{job.plat}" in GITHUB_RUNNERS:
            wanted.setdefault(_target(job), job)
    include_line = min((j.line for j in own.values()), default=github.variables_line)
    for target, job in wanted.items():
        if target not in own:
            problems.append(Problem(
                github.file, include_line,
                f"job {job_id('github', *target)} is missing from the build matrix: "
                f"{job.id} ({job.where}) builds {job.os} {job.plat} Python {job.python}"))
    for target, job in own.items():
        if target not in wanted:
            problems.append(Problem(
                job.file, job.line,
                f"job {job.id}: no other CI file builds {job.os} {job.plat} Python "
                f"{job.python} (one matrix: add it to "
                f"{', '.join(sorted({o.file for o in others}))} too, or remove it here)"))
    return problems


def uses_step_protocol(files: list[CIFile]) -> bool:
    """Whether the CI files call this library's CI steps (``multibuild/ci_step.sh``)."""
    return any(entry.steps for cifile in files for entry in cifile.entries) or any(
        "multibuild/ci_step.sh" in cifile.text for cifile in files)


def _template_variables(files: list[CIFile]) -> list[CIFile]:
    """Azure jobs' own ``variables`` (a template's BUILD_COMMIT), as files of globals."""
    found: dict[str, CIFile] = {}
    for cifile in files:
        for entry in cifile.entries:
            shared = {n: v for n, v in entry.job_variables.items() if n in SHARED_VARIABLES}
            if shared:
                some = next(iter(shared.values()))
                found.setdefault(some.file, CIFile(cifile.service, some.file, None, shared,
                                                   some.line, [], []))
    return list(found.values())


def _foreign_shared(files: list[CIFile]) -> list[Problem]:
    """The shared variables present in another repository's files must be safe (the rules
    of this repository's own, value_problem) and agree."""
    problems: list[Problem] = []
    reference: dict[str, Variable] = {}
    for cifile in [*files, *_template_variables(files)]:
        for name in SHARED_VARIABLES:
            var = cifile.variables.get(name)
            if var is None:
                continue
            problems += _safe_and_agreeing(cifile, name, var, reference)
    return problems


def check(root: Path) -> tuple[list[Problem], list[CIFile], list[Job]]:
    """Every problem of the CI files under ``root``, with the files and build jobs read."""
    problems: list[Problem] = []
    files: list[CIFile] = []
    missing: list[Problem] = []
    for service, name in CI_FILES.items():
        try:
            cifile = read_ci_file(root, service)
        except MultibuildError as exc:
            message = str(exc).replace(f"{root}/", "")
            file, _, rest = message.partition(":")
            line, _, text = rest.partition(":")
            problems.append(Problem(file, int(line) if line.isdigit() else 1, text.strip()))
            continue
        if cifile is None:
            missing.append(Problem(name, 1, "CI file is missing"))
            continue
        files.append(cifile)
    jobs: list[Job] = []
    if files and not uses_step_protocol(files):
        problems += _foreign_shared(files)
        for cifile in files:
            jobs += [entry_job(cifile, entry, root) for entry in cifile.entries]
        return problems, files, jobs
    problems += missing
    for cifile in files:
        problems += cifile.problems
    problems += _shared(files)
    seen: dict[str, Job] = {}
    for cifile in files:
        for entry in cifile.entries:
            job = entry_job(cifile, entry, root)
            jobs.append(job)
            problems += _entry(root, entry, job)
            other = seen.setdefault(job.id, job)
            if other is not job:
                problems.append(Problem(job.file, job.line,
                                        f"job {job.id} is defined twice (also at {other.where})"))
    problems += github_matrix_problems(files, jobs)
    return problems, files, jobs


def cmd_check(args: argparse.Namespace) -> int:
    root = find_repository(getattr(args, "repo", None), Path(args.root)) \
        if getattr(args, "repo", None) else Path(args.root).resolve()
    problems, files, jobs = check(root)
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)
    if problems:
        print(f"check: {len(problems)} problem(s) in the CI files", file=sys.stderr)
        return 1
    if not files:
        print(f"error: no CI file in {root}", file=sys.stderr)
        return 1
    shown = [name for name in ("BUILD_COMMIT", "NIGHTLY_BUILD_COMMIT")
             if any(name in f.variables for f in files)]
    values = ", ".join(
        f"{name}={next(f.variables[name].value for f in files if name in f.variables)}"
        for name in shown)
    layout = "" if uses_step_protocol(files) else " (another repository's CI files: shared " \
        "variables agree)"
    print(f"check: {len(files)} CI files, {len(jobs)} build jobs"
          f"{', ' + values if values else ''}: ok{layout}")
    return 0


def add_subcommand(sub: argparse._SubParsersAction[argparse.ArgumentParser],
                   root: Path) -> None:
    check_cmd = sub.add_parser(
        "check", help="check the CI files (shared BUILD_COMMIT, known platforms and Pythons)",
        description="Fail, naming file and line, when BUILD_COMMIT or another shared variable "
        "differs between CI files or is missing, or a matrix entry names an unknown platform "
        "or Python or lacks a required variable.",
    )
    check_cmd.add_argument("--root", default=str(root),
                           help="wheels repository to check (default: this one)")
    check_cmd.add_argument("--repo", metavar="PATH",
                           help="another wheels repository to check (like --root, relative "
                           "to where ./wheels runs)")
    check_cmd.set_defaults(func=cmd_check)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m multibuild.ci.cicheck")
    sub = parser.add_subparsers(dest="command", required=True)
    add_subcommand(sub, Path.cwd())
    args = parser.parse_args(["check", *(argv if argv is not None else sys.argv[1:])])
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
