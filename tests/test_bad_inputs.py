"""Bad inputs to the main job: each a clear message, a non-zero exit, nothing staged."""

from __future__ import annotations

import json
import platform
import subprocess
import tempfile
from pathlib import Path

import pytest
from conftest import REPO_ROOT, FixtureRepo, run_wheels, tool_env

from multibuild import MultibuildError
from multibuild.cli import main
from multibuild.run.options import RunOptions


def build(tmp: Path, repo: FixtureRepo, *, commit: str = "v0.1.0", python: str,
          config_text: str | None = None) -> subprocess.CompletedProcess[str]:
    config = repo.path / "config.sh"
    if config_text is not None:
        config = tmp / "config.sh"
        config.write_text(config_text)
    return run_wheels(
        ["build", "--python", python, "--commit", commit, "--repo-url", str(repo.path),
         "--repo-dir", str(tmp / "checkout"), "--output", str(tmp / "out"),
         "--work-dir", str(tmp / "work")],
        {"CONFIG_PATH": str(config), "ENV_VARS_PATH": str(repo.path / "env_vars.sh")},
    )


def run(tmp: Path, repo: FixtureRepo, *, commit: str = "v0.1.0", python: str,
        config_text: str | None = None) -> tuple[int, str, Path]:
    proc = build(tmp, repo, commit=commit, python=python, config_text=config_text)
    return proc.returncode, proc.stdout + proc.stderr, tmp / "out"


def staged(output: Path) -> list[Path]:
    return sorted(output.glob("*.whl")) if output.exists() else []


def snapshot(*dirs: Path) -> dict[Path, tuple[int, int]]:
    return {p: (p.stat().st_ino, p.stat().st_mtime_ns) for d in dirs for p in d.rglob("*")}


def test_errors_before_the_build_are_one_line_and_change_nothing(
    tmp_path: Path, purepy_repo: FixtureRepo, two_pythons: list[str]
) -> None:
    python = two_pythons[0]
    first = build(tmp_path, purepy_repo, python=python)
    assert first.returncode == 0, first.stdout + first.stderr
    second = build(tmp_path, purepy_repo, python=python)  # so a previous wheelhouse exists
    assert second.returncode == 0, second.stdout + second.stderr
    output, previous = tmp_path / "out", tmp_path / "work" / "previous-wheelhouse"
    before = snapshot(output, previous)
    assert staged(output) and staged(previous)
    cases = [
        ("v9.9.9", None,
         f"error: clean_code: unknown ref 'v9.9.9' in repository {purepy_repo.path}"),
        ("nosuchref", None,
         f"error: clean_code: unknown ref 'nosuchref' in repository {purepy_repo.path}"),
        ("v0.1.0", "function run_tests {\n",
         f"error: syntax error in {tmp_path}/config.sh: "),
    ]
    for commit, config_text, expected in cases:
        done = build(tmp_path, purepy_repo, commit=commit, python=python,
                     config_text=config_text)
        assert done.returncode == 2, (commit, done.stdout, done.stderr)
        assert done.stderr.startswith(expected) and done.stderr.count("\n") == 1, done.stderr
        assert done.stdout == ""
        assert snapshot(output, previous) == before
        assert not list(tmp_path.glob("out.staging-*"))


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
    assert "failed at install_run" in log and "1 target passed" not in log
    assert staged(output) == []
    report = json.loads((output / "report.json").read_text())
    assert [(t["passed"], t["wheels"]) for t in report["targets"]] == [(False, [])]
    # The built wheel is kept for inspection, outside the staging wheelhouse.
    assert list((tmp_path / "work").glob("*/wheelhouse/purepy-0.1.0-py3-none-any.whl"))


def test_missing_interpreter_lists_the_ones_found(tmp_path: Path, purepy_repo: FixtureRepo,
                                                  pythons: dict[str, Path]) -> None:
    code, log, output = run(tmp_path, purepy_repo, python="3.99")
    assert code == 2
    (line,) = log.strip().splitlines()  # refused before anything ran
    assert line.startswith("error: --python 3.99: no CPython 3.99 found on this machine "
                           "(native build mode; found: ")
    assert line.endswith("); ./wheels interpreters lists them")
    for version in pythons:
        assert version in line
    assert not output.exists() and not (tmp_path / "checkout").exists()


def test_syntax_error_in_config(tmp_path: Path, purepy_repo: FixtureRepo,
                                two_pythons: list[str]) -> None:
    code, log, output = run(tmp_path, purepy_repo, python=two_pythons[0],
                            config_text="function run_tests {\n    echo (\n}\n")
    assert code == 2
    assert log == (f"error: syntax error in {tmp_path}/config.sh: line 2: syntax error near "
                   "unexpected token `newline'\n")
    assert not output.exists()


