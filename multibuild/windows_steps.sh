#!/usr/bin/env bash
# Windows CI steps, sourced by travis_steps.sh under Git bash (MINGW/MSYS/CYGWIN); the
# project's env_vars.sh and config.sh follow. build_wheel is the library's (pip wheel, then
# repair_wheelhouse: delvewheel repair --add-path MB_DLL_PATH, which config.sh's pre_build
# gets from build_openblas); install_run is the library's with a Windows test environment.
_mb_win_steps_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=multibuild/windows_utils.sh
source "$_mb_win_steps_dir/windows_utils.sh"
unset _mb_win_steps_dir

function before_install {
    # Build environment of MB_PYTHON_VERSION for PLAT in MB_WORK_DIR/venv.
    [ -z "${MB_PYTHON_VERSION:-}" ] && { mb_error "before_install: MB_PYTHON_VERSION is not set"; return 1; }
    mb_windows_venv "${MB_WORK_DIR:-build}/venv"
}

mb_source_project || return 1
