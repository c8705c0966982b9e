"""Replay CI jobs on this machine: the job's environment, the same event plan, the same runner.

A CI build step of this repository is ``bash multibuild/ci_step.sh build``: it decides the event
(``multibuild.ci.events``), then runs ``./wheels build``, whose runner runs the lifecycle steps
(``multibuild.run.runner.LIFECYCLE_STEPS``) with the job's variables. A replay builds that same
environment (the CI file's globals, the matrix entry, the simulated event's variables), applies
the same event plan and hands it to the same runner. Nothing is uploaded by a replay.

Any other wheels repository's job (a ``script`` job: its CI file calls multibuild's functions
itself) runs as its CI service would run it (``multibuild.run.cirun``), in the repository, writing
its wheels to the repository's wheelhouse as on CI; the replay then gathers the wheels of the
jobs that passed into its output with the report. Uploads happen only with ``--upload``.
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from multibuild import MultibuildError, UsageError
from multibuild.ci.cifiles import repository_root
from multibuild.ci.events import BuildPlan, EventKind, plan
from multibuild.core.environment import STEP_VARIABLES
from multibuild.core.interrupts import ProcessGroups
from multibuild.core.refs import check_ref, check_repo_dir
from multibuild.run.options import RunOptions
from multibuild.run.runner import (
    SourceResult,
    TargetResult,
    effective_jobs,
    prepare_source,
    run_all,
    source_dir,
)
from multibuild.run.staging import PREVIOUS, Staging
from multibuild.source.checkout import source_sentence

if TYPE_CHECKING:
    from multibuild.ci.cimatrix import Job
    from multibuild.run.cirun import JobRun

EVENTS: tuple[EventKind, ...] = ("push", "pull_request", "schedule")
# What each CI service sets for each event (what multibuild.ci.events.detect_event reads).
SIMULATED_EVENTS: dict[str, dict[EventKind, dict[str, str]]] = {
    "azure": {
        "push": {"BUILD_REASON": "IndividualCI"},
        "pull_request": {"BUILD_REASON": "PullRequest"},
        "schedule": {"BUILD_REASON": "Schedule"},
    },
    "travis": {
        "push": {"TRAVIS_EVENT_TYPE": "push"},
        "pull_request": {"TRAVIS_EVENT_TYPE": "pull_request"},
        "schedule": {"TRAVIS_EVENT_TYPE": "cron"},
    },
    "github": {
        "push": {"GITHUB_EVENT_NAME": "push", "GITHUB_REF": "refs/heads/main",
                 "MB_DEFAULT_BRANCH": "main", "GITHUB_ACTIONS": "true"},
        "pull_request": {"GITHUB_EVENT_NAME": "pull_request", "GITHUB_REF": "refs/pull/1/merge",
                         "GITHUB_ACTIONS": "true"},
        "schedule": {"GITHUB_EVENT_NAME": "schedule", "GITHUB_REF": "refs/heads/main",
                     "MB_DEFAULT_BRANCH": "main", "GITHUB_ACTIONS": "true"},
    },
    "appveyor": {
        "push": {"APPVEYOR": "True"},
        "pull_request": {"APPVEYOR": "True", "APPVEYOR_PULL_REQUEST_NUMBER": "1"},
        "schedule": {"APPVEYOR": "True", "APPVEYOR_SCHEDULED_BUILD": "True"},
    },
}
_EVENT_NAMES = frozenset(
    {"GITHUB_EVENT_NAME", "MB_RELEASE_BUILD"}
    | {n for s in SIMULATED_EVENTS.values() for e in s.values() for n in e}
)
# Host settings a replay keeps; every other job variable comes from the CI file only.
_HOST_KNOBS = frozenset({"MB_BUILD_MODE", "MB_USE_UV", "USE_CCACHE", "CI"})
_JOB_NAMES = (frozenset(STEP_VARIABLES) - _HOST_KNOBS) | {
    "NIGHTLY_BUILD_COMMIT", "MB_EVENT", "MB_UPLOAD_CHANNEL",
}


def job_environment(
    job_env: Mapping[str, str],
    service: str,
    environ: Mapping[str, str],
    *,
    event: EventKind = "push",
    overrides: Mapping[str, str] | None = None,
    commit: str | None = None,
) -> tuple[dict[str, str], BuildPlan]:
    """The environment a CI job's build step sees, and the event plan it got.

    ``environ`` (this host's) minus CI event and job variables, then the job's variables,
    then the variables ``service`` sets for ``event``, then ``overrides``; the event plan
    (``multibuild.ci.events.plan``) then sets BUILD_COMMIT, MB_EVENT and MB_UPLOAD_CHANNEL, as
    ``ci_step.sh`` does. ``commit`` replaces the planned commit.
    """
    env = {k: v for k, v in environ.items() if k not in _EVENT_NAMES and k not in _JOB_NAMES}
    env.update(job_env)
    env.update(SIMULATED_EVENTS.get(service, {}).get(event, {}))
    env.update(overrides or {})
    result = plan(env)
    env.update(result.as_env())
    if commit:
        env["BUILD_COMMIT"] = commit
    return env, result


def resolve_source(options: RunOptions, environ: Mapping[str, str],
                   groups: ProcessGroups) -> SourceResult | None:
    """clean_code REPO_DIR at BUILD_COMMIT (clone or fetch, resolve the ref) before any target
    starts or anything is staged (in docker mode after the docker preflight): an unknown
    ref, an unreachable repository or a broken config.sh is a one-line UsageError here, and
    the previous wheelhouse stays as it was. None when a signal stopped it (nothing changed
    either)."""
    from multibuild.build.incremental import build_mode_of

    if build_mode_of(environ) == "docker":  # the images and mounts, before anything runs
        docker_preflight(options, environ, groups)
    log = options.work_dir / "source" / "build.log"
    if sys.stdout.isatty():  # a clone can take minutes; pipes and CI logs stay quiet
        print(f"wheels: checking out {options.repo_dir} at {options.build_commit} (log: {log})",
              flush=True)
    source = prepare_source(options, environ, groups)
    if groups.interrupted:
        return None
    if not source.passed:  # an error before any build: exit status 2, like bad input
        raise UsageError(source.error)
    check_requires_python(options)
    print(f"wheels: source: {source_sentence(repository_record(options))}", flush=True)
    return source


def check_requires_python(options: RunOptions) -> None:
    """Refuse, before anything is built, target Pythons outside the project's
    ``requires-python`` at the checked-out ref (a one-line UsageError, exit 2)."""
    from multibuild.build.incremental import project_label, python_allowed, requires_python

    project = source_dir(options)
    try:
        spec = requires_python(project)
    except MultibuildError as exc:
        raise UsageError(str(exc)) from None
    if spec is None:
        return
    refused = [t.python for t in options.targets if not python_allowed(spec, t.python)]
    if refused:
        raise UsageError(
            f"{options.python_source} {','.join(refused)}: {project_label(project)} at "
            f"{options.build_commit} requires Python {spec} (requires-python in its "
            "pyproject.toml); nothing was built")


def build_targets(options: RunOptions, environ: Mapping[str, str], groups: ProcessGroups,
                  staging: Staging) -> list[TargetResult]:
    """Build, repair, test every target of ``options`` (its source resolved) and stage the
    passing wheels into ``staging``."""
    from multibuild.build.incremental import provision_ccache

    provision_ccache(environ)  # USE_CCACHE's default wants it; installed like the tests' LLVM
    targets = ", ".join(t.id for t in options.targets)
    print(f"wheels: building {options.repo_dir} at {options.build_commit} for {targets}",
          flush=True)
    return run_all(options, environ=environ, groups=groups, stage_dir=staging.path)


def build(options: RunOptions, environ: Mapping[str, str], *,
          groups: ProcessGroups | None = None) -> list[TargetResult]:
    """The main job: check the project out, then build, repair, test and stage every target
    of ``options`` with the environment ``environ``. ``./wheels build`` runs this; a replayed
    CI job runs its parts (several jobs, one wheelhouse).

    The wheels go into a fresh staging directory that replaces the output wheelhouse, with
    the report, when the run ends, interrupted or not; nothing is staged, and the output is
    left alone, until the source is checked out (``resolve_source``). ``groups`` holds the
    run's processes and any signal that interrupted it (default: its own, handling the
    signals). An empty list: a signal stopped the run before any target started."""
    if groups is None:
        own = ProcessGroups()
        with own.handling_signals():
            return build(options, environ, groups=own)
    started = time.time()
    source = resolve_source(options, environ, groups)
    if source is None:
        return []
    for line in options.ci_sources():  # once the source is there: errors before stay one line
        print(f"wheels: {line}", flush=True)
    staging = Staging.create(options.output_dir, options.work_dir / PREVIOUS)
    try:
        results = build_targets(options, environ, groups, staging)
    except BaseException:
        staging.discard()
        raise
    publish_run(staging, results, options.build_commit, groups,
                jobs=effective_jobs(options), repository=repository_record(options),
                source=source, started=started)
    return results


def docker_preflight(options: RunOptions, environ: Mapping[str, str],
                     groups: ProcessGroups) -> None:
    """Docker mode, before anything is built: the images are here (or pulled) and have the
    targets' Pythons, the work directory is visible in the containers; an interrupted run
    removes the containers it started."""
    from multibuild.build import docker

    docker.preflight([(t.python, t.plat) for t in options.targets], environ, options.root,
                     options.work_dir)

    def remove_containers() -> None:
        removed = docker.remove_run_containers(groups.run_id, environ)
        if removed:
            print(f"wheels: removed {removed} container(s) of the interrupted run",
                  file=sys.stderr, flush=True)

    groups.on_interrupt(remove_containers)


def repository_record(options: RunOptions) -> dict[str, object]:
    """What the run's clean_code checked out, for the report."""
    from multibuild.run.report import checkout_record

    return checkout_record(source_dir(options), options.build_commit, options.repo_url)