def test_neither_repo_dir_nor_repo_url(tmp_path: Path) -> None:
    with pytest.raises(MultibuildError, match="REPO_DIR is not set"):
        RunOptions.resolve(tmp_path, {"BUILD_COMMIT": "v1"})
    with pytest.raises(MultibuildError, match="BUILD_COMMIT is not set"):
        RunOptions.resolve(tmp_path, {"REPO_DIR": "proj"})


# -- options refused before any work: one line, exit 2, nothing fetched or staged ----------

# (flags, the one-line error; {tmp} is the test's directory, {python} a CPython found here)
BAD_BUILD_INPUTS: list[tuple[list[str], str]] = [
    (["--python", "3.99"], "error: --python 3.99: no CPython 3.99 found on this machine "
     "(native build mode; found: "),
    (["--python", "3.5"], "error: --python 3.5: Python 3.5 is older than 3.6, the oldest this "
     "library builds for"),
    (["--python", "2.7,{python}"], "error: --python 2.7: Python 2.7 is older than 3.6"),
    (["--python", ""], "error: --python '': empty value (leave the option out for the default)"),
    (["--python", "3.x"], "error: --python: bad Python version '3.x': expected X.Y, e.g. 3.12"),
    (["--python", ","], "error: --python ',': no Python version given (e.g. 3.12, or all)"),
    (["-j", "0"], "error: -j 0: the number of parallel targets must be >= 1"),
    (["-j", "-2"], "error: -j -2: the number of parallel targets must be >= 1"),
    (["-j", "many"], "error: ./wheels build: argument -j/--jobs: invalid int value: 'many' "
     "(see ./wheels build --help)"),
    (["--plat", "nosuch"], "error: --plat: unsupported platform 'nosuch' for linux; supported: "
     "x86_64, i686, aarch64, ppc64le, s390x"),
    (["--plat", ""], "error: --plat '': empty value"),
    (["--plat", "aarch64", "--python", "3.12"], "error: Python 3.12 for aarch64: cross builds "
     "use Debian's Python for the target, which is 3.9 (Debian bullseye), 3.11 (Debian "
     "bookworm), 3.13 (Debian trixie)"),
    (["--plat", "i686"], "error: --plat i686: cannot build cp{nodot}-linux-i686 on this "
     "machine: i686 job: needs docker for the manylinux i686 image"),
    (["--output", "{tmp}/a-file"], "error: --output {tmp}/a-file: exists and is not a "
     "directory"),
    (["--output", ""], "error: --output '': empty value (leave the option out for the default: "),
    (["--output", "{tmp}/notes"], "error: --output {tmp}/notes: holds files a build did not "
     "write (todo.txt); each run replaces its output whole, so give a new or empty directory"),
    (["--output", "{tmp}"], "error: --output {tmp}: holds files a build did not write "),
    (["--work-dir", "{tmp}/out/work"], "error: --output {tmp}/out: holds the work directory "
     "({tmp}/out/work); each run replaces its output whole, so choose another"),
    (["--repo-dir", "{tmp}/out/checkout"], "error: --output {tmp}/out: holds the REPO_DIR "
     "checkout ({tmp}/out/checkout)"),
    (["--work-dir", "{tmp}/a-file"], "error: --work-dir {tmp}/a-file: exists and is not a "
     "directory"),
    (["--work-dir", ""], "error: --work-dir '': empty value"),
    (["--commit", ""], "error: --commit '': empty value (leave the option out for the default)"),
    (["--commit=-rf"], "error: --commit '-rf': not an accepted ref: it starts with '-'"),
    (["--commit", "v1 v2"], "error: --commit 'v1 v2': not a valid git ref"),
    (["--commit", "main..v1"], "error: --commit 'main..v1': not a valid git ref"),
    (["--repo-url", "{tmp}/no-such-repo"], "error: --repo-url {tmp}/no-such-repo: no such "
     "repository"),
    (["--repo-url", ""], "error: --repo-url '': empty value"),
    (["--repo-dir", ""], "error: --repo-dir '': empty value"),
    (["--pyhton", "3.12"], "error: ./wheels: unrecognized arguments: --pyhton 3.12 (see "
     "./wheels --help)"),
]


