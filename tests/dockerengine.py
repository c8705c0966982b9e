"""A docker engine for the docker-mode tests, kept away from everything else on the machine.

``MB_BUILD_MODE=auto`` switches to docker mode as soon as ``docker info`` answers, so an engine
started for these tests must not answer on the default socket: :class:`Engine` starts
``dockerd`` on a private socket, data root and exec root (no iptables rules, no bridge: the
containers run with ``--network none`` or ``--network host``), and only the docker tests get
its ``DOCKER_HOST``. An engine that already answers (``DOCKER_HOST`` or the default socket) is
used instead, and left alone. Sessions share the private engine: each holds a shared lock on
it while it runs; the last one to finish stops it. ``docker.io`` and ``debootstrap`` are
installed when missing, as ``./wheels test`` installs LLVM (multibuild.core.provision); where that
cannot be done, the tests skip saying why.

The images (multibuild.build.debimage) are built once per engine: their tags are the hashes of their
recipes.
"""

from __future__ import annotations

import fcntl
import grp
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from multibuild.core.provision import SystemPackage, ensure

STATE = Path("/run/mb-test-docker")
SOCKET = STATE / "docker.sock"
DATA_ROOT = Path("/var/lib/mb-test-docker")
PACKAGES = (SystemPackage("dockerd", apt="docker.io"), SystemPackage("debootstrap",
                                                                     apt="debootstrap"))
# The group the private engine's socket belongs to (Debian's docker.io creates it).
SOCKET_GROUP = "docker"


class Unavailable(Exception):
    """No docker engine for the tests here (the message says why)."""


def _answers(host: str | None) -> bool:
    env = dict(os.environ)
    if host:
        env["DOCKER_HOST"] = host
    else:
        env.pop("DOCKER_HOST", None)
    try:
        done = subprocess.run(["docker", "info", "--format", "{{.ServerVersion}}"], env=env,
                              capture_output=True, timeout=20, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


@dataclass
class Engine:
    host: str  # the DOCKER_HOST value the docker tests use
    private: bool  # the tests' own engine (stopped by the last session that uses it)
    _users_fd: int | None = None

    def env(self) -> dict[str, str]:
        return {"DOCKER_HOST": self.host}

    def socket_gid(self) -> int | None:
        path = self.host.removeprefix("unix://")
        try:
            return os.stat(path).st_gid
        except OSError:
            return None

    def release(self) -> None:
        """End of this session: stop the private engine if no other session uses it."""
        if self._users_fd is None:
            return
        try:
            if self.private:
                fcntl.flock(self._users_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                _stop_private()
        except BlockingIOError:
            pass  # another session still uses it; the last one stops it
        finally:
            os.close(self._users_fd)
            self._users_fd = None


def _stop_private() -> None:
    pidfile = STATE / "dockerd.pid"
    try:
        pid = int(pidfile.read_text().strip())
    except (OSError, ValueError):
        return
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and _alive(pid):
        time.sleep(0.2)
    if _alive(pid):
        os.kill(pid, signal.SIGKILL)
    # dockerd leaves its network namespace mounted under the exec root.
    mounts = Path("/proc/mounts").read_text().splitlines()
    for mount in reversed([line.split()[1] for line in mounts]):
        if mount.startswith(f"{STATE}/"):
            subprocess.run(["umount", mount], capture_output=True, check=False)


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie does not; this session's own child is reaped)."""
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass  # started by another session
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rfind(")") + 2:].split()[0] != "Z"


def provision(packages: tuple[SystemPackage, ...] = PACKAGES) -> None:
    """Install what is missing of ``packages`` (apt-get as root), else say what is missing."""
    missing = ensure(list(packages), who="tests")
    if missing:
        raise Unavailable(f"{', '.join(p.probe for p in missing)} missing and not installable "
                          "here (apt-get as root on Debian/Ubuntu)")


def _start_private() -> None:
    if os.geteuid() != 0:
        raise Unavailable("no docker engine answers and starting one needs root")
    provision()
    try:
        grp.getgrnam(SOCKET_GROUP)
    except KeyError:
        subprocess.run(["groupadd", "--system", SOCKET_GROUP], check=False)
    (STATE / "exec").mkdir(parents=True, exist_ok=True)
    DATA_ROOT.mkdir(parents=True, exist_ok=True)
    log = STATE / "dockerd.log"
    cmd = ["dockerd", "--host", f"unix://{SOCKET}", "--data-root", str(DATA_ROOT),
           "--exec-root", str(STATE / "exec"), "--pidfile", str(STATE / "dockerd.pid"),
           "--iptables=false", "--bridge=none", "--group", SOCKET_GROUP]
    with log.open("ab") as out:
        # Its own session: the engine outlives no test, but must not get the suite's Ctrl-C.
        subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                         start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if _answers(f"unix://{SOCKET}"):
            return
        time.sleep(0.3)
    tail = log.read_text(errors="replace").strip().splitlines()[-1:] or ["no output"]
    raise Unavailable(f"dockerd did not start within 60 s: {tail[0]} (log: {log})")


def engine() -> Engine:
    """The engine for this session's docker tests (see the module docstring)."""
    if not sys.platform.startswith("linux"):
        raise Unavailable("docker mode builds Linux wheels: a Linux host is needed")
    existing = os.environ.get("DOCKER_HOST")
    if shutil.which("docker") and _answers(existing):
        return Engine(existing or "unix:///var/run/docker.sock", private=False)
    if os.geteuid() != 0 and not SOCKET.exists():
        raise Unavailable("no docker engine answers and starting one needs root")
    STATE.mkdir(parents=True, exist_ok=True)
    users = os.open(STATE / "users.lock", os.O_RDWR | os.O_CREAT, 0o644)
    fcntl.flock(users, fcntl.LOCK_SH)  # held for the session: this engine is in use
    try:
        start = os.open(STATE / "start.lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(start, fcntl.LOCK_EX)
            if not _answers(f"unix://{SOCKET}"):
                _start_private()
        finally:
            os.close(start)
    except BaseException:
        os.close(users)
        raise
    return Engine(f"unix://{SOCKET}", private=True, _users_fd=users)
