"""One options model for a local run: CLI flags over environment over the CI files' values."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from multibuild import MultibuildError
from multibuild.cifiles import azure_variables
from multibuild.interpreters import parse_version
from multibuild.platforms import default_plat, find_platform, host_os


@dataclass(frozen=True)
class Target:
    """One independent unit of work: one Python on one platform."""

    python: str
    plat: str
    os: str = "linux"

    @property
    def id(self) -> str:
        return f"cp{self.python.replace('.', '')}-{self.os}-{self.plat}"


# The oldest Python the library's build and test tooling (pip, uv, build) still supports.
OLDEST_PYTHON = (3, 9)


def installed_versions() -> list[str]:
    """``--python all``: every CPython found here from OLDEST_PYTHON on, oldest first."""
    from multibuild.interpreters import discover

    found = sorted(
        (tuple(int(p) for p in v.split(".")), v) for v in discover() if v.replace(".", "").isdigit()
    )
    versions = [v for key, v in found if key >= OLDEST_PYTHON]
    if not versions:
        raise MultibuildError("--python all: no CPython 3.9 or newer found "
                              "(./wheels interpreters lists what was searched)")
    return versions


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
    return Path(azure_variables(root).get("REPO_DIR") or "default").name


def known_configs(root: Path) -> list[str]:
    names = [default_config_name(root)]
    configs = root / CONFIGS_DIR
    if configs.is_dir():
        names += sorted(p.parent.name for p in configs.glob("*/config.sh"))
    return list(dict.fromkeys(names))


def env_vars_defaults(path: Path) -> dict[str, str]:
    """The PROJECT_VARIABLES that sourcing ``path`` assigns, in a clean bash."""
    script = ('unset ' + " ".join(PROJECT_VARIABLES) + '; source "$1" >/dev/null 2>&1; '
              + " ".join(f'printf "%s\\0" "${{{n}:-}}";' for n in PROJECT_VARIABLES))
    out = subprocess.run(["bash", "-c", script, "bash", str(path)],
                         env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")},
                         capture_output=True, text=True, check=False, cwd=path.parent)
    values = out.stdout.split("\0")
    return {n: v for n, v in zip(PROJECT_VARIABLES, values) if v}


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
        output_dir: Path | None = None,
        work_dir: Path | None = None,
        jobs: int | None = None,
        config: str | None = None,
    ) -> RunOptions:
        ci = azure_variables(root)
        chosen = project_config(root, config) if config else None
        # --config NAME: that configuration's project defaults come before the CI files'.
        defaults = chosen.defaults if chosen else {}

        def pick(flag: str | None, name: str, default: str = "") -> str:
            return (flag or environ.get(name) or defaults.get(name) or ci.get(name)
                    or default)

        running = f"{sys.version_info[0]}.{sys.version_info[1]}"
        spec = pick(pythons, "MB_PYTHON_VERSION", running)
        versions = (installed_versions() if spec.strip() == "all"
                    else [parse_version(v) for v in spec.split(",") if v.strip()])
        here = host_os()  # macOS and Windows CI jobs build on their own OS
        platform = find_platform(here, pick(plat, "PLAT", default_plat(here)))
        commit = pick(build_commit, "BUILD_COMMIT")
        if not commit:
            raise MultibuildError(
                "BUILD_COMMIT is not set: set it in azure-pipelines.yml, the environment "
                "or --commit"
            )
        directory = pick(repo_dir, "REPO_DIR")
        if not directory:
            raise MultibuildError(
                "REPO_DIR is not set: set it in azure-pipelines.yml or --repo-dir"
            )
        if jobs is not None and jobs < 1:
            raise MultibuildError(f"-j {jobs}: the number of parallel targets must be >= 1")
        return cls(
            root=root,
            targets=tuple(Target(v, platform.plat, platform.os)
                          for v in dict.fromkeys(versions)),
            build_commit=commit,
            repo_dir=directory,
            repo_url=pick(repo_url, "REPO_URL"),
            config_path=(chosen.config_path if chosen
                         else pick(None, "CONFIG_PATH", "config.sh")),
            env_vars_path=((chosen and chosen.env_vars_path)
                           or pick(None, "ENV_VARS_PATH") or None),
            output_dir=output_dir or root / "wheelhouse",
            work_dir=work_dir or root / "build",
            jobs=jobs or os.cpu_count() or 1,
            config=chosen.name if chosen else "",
        )