def publish_run(staging: Staging, results: list[TargetResult], build_commit: str,
                groups: ProcessGroups, *, jobs: int | None = None,
                repository: dict[str, object] | None = None,
                source: SourceResult | None = None, started: float | None = None) -> None:
    """Write the run's report into its staged wheelhouse and swap that in for the output.
    The upload step uploads only what this report lists as passed. ``started``: when the run
    began (its duration runs from there to now)."""
    from multibuild.run.report import REPORT, write_run_report
    from multibuild.run.summary import print_interruption

    groups.finish()  # nothing the run started outlives it
    write_run_report(staging.output, results, build_commit, jobs=jobs,
                     interrupted_by=groups.signal_name, into=staging.path,
                     repository=repository, source=source,
                     timing=(started, time.time()) if started else None,
                     run_id=groups.run_id)
    previous = staging.publish()
    report = staging.output / REPORT
    print(f"wheels: report: {report} and {report.with_suffix('.html')}", flush=True)
    if previous is not None:
        print(f"wheels: the previous run's wheelhouse is now {previous}", flush=True)
    if groups.signal_name is not None:
        print_interruption(results, groups.signal_name, report)


def check_library(root: Path) -> None:
    """``root/multibuild`` must be this library (swapped in for the multibuild submodule)
    for a job that sources it to run."""
    marker = root / "multibuild" / "bootstrap.sh"
    if not marker.is_file():
        where = root / "multibuild"
        state = "is empty (an uninitialised submodule?)" if where.is_dir() and not any(
            where.iterdir()) else "is not this library" if where.exists() else "is missing"
        raise MultibuildError(
            f"{where} {state}: swap this library in for the multibuild submodule first "
            "(README: Drop-in multibuild)")


