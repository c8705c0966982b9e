#!/usr/bin/env bash
# macOS utilities of the multibuild library (multibuild's names): python.org interpreters, the
# architecture flags of PLAT (x86_64, arm64, universal2), and universal2 fusion.
# Decisions live in multibuild/build/macos.py; this file runs no macOS tool when sourced, so it can be
# sourced (and its decisions tested) anywhere.
_mb_osx_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
if [ -z "$(declare -Ff mb_python)" ]; then
    # shellcheck source=multibuild/common_utils.sh
    source "$_mb_osx_dir/common_utils.sh"
fi
unset _mb_osx_dir

MACPYTHON_PY_PREFIX=/Library/Frameworks/Python.framework/Versions

function check_var {
    # Fail, with a one-line error naming the caller, if VALUE is empty: check_var "$value"
    if [ -z "${1:-}" ]; then
        mb_error "${FUNCNAME[1]:-check_var}: required variable not defined"
        return 1
    fi
}

function get_py_digit {
    # Major version of PYTHON_EXE: 3
    check_python || return 1
    "$PYTHON_EXE" -c 'import sys; print(sys.version_info[0])'
}

function get_py_mm_nodot {
    # MAJOR MINOR of PYTHON_EXE without the dot: 312
    check_python || return 1
    "$PYTHON_EXE" -c 'import sys; print("%d%d" % sys.version_info[:2])'
}

function get_py_prefix {
    # sys.prefix of PYTHON_EXE
    check_python || return 1
    "$PYTHON_EXE" -c 'import sys; print(sys.prefix)'
}

function fill_pyver {
    # MAJOR.MINOR.MICRO of a Python version: X.Y.Z as given; X.Y the newest python.org macOS
    # release of that series (fill_pyver 3.9 -> 3.9.13); X the newest of its newest series.
    if [ -z "${1:-}" ]; then mb_error "fill_pyver: no version given"; return 1; fi
    mb_python build.macos --function fill_pyver fill "$1"
}

function macpython_sdk_list_for_version {
    # The minimum macOS versions python.org built CPython VERSION for, oldest first
    # (10.6: 64/32-bit, 10.9: 64-bit; 11.0 for PLAT=arm64): 2.7.15 -> "10.6 10.9"
    if [ -z "${1:-}" ]; then mb_error "macpython_sdk_list_for_version: no version given"; return 1; fi
    mb_python build.macos --function macpython_sdk_list_for_version sdks "$1" --plat "${PLAT:-}"
}

function macpython_sdk_for_version {
    # The newest of macpython_sdk_list_for_version: 2.7.15 -> 10.9
    local sdks
    if [ -z "${1:-}" ]; then mb_error "macpython_sdk_for_version: no version given"; return 1; fi
    sdks=$(mb_python build.macos --function macpython_sdk_for_version sdks "$1" --plat "${PLAT:-}") \
        || return 1
    echo "${sdks##* }"
}

function pyinst_ext_for_version {
    # Extension of python.org's macOS installer of VERSION: pkg (dmg before 2.7.9 and 3.4.2)
    if [ -z "${1:-}" ]; then mb_error "pyinst_ext_for_version: no version given"; return 1; fi
    mb_python build.macos --function pyinst_ext_for_version installer-ext "$1"
}

function pyinst_fname_for_version {
    # File name of python.org's installer of CPython VERSION built for macOS MACOS_VER:
    # pyinst_fname_for_version VERSION [MACOS_VER]
    #   3.12 -> python-3.12.10-macos11.pkg; 3.9 10.9 -> python-3.9.13-macosx10.9.pkg
    # Without MACOS_VER, the universal2 installer where there is one (3.8.10, 3.9.1+: this
    # library builds every PLAT with it), else the newest macpython_sdk_for_version build.
    # PLAT arm64 or universal2, MACOS_VER 11, and 3.10+ always take the universal2 installer.
    if [ -z "${1:-}" ]; then mb_error "pyinst_fname_for_version: no version given"; return 1; fi
    mb_python build.macos --function pyinst_fname_for_version installer "$1" --macos "${2:-}" \
        --plat "${PLAT:-}"
}

function macpython_installer_url {
    # Download address of the python.org installer of VERSION: macpython_installer_url VERSION
    # [MACOS_VER] (the installer pyinst_fname_for_version names).
    if [ -z "${1:-}" ]; then mb_error "macpython_installer_url: no version given"; return 1; fi
    mb_python build.macos --function macpython_installer_url installer --url "$1" --macos "${2:-}" \
        --plat "${PLAT:-}"
}

