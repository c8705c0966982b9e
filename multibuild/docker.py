"""Docker mode: the exact ``docker run`` command lines for manylinux builds and test images.

No docker daemon runs on every machine; ``MB_DOCKER_DRY_RUN=1`` prints the commands instead
of running them, which is also how they are tested.
"""

from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path, PurePosixPath

from multibuild import MultibuildError
from multibuild.environment import default_root, step_environment
from multibuild.platforms import DEFAULT_MB_ML_VER, find_platform, manylinux_image

IO_DIR = PurePosixPath("/io")
DEFAULT_TEST_IMAGE = "multibuild/focal_{PLAT}"
# Variables holding paths: host paths under the repository root become /io paths.
_PATH_VARIABLES = ("REPO_DIR", "WHEEL_SDIR", "MB_WORK_DIR", "CONFIG_PATH", "ENV_VARS_PATH",
                   "MB_STEP_LOG")


def build_mode(environ: Mapping[str, str]) -> str:
    """``docker`` or ``native``: MB_BUILD_MODE, or auto-detect whether a daemon answers."""
    mode = environ.get("MB_BUILD_MODE", "auto") or "auto"
    if mode in ("docker", "native"):
        return mode
    if mode != "auto":
        raise MultibuildError(f"MB_BUILD_MODE must be docker, native or auto, not {mode!r}")
    try:
        probe = subprocess.run(
            ["docker", "info"], capture_output=True, timeout=20, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return "native"
    return "docker" if probe.returncode == 0 else "native"


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


def _container_value(name: str, value: str, root: Path) -> str:
    if name in _PATH_VARIABLES and os.path.isabs(value):
        try:
            return str(IO_DIR / Path(value).resolve().relative_to(root.resolve()))
        except ValueError:
            raise MultibuildError(
                f"{name}={value} is outside the repository {root}; a container cannot see it"
            ) from None
    return value


def _env_args(environ: Mapping[str, str], root: Path, extra: Mapping[str, str]) -> list[str]:
    env = step_environment(environ, root)
    env.update(extra)
    args: list[str] = []
    for name, value in env.items():
        args += ["-e", f"{name}={_container_value(name, value, root)}"]
    return args


def build_command(
    plat: str, commands: str, environ: Mapping[str, str], root: Path
) -> list[str]:
    """``docker run`` for BUILD_COMMANDS in the manylinux image of ``plat``."""
    extra = {"BUILD_COMMANDS": commands, "PLAT": plat, "MB_IN_CONTAINER": "1"}
    if "MB_PYTHON_VERSION" in environ:
        extra["PYTHON_VERSION"] = environ["MB_PYTHON_VERSION"]
    home = environ.get("HOME", str(Path.home()))
    return [
        "docker", "run", "--rm",
        *_env_args(environ, root, extra),
        "-v", f"{root}:{IO_DIR}",
        "-v", f"{home}:/parent-home",
        build_image(plat, environ),
        str(IO_DIR / "multibuild" / "docker_build_wrap.sh"),
    ]


def test_command(plat: str, environ: Mapping[str, str], root: Path) -> list[str]:
    """``docker run`` that installs the fitting wheels and runs run_tests in the test image."""
    extra = {"PLAT": plat, "MB_IN_CONTAINER": "1"}
    return [
        "docker", "run", "--rm",
        *_env_args(environ, root, extra),
        "-v", f"{root}:{IO_DIR}",
        test_image(plat, environ),
        "bash", str(IO_DIR / "multibuild" / "docker_test_wrap.sh"), plat,
    ]


def _pull(image: str, attempts: int = 3) -> None:
    for attempt in range(1, attempts + 1):
        if subprocess.run(["docker", "pull", image], check=False).returncode == 0:
            return
        if attempt < attempts:
            time.sleep(2**attempt)
    raise MultibuildError(f"docker pull {image} failed {attempts} times")


def run(command: list[str], image: str, environ: Mapping[str, str]) -> int:
    if environ.get("MB_DOCKER_DRY_RUN") == "1":
        print(shlex.join(command))
        return 0
    _pull(image)
    return subprocess.run(command, check=False).returncode


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m multibuild.docker",
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
    try:
        if args.command == "mode":
            print(build_mode(environ))
            return 0
        if args.command == "build":
            command = build_command(args.plat, args.commands, environ, args.root)
            return run(command, build_image(args.plat, environ), environ)
        command = test_command(args.plat, environ, args.root)
        return run(command, test_image(args.plat, environ), environ)
    except MultibuildError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
