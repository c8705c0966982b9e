"""Read the CI definitions: the variables they carry (BUILD_COMMIT, REPO_DIR, ...) and their
build matrices, each value with the file and line it comes from.

Four services, one model: ``azure-pipelines.yml`` (with job templates under ``azure/``),
``.travis.yml``, ``appveyor.yml`` and ``.github/workflows/wheels.yml`` (GitHub Actions: its
``env`` holds the globals; each ``strategy.matrix.include`` item of a job that calls
``ci_step.sh build`` is an entry, with what the job's ``env`` takes from ``${{ matrix.X }}``).
A file's *globals* are its top-level variables
(``variables``, ``env.global``, ``environment`` or ``environment.global``); a *matrix entry* is
one job's own variables. Each entry also carries the job's own steps (:class:`Step`): Travis's
``before_install``/``install``/``script``/``after_success`` lines, Azure's steps with template
parameters (``${{ parameters.x }}``) substituted, AppVeyor's ``install``/``build_script``/
``test_script`` lines; ``multibuild.run.cirun`` runs them as the service would.

Travis ``env`` entries are shell assignments (Travis ``export``s each): a value is read as the
shell would read it where it needs no expansion (``REPO_DIR="pywt"`` is ``pywt``); one with
``$`` or backquotes is marked ``dynamic`` and evaluated in the job's own shell
(``multibuild.ci.cimatrix``). Readers never raise for a malformed part; they record a
:class:`Problem` (file and line) and go on, so ``./wheels check`` can report every problem at
once.
"""

from __future__ import annotations

import os
import re
import shlex
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import YAMLError

from multibuild import MultibuildError, UsageError

if TYPE_CHECKING:
    import argparse

AZURE_FILE = "azure-pipelines.yml"
TRAVIS_FILE = ".travis.yml"
APPVEYOR_FILE = "appveyor.yml"
GITHUB_FILE = ".github/workflows/wheels.yml"
# service -> top-level CI file
CI_FILES: dict[str, str] = {"azure": AZURE_FILE, "travis": TRAVIS_FILE, "appveyor": APPVEYOR_FILE,
                            "github": GITHUB_FILE}
