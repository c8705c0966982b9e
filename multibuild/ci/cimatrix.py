"""The jobs of every CI file, matrices expanded: one line each, a stable id, and whether this
host can replay it (or why not).

A job id is ``SERVICE-OS-PLAT-cpXY`` (``azure-linux-x86_64-cp312``): it names what the job
builds, so it does not change when entries are reordered; a second job building the same gets
``-2`` (then ``-3``, ...) in file order. The check job is ``SERVICE-check``.

Two kinds of build job: ``build`` jobs call this library's CI step (``bash multibuild/ci_step.sh
build``, this repository's own CI files); ``script`` jobs are any other wheels repository's,
whose own steps (``source multibuild/common_utils.sh; before_install; ...``)
``multibuild.run.cirun`` runs as their CI service would. A job's variables are what its service
gives it: the file's globals, an Azure job's own ``variables``, then the matrix entry's; Travis
``env`` entries are shell assignments, evaluated in bash in order when one needs the shell.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import platform
import re
import subprocess
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from multibuild import MultibuildError
from multibuild.ci.cifiles import (
    CIFile,
    MatrixEntry,
    Step,
    read_all,
    repository_root,
    step_names,
)

# CPython versions a matrix entry may name.
KNOWN_PYTHONS: tuple[str, ...] = (
    "3.6", "3.7", "3.8", "3.9", "3.10", "3.11", "3.12", "3.13", "3.13t", "3.14", "3.14t",
)
# Variables every build job must set (in its entry or the file's globals).
JOB_VARIABLES: tuple[str, ...] = ("MB_PYTHON_VERSION", "PLAT")
_HOST_OS = {"Linux": "linux", "Darwin": "macos", "Windows": "windows"}
_OS_TITLE = {"linux": "Linux", "macos": "macOS", "windows": "Windows"}


@dataclass(frozen=True)
class Job:
    """One CI job. ``env`` is what the CI service sets for it: file globals, then the
    entry's own variables. A ``script`` job carries its own steps (``script``); ``python``
    there is also Travis's ``python:`` (``language: python`` puts it on PATH)."""

    id: str
    service: str
    file: str
    line: int
    os: str
    plat: str
    python: str
    env: tuple[tuple[str, str], ...]
    steps: tuple[str, ...]
    kind: str = "build"  # "build" (ci_step.sh), "script" (the job's own steps) or "check"
    script: tuple[Step, ...] = ()
    name: str = ""
    extra: tuple[tuple[str, str], ...] = ()  # Travis arch, language, python; Azure image
    exports: tuple[Step, ...] = ()  # Travis env entries as written (globals, then the job's)

    @property
    def environment(self) -> dict[str, str]:
        return dict(self.env)

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"


def job_id(service: str, os_name: str, plat: str, python: str) -> str:
    if python.lower().startswith("pypy"):  # pypy3.8-7.3.8: pp38
        tag = "pp" + python[4:].split("-")[0].replace(".", "")
    else:
        tag = "cp" + (python.replace(".", "") or "none")
    return f"{service}-{os_name}-{plat or 'none'}-{tag}"


_PYTHON_RE = re.compile(r"^(\d+)\.(\d+)(t?)(?:\.(?:\d+|x))?(?:-dev)?$")
_WINDOWS_PYTHON_RE = re.compile(r"Python(\d)(\d+)", re.IGNORECASE)
# What PLAT a job builds when it does not say: multibuild's default (x86_64) on Linux, by
# Travis arch; the bits of an Azure or AppVeyor Windows job.
_TRAVIS_ARCH_PLAT = {"amd64": "x86_64", "arm64": "aarch64", "arm64-graviton2": "aarch64",
                     "ppc64le": "ppc64le", "s390x": "s390x"}
_WINDOWS_ARCH_PLAT = {"x86": "win32", "32": "win32", "x64": "win_amd64", "64": "win_amd64"}


def python_of(spec: str) -> str:
    """``X.Y`` of a Python a CI file names (``3.8``, ``3.8.x``, ``3.11-dev``, ``"3.10"``);
    other names (``pypy3.8-7.3.8``, ``2.7``) as written."""
    match = _PYTHON_RE.match(spec.strip())
    return f"{match.group(1)}.{match.group(2)}{match.group(3)}" if match else spec.strip()


