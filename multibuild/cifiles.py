"""Read the CI definitions: the variables they carry (BUILD_COMMIT, REPO_DIR, ...) and their
build matrices, each value with the file and line it comes from.

Three services, one model: ``azure-pipelines.yml`` (with job templates under ``azure/``),
``.travis.yml`` and ``appveyor.yml``. A file's *globals* are its top-level variables
(``variables``, ``env.global``, ``environment``); a *matrix entry* is one job's own variables.
Readers never raise for a malformed part; they record a :class:`Problem` (file and line) and go on,
so ``./wheels check`` can report every problem at once.
"""

from __future__ import annotations

import os
import re
import shlex
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import YAMLError

from multibuild import MultibuildError, UsageError

AZURE_FILE = "azure-pipelines.yml"
TRAVIS_FILE = ".travis.yml"
APPVEYOR_FILE = "appveyor.yml"
# service -> top-level CI file
CI_FILES: dict[str, str] = {"azure": AZURE_FILE, "travis": TRAVIS_FILE, "appveyor": APPVEYOR_FILE}
# Variables every CI file carries at the top, with one value across all files.
SHARED_VARIABLES: tuple[str, ...] = ("BUILD_COMMIT", "NIGHTLY_BUILD_COMMIT", "REPO_DIR", "REPO_URL")
# `bash multibuild/ci_step.sh STEP` is how a CI step calls into the library.
_STEP_RE = re.compile(r"multibuild/ci_step\.sh\s+([A-Za-z_]+)")
_TEMPLATE_EXPR_RE = re.compile(r"^\$\{\{\s*parameters\.([A-Za-z_][A-Za-z0-9_]*)\s*\}\}$")
_MACRO_RE = re.compile(r"\$\(([A-Za-z_][A-Za-z0-9_.]*)\)")


def load_yaml(path: Path, *, round_trip: bool = True) -> Any:
    """Round-trip load (comments and positions kept), or with ``round_trip=False`` plain data
    (ruamel's C loader: every run reads the CI files); a parse error names file and line."""
    try:
        return YAML(typ="rt" if round_trip else "safe").load(path.read_text(encoding="utf-8"))
    except YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        raise MultibuildError(f"{where}: invalid YAML: {getattr(exc, 'problem', exc)}") from None
    except OSError as exc:
        raise MultibuildError(f"cannot read {path}: {exc.strerror}") from None


def azure_variables(root: Path) -> dict[str, str]:
    """Top-level ``variables`` of azure-pipelines.yml (mapping or name/value list form)."""
    path = root / AZURE_FILE
    if not path.is_file():
        return {}
    data = load_yaml(path, round_trip=False) or {}
    variables = data.get("variables") or {}
    if isinstance(variables, list):
        return {
            str(item["name"]): str(item.get("value", ""))
            for item in variables
            if isinstance(item, dict) and "name" in item
        }
    return {str(k): str(v) for k, v in variables.items()}


@dataclass(frozen=True)
class Problem:
    """Something wrong in a CI file, at a 1-based line."""

    file: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.message}"


@dataclass(frozen=True)
class Variable:
    """One variable of a CI file. ``scalar`` is the YAML scalar that holds it (for Travis
    ``NAME=value``, else the value) and ``line``/``col`` (1-based line, 0-based column) where
    that scalar starts. ``raw`` is the value as YAML typed it (a number stays a number)."""

    name: str
    value: str
    file: str
    line: int
    col: int
    scalar: str
    raw: Any = None


@dataclass
class MatrixEntry:
    """One build job of a CI file: its variables, OS, and the library steps it calls."""

    service: str
    file: str
    line: int
    os: str
    variables: dict[str, Variable]
    steps: tuple[str, ...]
    name: str = ""
    extra: dict[str, str] = field(default_factory=dict)  # e.g. Travis arch

    def value(self, name: str) -> str:
        var = self.variables.get(name)
        return var.value if var is not None else ""