def script_job_environment(job: Job, root: Path, work: Path, environ: Mapping[str, str], *,
                           event: EventKind, upload: bool) -> dict[str, str]:
    """The process environment a script job starts with: what a CI machine has (this
    library's settings, what a shell needs), what its service sets, and the replay's
    bookkeeping. Travis's env entries are exported by the job's own shell; Azure's variables
    reach each step from ``multibuild.run.cirun``."""
    from multibuild.ci.cimatrix import travis_environment
    from multibuild.run.cirun import host_environment

    env = host_environment(environ, upload)
    extra = dict(job.extra)
    if job.service == "travis":
        env.update(travis_environment(root, extra.get("python", ""),
                                      extra.get("arch", "amd64"), event))
    elif job.service == "azure":
        env.update({"TF_BUILD": "True", "SYSTEM_TEAMPROJECT": "local"})
    env.update(MB_WORK_DIR=str(work), MB_STEP_LOG=str(work / "steps.tsv"), MB_TARGET_ID=job.id,
               MB_LOG_GROUPS="none")
    env.pop("VIRTUAL_ENV", None)
    return env


def _single_quoted(value: str) -> str:
    """``value`` as one single-quoted shell word (a printed line may be pasted into a shell:
    Python's repr would leave ``$(...)`` live inside double quotes)."""
    return "'" + value.replace("'", "'\\''") + "'"


def parse_assignments(items: Sequence[str]) -> dict[str, str]:
    found: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.isidentifier():
            raise MultibuildError(f"--set {item!r}: expected NAME=VALUE")
        found[name] = value
    return found


def cmd_replay(args: argparse.Namespace) -> int:
    groups = ProcessGroups()
    with groups.handling_signals():
        return _replay(args, groups)


