"""The CI files: schema validation, ./wheels check, tools/set-build-commit, event semantics,
and the job listing."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from conftest import REPO_ROOT, git, run_shell, run_wheels, tool_env
from ruamel.yaml import YAML

from multibuild.ci.cicheck import BUILD_JOB_STEPS, check
from multibuild.ci.cifiles import CI_FILES, read_all
from multibuild.ci.cimatrix import Host, expand, select, skip_reason
from multibuild.ci.events import plan
from multibuild.run.replay import SIMULATED_EVENTS, job_environment

# Only AppVeyor's schema is not vendored by check-jsonschema; it may come from ../shared.
SHARED_SCHEMAS = REPO_ROOT.parent / "shared" / "schemas"
# check-jsonschema's vendored schemas (offline, pinned with it in pyproject.toml's dev extras).
VENDORED = ("azure-pipelines", "travis", "github-workflows", "dependabot")


def _vendored(name: str) -> dict[str, Any]:
    """check-jsonschema's vendored schema ``name`` (what --builtin-schema vendor.NAME uses)."""
    files = resources.files("check_jsonschema.builtin_schemas.vendor")
    return dict(json.loads((files / f"{name}.json").read_text(encoding="utf-8")))


def _shared(name: str) -> dict[str, Any]:
    path = SHARED_SCHEMAS / name
    if not path.is_file():
        pytest.skip(f"AppVeyor's schema is not vendored by check-jsonschema and not available "
                    f"at {path}")
    return dict(json.loads(path.read_text()))


def _load(path: Path, typ: str) -> Any:
    # Azure Pipelines reads every scalar as a string; its schema is written for that.
    return json.loads(json.dumps(YAML(typ=typ).load(path.read_text())))


def _errors(schema: dict[str, Any], instance: Any) -> list[str]:
    validator = jsonschema.validators.validator_for(schema)(schema)
    return [f"{list(e.absolute_path)}: {e.message[:200]}" for e in validator.iter_errors(instance)]


def _fragment(schema: dict[str, Any], definition: str) -> dict[str, Any]:
    return {"$ref": f"#/definitions/{definition}", "definitions": schema["definitions"]}


def check_jsonschema(*args: str) -> subprocess.CompletedProcess[str]:
    """The check-jsonschema command of the tool environment (offline: builtin schemas)."""
    return subprocess.run([sys.executable, "-m", "check_jsonschema", *args], cwd=REPO_ROOT,
                          capture_output=True, text=True, check=False)


# -- schema validation -------------------------------------------------------------------------


def test_azure_pipelines_validates() -> None:
    schema = _vendored("azure-pipelines")
    assert _errors(schema, _load(REPO_ROOT / "azure-pipelines.yml", "base")) == []


@pytest.mark.parametrize("template", ["azure/posix.yml", "azure/windows.yml"])
def test_azure_templates_validate(template: str) -> None:
    schema = _vendored("azure-pipelines")
    data = _load(REPO_ROOT / template, "base")
    assert set(data) == {"parameters", "jobs"}
    assert _errors(_fragment(schema, "templateParameters"), data["parameters"]) == []
    assert _errors(_fragment(schema, "jobs"), data["jobs"]) == []
    for job in data["jobs"]:
        assert _errors(_fragment(schema, "steps"), job["steps"]) == []


def test_travis_validates_with_check_jsonschema() -> None:
    done = check_jsonschema("--builtin-schema", "vendor.travis", ".travis.yml")
    assert done.returncode == 0, done.stdout + done.stderr


def test_github_files_validate_with_check_jsonschema() -> None:
    """GitHub workflows and Dependabot's file, where the repository has them."""
    workflows = sorted((REPO_ROOT / ".github" / "workflows").glob("*.y*ml"))
    if workflows:
        done = check_jsonschema("--builtin-schema", "vendor.github-workflows",
                                *map(str, workflows))
        assert done.returncode == 0, done.stdout + done.stderr
    for name in ("dependabot.yml", "dependabot.yaml"):
        if (REPO_ROOT / ".github" / name).is_file():
            done = check_jsonschema("--builtin-schema", "vendor.dependabot", f".github/{name}")
            assert done.returncode == 0, done.stdout + done.stderr


