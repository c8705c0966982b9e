"""The run report: ``report.json`` (machine-readable) and ``report.html`` (for a person).

``report.json`` is the contract the upload step reads (``multibuild.release.upload.passed_wheels``):
version 1, ``targets`` with ``id``, ``passed`` and ``wheels`` (``file``, ``sha256``) of the
staged wheels of passing targets. A run adds, per target, each step's start, end and
duration, the result and failed step, each wheel's size, tags, bundled libraries and SBOM,
the test counts (``tests``, multibuild.run.testresults), the target's log and the tail of a
failure; what was built (``repository``: the URL asked for, what was really fetched, the ref
as written, the resolved commit and whether it exists upstream; ``checkout``: that step's
time and log) and with what (per target: project version, Python version, the tools:
auditwheel, uv, pip, meson, ninja, compilers; per wheel the bundled compiler runtimes such as
libgfortran, and ``reproduced``: whether it has the same bytes as the previous complete wheel
of that target and commit, null when there is none). ``report.schema.json`` beside this
module is its JSON schema. Both files are written atomically (temporary name, then rename),
with the user's umask, and the run's logs and the staged wheels' SBOMs are kept beside them
(``logs/``, ``sboms/``), so every link of ``report.html`` is relative to it and the set can be
moved or copied whole.

A run stopped by a signal is marked ``interrupted`` (with the signal), and so is each target
it stopped or never started: such a target is never ``passed`` and lists no wheels.
"""

from __future__ import annotations

import hashlib
import html
import json
import os
import platform as host_platform
import re
import shutil
import zipfile
from collections.abc import Iterable, Sequence
from datetime import datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from packaging.utils import parse_wheel_filename

from multibuild import MultibuildError
from multibuild.build.wheelinfo import WheelInfo
from multibuild.core.files import atomic_path, atomic_write
from multibuild.net.fetch import redact_url, sha256_file
from multibuild.run.runner import SourceResult, StepResult, TargetResult
from multibuild.run.testresults import TestResults
from multibuild.source.checkout import source_sentence

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
    """What clean_code checked out in ``source`` (``multibuild.source.checkout.describe``): the
    repository asked for, what was really fetched (the sdist file of a stand-in mirror), the
    ref as written, the full commit hash and whether it exists upstream."""
    from multibuild.source.checkout import describe

    requested = redact_url(repo_url) if repo_url else None
    try:
        found = describe(source)
    except MultibuildError:
        return {"url": requested, "requested_url": requested, "fetched_url": None, "ref": ref,
                "commit": None, "commit_upstream": None, "sdist_mirror": None, "sdist": None}
    record = found.record()
    return {**record, "url": record["url"] or requested, "requested_url": requested,
            "ref": record["ref"] or ref}


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


def sbom_entry(wheel: Path, directory: Path | None = None) -> dict[str, Any] | None:
    """The SBOM inside ``wheel`` (multibuild.build.sbom): its path there, sha256 and what it names;
    with ``directory``, a copy kept beside the report (``sboms/<wheel>.cdx.json``, href)."""
    from multibuild.build.sbom import SBOM_FILE, summary

    try:
        with zipfile.ZipFile(wheel) as archive:
            member = next((n for n in archive.namelist()
                           if n.endswith(f".dist-info/sboms/{SBOM_FILE}") and n.count("/") == 2),
                          None)
            if member is None:
                return None
            data = archive.read(member)
            others = sorted(n for n in archive.namelist()
                            if ".dist-info/sboms/" in n and n != member)
    except (OSError, zipfile.BadZipFile):
        return None
    entry: dict[str, Any] = {"path": member, "sha256": hashlib.sha256(data).hexdigest(),
                             "components": summary(json.loads(data)), "others": others}
    if directory is not None:
        kept = directory / "sboms" / f"{wheel.name}.cdx.json"
        kept.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(kept, data.decode())
        entry["href"] = f"sboms/{kept.name}"
    return entry


def wheel_entry(wheel: WheelInfo, reproduced: bool | None = None,
                directory: Path | None = None) -> dict[str, Any]:
    """A wheel's record; ``reproduced``: whether it has the bytes of the previous run's wheel
    of the same target and commit (None: nothing to compare with); ``directory``: where the
    report goes (its SBOM is copied there)."""
    return {
        "file": wheel.path.name,
        "sha256": wheel.sha256,
        "reproduced": reproduced,
        "size": wheel.size,
        "tags": list(wheel.tags),
        "platform_tags": list(wheel.platform_tags),
        "bundled": list(wheel.bundled),
        "compiler_runtimes": compiler_runtimes(wheel.bundled),
        "sbom": sbom_entry(wheel.path, directory),
    }


