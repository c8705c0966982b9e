"""Writing files so that nothing is half-written and modes follow the user's umask.

Every file this library publishes (staged wheels, reports, manifests, downloads, caches) is
written under a temporary name beside its destination and renamed into place only when
complete. ``tempfile.mkstemp`` creates files with mode 0600 whatever the umask is, so the
final file gets the mode a plain ``open()`` would have given it (0666 minus the umask), unless
the caller asks for a specific one (e.g. keeping the mode of the file being replaced).
"""

from __future__ import annotations

import os
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

_UMASK_LOCK = threading.Lock()


def current_umask() -> int:
    """The process umask, read without changing it where the OS allows (Linux /proc)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    with _UMASK_LOCK:  # elsewhere it can only be read by setting it
        old = os.umask(0o022)
        os.umask(old)
    return old


def new_file_mode(executable: bool = False) -> int:
    """The mode ``open()`` (or ``chmod +x`` of it) would give a new file under the umask."""
    return (0o777 if executable else 0o666) & ~current_umask()


@contextmanager
def atomic_path(path: Path, *, mode: int | None = None, suffix: str = ".part") -> Iterator[Path]:
    """Yield a temporary path beside ``path`` to write; on success it gets ``mode`` (default:
    the umask's) and is renamed onto ``path``; on any failure or interruption it is removed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=suffix)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        os.chmod(tmp, new_file_mode() if mode is None else mode)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


@contextmanager
def file_lock(path: Path, *, shared: bool = False) -> Iterator[None]:
    """Hold an flock on ``path`` (created if missing) while the block runs: exclusive, or
    ``shared`` (several holders at once). Closing the file releases it, so a killed holder
    never leaves it locked."""
    import fcntl

    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH if shared else fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def atomic_write(path: Path, data: bytes | str, *, mode: int | None = None) -> None:
    """Write ``data`` (text is UTF-8, newlines untouched) to ``path`` atomically."""
    raw = data.encode("utf-8") if isinstance(data, str) else data
    with atomic_path(path, mode=mode) as tmp:
        tmp.write_bytes(raw)
