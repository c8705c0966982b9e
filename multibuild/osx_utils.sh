#!/usr/bin/env bash
# macOS utilities of the multibuild library (multibuild's names): python.org interpreters, the
# architecture flags of PLAT (x86_64, arm64, universal2), and universal2 fusion.
# Decisions live in multibuild/macos.py; this file runs no macOS tool when sourced, so it can be
# sourced (and its decisions tested) anywhere.
_mb_osx_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
if [ -z "$(declare -Ff mb_python)" ]; then
    # shellcheck source=multibuild/common_utils.sh
    source "$_mb_osx_dir/common_utils.sh"
fi
unset _mb_osx_dir

function pyinst_fname_for_version {
    # File name of the python.org installer of VERSION (X.Y or X.Y.Z):
    # pyinst_fname_for_version 3.12 -> python-3.12.10-macos11.pkg
    mb_python macos installer "${1:?pyinst_fname_for_version: no version given}"
}

function macpython_installer_url {
    # Download address of the python.org installer of VERSION.
    mb_python macos installer --url "${1:?macpython_installer_url: no version given}"
}

function macos_arch_flags {
    # Export MACOSX_DEPLOYMENT_TARGET, ARCHFLAGS, CFLAGS, CXXFLAGS, LDFLAGS,
    # _PYTHON_HOST_PLATFORM and CMAKE_OSX_ARCHITECTURES for PLAT: macos_arch_flags [PLAT]
    # MACOSX_DEPLOYMENT_TARGET, when already set, is kept (and checked).
    local plat=${1:-${PLAT:-}} exports
    [ -z "$plat" ] && { mb_error "macos_arch_flags: PLAT is not set"; return 1; }
    exports=$(mb_python macos flags "$plat") || return 1
    eval "$exports"
}

function install_macpython {
    # Install python.org's CPython VERSION (needs sudo): install_macpython VERSION
    # The package is checked before it is installed: MB_PYTHON_PKG_SHA256 when given, and
    # always Apple's signature check for the Python Software Foundation's installer identity.
    local version=$1 name url cache pkg
    name=$(pyinst_fname_for_version "$version") || return 1
    url=$(macpython_installer_url "$version") || return 1
    cache=${MB_DOWNLOADS:-${MB_WORK_DIR:-build}/downloads}
    mkdir -p "$cache"
    pkg="$cache/$name"
    if [ ! -f "$pkg" ]; then
        retry curl -fsSL --max-time 600 -o "$pkg.part" "$url" || {
            rm -f "$pkg.part"; mb_error "install_macpython: download failed: $url"; return 1; }
        mv "$pkg.part" "$pkg"
    fi
    if [ -n "${MB_PYTHON_PKG_SHA256:-}" ]; then
        check_sha256sum "$pkg" "$MB_PYTHON_PKG_SHA256" || return 1
    fi
    if ! pkgutil --check-signature "$pkg" | grep -q "Python Software Foundation"; then
        mb_error "install_macpython: $name is not signed by the Python Software Foundation"
        return 1
    fi
    sudo installer -pkg "$pkg" -target / || { mb_error "install_macpython: installer failed"; return 1; }
}

function get_macpython_interpreter {
    # Print the path of CPython VERSION for PLAT: the CI's tool cache or the python.org
    # framework, installing python.org's package when neither has it.
    local version=$1 plat=${2:-${PLAT:-x86_64}} found
    if found=$(mb_python macos find "$version" --plat "$plat" 2>/dev/null); then
        echo "$found"
        return 0
    fi
    install_macpython "$version" >&2 || return 1
    mb_python macos find "$version" --plat "$plat"
}

function get_macpython_environment {
    # Make a fresh virtual environment of CPython VERSION in VENV_DIR and activate it:
    # get_macpython_environment VERSION VENV_DIR [PLAT]. Exports PYTHON_EXE and PIP_CMD.
    local version=$1 venv=$2 plat=${3:-${PLAT:-x86_64}} base
    [ -z "$version" ] && { mb_error "get_macpython_environment: no Python version given"; return 1; }
    [ -z "$venv" ] && { mb_error "get_macpython_environment: no environment directory given"; return 1; }
    base=$(get_macpython_interpreter "$version" "$plat") || return 1
    venv=$(abspath "$venv")
    mb_make_venv "$base" "$venv" || return 1
    export VIRTUAL_ENV=$venv PATH="$venv/bin:$PATH" PYTHON_EXE="$venv/bin/python"
    export PIP_CMD="$PYTHON_EXE -m pip"
    echo "get_macpython_environment: Python $version ($plat) from $base in $venv"
}

function wrap_wheel_builder {
    # Run a wheel builder with the compiler settings of PLAT, in a subshell:
    # wrap_wheel_builder BUILDER ARGS...
    (macos_arch_flags "${PLAT:-}" && "$@")
}

function fuse_macos_universal2 {
    # Fuse each thin x86_64 wheel of X86_DIR with its arm64 twin of ARM_DIR into OUT_DIR
    # (delocate-merge; every binary of the result is checked to hold both architectures):
    # fuse_macos_universal2 X86_DIR ARM_DIR OUT_DIR
    local x86_dir=$1 arm_dir=$2 out_dir=$3 wheel twin stem count=0
    for wheel in "$x86_dir"/*.whl; do
        [ -f "$wheel" ] || continue
        stem=$(basename "$wheel")
        stem=${stem%-macosx_*}
        twin=$(compgen -G "$arm_dir/$stem-macosx_*_arm64.whl" | head -n 1)
        [ -z "$twin" ] && { mb_error "fuse_macos_universal2: no arm64 wheel for $stem in $arm_dir"; return 1; }
        mb_python macos fuse "$wheel" "$twin" "$out_dir" || return 1
        count=$((count + 1))
    done
    [ "$count" -gt 0 ] || { mb_error "fuse_macos_universal2: no x86_64 wheel in $x86_dir"; return 1; }
}

function mb_test_venv {
    # Make a fresh test environment of MB_PYTHON_VERSION (the interpreter the build used).
    local dir base
    base=$(get_macpython_interpreter "${MB_PYTHON_VERSION:-3}" "${PLAT:-x86_64}") || return 1
    dir=$(abspath "${MB_WORK_DIR:-build}/test-venv")
    mb_make_venv "$base" "$dir" || return 1
    export VIRTUAL_ENV=$dir PATH="$dir/bin:$PATH" PYTHON_EXE="$dir/bin/python"
    export PIP_CMD="$PYTHON_EXE -m pip"
}