def evaluate_exports(exports: Iterable[str], base: Mapping[str, str], cwd: Path) -> dict[str, str]:
    """The variables Travis's ``export`` of each ``env`` entry (in order) gives, evaluated by
    bash in ``cwd`` with only ``base`` in its environment: the repository's own CI code, run
    as Travis runs it. Only the variables the entries set or changed are returned."""
    script = "".join(f"export {item}\n" for item in exports)
    script += 'for __n in $(compgen -e); do printf "%s\\0%s\\0" "$__n" "${!__n}"; done\n'
    done = subprocess.run(["bash", "--noprofile", "--norc", "-c", script], cwd=cwd,
                          env=dict(base), capture_output=True, text=True, check=False)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise MultibuildError(f"evaluating the job's env entries failed: {last}")
    parts = done.stdout.split("\0")
    values = dict(zip(parts[0::2], parts[1::2]))
    return {k: v for k, v in values.items()
            if k not in ("PWD", "SHLVL", "_", "OLDPWD") and base.get(k) != v}


def travis_environment(root: Path, python: str, arch: str, event: str = "push") -> dict[str, str]:
    """What Travis sets in every job's shell (the subset builds read)."""
    from multibuild.core.environment import HOST_VARIABLES

    base = {n: os.environ[n] for n in HOST_VARIABLES if n in os.environ}
    base.update({
        "CI": "true", "TRAVIS": "true", "CONTINUOUS_INTEGRATION": "true",
        "TRAVIS_OS_NAME": "linux", "TRAVIS_BUILD_DIR": str(root), "TRAVIS_ARCH": arch,
        "TRAVIS_PYTHON_VERSION": python, "TRAVIS_REPO_SLUG": f"local/{root.name}",
        "TRAVIS_BRANCH": "main", "TRAVIS_TAG": "",
        "TRAVIS_EVENT_TYPE": {"schedule": "cron"}.get(event, event),
        "TRAVIS_PULL_REQUEST": "1" if event == "pull_request" else "false",
    })
    return base


def job_variables(cifile: CIFile, entry: MatrixEntry) -> dict[str, str]:
    """What ``entry``'s CI service sets for the job: the file's globals, an Azure job's own
    variables, the entry's. A Travis entry that needs the shell (``$``, backquotes) is kept
    as written here: listing or checking jobs never runs a CI file's code
    (``evaluated_environment`` does, for a job that is built or replayed)."""
    env = {name: var.value for name, var in cifile.variables.items()}
    env.update({name: var.value for name, var in entry.job_variables.items()})
    env.update({name: var.value for name, var in entry.variables.items()})
    return env


def evaluated_environment(root: Path, job: Job) -> dict[str, str]:
    """``job``'s variables with its Travis ``env`` entries evaluated as Travis does (each
    ``export``ed, in order, by bash): the repository owner's code, run for a job that is
    built or replayed. Other jobs' variables as they are."""
    if job.service != "travis" or not any("$" in e.text or "`" in e.text for e in job.exports):
        return job.environment
    extra = dict(job.extra)
    base = travis_environment(root, extra.get("python", ""), extra.get("arch", "amd64"))
    return evaluate_exports((e.text for e in job.exports), base, root)


def entry_job(cifile: CIFile, entry: MatrixEntry, root: Path | None = None) -> Job:
    env = job_variables(cifile, entry)
    python = python_of(env.get("MB_PYTHON_VERSION") or env.get("PYTHON_VERSION")
                       or entry.python)
    folder = _WINDOWS_PYTHON_RE.search(env.get("PYTHON", "")) if not python else None
    if folder:  # AppVeyor's C:\Python39-x64
        python = f"{folder.group(1)}.{folder.group(2)}"
    plat = env.get("PLAT", "")
    kind = "build" if "build" in entry.steps else "script"
    if not plat and entry.service == "travis" and entry.os == "linux":
        plat = _TRAVIS_ARCH_PLAT.get(entry.extra.get("arch", "amd64"), "")
    if not plat and entry.os == "linux" and kind == "script":
        plat = "x86_64"  # multibuild's ${PLAT:-x86_64}
    if not plat and entry.os == "windows":
        arch = env.get("PYTHON_ARCH") or ("x64" if env.get("PYTHON", "").endswith("-x64")
                                          else "x86" if env.get("PYTHON") else "")
        plat = _WINDOWS_ARCH_PLAT.get(arch, "")
    if not plat and entry.os == "macos":
        plat = "x86_64"
    extra = dict(entry.extra)
    if entry.python:
        extra["python"] = entry.python
    return Job(
        id=job_id(entry.service, entry.os, plat, python), service=entry.service,
        file=entry.file, line=entry.line, os=entry.os, plat=plat, python=python,
        env=tuple(env.items()), steps=entry.steps, kind=kind, script=entry.script,
        name=entry.name, extra=tuple(extra.items()), exports=entry.exports,
    )


