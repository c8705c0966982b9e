"""What ``./wheels build`` publishes gets the user's umask: the staged wheels, report.json,
report.html and the wheelhouse directory itself (temporary files are 0600 otherwise)."""

from __future__ import annotations

import stat
import subprocess
from pathlib import Path

import pytest
from conftest import FIXTURES, REPO_ROOT, FixtureRepo, tool_env


@pytest.mark.parametrize("umask", [0o022, 0o077])
def test_published_files_follow_the_umask(tmp_path: Path, purepy_repo: FixtureRepo,
                                          two_pythons: list[str], umask: int) -> None:
    output = tmp_path / "out"
    done = subprocess.run(
        [str(REPO_ROOT / "wheels"), "build", "--python", two_pythons[0], "--commit", "v0.1.0",
         "--repo-url", str(purepy_repo.path), "--repo-dir", str(tmp_path / "checkout"),
         "--output", str(output), "--work-dir", str(tmp_path / "work")],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=900, check=False, umask=umask,
        env=tool_env({"CONFIG_PATH": str(FIXTURES / "purepy" / "config.sh"),
                      "ENV_VARS_PATH": str(FIXTURES / "purepy" / "env_vars.sh")}),
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr
    published = sorted(output.iterdir())
    assert [p.name for p in published] == [
        "logs", "purepy-0.1.0-py3-none-any.whl", "report.html", "report.json"]
    logs = sorted((output / "logs").iterdir())
    assert [p.name for p in logs] == [f"cp{two_pythons[0].replace('.', '')}-linux-x86_64.log",
                                      "source.log"]
    for path in [*published, *logs]:
        expected = 0o777 if path.is_dir() else 0o666
        assert stat.S_IMODE(path.stat().st_mode) == expected & ~umask, path.name
    assert stat.S_IMODE(output.stat().st_mode) == 0o777 & ~umask
