"""The environment handed to build and test steps, declared once.

Docker mode passes it to the containers with ``-e``; native mode hands it to a clean ``bash``
for the tests, so nothing a build step exported (``LD_LIBRARY_PATH`` from ``pre_build``, say)
leaks into the tests, exactly as with a separate test container. Variables that the project's
``env_vars.sh`` assigns are part of it, so they reach both build and test environments.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from multibuild import MultibuildError

# multibuild's contract: what config.sh, the build and the tests may rely on.
STEP_VARIABLES: tuple[str, ...] = (
    "MB_PYTHON_VERSION", "PYTHON_VERSION", "PLAT", "MB_ML_VER", "MB_ML_LIBC", "UNICODE_WIDTH",
    "REPO_DIR", "REPO_URL", "BUILD_COMMIT", "CONFIG_PATH", "ENV_VARS_PATH", "WHEEL_SDIR",
    "MANYLINUX_URL", "BUILD_DEPENDS", "TEST_DEPENDS", "USE_CCACHE", "MB_TEST_VER",
    "AUDITWHEEL_PLAT", "MB_WORK_DIR", "MB_USE_UV", "MB_STEP_LOG", "MB_BUILD_MODE", "CI",
    "MB_REPAIR_TOOL", "MB_CROSS_TEST", "MB_GIVEN_REPO_DIR", "MB_REUSE_TESTS",
)
# Only for the clean native process: what a host shell needs to find tools, caches and
# credentials for the package index. A container has its own.
HOST_VARIABLES: tuple[str, ...] = (
    "PATH", "HOME", "USER", "LOGNAME", "LANG", "LC_ALL", "TERM", "TMPDIR", "SHELL",
    "PYENV_ROOT", "SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE",
    "PIP_CONFIG_FILE", "PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "PIP_FIND_LINKS",
    "PIP_NO_INDEX", "PIP_CACHE_DIR", "PIP_NO_INPUT", "UV_INDEX_URL", "UV_EXTRA_INDEX_URL",
    "UV_FIND_LINKS", "UV_CACHE_DIR", "UV_OFFLINE", "XDG_CACHE_HOME",
    "MB_TOOL_PYTHON", "MB_TOOL_VENV", "MB_UV", "MB_PYTHON_BASE", "MB_CACHE_DIR",
)


def default_root() -> Path:
    """The wheels repository: MB_ROOT as exported by common_utils.sh, else the cwd."""
    return Path(os.environ.get("MB_ROOT") or Path.cwd())


def env_vars_names(path: Path) -> list[str]:
    """Names of the variables that sourcing ``path`` (an env_vars.sh) assigns."""
    if not path.is_file():
        return []
    script = 'set -a; source "$1" >/dev/null 2>&1; compgen -e'
    out = subprocess.run(
        ["bash", "-c", script, "bash", str(path)],
        env={"PATH": os.environ.get("PATH", "")}, capture_output=True, text=True, check=False,
    )
    baseline = {"PATH", "PWD", "SHLVL", "OLDPWD", "_"}
    return sorted(set(out.stdout.split()) - baseline)


def declared_names(environ: Mapping[str, str], root: Path) -> list[str]:
    """Every name the step environment carries: the contract, env_vars.sh, MB_EXTRA_ENV."""
    env_vars = root / environ.get("ENV_VARS_PATH", "env_vars.sh")
    extra = environ.get("MB_EXTRA_ENV", "").split()
    names = [*STEP_VARIABLES, *env_vars_names(env_vars), *extra]
    return list(dict.fromkeys(names))


def step_environment(environ: Mapping[str, str], root: Path) -> dict[str, str]:
    """The declared variables that are set in ``environ``."""
    return {name: environ[name] for name in declared_names(environ, root) if name in environ}


def clean_native_environment(environ: Mapping[str, str], root: Path) -> dict[str, str]:
    env = step_environment(environ, root)
    env.update({name: environ[name] for name in HOST_VARIABLES if name in environ})
    # A virtual environment of the build must not come first on PATH in the test process,
    # nor the build's compiler wrappers (multibuild.build.toolchain): tests that compile (f2py's)
    # get the machine's compilers, as in a test container.
    venv = environ.get("VIRTUAL_ENV")
    wrappers = environ.get("MB_TOOLCHAIN_BIN")
    if (venv or wrappers) and "PATH" in env:
        env["PATH"] = os.pathsep.join(
            p for p in env["PATH"].split(os.pathsep)
            if not (venv and p.startswith(venv)) and p != wrappers
        )
    return env


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m multibuild.core.environment",
        description="The environment handed to build and test steps.",
    )
    parser.add_argument("--root", type=Path, default=default_root(), help="wheels repository root")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("names", help="print the declared variable names")
    run = sub.add_parser("exec", help="run a command with only the declared environment")
    run.add_argument("argv", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    if args.command == "names":
        print("\n".join(declared_names(os.environ, args.root)))
        return 0
    command = args.argv[1:] if args.argv[:1] == ["--"] else args.argv
    if not command:
        raise SystemExit("error: exec needs a command")
    try:
        env = clean_native_environment(os.environ, args.root)
        os.execvpe(command[0], command, env)
    except (OSError, MultibuildError) as exc:
        print(f"error: cannot run {command[0]}: {exc}", file=sys.stderr)
        return 1
    return 0  # pragma: no cover - exec does not return


if __name__ == "__main__":
    sys.exit(main())
