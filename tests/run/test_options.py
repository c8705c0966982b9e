"""The run options model: ``--python all`` and its bounds; ``--config NAME``."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import REPO_ROOT, run_wheels

from multibuild import MultibuildError
from multibuild.core.interpreters import OLDEST_PYTHON, discover
from multibuild.run.options import ALL_PYTHONS_FROM, RunOptions


def test_python_all_is_every_supported_interpreter_found_oldest_first() -> None:
    """``all`` is every CPython from 3.9 on (older ones, 3.6 to 3.8, only by name)."""
    options = RunOptions.resolve(REPO_ROOT, {}, pythons="all", plat="x86_64")
    versions = [t.python for t in options.targets]
    expected = sorted((v for v in discover() if v.replace(".", "").isdigit()
                       and tuple(map(int, v.split("."))) >= ALL_PYTHONS_FROM),
                      key=lambda v: tuple(map(int, v.split("."))))
    assert versions == expected
    assert all(tuple(map(int, v.split("."))) >= ALL_PYTHONS_FROM for v in versions)


def test_interpreters_lists_only_what_build_accepts() -> None:
    done = run_wheels(["interpreters"])
    assert done.returncode == 0, done.stderr
    listed = [line.split("\t")[0] for line in done.stdout.splitlines()]
    assert listed and all(tuple(map(int, v.rstrip("t").split("."))) >= OLDEST_PYTHON
                          for v in listed)
    older = [v for v in discover() if tuple(map(int, v.rstrip("t").split("."))) < OLDEST_PYTHON]
    if older:  # found, but named on stderr as refused
        assert done.stderr.startswith(f"wheels: also found {', '.join(older)}: older than")


def test_config_scipy_picks_its_files_and_project_defaults() -> None:
    options = RunOptions.resolve(REPO_ROOT, {}, config="scipy", plat="x86_64", pythons="3.12")
    assert options.config == "scipy"
    assert options.config_path == "configs/scipy/config.sh"
    assert options.env_vars_path == "configs/scipy/env_vars.sh"
    assert (options.repo_url, options.repo_dir) == ("https://github.com/scipy/scipy.git", "scipy")
    assert options.build_commit.startswith("v1.")
    # Flags, then the environment, come before the configuration's defaults.
    mine = RunOptions.resolve(REPO_ROOT, {"REPO_DIR": "../scipy-src"}, config="scipy",
                              build_commit="main", plat="x86_64", pythons="3.12")
    assert (mine.build_commit, mine.repo_dir) == ("main", "../scipy-src")


def test_default_config_and_config_path_as_before() -> None:
    default = RunOptions.resolve(REPO_ROOT, {}, plat="x86_64", pythons="3.12")
    assert (default.config_path, default.env_vars_path, default.repo_dir) == (
        "config.sh", None, "numpy")
    named = RunOptions.resolve(REPO_ROOT, {"ENV_VARS_PATH": "env_vars32.sh"}, config="numpy",
                               plat="x86_64", pythons="3.12")
    assert (named.config_path, named.env_vars_path) == ("config.sh", "env_vars32.sh")
    assert named.build_commit == default.build_commit
    by_env = RunOptions.resolve(REPO_ROOT, {"CONFIG_PATH": "configs/scipy/config.sh"},
                                plat="x86_64", pythons="3.12")
    assert by_env.config_path == "configs/scipy/config.sh" and by_env.config == ""


def test_unknown_config_is_a_one_line_error_naming_the_known_ones(tmp_path: Path) -> None:
    with pytest.raises(MultibuildError) as error:
        RunOptions.resolve(REPO_ROOT, {}, config="scipi")
    assert str(error.value) == "--config scipi: unknown configuration; known: numpy, scipy"
    done = run_wheels(["build", "--config", "scipi", "--output", str(tmp_path / "out"),
                       "--work-dir", str(tmp_path / "work")])
    assert done.returncode != 0
    assert done.stderr == "error: --config scipi: unknown configuration; known: numpy, scipy\n"
    assert not (tmp_path / "out").exists() and not (tmp_path / "work").exists()
