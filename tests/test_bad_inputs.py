"""Bad inputs to the main job: each a clear message, a non-zero exit, nothing staged."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import FixtureRepo, run_wheels

from multibuild import MultibuildError
from multibuild.options import RunOptions


def run(tmp: Path, repo: FixtureRepo, *, commit: str = "v0.1.0", python: str,
        config_text: str | None = None) -> tuple[int, str, Path]:
    config = repo.path / "config.sh"
    if config_text is not None:
        config = tmp / "config.sh"
        config.write_text(config_text)
    output = tmp / "out"
    proc = run_wheels(
        ["build", "--python", python, "--commit", commit, "--repo-url", str(repo.path),
         "--repo-dir", str(tmp / "checkout"), "--output", str(output),
         "--work-dir", str(tmp / "work")],
        {"CONFIG_PATH": str(config), "ENV_VARS_PATH": str(repo.path / "env_vars.sh")},
    )
    return proc.returncode, proc.stdout + proc.stderr, output


def staged(output: Path) -> list[Path]:
    return sorted(output.glob("*.whl")) if output.exists() else []


def test_unknown_build_commit(tmp_path: Path, purepy_repo: FixtureRepo,
                              two_pythons: list[str]) -> None:
    code, log, output = run(tmp_path, purepy_repo, commit="v9.9.9", python=two_pythons[0])
    assert code != 0
    assert f"error: clean_code: unknown ref 'v9.9.9' in repository {purepy_repo.path}" in log
    assert "failed at clean_code" in log
    assert staged(output) == []


def test_config_without_run_tests(tmp_path: Path, purepy_repo: FixtureRepo,
                                  two_pythons: list[str]) -> None:
    code, log, output = run(tmp_path, purepy_repo, python=two_pythons[0],
                            config_text="function pre_build { :; }\n")
    assert code != 0
    assert f"error: config.sh ({tmp_path}/config.sh) does not define run_tests" in log
    assert staged(output) == []


def test_failing_run_tests_is_not_reported_as_passed(tmp_path: Path, purepy_repo: FixtureRepo,
                                                     two_pythons: list[str]) -> None:
    config = "function run_tests {\n    false\n    echo 'not reached'\n}\n"
    code, log, output = run(tmp_path, purepy_repo, python=two_pythons[0], config_text=config)
    assert code != 0
    assert "error: run_tests failed (exit 1)" in log
    assert "not reached" not in log
    assert "failed at install_run" in log and "1 targets passed" not in log
    assert staged(output) == []
    report = json.loads((output / "report.json").read_text())
    assert [(t["passed"], t["wheels"]) for t in report["targets"]] == [(False, [])]
    # The built wheel is kept for inspection, outside the staging wheelhouse.
    assert list((tmp_path / "work").glob("*/wheelhouse/purepy-0.1.0-py3-none-any.whl"))


def test_missing_interpreter_lists_the_ones_found(tmp_path: Path, purepy_repo: FixtureRepo,
                                                  pythons: dict[str, Path]) -> None:
    code, log, _ = run(tmp_path, purepy_repo, python="3.5")
    assert code != 0
    line = next(ln for ln in log.splitlines() if "no Python 3.5" in ln)
    assert "error: no Python 3.5 found on this machine; found:" in line
    for version in pythons:
        assert version in line
    bad = run(tmp_path, purepy_repo, python="three")
    assert bad[0] != 0 and "bad Python version 'three'" in bad[1]


def test_syntax_error_in_config(tmp_path: Path, purepy_repo: FixtureRepo,
                                two_pythons: list[str]) -> None:
    code, log, output = run(tmp_path, purepy_repo, python=two_pythons[0],
                            config_text="function run_tests {\n    echo (\n}\n")
    assert code != 0
    assert f"error: syntax error in {tmp_path}/config.sh:" in log and "line 2" in log
    assert "failed at setup" in log
    assert staged(output) == []


def test_neither_repo_dir_nor_repo_url(tmp_path: Path) -> None:
    with pytest.raises(MultibuildError, match="REPO_DIR is not set"):
        RunOptions.resolve(tmp_path, {"BUILD_COMMIT": "v1"})
    with pytest.raises(MultibuildError, match="BUILD_COMMIT is not set"):
        RunOptions.resolve(tmp_path, {"REPO_DIR": "proj"})
