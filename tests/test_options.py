"""The run options model: ``--python all`` and its bounds."""

from __future__ import annotations

from conftest import REPO_ROOT

from multibuild.interpreters import discover
from multibuild.options import OLDEST_PYTHON, RunOptions


def test_python_all_is_every_supported_interpreter_found_oldest_first() -> None:
    options = RunOptions.resolve(REPO_ROOT, {}, pythons="all", plat="x86_64")
    versions = [t.python for t in options.targets]
    expected = sorted((v for v in discover() if v.replace(".", "").isdigit()
                       and tuple(map(int, v.split("."))) >= OLDEST_PYTHON),
                      key=lambda v: tuple(map(int, v.split("."))))
    assert versions == expected
    assert all(tuple(map(int, v.split("."))) >= OLDEST_PYTHON for v in versions)