@dataclass
class CIFile:
    """A parsed top-level CI file."""

    service: str
    file: str  # relative to the root
    data: Any
    variables: dict[str, Variable]
    variables_line: int  # where the globals section is (1 when it is missing)
    entries: list[MatrixEntry]
    problems: list[Problem]
    text: str = ""


def _pos(node: Any, key: Any) -> tuple[int, int]:
    """(1-based line, column) of the value of ``key`` in a mapping or item of a sequence."""
    if isinstance(node, CommentedMap):
        line, col = node.lc.value(key)
    elif isinstance(node, CommentedSeq):
        line, col = node.lc.item(key)
    else:  # pragma: no cover - only called on round-trip containers
        return 1, 0
    return int(line) + 1, int(col)


def _key_line(node: Any, key: Any) -> int:
    if isinstance(node, CommentedMap) and key in node:
        return int(node.lc.key(key)[0]) + 1
    return _node_line(node)


def _node_line(node: Any) -> int:
    lc = getattr(node, "lc", None)
    return int(lc.line) + 1 if lc is not None and lc.line is not None else 1


def _is_scalar(value: Any) -> bool:
    return value is not None and not isinstance(value, (dict, list))


def _mapping_variables(node: Any, file: str, skip: tuple[str, ...] = ()) -> dict[str, Variable]:
    """NAME: value pairs of a mapping; secure (mapping) values and ``skip`` keys are left out."""
    found: dict[str, Variable] = {}
    if not isinstance(node, CommentedMap):
        return found
    for key, value in node.items():
        if str(key) in skip or not _is_scalar(value):
            continue
        line, col = _pos(node, key)
        found[str(key)] = Variable(str(key), str(value), file, line, col, str(value), value)
    return found


def _assignment_variables(node: Any, file: str, line: int = 1) -> dict[str, Variable]:
    """Travis ``NAME=value`` assignments: a list of them, or one string of several (which
    is reported at ``line``)."""
    found: dict[str, Variable] = {}
    if isinstance(node, str):
        col = 0
        for word in shlex.split(node):
            name, sep, value = word.partition("=")
            if sep:
                found[name] = Variable(name, value, file, line, col, word, value)
        return found
    if isinstance(node, CommentedMap):
        return _mapping_variables(node, file)
    if isinstance(node, CommentedSeq):
        for index, item in enumerate(node):
            if not isinstance(item, str):
                continue  # {secure: ...}
            name, sep, value = item.partition("=")
            if sep:
                line, col = _pos(node, index)
                found[name.strip()] = Variable(name.strip(), value, file, line, col, item, value)
    return found


def step_names(node: Any) -> tuple[str, ...]:
    """The ``ci_step.sh`` steps named anywhere in a steps section (strings at any depth)."""
    names: list[str] = []

    def walk(item: Any) -> None:
        if isinstance(item, str):
            names.extend(_STEP_RE.findall(item))
        elif isinstance(item, dict):
            for value in item.values():
                walk(value)
        elif isinstance(item, list):
            for value in item:
                walk(value)

    walk(node)
    return tuple(names)


def image_os(image: str) -> str:
    """The OS of a CI VM image name (ubuntu-22.04, macOS-14, windows-2022, Visual Studio ...)."""
    lowered = image.lower()
    if lowered.startswith(("ubuntu", "linux")):
        return "linux"
    if lowered.startswith(("macos", "osx")):
        return "macos"
    if lowered.startswith(("windows", "vs", "visual studio", "win")):
        return "windows"
    return ""


# -- Azure Pipelines ------------------------------------------------------------------------


def _azure_globals(data: Any, file: str) -> dict[str, Variable]:
    variables = data.get("variables") if isinstance(data, CommentedMap) else None
    if isinstance(variables, CommentedSeq):
        found: dict[str, Variable] = {}
        for item in variables:
            if isinstance(item, CommentedMap) and "name" in item and _is_scalar(item.get("value")):
                line, col = _pos(item, "value")
                value = item["value"]
                found[str(item["name"])] = Variable(
                    str(item["name"]), str(value), file, line, col, str(value), value)
        return found
    return _mapping_variables(variables, file)


