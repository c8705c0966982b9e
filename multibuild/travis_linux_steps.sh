#!/usr/bin/env bash
# Linux CI steps, in one of two modes (MB_BUILD_MODE):
#   docker - build in a manylinux image, test in DOCKER_TEST_IMAGE (what CI uses);
#   native - the same steps on this host, with an interpreter found on the machine.
# Default (auto): docker when a docker daemon answers, else native.
# Sourced by travis_steps.sh; the project's env_vars.sh always follows, and in native mode
# config.sh too (in docker mode config.sh is sourced inside the containers).

case "${MB_BUILD_MODE:-}" in
    native|docker) ;;  # ./wheels resolves auto once per run
    *) MB_BUILD_MODE=$(mb_python build.docker mode) || return 1 ;;
esac
export MB_BUILD_MODE
# The C library flavour of the build, as multibuild hands it into the build container (and so
# into pre_build): manylinux, or musllinux on a musl host (Alpine) in native mode.
if [ -z "${MB_ML_LIBC:-}" ]; then
    if [ "$MB_BUILD_MODE" == native ] && ldd --version 2>&1 | grep -qi musl; then
        MB_ML_LIBC=musllinux
    else
        MB_ML_LIBC=manylinux
    fi
fi
export MB_ML_LIBC

function mb_native_before_install {
    # Build interpreter MB_PYTHON_VERSION in a virtual environment under MB_WORK_DIR, reused
    # while its interpreter and build requirements are unchanged (mb_build_venv); exports
    # PYTHON_EXE and PIP_CMD and puts the environment first on PATH.
    [ -z "${MB_PYTHON_VERSION:-}" ] && { mb_error "before_install: MB_PYTHON_VERSION is not set"; return 1; }
    local base venv
    base=$(mb_base_python "$MB_PYTHON_VERSION") || return 1
    venv=$(abspath "${MB_WORK_DIR:-build}/venv")
    mb_build_venv "$base" "$venv" || return 1
    export VIRTUAL_ENV=$venv PATH="$venv/bin:$PATH" PYTHON_EXE="$venv/bin/python"
    PIP_CMD=$(mb_venv_pip_cmd "$PYTHON_EXE")
    export PIP_CMD
    echo "before_install: Python $MB_PYTHON_VERSION from $base in $venv ($MB_VENV_STATE)"
}

function before_install {
    # Prepare the build interpreter (native) or the host tools (docker mode).
    if [ "$MB_BUILD_MODE" == docker ]; then
        [ -n "${MB_TOOL_PYTHON:-}" ] || mb_bootstrap_tools "$MB_ROOT" || return 1
        export PYTHON_EXE=$MB_TOOL_PYTHON PIP_CMD="$MB_TOOL_PYTHON -m pip"
    else
        mb_native_before_install
    fi
}

function build_multilinux {
    # Run build commands in the manylinux container: build_multilinux PLAT COMMANDS
    local plat=$1 commands=$2
    [ -z "$plat" ] && { mb_error "build_multilinux: PLAT is not set"; return 1; }
    mb_handed_env mb_python build.docker build "$plat" "$commands"
}

if [ "$MB_BUILD_MODE" == docker ]; then
    function build_wheel {
        # Build (and repair) in the manylinux container: build_wheel [REPO_DIR [PLAT]]
        local repo_dir=${1:-${REPO_DIR:-}}
        [ -z "$repo_dir" ] && { mb_error "build_wheel: REPO_DIR is not set"; return 1; }
        repo_dir=$(mb_root_relative "$repo_dir") || return 1
        # BUILD_COMMANDS is shell run in the container: the value goes in quoted (printf %q).
        build_multilinux "${2:-${PLAT:-x86_64}}" "build_wheel $(printf '%q' "$repo_dir")"
    }

    function build_index_wheel {
        # Build SPEC from the index in the manylinux container: build_index_wheel SPEC [PLAT]
        local spec=$1
        [ -z "$spec" ] && { mb_error "build_index_wheel: no project spec given"; return 1; }
        build_multilinux "${2:-${PLAT:-x86_64}}" "build_index_wheel $(printf '%q' "$spec")"
    }

    function install_run {
        # Install and test in DOCKER_TEST_IMAGE: install_run [PLAT]
        mb_handed_env mb_python build.docker test "${1:-${PLAT:-x86_64}}"
    }
elif [ -z "${MB_IN_TEST_ENV:-}" ]; then
    function install_run {
        # Test in a clean process that gets only the declared environment, as a test
        # container would: nothing exported by pre_build leaks into the tests.
        mb_handed_env mb_python core.environment exec -- \
            bash "$MULTIBUILD_DIR/docker_test_wrap.sh" "${1:-${PLAT:-x86_64}}"
    }
fi

if [ -n "${ENV_VARS_PATH:-}" ] || [ -r env_vars.sh ]; then
    if [ "$MB_BUILD_MODE" == docker ]; then
        # shellcheck disable=SC1090
        source "${ENV_VARS_PATH:-env_vars.sh}" || return 1
    fi
fi
if [ "$MB_BUILD_MODE" == native ]; then
    # Native mode builds here what docker mode builds in the manylinux container, whose shell
    # has manylinux_utils.sh (yum_install, ...) before env_vars.sh and config.sh.
    # shellcheck source=multibuild/manylinux_utils.sh
    source "$MULTIBUILD_DIR/manylinux_utils.sh" || return 1
    mb_source_project || return 1
fi
