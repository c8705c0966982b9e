"""Docker mode up to the boundary: the exact docker run command lines it would execute."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest
from conftest import REPO_ROOT, run_shell

from multibuild import MultibuildError
from multibuild.docker import build_command, build_mode
from multibuild.docker import test_command as docker_test_command


def env_of(command: list[str]) -> dict[str, str]:
    pairs = [command[i + 1] for i, a in enumerate(command) if a == "-e"]
    return dict(p.split("=", 1) for p in pairs)


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
