"""No value is ever evaluated as shell (issue 19, point 1).

Every shell metacharacter (quotes, ``$()``, backticks, ``;``, ``|``, ``&``, ``<>``, ``*?[``,
``~``, ``#``, ``!``, ``\\``, spaces, tabs, unicode) goes through every variable the CI step
protocol exports, through the values pre_build exports, and through the docker mode's
BUILD_COMMANDS: each must arrive byte for byte, and none of the commands hidden in them may
run (a canary file would appear)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO_ROOT, run_shell, tool_env

from multibuild import MultibuildError
from multibuild.core.shellvars import records


def hostile(canary: Path) -> list[str]:
    """Values that would run ``touch CANARY`` (or glob, or split) if evaluated anywhere."""
    c = str(canary)
    return [
        f"v1'; touch {c}; '",
        f'v1"; touch {c}; "',
        f"$(touch {c})",
        f"`touch {c}`",
        f"v1;touch {c}|touch {c}&touch {c}&&touch {c}||touch {c}",
        f"<{c} >{c} 2>{c}",
        "* ? [a-z] ~ ~root #comment !! !$ \\ \\\\ \\n",
        f"  spaces  and\ttabs\t, unicode é ü € 漢字 ${{IFS}} $HOME ${{HOME}} $((1+1)) {c}",
        f"-rf --help {c}",
        f"x'\"`$(touch {c})`\"'\\",
    ]


def tmp_root(tmp_path: Path, dump: Path) -> Path:
    """A wheels repository whose ``./wheels`` only records what it was given (the protocol,
    not the build, is under test): the real library, linked."""
    root = tmp_path / "root"
    root.mkdir()
    (root / "multibuild").symlink_to(REPO_ROOT / "multibuild")
    (root / "wheelhouse").mkdir()
    wheels = root / "wheels"
    wheels.write_text(
        f"#!{sys.executable}\nimport json, os, sys\n"
        "names = ('MB_EVENT', 'BUILD_COMMIT', 'MB_UPLOAD_CHANNEL')\n"
        f"json.dump({{'argv': sys.argv[1:], 'env': {{n: os.environ.get(n) for n in names}}}}, "
        f"open({str(dump)!r}, 'w'))\n")
    wheels.chmod(0o755)
    return root


# What each service sets for a push and for a scheduled build (multibuild.ci.events).
EVENTS = {
    "azure": ({"BUILD_REASON": "IndividualCI"}, {"BUILD_REASON": "Schedule"}),
    "travis": ({"TRAVIS_EVENT_TYPE": "push"}, {"TRAVIS_EVENT_TYPE": "cron"}),
    "appveyor": ({"APPVEYOR": "True"}, {"APPVEYOR": "True", "APPVEYOR_SCHEDULED_BUILD": "True"}),
    "github": ({"GITHUB_EVENT_NAME": "push", "GITHUB_REF": "refs/heads/main",
                "MB_DEFAULT_BRANCH": "main"}, {"GITHUB_EVENT_NAME": "schedule"}),
}


def ci_env(extra: dict[str, str]) -> dict[str, str]:
    env = tool_env()
    for name in list(env):
        if name.startswith(("BUILD_", "NIGHTLY_", "TRAVIS_", "APPVEYOR", "GITHUB_", "STAGING_",
                            "MB_UPLOAD", "TF_BUILD")):
            env.pop(name)
    env["MB_LOG_GROUPS"] = "none"
    env.update(extra)
    return env


@pytest.mark.parametrize("service", sorted(EVENTS))
def test_build_step_passes_every_value_byte_for_byte(service: str, tmp_path: Path) -> None:
    canary = tmp_path / "canary"
    dump = tmp_path / "dump.json"
    root = tmp_root(tmp_path, dump)
    push, schedule = EVENTS[service]
    for value in hostile(canary):
        for event, variable, channel in ((push, "BUILD_COMMIT", "staging"),
                                         (schedule, "NIGHTLY_BUILD_COMMIT", "nightly")):
            dump.unlink(missing_ok=True)
            done = subprocess.run(["bash", str(root / "multibuild" / "ci_step.sh"), "build"],
                                  cwd=tmp_path, env=ci_env({**event, variable: value}),
                                  capture_output=True, text=True, timeout=120, check=False)
            assert done.returncode == 0, done.stderr
            got = json.loads(dump.read_text())
            assert got["argv"] == ["build"]
            assert got["env"] == {"BUILD_COMMIT": value, "MB_UPLOAD_CHANNEL": channel,
                                  "MB_EVENT": "push" if channel == "staging" else "schedule"}
            assert not canary.exists(), (value, done.stdout)


def test_upload_step_runs_nothing_hidden_in_a_ref(tmp_path: Path) -> None:
    canary = tmp_path / "canary"
    root = tmp_root(tmp_path, tmp_path / "dump.json")
    for value in hostile(canary):
        done = subprocess.run(
            ["bash", str(root / "multibuild" / "ci_step.sh"), "upload"], cwd=tmp_path,
            env=ci_env({"BUILD_REASON": "IndividualCI", "BUILD_COMMIT": value}),
            capture_output=True, text=True, timeout=120, check=False)
        # No token in a fork: a warning, nothing uploaded, and no command of the value ran.
        assert done.returncode == 0, done.stderr
        assert f"ci_step: push event: commit {value}, upload channel 'staging'" in done.stdout
        assert "STAGING_UPLOAD_TOKEN is not set" in done.stderr
        assert not canary.exists()


def test_import_vars_assigns_every_value_as_data(tmp_path: Path) -> None:
    """mb_import_vars itself, with every exported name of the step protocol (and a plain
    variable): MB_EVENT, BUILD_COMMIT, MB_UPLOAD_CHANNEL get each hostile value exactly."""
    canary = tmp_path / "canary"
    names = ("MB_EVENT", "BUILD_COMMIT", "MB_UPLOAD_CHANNEL")
    for value in hostile(canary):
        (tmp_path / "records").write_text(records({n: value for n in names}))
        script = (f'mb_import_vars --export {" ".join(names)} < "$MB_T/records"\n'
                  'mb_import_vars plain_var < <(printf "plain_var=%s\\n" "$BUILD_COMMIT")\n'
                  'export plain_var\n'
                  '"$MB_TOOL_PYTHON" -c "import json, os; print(json.dumps({n: os.environ[n] '
                  'for n in (\'MB_EVENT\', \'BUILD_COMMIT\', \'MB_UPLOAD_CHANNEL\', '
                  '\'plain_var\')}))"')
        done = run_shell(script, {"MB_T": str(tmp_path)}, cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout) == {**{n: value for n in names}, "plain_var": value}
        assert not canary.exists()


def test_import_vars_refuses_names_not_asked_for(tmp_path: Path) -> None:
    done = run_shell('mb_import_vars BUILD_COMMIT <<< "PATH=/evil"\necho "PATH=$PATH"')
    assert done.returncode != 0
    assert done.stderr.strip() == ("error: mb_import_vars: unexpected record 'PATH=/evil' "
                                   "(expected: BUILD_COMMIT)")
    done = run_shell('mb_import_vars BUILD_COMMIT <<< "not a record"')
    assert done.returncode != 0 and "unexpected record 'not a record'" in done.stderr


@pytest.mark.parametrize("value", ["a\nexport X=1", "a\rb", "a\0b"])
def test_records_refuse_a_value_that_would_end_a_record(value: str) -> None:
    with pytest.raises(MultibuildError, match="line break or NUL byte"):
        records({"BUILD_COMMIT": value})
    with pytest.raises(MultibuildError, match="not a shell variable name"):
        records({"A;B": "x"})


def test_events_module_prints_records_not_shell(tmp_path: Path) -> None:
    value = hostile(tmp_path / "canary")[0]
    done = subprocess.run([sys.executable, "-m", "multibuild.ci.events"], capture_output=True,
                          text=True, env=ci_env({"BUILD_REASON": "IndividualCI",
                                                 "BUILD_COMMIT": value}), check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"MB_EVENT=push\nBUILD_COMMIT={value}\nMB_UPLOAD_CHANNEL=staging\n"


def test_pre_build_exports_arrive_byte_for_byte(tmp_path: Path) -> None:
    """pre_build runs in its own bash; what it exports comes back through printf %q."""
    canary = tmp_path / "canary"
    values = [*hostile(canary), "two\nlines"]
    (tmp_path / "values").write_bytes(b"\0".join(v.encode() for v in values) + b"\0")
    script = ('function pre_build {\n'
              '    local i=0 v\n'
              '    while IFS= read -r -d "" v; do export "MB_V$i=$v"; i=$((i + 1)); done '
              '< "$MB_T/values"\n'
              '}\n'
              'mb_run_pre_build\n'
              '"$MB_TOOL_PYTHON" -c "import json, os; print(json.dumps([os.environ[f\'MB_V{i}\'] '
              f'for i in range({len(values)})]))"')
    done = run_shell(script, {"MB_T": str(tmp_path)}, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == values
    assert not canary.exists()


def test_docker_build_commands_quote_the_project_dir(tmp_path: Path) -> None:
    """BUILD_COMMANDS is shell run inside the container: REPO_DIR goes in quoted, so the
    container's build_wheel gets it as one argument."""
    canary = tmp_path / "canary"
    for value in hostile(canary):
        script = ('export MB_BUILD_MODE=docker\n'
                  'source "$MULTIBUILD_DIR/travis_linux_steps.sh"\n'
                  'function build_multilinux { printf "%s" "$2" > "$MB_T/commands"; }\n'
                  'build_wheel "$MB_VALUE" x86_64\n')
        done = run_shell(script, {"MB_T": str(tmp_path), "MB_VALUE": value}, cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        # In a fresh shell, as docker_build_wrap.sh runs it: one argument, the value exactly.
        inside = subprocess.run(
            ["bash", "-c", 'function build_wheel { printf "%s\\0" "$@"; }\n'
             'eval "$(cat "$1")"', "bash", str(tmp_path / "commands")],
            capture_output=True, cwd=tmp_path, check=False)
        assert inside.returncode == 0
        assert inside.stdout == value.encode() + b"\0"
        assert not canary.exists()


# Every place the library evaluates text as shell, and why it is safe. A new one fails here.
ALLOWED_EVALS = {
    # multibuild's contract: BUILD_COMMANDS are commands; values inside are printf %q quoted
    # (travis_linux_steps.sh, tested above).
    "docker_build_wrap.sh": ['eval "$BUILD_COMMANDS"'],
    # pre_build's exports, serialised by bash itself with printf %q (mb_print_exports).
    "common_utils.sh": ["source <(printf '%s\\n' \"$exports\") 2> /dev/null"],
}


def test_the_library_evaluates_no_value() -> None:
    found: dict[str, list[str]] = {}
    for path in sorted((REPO_ROOT / "multibuild").glob("*.sh")):
        for line in path.read_text().splitlines():
            code = line.strip()
            if code.startswith("#"):
                continue
            if re.search(r"(^|[;&|({]\s*)eval\s", code) \
                    or re.search(r"(^|[;&|({]\s*)(source|\.)\s+<\(", code) \
                    or re.search(r"\b(bash|sh)\s+-c\s+\"[^\"]*\$", code):
                found.setdefault(path.name, []).append(code)
    assert found == ALLOWED_EVALS
    python = {p.name: p.read_text() for p in (REPO_ROOT / "multibuild").glob("*.py")}
    python.update({p.name: p.read_text(errors="replace")
                   for p in (REPO_ROOT / "tools").iterdir() if p.is_file()})
    for name, text in python.items():
        assert "shell=True" not in text, name
        assert "os.system(" not in text and "os.popen(" not in text, name


def test_replay_prints_environment_lines_a_shell_takes_literally(tmp_path: Path) -> None:
    canary = tmp_path / "canary"
    value = hostile(canary)[2]  # $(touch CANARY)
    done = subprocess.run(
        [str(REPO_ROOT / "wheels"), "replay", "azure-linux-x86_64-cp312", "--print-env",
         "--set", f"MB_EXTRA={value}"], cwd=REPO_ROOT, env=tool_env(), capture_output=True,
        text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    (line,) = [ln for ln in done.stdout.splitlines() if ln.startswith("export MB_EXTRA=")]
    shown = subprocess.run(["bash", "-c", f'{line}\nprintf "%s" "$MB_EXTRA"'], cwd=tmp_path,
                           capture_output=True, text=True, check=False)
    assert shown.stdout == value and not canary.exists()
    assert os.listdir(tmp_path) == []
