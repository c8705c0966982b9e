"""Docker mode's command lines and decisions, without an engine (MB_DOCKER_DRY_RUN=1 and the
functions behind it); tests/build/test_docker_engine.py runs them in real containers."""

from __future__ import annotations

import os
import shlex
from pathlib import Path

import pytest
from conftest import REPO_ROOT, run_shell, run_wheels

from multibuild import MultibuildError
from multibuild.build.docker import (
    auditwheel_plat,
    build_command,
    build_mode,
    parse_facts,
    pull_policy,
)
from multibuild.build.docker import test_command as docker_test_command
from multibuild.build.findlinks import WheelTarget, stamp_key


def env_of(command: list[str]) -> dict[str, str | None]:
    """The ``-e NAME=value`` pairs (``-e NAME``, handed by name, maps to None)."""
    pairs = [command[i + 1].partition("=") for i, a in enumerate(command) if a == "-e"]
    return {name: value if sep else None for name, sep, value in pairs}


def image_of(command: list[str]) -> str:
    return next(a for a in command if a.startswith(("quay.io/", "multibuild/", "my/")))


@pytest.fixture
def root(tmp_path: Path) -> Path:
    (tmp_path / "env_vars.sh").write_text("export OPENBLAS_VERSION=0.3.30\nMY_FLAG=on\n")
    (tmp_path / "env_vars32.sh").write_text("export NPY_USE_BLAS_ILP64=\n")
    return tmp_path


@pytest.mark.parametrize("plat,ml_ver,image", [
    ("x86_64", "2014", "quay.io/pypa/manylinux2014_x86_64"),
    ("x86_64", "_2_28", "quay.io/pypa/manylinux_2_28_x86_64"),
    ("aarch64", "_2_28", "quay.io/pypa/manylinux_2_28_aarch64"),
    ("i686", "2014", "quay.io/pypa/manylinux2014_i686"),
])
def test_build_command_image_mounts_and_environment(root: Path, plat: str, ml_ver: str,
                                                    image: str) -> None:
    environ = {"MB_PYTHON_VERSION": "3.12", "MB_ML_VER": ml_ver, "BUILD_COMMIT": "v1.2.3",
               "REPO_DIR": "numpy", "HOME": "/home/rm", "UNRELATED_SECRET": "x"}
    cmd = build_command(plat, "build_wheel numpy", environ, root)
    assert cmd[:3] == ["docker", "run", "--rm"]
    assert image_of(cmd) == image
    assert cmd[-1] == "/io/multibuild/docker_build_wrap.sh"
    assert f"{root}:/io" in cmd and "/home/rm:/parent-home" in cmd
    env = env_of(cmd)
    assert env["BUILD_COMMANDS"] == "build_wheel numpy"
    assert env["PLAT"] == plat and env["MB_PYTHON_VERSION"] == "3.12"
    assert env["PYTHON_VERSION"] == "3.12" and env["BUILD_COMMIT"] == "v1.2.3"
    assert "UNRELATED_SECRET" not in env


def test_env_vars_sh_variables_are_handed_in(root: Path) -> None:
    environ = {"OPENBLAS_VERSION": "0.3.30", "MY_FLAG": "on", "PLAT": "x86_64"}
    env = env_of(build_command("x86_64", "true", environ, root))
    assert env["OPENBLAS_VERSION"] == "0.3.30" and env["MY_FLAG"] == "on"
    # The 32-bit variant declares its own variables.
    env32 = env_of(build_command("i686", "true", {"ENV_VARS_PATH": "env_vars32.sh",
                                                  "NPY_USE_BLAS_ILP64": ""}, root))
    assert env32["NPY_USE_BLAS_ILP64"] == "" and env32["ENV_VARS_PATH"] == "env_vars32.sh"


def test_host_paths_under_the_repository_become_io_paths(root: Path, tmp_path: Path) -> None:
    environ = {"WHEEL_SDIR": str(root / "build" / "t" / "wheelhouse")}
    env = env_of(build_command("x86_64", "true", environ, root))
    assert env["WHEEL_SDIR"] == "/io/build/t/wheelhouse"
    with pytest.raises(MultibuildError, match="outside the repository"):
        build_command("x86_64", "true", {"WHEEL_SDIR": "/elsewhere/wh"}, root)


def test_custom_images_and_test_image_arch_names(root: Path) -> None:
    cmd = build_command("aarch64", "true", {"DOCKER_IMAGE": "my/image_$plat"}, root)
    assert image_of(cmd) == "my/image_aarch64"
    test = docker_test_command("aarch64", {"MB_PYTHON_VERSION": "3.11"}, root)
    assert image_of(test) == "multibuild/focal_arm64v8"
    assert test[-3:] == ["bash", "/io/multibuild/docker_test_wrap.sh", "aarch64"]
    custom = docker_test_command("x86_64", {"DOCKER_TEST_IMAGE": "my/test_{PLAT}"}, root)
    assert image_of(custom) == "my/test_x86_64"
    with pytest.raises(MultibuildError, match="unsupported platform 'sparc'"):
        docker_test_command("sparc", {}, root)


