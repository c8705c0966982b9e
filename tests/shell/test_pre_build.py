"""pre_build runs with errexit on, whatever its caller does: a failing command in the middle of
it fails the build step at once (nothing staged), and what it exports reaches the build."""

from __future__ import annotations

from pathlib import Path

from conftest import FixtureRepo, run_shell
from test_bad_inputs import run, staged

FAILING = """\
function pre_build {
    export PRE_MARK=exported
    cat /nonexistent/LICENSES_bundled.txt
    echo "after the failing command"
}
function run_tests { :; }
"""

EXPORTING = """\
function helper_of_config { echo "pre_build calls config.sh's functions"; }
function pre_build {
    helper_of_config
    export PRE_MARK=from-pre-build PRE_QUOTED="a b 'c'"
    export PATH="/opt/pre-build-bin:$PATH"
}
function pip_wheel_cmd {
    echo "the build sees PRE_MARK=${PRE_MARK:-unset} PRE_QUOTED=${PRE_QUOTED:-unset}"
    echo "the build sees PATH starting ${PATH%%:*}"
    ${PIP_CMD:-python -m pip} wheel -w "$1" --no-deps .
}
function run_tests { python -c 'import purepy'; }
"""


def test_a_failing_command_in_pre_build_fails_the_step(
    tmp_path: Path, purepy_repo: FixtureRepo, two_pythons: list[str]
) -> None:
    code, log, output = run(tmp_path, purepy_repo, python=two_pythons[0], config_text=FAILING)
    assert code != 0
    assert "No such file or directory" in log
    assert "after the failing command" not in log
    assert "error: pre_build failed (exit 1)" in log
    assert "failed at build_wheel" in log
    assert staged(output) == []


def test_pre_build_exports_reach_the_build(
    tmp_path: Path, purepy_repo: FixtureRepo, two_pythons: list[str]
) -> None:
    code, log, output = run(tmp_path, purepy_repo, python=two_pythons[0], config_text=EXPORTING)
    assert code == 0, log[-3000:]
    assert "pre_build calls config.sh's functions" in log
    assert "the build sees PRE_MARK=from-pre-build PRE_QUOTED=a b 'c'" in log
    assert "the build sees PATH starting /opt/pre-build-bin" in log
    assert [p.name for p in staged(output)] == ["purepy-0.1.0-py3-none-any.whl"]


def test_errexit_holds_even_when_the_caller_tests_the_status() -> None:
    """`f || ...` turns errexit off in f and its subshells; pre_build's own process keeps it."""
    script = """
function pre_build { false; echo "not reached"; }
function caller { mb_run_pre_build || echo "caller saw failure $?"; }
if caller; then echo "caller returned"; fi
"""
    done = run_shell(script)
    assert "not reached" not in done.stdout
    assert "caller saw failure 1" in done.stdout
    assert done.stderr == "error: pre_build failed (exit 1): `false` failed (exit 1)\n"