def step_entry(step: StepResult, interrupted: bool = False) -> dict[str, Any]:
    result = "unfinished" if step.status is None else ("passed" if step.passed else "failed")
    if (interrupted or step.signal) and not step.passed:
        result = "interrupted"  # the step the signal stopped, whatever status it ended with
    return {"name": step.name, "result": result, "status": step.status,
            "signal": step.signal, "start": _when(step.start), "end": _when(step.end),
            "duration": _seconds(step.duration)}


def target_result(result: TargetResult) -> str:
    if result.passed:
        return "passed"
    if result.interrupted:
        return "interrupted" if result.steps else "not started"
    return "failed"


def portability_entries(result: TargetResult, wheels: list[dict[str, Any]]
                        ) -> dict[str, Any] | None:
    """The toolchain record of the target (multibuild.build.toolchain: compiler, version, target
    with its glibc, policy; null when none was recorded) and, into each Linux wheel's entry,
    what its tag promises (``tag_glibc``, ``installs_on``) and what its ELF files need
    (``glibc``: highest version, and the references above the toolchain's policy)."""
    from multibuild.build.glibc import portability
    from multibuild.build.toolchain import read_record

    toolchain = read_record(result.log.parent)
    policy = toolchain.get("policy") if toolchain else None
    for entry, wheel in zip(wheels, result.wheels):
        if any(t.startswith(("manylinux", "linux", "musllinux")) for t in wheel.platform_tags):
            entry.update(portability(wheel.path, wheel.platform_tags,
                                     policy if isinstance(policy, str) else None, wheel.sha256))
    return toolchain


def target_entry(result: TargetResult, logs: dict[str, str] | None = None,
                 directory: Path | None = None) -> dict[str, Any]:
    """A target's record; ``logs``: target id -> its log's copy beside the report;
    ``directory``: where the report goes (the staged wheels' SBOMs are copied there)."""
    from multibuild.build.crosspython import read_test_record

    wheels = [wheel_entry(w, result.reproduced.get(w.path.name),
                          directory if result.passed else None) for w in result.wheels]
    toolchain = portability_entries(result, wheels)
    href = (logs or {}).get(result.target.id)
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
        "tests": result.tests.to_json() if result.tests else None,
        "tests_reused": result.tests_reused,
        "log": str(result.log.resolve()),
        **({"log_href": href} if href else {}),
        "failure_tail": "" if result.passed else result.tail,
        "toolchain": toolchain,
        # A cross-built wheel: tested under qemu-user, or built, not tested (and why).
        "cross_test": read_test_record(result.log.parent),
        **target_provenance(result),
    }


LOGS = "logs"  # the copies of the run's logs beside the report, so it can be moved


def _keep(log: Path, directory: Path, name: str) -> str | None:
    """Put ``log`` into ``directory/logs/name`` (a hard link: the next run writes a new
    build.log, never into this one; a copy across file systems); its href, or None."""
    if not log.is_file():
        return None
    kept = directory / LOGS / name
    kept.parent.mkdir(parents=True, exist_ok=True)
    kept.unlink(missing_ok=True)
    try:
        os.link(log, kept)
    except OSError:
        with atomic_path(kept) as tmp:
            shutil.copyfile(log, tmp)
    return f"{LOGS}/{name}"


def keep_logs(directory: Path, results: Sequence[TargetResult],
              source: SourceResult | None = None) -> dict[str, str]:
    """Every target's build.log (and the checkout's) beside the report: target id -> href."""
    hrefs = {}
    for result in results:
        href = _keep(result.log, directory, f"{result.target.id}.log")
        if href:
            hrefs[result.target.id] = href
    if source is not None:
        href = _keep(source.log, directory, "source.log")
        if href:
            hrefs[""] = href
    return hrefs


