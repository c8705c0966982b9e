"""Typed helpers behind the multibuild shell library.

The shell functions (``common_utils.sh``, ``travis_steps.sh``, ...) keep multibuild's names and
contracts; the logic they need (interpreter discovery, wheel selection, repair, container
command lines, the local runner) lives in these modules.
"""

__all__ = ["MultibuildError", "UsageError", "exit_status_of"]


class MultibuildError(Exception):
    """A user-facing failure: the message is one line naming the culprit."""


class UsageError(MultibuildError):
    """Bad input (an option, argument, variable or file given to a tool): exit status 2,
    before anything is fetched, written or uploaded."""


def exit_status_of(exc: MultibuildError) -> int:
    """A command's exit status for ``exc``: 2 for bad input, 1 for a failure."""
    return 2 if isinstance(exc, UsageError) else 1
