"""One options model for a local run: CLI flags over environment over the CI files' values."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from multibuild import MultibuildError
from multibuild.ci.cifiles import CIFile, azure_variables, read_all
from multibuild.core.interpreters import OLDEST_PYTHON, parse_version, unsupported_python
from multibuild.core.platforms import default_plat, find_platform, host_os
from multibuild.core.refs import check_ref, check_repo_dir

if TYPE_CHECKING:
    from multibuild.ci.cimatrix import LocalSettings


@dataclass(frozen=True)
class Target:
    """One independent unit of work: one Python on one platform."""

    python: str
    plat: str
    os: str = "linux"

    @property
    def id(self) -> str:
        return f"cp{self.python.replace('.', '')}-{self.os}-{self.plat}"


# ``--python all`` starts here: the Pythons current projects still support.
ALL_PYTHONS_FROM = (3, 9)


def buildable_version(version: str) -> bool:
    """Whether ``version`` (``3.12``, ``3.13t``) is one ./wheels build builds for."""
    try:
        return _version_key(version) >= OLDEST_PYTHON
    except ValueError:
        return False


def installed_versions() -> list[str]:
    """``--python all``: every CPython found here from ALL_PYTHONS_FROM on, oldest first."""
    from multibuild.core.interpreters import discover

    found = sorted(
        (tuple(int(p) for p in v.split(".")), v) for v in discover() if v.replace(".", "").isdigit()
    )
    versions = [v for key, v in found if key >= ALL_PYTHONS_FROM]
    if not versions:
        raise MultibuildError("--python all: no CPython 3.9 or newer found "
                              "(./wheels interpreters lists what was searched)")
    return versions


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in version.rstrip("t").split("."))


def _is_local_path(url: str) -> bool:
    """A clone source given as a path (not ``scheme://`` or scp-like ``host:path``)."""
    return "://" not in url and not re.match(r"^[^/]+:", url)


def check_buildable(targets: tuple[Target, ...], environ: Mapping[str, str], source: str,
                    plat_source: str = "PLAT") -> None:
    """Refuse, before any work, targets this Linux host cannot build: the same policy as a
    replayed CI job (``multibuild.ci.cimatrix.skip_reason``). macOS and Windows CI jobs install
    their Python in before_install, so only a Linux host is checked."""
    from multibuild.ci.cimatrix import Host, Job, skip_reason

    if host_os() != "linux":
        return
    host = Host.detect(environ, only=[t.python for t in targets])
    for target in targets:
        if host.mode == "native" and target.python not in host.pythons:
            from multibuild.core.interpreters import discover

            usable = [v for v in discover() if buildable_version(v)]
            found = ", ".join(sorted(usable, key=_version_key)) or "none"
            raise MultibuildError(
                f"{source} {target.python}: no CPython {target.python} found on this machine "
                f"(native build mode; found: {found}); ./wheels interpreters lists them")
        job = Job(target.id, "local", "", 0, target.os, target.plat, target.python, (), ())
        reason = skip_reason(job, host)
        if reason is not None:
            raise MultibuildError(f"{plat_source} {target.plat}: cannot build {target.id} on "
                                  f"this machine: {reason}")


# Project configurations beside the default one (config.sh, env_vars.sh at the top level):
# configs/NAME/config.sh + configs/NAME/env_vars.sh, chosen with ./wheels build --config NAME.
CONFIGS_DIR = "configs"
# What a configuration's env_vars.sh may default for ./wheels build --config NAME.
PROJECT_VARIABLES = ("REPO_URL", "REPO_DIR", "BUILD_COMMIT")


@dataclass(frozen=True)
class ProjectConfig:
    """A shipped project configuration: its hooks, its environment and its project defaults
    (REPO_URL, REPO_DIR, BUILD_COMMIT assigned by its env_vars.sh; the default configuration
    takes them from the CI files)."""

    name: str
    config_path: str  # relative to the repository root, as CONFIG_PATH
    env_vars_path: str | None
    defaults: Mapping[str, str]


def default_config_name(root: Path) -> str:
    """The default configuration's name: its project, REPO_DIR of the CI files."""
    repo_dir = azure_variables(root).get("REPO_DIR")
    if not repo_dir:  # a repository with only .travis.yml (or appveyor.yml)
        from multibuild.ci.cimatrix import ci_globals

        found = ci_globals(read_all(root)).get("REPO_DIR")
        repo_dir = found.value if found else ""
    return Path(repo_dir or "default").name


def known_configs(root: Path) -> list[str]:
    names = [default_config_name(root)]
    configs = root / CONFIGS_DIR
    if configs.is_dir():
        names += sorted(p.parent.name for p in configs.glob("*/config.sh"))
    return list(dict.fromkeys(names))


# Names under build/ that are not configurations' work dirs (the shared cache, replayed CI
# jobs): a configuration of one of these names works in build/config-NAME.
_RESERVED_WORK_NAMES = ("cache", "replay", "source")


def config_work_name(root: Path, config_path: str, env_vars_path: str | None,
                     chosen: ProjectConfig | None) -> str:
    """The default work directory's name under build/ for a run's configuration, so
    configurations keep their targets' environments and build directories side by side:
    the configuration's name (``--config NAME``, or the default one's), with a short hash of
    the files when CONFIG_PATH or ENV_VARS_PATH point elsewhere."""
    import hashlib

    if chosen is not None:
        name, own_env = chosen.name, chosen.env_vars_path
        own_config = chosen.config_path
    else:
        name, own_env, own_config = default_config_name(root), None, "config.sh"
        match = re.fullmatch(rf"{CONFIGS_DIR}/([\w.-]+)/config\.sh", config_path)
        if match and (root / config_path).is_file():
            own = project_config(root, match.group(1))
            name, own_env, own_config = own.name, own.env_vars_path, own.config_path
    given_env = env_vars_path or own_env
    if own_env is None and given_env == "env_vars.sh":  # the library's default, named
        given_env = None
    if (config_path, given_env) != (own_config, own_env):
        files = "\0".join(str((root / f).resolve()) for f in (config_path, given_env or ""))
        name += "-" + hashlib.sha256(files.encode()).hexdigest()[:8]
    return f"config-{name}" if name in _RESERVED_WORK_NAMES else name


def env_vars_defaults(path: Path, names: tuple[str, ...] = PROJECT_VARIABLES,
                      environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The ``names`` (default: PROJECT_VARIABLES) that sourcing ``path`` assigns, in a clean
    bash that has only ``environ``'s values of them (default: none)."""
    script = ('unset ' + " ".join(names) + '; ' + " ".join(
        f'[ -n "${{MB_GIVEN_{n}:-}}" ] && {n}=$MB_GIVEN_{n};' for n in names)
        + ' source "$1" >/dev/null 2>&1; '
        + " ".join(f'printf "%s\\0" "${{{n}:-}}";' for n in names))
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    env.update({f"MB_GIVEN_{n}": (environ or {})[n] for n in names if (environ or {}).get(n)})
    out = subprocess.run(["bash", "-c", script, "bash", str(path)], env=env,
                         capture_output=True, text=True, check=False, cwd=path.parent)
    values = out.stdout.split("\0")
    return {n: v for n, v in zip(names, values) if v}


# What decides a native Linux build's toolchain (multibuild.build.toolchain), as the build sees it:
# the environment, then the project's env_vars.sh (which may set MB_ML_VER, as CI files do).
TOOLCHAIN_VARIABLES = ("MB_ML_VER", "MB_ML_LIBC", "MB_NATIVE_TOOLCHAIN", "MB_GFORTRAN_RUNTIME")


def check_toolchain(root: Path, environ: Mapping[str, str], env_vars_path: str | None,
                    plat: str, plat_source: str, pythons: list[str]) -> None:
    """Refuse, before any work, what the build's toolchain would refuse: an unknown MB_ML_VER,
    a policy older than zig targets, a PLAT zig has no target for (multibuild.build.toolchain), a
    Python a cross build has no target interpreter for (multibuild.build.crosspython)."""
    from multibuild.build.crosspython import check_target
    from multibuild.build.toolchain import choose, machine_plat

    if plat == "i686" and machine_plat() == "x86_64":
        return  # built in docker mode's manylinux i686 image: check_buildable says so
    env = dict(environ)
    path = root / (env_vars_path or "env_vars.sh")
    if path.is_file():
        env.update(env_vars_defaults(path, TOOLCHAIN_VARIABLES, environ))
    try:
        toolchain = choose(env, plat)
        if toolchain.cross:
            for python in pythons:
                check_target(plat, python)
    except MultibuildError as exc:
        message = str(exc)
        if plat_source == "--plat":
            message = message.replace(f"PLAT={plat}", f"--plat {plat}")
        raise MultibuildError(message) from None


def project_config(root: Path, name: str) -> ProjectConfig:
    """Configuration ``name``: configs/NAME/, or the default one at the top level."""
    directory = root / CONFIGS_DIR / name
    plain = name.replace("-", "").replace("_", "").isalnum()  # a directory name, no path
    if plain and (directory / "config.sh").is_file():
        env_vars = directory / "env_vars.sh"
        return ProjectConfig(
            name, f"{CONFIGS_DIR}/{name}/config.sh",
            f"{CONFIGS_DIR}/{name}/env_vars.sh" if env_vars.is_file() else None,
            env_vars_defaults(env_vars) if env_vars.is_file() else {})
    if name == default_config_name(root):
        return ProjectConfig(name, "config.sh", None, {})
    raise MultibuildError(
        f"--config {name}: unknown configuration; known: {', '.join(known_configs(root))}")


@dataclass(frozen=True)
class RunOptions:
    root: Path
    targets: tuple[Target, ...]
    build_commit: str
    repo_dir: str
    repo_url: str
    config_path: str
    env_vars_path: str | None  # None: the library default (env_vars.sh, if present)
    output_dir: Path
    work_dir: Path
    jobs: int = 1  # targets built at the same time (-j); resolve() defaults to the cores
    config: str = ""  # --config NAME; empty: CONFIG_PATH / ENV_VARS_PATH as set, or the default
    fresh: bool = False  # --fresh / MB_FRESH=1: every target starts from an empty work dir
    retest: bool = False  # --retest / MB_RETEST=1: run the tests even where reusable
    python_source: str = "--python"  # where the Python versions came from, for messages
    # Per target id: what the CI files give its build (multibuild.ci.cimatrix.local_settings).
    ci: Mapping[str, LocalSettings] = field(default_factory=dict)

    def ci_environment(self, target: Target) -> dict[str, str]:
        """The CI files' variables for ``target``'s build (the job building it, its
        dependency lists), under what the environment and the options set."""
        settings = self.ci.get(target.id)
        return settings.env() if settings is not None else {}

    def ci_sources(self) -> list[str]:
        """Where the run's REPO_DIR, BUILD_COMMIT and each target's dependency lists came
        from in the CI files, one line each, for the log."""
        lines: list[str] = []
        first = next(iter(self.ci.values()), None)
        if first is not None:
            used = {"REPO_DIR": self.repo_dir, "BUILD_COMMIT": self.build_commit,
                    "REPO_URL": self.repo_url}
            # Only what the run took from them (a flag or the environment may have won).
            shown = [f"{name}={first.values[name].value} ({first.values[name].source})"
                     for name, value in used.items()
                     if name in first.values and first.values[name].value == value]
            if shown:
                lines.append("from the CI files: " + ", ".join(shown))
        for target_id, settings in self.ci.items():
            if settings.job is None:
                lines.append(f"{target_id}: no CI job builds it; the CI files' top-level "
                             "variables apply")
                continue
            deps = [f"{name}={settings.values[name].value!r} ({settings.values[name].source})"
                    for name in ("BUILD_DEPENDS", "TEST_DEPENDS") if name in settings.values]
            rest = len(settings.values) - len(deps)
            lines.append(f"{target_id}: the variables of CI job {settings.job.id} "
                         f"({settings.job.where})" + (": " + ", ".join(deps) if deps else "")
                         + f"; {rest} more")
        return lines

    @classmethod
    def resolve(
        cls,
        root: Path,
        environ: Mapping[str, str],
        *,
        pythons: str | None = None,
        plat: str | None = None,
        build_commit: str | None = None,
        repo_url: str | None = None,
        repo_dir: str | None = None,
        output_dir: Path | str | None = None,
        work_dir: Path | str | None = None,
        jobs: int | None = None,
        check_host: bool = True,
        config: str | None = None,
        fresh: bool | None = None,
        retest: bool | None = None,
    ) -> RunOptions:
        """Every option from flags over environment over the CI files, checked before any
        work: a bad one is a one-line ``MultibuildError`` naming the flag or variable.
        ``check_host``: also refuse targets this machine cannot build (interpreters, PLAT)."""
        from multibuild.ci.cimatrix import ci_globals, local_settings

        files: list[CIFile] = read_all(root)
        # The CI files' top-level variables, then (once the targets are known) those of the
        # job building the first target: REPO_DIR, BUILD_COMMIT, ... from whichever CI files
        # the repository has.
        found = ci_globals(files)
        ci = {name: setting.value for name, setting in found.items()}
        ci_sources = {name: setting.source for name, setting in found.items()}
        chosen = project_config(root, config) if config else None
        # --config NAME: that configuration's project defaults come before the CI files'.
        defaults = chosen.defaults if chosen else {}

        def pick(flag: str | None, flag_name: str, name: str,
                 default: str = "") -> tuple[str, str]:
            """(value, where it came from): an explicit flag, even empty, wins."""
            if flag is not None:
                if not flag.strip():
                    raise MultibuildError(f"{flag_name} '': empty value (leave the option out "
                                          f"for the default)")
                return flag.strip(), flag_name
            if environ.get(name):
                return environ[name], name
            if defaults.get(name):
                return defaults[name], f"{name} of --config {config}"
            if ci.get(name):
                return ci[name], name
            return default, name

        def directory(flag: Path | str | None, flag_name: str, default: Path) -> Path:
            if flag is None:
                return default.resolve()
            if not str(flag).strip():
                raise MultibuildError(f"{flag_name} '': empty value (leave the option out "
                                      f"for the default: {default})")
            return Path(flag).resolve()

        running = f"{sys.version_info[0]}.{sys.version_info[1]}"
        spec, python_source = pick(pythons, "--python", "MB_PYTHON_VERSION", running)
        if spec.strip() == "all":
            versions = installed_versions()
        else:
            versions = []
            for item in (v for v in spec.split(",") if v.strip()):
                try:
                    version = parse_version(item)
                except MultibuildError as exc:
                    raise MultibuildError(f"{python_source}: {exc}") from None
                why = unsupported_python(version)
                if why:
                    raise MultibuildError(f"{python_source} {version}: {why}")
                versions.append(version)
            if not versions:
                raise MultibuildError(f"{python_source} {spec!r}: no Python version given "
                                      "(e.g. 3.12, or all)")
        here = host_os()  # macOS and Windows CI jobs build on their own OS
        plat_value, plat_source = pick(plat, "--plat", "PLAT", default_plat(here))
        try:
            platform = find_platform(here, plat_value)
        except MultibuildError as exc:
            raise MultibuildError(f"{plat_source}: {exc}") from None
        targets = tuple(Target(v, platform.plat, platform.os) for v in dict.fromkeys(versions))
        settings = {t.id: local_settings(root, t.python, t.plat, files, t.os) for t in targets}
        ci.update(settings[targets[0].id].env())
        commit, commit_source = pick(build_commit, "--commit", "BUILD_COMMIT")
        if not commit:
            raise MultibuildError(
                "BUILD_COMMIT is not set: set it in the CI files (azure-pipelines.yml, "
                ".travis.yml or appveyor.yml), the environment or --commit"
            )
        check_ref(commit, commit_source)
        repo, repo_source = pick(repo_dir, "--repo-dir", "REPO_DIR")
        if not repo:
            raise MultibuildError(
                "REPO_DIR is not set: set it in the CI files (azure-pipelines.yml, "
                ".travis.yml or appveyor.yml), the environment or --repo-dir"
            )
        check_repo_dir(repo, repo_source)
        url, url_source = pick(repo_url, "--repo-url", "REPO_URL")
        if url and _is_local_path(url) and not (root / url).exists():
            raise MultibuildError(f"{url_source} {url}: no such repository")
        if jobs is not None and jobs < 1:
            raise MultibuildError(f"-j {jobs}: the number of parallel targets must be >= 1")
        output = directory(output_dir, "--output", root / "wheelhouse")
        config_path = (chosen.config_path if chosen
                       else pick(None, "", "CONFIG_PATH", "config.sh")[0])
        env_vars_path = ((chosen and chosen.env_vars_path)
                         or pick(None, "", "ENV_VARS_PATH")[0] or None)
        work = directory(work_dir, "--work-dir", root / "build" / config_work_name(
            root, config_path, env_vars_path, chosen))
        checkout = (root / repo).resolve()
        from multibuild.run.staging import check_output_dir

        check_output_dir(output)
        if work.exists() and not work.is_dir():
            raise MultibuildError(f"--work-dir {work}: exists and is not a directory")
        if checkout.exists() and not checkout.is_dir():
            raise MultibuildError(f"REPO_DIR {checkout}: exists and is not a directory")
        for inner, name in ((work, "the work directory"), (checkout, "the REPO_DIR checkout")):
            if inner == output or output in inner.parents:
                raise MultibuildError(f"--output {output}: holds {name} ({inner}); each run "
                                      "replaces its output whole, so choose another")
        env_vars_path = ((chosen and chosen.env_vars_path)
                         or pick(None, "", "ENV_VARS_PATH")[0] or None)
        if check_host and platform.os == "linux" == host_os():
            check_toolchain(root, environ, env_vars_path, platform.plat, plat_source,
                            [t.python for t in targets])
        if check_host:
            try:
                check_buildable(targets, environ, python_source, plat_source)
            except MultibuildError as exc:
                where = ci_sources.get("PLAT")
                if plat is not None or environ.get("PLAT") or not where \
                        or plat_value == default_plat(here):
                    raise
                raise MultibuildError(f"{exc} (PLAT={plat_value} is from {where}; --plat "
                                      f"{default_plat(here)} builds for this machine)") from None
        return cls(
            root=root,
            targets=targets,
            build_commit=commit,
            repo_dir=repo,
            repo_url=url,
            config_path=config_path,
            env_vars_path=env_vars_path,
            output_dir=output,
            work_dir=work,
            jobs=jobs or os.cpu_count() or 1,
            config=chosen.name if chosen else "",
            fresh=bool(fresh) or environ.get("MB_FRESH", "0") not in ("", "0"),
            retest=bool(retest) or environ.get("MB_RETEST", "0") not in ("", "0"),
            python_source=python_source,
            ci=settings,
        )
