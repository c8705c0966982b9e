#!/usr/bin/env bash
# The build environment of libraries built into BUILD_PREFIX (multibuild's configure_build.sh).
# The CI steps source it after env_vars.sh and before config.sh (mb_source_project), so
# env_vars.sh may set BUILD_PREFIX, CFLAGS, ... first; config.sh may also source it itself.
# Sourcing it again does nothing. What it sets, as multibuild does:
#   BUILD_PREFIX   default /usr/local (set, not exported)
#   CFLAGS, CXXFLAGS, FFLAGS   exported; when unset: -Wl,-strip-all (STRIP_FLAGS) on Linux, the
#                  -arch flags of PLAT (ARCH_FLAGS) on macOS. These defaults are for the
#                  libraries built into BUILD_PREFIX; MB_WHEEL_FLAGS=project keeps the Linux
#                  ones out of the wheel build (mb_wheel_flags)
#   CPPFLAGS (-I$BUILD_PREFIX/include), LIBRARY_PATH, PKG_CONFIG_PATH, PATH ($BUILD_PREFIX/bin)
#                  exported with BUILD_PREFIX first (update_env_for_build_prefix); LDFLAGS is
#                  left alone; HOMEBREW_NO_AUTO_UPDATE=1 on macOS.
_mb_configure_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
if [ -z "$(declare -Ff mb_python)" ]; then
    # shellcheck source=multibuild/common_utils.sh
    source "$_mb_configure_dir/common_utils.sh"
fi
if [ -n "${IS_MACOS:-}" ] && [ -z "$(declare -Ff macos_arch_flags)" ]; then
    # shellcheck source=multibuild/osx_utils.sh
    source "$_mb_configure_dir/osx_utils.sh"
fi
unset _mb_configure_dir

if [ -n "${CONFIGURE_BUILD_SOURCED:-}" ]; then
    return 0
fi

BUILD_PREFIX=${BUILD_PREFIX:-/usr/local}
if [ -n "${IS_MACOS:-}" ]; then
    PLAT=${PLAT:-$(mb_python core.platforms default-plat macos)} || return 1
    case "$PLAT" in
        intel) ARCH_FLAGS=${ARCH_FLAGS:-"-arch i386 -arch x86_64"} ;;
        x86_64|arm64) ARCH_FLAGS=${ARCH_FLAGS:-"-arch $PLAT"} ;;
        universal2) ARCH_FLAGS=${ARCH_FLAGS:-} ;;  # each thin build gets its own flags
        *)
            mb_error "configure_build.sh: PLAT '$PLAT' is not a macOS platform" \
                "(intel, x86_64, arm64 or universal2)"
            return 1 ;;
    esac
    export CFLAGS=${CFLAGS:-$ARCH_FLAGS}
    export CXXFLAGS=${CXXFLAGS:-$ARCH_FLAGS}
    export FFLAGS=${FFLAGS:-$ARCH_FLAGS}
    export HOMEBREW_NO_AUTO_UPDATE=1
else
    PLAT=${PLAT:-$(mb_python core.platforms default-plat linux)} || return 1
    STRIP_FLAGS=${STRIP_FLAGS:-"-Wl,-strip-all"}
    # Which flags got the library default (mb_wheel_flags takes it out again for projects
    # that build their wheel with their own flags only: MB_WHEEL_FLAGS=project).
    MB_DEFAULTED_FLAGS=""
    for _mb_flags in CFLAGS CXXFLAGS FFLAGS; do
        if [ -z "${!_mb_flags:-}" ]; then
            export "$_mb_flags=$STRIP_FLAGS"
            MB_DEFAULTED_FLAGS+=" $_mb_flags"
        fi
    done
    unset _mb_flags
    export CFLAGS CXXFLAGS FFLAGS
fi
CONFIGURE_BUILD_SOURCED=1

# The search paths as they were before BUILD_PREFIX was put first: the base that
# update_env_for_build_prefix builds on, however often BUILD_PREFIX changes.
export CPPFLAGS_BACKUP=${CPPFLAGS:-}
export LIBRARY_PATH_BACKUP=${LIBRARY_PATH:-}
export PKG_CONFIG_PATH_BACKUP=${PKG_CONFIG_PATH:-}

function update_env_for_build_prefix {
    # Put BUILD_PREFIX first on the search paths: CPPFLAGS (-I$BUILD_PREFIX/include),
    # LIBRARY_PATH ($BUILD_PREFIX/lib), PKG_CONFIG_PATH ($BUILD_PREFIX/lib/pkgconfig/), each in
    # front of its value from when configure_build.sh was sourced, and PATH ($BUILD_PREFIX/bin,
    # moved to the front). Call it again after changing BUILD_PREFIX.
    local prefix=${BUILD_PREFIX:-/usr/local} entry
    local -a kept=()
    export CPPFLAGS="-I$prefix/include${CPPFLAGS_BACKUP:+ $CPPFLAGS_BACKUP}"
    export LIBRARY_PATH="$prefix/lib${LIBRARY_PATH_BACKUP:+:$LIBRARY_PATH_BACKUP}"
    export PKG_CONFIG_PATH="$prefix/lib/pkgconfig/${PKG_CONFIG_PATH_BACKUP:+:$PKG_CONFIG_PATH_BACKUP}"
    local IFS=:
    for entry in $PATH; do
        if [ "$entry" != "$prefix/bin" ]; then kept+=("$entry"); fi
    done
    export PATH="$prefix/bin${kept[*]:+:${kept[*]}}"
}

update_env_for_build_prefix
