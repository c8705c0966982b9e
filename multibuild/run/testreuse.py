"""Reused test results: a target's tests are not run again when nothing they depend on changed.

What a test run depends on, and so what its key holds (:func:`test_key`):

- the **wheels** installed, by sha256 (the same bytes: reproducible builds make a no-change
  rebuild give them);
- the **test environment**: its resolved package list after the wheels went in
  (``uv pip freeze``) and its interpreter (version, base installation);
- the **tests**: ``run_tests``' text, the text of every function it calls (found by name,
  transitively) and the value of every shell variable any of them names, plus the variables
  test runners read by themselves (``PYTEST_*``, ``PYTHON*``, thread counts) — install_run
  hashes these in the shell (``mb_run_tests_inputs``), so no value leaves it;
- the **project's commit** (``checkout.json``): run_tests may read the sources' own tests.

Only a passing run is remembered (``test-reuse.json`` in the target's work dir), and only when
its counts show no failure, no error and no rerun (a flaky pass); a failed run forgets it.
Reuse is on by default for local runs, off under CI (``CI=true`` and the CI services' own
variables: a CI job must show its tests ran), in containers, and with ``--retest``
(``MB_RETEST=1``); ``MB_REUSE_TESTS=0`` turns it off for good.

  python -m multibuild.run.testreuse check --work-dir W --python PY --inputs SHA [--reuse 0] \
      WHEEL...
    exit 0 and one line "tests reused from run ID (WHEN): COUNTS" when the key matches;
    exit 1 and "running the tests: ..." (what changed) otherwise. The key is kept for the
    runner, which remembers it when the tests pass (:func:`remember`).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from multibuild import MultibuildError
from multibuild.core.files import atomic_write
from multibuild.run.testresults import TestResults

# In a target's work dir: the last passing run's key and results (kept between runs), this
# run's key (a per-run file) and, when this run reused the results, what it reused.
RECORD = "test-reuse.json"
PENDING = "test-key.json"
REUSED = "tests-reused.json"
_FORMAT = 1
# CI services whose jobs must run their tests (each sets this variable to a true value).
_CI_VARIABLES = ("CI", "TF_BUILD", "APPVEYOR", "TRAVIS", "GITHUB_ACTIONS", "GITLAB_CI")


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes")


def reuse_wanted(environ: Mapping[str, str], retest: bool = False) -> bool:
    """Whether a run may reuse test results: not with --retest, under CI or when
    MB_REUSE_TESTS=0; otherwise yes (MB_REUSE_TESTS=1 forces it on, e.g. to try it in CI)."""
    if retest or _truthy(environ.get("MB_RETEST")):
        return False
    value = environ.get("MB_REUSE_TESTS", "").strip()
    if value:
        return value != "0"
    return not any(_truthy(environ.get(name)) for name in _CI_VARIABLES)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def test_key(work: Path, python: str, wheels: Sequence[Path], inputs: str,
             environ: Mapping[str, str]) -> dict[str, Any]:
    """Everything a test run's result depends on (see the module docstring)."""
    from multibuild.build.incremental import _python_identity, frozen_packages

    try:
        commit = json.loads((work / "checkout.json").read_text()).get("sha")
    except (OSError, ValueError, AttributeError):
        commit = None
    return {
        "format": _FORMAT,
        "wheels": {w.name: _sha256(w) for w in sorted(wheels)},
        "packages": frozen_packages(python, environ),
        "python": _python_identity(python),
        "run_tests": inputs,
        "commit": commit,
    }


test_key.__test__ = False  # type: ignore[attr-defined]  # not a pytest test


def _read(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def check(work: Path, key: dict[str, Any]) -> tuple[dict[str, Any] | None, str]:
    """(the remembered record, "") when ``key`` matches the last passing run's; else
    (None, why the tests run)."""
    atomic_write(work / PENDING, json.dumps(key, indent=1, sort_keys=True) + "\n")
    record = _read(work / RECORD)
    if record is None:
        return None, "no earlier passing run to reuse"
    old = record.get("key")
    if not isinstance(old, dict):
        return None, "no earlier passing run to reuse"
    changed = sorted(k for k in set(old) | set(key) if old.get(k) != key.get(k))
    if changed:
        return None, f"changed since run {record.get('run', '?')}: {', '.join(changed)}"
    return record, ""


def reused_sentence(record: Mapping[str, Any]) -> str:
    tests = record.get("tests")
    counts = (TestResults.from_json(tests).describe() if isinstance(tests, dict)
              else "passed (no pytest counts)")
    return f"tests reused from run {record.get('run', '?')} ({record.get('when', '?')}): {counts}"


def flaky(tests: TestResults | None) -> bool:
    return tests is not None and tests.reruns > 0


def remember(work: Path, run_id: str, passed: bool, tests: TestResults | None) -> None:
    """After a target's test step: keep this run's key as the one to reuse when the tests
    passed with no failure, error or rerun; forget any earlier one otherwise."""
    key = _read(work / PENDING)
    good = passed and key is not None and (tests is None or (tests.ok and not flaky(tests)))
    if not good:
        (work / RECORD).unlink(missing_ok=True)
        return
    when = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
    atomic_write(work / RECORD, json.dumps(
        {"key": key, "run": run_id, "when": when,
         "tests": tests.to_json() if tests is not None else None}, indent=1) + "\n")


def reused_record(work: Path) -> tuple[TestResults | None, dict[str, str]] | None:
    """What this run reused (install_run wrote it): the remembered counts (None: the run
    used no pytest) and {"run": ID, "when": TIME}; None when the tests ran."""
    record = _read(work / REUSED)
    if record is None:
        return None
    tests = record.get("tests")
    return (TestResults.from_json(tests) if isinstance(tests, dict) else None,
            {"run": str(record.get("run", "")), "when": str(record.get("when", ""))})


def main(argv: Sequence[str] | None = None) -> int:
    import os

    parser = argparse.ArgumentParser(prog="python -m multibuild.run.testreuse",
                                     description="Reuse a target's test results when nothing "
                                     "they depend on changed.")
    sub = parser.add_subparsers(dest="command", required=True)
    chk = sub.add_parser("check", help="exit 0 when the last passing run's results apply")
    chk.add_argument("--work-dir", type=Path, required=True)
    chk.add_argument("--python", required=True, help="the test environment's python")
    chk.add_argument("--inputs", required=True, help="sha256 of run_tests' inputs")
    chk.add_argument("--reuse", choices=("0", "1"), default="1",
                     help="0: only keep this run's key for the next run (--retest, CI)")
    chk.add_argument("wheels", nargs="*", type=Path)
    args = parser.parse_args(argv)
    try:
        key = test_key(args.work_dir, args.python, args.wheels, args.inputs, os.environ)
        record, why = check(args.work_dir, key)
        if args.reuse == "0":
            record, why = None, "reuse is off: --retest, a CI run or MB_REUSE_TESTS=0"
    except MultibuildError as exc:
        print(f"install_run: running the tests: {exc}")
        return 1
    if record is None:
        print(f"install_run: running the tests ({why})")
        return 1
    atomic_write(args.work_dir / REUSED, json.dumps(record, indent=1) + "\n")
    print(f"install_run: {reused_sentence(record)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
