"""Typed helpers behind the multibuild shell library.

The shell functions (``common_utils.sh``, ``travis_steps.sh``, ...) keep multibuild's names and
contracts and stay beside this file; the logic they need lives in the subpackages of
:data:`LAYERS`, one per stage, lowest first. A module imports from its own package or a lower
one, never a higher one (``tests/test_layers.py`` checks the real import graph). This module
(the errors and :func:`run_cli`) is below them all; ``cli.py`` and ``__main__.py`` (the
``./wheels`` front door) are above them all.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

__all__ = ["LAYERS", "MultibuildError", "UsageError", "exit_status_of", "run_cli"]

# The stage subpackages, lowest first (each one's __init__ says what belongs there).
LAYERS = ("core", "net", "deps", "source", "build", "ci", "run", "release")


class MultibuildError(Exception):
    """A user-facing failure: the message is one line naming the culprit."""


class UsageError(MultibuildError):
    """Bad input (an option, argument, variable or file given to a tool): exit status 2,
    before anything is fetched, written or uploaded."""


def exit_status_of(exc: MultibuildError) -> int:
    """A command's exit status for ``exc``: 2 for bad input, 1 for a failure."""
    return 2 if isinstance(exc, UsageError) else 1


def run_cli(body: Callable[[], int | None], status: int | None = None) -> int:
    """Run a command's ``body`` (its exit status; None is 0): a :class:`MultibuildError` becomes
    one ``error: MESSAGE`` line on stderr and exit status ``status``, or, without one,
    :func:`exit_status_of` the error. Other exceptions pass through."""
    try:
        done = body()
    except MultibuildError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exit_status_of(exc) if status is None else status
    return 0 if done is None else done
