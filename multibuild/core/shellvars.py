"""Values from Python to the shell library without ``eval``.

A helper module prints one ``NAME=VALUE`` record per line; the shell reads them with
``mb_import_vars`` (``common_utils.sh``), which takes each line with ``read -r``, splits it at
the first ``=``, accepts only the names its caller lists, and assigns the value with
``printf -v`` or ``export "NAME=VALUE"``: the value is data, never parsed as shell, whatever
quotes, ``$(...)``, backticks, globs or unicode it holds. A value may hold anything but a NUL
byte (the environment cannot) and a newline (which ends a record): those are refused here,
with one line, before anything is printed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from multibuild import MultibuildError

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def records(values: Mapping[str, str] | Iterable[tuple[str, str]]) -> str:
    """``NAME=VALUE`` lines for ``mb_import_vars``; a name may repeat (array elements)."""
    items = values.items() if isinstance(values, Mapping) else values
    lines = []
    for name, value in items:
        if not _NAME.fullmatch(name):
            raise MultibuildError(f"{name!r} is not a shell variable name")
        if "\n" in value or "\r" in value or "\0" in value:
            raise MultibuildError(f"{name}: the value holds a line break or NUL byte; refused")
        lines.append(f"{name}={value}\n")
    return "".join(lines)
