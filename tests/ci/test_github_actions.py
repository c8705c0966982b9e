"""The GitHub Actions workflows: one matrix with the other CI files, the event contract, the
release workflow's gate and trusted publishing, and the hardening zizmor and these tests check.
(Schema validation of .github/ is in test_ci_files.py; replay of a GitHub job in
test_ci_replay.py.)"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import REPO_ROOT, run_wheels, tool_env
from crossbuild import make_wheel
from ruamel.yaml import YAML

from multibuild.ci.cifiles import CI_FILES, GITHUB_FILE
from multibuild.ci.cimatrix import expand
from multibuild.ci.events import plan
from multibuild.core.platforms import GITHUB_RUNNERS

WORKFLOWS = REPO_ROOT / ".github" / "workflows"
WHEELS = WORKFLOWS / "wheels.yml"
RELEASE = WORKFLOWS / "release.yml"
ZIZMOR = Path(sys.executable).parent / "zizmor"


def _yaml(path: Path) -> Any:
    return YAML(typ="safe").load(path.read_text())


def _workflows() -> dict[str, Any]:
    return {p.name: _yaml(p) for p in sorted(WORKFLOWS.glob("*.yml"))}


def _steps(job: dict[str, Any]) -> list[dict[str, Any]]:
    return list(job.get("steps") or [])


def _check(root: Path) -> subprocess.CompletedProcess[str]:
    return run_wheels(["check", "--root", str(root)])


def _edit(path: Path, old: str, new: str) -> int:
    """Replace the one line holding ``old``; its 1-based line number."""
    lines = path.read_text().splitlines(keepends=True)
    index = next(i for i, line in enumerate(lines) if old in line)
    lines[index] = lines[index].replace(old, new)
    path.write_text("".join(lines))
    return index + 1


# -- one matrix ---------------------------------------------------------------------------------


def _targets(service: str | None, *, github: bool) -> set[tuple[str, str, str]]:
    return {(j.os, j.plat, j.python) for j in expand(REPO_ROOT)
            if j.kind == "build" and (j.service == "github") == github
            and (service is None or j.service == service)}


def test_the_workflow_matrix_equals_the_other_ci_files() -> None:
    others = _targets(None, github=False)
    hostable = {t for t in others if f"{t[0]}-{t[1]}" in GITHUB_RUNNERS}
    assert _targets(None, github=True) == hostable
    # What GitHub has no runner for stays with Travis; everything else is on GitHub too.
    assert {(os_name, plat) for os_name, plat, _ in others - hostable} == {
        ("linux", "ppc64le"), ("linux", "s390x")}
    assert {t[:2] for t in hostable} == {
        ("linux", "x86_64"), ("linux", "i686"), ("linux", "aarch64"), ("macos", "x86_64"),
        ("macos", "arm64"), ("windows", "win32"), ("windows", "win_amd64")}


def test_each_job_runs_on_its_platforms_runner_with_the_library_steps() -> None:
    build = _yaml(WHEELS)["jobs"]["build"]
    include = build["strategy"]["matrix"]["include"]
    for item in include:
        os_name = {"x86_64": "linux", "i686": "linux", "aarch64": "linux", "arm64": "macos",
                   "win32": "windows", "win_amd64": "windows"}[item["PLAT"]]
        if item["runner"].startswith("macos"):
            os_name = "macos"
        assert GITHUB_RUNNERS[f"{os_name}-{item['PLAT']}"] == item["runner"]
        assert ("ENV_VARS_PATH" in item) == (item["PLAT"] in ("i686", "win32"))
    runs = [s["run"] for s in _steps(build) if "run" in s]
    assert runs == ["bash multibuild/ci_step.sh build", "bash multibuild/ci_step.sh upload"]
    artifact = next(s for s in _steps(build) if "upload-artifact" in s.get("uses", ""))
    assert artifact["with"]["path"] == "wheelhouse/" and artifact["if"] == "always()"
    assert build["env"]["PLAT"] == "${{ matrix.PLAT }}"
    assert build["defaults"]["run"]["shell"] == "bash"


def test_wheels_jobs_lists_the_workflow_jobs_and_check_counts_them() -> None:
    listed = run_wheels(["jobs", "github-*"])
    assert listed.returncode == 0, listed.stderr
    assert re.search(r"^github-linux-x86_64-cp312 +\.github/workflows/wheels\.yml:\d+ ",
                     listed.stdout, re.M)
    assert re.search(r"^github-check +\.github/workflows/wheels\.yml:\d+ +run$", listed.stdout,
                     re.M)
    assert "github-linux-aarch64-cp313" in listed.stdout
    assert "29 jobs" in listed.stdout  # 28 build jobs and the check job
    done = run_wheels(["check"])
    assert done.returncode == 0 and "check: 4 CI files" in done.stdout


# -- ./wheels check: bad input --------------------------------------------------------------------


def test_check_names_file_and_line_of_a_workflow_build_commit_mismatch(ci_copy: Path) -> None:
    line = _edit(ci_copy / GITHUB_FILE, "BUILD_COMMIT: v2.2.6", "BUILD_COMMIT: v2.2.5")
    done = _check(ci_copy)
    assert done.returncode == 1
    assert (f"error: {GITHUB_FILE}:{line}: BUILD_COMMIT is 'v2.2.5' but azure-pipelines.yml:5 "
            "has 'v2.2.6'") in done.stderr


def test_check_names_a_job_missing_from_the_workflow_matrix(ci_copy: Path) -> None:
    path = ci_copy / GITHUB_FILE
    text = path.read_text()
    gone = '          - {runner: ubuntu-24.04-arm, MB_PYTHON_VERSION: "3.12", PLAT: aarch64}\n'
    assert gone in text
    path.write_text(text.replace(gone, ""))
    include = next(i for i, line in enumerate(text.splitlines(), 1) if line.startswith("     "
                                                                                     "     - {"))
    done = _check(ci_copy)
    assert done.returncode == 1
    travis = next(j for j in expand(ci_copy) if j.id == "travis-linux-aarch64-cp312")
    errors = [ln for ln in done.stderr.splitlines() if ln.startswith("error:")]
    assert errors == [
        f"error: {GITHUB_FILE}:{include}: job github-linux-aarch64-cp312 is missing from the "
        f"build matrix: travis-linux-aarch64-cp312 (.travis.yml:{travis.line}) builds linux "
        "aarch64 Python 3.12"]


def test_check_names_a_workflow_job_no_other_file_has(ci_copy: Path) -> None:
    path = ci_copy / GITHUB_FILE
    line = _edit(path, '{runner: macos-14, MB_PYTHON_VERSION: "3.13", PLAT: arm64}',
                 '{runner: macos-14, MB_PYTHON_VERSION: "3.9", PLAT: arm64}')
    done = _check(ci_copy)
    assert done.returncode == 1
    assert (f"error: {GITHUB_FILE}:{line}: job github-macos-arm64-cp39: no other CI file "
            "builds macos arm64 Python 3.9") in done.stderr
    assert "job github-macos-arm64-cp313 is missing from the build matrix: " \
        "azure-macos-arm64-cp313" in done.stderr


def test_check_names_a_wrong_runner_and_a_variable_the_job_env_drops(ci_copy: Path) -> None:
    path = ci_copy / GITHUB_FILE
    line = _edit(path, '{runner: ubuntu-24.04-arm, MB_PYTHON_VERSION: "3.10"',
                 '{runner: ubuntu-24.04, MB_PYTHON_VERSION: "3.10"')
    done = _check(ci_copy)
    assert (f"error: {GITHUB_FILE}:{line}: job github-linux-aarch64-cp310: PLAT aarch64 cannot "
            "be built on the GitHub runner 'ubuntu-24.04'") in done.stderr
    # The matrix says PLAT, but a job sees only what its env passes on.
    _edit(path, "      PLAT: ${{ matrix.PLAT }}", "      PLATFORM: ${{ matrix.PLAT }}")
    done = _check(ci_copy)
    assert done.returncode == 1
    assert re.search(rf"error: {re.escape(GITHUB_FILE)}:\d+: job github-linux-none-cp310: "
                     "required variable PLAT is missing", done.stderr)


def test_set_build_commit_edits_all_four_files_or_none(ci_copy: Path) -> None:
    tool = [str(REPO_ROOT / "tools" / "set-build-commit"), "--root", str(ci_copy)]
    before = {name: (ci_copy / name).read_text() for name in CI_FILES.values()}
    done = subprocess.run([*tool, "v2.3.0"], env=tool_env(), capture_output=True, text=True,
                          check=False)
    assert done.returncode == 0, done.stderr
    assert f"{GITHUB_FILE}:" in done.stdout and "BUILD_COMMIT v2.2.6 -> v2.3.0" in done.stdout
    after = (ci_copy / GITHUB_FILE).read_text()
    assert after == before[GITHUB_FILE].replace("BUILD_COMMIT: v2.2.6", "BUILD_COMMIT: v2.3.0")
    assert "# Wheels of numpy on GitHub Actions" in after  # comments kept
    assert _check(ci_copy).returncode == 0
    # A workflow value the tool cannot edit in place: no file is changed.
    state = {name: (ci_copy / name).read_text() for name in CI_FILES.values()}
    _edit(ci_copy / GITHUB_FILE, "BUILD_COMMIT: v2.3.0", "BUILD_COMMIT: >-\n    v2.3.0")
    state[GITHUB_FILE] = (ci_copy / GITHUB_FILE).read_text()
    done = subprocess.run([*tool, "v2.4.0"], env=tool_env(), capture_output=True, text=True,
                          check=False)
    assert done.returncode != 0 and GITHUB_FILE in done.stderr, done.stdout + done.stderr
    assert {name: (ci_copy / name).read_text() for name in CI_FILES.values()} == state
    assert not list(ci_copy.rglob("*.part"))


# -- events -------------------------------------------------------------------------------------

COMMITS = {"BUILD_COMMIT": "v2.2.6", "NIGHTLY_BUILD_COMMIT": "main", "MB_DEFAULT_BRANCH": "main"}


@pytest.mark.parametrize(("github", "event", "commit", "channel"), [
    ({"GITHUB_EVENT_NAME": "push", "GITHUB_REF": "refs/heads/main"}, "push", "v2.2.6",
     "staging"),
    ({"GITHUB_EVENT_NAME": "push", "GITHUB_REF": "refs/heads/maintenance/2.2.x"}, "push",
     "v2.2.6", "staging"),
    ({"GITHUB_EVENT_NAME": "push", "GITHUB_REF": "refs/heads/release/2.3"}, "push", "v2.2.6",
     "staging"),
    ({"GITHUB_EVENT_NAME": "push", "GITHUB_REF": "refs/heads/try-a-fix"}, "push", "v2.2.6",
     None),
    ({"GITHUB_EVENT_NAME": "pull_request", "GITHUB_REF": "refs/pull/7/merge"}, "pull_request",
     "v2.2.6", None),
    ({"GITHUB_EVENT_NAME": "schedule", "GITHUB_REF": "refs/heads/main"}, "schedule", "main",
     "nightly"),
    ({"GITHUB_EVENT_NAME": "workflow_dispatch", "GITHUB_REF": "refs/heads/main"}, "schedule",
     "main", "nightly"),
    # Builds for release.yml (a tag push or a manual release): BUILD_COMMIT, no upload.
    ({"GITHUB_EVENT_NAME": "push", "GITHUB_REF": "refs/tags/v2.2.6",
      "MB_RELEASE_BUILD": "true"}, "push", "v2.2.6", None),
    ({"GITHUB_EVENT_NAME": "workflow_dispatch", "GITHUB_REF": "refs/heads/main",
      "MB_RELEASE_BUILD": "true"}, "push", "v2.2.6", None),
])
def test_github_events_commit_and_channel(github: dict[str, str], event: str, commit: str,
                                          channel: str | None) -> None:
    result = plan({**COMMITS, **github})
    assert (result.service, result.event, result.commit, result.channel) == \
        ("github", event, commit, channel)


# -- hardening ----------------------------------------------------------------------------------

_PINNED = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40} # v\d+(\.\d+)*$")


def test_every_action_is_pinned_to_a_commit_with_its_version() -> None:
    uses = []
    for path in sorted(WORKFLOWS.glob("*.yml")):
        for line in path.read_text().splitlines():
            match = re.match(r"^\s*(?:- )?uses: (.*)$", line)
            if match:
                uses.append(match.group(1))
    remote = [u for u in uses if not u.startswith("./")]
    assert len(remote) >= 8
    assert [u for u in remote if not _PINNED.match(u)] == []
    assert "pypa/gh-action-pypi-publish@ed0c53931b1dc9bd32cbe73a98c7f6766f8a527e # v1.13.0" \
        in remote


def test_permissions_are_least_privilege_and_id_token_only_in_publish() -> None:
    for name, workflow in _workflows().items():
        assert workflow["permissions"] == {}, name
        assert "pull_request_target" not in (workflow.get("on") or workflow.get(True))
        for job_name, job in workflow["jobs"].items():
            permissions = job.get("permissions")
            assert isinstance(permissions, dict), (name, job_name)
            if (name, job_name) == ("release.yml", "publish"):
                assert permissions == {"id-token": "write"}
                assert job["environment"] == {"name": "pypi"}
            else:
                assert set(permissions.values()) <= {"read"}, (name, job_name)
                assert "id-token" not in permissions
            for step in _steps(job):
                if "actions/checkout@" in step.get("uses", ""):
                    assert step["with"]["persist-credentials"] is False


def test_release_gates_then_publishes_with_trusted_publishing_and_attestations() -> None:
    release = _yaml(RELEASE)
    assert release["on"] == {"push": {"tags": ["v*"]}, "workflow_dispatch": None}
    jobs = release["jobs"]
    assert jobs["build"]["uses"] == "./.github/workflows/wheels.yml"
    assert jobs["build"]["with"] == {"release": True}
    assert jobs["gate"]["needs"] == "build" and jobs["gate"]["if"] == "${{ !cancelled() }}"
    assert jobs["publish"]["needs"] == ["build", "gate"] and "if" not in jobs["publish"]
    gate_runs = [s["run"] for s in _steps(jobs["gate"]) if "run" in s]
    assert gate_runs == ["./wheels gate artifacts/ --ci github --collect dist/"]
    publish = next(s for s in _steps(jobs["publish"]) if "pypi-publish" in s.get("uses", ""))
    assert publish["with"] == {"packages-dir": "dist/", "attestations": True}
    text = RELEASE.read_text()
    assert "secrets." not in text and "password" not in text.lower()
    assert not re.search(r"PYPI_(API_)?TOKEN", text)


def test_secrets_reach_only_the_upload_step_and_never_a_pull_request() -> None:
    for name, workflow in _workflows().items():
        for job_name, job in workflow["jobs"].items():
            assert "secrets" not in job, (name, job_name)  # no secrets: inherit
            for key in ("env", "with", "if", "runs-on", "name"):
                assert "secrets." not in str(job.get(key, "")), (name, job_name, key)
            for step in _steps(job):
                assert "${{" not in step.get("run", ""), (name, job_name, step)
                outside_env = {k: v for k, v in step.items() if k != "env"}
                assert "secrets." not in str(outside_env), (name, job_name, step)
                if "secrets." in str(step.get("env", "")):
                    assert (name, job_name, step.get("name")) == \
                        ("wheels.yml", "build", "Upload wheels")
                    assert "github.event_name != 'pull_request'" in step["if"]
                    assert "!inputs.release" in step["if"]
    text = WHEELS.read_text()
    assert text.count("secrets.") == 2  # the two tokens, in that one step's env


def test_compiler_cache_is_opt_in_keyed_on_the_job_and_off_for_releases() -> None:
    build = _yaml(WHEELS)["jobs"]["build"]
    cache = next(s for s in _steps(build) if "actions/cache@" in s.get("uses", ""))
    assert cache["if"] == \
        "vars.MB_COMPILER_CACHE == 'true' && !inputs.release && runner.os != 'Windows'"
    assert cache["with"]["path"] == "build/cache/ccache"  # where activate_ccache keeps it
    for part in ("matrix.runner", "matrix.PLAT", "matrix.MB_PYTHON_VERSION"):
        assert part in cache["with"]["key"] and part in cache["with"]["restore-keys"]
    assert build["env"]["USE_CCACHE"] == (
        "${{ vars.MB_COMPILER_CACHE == 'true' && !inputs.release && runner.os != 'Windows' "
        "&& '1' || '0' }}")
    # The key parts are the job's; the cache step runs before the build, which prints
    # ccache's counts (mb_ccache_stats; test_library_cache.py runs that wiring without a
    # ccache on PATH, as in a manylinux container).
    names = [s.get("name", s.get("uses", "")) for s in _steps(build)]
    assert names.index("Restore the compiler cache") < names.index("Build, repair and test wheels")


def test_dependabot_keeps_the_actions_current() -> None:
    updates = _yaml(REPO_ROOT / ".github" / "dependabot.yml")["updates"]
    assert [(u["package-ecosystem"], u["directory"]) for u in updates] == \
        [("github-actions", "/")]


def _zizmor(*paths: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(ZIZMOR), "--offline", "--no-progress", *map(str, paths)],
                          capture_output=True, text=True, timeout=300, check=False)


def test_zizmor_finds_nothing_at_its_default_level() -> None:
    done = _zizmor(REPO_ROOT / ".github")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "No findings to report" in done.stdout


def test_zizmor_is_not_vacuous(tmp_path: Path) -> None:
    bad = tmp_path / ".github" / "workflows"
    bad.mkdir(parents=True)
    (bad / "bad.yml").write_text(
        "on: pull_request_target\n"
        "jobs:\n  build:\n    runs-on: ubuntu-24.04\n    steps:\n"
        "      - uses: actions/checkout@v4\n"
        '      - run: echo "${{ github.event.pull_request.title }}"\n')
    done = _zizmor(tmp_path / ".github")
    assert done.returncode != 0
    for audit in ("template-injection", "unpinned-uses", "dangerous-triggers", "artipacked"):
        assert audit in done.stdout, done.stdout


# -- the completeness gate ----------------------------------------------------------------------

_PLATFORM_TAGS = {
    "linux-x86_64": "manylinux_2_17_x86_64.manylinux2014_x86_64",
    "linux-i686": "manylinux_2_17_i686.manylinux2014_i686",
    "linux-aarch64": "manylinux_2_17_aarch64.manylinux2014_aarch64",
    "macos-x86_64": "macosx_10_9_x86_64", "macos-arm64": "macosx_11_0_arm64",
    "windows-win32": "win32", "windows-win_amd64": "win_amd64",
}


def _artifacts(tmp_path: Path) -> Path:
    """One artifact folder per GitHub build job, each with its wheel and report."""
    root = tmp_path / "artifacts"
    for job in expand(REPO_ROOT):
        if job.service != "github" or job.kind != "build":
            continue
        tag = f"cp{job.python.replace('.', '')}"
        folder = root / f"wheels-{job.os}-{job.plat}-{job.python}"
        platform_tag = _PLATFORM_TAGS[f"{job.os}-{job.plat}"]
        make_wheel(folder, "numpy", "2.2.6", f"{tag}-{tag}-{platform_tag}",
                   {"numpy/__init__.py": b""})
        (folder / "report.json").write_text("{}")
    return root


def test_gate_passes_a_complete_set_and_collects_it(tmp_path: Path) -> None:
    artifacts = _artifacts(tmp_path)
    out = tmp_path / "dist"
    done = run_wheels(["gate", str(artifacts), "--ci", "github", "--collect", str(out)])
    assert done.returncode == 0, done.stderr
    assert "gate: complete: 28 expected wheels present" in done.stdout
    assert len(list(out.glob("*.whl"))) == 28 and not list(out.glob("*.json"))


def test_gate_stops_the_release_listing_what_is_missing(tmp_path: Path) -> None:
    artifacts = _artifacts(tmp_path)
    shutil.rmtree(artifacts / "wheels-linux-aarch64-3.12")
    for wheel in (artifacts / "wheels-windows-win32-3.10").glob("*.whl"):
        wheel.unlink()
    out = tmp_path / "dist"
    done = run_wheels(["gate", str(artifacts), "--ci", "github", "--collect", str(out)])
    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        "missing wheel for cp310 on windows-win32",
        "missing wheel for cp312 on linux-aarch64",
        f"error: incomplete set in {artifacts}: 2 missing, 0 unexpected; nothing is released"]
    assert not out.exists()


def test_gate_refuses_a_broken_wheel_and_a_missing_directory(tmp_path: Path) -> None:
    artifacts = _artifacts(tmp_path)
    broken = next((artifacts / "wheels-linux-x86_64-3.13").glob("*.whl"))
    broken.write_bytes(b"<html>rate limited</html>")
    done = run_wheels(["gate", str(artifacts), "--ci", "github"])
    assert done.returncode == 1 and f"error: {broken}: not a valid wheel" in done.stderr
    done = run_wheels(["gate", str(tmp_path / "nowhere")])
    assert done.returncode == 2
    assert done.stderr.strip() == f"error: {tmp_path / 'nowhere'}: no such directory"