def test_appveyor_validates() -> None:
    assert _errors(_shared("appveyor.schema.json"), _load(REPO_ROOT / "appveyor.yml", "safe")) == []


# A broken document of each vendored schema's kind: each must be refused.
BROKEN: dict[str, Any] = {
    "travis": {"language": "python", "os": "plan9"},
    "github-workflows": {"on": "push", "jobs": {"build": {"runs-on": "ubuntu-latest",
                                                          "steps": "not a list"}}},
    "dependabot": {"version": 2, "updates": [{"package-ecosystem": "nosuch",
                                               "directory": "/"}]},
}


@pytest.mark.parametrize("name", VENDORED)
def test_schema_validation_is_not_vacuous(name: str, tmp_path: Path) -> None:
    if name == "azure-pipelines":
        data = _load(REPO_ROOT / "azure-pipelines.yml", "base")
        data["schedules"][0]["cronn"] = data["schedules"][0].pop("cron")
        assert _errors(_vendored(name), data)
        return
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps(BROKEN[name]))
    done = check_jsonschema("--builtin-schema", f"vendor.{name}", str(broken))
    assert done.returncode == 1, done.stdout + done.stderr
    assert "validation errors" in done.stdout


def test_appveyor_validation_is_not_vacuous() -> None:
    appveyor = _load(REPO_ROOT / "appveyor.yml", "safe")
    appveyor["build"] = "maybe"
    assert _errors(_shared("appveyor.schema.json"), appveyor)


# -- the matrix --------------------------------------------------------------------------------


def test_matrix_covers_the_required_jobs() -> None:
    ids = {job.id for job in expand(REPO_ROOT)}
    for py in ("310", "311", "312", "313"):
        for plat in ("x86_64", "i686"):
            assert f"azure-linux-{plat}-cp{py}" in ids
        for plat in ("aarch64", "ppc64le", "s390x"):
            assert f"travis-linux-{plat}-cp{py}" in ids
        for plat in ("x86_64", "arm64"):
            assert f"azure-macos-{plat}-cp{py}" in ids
        for plat in ("win32", "win_amd64"):
            assert f"azure-windows-{plat}-cp{py}" in ids
            assert f"appveyor-windows-{plat}-cp{py}" in ids
        for os_plat in ("linux-x86_64", "linux-i686", "linux-aarch64", "macos-x86_64",
                        "macos-arm64", "windows-win32", "windows-win_amd64"):
            assert f"github-{os_plat}-cp{py}" in ids


def test_every_build_job_is_thin_and_i686_uses_env_vars32() -> None:
    jobs = [job for job in expand(REPO_ROOT) if job.kind == "build"]
    assert len({job.id for job in jobs}) == len(jobs)
    for job in jobs:
        assert job.steps == BUILD_JOB_STEPS, job.id
        env = job.environment
        for name in ("BUILD_COMMIT", "NIGHTLY_BUILD_COMMIT", "REPO_DIR", "REPO_URL"):
            assert env[name], (job.id, name)
        if job.plat in ("i686", "win32"):
            assert env["ENV_VARS_PATH"] == "env_vars32.sh", job.id
        else:  # GitHub's ${{ matrix.ENV_VARS_PATH }} is empty there: the default file
            assert not env.get("ENV_VARS_PATH"), job.id
    values = {f.file: f.variables["REPO_DIR"].value for f in read_all(REPO_ROOT)}
    assert set(values.values()) == {"numpy"}


def test_azure_has_a_weekly_schedule() -> None:
    data = YAML(typ="safe").load((REPO_ROOT / "azure-pipelines.yml").read_text())
    (schedule,) = data["schedules"]
    _minute, _hour, day, month, weekday = schedule["cron"].split()
    assert (day, month) == ("*", "*") and weekday.isdigit()
    assert schedule["always"] is True