def run_report(results: Sequence[TargetResult], build_commit: str,
               *, jobs: int | None = None, interrupted_by: str | None = None,
               repository: dict[str, Any] | None = None,
               source: SourceResult | None = None,
               timing: tuple[float, float] | None = None,
               logs: dict[str, str] | None = None,
               directory: Path | None = None, run_id: str | None = None) -> dict[str, Any]:
    """The report of a run; ``interrupted_by``: the signal that stopped it (e.g. SIGINT);
    ``repository``: what was checked out (``checkout_record``); ``source``: that checkout's
    step; ``timing``: when the run started and ended (default: its targets' span);
    ``logs``: the hrefs of the logs kept beside the report (``keep_logs``); ``directory``:
    where the report goes (the staged wheels' SBOMs are copied there)."""
    if timing is not None:
        started, ended = timing
    else:
        started = min((r.started for r in results if r.started), default=0.0)
        ended = max((r.ended for r in results), default=0.0)
    passed = sum(r.passed for r in results)
    interrupted = sum(r.interrupted for r in results)
    checkout = None
    if source is not None:
        checkout = {"duration": _seconds(source.duration), "started": _when(source.started),
                    "log": str(source.log.resolve()),
                    **({"log_href": logs[""]} if logs and "" in logs else {})}
    return {
        "version": VERSION,
        "build_commit": build_commit,
        "repository": repository,
        "checkout": checkout,
        "run_id": run_id,
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
        "targets": [target_entry(r, logs, directory) for r in results],
    }


def write_run_report(output_dir: Path, results: Sequence[TargetResult], build_commit: str,
                     *, jobs: int | None = None, interrupted_by: str | None = None,
                     into: Path | None = None,
                     repository: dict[str, Any] | None = None,
                     source: SourceResult | None = None,
                     timing: tuple[float, float] | None = None,
                     run_id: str | None = None) -> Path:
    """Write ``report.json`` and ``report.html`` of a run whose wheelhouse is ``output_dir``
    into ``into`` (default: ``output_dir``; a staging directory beside it, swapped in
    afterwards), with the run's logs beside them (``logs/``): every link is relative to the
    report's directory, so the set can be moved (``previous-wheelhouse/``) or copied whole.
    ``repository``: what was checked out; ``source``: the checkout step; ``timing``: the
    run's start and end; ``run_id``: the run's id (a later run reusing its tests names it)."""
    directory = into if into is not None else output_dir
    directory.mkdir(parents=True, exist_ok=True)
    logs = keep_logs(directory, results, source)
    data = run_report(results, build_commit, jobs=jobs, interrupted_by=interrupted_by,
                      repository=repository, source=source, timing=timing, logs=logs,
                      directory=directory, run_id=run_id)
    path = directory / REPORT
    _write(path, json.dumps(data, indent=2) + "\n")
    _write(directory / HTML_REPORT, render_html(data))
    return path


# --------------------------------------------------------------------------- report.html

