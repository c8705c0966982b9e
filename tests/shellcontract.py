"""Contract tables for the shell library: many function calls checked in one bash process.

A :class:`Case` is one call (a shell snippet, run in a command substitution after the library is
sourced) with the stdout and return status multibuild's contract gives it. :func:`run_cases`
runs a whole table in a single ``bash`` (fast: the library is sourced once), each case with
errexit off, and each passing case a second time with errexit on (``set -e``, as
``common_utils.sh`` leaves a CI step's shell): the contract must hold in both.
"""

from __future__ import annotations

import subprocess
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from conftest import tool_env

# stderr: "" must be empty; None is not checked; any other text must appear in it, and a failing
# call's stderr must be that one line (a clear one-line error naming the function).
UNCHECKED = None


@dataclass(frozen=True)
class Case:
    command: str
    stdout: str = ""
    status: int = 0
    stderr: str | None = ""
    # Also checked under errexit (passing cases only); False where errexit is the point.
    errexit: bool = True
    # A failure is a bad-input error: one line, "error: FUNCTION: ...". False for contracts
    # with their own message (retry's "Retry failed [5]: ...").
    one_line_error: bool = True

    @property
    def id(self) -> str:
        return self.command if len(self.command) <= 70 else self.command[:67] + "..."


def function_of(command: str) -> str:
    """The function a case calls: its first word that is not a VAR=value assignment."""
    return next((w for w in command.split() if "=" not in w), "")


def errexit_once(cases: Iterable[Case], functions: Collection[str]) -> list[Case]:
    """``cases`` with the errexit rerun kept for only the first passing case of each of
    ``functions`` (thin wrappers of a Python helper: one rerun proves them, and each costs a
    Python start)."""
    seen: set[str] = set()
    kept = []
    for case in cases:
        name = function_of(case.command)
        if name in functions and case.status == 0:
            kept.append(case if name not in seen else replace(case, errexit=False))
            seen.add(name)
        else:
            kept.append(case)
    return kept


@dataclass(frozen=True)
class Outcome:
    stdout: str
    status: int
    stderr: str


def _case_block(command: str, errexit: bool) -> str:
    prefix = "set -e; " if errexit else ""
    return (
        f'__out=$( {{ {prefix}{command}\n}} 2> "$__err" ); __status=$?\n'
        'printf "%s\\0%s\\0%s\\0" "$__status" "$__out" "$(cat "$__err")"\n'
    )


def run_cases(setup: str, cases: Iterable[Case], cwd: Path,
              env: Mapping[str, str] | None = None,
              ) -> tuple[dict[str, Outcome], dict[str, Outcome]]:
    """Run ``setup`` (sourcing the library) then every case; returns the outcomes without and
    with errexit, keyed by command (the errexit run only for passing cases with ``errexit``)."""
    cases = list(cases)
    lines = [setup, "set +e", '__err=$(mktemp)']
    for case in cases:
        lines.append(_case_block(case.command, errexit=False))
    again = [c for c in cases if c.status == 0 and c.errexit]
    for case in again:
        lines.append(_case_block(case.command, errexit=True))
    done = subprocess.run(["bash", "-c", "\n".join(lines)], cwd=cwd, env=tool_env(env),
                          capture_output=True, text=True, timeout=600, check=False)
    fields = done.stdout.split("\0")
    expected_fields = 3 * (len(cases) + len(again)) + 1
    assert len(fields) == expected_fields, (
        f"the table's bash ended early (exit {done.returncode}):\n{done.stderr}")
    outcomes = [Outcome(fields[i + 1], int(fields[i]), fields[i + 2])
                for i in range(0, len(fields) - 1, 3)]
    plain = {c.command: o for c, o in zip(cases, outcomes)}
    strict = {c.command: o for c, o in zip(again, outcomes[len(cases):])}
    return plain, strict


def check(case: Case, outcome: Outcome, substitutions: Mapping[str, str] | None = None,
          errexit: bool = False) -> None:
    """Assert that ``outcome`` keeps the contract of ``case`` ({name} in expectations are
    replaced from ``substitutions``)."""
    subs = dict(substitutions or {})
    where = f"{case.command!r}{' under set -e' if errexit else ''}"
    assert outcome.status == case.status, f"{where}: status {outcome.status}\n{outcome.stderr}"
    assert outcome.stdout == case.stdout.format(**subs), f"{where}: stdout"
    if case.stderr is None:
        return
    if case.stderr == "":
        assert outcome.stderr == "", f"{where}: unexpected stderr {outcome.stderr!r}"
        return
    assert case.stderr.format(**subs) in outcome.stderr, f"{where}: stderr {outcome.stderr!r}"
    if case.status != 0 and case.one_line_error:
        assert len(outcome.stderr.splitlines()) == 1, f"{where}: not a one-line error"
        assert outcome.stderr.startswith("error: "), f"{where}: {outcome.stderr!r}"


def check_table(case: Case, outcomes: tuple[dict[str, Outcome], dict[str, Outcome]],
                substitutions: Mapping[str, str] | None = None) -> None:
    """:func:`check` a case of a :func:`run_cases` table, with errexit off and (if run) on."""
    plain, strict = outcomes
    check(case, plain[case.command], substitutions)
    if case.command in strict:
        check(case, strict[case.command], substitutions, errexit=True)
