"""Build and test progress for a terminal or a CI log, without flooding either.

A meson build streams ninja's ``[n/m] Compiling ...`` lines (``pip wheel -v``), thousands of
them; a test suite run with ``-q`` prints a line of dots per few hundred tests. Shown as they
come, they bury everything else (and so do the compiler warnings between them).
``Condenser`` shows a progress line only every ``interval`` seconds (``MB_PROGRESS_INTERVAL``,
default 15; ``0`` shows every line), plus the last one (``[m/m]``, ``[100%]``) and any test line
with a failure or an error; replaying a finished log (no clock), one per 10%. Between ninja's
first and last line only lines that look like trouble (error, ``FAILED:``, fatal, Traceback)
show; everything else passes through. The full output always stays in the
target's ``build.log``: only what the terminal shows is condensed.

  some-build 2>&1 | python -m multibuild.core.progress     # the same filter for any command
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Callable

DEFAULT_INTERVAL = 15.0
# ninja (meson's backend) status lines: "[123/4567] Compiling C object ...".
_NINJA = re.compile(r"^\s*\[(\d+)/(\d+)\]\s")
_NINJA_END = re.compile(r"^ninja: (build stopped|no work to do)")
# Lines shown even in the middle of a build.
_TROUBLE = re.compile(r"\berror\b|^FAILED:|fatal|Traceback|^ninja: ", re.IGNORECASE)
# Lifecycle step lines and CI markers (log groups, folds, annotations): always shown.
_ALWAYS = ("---- ", "##[", "##vso[", "::", "travis_fold:", "travis_time:")
# pytest -q progress lines: ".....s..x..   [ 37%]".
_TEST_DOTS = re.compile(r"^[.sxXFEp]+\s*\[\s*(\d+)%\]\s*$")


def interval_from(environ: Mapping[str, str]) -> float:
    try:
        return max(0.0, float(environ.get("MB_PROGRESS_INTERVAL", DEFAULT_INTERVAL)))
    except ValueError:
        return DEFAULT_INTERVAL


class Condenser:
    """Decides which lines of one stream to show. ``clock=None``: replay (one per 10%)."""

    def __init__(self, interval: float = DEFAULT_INTERVAL,
                 clock: Callable[[], float] | None = time.monotonic) -> None:
        self.interval = interval
        self.clock = clock
        self.hidden = 0  # lines not shown since the last one shown
        self.building = False  # between ninja's first and last [n/m] line
        self._last: dict[str, float] = {}  # kind -> time (or decile) of the last shown

    def _show(self, kind: str, done: int, total: int) -> bool:
        if done >= total:
            return True
        if self.clock is None:
            decile = done * 10 // max(total, 1)
            if decile > self._last.get(kind, -1):
                self._last[kind] = decile
                return True
            return False
        now = self.clock()
        if now - self._last.get(kind, float("-inf")) >= self.interval:
            self._last[kind] = now
            return True
        return False

    def feed(self, line: str) -> str | None:
        """``line`` (with its newline) if it is to be shown, else None."""
        if self.interval == 0:
            return line
        text = line.rstrip("\r\n")
        if text.startswith(_ALWAYS):  # a step's start or end, a CI log group or annotation
            self.building = False
            return line
        ninja = _NINJA.match(text)
        if ninja:
            done, total = int(ninja.group(1)), int(ninja.group(2))
            self.building = done < total
            return self._emit(line, self._show("build", done, total))
        dots = _TEST_DOTS.match(text)
        if dots:
            percent = int(dots.group(1))
            failed = "F" in text or "E" in text
            return self._emit(line, failed or self._show("tests", percent, 100))
        if self.building:
            # Compiler chatter (warnings, notes) between ninja's lines: build.log only; the
            # end of the build and anything that looks like a failure still show.
            if _NINJA_END.match(text):
                self.building = False
            elif not _TROUBLE.search(text):
                self.hidden += 1
                return None
        return line

    def _emit(self, line: str, show: bool) -> str | None:
        if not show:
            self.hidden += 1
            return None
        self.hidden = 0
        return line

    def lines(self, lines: Iterable[str]) -> Iterator[str]:
        for line in lines:
            shown = self.feed(line)
            if shown is not None:
                yield shown


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m multibuild.core.progress",
        description="Condense a build's or a test run's output read on standard input, as "
        "./wheels build shows it: a progress line (ninja's [n/m], pytest's [ n%]) every "
        f"MB_PROGRESS_INTERVAL seconds (default {DEFAULT_INTERVAL:g}; 0 shows every line) and "
        "the last one, compiler chatter between them hidden, errors, failures and step lines "
        "always shown. Example: some-build 2>&1 | python -m multibuild.core.progress",
    )
    parser.add_argument("--interval", type=float, metavar="SECONDS",
                        help="seconds between progress lines (default: MB_PROGRESS_INTERVAL)")
    args = parser.parse_args(argv)
    if args.interval is not None and args.interval < 0:
        parser.error(f"--interval {args.interval:g}: must be 0 or more")
    interval = interval_from(os.environ) if args.interval is None else args.interval
    condenser = Condenser(interval)
    for line in sys.stdin:
        shown = condenser.feed(line)
        if shown is not None:
            sys.stdout.write(shown)
            sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
