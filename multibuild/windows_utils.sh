#!/usr/bin/env bash
# Windows utilities of the multibuild library (run by Git bash on AppVeyor and Azure): the
# CI's interpreter for MB_PYTHON_VERSION and PLAT (win32, win_amd64), virtual environments
# in Windows layout, and the delvewheel command line. Decisions live in multibuild/build/windows.py;
# sourcing this file runs no Windows tool, so its decisions can be tested anywhere.
_mb_win_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
if [ -z "$(declare -Ff mb_python)" ]; then
    # shellcheck source=multibuild/common_utils.sh
    source "$_mb_win_dir/common_utils.sh"
fi
unset _mb_win_dir

function mb_posix_path {
    # A Windows path in Git bash's spelling (C:\x -> /c/x) when cygpath exists, else as given.
    if command -v cygpath > /dev/null 2>&1; then cygpath -u "$1"; else echo "$1"; fi
}

function get_windows_python {
    # Print the CI's CPython VERSION for PLAT: get_windows_python VERSION [PLAT]
    # MB_PYTHON_EXE, C:\PythonXY[-x64] (AppVeyor), the tool cache (Azure, GitHub), py -X.Y-NN.
    local version=$1 plat=${2:-${PLAT:-win_amd64}} found
    [ -z "$version" ] && { mb_error "get_windows_python: no Python version given"; return 1; }
    found=$(mb_python build.windows find "$version" --plat "$plat") || return 1
    mb_posix_path "$found"
}

function windows_venv_python {
    # The interpreter of a Windows virtual environment: windows_venv_python DIR
    echo "$1/Scripts/python.exe"
}

function mb_windows_venv {
    # Fresh environment of MB_PYTHON_VERSION for PLAT in DIR, activated: mb_windows_venv DIR
    local dir base
    base=$(get_windows_python "${MB_PYTHON_VERSION:-}" "${PLAT:-win_amd64}") || return 1
    dir=$(abspath "$1")
    mb_make_venv "$base" "$dir" || return 1
    export VIRTUAL_ENV=$dir PATH="$dir/Scripts:$PATH"
    PYTHON_EXE=$(windows_venv_python "$dir")
    export PYTHON_EXE PIP_CMD="$PYTHON_EXE -m pip"
    echo "windows: Python ${MB_PYTHON_VERSION:-} ($PLAT) from $base in $dir"
}

function delvewheel_repair_cmd {
    # Print the delvewheel command that repairs WHEEL into DEST (--add-path MB_DLL_PATH, the
    # OpenBLAS DLL directory from build_openblas): delvewheel_repair_cmd WHEEL DEST
    mb_python build.windows delvewheel "$1" "$2"
}

function mb_test_venv {
    # Make a fresh test environment of MB_PYTHON_VERSION and activate it.
    mb_windows_venv "${MB_WORK_DIR:-build}/test-venv"
}