function get_macpython_arch {
    # Architecture of a macOS platform tag: get_macpython_arch [macosx-10.9-x86_64] -> x86_64
    # (default: get_distutils_platform, the tag PYTHON_EXE builds for)
    local plat=${1:-}
    # shellcheck disable=SC2119
    if [ -z "$plat" ]; then plat=$(get_distutils_platform) || return 1; fi
    if [[ "$plat" =~ ^macosx-([0-9]+\.[0-9]+)-(.+)$ ]]; then
        echo "${BASH_REMATCH[2]}"
    else
        mb_error "get_macpython_arch: '$plat' is not a macOS platform tag (macosx-X.Y-ARCH)"
        return 1
    fi
}

function get_macpython_osx_ver {
    # Minimum macOS of a macOS platform tag: get_macpython_osx_ver [macosx-10.9-x86_64] -> 10.9
    # (default: get_distutils_platform, the tag PYTHON_EXE builds for)
    local plat=${1:-}
    # shellcheck disable=SC2119
    if [ -z "$plat" ]; then plat=$(get_distutils_platform) || return 1; fi
    if [[ "$plat" =~ ^macosx-([0-9]+\.[0-9]+)-(.+)$ ]]; then
        echo "${BASH_REMATCH[1]}"
    else
        mb_error "get_macpython_osx_ver: '$plat' is not a macOS platform tag (macosx-X.Y-ARCH)"
        return 1
    fi
}

function macpython_impl_for_version {
    # Implementation of a version string: cp for CPython (3.12), pp for PyPy (pypy-5.4)
    local version=${1:-}
    if [[ "$version" == pypy* ]]; then
        echo pp
    elif [[ "$version" =~ ^[0-9][0-9.]*$ ]]; then
        echo cp
    else
        mb_error "macpython_impl_for_version: cannot tell the implementation of '$version'"
        return 1
    fi
}

function strip_macpython_ver_prefix {
    # The version without its implementation prefix: pypy-5.4 -> 5.4, 3.6 -> 3.6
    if [[ "${1:-}" =~ (pypy-)?([0-9][0-9.]*) ]]; then
        echo "${BASH_REMATCH[2]}"
    else
        mb_error "strip_macpython_ver_prefix: no version number in '${1:-}'"
        return 1
    fi
}

function macpython_arch_for_version {
    # Architecture python.org's CPython VERSION built for macOS MACOS_VER has (default
    # MB_PYTHON_OSX_VER): 10.6 -> intel (64/32-bit), 10.9 -> x86_64; PyPy -> x86_64.
    # macpython_arch_for_version VERSION [MACOS_VER]
    local impl osx=${2:-${MB_PYTHON_OSX_VER:-}}
    impl=$(macpython_impl_for_version "${1:-}") || return 1
    if [ "$impl" == pp ]; then echo x86_64; return 0; fi
    case "$osx" in
        10.6) echo intel ;;
        10.9) echo x86_64 ;;
        *)
            mb_error "macpython_arch_for_version: macOS version '$osx' is not 10.6 or 10.9"
            return 1 ;;
    esac
}

function mac_arch_for_pyosx_version {
    # The old form of macpython_arch_for_version: mac_arch_for_pyosx_version 10.9 -> x86_64
    macpython_arch_for_version 3 "${1:-}"
}

function macos_arch_flags {
    # Export MACOSX_DEPLOYMENT_TARGET, ARCHFLAGS, CFLAGS, CXXFLAGS, LDFLAGS,
    # _PYTHON_HOST_PLATFORM and CMAKE_OSX_ARCHITECTURES for PLAT: macos_arch_flags [PLAT]
    # MACOSX_DEPLOYMENT_TARGET, when already set, is kept (and checked).
    local plat=${1:-${PLAT:-}} exports
    if [ -z "$plat" ]; then mb_error "macos_arch_flags: PLAT is not set"; return 1; fi
    exports=$(mb_python build.macos flags "$plat") || return 1
    mb_import_vars --export MACOSX_DEPLOYMENT_TARGET ARCHFLAGS _PYTHON_HOST_PLATFORM \
        CMAKE_OSX_ARCHITECTURES CFLAGS CXXFLAGS LDFLAGS <<< "$exports"
}

