#!/usr/bin/env bash
# macOS CI steps (multibuild's names), sourced by travis_steps.sh on Darwin; the project's
# env_vars.sh and config.sh follow. PLAT is x86_64, arm64 or universal2; a universal2 build
# builds, repairs and fuses the two thin wheels (pre_build runs once per thin PLAT, so
# per-architecture libraries such as OpenBLAS come right).
_mb_osx_steps_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=multibuild/osx_utils.sh
source "$_mb_osx_steps_dir/osx_utils.sh"
unset _mb_osx_steps_dir

function before_install {
    # Build environment of MB_PYTHON_VERSION for PLAT in MB_WORK_DIR/venv.
    [ -z "${MB_PYTHON_VERSION:-}" ] && { mb_error "before_install: MB_PYTHON_VERSION is not set"; return 1; }
    get_macpython_environment "$MB_PYTHON_VERSION" "${MB_WORK_DIR:-build}/venv" "${PLAT:-x86_64}"
}

function build_universal2_wheel {
    # Build, repair and fuse the thin wheels of REPO_DIR: build_universal2_wheel [REPO_DIR]
    local repo_dir=${1:-${REPO_DIR:-}} wheelhouse arch
    [ -z "$repo_dir" ] && { mb_error "build_universal2_wheel: REPO_DIR is not set"; return 1; }
    wheelhouse=$(abspath "$WHEEL_SDIR")
    for arch in x86_64 arm64; do
        rm -rf "$wheelhouse/.thin-$arch"
        (cd "$repo_dir" && git clean -fxdq 2>/dev/null || true)
        PLAT=$arch WHEEL_SDIR="$wheelhouse/.thin-$arch" build_pip_wheel "$repo_dir" \
            || { mb_error "build_universal2_wheel: the $arch build failed"; return 1; }
    done
    fuse_macos_universal2 "$wheelhouse/.thin-x86_64" "$wheelhouse/.thin-arm64" "$wheelhouse" \
        || return 1
    rm -rf "$wheelhouse/.thin-x86_64" "$wheelhouse/.thin-arm64"
}

function build_wheel {
    # Default wheel build: build_wheel [REPO_DIR [PLAT]]. config.sh may override.
    local repo_dir=${1:-${REPO_DIR:-}} plat=${2:-${PLAT:-x86_64}}
    if [ "$plat" == universal2 ]; then
        build_universal2_wheel "$repo_dir"
    else
        PLAT=$plat build_pip_wheel "$repo_dir"
    fi
}

mb_source_project || return 1