def _check_jobs(cifile: CIFile) -> list[Job]:
    """Jobs that run ``ci_step.sh check`` (Azure's top-level jobs without a matrix)."""
    jobs: list[Job] = []
    data = cifile.data if isinstance(cifile.data, dict) else {}
    listed: Any = data.get("jobs") or []
    # Azure: a list of jobs; GitHub Actions: a mapping of job ids to jobs.
    keys = list(listed) if isinstance(listed, dict) else list(range(len(listed)))
    for key in keys:
        job = listed[key]
        if not isinstance(job, dict) or "template" in job:
            continue
        steps = step_names(job.get("steps"))
        if "check" in steps and "build" not in steps:
            lc: Any = listed.lc  # ruamel's positions
            line = int(lc.key(key)[0] if isinstance(key, str) else lc.item(key)[0]) + 1
            env = tuple((n, v.value) for n, v in cifile.variables.items())
            jobs.append(Job(f"{cifile.service}-check", cifile.service, cifile.file, line,
                            "linux", "", "", env, steps, kind="check"))
    return jobs


def expand(root: Path, files: list[CIFile] | None = None) -> list[Job]:
    """Every job of every CI file under ``root``, in file order; a job building what an
    earlier one builds gets ``-2`` (``-3``, ...) after its id."""
    jobs: list[Job] = []
    seen: dict[str, int] = {}
    for cifile in files if files is not None else read_all(root):
        jobs += _check_jobs(cifile)
        for entry in cifile.entries:
            job = entry_job(cifile, entry, root)
            count = seen[job.id] = seen.get(job.id, 0) + 1
            if count > 1:
                job = dataclasses.replace(job, id=f"{job.id}-{count}")
            jobs.append(job)
    return jobs


# --------------------------------------------------------------------------- local builds

# What ``./wheels build`` takes from a job's own steps (multibuild's dependency lists, often
# assigned in Travis's before_install or an Azure build step rather than in ``env``).
SCRIPT_VARIABLES: tuple[str, ...] = ("BUILD_DEPENDS", "TEST_DEPENDS")
_ASSIGNMENT_RE = re.compile(r"^(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)=")


@dataclass(frozen=True)
class Setting:
    value: str
    source: str  # file:line, with the job or phase


@dataclass(frozen=True)
class LocalSettings:
    """What a local build of one target takes from the CI files: the variables of the CI job
    that builds that Python and platform (``job``; ``None``: none does, the files' globals),
    and the dependency lists its own steps assign."""

    job: Job | None
    values: dict[str, Setting]

    def env(self) -> dict[str, str]:
        return {name: setting.value for name, setting in self.values.items()}


def ci_globals(files: list[CIFile]) -> dict[str, Setting]:
    """The CI files' top-level variables (the first file naming one wins: azure, travis,
    appveyor), each with its file and line; a file without Linux jobs (appveyor.yml) gives
    only the shared ones (REPO_DIR, BUILD_COMMIT, ...), not its Windows settings."""
    from multibuild.ci.cifiles import SHARED_VARIABLES

    found: dict[str, Setting] = {}
    for cifile in files:
        linux = any(entry.os == "linux" for entry in cifile.entries)
        for name, var in cifile.variables.items():
            if not var.dynamic and (linux or name in SHARED_VARIABLES):
                found.setdefault(name, Setting(var.value, f"{var.file}:{var.line}"))
    return found


def _assignment_lines(step: Step) -> list[str]:
    """The lines of a shell step that only assign variables (``A=x``, ``export A=x``, several
    on a line, a trailing ``;``); an indented line of a multi-line Azure script is inside a
    block (``if ...``) and left out."""
    import shlex

    found = []
    lines = step.text.splitlines() or [step.text]
    for line in lines:
        if len(lines) > 1 and line[:1].isspace():
            continue
        text = line.strip().rstrip(";").strip()
        if not _ASSIGNMENT_RE.match(text):
            continue
        try:
            words = shlex.split(text, comments=True)
        except ValueError:
            continue
        words = words[1:] if words[:1] == ["export"] else words
        if words and all(_ASSIGNMENT_RE.match(w) for w in words):
            found.append(text)
    return found