function install_macpython {
    # Install python.org's CPython VERSION (needs sudo): install_macpython VERSION [MACOS_VER]
    # (the installer pyinst_fname_for_version names; PyPy is not supported). The package is
    # checked before it is installed: MB_PYTHON_PKG_SHA256 when given, and always Apple's
    # signature check for the Python Software Foundation's installer identity.
    local version=${1:-} osx=${2:-} name url cache pkg signature
    if [ -z "$version" ]; then mb_error "install_macpython: no Python version given"; return 1; fi
    if [[ "$version" == pypy* ]]; then install_pypy "$version"; return 1; fi
    version=$(strip_macpython_ver_prefix "$version") || return 1
    name=$(pyinst_fname_for_version "$version" "$osx") || return 1
    url=$(macpython_installer_url "$version" "$osx") || return 1
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
    signature=$(pkgutil --check-signature "$pkg" 2>&1) || true
    if [[ "$signature" != *"Python Software Foundation"* ]]; then
        mb_error "install_macpython: $name is not signed by the Python Software Foundation"
        return 1
    fi
    sudo installer -pkg "$pkg" -target / || { mb_error "install_macpython: installer failed"; return 1; }
}

function install_mac_cpython {
    # Install python.org's CPython VERSION and point PYTHON_EXE at it (PIP_CMD: its pip):
    # install_mac_cpython VERSION [MACOS_VER]
    local full minor
    full=$(fill_pyver "${1:-}") || return 1
    install_macpython "$full" "${2:-}" || return 1
    minor=$(unlex_ver "$(lex_ver "$full")") && minor=${minor%.*}
    PYTHON_EXE="$MACPYTHON_PY_PREFIX/$minor/bin/python$minor"
    PIP_CMD="$PYTHON_EXE -m pip"
    export PYTHON_EXE PIP_CMD
}

function install_mac_pypy {
    # Not available: this library builds with CPython only.
    install_pypy "$@"
}

function get_macpython_interpreter {
    # Print the path of CPython VERSION for PLAT: the CI's tool cache or the python.org
    # framework, installing python.org's package (for MACOS_VER, if given) when neither has it:
    # get_macpython_interpreter VERSION [PLAT [MACOS_VER]]
    local version=$1 plat=${2:-${PLAT:-x86_64}} osx=${3:-} found
    if found=$(mb_python build.macos find "$version" --plat "$plat" 2>/dev/null); then
        echo "$found"
        return 0
    fi
    install_macpython "$version" "$osx" >&2 || return 1
    mb_python build.macos find "$version" --plat "$plat"
}

function get_macpython_environment {
    # Set up CPython VERSION: get_macpython_environment VERSION [VENV_DIR [MACOS_VER]]
    # The CI's interpreter, else python.org's (installed for MACOS_VER, default
    # MB_PYTHON_OSX_VER, when missing). With VENV_DIR: a fresh virtual environment there,
    # activated. Exports PYTHON_EXE and PIP_CMD and puts PYTHON_EXE's directory first on PATH.
    # A PLAT name in place of MACOS_VER (x86_64, arm64, universal2) picks the PLAT instead.
    local version=${1:-} venv=${2:-} plat=${PLAT:-x86_64} osx=${MB_PYTHON_OSX_VER:-} base
    if [ -z "$version" ]; then mb_error "get_macpython_environment: no Python version given"; return 1; fi
    case "${3:-}" in
        "") ;;
        x86_64|arm64|universal2) plat=$3 ;;
        *) osx=$3 ;;
    esac
    base=$(get_macpython_interpreter "$version" "$plat" "$osx") || return 1
    if [ -z "$venv" ]; then
        PYTHON_EXE=$base
        PIP_CMD="$PYTHON_EXE -m pip"
        PATH="$(dirname "$base"):$PATH"
        export PYTHON_EXE PIP_CMD PATH
        echo "get_macpython_environment: Python $version ($plat) at $base"
        return 0
    fi
    venv=$(abspath "$venv")
    mb_build_venv "$base" "$venv" || return 1  # reused while unchanged
    export VIRTUAL_ENV=$venv PATH="$venv/bin:$PATH" PYTHON_EXE="$venv/bin/python"
    PIP_CMD=$(mb_venv_pip_cmd "$PYTHON_EXE")
    export PIP_CMD
    echo "get_macpython_environment: Python $version ($plat) from $base in $venv" \
        "($MB_VENV_STATE)"
}