def test_mode_selection() -> None:
    assert build_mode({"MB_BUILD_MODE": "docker"}) == "docker"
    assert build_mode({"MB_BUILD_MODE": "native"}) == "native"
    with pytest.raises(MultibuildError, match="MB_BUILD_MODE"):
        build_mode({"MB_BUILD_MODE": "podman"})


def test_shell_steps_in_docker_mode_run_the_exact_commands() -> None:
    """The CI steps, sourced as on CI with docker mode, print what they would run."""
    env = {"MB_BUILD_MODE": "docker", "MB_DOCKER_DRY_RUN": "1", "MB_PYTHON_VERSION": "3.12",
           "MB_ML_VER": "2014", "BUILD_COMMIT": "v2.0.0", "HOME": "/home/rm"}
    done = run_shell(
        "source multibuild/travis_steps.sh && build_wheel numpy aarch64 && install_run aarch64",
        env=env,
    )
    assert done.returncode == 0, done.stderr
    build_line, test_line = done.stdout.strip().splitlines()[-2:]
    build = shlex.split(build_line)
    assert image_of(build) == "quay.io/pypa/manylinux2014_aarch64"
    assert env_of(build)["BUILD_COMMANDS"] == "build_wheel numpy"
    # The shipped env_vars.sh is part of the handed environment.
    assert env_of(build)["OPENBLAS_VERSION"]
    assert f"{REPO_ROOT}:/io" in build
    test = shlex.split(test_line)
    assert image_of(test) == "multibuild/focal_arm64v8"
    assert env_of(test)["MB_PYTHON_VERSION"] == "3.12"


def test_containers_get_no_network_of_their_own(root: Path) -> None:
    """--network none by default, with the host's prepared wheels mounted read-only and pip
    and uv told to use only them; --network host on request; nothing else is accepted."""
    cmd = build_command("x86_64", "true", {}, root)
    assert cmd[cmd.index("--network") + 1] == "none"
    links = root / "build" / "cache" / "docker-wheels"
    assert f"{links}:/mb/find-links:ro" in cmd
    env = env_of(cmd)
    assert (env["PIP_NO_INDEX"], env["PIP_FIND_LINKS"]) == ("1", "/mb/find-links")
    assert (env["UV_OFFLINE"], env["UV_FIND_LINKS"]) == ("1", "/mb/find-links")
    secret = "https://user:s3cret@127.0.0.1:1/simple"
    host = build_command("x86_64", "true", {"MB_DOCKER_NETWORK": "host",
                                            "PIP_INDEX_URL": secret}, root)
    assert host[host.index("--network") + 1] == "host"
    assert "PIP_NO_INDEX" not in env_of(host) and not any("/mb/find-links" in a for a in host)
    # The index reaches the container by name: its value (a credential) is not in argv.
    assert env_of(host)["PIP_INDEX_URL"] is None and not any("s3cret" in a for a in host)
    for bad in ("bridge", "mynet", "container:x"):
        with pytest.raises(MultibuildError, match=f"MB_DOCKER_NETWORK='{bad}'"):
            build_command("x86_64", "true", {"MB_DOCKER_NETWORK": bad}, root)
    with pytest.raises(MultibuildError, match="MB_DOCKER_PULL='sometimes'"):
        pull_policy({"MB_DOCKER_PULL": "sometimes"})


def test_repo_dir_is_relative_and_run_tests_gets_its_own_tmp_for_test(root: Path) -> None:
    """REPO_DIR reaches the containers relative to /io, so run_tests, run from
    /io/tmp_for_test (the target's own directory mounted there), reaches ../$REPO_DIR."""
    work = root / "build" / "cp39-linux-x86_64"
    environ = {"REPO_DIR": str(work / "src" / "proj"), "MB_WORK_DIR": str(work)}
    env = env_of(docker_test_command("x86_64", environ, root))
    assert env["REPO_DIR"] == "build/cp39-linux-x86_64/src/proj"
    assert env["MB_WORK_DIR"] == "/io/build/cp39-linux-x86_64"
    test = docker_test_command("x86_64", environ, root)
    assert f"{work / 'tmp_for_test'}:/io/tmp_for_test" in test
    # Containers are stopped by the init process's signal to the whole step (TINI), carry the
    # repository's label, and get the invoking user's ids and umask.
    assert "--init" in test and env["TINI_KILL_PROCESS_GROUP"] == "1"
    assert f"io.multibuild.root={root}" in test
    assert env["MB_HOST_UID"] == str(os.getuid()) and len(env["MB_UMASK"]) == 4


