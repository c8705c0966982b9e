"""Docker mode end to end, in real containers, driven as CI drives it (MB_BUILD_MODE=docker,
DOCKER_IMAGE, DOCKER_TEST_IMAGE, MB_ML_VER, PLAT).

The engine is the tests' own (tests/dockerengine.py: a private socket, never the default one);
the images are made from Debian's packages (multibuild.build.debimage): ``build-bullseye``, laid
out as a manylinux image (Debian 11, glibc 2.31, /opt/python/cp39-cp39 and cp311-cp311, auditwheel,
patchelf), and ``test-bullseye`` (Debian 11 with its CPython 3.9). The project is the glibcver
fixture: a C extension whose glibc symbol versions follow the glibc it is built against, so a
wheel built on this host needs glibc 2.34 and one built in the build image does not.

Run with ``./wheels test --docker`` (marker ``docker``).
"""

from __future__ import annotations

import json
import os
import pwd
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from conftest import FIXTURES, REPO_ROOT, FixtureRepo, make_fixture_repo, tool_env
from test_upload_helpers import free_port

from multibuild.build.findlinks import WheelTarget, prepare

pytestmark = pytest.mark.docker

TARGET = "cp39-linux-x86_64"
TEST_USER = "mb-docker-test"
# The contract variables the run is given on top of what the runner and env_vars.sh set.
CONTRACT = {
    "UNICODE_WIDTH": "32", "MB_ML_VER": "_2_28", "MB_ML_LIBC": "manylinux",
    "MANYLINUX_URL": "/mb/find-links", "MB_TEST_VER": "3.9", "USE_CCACHE": "0",
    "CONFIG_PATH": "config.sh", "ENV_VARS_PATH": "env_vars.sh", "PLAT": "x86_64",
}