def test_jobs_listing_skips_what_this_host_cannot_run() -> None:
    host = Host(os="linux", machine="x86_64", mode="native",
                pythons=frozenset({"3.12"}))
    jobs = {job.id: job for job in expand(REPO_ROOT)}
    assert skip_reason(jobs["azure-linux-x86_64-cp312"], host) is None
    assert "no CPython 3.10" in str(skip_reason(jobs["azure-linux-x86_64-cp310"], host))
    assert "docker" in str(skip_reason(jobs["azure-linux-i686-cp312"], host))
    assert "macOS" in str(skip_reason(jobs["azure-macos-arm64-cp312"], host))
    assert "Windows" in str(skip_reason(jobs["appveyor-windows-win32-cp312"], host))
    assert "aarch64" in str(skip_reason(jobs["travis-linux-aarch64-cp312"], host))
    docker_host = Host(os="linux", machine="x86_64", mode="docker", pythons=frozenset())
    assert skip_reason(jobs["azure-linux-i686-cp310"], docker_host) is None
    assert [j.id for j in select(list(jobs.values()), ["travis-*-cp313"])] == [
        "travis-linux-aarch64-cp313", "travis-linux-ppc64le-cp313", "travis-linux-s390x-cp313"]


def test_wheels_jobs_prints_one_line_per_job() -> None:
    done = run_wheels(["jobs"])
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    jobs = expand(REPO_ROOT)
    # The jobs, the count, and a note on release.yml (no build jobs of its own: it calls
    # wheels.yml).
    assert len(lines) == len(jobs) + 2
    assert lines[-1].startswith("not listed: 1 other GitHub Actions workflow(s)")
    for job, line in zip(jobs, lines):
        assert line.split()[0] == job.id and f"{job.file}:{job.line}" in line
    assert "skip: macOS job" in done.stdout


# -- ./wheels check ----------------------------------------------------------------------------


def test_check_passes_on_the_shipped_files() -> None:
    done = run_wheels(["check"])
    assert done.returncode == 0, done.stderr
    assert "BUILD_COMMIT=" in done.stdout and ": ok" in done.stdout


def _edit(path: Path, old: str, new: str) -> int:
    """Replace the first ``old`` in ``path``; return its 1-based line."""
    text = path.read_text()
    index = text.index(old)
    path.write_text(text.replace(old, new, 1))
    return text[:index].count("\n") + 1


def _check(root: Path) -> subprocess.CompletedProcess[str]:
    return run_wheels(["check", "--root", str(root)])


def test_check_names_file_and_line_of_a_build_commit_mismatch(ci_copy: Path) -> None:
    line = _edit(ci_copy / "appveyor.yml", "BUILD_COMMIT: v2.2.6", "BUILD_COMMIT: v2.2.5")
    done = _check(ci_copy)
    assert done.returncode == 1
    assert f"error: appveyor.yml:{line}: BUILD_COMMIT is 'v2.2.5' but azure-pipelines.yml:5 " \
        "has 'v2.2.6'" in done.stderr
    line = _edit(ci_copy / ".travis.yml", "NIGHTLY_BUILD_COMMIT=main", "NIGHTLY_BUILD_COMMIT=dev")
    assert f".travis.yml:{line}: NIGHTLY_BUILD_COMMIT is 'dev'" in _check(ci_copy).stderr


def test_check_names_an_unknown_platform(ci_copy: Path) -> None:
    line = _edit(ci_copy / ".travis.yml", "PLAT=s390x", "PLAT=s390")
    done = _check(ci_copy)
    assert done.returncode == 1
    assert f".travis.yml:{line}: job travis-linux-s390-cp310: unsupported platform 's390'" \
        in done.stderr
    line = _edit(ci_copy / "azure-pipelines.yml", "PLAT: win_amd64", "PLAT: amd64")
    assert f"azure-pipelines.yml:{line}: job azure-windows-amd64-cp310: unsupported platform " \
        "'amd64' for windows" in _check(ci_copy).stderr


