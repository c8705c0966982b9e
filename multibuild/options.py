"""One options model for a local run: CLI flags over environment over the CI files' values."""

from __future__ import annotations

import os
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
    ) -> RunOptions:
        ci = azure_variables(root)

        def pick(flag: str | None, name: str, default: str = "") -> str:
            return flag or environ.get(name) or ci.get(name) or default

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
        output = (output_dir or root / "wheelhouse").resolve()
        from multibuild.staging import check_output_dir

        check_output_dir(output)  # each run replaces its output whole
        return cls(
            root=root,
            targets=tuple(Target(v, platform.plat, platform.os)
                          for v in dict.fromkeys(versions)),
            build_commit=commit,
            repo_dir=directory,
            repo_url=pick(repo_url, "REPO_URL"),
            config_path=pick(None, "CONFIG_PATH", "config.sh"),
            env_vars_path=pick(None, "ENV_VARS_PATH") or None,
            output_dir=output,
            work_dir=work_dir or root / "build",
            jobs=jobs or os.cpu_count() or 1,
        )
