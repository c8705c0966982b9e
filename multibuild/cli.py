"""``./wheels``: the command line of the wheels repository."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn, cast

from multibuild import run_cli
from multibuild.core.interpreters import OLDEST_PYTHON
from multibuild.core.provision import SystemPackage, ensure
from multibuild.run.options import RunOptions

ROOT = Path(__file__).resolve().parent.parent


def cmd_build(args: argparse.Namespace) -> int:
    from multibuild.core.interrupts import ProcessGroups
    from multibuild.run.replay import build, repository_record
    from multibuild.run.summary import print_summary

    groups = ProcessGroups()
    with groups.handling_signals():
        options = RunOptions.resolve(
            ROOT, os.environ, pythons=args.python, plat=args.plat, build_commit=args.commit,
            repo_url=args.repo_url, repo_dir=args.repo_dir, output_dir=args.output,
            work_dir=args.work_dir, jobs=args.jobs, config=args.config, fresh=args.fresh,
            retest=args.retest,
        )
        results = [] if groups.interrupted else build(options, os.environ, groups=groups)
        if not results:  # a signal came before any target started: nothing was changed
            print(f"wheels: {groups.signal_name}: stopped before building; nothing changed",
                  file=sys.stderr)
            return groups.exit_status
        print_summary(results, repository=repository_record(options))
    if groups.interrupted:
        unfinished = sum(r.interrupted for r in results)
        print(f"wheels: interrupted by {groups.signal_name}: {unfinished} of {len(results)} "
              f"targets unfinished; report in {options.output_dir}", file=sys.stderr)
        return groups.exit_status
    failed = [r for r in results if not r.passed]
    if failed:
        print(f"wheels: {len(failed)} of {len(results)} targets failed", file=sys.stderr)
        return 1
    targets = "target" if len(results) == 1 else "targets"
    print(f"wheels: {len(results)} {targets} passed; wheels in {options.output_dir}")
    return 0


# System packages some tests need (llvm-otool/-lipo/-install-name-tool: delocate from Linux;
# a headless browser to render report.html).
TEST_SYSTEM_PACKAGES = {
    "llvm-16": SystemPackage("/usr/lib/llvm-16/bin/llvm-lipo", apt="llvm-16"),
    "chromium": SystemPackage("/usr/bin/chromium", apt="chromium"),
}


def provision_test_packages() -> None:
    """Install the missing TEST_SYSTEM_PACKAGES (multibuild.core.provision: apt-get as root on
    Debian/Ubuntu); otherwise the tests that need them skip, naming the package."""
    if sys.platform == "darwin":
        return  # the macOS tools are the real ones there
    still = ensure(list(TEST_SYSTEM_PACKAGES.values()), who="wheels")
    if still:
        names = [n for n, p in TEST_SYSTEM_PACKAGES.items() if p in still]
        print(f"wheels: {', '.join(names)} missing; tests needing it will skip",
              file=sys.stderr)


def test_parser() -> argparse.ArgumentParser:
    """``./wheels test``'s own options; everything else goes to pytest, in order."""
    parser = OneLineErrors(
        prog="./wheels test", allow_abbrev=False,
        description="Run the test suite with pytest (the fast suite unless --slow); any "
        "other arguments are pytest's, e.g. ./wheels test -k lifecycle -x",
    )
    parser.add_argument("--slow", action="store_true", help="also run slow acceptance tests")
    parser.add_argument("--docker", action="store_true",
                        help="also run the docker-mode tests in real containers (a private "
                        "docker engine and Debian-made images; as root, docker.io and "
                        "debootstrap are installed if missing)")
    parser.add_argument("--no-provision", action="store_true",
                        help="do not apt-get install the system packages some tests need "
                        f"({', '.join(TEST_SYSTEM_PACKAGES)}; only as root, when missing)")
    return parser


def cmd_test(args: argparse.Namespace) -> int:
    own, pytest_args = test_parser().parse_known_args(args.pytest_args)
    if not own.no_provision:
        provision_test_packages()
    skipped = [name for name, wanted in (("slow", own.slow), ("docker", own.docker))
               if not wanted]
    marker = ["-m", " and ".join(f"not {name}" for name in skipped)] if skipped else []
    config = ["-c", str(ROOT / "tests" / "pytest.ini"),  # not the repository's pyproject.toml
              # The repository's build/ (work directories, caches: whole Python trees, the
              # projects' own tests) is no part of this suite; tests/build/ is.
              f"--ignore={ROOT / 'build'}"]
    return subprocess.call([sys.executable, "-m", "pytest", *config, *marker, *pytest_args],
                           cwd=ROOT)


