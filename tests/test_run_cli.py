"""run_cli, the one wrapper of every command's main: a MultibuildError is one ``error:`` line
and the command's exit status; anything else passes through."""

from __future__ import annotations

import pytest

from multibuild import MultibuildError, UsageError, run_cli


def fail(exc: BaseException) -> int:
    raise exc


@pytest.mark.parametrize("exc,status,expected", [
    (MultibuildError("no such wheel"), None, 1),
    (UsageError("--python 3.99: bad"), None, 2),
    (MultibuildError("no such wheel"), 2, 2),  # commands whose every error is exit 2
    (UsageError("--python 3.99: bad"), 1, 1),  # ... or exit 1, as before run_cli
])
def test_an_error_is_one_line_and_the_commands_status(
        exc: MultibuildError, status: int | None, expected: int,
        capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(lambda: fail(exc), status) == expected
    out, err = capsys.readouterr()
    assert (out, err) == ("", f"error: {exc}\n")


def test_the_body_status_passes_through_and_none_is_zero() -> None:
    assert run_cli(lambda: 3) == 3
    assert run_cli(lambda: None, 2) == 0


def test_other_exceptions_are_not_caught() -> None:
    with pytest.raises(KeyboardInterrupt):
        run_cli(lambda: fail(KeyboardInterrupt()))
    with pytest.raises(OSError):
        run_cli(lambda: fail(OSError("disk full")))