@dataclass
class Run:
    proc: subprocess.CompletedProcess[str]
    root: Path  # the wheels repository that was built

    @property
    def log(self) -> str:
        return self.proc.stdout + self.proc.stderr

    def recorded(self, hook: str, target: str = TARGET) -> dict[str, str]:
        """What config.sh's hook recorded (MB_WORK_DIR/<hook>.env)."""
        text = (self.root / "build" / "default" / target / f"{hook}.env").read_text()
        return dict(line.split("=", 1) for line in text.splitlines() if "=" in line)

    def report(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads((self.root / "wheelhouse" / "report.json").read_text())
        return data


def make_wheels_repo(base: Path, config_extra: str = "") -> tuple[Path, FixtureRepo]:
    """A wheels repository (this library, the glibcver fixture's config.sh and env_vars.sh)
    and the project's upstream repository, both under ``base``."""
    root = base / "wheels"
    root.mkdir(parents=True)
    shutil.copytree(REPO_ROOT / "multibuild", root / "multibuild",
                    ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("wheels", "pyproject.toml"):
        shutil.copy2(REPO_ROOT / name, root / name)
    fixture = FIXTURES / "glibcver-wheels"
    shutil.copy2(fixture / "env_vars.sh", root / "env_vars.sh")
    (root / "config.sh").write_text((fixture / "config.sh").read_text() + config_extra)
    return root, make_fixture_repo("glibcver", base / "glibcver-upstream")


def build_args(root: Path, upstream: FixtureRepo, pythons: str = "3.9") -> list[str]:
    return [str(root / "wheels"), "build", "--python", pythons, "--repo-url", str(upstream.path),
            "--repo-dir", "glibcver", "--commit", "v0.1.0"]


def docker_env(engine: Any, images: Mapping[str, str], **extra: str) -> dict[str, str]:
    """Docker mode as CI sets it, on the tests' engine, with this suite's tool environment."""
    return tool_env({**engine.env(), **CONTRACT, "MB_BUILD_MODE": "docker",
                     # ./wheels of the copied repository reuses this suite's tool environment
                     "MB_TOOL_VENV": str(REPO_ROOT / ".venv"),
                     "DOCKER_IMAGE": images["build-bullseye"],
                     "DOCKER_TEST_IMAGE": images["test-bullseye"], **extra})


def wheels_build(root: Path, upstream: FixtureRepo, env: Mapping[str, str],
                 pythons: str = "3.9") -> Run:
    proc = subprocess.run(build_args(root, upstream, pythons), cwd=root, env=dict(env),
                          capture_output=True, text=True, timeout=900, check=False)
    return Run(proc, root)


def in_container(engine: Any, image: str, script: str, *mounts: str) -> str:
    """Run ``script`` with bash in a container of ``image`` without network; its output."""
    args = [arg for mount in mounts for arg in ("-v", mount)]
    done = subprocess.run(["docker", "run", "--rm", "--network", "none", *args, image,
                           "bash", "-c", script], env={**os.environ, **engine.env()},
                          capture_output=True, text=True, timeout=300, check=False)
    return done.stdout + done.stderr


def containers_of(engine: Any, root: Path) -> list[str]:
    done = subprocess.run(["docker", "ps", "-aq", "--filter", f"label=io.multibuild.root={root}"],
                          env={**os.environ, **engine.env()}, capture_output=True, text=True,
                          check=True)
    return done.stdout.split()


# --------------------------------------------------------------------------------------------
# The main run: as an unprivileged user (when the suite runs as root), umask 027.

@dataclass
class User:
    uid: int
    gid: int
    groups: list[int]  # supplementary: the docker socket's group

    def command(self, argv: list[str]) -> list[str]:
        if self.uid == os.getuid():
            return ["bash", "-c", 'umask 027 && exec "$@"', "bash", *argv]
        groups = ",".join(map(str, self.groups)) or "-1"
        return ["setpriv", f"--reuid={self.uid}", f"--regid={self.gid}", f"--groups={groups}",
                "bash", "-c", 'umask 027 && exec "$@"', "bash", *argv]


def unprivileged_user(engine: Any) -> User:
    """A user other than root for the run (created if missing), with access to the engine's
    socket only through its group; or the invoking user when that is not root already."""
    if os.getuid() != 0:
        return User(os.getuid(), os.getgid(), [])
    if shutil.which("setpriv") is None:
        pytest.skip("setpriv (util-linux) is needed to run as an unprivileged user")
    try:
        entry = pwd.getpwnam(TEST_USER)
    except KeyError:
        subprocess.run(["useradd", "--system", "--user-group", "--no-create-home",
                        "--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin", TEST_USER],
                       check=True)
        entry = pwd.getpwnam(TEST_USER)
    gid = engine.socket_gid()
    return User(entry.pw_uid, entry.pw_gid, [gid] if gid is not None else [])


def runtime_tools() -> list[str]:
    """The names of the tool environment's run-time packages (not the dev extras, which
    ./wheels build does not need)."""
    try:
        import tomllib
    except ImportError:  # Python 3.10: build's dependency
        import tomli as tomllib

    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    return [re.split(r"[=<>!~\[ ]", spec, maxsplit=1)[0] for spec in project["dependencies"]]


@pytest.fixture(scope="module")
def user_run(docker_engine: Any, docker_images: dict[str, str]) -> Iterator[tuple[Run, User]]:
    user = unprivileged_user(docker_engine)
    base = Path(tempfile.mkdtemp(prefix="mb-docker-user-"))  # not under the suite's 0700 tmp
    try:
        root, upstream = make_wheels_repo(base)
        home = base / "home"
        home.mkdir()
        for path in [base, *base.rglob("*")]:
            os.lchown(path, user.uid, user.gid)
        base.chmod(0o755)
        env = docker_env(docker_engine, docker_images)
        if user.uid != os.getuid():
            # The user's own tool environment (this suite's lives under root's home).
            python3 = shutil.which("python3", path="/usr/local/bin:/usr/bin:/bin")
            if python3 is None:
                pytest.skip("a system python3 is needed for the unprivileged user's tools")
            for name in ("MB_TOOL_PYTHON", "MB_TOOL_VENV", "PYTHONPATH", "VIRTUAL_ENV"):
                env.pop(name, None)
            env.update(HOME=str(home), USER=TEST_USER, LOGNAME=TEST_USER,
                       PATH="/usr/local/bin:/usr/bin:/bin", MB_BOOTSTRAP_PYTHON=python3,
                       MB_TOOL_PACKAGES=" ".join(runtime_tools()))
        proc = subprocess.run(user.command(build_args(root, upstream)), cwd=root, env=env,
                              capture_output=True, text=True, timeout=900, check=False)
        yield Run(proc, root), user
    finally:
        shutil.rmtree(base, ignore_errors=True)


def test_build_repair_and_test_in_containers(user_run: tuple[Run, User]) -> None:
    run, _user = user_run
    assert run.proc.returncode == 0, run.log[-6000:]
    (wheel,) = (run.root / "wheelhouse").glob("*.whl")
    assert re.fullmatch(r"glibcver-0\.1\.0-cp39-cp39-[\w.]*manylinux_2_28_x86_64[\w.]*\.whl",
                        wheel.name), wheel.name
    assert run.report()["passed"] is True
    # The images are local only (no registry has them): used as they are, never pulled.
    assert "docker: pulling" not in run.log
    assert re.search(r"docker: build in mb-debian/build-bullseye:\w+ \(--network none\)",
                     run.log)
    assert re.search(r"docker: test in mb-debian/test-bullseye:\w+ \(--network none\)", run.log)
    assert "run_tests: glibcver 0.1.0 on glibc 2.31" in run.log
    assert re.search(r"^\[cp39-linux-x86_64\] 2 passed", run.log, re.MULTILINE), run.log[-3000:]


def test_every_contract_variable_reaches_both_containers(user_run: tuple[Run, User]) -> None:
    run, _user = user_run
    assert run.proc.returncode == 0, run.log[-6000:]
    expected = {
        **CONTRACT, "MB_PYTHON_VERSION": "3.9", "PYTHON_VERSION": "3.9",
        "BUILD_COMMIT": "v0.1.0", "BUILD_DEPENDS": "setuptools wheel", "TEST_DEPENDS": "pytest",
        "FIXTURE_MARK": "from-env-vars",
        # Paths as the containers see the repository: REPO_DIR relative to /io, as
        # multibuild's configs expect it; the others under /io.
        "REPO_DIR": f"build/default/{TARGET}/src/glibcver",
        "WHEEL_SDIR": f"/io/build/default/{TARGET}/wheelhouse",
    }
    build, test = run.recorded("pre_build"), run.recorded("run_tests")
    # run_tests sees REPO_DIR as the CI file gave it (multibuild's contract: ../$REPO_DIR).
    for seen, repo_dir in ((build, expected["REPO_DIR"]), (test, "glibcver")):
        assert {k: seen.get(k) for k in expected} == {**expected, "REPO_DIR": repo_dir}
        assert seen["container"] == "yes" and seen["debian"].startswith("11.")
        # No network of its own: the loopback interface only.
        assert seen["ifaces"].split() == ["lo"]
        assert seen["uid"] == "0" and seen["umask"] == "0027"
    assert build["AUDITWHEEL_PLAT"] == "manylinux_2_28_x86_64"  # from MB_ML_VER
    assert build["pwd"] == "/io"
    # run_tests ran in tmp_for_test under the repository root as mounted, and reached the
    # project's tests as ../$REPO_DIR.
    assert test["pwd"] == "/io/tmp_for_test"
    assert "../glibcver/tests" in test["tests"]


def test_wheels_belong_to_the_invoking_user_with_their_umask(user_run: tuple[Run, User]) -> None:
    run, user = user_run
    assert run.proc.returncode == 0, run.log[-6000:]
    wheels = [*(run.root / "wheelhouse").glob("*.whl"),
              *(run.root / "build" / "default" / TARGET / "wheelhouse").glob("*.whl")]
    assert len(wheels) == 2
    for wheel in wheels:
        info = wheel.stat()
        assert (info.st_uid, info.st_gid) == (user.uid, user.gid), wheel
        assert info.st_mode & 0o777 == 0o640, (wheel, oct(info.st_mode))
    # Nothing the containers' root made is left to root: every file is the user's.
    strangers = [p for p in [run.root, *run.root.rglob("*")] if p.lstat().st_uid != user.uid]
    assert strangers == []


def test_multibuild_ci_steps_run_unchanged_in_docker_mode(
    tmp_path: Path, docker_engine: Any, docker_images: dict[str, str],
) -> None:
    """A wheels repository's own CI script, multibuild style (no runner): REPO_DIR a directory
    of the repository, WHEEL_SDIR=wheelhouse; run_tests from /io/tmp_for_test."""
    root, upstream = make_wheels_repo(tmp_path)
    script = ("source multibuild/common_utils.sh && source multibuild/travis_steps.sh && "
              "before_install && clean_code $REPO_DIR $BUILD_COMMIT && "
              "build_wheel $REPO_DIR $PLAT && install_run $PLAT")
    env = docker_env(docker_engine, docker_images, REPO_DIR="glibcver", BUILD_COMMIT="v0.1.0",
                     REPO_URL=str(upstream.path), MB_PYTHON_VERSION="3.9",
                     WHEEL_SDIR="wheelhouse")
    env.pop("MB_TOOL_PYTHON")  # as on CI: the steps make the tool environment themselves
    done = subprocess.run(["bash", "-c", script], cwd=root, env=env, capture_output=True,
                          text=True, timeout=900, check=False)
    assert done.returncode == 0, (done.stdout + done.stderr)[-6000:]
    (wheel,) = (root / "wheelhouse").glob("*.whl")
    assert "manylinux_2_28_x86_64" in wheel.name
    seen = dict(line.split("=", 1) for line in
                (root / "tmp_for_test" / "run_tests.env").read_text().splitlines())
    assert (seen["pwd"], seen["REPO_DIR"], seen["tests"]) == (
        "/io/tmp_for_test", "glibcver", "../glibcver/tests")
    assert "2 passed" in done.stdout


# --------------------------------------------------------------------------------------------
# Portability at run time.

@pytest.fixture(scope="module")
def host_wheel(tmp_path_factory: pytest.TempPathFactory, pythons: dict[str, Path]) -> Path:
    """The glibcver wheel built natively on this host for CPython 3.9 (host glibc tag)."""
    if "3.9" not in pythons:
        pytest.skip("needs CPython 3.9 on the host for the host-glibc wheel")
    base = tmp_path_factory.mktemp("native")
    root, upstream = make_wheels_repo(base)
    run = wheels_build(root, upstream, tool_env({"MB_BUILD_MODE": "native", "USE_CCACHE": "0",
                                                 "MB_NATIVE_TOOLCHAIN": "host",
                                                 "MB_TOOL_VENV": str(REPO_ROOT / ".venv")}))
    assert run.proc.returncode == 0, run.log[-6000:]
    (wheel,) = (root / "wheelhouse").glob("*.whl")
    return wheel


def test_manylinux_2_28_wheel_runs_on_bullseye_host_glibc_wheel_does_not(
    user_run: tuple[Run, User], host_wheel: Path, docker_engine: Any,
    docker_images: dict[str, str], tmp_path: Path,
) -> None:
    run, _user = user_run
    assert run.proc.returncode == 0, run.log[-6000:]
    host_tag = re.search(r"manylinux_2_(\d+)_x86_64", host_wheel.name)
    assert host_tag and int(host_tag.group(1)) >= 34, host_wheel.name  # this host's glibc
    wheels = tmp_path / "wheels"
    for kind, wheel in (("portable", next((run.root / "wheelhouse").glob("*.whl"))),
                        ("host", host_wheel)):
        (wheels / kind).mkdir(parents=True)
        shutil.copy2(wheel, wheels / kind / wheel.name)
    script = r"""
        python3 -m venv /tmp/venv && cd /
        /tmp/venv/bin/pip install --no-index --no-deps /wheels/portable/*.whl > /dev/null
        /tmp/venv/bin/python -c 'import glibcver; print("portable:", glibcver.libc_version(),
            glibcver.lookup("printf"))'
        /tmp/venv/bin/pip install --no-index --no-deps /wheels/host/*.whl; echo "pip: $?"
        mkdir /tmp/forced && python3 -m zipfile -e /wheels/host/*.whl /tmp/forced
        PYTHONPATH=/tmp/forced python3 -c 'import glibcver'; echo "forced: $?"
    """
    out = in_container(docker_engine, docker_images["test-bullseye"], script,
                       f"{wheels}:/wheels:ro")
    # The manylinux_2_28 wheel installs and works on glibc 2.31 ...
    assert "portable: 2.31 True" in out, out
    # ... the host's is refused by pip there, and forced in, cannot load.
    assert f"{host_wheel.name} is not a supported wheel on this platform" in out, out
    assert re.search(r"^pip: [1-9]", out, re.MULTILINE), out
    assert re.search(r"version `GLIBC_2\.3\d' not found", out), out
    assert re.search(r"^forced: 1$", out, re.MULTILINE), out


# --------------------------------------------------------------------------------------------
# Keep-going: the summary and report of docker mode are those of native mode.

FAILING_311 = """
function run_tests {
    if [ "$MB_PYTHON_VERSION" = 3.11 ]; then echo "deliberate failure for 3.11"; exit 1; fi
    python -c 'import glibcver; print("run_tests ok", glibcver.libc_version())'
}
"""


@dataclass
class Index:
    url: str
    log: Path


@pytest.fixture(scope="module")
def loopback_index(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Index]:
    """A package index on 127.0.0.1 (pypiserver) with what the keep-going runs install in the
    build image's CPython 3.9 and 3.11: containers with --network host reach it as the host
    does."""
    base = tmp_path_factory.mktemp("index")
    packages = base / "packages"
    from multibuild.build.debimage import pinned_tools
    from multibuild.build.docker import CONTAINER_TOOLS, SEED_PACKAGES

    # The tools run with the image's newest CPython (3.11); both build and test there.
    tools = pinned_tools(CONTAINER_TOOLS["build"], REPO_ROOT / "pyproject.toml")
    prepare(tools, WheelTarget("3.11", (2, 31)), packages, say=False)
    for python in ("3.9", "3.11"):
        prepare(SEED_PACKAGES, WheelTarget(python, (2, 31)), packages, say=False)
    log = base / "pypiserver.log"
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "pypiserver", "run", "-p", str(port),
                               "-i", "127.0.0.1", "-a", ".", "-P", ".", "--disable-fallback",
                               "-v", "--log-file", str(log), "--log-stream", "none",
                               str(packages)], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/simple/"
    deadline = time.monotonic() + 30
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2):
                break
        except OSError:
            if time.monotonic() > deadline or server.poll() is not None:
                server.kill()
                pytest.fail("pypiserver did not start")
            time.sleep(0.2)
    yield Index(url, log)
    server.kill()
    server.wait()