function get_python_environment {
    # multibuild's oldest macOS setup: get_python_environment macpython VERSION [VENV_DIR], or
    # get_python_environment [VENV_DIR] for MB_PYTHON_VERSION; both are
    # get_macpython_environment. Homebrew, MacPorts and system Pythons are not supported.
    case "${1:-}" in
        macpython) get_macpython_environment "${2:-}" "${3:-}" ;;
        homebrew|macports|system)
            mb_error "get_python_environment: '$1' Pythons are not supported; use macpython"
            return 1 ;;
        *) get_macpython_environment "${MB_PYTHON_VERSION:-}" "${1:-}" ;;
    esac
}

function install_virtualenv {
    # Make virtualenv available to PYTHON_EXE (PIP_CMD installs it when missing); exports
    # VIRTUALENV_CMD.
    check_python || return 1
    check_pip || return 1
    if ! "$PYTHON_EXE" -m virtualenv --version > /dev/null 2>&1; then
        # shellcheck disable=SC2086
        $PIP_CMD install virtualenv || { mb_error "install_virtualenv: pip install failed"; return 1; }
    fi
    VIRTUALENV_CMD="$(dirname "$PYTHON_EXE")/virtualenv"
    if [ ! -x "$VIRTUALENV_CMD" ]; then VIRTUALENV_CMD="$PYTHON_EXE -m virtualenv"; fi
    export VIRTUALENV_CMD
}

function make_workon_venv {
    # Make a fresh virtual environment of PYTHON_EXE in DIR (default venv) and switch to it:
    # PYTHON_EXE=DIR/bin/python, PIP_CMD=DIR/bin/pip. make_workon_venv [DIR]
    local dir
    check_python || return 1
    dir=$(abspath "${1:-venv}")
    mb_make_venv "$PYTHON_EXE" "$dir" || return 1
    PYTHON_EXE=$dir/bin/python
    PIP_CMD=$dir/bin/pip
}

function remove_travis_ve_pip {
    # Nothing: multibuild removed the pip and virtualenv of Travis's old macOS image here; this
    # library never uses a system pip.
    :
}

function set_py_vars {
    # Put PYTHON_EXE's directory first on PATH and export PYTHON_EXE and PIP_CMD.
    check_python || return 1
    PATH="$(dirname "$PYTHON_EXE"):$PATH"
    export PATH PYTHON_EXE PIP_CMD
}

function install_delocate {
    # Install delocate with PIP_CMD. (repair_wheelhouse runs the tool environment's own.)
    check_pip || return 1
    # shellcheck disable=SC2086
    $PIP_CMD install delocate
}

function install_pkg_config {
    # Make sure pkg-config is on PATH, installing it with Homebrew when it is missing.
    if command -v pkg-config > /dev/null 2>&1; then return 0; fi
    if ! command -v brew > /dev/null 2>&1; then
        mb_error "install_pkg_config: pkg-config is missing and Homebrew (brew) is not available"
        return 1
    fi
    brew install pkg-config
}

function mb_macos_thin_setup {
    # Export PLAT=ARCH and its compiler settings (macos_arch_flags), with MB_PYTHON_OSX_VER as
    # the deployment target when it is set and MACOSX_DEPLOYMENT_TARGET is not.
    export PLAT=$1
    if [ -n "${MB_PYTHON_OSX_VER:-}" ] && [ -z "${MACOSX_DEPLOYMENT_TARGET:-}" ]; then
        export MACOSX_DEPLOYMENT_TARGET=$MB_PYTHON_OSX_VER
    fi
    macos_arch_flags "$1"
}

function macos_intel_native_build_setup {
    # Export the settings of a thin x86_64 build: PLAT=x86_64, _PYTHON_HOST_PLATFORM,
    # MACOSX_DEPLOYMENT_TARGET, ARCHFLAGS and -arch x86_64 in CFLAGS, CXXFLAGS, LDFLAGS.
    mb_macos_thin_setup x86_64
}

function macos_intel_cross_build_setup {
    # The x86_64 build on an arm64 Mac: the same settings (clang cross-compiles by -arch).
    mb_macos_thin_setup x86_64
}