def _expand_macros(text: str, values: dict[str, str]) -> str:
    """Azure ``$(NAME)`` macros of ``text`` replaced from ``values`` (unknown ones kept)."""

    def one(match: re.Match[str]) -> str:
        return values.get(match.group(1), match.group(0))

    return _MACRO_RE.sub(one, text)


def _azure_job_entries(
    job: Any, matrix: Any, file: str, matrix_file: str, problems: list[Problem]
) -> Iterator[MatrixEntry]:
    """The matrix entries of one Azure job definition (from a template or the top file)."""
    steps = step_names(job.get("steps"))
    pool = job.get("pool")
    image = str(pool.get("vmImage", "")) if isinstance(pool, CommentedMap) else str(pool or "")
    name = str(job.get("job", ""))
    if not isinstance(matrix, CommentedMap):
        if "build" in steps:
            problems.append(Problem(file, _node_line(job), f"job {name!r} has no build matrix"))
        return
    for key, entry in matrix.items():
        line = _key_line(matrix, key)
        if not isinstance(entry, CommentedMap):
            problems.append(Problem(matrix_file, line, f"matrix entry {key!r} is not a mapping"))
            continue
        variables = _mapping_variables(entry, matrix_file)
        resolved = _expand_macros(image, {n: v.value for n, v in variables.items()})
        os_name = image_os(resolved)
        if not os_name:
            problems.append(Problem(matrix_file, line,
                                    f"matrix entry {key!r}: unknown VM image {resolved!r}"))
        yield MatrixEntry("azure", matrix_file, line, os_name or "unknown", variables, steps,
                          name=f"{name}.{key}")


def _read_azure(root: Path, data: Any, file: str, problems: list[Problem]) -> list[MatrixEntry]:
    entries: list[MatrixEntry] = []
    jobs = data.get("jobs") if isinstance(data, CommentedMap) else None
    if not isinstance(jobs, CommentedSeq):
        problems.append(Problem(file, _key_line(data, "jobs"), "no jobs list"))
        return entries
    for index, job in enumerate(jobs):
        if not isinstance(job, CommentedMap):
            continue
        if "template" in job:
            template = str(job["template"])
            params = job.get("parameters") or CommentedMap()
            path = root / template
            line = _pos(jobs, index)[0]
            if not path.is_file():
                problems.append(Problem(file, line, f"template {template} not found"))
                continue
            try:
                tdata = load_yaml(path)
            except MultibuildError as exc:
                problems.append(Problem(template, 1, str(exc)))
                continue
            for tjob in (tdata or {}).get("jobs") or []:
                if not isinstance(tjob, CommentedMap):
                    continue
                matrix = (tjob.get("strategy") or {}).get("matrix")
                match = _TEMPLATE_EXPR_RE.match(str(matrix)) if isinstance(matrix, str) else None
                matrix_file = template
                if match:  # the matrix is a template parameter, given in the top file
                    matrix = params.get(match.group(1)) if isinstance(params, dict) else None
                    matrix_file = file
                entries += _azure_job_entries(tjob, matrix, template, matrix_file, problems)
            continue
        matrix = (job.get("strategy") or {}).get("matrix")
        if matrix is None and "build" not in step_names(job.get("steps")):
            continue  # e.g. the check job
        entries += _azure_job_entries(job, matrix, file, file, problems)
    return entries


# -- Travis CI --------------------------------------------------------------------------------