def cmd_interpreters(_args: argparse.Namespace) -> int:
    """The Pythons ./wheels build can build for (version, path), one a line; older ones
    found here are named on stderr, since build refuses them."""
    from multibuild.core.interpreters import discover
    from multibuild.run.options import buildable_version

    older = []
    for version, interpreter in discover().items():
        if buildable_version(version):
            print(f"{version}\t{interpreter.path}")
        else:
            older.append(version)
    if older:
        oldest = ".".join(map(str, OLDEST_PYTHON))
        print(f"wheels: also found {', '.join(older)}: older than {oldest}, which ./wheels "
              "build refuses", file=sys.stderr)
    return 0


class OneLineErrors(argparse.ArgumentParser):
    """A parser whose errors are one line (the usage is one --help away); subcommand parsers
    inherit it."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"error: {self.prog}: {message} (see {self.prog} --help)\n")


# Commands whose modules every run imports; any other command loads the CI, upload and
# mirror modules for its parser (tens of milliseconds a build need not pay).
_CORE_COMMANDS = ("build", "test", "interpreters")


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The ./wheels parser; with ``command`` one of _CORE_COMMANDS, only the core commands."""
    parser = OneLineErrors(
        prog="./wheels",
        description="Build, repair, test and stage wheels of the configured project.",
    )
    # Subcommand parsers are OneLineErrors too (argparse makes them of the parent's class).
    sub: argparse._SubParsersAction[argparse.ArgumentParser] = cast(
        "argparse._SubParsersAction[argparse.ArgumentParser]",
        parser.add_subparsers(dest="command", required=True, metavar="COMMAND"))
    build = sub.add_parser(
        "build", help="the main job: build, repair, test and stage wheels",
        description="Build the project at BUILD_COMMIT for local interpreters, repair the "
        "wheels, test each in a fresh environment and stage passing ones in wheelhouse/.",
    )
    build.add_argument("--config", metavar="NAME",
                       help="project configuration: configs/NAME/config.sh + env_vars.sh and "
                       "its REPO_URL, REPO_DIR, BUILD_COMMIT defaults (e.g. scipy; default: "
                       "config.sh, env_vars.sh at the top level)")
    build.add_argument("--python", help="Python versions, e.g. 3.10,3.12, or all (every "
                       "CPython >= 3.9 found; default: this one)")
    build.add_argument("--plat", help="architecture (default: this machine's)")
    build.add_argument("--commit", help="ref to build (default: BUILD_COMMIT of the CI files)")
    build.add_argument("--repo-url", help="project repository to clone (default: REPO_URL)")
    build.add_argument("--repo-dir", help="project checkout directory (default: REPO_DIR)")
    build.add_argument("--output", help="the run's wheelhouse: passing wheels and the report, "
                       "replaced whole by each run (default: wheelhouse/; the previous one "
                       "moves to WORK_DIR/previous-wheelhouse/)")
    build.add_argument("--work-dir", help="this configuration's per-target work directories "
                       "(default: build/CONFIG/, one per configuration, so alternating them "
                       "keeps each one's state)")
    build.add_argument("-j", "--jobs", type=int, metavar="N",
                       help="targets built at the same time (default: the number of cores)")
    build.add_argument("--fresh", action="store_true",
                       help="start every target from scratch: new checkout copy, environments "
                       "and build directory (default: reuse what did not change; also "
                       "MB_FRESH=1)")
    build.add_argument("--retest", action="store_true",
                       help="run the tests even where the last passing run's results apply "
                       "(the same wheel bytes, test environment, run_tests and interpreter; "
                       "reused by default outside CI; also MB_RETEST=1)")
    build.set_defaults(func=cmd_build)
    # Every argument goes to test_parser: pytest's options (-k, -x, ...) must pass through.
    test = sub.add_parser("test", help="run the test suite (any pytest arguments may follow)",
                          add_help=False, prefix_chars="\0")
    test.add_argument("pytest_args", nargs=argparse.REMAINDER)
    test.set_defaults(func=cmd_test)
    interp = sub.add_parser("interpreters", help="list the Pythons found on this machine")
    interp.set_defaults(func=cmd_interpreters)
    if command in _CORE_COMMANDS:
        return parser
    from multibuild.ci import cicheck, cimatrix  # CI files: jobs, replay, check
    from multibuild.release import gate
    from multibuild.run import replay

    for ci_module in (cimatrix, replay, cicheck, gate):
        ci_module.add_subcommand(sub, ROOT)
    from multibuild.release import upload as upload_step  # ./wheels upload

    upload_step.add_subcommand(sub, ROOT)
    mirror = sub.add_parser(
        "mirror", help="make a local git mirror of a release from its sdist on the index",
        description="Make a bare git repository holding PACKAGE's sdist at VERSION, tagged "
        "vVERSION, for REPO_URL=DEST where the project's repository is out of reach.",
    )
    from multibuild.source import mirror as mirror_tool

    mirror_tool.add_arguments(mirror)
    mirror.set_defaults(func=lambda args: mirror_tool.run(args, os.environ))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    words = sys.argv[1:] if argv is None else list(argv)
    args = build_parser(words[0] if words else None).parse_args(words)
    try:
        return run_cli(lambda: int(args.func(args)), 2)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
