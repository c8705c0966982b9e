"""``./wheels``: the command line of the wheels repository."""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from multibuild import MultibuildError
from multibuild.options import RunOptions

ROOT = Path(__file__).resolve().parent.parent


def cmd_build(args: argparse.Namespace) -> int:
    from multibuild.replay import build
    from multibuild.summary import print_summary

    options = RunOptions.resolve(
        ROOT, os.environ, pythons=args.python, plat=args.plat, build_commit=args.commit,
        repo_url=args.repo_url, repo_dir=args.repo_dir,
        output_dir=Path(args.output).resolve() if args.output else None,
        work_dir=Path(args.work_dir).resolve() if args.work_dir else None,
        jobs=args.jobs, config=args.config,
    )
    results = build(options, os.environ)  # the same engine as a replayed CI job
    print_summary(results)
    failed = [r for r in results if not r.passed]
    if failed:
        print(f"wheels: {len(failed)} of {len(results)} targets failed", file=sys.stderr)
        return 1
    print(f"wheels: {len(results)} targets passed; wheels in {options.output_dir}")
    return 0


# System packages some tests need, and the command that proves each is there.
TEST_SYSTEM_PACKAGES: dict[str, str] = {
    "llvm-16": "/usr/lib/llvm-16/bin/llvm-lipo",  # llvm-otool/-lipo/-install-name-tool: delocate
}


def provision_test_packages() -> None:
    """Install the missing TEST_SYSTEM_PACKAGES with apt when this is root on Debian/Ubuntu;
    otherwise the tests that need them skip, naming the package."""
    missing = [pkg for pkg, probe in TEST_SYSTEM_PACKAGES.items() if not Path(probe).exists()]
    apt = shutil.which("apt-get")
    if not missing or apt is None or not hasattr(os, "geteuid") or os.geteuid() != 0:
        return
    print(f"wheels: installing {', '.join(missing)} for the tests (apt-get)", flush=True)
    quiet = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    try:
        done = subprocess.run([apt, "install", "-y", "-q", "--no-install-recommends", *missing],
                              env=quiet, capture_output=True, text=True, timeout=600, check=False)
        if done.returncode != 0:
            subprocess.run([apt, "update", "-q"], env=quiet, capture_output=True, timeout=300,
                           check=False)
            done = subprocess.run([apt, "install", "-y", "-q", "--no-install-recommends",
                                   *missing], env=quiet, capture_output=True, text=True,
                                  timeout=600, check=False)
    except subprocess.TimeoutExpired:
        print("wheels: apt-get timed out; tests needing it will skip", file=sys.stderr)
        return
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        print(f"wheels: could not install {', '.join(missing)} ({last}); tests needing it "
              "will skip", file=sys.stderr)


def cmd_test(args: argparse.Namespace) -> int:
    if not args.no_provision:
        provision_test_packages()
    marker = [] if args.slow else ["-m", "not slow"]
    return subprocess.call([sys.executable, "-m", "pytest", *marker, *args.pytest_args], cwd=ROOT)


def cmd_interpreters(_args: argparse.Namespace) -> int:
    from multibuild.interpreters import discover

    for version, interpreter in discover().items():
        print(f"{version}\t{interpreter.path}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="./wheels",
        description="Build, repair, test and stage wheels of the configured project.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
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
    build.add_argument("--output", help="where passing wheels go (default: wheelhouse/)")
    build.add_argument("--work-dir", help="per-target build directories (default: build/)")
    build.add_argument("-j", "--jobs", type=int, metavar="N",
                       help="targets built at the same time (default: the number of cores)")
    build.set_defaults(func=cmd_build)
    test = sub.add_parser("test", help="run the test suite", description="Run pytest.")
    test.add_argument("--slow", action="store_true", help="also run slow acceptance tests")
    test.add_argument("--no-provision", action="store_true",
                      help="do not apt-get install the system packages some tests need "
                      f"({', '.join(TEST_SYSTEM_PACKAGES)}; only as root, when missing)")
    test.add_argument("pytest_args", nargs=argparse.REMAINDER, help="passed to pytest")
    test.set_defaults(func=cmd_test)
    interp = sub.add_parser("interpreters", help="list the Pythons found on this machine")
    interp.set_defaults(func=cmd_interpreters)
    from multibuild import cicheck, cimatrix, replay  # CI files: jobs, replay, check

    for ci_module in (cimatrix, replay, cicheck):
        ci_module.add_subcommand(sub, ROOT)
    from multibuild import upload as upload_step  # ./wheels upload

    upload_step.add_subcommand(sub, ROOT)
    mirror = sub.add_parser(
        "mirror", help="make a local git mirror of a release from its sdist on the index",
        description="Make a bare git repository holding PACKAGE's sdist at VERSION, tagged "
        "vVERSION, for REPO_URL=DEST where the project's repository is out of reach.",
    )
    from multibuild import mirror as mirror_tool

    mirror_tool.add_arguments(mirror)
    mirror.set_defaults(func=lambda args: mirror_tool.run(args, os.environ))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except MultibuildError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
