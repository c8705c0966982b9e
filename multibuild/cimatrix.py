"""The jobs of every CI file, matrices expanded: one line each, a stable id, and whether this
host can replay it (or why not).

A job id is ``SERVICE-OS-PLAT-cpXY`` (``azure-linux-x86_64-cp312``): it names what the job
builds, so it does not change when entries are reordered. The check job is ``SERVICE-check``.
"""

from __future__ import annotations

import argparse
import os
import platform
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from multibuild.cifiles import CIFile, MatrixEntry, read_all, step_names

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
    entry's own variables."""

    id: str
    service: str
    file: str
    line: int
    os: str
    plat: str
    python: str
    env: tuple[tuple[str, str], ...]
    steps: tuple[str, ...]
    kind: str = "build"  # or "check"

    @property
    def environment(self) -> dict[str, str]:
        return dict(self.env)

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"


def job_id(service: str, os_name: str, plat: str, python: str) -> str:
    return f"{service}-{os_name}-{plat or 'none'}-cp{python.replace('.', '') or 'none'}"


def entry_job(cifile: CIFile, entry: MatrixEntry) -> Job:
    env = {name: var.value for name, var in cifile.variables.items()}
    env.update({name: var.value for name, var in entry.variables.items()})
    plat, python = env.get("PLAT", ""), env.get("MB_PYTHON_VERSION", "")
    return Job(
        id=job_id(entry.service, entry.os, plat, python), service=entry.service,
        file=entry.file, line=entry.line, os=entry.os, plat=plat, python=python,
        env=tuple(env.items()), steps=entry.steps,
    )


def _check_jobs(cifile: CIFile) -> list[Job]:
    """Jobs that run ``ci_step.sh check`` (Azure's top-level jobs without a matrix)."""
    jobs: list[Job] = []
    data = cifile.data if isinstance(cifile.data, dict) else {}
    for index, job in enumerate(data.get("jobs") or []):
        if not isinstance(job, dict) or "template" in job:
            continue
        steps = step_names(job.get("steps"))
        if "check" in steps and "build" not in steps:
            line = int(data["jobs"].lc.item(index)[0]) + 1
            env = tuple((n, v.value) for n, v in cifile.variables.items())
            jobs.append(Job(f"{cifile.service}-check", cifile.service, cifile.file, line,
                            "linux", "", "", env, steps, kind="check"))
    return jobs


def expand(root: Path, files: list[CIFile] | None = None) -> list[Job]:
    """Every job of every CI file under ``root``, in file order."""
    jobs: list[Job] = []
    for cifile in files if files is not None else read_all(root):
        jobs += _check_jobs(cifile)
        jobs += [entry_job(cifile, entry) for entry in cifile.entries]
    return jobs


@dataclass
class Host:
    """What this machine can run: its OS, architecture, build mode and interpreters."""

    os: str
    machine: str
    mode: str  # docker or native
    pythons: frozenset[str]

    @classmethod
    def detect(cls, environ: Mapping[str, str], only: Iterable[str] | None = None) -> Host:
        """This host; with ``only``, just those Python versions are looked for (quicker than
        probing every interpreter on the machine)."""
        from multibuild.docker import build_mode
        from multibuild.interpreters import discover, locate

        mode = build_mode(environ)
        if mode != "native":
            pythons: frozenset[str] = frozenset()
        elif only is not None:
            pythons = frozenset(v for v in set(only) if locate(v) is not None)
        else:
            pythons = frozenset(discover())
        return cls(_HOST_OS.get(platform.system(), platform.system().lower()),
                   platform.machine(), mode, pythons)


def skip_reason(job: Job, host: Host) -> str | None:
    """Why ``host`` cannot replay ``job``; ``None`` when it can."""
    if job.kind == "check":
        return None
    if host.os != "linux":
        return f"local replay runs Linux jobs on a Linux host; this host runs {host.os}"
    if job.os != "linux":
        from multibuild.platforms import CI_ENTRY_POINTS

        title = _OS_TITLE.get(job.os, job.os)
        entry = CI_ENTRY_POINTS.get(job.os)
        return f"{title} job: runs on a {title} machine only" + (f"; runs {entry}" if entry else "")
    machine = "x86_64" if host.machine in ("x86_64", "amd64", "AMD64") else host.machine
    if job.plat == "i686" and machine == "x86_64":
        if host.mode != "docker":
            return "i686 job: needs docker for the manylinux i686 image (no docker daemon here)"
        return None
    if job.plat != machine:
        return f"{job.plat} job: runs on {job.plat} hardware only (this host is {machine})"
    from multibuild.interpreters import unsupported_python

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
    root = Path(args.root).resolve()
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
    print(f"{len(jobs)} jobs, {runnable} runnable on this host ({host.os} {host.machine}, "
          f"{host.mode} mode)")
    return 0


def add_subcommand(sub: argparse._SubParsersAction[argparse.ArgumentParser],
                   root: Path) -> None:
    jobs = sub.add_parser(
        "jobs", help="list the jobs of all CI files (one line each, with a stable id)",
        description="List every job of azure-pipelines.yml, .travis.yml and appveyor.yml, "
        "matrices expanded: id, file:line, and whether this host can replay it.",
    )
    jobs.add_argument("pattern", nargs="*", help="only jobs whose id matches (globs allowed)")
    jobs.add_argument("--runnable", action="store_true", help="only jobs this host can run")
    jobs.add_argument("--root", default=str(root), help=argparse.SUPPRESS)
    jobs.set_defaults(func=cmd_jobs)