def test_check_names_an_unknown_or_unquoted_python(ci_copy: Path) -> None:
    line = _edit(ci_copy / "azure-pipelines.yml", 'MB_PYTHON_VERSION: "3.11"',
                 'MB_PYTHON_VERSION: "3.1l"')
    done = _check(ci_copy)
    assert done.returncode == 1
    assert f"azure-pipelines.yml:{line}: job azure-linux-x86_64-cp31l: unknown Python '3.1l'" \
        in done.stderr
    line = _edit(ci_copy / "appveyor.yml", 'MB_PYTHON_VERSION: "3.10"', "MB_PYTHON_VERSION: 3.10")
    done = _check(ci_copy)
    assert f"appveyor.yml:{line}: job appveyor-windows-win32-cp31: MB_PYTHON_VERSION is the " \
        "YAML number 3.1; quote it" in done.stderr


def test_check_names_a_missing_required_variable(ci_copy: Path) -> None:
    _edit(ci_copy / "appveyor.yml", "  REPO_URL: https://github.com/numpy/numpy.git\n", "")
    done = _check(ci_copy)
    assert done.returncode == 1
    assert "error: appveyor.yml:4: required variable REPO_URL is missing from environment" \
        in done.stderr
    line = _edit(ci_copy / ".travis.yml", "MB_PYTHON_VERSION=3.12, PLAT=ppc64le",
                 "MB_PYTHON_VERSION=3.12")
    # The id takes the platform from the job's Travis arch; our layout still wants PLAT set.
    assert f".travis.yml:{line}: job travis-linux-ppc64le-cp312: required variable PLAT is " \
        "missing" in _check(ci_copy).stderr


def test_check_names_other_mistakes(ci_copy: Path) -> None:
    line = _edit(ci_copy / "azure-pipelines.yml", "PLAT: i686, ENV_VARS_PATH: env_vars32.sh}",
                 "PLAT: i686}")
    line2 = _edit(ci_copy / ".travis.yml", "{arch: ppc64le, env: [MB_PYTHON_VERSION=3.13",
                  "{arch: s390x, env: [MB_PYTHON_VERSION=3.13")
    problems = [str(p) for p in check(ci_copy)[0]]
    assert f"azure-pipelines.yml:{line}: job azure-linux-i686-cp310: 32-bit platform i686 " \
        "without ENV_VARS_PATH (expected env_vars32.sh)" in problems
    assert f".travis.yml:{line2}: job travis-linux-ppc64le-cp313: PLAT ppc64le cannot be " \
        "built on Travis arch 's390x'" in problems
    line = _edit(ci_copy / "appveyor.yml", "PLAT: win_amd64}", "PLAT: win32}")
    assert any(p.startswith(f"appveyor.yml:{line}: job appveyor-windows-win32-cp310 is defined "
                            "twice (also at appveyor.yml:11)") for p in map(str, check(ci_copy)[0]))


def test_check_names_the_line_of_a_yaml_error(ci_copy: Path) -> None:
    line = _edit(ci_copy / ".travis.yml", "  include:\n", "  include: [\n")
    done = _check(ci_copy)
    assert done.returncode == 1
    assert "error: .travis.yml:" in done.stderr and "invalid YAML" in done.stderr
    assert line > 1


# -- tools/set-build-commit --------------------------------------------------------------------


def _set_build_commit(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(REPO_ROOT / "tools" / "set-build-commit"), "--root", str(root),
                           *args], env=tool_env(), capture_output=True, text=True, check=False)


def _texts(root: Path) -> dict[str, str]:
    return {name: (root / name).read_text() for name in CI_FILES.values()}


