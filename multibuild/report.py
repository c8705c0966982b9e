"""The run report: ``report.json`` (machine-readable) and ``report.html`` (for a person).

``report.json`` is the contract the upload step reads (``multibuild.upload.passed_wheels``):
version 1, ``targets`` with ``id``, ``passed`` and ``wheels`` (``file``, ``sha256``) of the
staged wheels of passing targets. A run adds, per target, each step's start, end and
duration, the result and failed step, each wheel's size, tags and bundled libraries, the path
of the target's log and the tail of a failure; what was built (``repository``: URL, the ref as
written, the resolved commit hash) and with what (per target: project version, Python version,
the tools: auditwheel, uv, pip, meson, ninja, compilers; per wheel the bundled compiler runtimes
such as libgfortran, and ``reproduced``: whether it has the same bytes as the previous run's
wheel of that target and commit, null when there is none). ``report.schema.json`` beside this
module is its JSON schema. Both files are written atomically (temporary name, then rename), with
the user's umask.

A run stopped by a signal is marked ``interrupted`` (with the signal), and so is each target
it stopped or never started: such a target is never ``passed`` and lists no wheels.
"""

from __future__ import annotations

import html
import json
import os
import platform as host_platform
import re
from collections.abc import Iterable, Sequence
from datetime import datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from packaging.utils import parse_wheel_filename

from multibuild import MultibuildError
from multibuild.download import redact_url, sha256_file
from multibuild.files import atomic_write
from multibuild.runner import StepResult, TargetResult
from multibuild.wheelinfo import WheelInfo

REPORT = "report.json"
HTML_REPORT = "report.html"
SCHEMA = Path(__file__).with_name("report.schema.json")
VERSION = 1


def _when(stamp: float | None) -> str | None:
    if stamp is None or stamp <= 0:
        return None
    return datetime.fromtimestamp(stamp).astimezone().isoformat(timespec="milliseconds")


def _seconds(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, text)


def write_report(output_dir: Path, targets: Iterable[tuple[str, bool, Sequence[Path]]],
                 build_commit: str = "") -> Path:
    """Record which target passed with which staged wheels: ``output_dir/report.json``.

    ``targets``: (target id, passed, wheel paths). The minimal form of the contract; a run
    writes the full report with ``write_run_report``.
    """
    entries = [
        {"id": target_id, "passed": bool(passed),
         "wheels": [{"file": p.name, "sha256": sha256_file(p)} for p in wheels]}
        for target_id, passed, wheels in targets
    ]
    data = {"version": VERSION, "build_commit": build_commit,
            "written": datetime.now().astimezone().isoformat(), "targets": entries}
    path = output_dir / REPORT
    _write(path, json.dumps(data, indent=2) + "\n")
    return path


# --------------------------------------------------------------------------- provenance

# Compiler runtime libraries a repair tool grafts (GCC runtime library exception, except MSVC).
_RUNTIME = re.compile(r"^(lib)?(gfortran|quadmath|gcc_s|stdc\+\+|gomp|winpthread|vcruntime|"
                      r"msvcp)[-_.0-9a-f]*", re.IGNORECASE)


def compiler_runtimes(bundled: Iterable[str]) -> list[str]:
    """The compiler runtime libraries among a wheel's bundled ones (libgfortran, ...)."""
    return [name for name in bundled if _RUNTIME.match(name)]


def checkout_record(source: Path, ref: str, repo_url: str = "") -> dict[str, Any]:
    """What clean_code checked out in ``source`` (``multibuild.checkout.describe``): the
    repository it came from, the URL asked for, the ref as written and the full commit hash;
    an sdist stand-in names its local mirror."""
    from multibuild.checkout import describe

    requested = redact_url(repo_url) if repo_url else None
    try:
        found = describe(source)
    except MultibuildError:
        return {"url": requested, "requested_url": requested, "ref": ref, "commit": None,
                "sdist_mirror": None}
    return {"url": found.url or requested, "requested_url": requested,
            "ref": found.ref or ref, "commit": found.sha, "sdist_mirror": found.sdist_mirror}


def _version(distribution: str) -> str | None:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


