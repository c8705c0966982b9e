"""The one-screen summary printed at the end of a run."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from multibuild.run.runner import TargetResult


def _size(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n >= 1e5 else f"{n / 1e3:.1f} kB"


def print_summary(results: list[TargetResult], console: Console | None = None,
                  repository: Mapping[str, Any] | None = None) -> None:
    """The table of targets (a wheel only where one was staged), the tests each ran, the
    bundled compiler runtimes, the time per step, the failures' logs and, given the run's
    ``repository`` record, what was built."""
    # A log file or pipe gets full-width rows rather than names folded at 80 columns.
    console = console or Console(width=None if sys.stdout.isatty() else 200)
    table = Table(title="Wheels", show_lines=False)
    columns = ("target", "wheel", "platform tag", "size", "bundled libraries", "tests", "time",
               "result")
    for column in columns:
        table.add_column(column, overflow="fold")
    for result in results:
        verdict = (
            "[green]passed[/]" if result.passed
            else "[yellow]not started[/]" if result.interrupted and not result.steps
            else f"[yellow]interrupted[/] in {result.failed_step}" if result.interrupted
            else f"[red]failed[/] at {result.failed_step or 'start'}"
        )
        took = f"{result.duration:.0f}s"
        tests = result.tests.describe() if result.tests else "-"
        if result.tests_reused:
            from multibuild.run.report import reused_text

            tests = reused_text(result.tests_reused, result.tests.describe()
                                if result.tests else "")
        # Only a passing target's wheels were staged; a failed one's stay in its work dir.
        staged = result.wheels if result.passed else []
        if not staged:
            table.add_row(result.target.id, "- (none staged)" if result.wheels else "-", "-",
                          "-", "-", tests, took, verdict)
        for wheel in staged:
            table.add_row(
                result.target.id, wheel.path.name, ", ".join(wheel.platform_tags),
                _size(wheel.size), ", ".join(wheel.bundled) or "none", tests, took, verdict,
            )
    console.print(table)
    from multibuild.run.report import compiler_runtimes

    for result in results:  # GCC runtime libraries bundled: their licence comes along
        for wheel in result.wheels if result.passed else []:
            runtimes = compiler_runtimes(wheel.bundled)
            if runtimes:
                console.print(f"{result.target.id}: compiler runtimes bundled in "
                              f"{wheel.path.name}: {', '.join(runtimes)}", highlight=False)
    for line, warn in portability_lines(results):  # whole lines: tests and logs grep them
        console.print(f"[yellow]{line}[/]" if warn else line, highlight=False, markup=warn,
                      soft_wrap=True)
    steps: dict[str, float] = {}
    for result in results:
        for step in result.steps:
            steps[step.name] = steps.get(step.name, 0.0) + (step.duration or 0.0)
    if steps:
        console.print("time per step (all targets): " + ", ".join(
            f"{name} {seconds:.0f}s" for name, seconds in steps.items()), highlight=False)
    if repository:
        from multibuild.source.checkout import source_sentence

        console.print(f"source: {source_sentence(repository)}", highlight=False,
                      markup=False, soft_wrap=True)
    for result in results:
        if not result.passed and not result.interrupted:
            console.print(f"[red]{result.target.id}[/] log: {result.log}")
            console.print(result.tail, markup=False, highlight=False)


def portability_lines(results: list[TargetResult]) -> list[tuple[str, bool]]:
    """Per Linux wheel: its platform tag, the oldest distributions it installs on and the
    toolchain that built it; for a wheel above the toolchain's policy, a warning naming the
    symbols and libraries that pin it there (never a silent manylinux_2_35)."""
    from rich.markup import escape

    from multibuild.build.crosspython import read_test_record
    from multibuild.build.glibc import portability
    from multibuild.build.toolchain import read_record

    lines: list[tuple[str, bool]] = []
    for result in results:
        tested = read_test_record(result.log.parent)
        if tested is not None:
            state = "tested" if tested.get("tested") else "built, not tested"
            lines.append((escape(f"{result.target.id}: {state}: {tested.get('how')}"),
                          not tested.get("tested")))
        toolchain = read_record(result.log.parent) or {}
        policy = toolchain.get("policy") if isinstance(toolchain.get("policy"), str) else None
        built = (f"; built with {toolchain.get('compiler')} for {toolchain.get('target')}"
                 if toolchain.get("compiler") else "")
        for wheel in result.wheels:
            tags = [t for t in wheel.platform_tags if t.startswith(("manylinux", "linux_"))]
            if not tags:
                continue
            facts = portability(wheel.path, wheel.platform_tags, policy, wheel.sha256)
            where = ", ".join(facts["installs_on"]) or "no distribution through pip (not a " \
                "manylinux tag)"
            lines.append((f"{result.target.id}: {', '.join(tags)} installs on {where}{built}",
                          False))
            glibc = facts["glibc"]
            if glibc and glibc["policy_met"] is False:
                pins = "; ".join(f"{r['symbol']}@{r['version']} from {r['library']} in {r['elf']}"
                                 for r in glibc["above_policy"][:3])
                lines.append((escape(
                    f"{result.target.id}: above the {policy} policy asked for: needs glibc "
                    f"{glibc['highest_glibc']} ({pins}); build in docker mode "
                    f"(MB_BUILD_MODE=docker) for {policy}"), True))
    return lines


def print_interruption(results: list[TargetResult], signal_name: str, report: Path) -> None:
    """What a signal stopped, on stderr: each unfinished target, its step and its log."""
    lines = [f"wheels: interrupted by {signal_name}; every process the run started is gone"]
    for result in results:
        if not result.interrupted:
            continue
        if result.steps:
            lines.append(f"  {result.target.id}: stopped in {result.failed_step}; log: "
                         f"{result.log}")
        else:
            lines.append(f"  {result.target.id}: not started")
    done = [r.target.id for r in results if not r.interrupted]
    if done:
        lines.append(f"  finished before the signal: {', '.join(done)}")
    lines.append(f"wheels: the report ({report}) marks the run interrupted; only finished, "
                 "passing targets' wheels are staged")
    print("\n".join(lines), file=sys.stderr, flush=True)