def test_set_build_commit_round_trip_changes_only_the_value(ci_copy: Path) -> None:
    before = _texts(ci_copy)
    # A hand edit of one file breaks the check...
    _edit(ci_copy / ".travis.yml", "BUILD_COMMIT=v2.2.6", "BUILD_COMMIT=v2.2.7")
    assert _check(ci_copy).returncode == 1
    # ... and set-build-commit makes every file agree again.
    done = _set_build_commit(ci_copy, "v2.3.0")
    assert done.returncode == 0, done.stderr
    assert "azure-pipelines.yml:5: BUILD_COMMIT v2.2.6 -> v2.3.0" in done.stdout
    assert ".travis.yml:6: BUILD_COMMIT v2.2.7 -> v2.3.0" in done.stdout
    assert "appveyor.yml:5: BUILD_COMMIT v2.2.6 -> v2.3.0" in done.stdout
    after = _texts(ci_copy)
    for name, text in before.items():
        assert after[name].encode() == text.replace("BUILD_COMMIT: v2.2.6", "BUILD_COMMIT: v2.3.0")\
            .replace("BUILD_COMMIT=v2.2.6", "BUILD_COMMIT=v2.3.0").encode(), name
    assert _check(ci_copy).returncode == 0
    # Back again: byte-identical to the start.
    assert _set_build_commit(ci_copy, "v2.2.6").returncode == 0
    assert _texts(ci_copy) == before
    again = _set_build_commit(ci_copy, "v2.2.6")
    assert "already v2.2.6" in again.stdout and _texts(ci_copy) == before


def test_set_build_commit_keeps_quoting_and_sets_nightly(ci_copy: Path) -> None:
    _edit(ci_copy / "azure-pipelines.yml", "BUILD_COMMIT: v2.2.6", 'BUILD_COMMIT: "v2.2.6"  # rel')
    done = _set_build_commit(ci_copy, "v2.3.0")
    assert done.returncode == 0, done.stderr
    assert '  BUILD_COMMIT: "v2.3.0"  # rel\n' in (ci_copy / "azure-pipelines.yml").read_text()
    done = _set_build_commit(ci_copy, "--nightly", "yes")
    assert done.returncode == 0, done.stderr
    assert "  NIGHTLY_BUILD_COMMIT: 'yes'\n" in (ci_copy / "appveyor.yml").read_text()
    assert "    - NIGHTLY_BUILD_COMMIT=yes\n" in (ci_copy / ".travis.yml").read_text()
    assert "BUILD_COMMIT: v2.3.0" in (ci_copy / "appveyor.yml").read_text()
    assert _check(ci_copy).returncode == 0


def test_set_build_commit_refuses_bad_input_and_writes_nothing(ci_copy: Path) -> None:
    before = _texts(ci_copy)
    done = _set_build_commit(ci_copy, "bad ref")
    assert done.returncode == 2 and done.stderr.startswith("error: REF 'bad ref': not a valid")
    done = _set_build_commit(ci_copy, "--full-hash", "v2.3.0")
    assert done.returncode == 1 and "--full-hash needs the project repository" in done.stderr
    _edit(ci_copy / "appveyor.yml", "  BUILD_COMMIT: v2.2.6\n", "")
    before["appveyor.yml"] = (ci_copy / "appveyor.yml").read_text()
    done = _set_build_commit(ci_copy, "v2.3.0")
    assert done.returncode == 1 and "appveyor.yml:4: no BUILD_COMMIT variable" in done.stderr
    assert _texts(ci_copy) == before
    assert not [p for p in ci_copy.iterdir() if p.name.endswith(".tmp")]


def test_set_build_commit_checks_refs_in_the_project_repository(
    ci_copy: Path, blasdot_repo: Any
) -> None:
    # REPO_DIR (numpy) cloned in the wheels repository: refs are checked there.
    subprocess.run(["git", "clone", "-q", str(blasdot_repo.path), str(ci_copy / "numpy")],
                   check=True)
    before = _texts(ci_copy)
    done = _set_build_commit(ci_copy, "v9.9.9")
    assert done.returncode == 1 and "unknown ref 'v9.9.9' in repository" in done.stderr
    assert _texts(ci_copy) == before
    done = _set_build_commit(ci_copy, "--full-hash", "v0.1.0")
    assert done.returncode == 0, done.stderr
    sha = blasdot_repo.rev("v0.1.0")
    assert f"BUILD_COMMIT: {sha}\n" in (ci_copy / "azure-pipelines.yml").read_text()
    # A branch that only the remote has (origin/feature) is found too; --repo wins.
    done = _set_build_commit(ci_copy, "feature")
    assert done.returncode == 0, done.stderr
    other = ci_copy.parent / "other"
    shutil.copytree(blasdot_repo.path, other)
    git(other, "tag", "only-here")
    assert _set_build_commit(ci_copy, "only-here").returncode == 1
    done = _set_build_commit(ci_copy, "--repo", str(other), "--full-hash", "only-here")
    assert done.returncode == 0, done.stderr
    assert f"BUILD_COMMIT={git(other, 'rev-parse', 'only-here')}" in \
        (ci_copy / ".travis.yml").read_text()