# Variables every CI file carries at the top, with one value across all files.
SHARED_VARIABLES: tuple[str, ...] = ("BUILD_COMMIT", "NIGHTLY_BUILD_COMMIT", "REPO_DIR", "REPO_URL")
# `bash multibuild/ci_step.sh STEP` is how a CI step calls into the library.
_STEP_RE = re.compile(r"multibuild/ci_step\.sh\s+([A-Za-z_]+)")
_TEMPLATE_EXPR_RE = re.compile(r"^\$\{\{\s*parameters\.([A-Za-z_][A-Za-z0-9_]*)\s*\}\}$")
_TEMPLATE_PART_RE = re.compile(r"\$\{\{\s*parameters\.([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
_INSERT_RE = re.compile(r"^\$\{\{\s*insert\s*\}\}$")
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
    that scalar starts. ``raw`` is the value as YAML typed it (a number stays a number).
    ``text`` is the value as written after Travis's ``NAME=`` (quotes kept), ``value`` what the
    shell makes of it; ``dynamic`` when that needs the shell (``$``, backquotes)."""

    name: str
    value: str
    file: str
    line: int
    col: int
    scalar: str
    raw: Any = None
    text: str = ""
    dynamic: bool = False

    @property
    def written(self) -> str:
        """The value as written in the file (Travis: quotes kept)."""
        return self.text or self.value


@dataclass(frozen=True)
class Step:
    """One step of a CI job as its service runs it. ``kind``: ``shell`` (``text`` is shell
    code: a Travis line, an Azure ``bash``/``script`` block, an AppVeyor command), ``checkout``,
    ``python`` (Azure ``UsePythonVersion``: ``text`` is its versionSpec) or ``task`` (another
    Azure task: ``text`` is its name). ``phase``: Travis's or AppVeyor's section, Azure's
    ``displayName``. Azure's ``env``, ``condition``, ``continueOnError`` and
    ``workingDirectory`` are kept with their ``$(VAR)`` macros unexpanded."""

    kind: str
    text: str
    phase: str
    file: str
    line: int
    env: tuple[tuple[str, str], ...] = ()
    condition: str = ""
    continue_on_error: bool = False
    working_directory: str = ""

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass
class MatrixEntry:
    """One build job of a CI file: its variables, OS, the library steps it calls
    (``ci_step.sh`` names), and its own steps. ``job_variables`` are an Azure job's own
    ``variables`` (under the matrix entry's); ``exports`` Travis's ``env`` entries (file
    globals, then the job's) as written, in order; ``python`` Travis's ``python:``."""

    service: str
    file: str
    line: int
    os: str
    variables: dict[str, Variable]
    steps: tuple[str, ...]
    name: str = ""
    extra: dict[str, str] = field(default_factory=dict)  # e.g. Travis arch
    script: tuple[Step, ...] = ()
    job_variables: dict[str, Variable] = field(default_factory=dict)
    exports: tuple[Step, ...] = ()
    python: str = ""

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
    if isinstance(node, CommentedMap) and key in node and (node.lc.data or {}).get(key):
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


def shell_word(text: str) -> str | None:
    """What the shell makes of ``text`` as the value of an assignment, when it needs no
    expansion: ``"pywt"`` is ``pywt``, ``"'--x'"`` is ``'--x'``; ``None`` when it does
    (``$``, backquotes) or is not one word."""
    if "$" in text or "`" in text:
        return None
    try:
        words = shlex.split(text)
    except ValueError:
        return None
    if len(words) == 1:
        return words[0]
    return "" if not words and not text.strip() else None


def _travis_variable(item: str, file: str, line: int, col: int) -> Variable | None:
    """One Travis ``NAME=value`` entry (``export``ed by Travis as written)."""
    name, sep, text = item.partition("=")
    name = name.strip()
    if not sep or not name.isidentifier():
        return None
    value = shell_word(text)
    return Variable(name, text if value is None else value, file, line, col, item, text,
                    text=text, dynamic=value is None)


def _assignment_variables(node: Any, file: str, line: int = 1) -> dict[str, Variable]:
    """Travis ``NAME=value`` assignments: a list of them (``- NAME: value`` items too), or one
    string of several (which is reported at ``line``); ``secure`` entries are left out."""
    found: dict[str, Variable] = {}
    for item, item_line, col in _travis_env_items(node, line):
        try:
            words = shlex.split(item) if " " in item.strip() else [item]
        except ValueError:
            words = [item]
        for word in words if len(words) > 1 and all("=" in w for w in words) else [item]:
            var = _travis_variable(word, file, item_line, col)
            if var is not None:
                found[var.name] = var
    return found


def _travis_env_items(node: Any, line: int = 1) -> list[tuple[str, int, int]]:
    """The entries of a Travis ``env`` list (or one string) as written, with where each is:
    what Travis ``export``s, in order. A ``- NAME: value`` item is ``NAME=value``."""
    if isinstance(node, str):
        return [(node, line, 0)]
    items: list[tuple[str, int, int]] = []
    if isinstance(node, CommentedMap):
        for key, value in node.items():
            if _is_scalar(value) and str(key) != "secure":
                key_line, col = _pos(node, key)
                items.append((f"{key}={shlex.quote(str(value))}", key_line, col))
        return items
    if isinstance(node, CommentedSeq):
        for index, item in enumerate(node):
            item_line, col = _pos(node, index)
            if isinstance(item, str):
                items.append((item, item_line, col))
            elif isinstance(item, CommentedMap) and "secure" not in item:
                for key, value in item.items():
                    if _is_scalar(value):
                        items.append((f"{key}={shlex.quote(str(value))}", item_line, col))
    return items


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


def expand_macros(text: str, values: dict[str, str]) -> str:
    """Azure ``$(NAME)`` macros of ``text`` replaced from ``values`` (names compared without
    case, as Azure does); unknown ones are kept as written, as Azure keeps them."""
    folded = {name.upper(): value for name, value in values.items()}

    def one(match: re.Match[str]) -> str:
        return folded.get(match.group(1).upper(), match.group(0))

    return _MACRO_RE.sub(one, text)


def template_parameters(template: Any, given: Any) -> dict[str, Any]:
    """A template's parameters: its declared defaults (mapping form ``name: default`` or list
    form ``- name: x / default: y``) under the values the caller gave."""
    params: dict[str, Any] = {}
    declared = template.get("parameters") if isinstance(template, CommentedMap) else None
    if isinstance(declared, CommentedMap):
        params.update({str(k): v for k, v in declared.items()})
    elif isinstance(declared, CommentedSeq):
        params.update({str(p["name"]): p.get("default") for p in declared
                       if isinstance(p, CommentedMap) and "name" in p})
    if isinstance(given, CommentedMap):
        params.update({str(k): v for k, v in given.items()})
    return params


def substitute(value: Any, params: dict[str, Any]) -> Any:
    """Template expressions of a value: ``${{ parameters.x }}`` alone is the parameter's
    value (a mapping stays a mapping); inside a string it is its text."""
    if not isinstance(value, str):
        return value
    whole = _TEMPLATE_EXPR_RE.match(value.strip())
    if whole:
        return params.get(whole.group(1), "")
    return _TEMPLATE_PART_RE.sub(lambda m: _scalar(params.get(m.group(1), "")), value)


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def _azure_matrix(strategy: Any, params: dict[str, Any]) -> Any:
    """A job's matrix: a mapping, a parameter, or ``${{ insert }}: ${{ parameters.x }}``
    merged into a mapping."""
    matrix = substitute(strategy.get("matrix") if isinstance(strategy, CommentedMap) else None,
                        params)
    if not isinstance(matrix, CommentedMap):
        return matrix
    if not any(isinstance(k, str) and _INSERT_RE.match(k) for k in matrix):
        return matrix
    merged = CommentedMap()
    for key, value in matrix.items():
        inserted = substitute(value, params) if isinstance(key, str) and _INSERT_RE.match(key) \
            else None
        source = inserted if isinstance(inserted, CommentedMap) else None
        pairs = source.items() if source is not None else [] if inserted is not None else \
            [(key, value)]
        for inner_key, inner in pairs:
            merged[inner_key] = inner
            position = ((source if source is not None else matrix).lc.data or {}).get(inner_key)
            if position:
                merged.lc.add_kv_line_col(inner_key, position)  # keep the entry's line
    return merged


def _azure_steps(job: Any, params: dict[str, Any], file: str) -> tuple[Step, ...]:
    """A job's steps, template parameters substituted (``$(VAR)`` macros are left)."""
    found: list[Step] = []
    steps = job.get("steps") if isinstance(job, CommentedMap) else None
    if not isinstance(steps, CommentedSeq):
        return ()
    for index, step in enumerate(steps):
        if not isinstance(step, CommentedMap):
            continue
        line = _pos(steps, index)[0]
        name = str(substitute(step.get("displayName", ""), params))
        env = step.get("env")
        base = Step(
            "task", "", name, file, line,
            env=tuple((str(k), _scalar(substitute(v, params))) for k, v in env.items())
            if isinstance(env, CommentedMap) else (),
            condition=_scalar(substitute(step.get("condition", ""), params)),
            continue_on_error=str(substitute(step.get("continueOnError", False), params))
            .lower() == "true",
            working_directory=_scalar(substitute(step.get("workingDirectory", ""), params)),
        )
        if "bash" in step or "script" in step:
            text = _scalar(substitute(step.get("bash", step.get("script")), params))
            first = text.strip().splitlines()[0][:60] if text.strip() else ""
            found.append(replace(base, kind="shell", text=text, phase=name or first))
        elif "checkout" in step:
            found.append(replace(base, kind="checkout", text=_scalar(step["checkout"]),
                                 phase=name or "checkout"))
        elif "task" in step:
            task = _scalar(step["task"])
            inputs = step.get("inputs")
            if task.split("@")[0] == "UsePythonVersion" and isinstance(inputs, CommentedMap):
                spec = _scalar(substitute(inputs.get("versionSpec", ""), params))
                found.append(replace(base, kind="python", text=spec, phase=name or task))
            else:
                found.append(replace(base, text=task, phase=name or task))
        else:
            kind = str(next(iter(step), "step"))
            found.append(replace(base, text=kind, phase=name or kind))
    return tuple(found)


def _azure_job_entries(
    job: Any, matrix: Any, file: str, matrix_file: str, problems: list[Problem],
    params: dict[str, Any] | None = None,
) -> Iterator[MatrixEntry]:
    """The matrix entries of one Azure job definition (from a template or the top file)."""
    params = params or {}
    steps = step_names(job.get("steps"))
    pool = substitute(job.get("pool"), params)
    image = _scalar(substitute(pool.get("vmImage", ""), params)) \
        if isinstance(pool, CommentedMap) else _scalar(pool)
    name = _scalar(substitute(job.get("job", ""), params))
    job_variables = {n: v for n, v in _azure_globals(job, file).items()}
    job_variables = {n: _substituted(v, params) for n, v in job_variables.items()}
    script = _azure_steps(job, params, file)
    if not isinstance(matrix, CommentedMap):
        if "build" in steps:
            problems.append(Problem(file, _node_line(job), f"job {name!r} has no build matrix"))
            return
        if not script:
            return
        matrix = CommentedMap({"": CommentedMap()})  # one job without a matrix
    for key, entry in matrix.items():
        line = _key_line(matrix, key) if key else _node_line(job)
        if not isinstance(entry, CommentedMap):
            problems.append(Problem(matrix_file, line, f"matrix entry {key!r} is not a mapping"))
            continue
        variables = _mapping_variables(entry, matrix_file)
        known = {n: v.value for n, v in {**job_variables, **variables}.items()}
        resolved = _expand_macros(image, known)
        os_name = image_os(resolved)
        if not os_name:
            problems.append(Problem(matrix_file, line,
                                    f"matrix entry {key!r}: unknown VM image {resolved!r}"))
        yield MatrixEntry("azure", matrix_file if key else file, line, os_name or "unknown",
                          variables, steps, name=f"{name}.{key}" if key else name,
                          extra={"image": resolved}, script=script,
                          job_variables=job_variables)


def _substituted(var: Variable, params: dict[str, Any]) -> Variable:
    value = substitute(var.value, params)
    if value == var.value:
        return var
    return Variable(var.name, _scalar(value), var.file, var.line, var.col, var.scalar, var.raw)


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
            params = template_parameters(tdata, job.get("parameters"))
            for tjob in (tdata or {}).get("jobs") or []:
                if not isinstance(tjob, CommentedMap):
                    continue
                strategy = tjob.get("strategy")
                raw = strategy.get("matrix") if isinstance(strategy, CommentedMap) else None
                # A matrix given as a template parameter is written in the top file.
                given = isinstance(raw, str) or (
                    isinstance(raw, CommentedMap) and any(
                        isinstance(k, str) and _INSERT_RE.match(k) for k in raw))
                entries += _azure_job_entries(tjob, _azure_matrix(strategy, params), template,
                                              file if given else template, problems, params)
            continue
        matrix = (job.get("strategy") or {}).get("matrix")
        if matrix is None and "build" not in step_names(job.get("steps")) \
                and "check" in step_names(job.get("steps")):
            continue  # the check job
        entries += _azure_job_entries(job, matrix, file, file, problems)
    return entries


# -- Travis CI --------------------------------------------------------------------------------


# Travis's phases, in the order it runs them; the last two run only when the script passed.
TRAVIS_PHASES: tuple[str, ...] = ("before_install", "install", "before_script", "script",
                                  "after_success")
_TRAVIS_ARCH_PLAT = {"amd64": "x86_64", "arm64": "aarch64", "arm64-graviton2": "aarch64",
                     "ppc64le": "ppc64le", "s390x": "s390x"}


def _lines(node: Any, key: str, phase: str, file: str) -> list[Step]:
    """The commands of a Travis or AppVeyor section: a string or a list of strings (each with
    its line); other items (``cmd:``/``ps:`` mappings of AppVeyor) keep their text."""
    value = node.get(key) if isinstance(node, CommentedMap) else None
    if isinstance(value, str):
        return [Step("shell", value, phase, file, _pos(node, key)[0])]
    steps: list[Step] = []
    if isinstance(value, CommentedSeq):
        for index, item in enumerate(value):
            if isinstance(item, CommentedMap) and len(item) == 1:
                item = next(iter(item.values()))
            if isinstance(item, str):
                steps.append(Step("shell", item, phase, file, _pos(value, index)[0]))
    return steps


def _travis_script(data: Any, job: Any, file: str) -> tuple[Step, ...]:
    """A Travis job's commands: each phase from the job when it sets it, else the file's."""
    steps: list[Step] = []
    for phase in TRAVIS_PHASES:
        owner = job if isinstance(job, CommentedMap) and phase in job else data
        steps += _lines(owner, phase, phase, file)
    return tuple(steps)


def _first(value: Any) -> str:
    if isinstance(value, list):
        return str(value[0]) if value else ""
    return "" if value is None else str(value)


def _read_travis(data: Any, file: str, problems: list[Problem]) -> list[MatrixEntry]:
    entries: list[MatrixEntry] = []
    if not isinstance(data, CommentedMap):
        return entries
    steps = tuple(
        name for section in ("before_install", "install", "script", "after_success", "deploy")
        for name in step_names(data.get(section))
    )
    env = data.get("env")
    global_exports = tuple(Step("shell", item, "env", file, at) for item, at, _ in
                           _travis_env_items(env.get("global") if isinstance(env, CommentedMap)
                                             else None))
    default_os = _first(data.get("os")) or "linux"
    default_arch = _first(data.get("arch")) or "amd64"
    python = _first(data.get("python"))
    # Jobs: jobs.include (or matrix.include), and env.jobs / env.matrix / a top-level env list
    # (one job per entry).
    jobs: list[tuple[Any, int, str]] = []
    matrix = data.get("jobs", data.get("matrix"))
    include = matrix.get("include") if isinstance(matrix, CommentedMap) else None
    if isinstance(include, CommentedSeq):
        jobs += [(job, _pos(include, i)[0], f"jobs.include[{i}]") for i, job in enumerate(include)]
    env_jobs = env.get("jobs", env.get("matrix")) if isinstance(env, CommentedMap) else env
    if isinstance(env_jobs, CommentedSeq):
        for index, item in enumerate(env_jobs):
            job = CommentedMap({"env": item})
            jobs.append((job, _pos(env_jobs, index)[0], f"env.jobs[{index}]"))
    if not jobs:
        problems.append(Problem(file, _key_line(data, "jobs"), "no jobs.include list"))
        return entries
    for job, line, name in jobs:
        if not isinstance(job, CommentedMap):
            problems.append(Problem(file, line, "jobs.include entry is not a mapping"))
            continue
        own_os = _first(job.get("os")) or default_os
        os_name = {"osx": "macos"}.get(own_os, own_os)
        arch = _first(job.get("arch")) or default_arch
        own_steps = steps + tuple(
            name for section in ("script", "deploy") for name in step_names(job.get(section)))
        job_exports = tuple(Step("shell", item, "env", file, at)
                            for item, at, _ in _travis_env_items(job.get("env"), line))
        entries.append(MatrixEntry(
            "travis", file, line, os_name, _assignment_variables(job.get("env"), file, line),
            own_steps, name=str(job.get("name") or name),
            extra={"arch": arch, "language": str(job.get("language", data.get("language", "")))},
            script=_travis_script(data, job, file), exports=global_exports + job_exports,
            python=_first(job.get("python")) or python,
        ))
    return entries


# -- AppVeyor ---------------------------------------------------------------------------------


APPVEYOR_PHASES: tuple[str, ...] = ("install", "build_script", "test_script", "on_success")


def _read_appveyor(data: Any, file: str, problems: list[Problem]) -> list[MatrixEntry]:
    entries: list[MatrixEntry] = []
    if not isinstance(data, CommentedMap):
        return entries
    steps = tuple(
        name for section in ("install", "build_script", "test_script", "on_success",
                             "deploy_script")
        for name in step_names(data.get(section))
    )
    script = tuple(step for phase in APPVEYOR_PHASES for step in _lines(data, phase, phase, file))
    environment = data.get("environment")
    matrix = environment.get("matrix") if isinstance(environment, CommentedMap) else None
    if not isinstance(matrix, CommentedSeq):
        problems.append(Problem(file, _key_line(data, "environment"),
                                "no environment.matrix list"))
        return entries
    image = _first(data.get("image", data.get("os"))) or "Visual Studio 2022"
    for index, entry in enumerate(matrix):
        line = _pos(matrix, index)[0]
        if not isinstance(entry, CommentedMap):
            problems.append(Problem(file, line, "environment.matrix entry is not a mapping"))
            continue
        variables = _mapping_variables(entry, file)
        own_image = variables.get("APPVEYOR_BUILD_WORKER_IMAGE")
        os_name = image_os(own_image.value if own_image else image) or "windows"
        entries.append(MatrixEntry("appveyor", file, line, os_name, variables, steps,
                                   name=f"environment.matrix[{index}]", script=script))
    return entries


def _appveyor_globals(data: Any, file: str) -> dict[str, Variable]:
    """``environment``'s own variables, or those of ``environment.global``."""
    environment = data.get("environment") if isinstance(data, CommentedMap) else None
    found = _mapping_variables(environment, file, skip=("matrix", "global"))
    if isinstance(environment, CommentedMap):
        found.update(_mapping_variables(environment.get("global"), file))
    return found


# -- GitHub Actions ---------------------------------------------------------------------------


# ``${{ matrix.NAME }}`` or ``${{ matrix.NAME || 'default' }}``: what a job's env takes from its
# matrix entry; any other expression (vars, secrets, github.*) is known on GitHub only.
_GITHUB_MATRIX_RE = re.compile(
    r"^\$\{\{\s*matrix\.([A-Za-z_][A-Za-z0-9_]*)\s*(?:\|\|\s*'([^']*)'\s*)?\}\}$")


def github_runner_os(label: str) -> str:
    """The OS of a GitHub-hosted runner label (ubuntu-24.04-arm, macos-14, windows-2022)."""
    return image_os(label)


def _github_step_texts(job: Any) -> list[str]:
    steps = job.get("steps") if isinstance(job, CommentedMap) else None
    return [str(step["run"]) for step in steps or []
            if isinstance(step, CommentedMap) and isinstance(step.get("run"), str)]


def _github_entry(job_name: str, job: Any, item: Any, line: int, file: str,
                  steps: tuple[str, ...], script: tuple[Step, ...],
                  problems: list[Problem]) -> MatrixEntry | None:
    """One ``strategy.matrix.include`` item of a build job: the job's ``env`` with its
    ``${{ matrix.X }}`` values resolved from the item (each at the item's line); literal env
    values are the job's own variables; other expressions are left out (GitHub's only)."""
    if not isinstance(item, CommentedMap):
        problems.append(Problem(file, line, f"job {job_name!r}: matrix include item is not a "
                                "mapping"))
        return None
    env = job.get("env")
    variables: dict[str, Variable] = {}
    job_variables: dict[str, Variable] = {}
    for name, value in (env.items() if isinstance(env, CommentedMap) else ()):
        if not _is_scalar(value):
            continue
        text = str(value)
        match = _GITHUB_MATRIX_RE.match(text)
        env_line, col = _pos(env, name)
        if match:
            key, default = match.group(1), match.group(2)
            if key in item and _is_scalar(item[key]):
                at, at_col = _pos(item, key)
                variables[str(name)] = Variable(str(name), str(item[key]), file, at, at_col,
                                                str(item[key]), item[key])
            else:
                variables[str(name)] = Variable(str(name), default or "", file, env_line, col,
                                                default or "", default or "")
        elif "${{" not in text:
            job_variables[str(name)] = Variable(str(name), text, file, env_line, col, text,
                                                value)
    runner = item.get("runner") if "runner" in item else None
    runs_on = job.get("runs-on")
    label = str(runner) if _is_scalar(runner) else \
        str(runs_on) if isinstance(runs_on, str) and "${{" not in runs_on else ""
    os_name = github_runner_os(label)
    if not os_name:
        problems.append(Problem(file, line, f"job {job_name!r}: unknown runner {label!r} "
                                "(runs-on: a GitHub-hosted ubuntu-*, macos-* or windows-* label)"))
        os_name = "unknown"
    return MatrixEntry("github", file, line, os_name, variables, steps,
                       name=f"{job_name}[{label}]", extra={"runner": label}, script=script,
                       job_variables=job_variables)


def _read_github(data: Any, file: str, problems: list[Problem]) -> list[MatrixEntry]:
    """The build entries of the workflow: every ``strategy.matrix.include`` item of each job
    that runs ``bash multibuild/ci_step.sh build``."""
    entries: list[MatrixEntry] = []
    jobs = data.get("jobs") if isinstance(data, CommentedMap) else None
    if not isinstance(jobs, CommentedMap):
        problems.append(Problem(file, _key_line(data, "jobs"), "no jobs mapping"))
        return entries
    for job_name, job in jobs.items():
        if not isinstance(job, CommentedMap):
            continue
        steps = step_names(job.get("steps"))
        if "build" not in steps:
            continue
        script = tuple(Step("shell", text, str(job_name), file, _key_line(job, "steps"))
                       for text in _github_step_texts(job))
        strategy = job.get("strategy")
        matrix = strategy.get("matrix") if isinstance(strategy, CommentedMap) else None
        include = matrix.get("include") if isinstance(matrix, CommentedMap) else None
        if not isinstance(include, CommentedSeq):
            problems.append(Problem(file, _key_line(jobs, job_name),
                                    f"job {job_name!r} has no build matrix "
                                    "(strategy.matrix.include)"))
            continue
        for index, item in enumerate(include):
            entry = _github_entry(str(job_name), job, item, _pos(include, index)[0], file,
                                  steps, script, problems)
            if entry is not None:
                entries.append(entry)
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
    elif service == "github":
        section = "env"
        variables = _mapping_variables(data.get("env") if isinstance(data, CommentedMap)
                                       else None, file)
        entries = _read_github(data, file, problems)
    elif service == "travis":
        section = "env"
        env = data.get("env") if isinstance(data, CommentedMap) else None
        variables = _assignment_variables(
            env.get("global") if isinstance(env, CommentedMap) else None, file)
        entries = _read_travis(data, file, problems)
    else:
        section = "environment"
        variables = _appveyor_globals(data, file)
        entries = _read_appveyor(data, file, problems)
    section_line = _key_line(data, section) if isinstance(data, CommentedMap) else 1
    return CIFile(service, file, data, variables, section_line, entries, problems, text)


def read_all(root: Path) -> list[CIFile]:
    """Every CI file present under ``root``, in the order azure, travis, appveyor, github."""
    found = [read_ci_file(root, service) for service in CI_FILES]
    return [f for f in found if f is not None]


# --------------------------------------------------------------------------- which repository


def repository_root(args: argparse.Namespace) -> Path:
    """The wheels repository a command works on: ``--repo PATH``, else the one holding the
    current directory when it has CI files, else this one."""
    return find_repository(getattr(args, "repo", None), Path(args.root))


def find_repository(explicit: str | None, default: Path) -> Path:
    """The wheels repository at ``explicit`` (``--repo``, relative to where the user ran the
    command), else the nearest one holding the current directory, else ``default``."""
    here = Path(os.environ.get("MB_INVOKED_FROM") or Path.cwd()).resolve()
    if explicit is not None:
        path = (here / explicit).resolve()
        if not path.is_dir():
            raise MultibuildError(f"--repo {explicit}: no such directory")
        if not any((path / name).is_file() for name in CI_FILES.values()):
            raise MultibuildError(f"--repo {explicit}: no CI file there "
                                  f"({', '.join(CI_FILES.values())})")
        return path
    for candidate in (here, *here.parents):
        if any((candidate / name).is_file() for name in CI_FILES.values()):
            return candidate
        if (candidate / ".git").exists():
            break
    return default.resolve()
