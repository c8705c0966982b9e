"""The run report: ``report.json`` (machine-readable) and ``report.html`` (for a person).

``report.json`` is the contract the upload step reads (``multibuild.upload.passed_wheels``):
version 1, ``targets`` with ``id``, ``passed`` and ``wheels`` (``file``, ``sha256``) of the
staged wheels of passing targets. A run adds, per target, each step's start, end and
duration, the result and failed step, each wheel's size, tags and bundled libraries, the path
of the target's log and the tail of a failure. ``report.schema.json`` beside this module is
its JSON schema. Both files are written atomically (temporary name, then rename), with the
user's umask.

A run stopped by a signal is marked ``interrupted`` (with the signal), and so is each target
it stopped or never started: such a target is never ``passed`` and lists no wheels.
"""

from __future__ import annotations

import html
import json
import os
from collections.abc import Iterable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from multibuild.download import sha256_file
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


def wheel_entry(wheel: WheelInfo) -> dict[str, Any]:
    return {
        "file": wheel.path.name,
        "sha256": wheel.sha256,
        "size": wheel.size,
        "tags": list(wheel.tags),
        "platform_tags": list(wheel.platform_tags),
        "bundled": list(wheel.bundled),
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


def target_entry(result: TargetResult, output_dir: Path) -> dict[str, Any]:
    log = result.log.resolve()
    wheels = [wheel_entry(w) for w in result.wheels]
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
    }


def run_report(results: Sequence[TargetResult], output_dir: Path, build_commit: str,
               *, jobs: int | None = None, interrupted_by: str | None = None) -> dict[str, Any]:
    """The report of a run; ``interrupted_by``: the signal that stopped it (e.g. SIGINT)."""
    started = min((r.started for r in results if r.started), default=0.0)
    ended = max((r.ended for r in results), default=0.0)
    passed = sum(r.passed for r in results)
    interrupted = sum(r.interrupted for r in results)
    return {
        "version": VERSION,
        "build_commit": build_commit,
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
                     into: Path | None = None) -> Path:
    """Write ``report.json`` and ``report.html`` of a run whose wheelhouse is ``output_dir``
    (links are relative to it) into ``into`` (default: ``output_dir``; a staging directory
    beside it, swapped in afterwards)."""
    data = run_report(results, output_dir, build_commit, jobs=jobs,
                      interrupted_by=interrupted_by)
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
                "<th>bundled libraries</th><th>sha256</th><th></th></tr>"]
        for wheel, state in wheels:
            size = wheel.get("size")
            out.append(
                f'<tr><td>{_e(wheel["file"])}</td>'
                f'<td>{_e(f"{size / 1e6:.2f} MB" if isinstance(size, int) else "-")}</td>'
                f'<td>{_e(", ".join(wheel.get("platform_tags", [])))}</td>'
                f'<td>{_e(", ".join(wheel.get("bundled", [])) or "none")}</td>'
                f'<td class="small">{_e(wheel.get("sha256", ""))}</td><td>{state}</td></tr>')
        out.append("</table>")
    if target.get("failure_tail"):
        out.append(f"<p>end of the log:</p><pre>{_e(target['failure_tail'])}</pre>")
    return out


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
        *_matrix(targets),
    ]
    for target in targets:
        body += _target_section(target)
    return (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        f"<title>{_e(title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
        + "\n".join(body) + "\n</body>\n</html>\n"
    )
