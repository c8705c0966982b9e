"""The build is visible without flooding: ninja's [n/m] lines and test dots are condensed on the
terminal (and CI log), compiler chatter between them stays in build.log, which keeps it all."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

from conftest import FIXTURES, git, run_wheels

from multibuild.core.progress import Condenser

STEPS = 1200
NOISY_BACKEND = f'''\
"""setuptools, printing what a meson build prints through pip wheel -v."""
from setuptools.build_meta import *  # noqa: F403
from setuptools import build_meta as _setuptools


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    for i in range(1, {STEPS} + 1):
        print(f"[{{i}}/{STEPS}] Compiling C object noisy_{{i}}.o", flush=True)
        if i % 100 == 0 and i < {STEPS}:
            print(f"../noisy_{{i}}.c:1:1: warning: chatter {{i}}", flush=True)
    return _setuptools.build_wheel(wheel_directory, config_settings, metadata_directory)
'''
CONFIG = """\
function run_tests {
    python -c 'import purepy'
    python -c 'for i in range(300): print("." * 70 + " [%3d%%]" % (i * 100 // 299))'
}
"""
_NINJA = re.compile(r"\[\d+/\d+\] Compiling")
_DOTS = re.compile(r"\.{70} \[ *\d+%\]$", re.MULTILINE)


def noisy_repo(dest: Path) -> Path:
    shutil.copytree(FIXTURES / "purepy", dest)
    (dest / "backend").mkdir()
    (dest / "backend" / "noisy_backend.py").write_text(NOISY_BACKEND)
    pyproject = dest / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace(
        'build-backend = "setuptools.build_meta"',
        'build-backend = "noisy_backend"\nbackend-path = ["backend"]')
        + '\n[tool.setuptools]\npackages = ["purepy"]\n')
    (dest / "config.sh").write_text(CONFIG)
    git(dest, "init", "-q", "-b", "main")
    git(dest, "add", "-A")
    git(dest, "commit", "-qm", "noisy")
    git(dest, "tag", "v0.1.0")
    return dest


def test_build_progress_is_condensed_on_screen_and_whole_in_build_log(
    tmp_path: Path, two_pythons: list[str]
) -> None:
    repo = noisy_repo(tmp_path / "noisy")
    output, work = tmp_path / "out", tmp_path / "work"
    done = run_wheels(
        ["build", "--python", two_pythons[0], "--commit", "v0.1.0", "--repo-url", str(repo),
         "--repo-dir", str(tmp_path / "checkout"), "--output", str(output),
         "--work-dir", str(work)],
        {"CONFIG_PATH": str(repo / "config.sh"), "ENV_VARS_PATH": str(repo / "env_vars.sh"),
         "MB_PROGRESS_INTERVAL": "3600"},
    )
    (log_path,) = work.glob("cp*/build.log")
    log = log_path.read_text()
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr
    # build.log: everything the build printed (pip wheel -v shows the backend's output).
    assert len(_NINJA.findall(log)) == STEPS and "warning: chatter 1100" in log
    assert len(_DOTS.findall(log)) == 300
    # The terminal: the first and last progress lines, no chatter, no wall of dots.
    shown = _NINJA.findall(done.stdout)
    assert len(shown) == 2, shown
    assert f"[{STEPS}/{STEPS}] Compiling" in done.stdout
    assert "warning: chatter" not in done.stdout
    dots = [ln for ln in done.stdout.splitlines() if ln.rstrip().endswith("%]")]
    assert 1 <= len(dots) <= 2 and dots[-1].endswith("[100%]"), dots


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_condenser_shows_progress_every_interval_and_the_end() -> None:
    clock = Clock()
    condenser = Condenser(interval=10, clock=clock)
    shown = []
    for i in range(1, 1001):  # 100 s of build, a line every 0.1 s
        clock.now = i / 10
        line = condenser.feed(f"[{i}/1000] Compiling C object x{i}.o\n")
        if line:
            shown.append(line)
    assert 10 <= len(shown) <= 12 and shown[-1].startswith("[1000/1000]")
    assert condenser.feed("Successfully built demo\n") == "Successfully built demo\n"


def test_condenser_keeps_failures_and_trouble_visible() -> None:
    condenser = Condenser(interval=3600, clock=Clock())
    assert condenser.feed("[1/50] Compiling a.o\n")
    assert condenser.feed("[2/50] Compiling b.o\n") is None
    assert condenser.feed("b.c:3: warning: unused variable\n") is None
    assert condenser.feed("b.c:4: error: expected ';'\n")
    assert condenser.feed("FAILED: b.o\n")
    assert condenser.feed("ninja: build stopped: subcommand failed.\n")
    assert condenser.feed("after the build\n") == "after the build\n"
    killed = Condenser(interval=3600, clock=Clock())
    assert killed.feed("[1/50] Compiling a.o\n")
    assert killed.feed("some chatter\n") is None
    for marker in ("---- cp312-linux-x86_64: build_wheel: FAILED (exit 1) in 9.0s\n",
                   "##[endgroup]\n", "::endgroup::\n"):
        assert killed.feed(marker) == marker  # never hidden, and the build is over
    assert killed.feed("later output\n") == "later output\n"
    tests = Condenser(interval=3600, clock=Clock())
    assert tests.feed("....... [  1%]\n")
    assert tests.feed("....... [  2%]\n") is None
    assert tests.feed("...F... [  3%]\n")  # a failure always shows
    assert tests.feed("....... [100%]\n")


def test_replayed_log_shows_one_line_per_tenth_and_interval_zero_shows_all() -> None:
    lines = [f"[{i}/200] Linking x{i}\n" for i in range(1, 201)]
    shown = list(Condenser(clock=None).lines(lines))
    assert len(shown) == 11 and shown[-1] == "[200/200] Linking x200\n"
    assert list(Condenser(interval=0).lines(lines)) == lines


def test_progress_filter_command() -> None:
    text = "".join(f"[{i}/300] Compiling\n" for i in range(1, 301)) + "done\n"
    done = subprocess.run([sys.executable, "-m", "multibuild.core.progress"], input=text,
                          capture_output=True, text=True, check=True,
                          env={"MB_PROGRESS_INTERVAL": "3600", "PATH": "/usr/bin:/bin"},
                          cwd=Path(__file__).resolve().parents[2])
    assert done.stdout == "[1/300] Compiling\n[300/300] Compiling\ndone\n"
    shown = subprocess.run([sys.executable, "-m", "multibuild.core.progress", "--help"],
                           capture_output=True, text=True, check=True,
                           cwd=Path(__file__).resolve().parents[2])
    assert shown.stdout.startswith("usage: python -m multibuild.core.progress")
    assert "MB_PROGRESS_INTERVAL" in shown.stdout