# What meson prints about itself and its compilers (pip wheel -v shows it).
_LOG_TOOLS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("meson", re.compile(r"^[ \t]*The Meson build system\s*\n\s*Version: (\S+)",
                       re.MULTILINE)),
    ("meson-python", re.compile(r"\bmeson[-_]python-(\d+(?:\.\d+)*)", re.IGNORECASE)),
    ("ninja", re.compile(r"^[ \t]*Found ninja-?(\S+) at", re.MULTILINE)),
    ("c compiler", re.compile(r"^[ \t]*C compiler for the host machine: (.+)$", re.MULTILINE)),
    ("c++ compiler", re.compile(r"^[ \t]*C\+\+ compiler for the host machine: (.+)$",
                                re.MULTILINE)),
    ("fortran compiler",
     re.compile(r"^[ \t]*Fortran compiler for the host machine: (.+)$", re.MULTILINE)),
)


def _venv_python(venv: Path) -> str | None:
    """The Python version of the target's build environment, from its pyvenv.cfg
    (``version`` of the venv module, ``version_info`` of uv): no interpreter started."""
    try:
        config = (venv / "pyvenv.cfg").read_text(errors="replace")
    except OSError:
        return None
    found = re.search(r"^\s*version(?:_info)?\s*=\s*(\d+\.\d+\.\d+)", config, re.MULTILINE)
    return found.group(1) if found else None


def _installed(venv: Path, distribution: str) -> str | None:
    """The version of ``distribution`` (its dist-info name: ``meson_python``) in ``venv``."""
    found = sorted(venv.glob(f"lib/python*/site-packages/{distribution}-*.dist-info"))
    return found[-1].name[len(distribution) + 1:-len(".dist-info")] if found else None


# Build tools read from the build environment (builds without isolation install them there).
_VENV_TOOLS: tuple[tuple[str, str], ...] = (("pip", "pip"), ("meson-python", "meson_python"))


def target_provenance(result: TargetResult) -> dict[str, Any]:
    """Project version (from the built wheel's name), Python version and tool versions."""
    project = version = None
    if result.wheels:
        name, wheel_version, _build, _tags = parse_wheel_filename(result.wheels[0].path.name)
        project, version = str(name), str(wheel_version)
    venv = result.log.parent / "venv"
    python = _venv_python(venv)
    tools: dict[str, str | None] = {"auditwheel": _version("auditwheel"), "uv": _version("uv")}
    tools.update((tool, _installed(venv, dist)) for tool, dist in _VENV_TOOLS)
    try:
        log = result.log.read_text(errors="replace")
    except OSError:
        log = ""
    for tool, pattern in _LOG_TOOLS:
        match = pattern.search(log)
        if match:
            tools[tool] = match.group(1).strip()
    return {
        "project": project,
        "project_version": version,
        "python_version": python or result.target.python,
        "tools": {k: v for k, v in tools.items() if v},
        "tool_python": host_platform.python_version(),
    }


def wheel_entry(wheel: WheelInfo, reproduced: bool | None = None) -> dict[str, Any]:
    """A wheel's record; ``reproduced``: whether it has the bytes of the previous run's wheel
    of the same target and commit (None: nothing to compare with)."""
    return {
        "file": wheel.path.name,
        "sha256": wheel.sha256,
        "reproduced": reproduced,
        "size": wheel.size,
        "tags": list(wheel.tags),
        "platform_tags": list(wheel.platform_tags),
        "bundled": list(wheel.bundled),
        "compiler_runtimes": compiler_runtimes(wheel.bundled),
    }


def step_entry(step: StepResult, interrupted: bool = False) -> dict[str, Any]:
    result = "unfinished" if step.status is None else ("passed" if step.passed else "failed")
    if interrupted and not step.passed:
        result = "interrupted"  # the step the signal stopped, whatever its exit trap wrote
    return {"name": step.name, "result": result, "status": step.status,
            "start": _when(step.start), "end": _when(step.end),
            "duration": _seconds(step.duration)}


def target_result(result: TargetResult) -> str:
    if result.passed:
        return "passed"
    if result.interrupted:
        return "interrupted" if result.steps else "not started"
    return "failed"


def portability_entries(result: TargetResult, wheels: list[dict[str, Any]]
                        ) -> dict[str, Any] | None:
    """The toolchain record of the target (multibuild.toolchain: compiler, version, target
    with its glibc, policy; null when none was recorded) and, into each Linux wheel's entry,
    what its tag promises (``tag_glibc``, ``installs_on``) and what its ELF files need
    (``glibc``: highest version, and the references above the toolchain's policy)."""
    from multibuild.glibc import portability
    from multibuild.toolchain import read_record

    toolchain = read_record(result.log.parent)
    policy = toolchain.get("policy") if toolchain else None
    for entry, wheel in zip(wheels, result.wheels):
        if any(t.startswith(("manylinux", "linux", "musllinux")) for t in wheel.platform_tags):
            entry.update(portability(wheel.path, wheel.platform_tags,
                                     policy if isinstance(policy, str) else None, wheel.sha256))
    return toolchain