def wheels_main(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """``./wheels ARGV`` in this process (the front door execs exactly this): (status, stdout,
    stderr)."""
    try:
        status = main(argv)
    except SystemExit as exc:  # argparse's own errors
        status = int(exc.code or 0)
    out, err = capsys.readouterr()
    return status, out, err


@pytest.mark.parametrize("flags,message", BAD_BUILD_INPUTS,
                         ids=[" ".join(f) or "empty" for f, _ in BAD_BUILD_INPUTS])
def test_bad_build_option_is_one_line_before_any_work(
    tmp_path: Path, purepy_repo: FixtureRepo, two_pythons: list[str], flags: list[str],
    message: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    if "aarch64" in flags and platform.machine() != "x86_64":
        pytest.skip("an x86_64 host refuses aarch64")
    (tmp_path / "a-file").write_text("")
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "todo.txt").write_text("mine\n")
    python = two_pythons[0]
    values = {"tmp": str(tmp_path), "python": python, "nodot": python.replace(".", "")}
    for name, value in tool_env({"CONFIG_PATH": str(purepy_repo.path / "config.sh")}).items():
        monkeypatch.setenv(name, value)
    # The fixture's flags first: a flag under test given again overrides its default.
    args = ["build", "--python", python, "--commit", "v0.1.0", "--repo-url",
            str(purepy_repo.path), "--repo-dir", str(tmp_path / "checkout"), "--output",
            str(tmp_path / "out"), "--work-dir", str(tmp_path / "work"),
            *[f.format(**values) for f in flags]]
    before = sorted(p.name for p in tmp_path.iterdir())
    status, out, err = wheels_main(args, capsys)
    assert status == 2, out + err
    assert out == ""
    (line,) = err.strip().splitlines()
    assert line.startswith(message.format(**values)), line
    # Nothing cloned, built or staged: the test's directory is as it was.
    assert sorted(p.name for p in tmp_path.iterdir()) == before
    assert (tmp_path / "notes" / "todo.txt").read_text() == "mine\n"


def test_bad_python_from_the_environment_names_the_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name, value in tool_env({"MB_PYTHON_VERSION": "3.99"}).items():
        monkeypatch.setenv(name, value)
    status, _, err = wheels_main(["build", "--output", str(tmp_path / "out"),
                                  "--work-dir", str(tmp_path / "work")], capsys)
    assert status == 2
    (line,) = err.strip().splitlines()
    assert line.startswith("error: MB_PYTHON_VERSION 3.99: no CPython 3.99 found")
    assert list(tmp_path.iterdir()) == []


def test_shipped_project_with_a_missing_python_fetches_nothing(tmp_path: Path) -> None:
    """numpy as shipped (REPO_URL on GitHub, the sdist fallback): refused before cloning."""
    done = run_wheels(["build", "--python", "3.99", "--output", str(tmp_path / "out"),
                       "--work-dir", str(tmp_path / "work")],
                      {"MB_SDIST_INDEX_URL": "http://127.0.0.1:9/simple"})
    assert done.returncode == 2
    assert done.stderr.startswith("error: --python 3.99: no CPython 3.99 found")
    assert "clean_code" not in done.stdout + done.stderr and not (tmp_path / "work").exists()


@pytest.mark.parametrize("module,args,collected,deselected", [
    ("run/options", ["-k", "python_all"], "test_options.py::test_python_all_is_every_supported",
     None),
    ("acceptance/numpy_acceptance", ["--slow", "-k", "numpy"], "test_numpy_acceptance.py::", False),
    ("acceptance/numpy_acceptance", ["-k", "numpy"], "", True),  # without --slow: deselected
    ("build/docker_engine", ["--docker", "-k", "auto_mode"],
     "test_docker_engine.py::test_auto_mode", None),
    ("build/docker_engine", ["-k", "auto_mode"], "", True),  # without --docker: deselected
])
def test_wheels_test_passes_pytest_arguments_through(module: str, args: list[str],
                                                     collected: str,
                                                     deselected: bool | None) -> None:
    """`./wheels test -k lifecycle`, `./wheels test --slow -k numpy` and `./wheels test
    --docker`, as in the README."""
    directory, _, name = module.rpartition("/")
    module = f"tests/{directory}/test_{name}.py"
    done = run_wheels(["test", "--no-provision", *args, "--collect-only", "-q", module],
                      timeout=300)
    assert done.returncode in (0, 5), done.stdout + done.stderr  # 5: nothing selected
    assert "unrecognized arguments" not in done.stderr
    assert collected in done.stdout
    if deselected is not None:  # None: other tests of the module may be deselected by -k
        assert ("deselected" in done.stdout) == deselected


def test_wheels_test_collects_the_stage_directories_and_not_the_work_directory() -> None:
    """tests/build/ is collected (pytest skips directories named build by default); the
    repository's build/ (work directories and caches, with other projects' tests) is not."""
    (REPO_ROOT / "build").mkdir(exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix="collect-", dir=REPO_ROOT / "build"))
    try:
        (scratch / "test_not_this_suites.py").write_text("def test_other_project():\n    pass\n")
        done = run_wheels(["test", "--no-provision", "--collect-only", "-q"], timeout=300)
    finally:
        (scratch / "test_not_this_suites.py").unlink()
        scratch.rmdir()
    assert done.returncode == 0, done.stdout + done.stderr
    assert "build/test_incremental.py::" in done.stdout
    assert "test_not_this_suites" not in done.stdout