def script_assignments(job: Job, root: Path) -> dict[str, Setting]:
    """SCRIPT_VARIABLES as the job's own steps assign them before it builds: its assignment
    lines (Travis: before_install, install, before_script; Azure: the steps up to the one that
    builds), evaluated in order by bash with the job's variables, as the job's shell would."""
    lines: list[tuple[str, Step]] = []
    for step in job.script:
        if step.kind != "shell" or step.phase in ("script", "after_success"):
            continue
        lines += [(line, step) for line in _assignment_lines(step)]
        if job.service == "azure" and re.search(r"\bbuild_(wheel|multilinux)\b", step.text):
            break
    wanted = [(line, step) for line, step in lines
              if (_ASSIGNMENT_RE.match(line) or _ASSIGNMENT_RE.match(line[7:]))]
    names = {n for n in SCRIPT_VARIABLES if any(f"{n}=" in line for line, _ in wanted)}
    if not names:
        return {}
    if job.service == "azure":  # Azure expands $(VAR) macros before bash runs the script
        from multibuild.ci.cifiles import expand_macros

        wanted = [(expand_macros(line, job.environment), step) for line, step in wanted]
    script = "".join(f"{line}\n" for line, _ in wanted)
    script += "".join(f'printf "%s\\0" "${{{n}-}}";' for n in SCRIPT_VARIABLES)
    base = {k: os.environ[k] for k in ("PATH", "HOME") if k in os.environ}
    base.update(job.environment)
    done = subprocess.run(["bash", "--noprofile", "--norc", "-c", script], cwd=root, env=base,
                          capture_output=True, text=True, check=False)
    values = done.stdout.split("\0")
    found: dict[str, Setting] = {}
    for name, value in zip(SCRIPT_VARIABLES, values):
        if name not in names:
            continue
        last = [step for line, step in wanted if re.match(rf"(export\s+)?{name}=", line)][-1]
        found[name] = Setting(value, f"{last.where}, {last.phase}")
    return found


def local_settings(root: Path, python: str, plat: str, files: list[CIFile] | None = None,
                   os_name: str = "linux") -> LocalSettings:
    """What ``./wheels build`` for CPython ``python`` on ``os_name`` ``plat`` takes from
    whichever CI files ``root`` has (see LocalSettings): the first job building that, else
    the files' globals."""
    files = read_all(root) if files is None else files
    values = ci_globals(files)
    for cifile in files:
        for entry in cifile.entries:
            job = entry_job(cifile, entry, root)
            if job.os != os_name or job.plat != plat or job.python != python \
                    or job.kind == "check":
                continue
            job = dataclasses.replace(job, env=tuple(evaluated_environment(root, job).items()))
            for name, value in job.env:
                var = entry.variables.get(name) or entry.job_variables.get(name) \
                    or cifile.variables.get(name)
                at = f"{var.file}:{var.line}" if var is not None else f"job {job.where}"
                values[name] = Setting(value, at)
            values.update(script_assignments(job, root))
            return LocalSettings(job, values)
    return LocalSettings(None, values)


@dataclass
class Host:
    """What this machine can run: its OS, architecture, build mode and interpreters."""

    os: str
    machine: str
    mode: str  # docker or native
    pythons: frozenset[str]
    # PLATs zig cross-builds here (multibuild.build.toolchain): natively, unless
    # MB_NATIVE_TOOLCHAIN=host.
    cross: frozenset[str] = frozenset()

    @classmethod
    def detect(cls, environ: Mapping[str, str], only: Iterable[str] | None = None) -> Host:
        """This host; with ``only``, just those Python versions are looked for (quicker than
        probing every interpreter on the machine)."""
        from multibuild.build.docker import build_mode
        from multibuild.core.interpreters import discover, locate

        mode = build_mode(environ)
        if mode != "native":
            pythons: frozenset[str] = frozenset()
        elif only is not None:
            pythons = frozenset(v for v in set(only) if locate(v) is not None)
        else:
            pythons = frozenset(discover())
        from multibuild.build.toolchain import CROSS_PLATS, machine_plat

        cross: frozenset[str] = frozenset()
        if mode == "native" and environ.get("MB_NATIVE_TOOLCHAIN", "zig") != "host":
            cross = CROSS_PLATS.get(machine_plat(), frozenset())
        return cls(_HOST_OS.get(platform.system(), platform.system().lower()),
                   platform.machine(), mode, pythons, cross)


