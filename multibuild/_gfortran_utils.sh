#!/usr/bin/env bash
# Fortran compiler utilities of the multibuild library (multibuild's names and contracts),
# sourced by library_builders.sh. A project that compiles Fortran (scipy) calls
# install_gfortran in pre_build: it finds gfortran, installs it with the OS package manager
# where it can (apt-get as root or with passwordless sudo on Debian/Ubuntu, brew on macOS),
# or fails at once with one line saying what to install. manylinux images already have it.
# On Windows install it yourself (MSYS2: pacman -S mingw-w64-x86_64-gcc-fortran; or
# choco install mingw) and put it on PATH before the build.

ARCHIVE_SDIR=${ARCHIVE_SDIR:-archives}

# get_distutils_platform[_ex] (the PLAT [UNAME] forms this file had in multibuild) are in
# common_utils.sh, which accepts both forms.

function get_macosx_target {
    # MACOSX_DEPLOYMENT_TARGET as the build Python reports it (sysconfig).
    "${PYTHON_EXE:-python3}" -c \
        'import sysconfig; print(sysconfig.get_config_var("MACOSX_DEPLOYMENT_TARGET") or "")'
}

function mb_gfortran_hint {
    # What to install for gfortran on this OS, as one phrase.
    case "$(uname -s)" in
        Darwin) echo "brew install gcc (it provides gfortran)" ;;
        MINGW*|MSYS*|CYGWIN*) echo "MSYS2's mingw-w64-x86_64-gcc-fortran (pacman -S) or choco install mingw, on PATH" ;;
        *) echo "the gfortran package (Debian/Ubuntu: apt-get install gfortran; Fedora/RHEL: dnf install gcc-gfortran; Alpine: apk add gfortran)" ;;
    esac
}

function check_gfortran {
    # Succeed when gfortran is on PATH; else one line saying what to install, and fail.
    if ! command -v gfortran > /dev/null 2>&1; then
        mb_error "gfortran not found on PATH; install $(mb_gfortran_hint)"
        return 1
    fi
}

function install_gfortran {
    # Make gfortran available to the build: found on PATH, else installed with the OS package
    # manager where allowed (multibuild/core/provision.py: apt-get as root or with passwordless
    # sudo on Debian/Ubuntu, brew on macOS), else a one-line error naming what to install.
    # Exports FC (unless set) and prints the compiler found.
    if ! command -v gfortran > /dev/null 2>&1; then
        case "$(uname -s)" in
            Linux|Darwin)
                mb_python core.provision install gfortran --apt gfortran --brew gcc \
                    --who install_gfortran || true ;;
        esac
    fi
    check_gfortran || return 1
    export FC=${FC:-$(command -v gfortran)}
    echo "install_gfortran: $FC ($("$FC" --version | head -n 1))"
}

function install_arm64_cross_gfortran {
    # macOS: a gfortran for arm64 objects; exports FC_ARM64, FC_ARM64_LDFLAGS (and FC when
    # PLAT is arm64). On an arm64 Mac that is the native gfortran; from an x86_64 Mac give a
    # cross compiler in FC_ARM64. Fails on other systems.
    if [ "$(uname -s)" != Darwin ]; then
        mb_error "install_arm64_cross_gfortran: macOS only (this is $(uname -s))"
        return 1
    fi
    if [ -z "${FC_ARM64:-}" ]; then
        if [ "$(uname -m)" != arm64 ]; then
            mb_error "install_arm64_cross_gfortran: no arm64 cross gfortran; set FC_ARM64 to one"
            return 1
        fi
        install_gfortran || return 1
        FC_ARM64=$(command -v gfortran)
    fi
    local libdir
    libdir=$(dirname "$("$FC_ARM64" -print-file-name=libgfortran.dylib)")
    export FC_ARM64 FC_ARM64_LDFLAGS="-L$libdir -Wl,-rpath,$libdir"
    if [ "${PLAT:-}" == arm64 ]; then export FC=$FC_ARM64; fi
}

function get_gf_lib_for_suf {
    # Print the path of a prebuilt library archive in ARCHIVE_SDIR, downloading it from
    # GF_LIB_URL when missing: get_gf_lib_for_suf SUFFIX PREFIX [PLAT [UNAME]]
    # The name is PREFIX-<distutils platform>[-SUFFIX].tar.gz.
    local suffix=$1 prefix=$2 plat=${3:-${PLAT:-}} uname=${4:-$(uname)} tag
    [ -z "$prefix" ] && { mb_error "get_gf_lib_for_suf: no library prefix given"; return 1; }
    tag=$(get_distutils_platform_ex "$plat" "$uname") || return 1
    local fname="$prefix-$tag${suffix:+-$suffix}.tar.gz"
    local out="$ARCHIVE_SDIR/$fname"
    if [ ! -s "$out" ]; then
        if [ -z "${GF_LIB_URL:-}" ]; then
            mb_error "get_gf_lib_for_suf: $out is missing and GF_LIB_URL is not set"
            return 1
        fi
        mkdir -p "$ARCHIVE_SDIR"
        retry curl -fsSL --max-time 600 -o "$out.part" "$GF_LIB_URL/$fname" \
            || { rm -f "$out.part"; mb_error "get_gf_lib_for_suf: download failed: $GF_LIB_URL/$fname"; return 1; }
        mv "$out.part" "$out"
    fi
    echo "$out"
}

function get_gf_lib {
    # get_gf_lib_for_suf with this OS's suffix: get_gf_lib PREFIX [PLAT [UNAME]]
    # On macOS the archives carry gf_<first 7 of GFORTRAN_SHA>; elsewhere no suffix.
    if [ "${3:-$(uname)}" == Darwin ] && [ -n "${GFORTRAN_SHA:-}" ]; then
        get_gf_lib_for_suf "gf_${GFORTRAN_SHA:0:7}" "$@"
    else
        get_gf_lib_for_suf "" "$@"
    fi
}

function _mb_get_gf_lib_for_suf {
    # Newer multibuild's name for get_gf_lib_for_suf.
    get_gf_lib_for_suf "$@"
}

function _mb_get_gf_lib {
    # Newer multibuild's name for get_gf_lib.
    get_gf_lib "$@"
}