def _replay(args: argparse.Namespace, groups: ProcessGroups) -> int:
    from multibuild.ci.cicheck import cmd_check
    from multibuild.ci.cimatrix import Host, expand, select, skip_reason
    from multibuild.run.cirun import JobRun
    from multibuild.run.summary import print_summary

    root = repository_root(args)
    jobs = select(expand(root), args.job)
    # What this command passes on is checked as every tool here checks it (multibuild.core.refs).
    # (--commit sets the job's BUILD_COMMIT, --repo-dir its REPO_DIR: named as those.)
    if args.commit is not None:
        check_ref(args.commit, "BUILD_COMMIT")
    if args.repo_dir is not None:
        check_repo_dir(args.repo_dir, "REPO_DIR")
    overrides = parse_assignments(args.set or [])
    for flag, name in ((args.repo_url, "REPO_URL"), (args.repo_dir, "REPO_DIR")):
        if flag:
            overrides[name] = flag
    host = Host.detect({**os.environ, **overrides})
    output = (Path(args.output) if args.output else root / "wheelhouse").resolve()
    work = Path(args.work_dir).resolve() if args.work_dir else root / "build" / "replay"
    verdicts: dict[str, str] = {}
    # Every job's options are resolved (and refused) before any job is built.
    planned: list[tuple[str, dict[str, str], RunOptions] | JobRun] = []
    for job in jobs:
        reason = skip_reason(job, host)
        if reason is not None:
            print(f"replay: {job.id}: skipped: {reason}", flush=True)
            verdicts[job.id] = f"skipped: {reason}"
            continue
        if job.kind == "check":
            status = cmd_check(argparse.Namespace(root=str(root), repo=None))
            verdicts[job.id] = "passed" if status == 0 else "FAILED"
            continue
        if job.kind == "script":
            check_library(root)
            set_here = dict(overrides)
            if args.commit:
                set_here["BUILD_COMMIT"] = args.commit
            run = JobRun(job, root, work / job.id,
                         script_job_environment(job, root, work / job.id, os.environ,
                                                event=args.event, upload=args.upload),
                         overrides=set_here, upload=args.upload, event=args.event)
            print(f"replay: {job.id} ({job.where}): {job.service} job, its own steps, "
                  f"{args.event} event; " + ("uploads as written (--upload)" if args.upload
                                             else "uploads disabled"), flush=True)
            if args.print_env:
                from multibuild.ci.cimatrix import evaluated_environment

                variables = {**evaluated_environment(root, job), **set_here}
                for name, value in sorted(variables.items()):
                    print(f"export {name}={shlex.quote(value)}")
                continue
            planned.append(run)
            continue
        env, result = job_environment(
            job.environment, job.service, os.environ, event=args.event, overrides=overrides,
            commit=args.commit,
        )
        upload = result.channel or "nothing (pull request)"
        print(f"replay: {job.id} ({job.where}): {result.event} event -> {env['BUILD_COMMIT']}; "
              f"CI would upload to {upload}; a replay uploads nothing", flush=True)
        if args.print_env:
            for name in sorted({*job.environment, *overrides, *result.as_env()}):
                print(f"export {name}={_single_quoted(env[name])}")
            continue
        planned.append((job.id, env, RunOptions.resolve(root, env, output_dir=output,
                                                        work_dir=work / job.id)))
    results: list[TargetResult] = []
    commits: list[str] = []
    started = time.time()
    # One staged wheelhouse and one report for every replayed job, made once the first job's
    # source is checked out (or a script job starts): an error before that leaves the output
    # as it was.
    staging: Staging | None = None
    try:
        for item in planned:
            job_id = item.job.id if isinstance(item, JobRun) else item[0]
            if groups.interrupted:
                verdicts[job_id] = "not run (interrupted)"
                continue
            if isinstance(item, JobRun):
                if staging is None:
                    staging = Staging.create(output, work / PREVIOUS)
                job_results = [_run_script_job(item, staging, work, groups)]
                commits.append(item.overrides.get("BUILD_COMMIT")
                               or item.job.environment.get("BUILD_COMMIT", "?"))
            else:
                _, env, options = item
                try:
                    source = resolve_source(options, env, groups)
                except MultibuildError as exc:
                    if staging is None:
                        raise
                    print(f"replay: {job_id}: error: {exc}", file=sys.stderr, flush=True)
                    verdicts[job_id] = "FAILED (checkout)"
                    continue
                if source is None:
                    verdicts[job_id] = "not run (interrupted)"
                    continue
                if staging is None:
                    staging = Staging.create(output, work / PREVIOUS)
                job_results = build_targets(options, env, groups, staging)
                commits.append(options.build_commit)
            results += job_results
            passed = bool(job_results) and all(r.passed for r in job_results)
            verdicts[job_id] = ("passed" if passed else "INTERRUPTED"
                                if any(r.interrupted for r in job_results) else "FAILED")
    except BaseException:
        if staging is not None:
            staging.discard()
        raise
    if staging is not None:
        publish_run(staging, results, ", ".join(dict.fromkeys(commits)), groups,
                    started=started)
        print_summary(results)
    ran = [v for v in verdicts.values() if not v.startswith("skipped")]
    for job in jobs:  # a skipped job was said so once, above
        if job.id in verdicts and not verdicts[job.id].startswith("skipped"):
            print(f"replay: {job.id}: {verdicts[job.id]}")
    if not ran and not args.print_env:
        print("error: none of the selected jobs can run on this host", file=sys.stderr)
        return 1
    if groups.interrupted:
        print(f"replay: interrupted by {groups.signal_name}", file=sys.stderr)
        return groups.exit_status
    failed = [v for v in ran if v != "passed"]
    if failed:
        print(f"replay: {len(failed)} of {len(ran)} jobs failed", file=sys.stderr)
        return 1
    if results:
        print(f"replay: {len(ran)} jobs passed; wheels in {output}")
    return 0