def target_entry(result: TargetResult, output_dir: Path) -> dict[str, Any]:
    log = result.log.resolve()
    wheels = [wheel_entry(w, result.reproduced.get(w.path.name)) for w in result.wheels]
    toolchain = portability_entries(result, wheels)
    from multibuild.crosspython import read_test_record

    return {
        "id": result.target.id,
        "passed": result.passed,
        "result": target_result(result),
        "interrupted": result.interrupted,
        "failed_step": result.failed_step if result.steps or not result.interrupted else None,
        "python": result.target.python,
        "os": result.target.os,
        "plat": result.target.plat,
        "started": _when(result.started),
        "ended": _when(result.ended),
        "duration": _seconds(result.duration),
        "steps": [step_entry(s, result.interrupted) for s in result.steps],
        # Only a passing target's wheels are staged and listed as wheels (what upload reads).
        "wheels": wheels if result.passed else [],
        "rejected_wheels": [] if result.passed else wheels,
        "log": str(log),
        "log_href": Path(os.path.relpath(log, output_dir.resolve())).as_posix(),
        "failure_tail": "" if result.passed else result.tail,
        "toolchain": toolchain,
        # A cross-built wheel: tested under qemu-user, or built, not tested (and why).
        "cross_test": read_test_record(result.log.parent),
        **target_provenance(result),
    }


def run_report(results: Sequence[TargetResult], output_dir: Path, build_commit: str,
               *, jobs: int | None = None, interrupted_by: str | None = None,
               repository: dict[str, Any] | None = None) -> dict[str, Any]:
    """The report of a run; ``interrupted_by``: the signal that stopped it (e.g. SIGINT);
    ``repository``: what was checked out (``checkout_record``)."""
    started = min((r.started for r in results if r.started), default=0.0)
    ended = max((r.ended for r in results), default=0.0)
    passed = sum(r.passed for r in results)
    interrupted = sum(r.interrupted for r in results)
    return {
        "version": VERSION,
        "build_commit": build_commit,
        "repository": repository,
        "written": datetime.now().astimezone().isoformat(),
        "started": _when(started),
        "ended": _when(ended),
        "duration": _seconds(ended - started if started else None),
        "jobs": jobs,
        "passed": passed == len(results) and interrupted_by is None,
        "interrupted": interrupted_by is not None,
        "signal": interrupted_by,
        "summary": {"targets": len(results), "passed": passed,
                    "failed": len(results) - passed - interrupted, "interrupted": interrupted},
        "targets": [target_entry(r, output_dir) for r in results],
    }


def write_run_report(output_dir: Path, results: Sequence[TargetResult], build_commit: str,
                     *, jobs: int | None = None, interrupted_by: str | None = None,
                     into: Path | None = None,
                     repository: dict[str, Any] | None = None) -> Path:
    """Write ``report.json`` and ``report.html`` of a run whose wheelhouse is ``output_dir``
    (links are relative to it) into ``into`` (default: ``output_dir``; a staging directory
    beside it, swapped in afterwards); ``repository``: what was checked out."""
    data = run_report(results, output_dir, build_commit, jobs=jobs,
                      interrupted_by=interrupted_by, repository=repository)
    directory = into if into is not None else output_dir
    path = directory / REPORT
    _write(path, json.dumps(data, indent=2) + "\n")
    _write(directory / HTML_REPORT, render_html(data))
    return path


# --------------------------------------------------------------------------- report.html

_CSS = """
body { font-family: system-ui, sans-serif; margin: 1.5em; color: #222; }
h1 { font-size: 1.4em; } h2 { font-size: 1.15em; margin-top: 1.6em; }
table { border-collapse: collapse; margin: .5em 0; }
th, td { border: 1px solid #ccc; padding: .35em .6em; text-align: left; vertical-align: top; }
th { background: #f3f3f3; }
td.passed { background: #d9f2d9; } td.failed { background: #f8d3d3; }
td.interrupted { background: #fbeec2; }
p.interrupted { background: #fbeec2; padding: .5em; font-weight: bold; }
td.missing { background: #f6f6f6; color: #999; }
.small { font-size: .85em; color: #555; }
pre { background: #f6f6f6; padding: .6em; overflow-x: auto; font-size: .85em; }
"""


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _dur(value: object) -> str:
    return f"{float(value):.1f}s" if isinstance(value, (int, float)) else "-"