# -- event semantics ---------------------------------------------------------------------------

COMMITS = {"BUILD_COMMIT": "v2.2.6", "NIGHTLY_BUILD_COMMIT": "main"}


@pytest.mark.parametrize(("service_env", "service", "event", "commit", "channel"), [
    ({"BUILD_REASON": "Schedule"}, "azure", "schedule", "main", "nightly"),
    ({"BUILD_REASON": "IndividualCI"}, "azure", "push", "v2.2.6", "staging"),
    ({"BUILD_REASON": "BatchedCI"}, "azure", "push", "v2.2.6", "staging"),
    ({"BUILD_REASON": "Manual"}, "azure", "push", "v2.2.6", "staging"),
    ({"BUILD_REASON": "PullRequest"}, "azure", "pull_request", "v2.2.6", None),
    ({"TRAVIS_EVENT_TYPE": "cron"}, "travis", "schedule", "main", "nightly"),
    ({"TRAVIS_EVENT_TYPE": "push"}, "travis", "push", "v2.2.6", "staging"),
    ({"TRAVIS_EVENT_TYPE": "api"}, "travis", "push", "v2.2.6", "staging"),
    ({"TRAVIS_EVENT_TYPE": "pull_request"}, "travis", "pull_request", "v2.2.6", None),
    ({"APPVEYOR": "True", "APPVEYOR_SCHEDULED_BUILD": "True"}, "appveyor", "schedule", "main",
     "nightly"),
    ({"APPVEYOR": "True"}, "appveyor", "push", "v2.2.6", "staging"),
    ({"APPVEYOR": "True", "APPVEYOR_PULL_REQUEST_NUMBER": "42"}, "appveyor", "pull_request",
     "v2.2.6", None),
])
def test_event_commit_channel_table(service_env: dict[str, str], service: str, event: str,
                                    commit: str, channel: str | None) -> None:
    result = plan({**COMMITS, **service_env})
    assert (result.service, result.event, result.commit, result.channel) == \
        (service, event, commit, channel)


@pytest.mark.parametrize("service", sorted(SIMULATED_EVENTS))
def test_replay_simulates_each_event_as_the_service_does(service: str) -> None:
    for event, expected in (("push", "v2.2.6"), ("pull_request", "v2.2.6"),
                            ("schedule", "main")):
        host = {"BUILD_REASON": "Schedule", "BUILD_COMMIT": "stale", "ENV_VARS_PATH": "x.sh"}
        env, result = job_environment(COMMITS, service, host, event=event)  # type: ignore[arg-type]
        assert (result.service, result.event, env["BUILD_COMMIT"]) == (service, event, expected)
        assert env["MB_UPLOAD_CHANNEL"] == {"push": "staging", "pull_request": "",
                                            "schedule": "nightly"}[event]
        assert "ENV_VARS_PATH" not in env  # nothing of the host's job variables leaks in


def test_ci_step_upload_uploads_nothing_for_a_pull_request() -> None:
    env = {**COMMITS, "BUILD_REASON": "PullRequest"}
    done = subprocess.run(["bash", str(REPO_ROOT / "multibuild" / "ci_step.sh"), "upload"],
                          env=tool_env(env), capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert "pull_request event: commit v2.2.6, upload channel ''" in done.stdout
    assert "nothing to upload for a pull_request build" in done.stdout
    bad = run_shell(f'bash "{REPO_ROOT}/multibuild/ci_step.sh" deploy')
    assert bad.returncode == 2 and "unknown step 'deploy'" in bad.stderr