@pytest.fixture(scope="module")
def keep_going(tmp_path_factory: pytest.TempPathFactory, docker_engine: Any,
               docker_images: dict[str, str], pythons: dict[str, Path],
               loopback_index: Index) -> tuple[Run, Run]:
    """The same failing-3.11 job in docker mode (test image: the build image, which has both
    Pythons; --network host, packages from the loopback index) and natively."""
    if not {"3.9", "3.11"} <= set(pythons):
        pytest.skip("needs CPython 3.9 and 3.11 on the host for the native run")
    runs = []
    for mode in ("docker", "native"):
        base = tmp_path_factory.mktemp(f"keepgoing-{mode}")
        root, upstream = make_wheels_repo(base, FAILING_311)
        (root / "env_vars.sh").write_text("BUILD_DEPENDS=\"setuptools wheel\"\n")
        if mode == "docker":
            env = docker_env(docker_engine, docker_images, MB_DOCKER_NETWORK="host",
                             DOCKER_TEST_IMAGE=docker_images["build-bullseye"],
                             PIP_INDEX_URL=loopback_index.url, UV_INDEX_URL=loopback_index.url,
                             PIP_CONFIG_FILE="/dev/null", MANYLINUX_URL="")
        else:
            env = tool_env({"MB_BUILD_MODE": "native", "USE_CCACHE": "0",
                            "MB_TOOL_VENV": str(REPO_ROOT / ".venv")})
        runs.append(wheels_build(root, upstream, env, pythons="3.9,3.11"))
    return runs[0], runs[1]