def _read_travis(data: Any, file: str, problems: list[Problem]) -> list[MatrixEntry]:
    entries: list[MatrixEntry] = []
    if not isinstance(data, CommentedMap):
        return entries
    steps = tuple(
        name for section in ("before_install", "install", "script", "after_success", "deploy")
        for name in step_names(data.get(section))
    )
    jobs = data.get("jobs", data.get("matrix"))
    include = jobs.get("include") if isinstance(jobs, CommentedMap) else None
    if not isinstance(include, CommentedSeq):
        problems.append(Problem(file, _key_line(data, "jobs"), "no jobs.include list"))
        return entries
    default_os = str(data.get("os", "linux"))
    default_arch = str(data.get("arch", "amd64"))
    for index, job in enumerate(include):
        line = _pos(include, index)[0]
        if not isinstance(job, CommentedMap):
            problems.append(Problem(file, line, "jobs.include entry is not a mapping"))
            continue
        own_os = str(job.get("os", default_os))
        os_name = {"osx": "macos"}.get(own_os, own_os)
        arch = str(job.get("arch", default_arch))
        own_steps = steps + tuple(
            name for section in ("script", "deploy") for name in step_names(job.get(section)))
        entries.append(MatrixEntry(
            "travis", file, line, os_name, _assignment_variables(job.get("env"), file, line),
            own_steps, name=f"jobs.include[{index}]", extra={"arch": arch},
        ))
    return entries


# -- AppVeyor ---------------------------------------------------------------------------------


def _read_appveyor(data: Any, file: str, problems: list[Problem]) -> list[MatrixEntry]:
    entries: list[MatrixEntry] = []
    if not isinstance(data, CommentedMap):
        return entries
    steps = tuple(
        name for section in ("install", "build_script", "test_script", "on_success",
                             "deploy_script")
        for name in step_names(data.get(section))
    )
    environment = data.get("environment")
    matrix = environment.get("matrix") if isinstance(environment, CommentedMap) else None
    if not isinstance(matrix, CommentedSeq):
        problems.append(Problem(file, _key_line(data, "environment"),
                                "no environment.matrix list"))
        return entries
    image = str(data.get("image", "Visual Studio 2022"))
    for index, entry in enumerate(matrix):
        line = _pos(matrix, index)[0]
        if not isinstance(entry, CommentedMap):
            problems.append(Problem(file, line, "environment.matrix entry is not a mapping"))
            continue
        variables = _mapping_variables(entry, file)
        own_image = variables.get("APPVEYOR_BUILD_WORKER_IMAGE")
        os_name = image_os(own_image.value if own_image else image) or "windows"
        entries.append(MatrixEntry("appveyor", file, line, os_name, variables, steps,
                                   name=f"environment.matrix[{index}]"))
    return entries


def read_ci_file(root: Path, service: str) -> CIFile | None:
    """Parse the top-level CI file of ``service``; ``None`` when the file does not exist.
    Invalid YAML raises MultibuildError naming file and line."""
    file = CI_FILES[service]
    path = root / file
    if not os.path.lexists(path):
        return None
    if not path.is_file():
        raise UsageError(f"{path}:1: not a regular file (a directory or a broken link); "
                              "refused")
    text = path.read_text(encoding="utf-8")
    data = load_yaml(path)
    problems: list[Problem] = []
    if service == "azure":
        section = "variables"
        variables = _azure_globals(data, file)
        entries = _read_azure(root, data, file, problems)
    elif service == "travis":
        section = "env"
        env = data.get("env") if isinstance(data, CommentedMap) else None
        variables = _assignment_variables(
            env.get("global") if isinstance(env, CommentedMap) else None, file)
        entries = _read_travis(data, file, problems)
    else:
        section = "environment"
        variables = _mapping_variables(
            data.get("environment") if isinstance(data, CommentedMap) else None, file,
            skip=("matrix",))
        entries = _read_appveyor(data, file, problems)
    section_line = _key_line(data, section) if isinstance(data, CommentedMap) else 1
    return CIFile(service, file, data, variables, section_line, entries, problems, text)


def read_all(root: Path) -> list[CIFile]:
    """Every CI file present under ``root``, in the order azure, travis, appveyor."""
    found = [read_ci_file(root, service) for service in CI_FILES]
    return [f for f in found if f is not None]