# Fits a 1280 px screen whatever the names: tables never exceed the page, long words (wheel
# file names, hashes, paths) break anywhere, preformatted text scrolls inside its box.
_CSS = """
html { -webkit-text-size-adjust: 100%; }
body { font-family: system-ui, sans-serif; margin: 1.5em; color: #222; max-width: 100%;
       overflow-wrap: anywhere; }
h1 { font-size: 1.4em; } h2 { font-size: 1.15em; margin-top: 1.6em; }
table { border-collapse: collapse; margin: .5em 0; max-width: 100%; }
table.wheels { width: 100%; table-layout: fixed; }
table.wheels col.file { width: 24%; } table.wheels col.size { width: 7%; }
table.wheels col.tags { width: 15%; } table.wheels col.libs { width: 20%; }
table.wheels col.hash { width: 16%; } table.wheels col.same { width: 7%; }
th, td { border: 1px solid #ccc; padding: .35em .6em; text-align: left; vertical-align: top;
         overflow-wrap: anywhere; word-break: break-word; }
th { background: #f3f3f3; }
td.passed { background: #d9f2d9; } td.failed { background: #f8d3d3; }
td.interrupted { background: #fbeec2; }
p.interrupted { background: #fbeec2; padding: .5em; font-weight: bold; }
td.missing { background: #f6f6f6; color: #999; }
.small { font-size: .85em; color: #555; }
code { word-break: break-all; }
pre { background: #f6f6f6; padding: .6em; overflow-x: auto; font-size: .85em;
      white-space: pre-wrap; }
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


def _tests_text(target: dict[str, Any]) -> str:
    tests = target.get("tests")
    text = TestResults.from_json(tests).describe() if isinstance(tests, dict) else ""
    reused = target.get("tests_reused")
    if isinstance(reused, dict):
        return reused_text(reused, text)
    return text


def reused_text(reused: dict[str, str], counts: str) -> str:
    """``tests reused from run ID (WHEN): COUNTS``: a run that reused its tests' results."""
    return (f"tests reused from run {reused.get('run', '?')} ({reused.get('when', '?')})"
            f"{': ' + counts if counts else ''}")


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
            wheels = target.get("wheels") or []
            names = "".join(f'<br><span class="small">{_e(w["file"])}</span>' for w in wheels)
            tests = _tests_text(target)
            tested = f'<br><span class="small">tests: {_e(tests)}</span>' if tests else ""
            row.append(f'<td class="{css}" id="m-{_e(target["id"])}">'
                       f'<a href="#{_e(target["id"])}">{_e(verdict)}</a> '
                       f'{_dur(target.get("duration"))}{log}{names}{tested}</td>')
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
        out.append(f'<p class="small">log: <a href="{_e(link)}">{_e(link)}</a> '
                   f"(written to {_e(target.get('log'))})</p>")
    out += _provenance_html(target)
    tests = _tests_text(target)
    if tests:
        where = {"junit-xml": "pytest's JUnit XML", "pytest-summary": "pytest's summary line"}
        source = where.get(str((target.get("tests") or {}).get("source")), "the test run")
        out.append(f"<p>tests: {_e(tests)} <span class=\"small\">(from {_e(source)})</span></p>")
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
        out += ['<table class="wheels">',
                '<colgroup><col class="file"><col class="size"><col class="tags">'
                '<col class="libs"><col class="hash"><col class="same"><col></colgroup>',
                "<tr><th>wheel</th><th>size</th><th>platform tags</th>"
                "<th>bundled libraries</th><th>sha256</th><th>same as last run</th>"
                "<th>SBOM</th></tr>"]
        for wheel, state in wheels:
            size = wheel.get("size")
            sbom = wheel.get("sbom") or {}
            named = "; ".join(sbom.get("components") or []) or "no bundled libraries"
            sbom_cell = (f'<a href="{_e(sbom["href"])}">CycloneDX</a>: {_e(named)}'
                         if sbom.get("href") else _e(named) if sbom else "-")
            out.append(
                f'<tr><td>{_e(wheel["file"])} <span class="small">({state})</span></td>'
                f'<td>{_e(f"{size / 1e6:.2f} MB" if isinstance(size, int) else "-")}</td>'
                f'<td>{_e(", ".join(wheel.get("platform_tags", [])))}</td>'
                f'<td>{_e(", ".join(wheel.get("bundled", [])) or "none")}</td>'
                f'<td class="small"><code>{_e(wheel.get("sha256", ""))}</code></td>'
                f'<td>{_REPRODUCED.get(wheel.get("reproduced"), "-")}</td>'
                f"<td>{sbom_cell}</td></tr>")
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


def _repository_html(data: dict[str, Any]) -> list[str]:
    repository = data.get("repository")
    if not repository:
        return []
    out = [f"<p>source: {_e(source_sentence(repository))}</p>"]
    checkout = data.get("checkout") or {}
    if checkout.get("log_href"):
        out.append(f'<p class="small">checkout: {_dur(checkout.get("duration"))}, log: '
                   f'<a href="{_e(checkout["log_href"])}">{_e(checkout["log_href"])}</a></p>')
    return out


def render_html(data: dict[str, Any]) -> str:
    """A static, self-contained page (inline CSS, links relative to the page: the logs and
    SBOMs kept beside it)."""
    targets: list[dict[str, Any]] = list(data.get("targets", []))
    passed = sum(bool(t.get("passed")) for t in targets)
    title = f"Wheels build report: {data.get('build_commit') or 'build'}"
    jobs = data.get("jobs")
    at_once = f" with {jobs} at a time" if isinstance(jobs, int) and jobs > 1 else ""
    body = [f"<h1>{_e(title)}</h1>"]
    if data.get("interrupted"):
        unfinished = sum(bool(t.get("interrupted")) for t in targets)
        body.append(f'<p class="interrupted">Interrupted by {_e(data.get("signal") or "a signal")}:'
                    f' {unfinished} of {len(targets)} targets unfinished (never staged).</p>')
    body += [
        f'<p>{passed} of {len(targets)} targets passed; run took {_dur(data.get("duration"))}'
        f'{at_once}; written {_e(data.get("written", ""))}.</p>',
        *_repository_html(data),
        *_matrix(targets),
    ]
    for target in targets:
        body += _target_section(target)
    return (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
        f"<title>{_e(title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
        + "\n".join(body) + "\n</body>\n</html>\n"
    )