def _shape(run: Run) -> dict[str, Any]:
    """What a keep-going run tells: exit, verdict lines, report outcome per target."""
    report = run.report()
    verdicts = sorted(re.sub(r" in \d+s$", "", line) for line in run.proc.stdout.splitlines()
                      if re.match(r"^\[cp3\d+-linux-x86_64\] (passed|FAILED)", line))
    return {
        "status": run.proc.returncode,
        "verdicts": verdicts,
        "last_line": run.proc.stderr.strip().splitlines()[-1],
        "summary": report["summary"], "passed": report["passed"],
        "targets": [(t["id"], t["result"], t["failed_step"], [s["name"] for s in t["steps"]],
                     len(t["wheels"]), "deliberate failure for 3.11" in t["failure_tail"])
                    for t in report["targets"]],
        "staged": len(list((run.root / "wheelhouse").glob("*.whl"))),
    }


def test_keep_going_summary_and_report_are_the_same_as_native(
    keep_going: tuple[Run, Run], loopback_index: Index,
) -> None:
    docker, native = keep_going
    assert "--network host" in docker.log and "docker: test in mb-debian/build-bullseye" in \
        docker.log, docker.log[-4000:]
    assert _shape(docker) == _shape(native)
    assert _shape(docker)["status"] == 1 and _shape(docker)["staged"] == 1
    assert "run_tests ok 2.31" in docker.log  # the passing target tested in the container
    # The containers installed from the loopback index through the host's network.
    served = loopback_index.log.read_text()
    assert re.search(r"/packages/.*uv-[\d.]+-py3-none-manylinux", served), served[-2000:]