def _python_key(version: str) -> tuple[int, ...]:
    try:
        return tuple(int(p) for p in version.rstrip("t").split("."))
    except ValueError:
        return (0,)


def _matrix(targets: list[dict[str, Any]]) -> list[str]:
    placed = [t for t in targets if t.get("python") and t.get("plat")]
    if not placed:
        return []
    pythons = sorted({t["python"] for t in placed}, key=_python_key)
    platforms = sorted({f"{t.get('os', '')}-{t['plat']}" for t in placed})
    cells = {(t["python"], f"{t.get('os', '')}-{t['plat']}"): t for t in placed}
    out = ["<h2>Python &times; platform</h2>", "<table>",
           "<tr><th>Python</th>" + "".join(f"<th>{_e(p)}</th>" for p in platforms) + "</tr>"]
    for python in pythons:
        row = [f"<tr><th>{_e(python)}</th>"]
        for platform in platforms:
            target = cells.get((python, platform))
            if target is None:
                row.append('<td class="missing">not built</td>')
                continue
            css, verdict = _verdict(target)
            link = target.get("log_href")
            log = f' <a href="{_e(link)}">log</a>' if link else ""
            wheels = target.get("wheels") or target.get("rejected_wheels") or []
            names = "".join(f'<br><span class="small">{_e(w["file"])}</span>' for w in wheels)
            row.append(f'<td class="{css}" id="m-{_e(target["id"])}">'
                       f'<a href="#{_e(target["id"])}">{_e(verdict)}</a> '
                       f'{_dur(target.get("duration"))}{log}{names}</td>')
        out.append("".join(row) + "</tr>")
    out.append("</table>")
    return out


def _verdict(target: dict[str, Any]) -> tuple[str, str]:
    """(CSS class, words) of a target's result."""
    if target.get("passed"):
        return "passed", "passed"
    if target.get("interrupted"):
        step = target.get("failed_step")
        return "interrupted", f"interrupted in {step}" if step else "not started (interrupted)"
    return "failed", f"failed at {target.get('failed_step') or 'start'}"


def _target_section(target: dict[str, Any]) -> list[str]:
    link = target.get("log_href")
    _, verdict = _verdict(target)
    out = [f'<h2 id="{_e(target["id"])}">{_e(target["id"])}: '
           f'{_e(verdict)} in {_dur(target.get("duration"))}</h2>']
    if link:
        out.append(f'<p class="small">log: <a href="{_e(link)}">{_e(target.get("log"))}</a></p>')
    out += _provenance_html(target)
    steps = target.get("steps") or []
    if steps:
        out += ["<table>", "<tr><th>step</th><th>result</th><th>duration</th></tr>"]
        for step in steps:
            css = {"passed": "passed", "failed": "failed", "interrupted": "interrupted"}.get(
                step.get("result", ""), "missing")
            out.append(f'<tr><td>{_e(step["name"])}</td><td class="{css}">'
                       f'{_e(step.get("result", ""))}</td><td>{_dur(step.get("duration"))}</td>'
                       "</tr>")
        out.append("</table>")
    wheels = [(w, "staged") for w in target.get("wheels") or []]
    wheels += [(w, "not staged") for w in target.get("rejected_wheels") or []]
    if wheels:
        out += ["<table>", "<tr><th>wheel</th><th>size</th><th>platform tags</th>"
                "<th>bundled libraries</th><th>sha256</th><th>same as last run</th>"
                "<th></th></tr>"]
        for wheel, state in wheels:
            size = wheel.get("size")
            out.append(
                f'<tr><td>{_e(wheel["file"])}</td>'
                f'<td>{_e(f"{size / 1e6:.2f} MB" if isinstance(size, int) else "-")}</td>'
                f'<td>{_e(", ".join(wheel.get("platform_tags", [])))}</td>'
                f'<td>{_e(", ".join(wheel.get("bundled", [])) or "none")}</td>'
                f'<td class="small">{_e(wheel.get("sha256", ""))}</td>'
                f'<td>{_REPRODUCED.get(wheel.get("reproduced"), "-")}</td><td>{state}</td></tr>')
        out.append("</table>")
    if target.get("failure_tail"):
        out.append(f"<p>end of the log:</p><pre>{_e(target['failure_tail'])}</pre>")
    return out