def skip_reason(job: Job, host: Host) -> str | None:
    """Why ``host`` cannot replay ``job``; ``None`` when it can."""
    if job.kind == "check":
        return None
    if host.os != "linux":
        return f"local replay runs Linux jobs on a Linux host; this host runs {host.os}"
    if job.os != "linux":
        from multibuild.core.platforms import CI_ENTRY_POINTS

        title = _OS_TITLE.get(job.os, job.os)
        if job.kind == "script":  # the job's own steps, not this library's entry point
            steps = " (AppVeyor: cmd and PowerShell steps)" if job.service == "appveyor" else ""
            return f"{title} job{steps}: runs on a {title} machine only"
        entry = CI_ENTRY_POINTS.get(job.os)
        return f"{title} job: runs on a {title} machine only" + (f"; runs {entry}" if entry else "")
    machine = "x86_64" if host.machine in ("x86_64", "amd64", "AMD64") else host.machine
    if job.plat == "i686" and machine == "x86_64":
        if host.mode != "docker":
            return "i686 job: needs docker for the manylinux i686 image (no docker daemon here)"
        return None
    if job.plat != machine:
        from multibuild.build.crosspython import SUITES

        if job.plat not in host.cross:
            return f"{job.plat} job: runs on {job.plat} hardware only (this host is {machine})"
        if job.python not in SUITES:
            return (f"{job.plat} job: a cross build here needs Debian's Python for the target "
                    f"({', '.join(SUITES)}), not {job.python}; or {job.plat} hardware")
    from multibuild.core.interpreters import unsupported_python

    why = unsupported_python(job.python)
    if why:
        return why
    if host.mode == "native" and job.python not in host.pythons:
        return f"no CPython {job.python} on this machine (native build mode)"
    return None


def format_job(job: Job, reason: str | None, width: int = 32) -> str:
    status = "run" if reason is None else f"skip: {reason}"
    return f"{job.id:<{width}} {job.where:<26} {status}"


def select(jobs: list[Job], patterns: list[str]) -> list[Job]:
    """The jobs whose id matches one of ``patterns`` (exact ids or shell-style globs), in the
    order given; an unknown pattern is an error naming it."""
    from fnmatch import fnmatchcase

    from multibuild import MultibuildError

    chosen: dict[str, Job] = {}
    for pattern in patterns:
        matched = [j for j in jobs if fnmatchcase(j.id, pattern)]
        if not matched:
            close = [j.id for j in jobs if pattern.split("-")[0] in j.id][:5]
            hint = f"; e.g. {', '.join(close)}" if close else ""
            raise MultibuildError(f"no CI job matches {pattern!r} (see ./wheels jobs){hint}")
        for job in matched:
            chosen.setdefault(job.id, job)
    return list(chosen.values())


def cmd_jobs(args: argparse.Namespace) -> int:
    root = repository_root(args)
    jobs = expand(root)
    if args.pattern:
        jobs = select(jobs, args.pattern)
    host = Host.detect(os.environ)
    width = max((len(j.id) for j in jobs), default=10) + 1
    runnable = 0
    for job in jobs:
        reason = skip_reason(job, host)
        runnable += reason is None
        if args.runnable and reason is not None:
            continue
        print(format_job(job, reason, width))
    where = "" if root == Path(args.root).resolve() else f" in {root}"
    print(f"{len(jobs)} jobs{where}, {runnable} runnable on this host ({host.os} "
          f"{host.machine}, {host.mode} mode)")
    from multibuild.ci.cifiles import GITHUB_FILE

    workflows = [p for p in sorted((root / ".github" / "workflows").glob("*.y*ml"))
                 if p != root / GITHUB_FILE]
    if workflows:
        print(f"not listed: {len(workflows)} other GitHub Actions workflow(s) in "
              f".github/workflows (jobs are read from {GITHUB_FILE}, the ci_step.sh layout)")
    return 0


def add_subcommand(sub: argparse._SubParsersAction[argparse.ArgumentParser],
                   root: Path) -> None:
    jobs = sub.add_parser(
        "jobs", help="list the jobs of all CI files (one line each, with a stable id)",
        description="List every job of azure-pipelines.yml, .travis.yml and appveyor.yml, "
        "matrices expanded: id, file:line, and whether this host can replay it (or why not). "
        "Works on any wheels repository: this one, the one holding the current directory, "
        "or --repo PATH.",
    )
    jobs.add_argument("pattern", nargs="*", help="only jobs whose id matches (globs allowed)")
    jobs.add_argument("--runnable", action="store_true", help="only jobs this host can run")
    jobs.add_argument("--repo", metavar="PATH", help="the wheels repository to list (default: "
                      "the one holding the current directory, else this one)")
    jobs.add_argument("--root", default=str(root), help=argparse.SUPPRESS)
    jobs.set_defaults(func=cmd_jobs)