function macos_arm64_native_build_setup {
    # Export the settings of a thin arm64 build (PLAT=arm64, macOS 11.0, -arch arm64), then
    # run COMMAND if given: macos_arm64_native_build_setup [COMMAND ARGS...]
    mb_macos_thin_setup arm64 || return 1
    if [ $# -gt 0 ]; then "$@"; fi
}

function macos_arm64_cross_build_setup {
    # Export the settings of an arm64 build on an x86_64 Mac: those of
    # macos_arm64_native_build_setup, libraries built into their own BUILD_PREFIX
    # (MB_ARM64_BUILD_PREFIX, default /opt/arm64-builds) put first on the search paths,
    # CROSS_COMPILING=1, host_alias=aarch64-apple-darwin20.0.0 (autoconf's --host), FC/F90/F77
    # from FC_ARM64 (install_arm64_cross_gfortran) when set, and LDFLAGS with the prefix's lib.
    export BUILD_PREFIX=${MB_ARM64_BUILD_PREFIX:-/opt/arm64-builds}
    if ! mkdir -p "$BUILD_PREFIX/lib" "$BUILD_PREFIX/include" 2> /dev/null; then
        if ! { sudo mkdir -p "$BUILD_PREFIX/lib" "$BUILD_PREFIX/include" \
               && sudo chown -R "${USER:-$(id -un)}" "$BUILD_PREFIX"; }; then
            mb_error "macos_arm64_cross_build_setup: cannot create $BUILD_PREFIX"
            return 1
        fi
    fi
    if [ -z "$(is_function update_env_for_build_prefix)" ]; then
        # shellcheck source=multibuild/configure_build.sh
        source "$MULTIBUILD_DIR/configure_build.sh" || return 1
    fi
    update_env_for_build_prefix
    mb_macos_thin_setup arm64 || return 1
    export CROSS_COMPILING=1 host_alias=aarch64-apple-darwin20.0.0
    if [ -n "${FC_ARM64:-}" ]; then
        export FC=$FC_ARM64 F90=${F90_ARM64:-$FC_ARM64} F77=${F77_ARM64:-$FC_ARM64}
        export FCFLAGS="${FCFLAGS:+$FCFLAGS }-arch arm64"
    fi
    export LDFLAGS="$LDFLAGS -L$BUILD_PREFIX/lib -Wl,-rpath,$BUILD_PREFIX/lib${FC_ARM64_LDFLAGS:+ $FC_ARM64_LDFLAGS}"
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
        twin=$(compgen -G "$arm_dir/$stem-macosx_*_arm64.whl" | head -n 1) || twin=""
        if [ -z "$twin" ]; then
            mb_error "fuse_macos_universal2: no arm64 wheel for $stem in $arm_dir"
            return 1
        fi
        mb_python build.macos fuse "$wheel" "$twin" "$out_dir" || return 1
        count=$((count + 1))
    done
    [ "$count" -gt 0 ] || { mb_error "fuse_macos_universal2: no x86_64 wheel in $x86_dir"; return 1; }
}

function fuse_macos_intel_arm64 {
    # In WHEELHOUSE (default WHEEL_SDIR), fuse each thin x86_64 wheel that has an arm64 twin
    # into a universal2 wheel (delocate-merge), then remove the x86_64 one; the arm64 wheel
    # stays, as multibuild leaves it: fuse_macos_intel_arm64 [WHEELHOUSE]
    local wheelhouse wheel twin stem
    wheelhouse=$(abspath "${1:-${WHEEL_SDIR:-wheelhouse}}")
    for wheel in "$wheelhouse"/*-macosx_*_x86_64.whl; do
        [ -f "$wheel" ] || continue
        stem=$(basename "$wheel")
        stem=${stem%-macosx_*}
        twin=$(compgen -G "$wheelhouse/$stem-macosx_*_arm64.whl" | head -n 1) || twin=""
        if [ -z "$twin" ]; then continue; fi
        mb_python build.macos fuse "$wheel" "$twin" "$wheelhouse" > /dev/null || return 1
        rm -f "$wheel"
    done
}

function mb_test_venv {
    # The test environment of MB_PYTHON_VERSION (the interpreter the build used), with
    # TEST_DEPENDS, activated; reused while unchanged (mb_activate_test_venv).
    local base
    base=$(get_macpython_interpreter "${MB_PYTHON_VERSION:-3}" "${PLAT:-x86_64}") || return 1
    mb_activate_test_venv "$base" "$(abspath "${MB_WORK_DIR:-build}/test-venv")"
}