def _run_script_job(run: JobRun, staging: Staging, work: Path,
                    groups: ProcessGroups) -> TargetResult:
    """Run a script job in its repository. It writes its wheels where its CI file says
    (WHEEL_SDIR, default wheelhouse/, in the repository) and should find that empty, as on a
    fresh CI machine: what is there first moves to WORK/previous-wheelhouse, and the job's
    wheels move to its own work dir afterwards; the wheels of a passing job are staged."""
    from multibuild.run.cirun import collect_wheels, run_job
    from multibuild.run.runner import Output, stage

    wheelhouse = run.root / run.job.environment.get("WHEEL_SDIR", "wheelhouse")
    if wheelhouse.is_dir() and wheelhouse.resolve() != staging.path.resolve():
        keep = work / PREVIOUS
        shutil.rmtree(keep, ignore_errors=True)
        keep.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(wheelhouse), str(keep))
        print(f"replay: {wheelhouse} moved to {keep} (a job starts with an empty wheelhouse)",
              flush=True)
    result = run_job(run, Output(), groups)
    collect_wheels(result, wheelhouse, run.work / "wheelhouse")
    if wheelhouse.is_dir() and not any(wheelhouse.iterdir()):
        wheelhouse.rmdir()
    if not result.passed:
        from multibuild.run.runner import _tail

        result.tail = _tail(run.log)
    stage(result, staging.path)
    print(f"[{run.job.id}] {'passed' if result.passed else 'FAILED'} in {result.duration:.0f}s; "
          f"log: {run.log}", flush=True)
    return result


def add_subcommand(sub: argparse._SubParsersAction[argparse.ArgumentParser],
                   root: Path) -> None:
    replay = sub.add_parser(
        "replay", help="run CI jobs on this machine (ids from ./wheels jobs)",
        description="Run one or several CI jobs here with the environment CI gives them and "
        "the same event plan and build steps; nothing is uploaded. Jobs this host cannot run "
        "are reported as skipped with the reason.",
    )
    replay.add_argument("job", nargs="+", help="job ids or globs, e.g. azure-linux-x86_64-*")
    replay.add_argument("--event", choices=EVENTS, default="push",
                        help="CI event to simulate: push builds BUILD_COMMIT, schedule builds "
                        "NIGHTLY_BUILD_COMMIT (default: push)")
    replay.add_argument("--commit", help="build this ref instead of the planned commit")
    replay.add_argument("--repo-url", help="project repository to clone (default: REPO_URL)")
    replay.add_argument("--repo-dir", help="project checkout directory (default: REPO_DIR)")
    replay.add_argument("--set", action="append", metavar="NAME=VALUE",
                        help="override a job variable (repeatable), e.g. CONFIG_PATH=...")
    replay.add_argument("--output", help="the run's wheelhouse, replaced whole (default: "
                        "wheelhouse/; the previous one moves to WORK_DIR/previous-wheelhouse/)")
    replay.add_argument("--work-dir", help="job build directories (default: build/replay/)")
    replay.add_argument("--print-env", action="store_true",
                        help="print each job's variables instead of running it")
    replay.add_argument("--upload", action="store_true",
                        help="run a job's upload commands as written (another repository's "
                        "jobs; default: stubs say what they would upload)")
    replay.add_argument("--repo", metavar="PATH",
                        help="the wheels repository (default: the one holding the current "
                        "directory, else this one); its multibuild/ must be this library")
    replay.add_argument("--root", default=str(root), help=argparse.SUPPRESS)
    replay.set_defaults(func=cmd_replay)
