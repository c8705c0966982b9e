"""The output wheelhouse of a run: staged fresh, swapped in whole at the end.

A run never adds to the previous run's wheelhouse: it stages into a new directory beside it,
``<output>.staging-<pid>``, and at its end (passed, failed or interrupted) swaps that in:
the previous output is renamed away, the new one renamed into place (each rename atomic on
one filesystem), and the previous output is then kept as one generation under the work
directory, ``<work-dir>/previous-wheelhouse/`` (replacing the one before). So ``wheelhouse/``
only ever holds one run's wheels with that run's ``report.json`` and ``report.html``.

Because the previous output is moved away whole, only a directory holding what a run writes
(wheels, the reports) may be the output: anything else there is refused up front.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from multibuild import MultibuildError

PREVIOUS = "previous-wheelhouse"
# What a run writes into its output; temporary names of atomic writes start with a dot.
_RUN_FILES = ("report.json", "report.html")
# Directories of the report's own files (the run's logs, the wheels' SBOMs), by file suffix.
_RUN_DIRS = {"logs": ".log", "sboms": ".cdx.json"}


def _ours(entry: Path) -> bool:
    if entry.is_dir() and not entry.is_symlink() and entry.name in _RUN_DIRS:
        return all(f.is_file() and f.name.endswith(_RUN_DIRS[entry.name])
                   for f in entry.iterdir())
    return entry.is_file() and (entry.name.endswith(".whl") or entry.name in _RUN_FILES
                                or (entry.name.startswith(".") and ".part" in entry.name))


def foreign_entries(output: Path) -> list[str]:
    """Entries of an existing output directory that no run wrote."""
    return [entry.name + ("/" if entry.is_dir() else "")
            for entry in sorted(output.iterdir()) if not _ours(entry)]


def check_output_dir(output: Path, flag: str = "--output") -> None:
    """``output`` may be replaced whole by a run: absent, or a previous run's output."""
    if output.exists() and not output.is_dir():
        raise MultibuildError(f"{flag} {output}: exists and is not a directory")
    if output.is_dir():
        foreign = foreign_entries(output)
        if foreign:
            shown = ", ".join(foreign[:3]) + (", ..." if len(foreign) > 3 else "")
            raise MultibuildError(
                f"{flag} {output}: holds files a build did not write ({shown}); each run "
                "replaces its output whole, so give a new or empty directory")
    parent = output.parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        raise MultibuildError(f"{flag} {output}: cannot create it in {parent}")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Staging:
    """A fresh directory a run stages into, swapped in for ``output`` at the end."""

    def __init__(self, output: Path, keep_dir: Path | None) -> None:
        self.output = output
        self.keep_dir = keep_dir  # where the previous output goes; None: deleted
        self.path = output.with_name(f"{output.name}.staging-{os.getpid()}")
        self._aside = output.with_name(f"{output.name}.previous-{os.getpid()}")

    @classmethod
    def create(cls, output: Path, keep_dir: Path | None) -> Staging:
        staging = cls(output, keep_dir)
        staging._remove_stale()
        try:
            shutil.rmtree(staging.path, ignore_errors=True)
            staging.path.mkdir(parents=True)
        except OSError as exc:
            raise MultibuildError(f"cannot create {staging.path}: {exc.strerror}") from None
        return staging

    def _remove_stale(self) -> None:
        """Directories of earlier runs killed before their swap (their process is gone)."""
        if not self.output.parent.is_dir():
            return
        for suffix in (".staging-", ".previous-"):
            for path in self.output.parent.glob(f"{self.output.name}{suffix}*"):
                pid = path.name.rsplit("-", 1)[-1]
                if pid.isdigit() and not _pid_alive(int(pid)) and path.is_dir():
                    shutil.rmtree(path, ignore_errors=True)

    def publish(self) -> Path | None:
        """Swap the staged directory in; return where the previous output went (if any)."""
        had_previous = False
        for _ in range(5):  # another run may swap its output in at the same moment
            if self.output.exists():
                shutil.rmtree(self._aside, ignore_errors=True)
                os.replace(self.output, self._aside)
                had_previous = True
            try:
                os.replace(self.path, self.output)
                break
            except OSError:
                if not self.output.exists():
                    raise
        else:
            raise MultibuildError(f"could not move {self.path} to {self.output}")
        if not had_previous:
            return None
        return self._keep_previous()

    def _keep_previous(self) -> Path | None:
        if self.keep_dir is None:
            shutil.rmtree(self._aside, ignore_errors=True)
            return None
        try:
            shutil.rmtree(self.keep_dir, ignore_errors=True)
            self.keep_dir.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(str(self._aside), str(self.keep_dir))  # a rename on one filesystem
        except OSError:
            shutil.rmtree(self._aside, ignore_errors=True)
            return None
        return self.keep_dir

    def discard(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)
