"""Real-style wheels repositories for the tests: a fixture's CI files and config.sh with this
library swapped in for the multibuild submodule, as the README's *Drop-in multibuild* (and
docs/drop-in.md) says.

:func:`wheels_repo` commits the fixture (``tests/fixtures/<name>``: CI files, ``config.sh``,
``env_vars.sh``, ``gitignore``) with this repository's ``multibuild/``, ``wheels`` and
``pyproject.toml``, and the project as a git submodule whose ``.gitmodules`` URL is out of reach
(as GitHub is here), then clones it afresh as CI would: the jobs get the project from
``REPO_URL`` (``--repo-url``), as a real repository's replay does from an sdist mirror.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from conftest import FIXTURES, GIT_ENV, REPO_ROOT, git, tool_env


@dataclass
class Run:
    proc: subprocess.CompletedProcess[str]

    @property
    def log(self) -> str:
        return self.proc.stdout + self.proc.stderr

    @property
    def ok(self) -> bool:
        return self.proc.returncode == 0


def project_repo(dest: Path, fixture: str, tag: str) -> Path:
    """The fixture project committed into a git repository, tagged ``tag``."""
    shutil.copytree(FIXTURES / fixture, dest)
    git(dest, "init", "-q", "-b", "main")
    git(dest, "add", "-A")
    git(dest, "commit", "-qm", f"{fixture} {tag}")
    git(dest, "tag", "-a", tag, "-m", f"release {tag}")
    return dest


def wheels_repo(tmp: Path, fixture: str, project: Path, name: str,
                files: dict[str, bytes] | None = None) -> Path:
    """A fresh clone of a wheels repository made from ``tests/fixtures/<fixture>`` with the
    project ``project`` as submodule ``name`` (its .gitmodules URL out of reach) and this
    library swapped in; ``files`` adds or replaces files (relative paths)."""
    upstream = tmp / f"{fixture}-upstream"
    upstream.mkdir()
    for entry in (FIXTURES / fixture).iterdir():
        target = upstream / (".gitignore" if entry.name == "gitignore" else entry.name)
        if entry.is_dir():
            shutil.copytree(entry, target)
        else:
            shutil.copy2(entry, target)
    for relative, data in (files or {}).items():
        (upstream / relative).parent.mkdir(parents=True, exist_ok=True)
        (upstream / relative).write_bytes(data)
    shutil.copytree(REPO_ROOT / "multibuild", upstream / "multibuild",
                    ignore=shutil.ignore_patterns("__pycache__"))
    for name_ in ("wheels", "pyproject.toml"):
        shutil.copy2(REPO_ROOT / name_, upstream / name_)
    git(upstream, "init", "-q", "-b", "main")
    git(upstream, "add", "-A")
    git(upstream, "-c", "protocol.file.allow=always", "submodule", "add", "-q", str(project),
        name)
    # The project's home is out of reach, as GitHub is on the build machines here.
    git(upstream, "config", "-f", ".gitmodules", f"submodule.{name}.url",
        f"../{name}-moved-away.git")
    git(upstream, "add", ".gitmodules")
    git(upstream, "commit", "-qm", f"{fixture} with the drop-in multibuild")
    clone = tmp / fixture
    git(tmp, "clone", "-q", str(upstream), str(clone))
    return clone


def wheels(repo: Path, args: list[str], env: dict[str, str] | None = None,
           timeout: float = 1200) -> Run:
    """``./wheels ARGS`` run in ``repo`` by its own front door, with this suite's tool
    environment and the repository's own archives.lock."""
    extra = {**GIT_ENV, "MB_TOOL_VENV": str(REPO_ROOT / ".venv"), "MB_ARCHIVES_LOCK": "",
             "PIP_CONFIG_FILE": os.devnull, **(env or {})}
    proc = subprocess.run([str(repo / "wheels"), *args], cwd=repo, env=tool_env(extra),
                          capture_output=True, text=True, timeout=timeout, check=False)
    return Run(proc)


def tarball(top: str, files: dict[str, tuple[bytes, int]]) -> bytes:
    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode="w:gz") as archive:
        for name, (content, mode) in files.items():
            info = tarfile.TarInfo(f"{top}/{name}")
            info.size, info.mode = len(content), mode
            archive.addfile(info, io.BytesIO(content))
    return data.getvalue()


def libtiny_tarball(top: str) -> bytes:
    """libtiny's sources (tests/fixtures/libtiny-1.0) as a tar.gz under ``top``."""
    source = FIXTURES / "libtiny-1.0"
    return tarball(top, {p.name: (p.read_bytes(), 0o755 if p.name == "configure" else 0o644)
                         for p in source.iterdir()})


def deps_zip(dest: Path, top: str, archives: dict[str, bytes]) -> Path:
    """A zip of source archives under ``top/``, as pillow-wheels fetches pillow-depends."""
    with zipfile.ZipFile(dest, "w") as archive:
        for name, data in archives.items():
            archive.writestr(f"{top}/{name}", data)
    return dest


def runnable_jobs(repo: Path) -> list[str]:
    done = wheels(repo, ["jobs", "--runnable"])
    assert done.ok, done.log
    return [line.split()[0] for line in done.proc.stdout.splitlines()
            if line.endswith(" run")]
