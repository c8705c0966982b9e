"""The one-screen summary printed at the end of a run."""

from __future__ import annotations

import sys

from rich.console import Console
from rich.table import Table

from multibuild.runner import TargetResult


def _size(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n >= 1e5 else f"{n / 1e3:.1f} kB"


def print_summary(results: list[TargetResult], console: Console | None = None) -> None:
    # A log file or pipe gets full-width rows rather than names folded at 80 columns.
    console = console or Console(width=None if sys.stdout.isatty() else 200)
    table = Table(title="Wheels", show_lines=False)
    for column in ("target", "wheel", "platform tag", "size", "bundled libraries", "result"):
        table.add_column(column, overflow="fold")
    for result in results:
        verdict = (
            "[green]passed[/]" if result.passed
            else f"[red]failed[/] at {result.failed_step or 'start'}"
        )
        if not result.wheels:
            table.add_row(result.target.id, "-", "-", "-", "-", verdict)
        for wheel in result.wheels:
            table.add_row(
                result.target.id, wheel.path.name, ", ".join(wheel.platform_tags),
                _size(wheel.size), ", ".join(wheel.bundled) or "none", verdict,
            )
    console.print(table)
    for result in results:
        if not result.passed:
            console.print(f"[red]{result.target.id}[/] log: {result.log}")
            console.print(result.tail, markup=False, highlight=False)