def test_build_wheel_hands_the_container_a_relative_quoted_repo_dir(tmp_path: Path) -> None:
    env = {"MB_BUILD_MODE": "docker", "MB_DOCKER_DRY_RUN": "1", "MB_PYTHON_VERSION": "3.12"}
    done = run_shell(f'source multibuild/travis_steps.sh && build_wheel "{REPO_ROOT}/a dir" '
                     "x86_64", env=env)
    assert done.returncode == 0, done.stderr
    build = shlex.split(done.stdout.strip().splitlines()[-1])
    assert env_of(build)["BUILD_COMMANDS"] == "build_wheel a\\ dir"
    outside = run_shell(f"source multibuild/travis_steps.sh && build_wheel {tmp_path} x86_64",
                        env=env)
    assert outside.returncode != 0
    assert outside.stderr.strip().splitlines()[-1] == (
        f"error: {tmp_path} is outside the repository {REPO_ROOT}; a container cannot see it")


def test_auditwheel_policy_follows_mb_ml_ver() -> None:
    assert auditwheel_plat("x86_64", {}) == "manylinux_2_28_x86_64"
    assert auditwheel_plat("i686", {"MB_ML_VER": "2014"}) == "manylinux2014_i686"
    assert auditwheel_plat("aarch64", {"MB_ML_VER": "_1_2", "MB_ML_LIBC": "musllinux"}) == \
        "musllinux_1_2_aarch64"


def test_wheel_targets_of_a_container() -> None:
    """The tags the host downloads wheels for, and uv's name of the target."""
    bullseye = WheelTarget("3.9", (2, 31), "x86_64")
    tags = bullseye.platforms()
    assert tags[0] == "manylinux_2_31_x86_64" and tags[-1] == "linux_x86_64"
    assert {"manylinux2014_x86_64", "manylinux2010_x86_64", "manylinux1_x86_64",
            "manylinux_2_5_x86_64"} <= set(tags)
    assert "manylinux_2_32_x86_64" not in tags
    assert bullseye.uv_platform() == "x86_64-manylinux_2_31"
    assert WheelTarget("3.12", (2, 28), "aarch64").uv_platform() == "aarch64-manylinux_2_28"
    assert WheelTarget("3.12", (2, 30), "x86_64").uv_platform() == "x86_64-manylinux_2_28"
    assert WheelTarget("3.12", (2, 17), "x86_64").uv_platform() == "x86_64-manylinux2014"
    assert "manylinux2010_ppc64le" not in WheelTarget("3.9", (2, 17), "ppc64le").platforms()
    assert stamp_key(["b", "a", "a"], bullseye) == stamp_key(["a", "b"], bullseye)
    assert stamp_key(["a"], bullseye) != stamp_key(["a"], WheelTarget("3.10", (2, 31)))


def test_image_facts_from_the_probe() -> None:
    facts = parse_facts("sha256:abc", "arch=x86_64\nglibc=2.31\ntool_python=/opt/python/"
                        "cp311-cp311/bin/python\ntool_version=3.11\npythons=3.9 3.11 \n")
    assert facts.pythons == ("3.9", "3.11") and facts.wheel_target("3.9").glibc == (2, 31)
    musl = parse_facts("sha256:abc", "arch=x86_64\nglibc=\ntool_python=/usr/bin/python3\n"
                       "tool_version=3.12\npythons=3.12\n")
    with pytest.raises(MultibuildError, match="MB_DOCKER_NETWORK=host"):
        musl.wheel_target("3.12")
    with pytest.raises(MultibuildError, match="no tool_python"):
        parse_facts("sha256:abc", "arch=x86_64\n")


@pytest.mark.parametrize("extra,args,message", [
    ({"MB_DOCKER_NETWORK": "bridge"}, [], "error: MB_DOCKER_NETWORK='bridge': use none"),
    ({"MB_DOCKER_PULL": "sometimes"}, [], "error: MB_DOCKER_PULL='sometimes': expected one of"),
    ({}, ["--work-dir", "{tmp}/work"], "error: --work-dir {tmp}/work: docker mode needs it "
     "inside the repository"),
])
def test_docker_mode_settings_are_checked_before_anything_runs(
    tmp_path: Path, extra: dict[str, str], args: list[str], message: str,
) -> None:
    """One line, exit 2, nothing built or staged: before any image is looked at."""
    argv = [a.format(tmp=tmp_path) for a in args]
    done = run_wheels(["build", "--output", str(tmp_path / "out"), *argv],
                      {"MB_BUILD_MODE": "docker", "DOCKER_HOST": "unix:///nonexistent", **extra})
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.strip().splitlines() == [done.stderr.strip()]
    assert done.stderr.startswith(message.format(tmp=tmp_path)), done.stderr
    assert not (tmp_path / "out").exists() and not (tmp_path / "work").exists()