# --------------------------------------------------------------------------------------------
# Signals, a missing image, auto mode.

SLOW = """
function pre_build {
    sleep 300 &
    echo $! > "$MB_WORK_DIR/marker.pid"
    wait $!
}
"""


@pytest.fixture(scope="module")
def slow_repo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, FixtureRepo]:
    """A wheels repository whose pre_build waits (one for both signals: the second run reuses
    the prepared wheels and the containers' tool environments)."""
    return make_wheels_repo(tmp_path_factory.mktemp("slow"), SLOW)


@pytest.mark.parametrize("signum,status", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_signal_stops_the_containers_and_the_report_says_interrupted(
    slow_repo: tuple[Path, FixtureRepo], docker_engine: Any, docker_images: dict[str, str],
    signum: int, status: int,
) -> None:
    root, upstream = slow_repo
    env = docker_env(docker_engine, docker_images)
    proc = subprocess.Popen(build_args(root, upstream), cwd=root, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)
    marker = root / "build" / "default" / TARGET / "marker.pid"
    deadline = time.monotonic() + 300
    while not (marker.is_file() and containers_of(docker_engine, root)):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            out, err = proc.communicate()
            pytest.fail(f"pre_build never started in a container:\n{out[-3000:]}{err}")
        time.sleep(0.2)
    proc.send_signal(signum)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == status, out[-3000:] + err
    assert containers_of(docker_engine, root) == []  # docker ps: none left, running or not
    report = json.loads((root / "wheelhouse" / "report.json").read_text())
    assert report["interrupted"] is True
    assert [t["result"] for t in report["targets"]] == ["interrupted"]
    assert f"interrupted by {signal.Signals(signum).name}" in err


def test_a_missing_image_is_one_line_naming_it(tmp_path: Path, docker_engine: Any) -> None:
    """An image neither here nor pullable (a registry on a closed loopback port): one line,
    exit 2, before anything is built; the same from the shell steps CI runs."""
    root, upstream = make_wheels_repo(tmp_path)
    image = f"127.0.0.1:{free_port()}/mb-test/missing:1"
    env = tool_env({**docker_engine.env(), "MB_BUILD_MODE": "docker", "DOCKER_IMAGE": image,
                    "MB_TOOL_VENV": str(REPO_ROOT / ".venv")})
    run = wheels_build(root, upstream, env)
    assert run.proc.returncode == 2, run.log
    (line,) = run.proc.stderr.strip().splitlines()
    assert line.startswith(f"error: docker image {image} is not on this machine and cannot be "
                           "pulled: "), line
    assert not (root / "wheelhouse").exists() and not (root / "build").exists()
    shell = subprocess.run(
        ["bash", "-c", "source multibuild/common_utils.sh && source multibuild/travis_steps.sh "
         "&& build_wheel glibcver x86_64"], cwd=root, env={**env, "MB_PYTHON_VERSION": "3.9"},
        capture_output=True, text=True, timeout=120, check=False)
    assert shell.returncode != 0
    assert shell.stderr.strip().splitlines()[-1].startswith(f"error: docker image {image} is "
                                                            "not on this machine"), shell.stderr


def test_auto_mode_follows_the_engine_and_the_suite_sets_its_mode(docker_engine: Any) -> None:
    """MB_BUILD_MODE=auto is docker when the engine DOCKER_HOST names answers, native when
    none does; every other test sets the mode explicitly, whatever answers."""
    def mode(**env: str) -> str:
        done = subprocess.run([sys.executable, "-m", "multibuild.build.docker", "mode"],
                              env=tool_env({"MB_BUILD_MODE": "auto", **env}), cwd=REPO_ROOT,
                              capture_output=True, text=True, check=True)
        return done.stdout.strip()

    assert mode(**docker_engine.env()) == "docker"
    assert mode(DOCKER_HOST="unix:///nonexistent/docker.sock") == "native"
    assert tool_env(docker_engine.env())["MB_BUILD_MODE"] == os.environ.get(
        "MB_TEST_BUILD_MODE", "native")
