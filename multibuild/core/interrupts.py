"""Stopping a run cleanly on SIGINT, SIGTERM or SIGHUP.

Every step script of a run starts in a session (and so a process group) of its own, which
holds everything the script starts: pip, meson, ninja, compilers, test runners. The run keeps
them in a ``ProcessGroups``. The first signal kills every group with SIGTERM and, after a
short grace, SIGKILL for whatever is left (a process that ignores SIGTERM); the run then stops
starting targets, writes its report marked interrupted and exits 128 + the signal number
(130 for SIGINT, 143 for SIGTERM). A second signal sends SIGKILL at once; a third gives up on
the report and exits immediately.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Any

# Seconds between SIGTERM and SIGKILL (MB_KILL_GRACE overrides it).
KILL_GRACE = 5.0
HANDLED_SIGNALS: tuple[signal.Signals, ...] = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


def _living_members(pgid: int) -> bool:
    """Whether process group ``pgid`` still has a process that is not a zombie."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    proc = Path("/proc")
    if not proc.is_dir():
        return True
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # pid (comm) state ppid pgrp ...; comm may hold spaces and parentheses.
        fields = stat[stat.rfind(")") + 2:].split()
        if len(fields) > 2 and int(fields[2]) == pgid and fields[0] != "Z":
            return True
    return False


def _killpg(pgid: int, signum: int) -> None:
    try:
        os.killpg(pgid, signum)
    except (ProcessLookupError, PermissionError):
        pass


class ProcessGroups:
    """The process groups a run started, and the signal that interrupted it (if any)."""

    def __init__(self, grace: float | None = None, environ: Mapping[str, str] | None = None):
        env = os.environ if environ is None else environ
        self.grace = grace if grace is not None else float(env.get("MB_KILL_GRACE", KILL_GRACE))
        self.signal: int | None = None
        self.signalled_at = 0.0
        self._signals_seen = 0
        self._procs: list[subprocess.Popen[bytes]] = []
        self._marks: dict[int, Path] = {}  # pid -> the file to write when a signal comes
        self._timer: threading.Timer | None = None
        # Names this run's step scripts (MB_RUN_ID): what they start outside the process
        # groups (docker containers) carries it, for the cleanups.
        self.run_id = uuid.uuid4().hex[:12]
        self._cleanups: list[Callable[[], None]] = []

    @property
    def interrupted(self) -> bool:
        return self.signal is not None

    @property
    def exit_status(self) -> int:
        """The shell's status for death by the signal: 128 + its number."""
        return 128 + (self.signal or 0)

    @property
    def signal_name(self) -> str | None:
        return None if self.signal is None else signal_name(self.signal)

    def start(self, argv: Sequence[str], *, mark: Path | None = None,
              **kwargs: Any) -> subprocess.Popen[bytes]:
        """``subprocess.Popen`` in a new session (its own process group), killed at once if
        the run is already interrupted. ``mark``: a file the signal's name is written to
        before the group is signalled, so the step script knows its step was interrupted
        (not failed) whatever status its commands die with."""
        if mark is not None:
            mark.unlink(missing_ok=True)
        proc: subprocess.Popen[bytes] = subprocess.Popen(list(argv), start_new_session=True,
                                                         **kwargs)
        self._procs.append(proc)
        if mark is not None:
            self._marks[proc.pid] = mark
        if self.signal is not None:  # the signal came while this one was starting
            self._mark(proc)
            _killpg(proc.pid, signal.SIGKILL)
        return proc

    def _mark(self, proc: subprocess.Popen[bytes]) -> None:
        mark = self._marks.get(proc.pid)
        if mark is None or proc.poll() is not None or self.signal is None:
            return
        try:
            mark.write_text(signal_name(self.signal) + "\n")
        except OSError:
            pass  # the step then reports a failure; the run still says it was interrupted

    def _groups(self) -> list[int]:
        return [proc.pid for proc in list(self._procs)]

    def kill(self, signum: int) -> None:
        """Send ``signum`` to every group this run started that still has a live process."""
        for pgid in self._groups():
            if _living_members(pgid):
                _killpg(pgid, signum)

    def interrupt(self, signum: int) -> None:
        """Stop everything: SIGTERM now, SIGKILL after the grace (or now, on a repeat)."""
        self._signals_seen += 1
        if self.signal is None:
            self.signal = signum
            self.signalled_at = time.monotonic()
            running = sum(1 for proc in list(self._procs) if proc.poll() is None)
            _say(f"\nwheels: {signal_name(signum)} received: stopping {running} running step "
                 f"script(s) (SIGTERM, SIGKILL after {self.grace:g}s); the report will say "
                 "what was interrupted\n")
            for proc in list(self._procs):
                self._mark(proc)
            self.kill(signal.SIGTERM)
            self._timer = threading.Timer(self.grace, self.kill, args=(signal.SIGKILL,))
            self._timer.daemon = True
            self._timer.start()
        elif self._signals_seen == 2:
            _say(f"\nwheels: {signal_name(signum)} again: killing every step now (SIGKILL)\n")
            self.kill(signal.SIGKILL)
        else:
            _say(f"\nwheels: {signal_name(signum)} again: exiting without a report\n")
            self.kill(signal.SIGKILL)
            raise SystemExit(128 + signum)

    def on_interrupt(self, cleanup: Callable[[], None]) -> None:
        """Run ``cleanup`` once the groups of an interrupted run are gone (what the steps
        started outside them: docker containers)."""
        self._cleanups.append(cleanup)

    def finish(self) -> None:
        """After an interrupted run: wait out the grace for the groups to empty, then
        SIGKILL what is left and run the cleanups, so that nothing outlives the run."""
        if self.signal is None:
            return
        deadline = self.signalled_at + self.grace
        while time.monotonic() < deadline and any(_living_members(g) for g in self._groups()):
            time.sleep(0.05)
        self.kill(signal.SIGKILL)
        if self._timer is not None:
            self._timer.cancel()
        cleanups, self._cleanups = self._cleanups, []
        for cleanup in cleanups:
            cleanup()

    @contextmanager
    def handling_signals(self) -> Iterator[ProcessGroups]:
        """Route SIGINT, SIGTERM and SIGHUP to ``interrupt`` while the block runs (main
        thread only, where Python delivers signals); the previous handlers come back after."""
        if threading.current_thread() is not threading.main_thread():
            yield self
            return

        def handler(signum: int, _frame: FrameType | None) -> None:
            self.interrupt(signum)

        previous = {sig: signal.signal(sig, handler) for sig in HANDLED_SIGNALS}
        try:
            yield self
        finally:
            try:
                self.finish()
            finally:
                for sig, old in previous.items():
                    signal.signal(sig, old)


def _say(text: str) -> None:
    # os.write, not print: a handler may run while the main thread is inside print().
    try:
        os.write(2, text.encode())
    except OSError:
        pass
