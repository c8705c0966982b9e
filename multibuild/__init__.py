"""Typed helpers behind the multibuild shell library.

The shell functions (``common_utils.sh``, ``travis_steps.sh``, ...) keep multibuild's names and
contracts; the logic they need (interpreter discovery, wheel selection, repair, container
command lines, the local runner) lives in these modules.
"""

__all__ = ["MultibuildError"]


class MultibuildError(Exception):
    """A user-facing failure: the message is one line naming the culprit."""