# report.html's words for a wheel's "reproduced".
_REPRODUCED: dict[object, str] = {True: "yes", False: "no (bytes differ)", None: "-"}


def _provenance_html(target: dict[str, Any]) -> list[str]:
    facts = []
    if target.get("project_version"):
        facts.append(f"{target.get('project') or 'project'} {target['project_version']}")
    if target.get("python_version"):
        facts.append(f"Python {target['python_version']}")
    facts += [f"{tool} {version}" for tool, version in (target.get("tools") or {}).items()]
    runtimes = sorted({lib for w in [*(target.get("wheels") or []),
                                     *(target.get("rejected_wheels") or [])]
                       for lib in w.get("compiler_runtimes") or []})
    out = [f'<p class="small">built: {_e("; ".join(facts))}</p>'] if facts else []
    if runtimes:
        out.append(f"<p>compiler runtimes bundled: {_e(', '.join(runtimes))}</p>")
    return out + _portability_html(target)


def _portability_html(target: dict[str, Any]) -> list[str]:
    """The toolchain, and per Linux wheel the glibc it needs and where it installs; a wheel
    above the toolchain's policy names what pins it."""
    out = []
    toolchain = target.get("toolchain") or {}
    if toolchain.get("compiler"):
        policy = f", repaired to {toolchain['policy']}" if toolchain.get("policy") else ""
        out.append(f"<p>toolchain: {_e(toolchain['compiler'])} for "
                   f"{_e(toolchain.get('target') or '?')}{_e(policy)}</p>")
    for wheel in [*(target.get("wheels") or []), *(target.get("rejected_wheels") or [])]:
        glibc = wheel.get("glibc")
        if not isinstance(glibc, dict):
            continue
        where = ", ".join(wheel.get("installs_on") or []) or "no distribution through pip"
        out.append(f'<p class="small">{_e(wheel["file"])}: needs glibc '
                   f'{_e(glibc.get("highest_glibc") or "-")}; installs on {_e(where)}</p>')
        pins = glibc.get("above_policy") or []
        if pins:
            named = "; ".join(f"{r['symbol']}@{r['version']} ({r['library']}) in {r['elf']}"
                              for r in pins[:5])
            out.append(f'<p class="interrupted">above {_e(glibc.get("policy"))}: {_e(named)}; '
                       "docker mode builds it within the policy</p>")
    cross = target.get("cross_test")
    if isinstance(cross, dict):
        state = "tested" if cross.get("tested") else "built, not tested"
        out.append(f"<p>{state}: {_e(cross.get('how'))}</p>")
    return out


def _repository_html(repository: dict[str, Any] | None) -> list[str]:
    if not repository:
        return []
    url = repository.get("url") or "-"
    asked = repository.get("requested_url")
    via = f" (asked for {asked})" if asked and asked != url else ""
    return [f"<p>source: {_e(url)}{_e(via)} at {_e(repository.get('ref') or '-')} = "
            f"<code>{_e(repository.get('commit') or 'unknown')}</code></p>"]


def render_html(data: dict[str, Any]) -> str:
    """A static, self-contained page (inline CSS, relative links to the logs)."""
    targets: list[dict[str, Any]] = list(data.get("targets", []))
    passed = sum(bool(t.get("passed")) for t in targets)
    title = f"Wheels build report: {data.get('build_commit') or 'build'}"
    jobs = f" with {data['jobs']} at a time" if data.get("jobs") else ""
    body = [f"<h1>{_e(title)}</h1>"]
    if data.get("interrupted"):
        unfinished = sum(bool(t.get("interrupted")) for t in targets)
        body.append(f'<p class="interrupted">Interrupted by {_e(data.get("signal") or "a signal")}:'
                    f' {unfinished} of {len(targets)} targets unfinished (never staged).</p>')
    body += [
        f'<p>{passed} of {len(targets)} targets passed; run took {_dur(data.get("duration"))}'
        f'{jobs}; written {_e(data.get("written", ""))}.</p>',
        *_repository_html(data.get("repository")),
        *_matrix(targets),
    ]
    for target in targets:
        body += _target_section(target)
    return (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        f"<title>{_e(title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
        + "\n".join(body) + "\n</body>\n</html>\n"
    )
