#!/usr/bin/env bash
# Library builders of the multibuild library (multibuild's names), sourced by common_utils.sh.
# OpenBLAS comes verified and unpacked from multibuild/deps/openblas.py (wheel or tarball source);
# see `python tools/openblas_support.py --help` for its environment variables.
#
# The other recipes build a pinned, checksummed source archive into BUILD_PREFIX (default
# /usr/local). Their data (version, archive name, URL, sha256) is multibuild/deps/recipes.json; the
# shell asks multibuild/deps/recipes.py for it. Variables, as in multibuild:
#   <NAME>_VERSION     another version (defaults in recipes.sh); <NAME>_SHA256 its checksum when
#                      the table does not know it, else the archive's sha256 is recorded in the
#                      repository's archives.lock on first use and checked on every later run
#   MB_SOURCE_MIRROR   a directory URL holding every archive under its file name (one for all);
#                      <NAME>_DOWNLOAD_URL one recipe's (multibuild's OPENSSL_DOWNLOAD_URL)
#   ARCHIVE_SDIR       where archives are kept (default ARCHIVE_DIR, else archives/); an archive
#                      there under multibuild's name for it (xz-5.4.1.tar.gz) is used too
# Each build writes multibuild's <name>-stamp in the current directory (a present stamp skips
# it) and keeps the installed files in the library cache ($MB_CACHE_DIR/libs), so a fresh
# BUILD_PREFIX with the same recipe, flags and platform is refilled without compiling.

if ! declare -F mb_python > /dev/null; then
    # Sourced on its own (as multibuild's tests do): common_utils.sh sources this file again.
    # shellcheck source=multibuild/common_utils.sh
    source "$(dirname "${BASH_SOURCE[0]}")/common_utils.sh"
    return
fi

# shellcheck source=multibuild/recipes.sh
source "$MULTIBUILD_DIR/recipes.sh"
ARCHIVE_SDIR=${ARCHIVE_SDIR:-${ARCHIVE_DIR:-archives}}

# shellcheck source=multibuild/_gfortran_utils.sh
source "$MULTIBUILD_DIR/_gfortran_utils.sh"

function openblas_get {
    # Print the OpenBLAS prefix (lib/, include/, lib/pkgconfig/*.pc) for PLAT: openblas_get [PLAT]
    # Honours OPENBLAS_VERSION, NPY_USE_BLAS_ILP64, MB_ML_VER and OPENBLAS_SOURCE.
    local plat=${1:-${PLAT:-}}
    if [ -n "$plat" ]; then
        mb_python deps.openblas --plat "$plat"
    else
        mb_python deps.openblas
    fi
}

function build_openblas {
    # Make OpenBLAS available to the build: build_openblas [PLAT]
    # Exports OPENBLAS (the prefix), OPENBLAS_LIB_DIR, OPENBLAS_INCLUDE_DIR, PKG_CONFIG_PATH,
    # OPENBLAS_PKG_CONFIG_NAME, OPENBLAS_CONFIG_SETTINGS (pip -Csetup-args options any meson
    # project with BLAS options takes: -Dblas, -Dlapack, and -Duse-ilp64 for ILP64) and the
    # library path the repair tool reads (LD_LIBRARY_PATH, DYLD_FALLBACK_LIBRARY_PATH or
    # MB_DLL_PATH).
    local plat=${1:-${PLAT:-}} exports
    if [ -n "$plat" ]; then
        exports=$(mb_python deps.openblas --records --plat "$plat") || return 1
    else
        exports=$(mb_python deps.openblas --records) || return 1
    fi
    mb_import_vars --export OPENBLAS OPENBLAS_LIB_DIR OPENBLAS_INCLUDE_DIR \
        OPENBLAS_PKG_CONFIG_NAME OPENBLAS_CONFIG_SETTINGS PKG_CONFIG_PATH LD_LIBRARY_PATH \
        DYLD_FALLBACK_LIBRARY_PATH MB_DLL_PATH <<< "$exports"
}

# --- the build engine -------------------------------------------------------------------------

function mb_is_macos {
    # Succeed on macOS (IS_MACOS or IS_OSX set, as common_utils.sh sets them there).
    [ -n "${IS_MACOS:-${IS_OSX:-}}" ]
}

function mb_sha256_var {
    # Print the checksum variable of a library name: mb_sha256_var my-lib -> MY_LIB_SHA256
    local name=${1^^}
    echo "${name//[^A-Z0-9]/_}_SHA256"
}

function mb_lib_cache_key {
    # Print the library-cache key of a build: the engine and its steps, the arguments (name,
    # version, archive, its sha256 or URL, prefix, build arguments), the flags, the toolchain
    # (MB_TOOLCHAIN_ID: CC=cc names zig's wrapper and the host's compiler alike) and the
    # platform.
    # mb_lib_cache_key NAME VERSION URL FILE SHA256 STEPS PREFIX [ARGS...]
    local steps=$6
    { declare -f mb_build_source "mb_steps_$steps"
      printf '%s\n' "$1" "$2" "$4" "${5:-$3}" "$7" "${*:8}" \
          "CC=${CC:-}" "CXX=${CXX:-}" "CFLAGS=${CFLAGS:-}" "CPPFLAGS=${CPPFLAGS:-}" \
          "CXXFLAGS=${CXXFLAGS:-}" "FFLAGS=${FFLAGS:-}" "LDFLAGS=${LDFLAGS:-}" \
          "PLAT=${PLAT:-}" "MB_ML_VER=${MB_ML_VER:-}" "MB_ML_LIBC=${MB_ML_LIBC:-}" \
          "MB_TOOLCHAIN_ID=${MB_TOOLCHAIN_ID:-}" \
          "MACOSX_DEPLOYMENT_TARGET=${MACOSX_DEPLOYMENT_TARGET:-}" \
          "ARCHFLAGS=${ARCHFLAGS:-}" "$(uname -sm)"
    } | mb_sha256_stdin | cut -c1-16
}

function mb_source_dir {
    # Print the source tree among fetch_unpack's output ENTRIES: the only entry, else
    # NAME-VERSION. mb_source_dir NAME-VERSION ENTRIES
    local fallback=$1 entries=$2
    if [ -n "$entries" ] && [ "$(printf '%s\n' "$entries" | wc -l)" -eq 1 ] && [ -d "$entries" ]; then
        echo "$entries"
    elif [ -d "$fallback" ]; then
        echo "$fallback"
    else
        return 1
    fi
}

function mb_in_build_env {
    # Run a command with PREFIX's headers, libraries, pkg-config files and tools found first:
    # mb_in_build_env PREFIX COMMAND [ARGS...] (the caller's environment stays as it was).
    local prefix=$1; shift
    local -x CPPFLAGS="-I$prefix/include${CPPFLAGS:+ $CPPFLAGS}"
    local -x LDFLAGS="-L$prefix/lib${LDFLAGS:+ $LDFLAGS}"
    local -x PKG_CONFIG_PATH="$prefix/lib/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
    local -x LD_LIBRARY_PATH="$prefix/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    local -x PATH="$prefix/bin:$PATH"
    "$@"
}

function mb_stamped {
    # Succeed when NAME-stamp in the current directory says NAME is built (multibuild's
    # contract: the stamp skips the build): mb_stamped NAME. A stamp this library wrote names
    # the BUILD_PREFIX it installed into and counts only for that prefix (a local run's work
    # dirs each have their own prefix; the library cache refills another one quickly); an
    # empty one, as configs and multibuild touch them, counts for any.
    local stamp="$1-stamp" prefix
    [ -e "$stamp" ] || return 1
    prefix=$(head -n 1 "$stamp" 2> /dev/null) || prefix=""
    [ -z "$prefix" ] || [ "$prefix" == "${BUILD_PREFIX:-/usr/local}" ]
}

function mb_stamp {
    # Write NAME-stamp in the current directory, naming BUILD_PREFIX: mb_stamp NAME
    echo "${BUILD_PREFIX:-/usr/local}" > "$1-stamp"
}

function mb_build_source {
    # Build a source archive into BUILD_PREFIX (default /usr/local), once:
    #   mb_build_source NAME VERSION URL FILE SHA256 STEPS [ARGS...]
    # A present NAME-stamp in the current directory skips it (multibuild's contract). Otherwise
    # the installed files come from the library cache (MB_LIB_CACHE, default
    # $MB_CACHE_DIR/libs, keyed by mb_lib_cache_key) or from a build: fetch_unpack URL FILE
    # SHA256, then `mb_steps_STEPS PREFIX STAGE ARGS...` in the source tree, installing under
    # the DESTDIR STAGE, which becomes the cache entry. Writes NAME-stamp when done.
    local name=$1 version=$2 url=$3 file=$4 sha=$5 steps=$6
    shift 6
    if mb_stamped "$name"; then
        echo "$name: $name-stamp present in $PWD; not building $name $version again"
        return 0
    fi
    local prefix=${BUILD_PREFIX:-/usr/local} cache key entry stage entries src link target
    cache=${MB_LIB_CACHE:-$(mb_cache_dir)/libs} || return 1
    key=$(mb_lib_cache_key "$name" "$version" "$url" "$file" "$sha" "$steps" "$prefix" "$@")
    entry="$cache/$name-$version-$key"
    if [ -d "$entry" ]; then
        echo "$name: $name $version from the library cache ($entry)"
    else
        entries=$(fetch_unpack "$url" "$file" "$sha") || return 1
        if ! src=$(mb_source_dir "$name-$version" "$entries"); then
            mb_error "$name: cannot tell the source tree of $file (it unpacked: ${entries//$'\n'/ })"
            return 1
        fi
        mkdir -p "$cache"
        stage=$(abspath "$cache/.stage-$name-$key-$$")
        rm -rf "$stage"
        if ! (cd "$src" && mb_in_build_env "$prefix" "mb_steps_$steps" "$prefix" "$stage" "$@"); then
            rm -rf "$stage"
            mb_error "$name: building $name $version failed (source tree $PWD/$src)"
            return 1
        fi
        if [ ! -d "$stage$prefix" ]; then
            # The install ignored DESTDIR and went straight into the prefix: nothing to cache.
            rm -rf "$stage"
            echo "$name: $name $version built (its install ignores DESTDIR: not cached)"
            mb_stamp "$name"
            return 0
        fi
        # Absolute symlinks made by `make install` point into the stage: repoint them.
        while IFS= read -r -d '' link; do
            target=$(readlink "$link")
            ln -sfn "${target#"$stage"}" "$link"
        done < <(find "$stage" -type l -lname "$stage/*" -print0)
        # Publish atomically; a parallel target may have published the same key first.
        mv "$stage" "$entry" 2> /dev/null || rm -rf "$stage"
        echo "$name: $name $version built, cached as $entry"
    fi
    mkdir -p "$prefix" && cp -a "$entry$prefix/." "$prefix/" && mb_stamp "$name"
}

function mb_steps_configure {
    # ./configure, make and install into the stage: mb_steps_configure PREFIX STAGE [ARGS...]
    local prefix=$1 stage=$2; shift 2
    ./configure --prefix="$prefix" "$@" \
        && make -j"${MB_JOBS:-4}" \
        && make install DESTDIR="$stage"
}

function mb_steps_cmake {
    # CMake (in-tree, Unix Makefiles, libraries in PREFIX/lib, given as an absolute path: a
    # relative one is the build tree's for libjpeg-turbo), make, install into the stage:
    # mb_steps_cmake PREFIX STAGE [CMAKE_ARGS...]
    local prefix=$1 stage=$2 cmake; shift 2
    cmake=$(get_modern_cmake) || return 1
    "$cmake" -G "Unix Makefiles" -DCMAKE_INSTALL_PREFIX="$prefix" \
            -DCMAKE_INSTALL_LIBDIR="$prefix/lib" -DCMAKE_PREFIX_PATH="$prefix" \
            -DCMAKE_BUILD_TYPE=Release "$@" . \
        && make -j"${MB_JOBS:-4}" \
        && make install DESTDIR="$stage"
}

function mb_recipe {
    # Build recipe KEY of recipes.json: mb_recipe CALLER KEY VAR NAME STEPS [ARGS...]
    # VAR is the variable prefix (VAR_VERSION, VAR_SHA256, VAR_DOWNLOAD_URL); NAME the stamp
    # and cache name; STEPS and ARGS as for mb_build_source.
    local caller=$1 key=$2 var=$3 name=$4 steps=$5 resolved
    shift 5
    local version_var="${var}_VERSION" sha_var="${var}_SHA256" url_var="${var}_DOWNLOAD_URL"
    local mb_recipe_version mb_recipe_file mb_recipe_url mb_recipe_sha256 mb_recipe_also_named
    if mb_stamped "$name"; then
        echo "$name: $name-stamp present in $PWD; not building it again"
        return 0
    fi
    resolved=$(mb_python deps.recipes resolve "$key" --caller "$caller" --var "$var" \
        --version "${!version_var:-}" --sha256 "${!sha_var:-}" --base-url "${!url_var:-}" \
        --mirror "${MB_SOURCE_MIRROR:-}") || return 1
    mb_import_vars mb_recipe_version mb_recipe_file mb_recipe_url mb_recipe_sha256 \
        mb_recipe_also_named <<< "$resolved" || return 1
    # fetch_unpack's other names for the archive, and the recipe its messages name.
    local -x MB_ARCHIVE_ALSO_NAMED=$mb_recipe_also_named MB_ARCHIVE_CALLER=$caller
    mb_build_source "$name" "$mb_recipe_version" "$mb_recipe_url" "$mb_recipe_file" \
        "$mb_recipe_sha256" "$steps" "$@"
}

function build_simple {
    # Configure, make and install a source library into BUILD_PREFIX (multibuild's contract):
    #   build_simple NAME VERSION URL [EXT [CONFIGURE_ARGS...]]
    # fetches URL/NAME-VERSION.EXT (EXT default tar.gz), checked against NAME_SHA256 (e.g.
    # LIBPNG_SHA256) when set; skipped when NAME-stamp exists; cached (see mb_build_source).
    local name=${1:-} version=${2:-} url=${3:-} ext=${4:-tar.gz} arg sha_var
    for arg in name version url; do
        if [ -z "${!arg}" ]; then
            mb_error "build_simple: ${arg^^} is empty (usage: build_simple NAME VERSION URL [EXT [CONFIGURE_ARGS...]])"
            return 1
        fi
    done
    if [[ $name == */* ]]; then
        mb_error "build_simple: NAME '$name' must not contain '/'"
        return 1
    fi
    shift 4 2> /dev/null || shift $#
    sha_var=$(mb_sha256_var "$name")
    mb_build_source "$name" "$version" "${url%/}/$name-$version.$ext" "$name-$version.$ext" \
        "${!sha_var:-}" configure "$@"
}

function build_github {
    # Configure, make and install a GitHub tag archive into BUILD_PREFIX:
    #   build_github OWNER/REPO TAG [CONFIGURE_ARGS...]   (stamp: REPO-stamp)
    # Checked against REPO_SHA256 when set; MB_SOURCE_MIRROR, when set, serves it as
    # REPO-TAG.tar.gz.
    local path=${1:-} tag=${2:-} name file url sha_var
    if [[ ! $path =~ ^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$ ]]; then
        mb_error "build_github: OWNER/REPO (argument 1) is '$path' (usage: build_github OWNER/REPO TAG [CONFIGURE_ARGS...])"
        return 1
    fi
    if [[ ! $tag =~ ^[A-Za-z0-9_.+-]+$ ]]; then
        mb_error "build_github: TAG (argument 2) is '$tag' (usage: build_github OWNER/REPO TAG [CONFIGURE_ARGS...])"
        return 1
    fi
    shift 2
    name=${path##*/}
    file="$name-$tag.tar.gz"
    url="https://github.com/$path/archive/$tag.tar.gz"
    if [ -n "${MB_SOURCE_MIRROR:-}" ]; then url="${MB_SOURCE_MIRROR%/}/$file"; fi
    sha_var=$(mb_sha256_var "$name")
    mb_build_source "$name" "$tag" "$url" "$file" "${!sha_var:-}" configure "$@"
}

# --- system packages and tools ----------------------------------------------------------------

function mb_have_header {
    # Succeed if the C compiler finds HEADER: mb_have_header zlib.h
    # shellcheck disable=SC2086  # CC may be a command with arguments ("zig cc")
    printf '#include <%s>\n' "$1" | ${CC:-cc} -E - > /dev/null 2>&1
}

function mb_system_install {
    # Install a system package with the platform's package manager (its output to stderr):
    #   mb_system_install YUM_PKG APK_PKG APT_PKG BREW_PKG   ("-": none on that platform)
    local yum_pkg=$1 apk_pkg=$2 apt_pkg=$3 brew_pkg=$4
    if mb_is_macos; then
        if [ "$brew_pkg" == - ]; then return 1; fi
        brew install "$brew_pkg" >&2
    elif command -v apk > /dev/null 2>&1; then
        if [ "$apk_pkg" == - ]; then return 1; fi
        apk add "$apk_pkg" >&2
    elif command -v yum > /dev/null 2>&1; then
        if [ "$yum_pkg" == - ]; then return 1; fi
        yum install -y "$yum_pkg" >&2 && rpm -q "$yum_pkg" > /dev/null
    elif command -v apt-get > /dev/null 2>&1; then
        if [ "$apt_pkg" == - ]; then return 1; fi
        apt-get install -y "$apt_pkg" >&2
    else
        return 1
    fi
}

function get_modern_cmake {
    # Print the name of a CMake >= 3 command, installing CMake if none is on PATH.
    local cmake version
    for cmake in cmake cmake3; do
        version=$("$cmake" --version 2> /dev/null | head -n 1) || continue
        if [[ $version =~ version\ ([0-9]+) ]] && [ "${BASH_REMATCH[1]}" -ge 3 ]; then
            echo "$cmake"
            return 0
        fi
    done
    if ! mb_system_install cmake3 cmake cmake cmake; then
        mb_error "get_modern_cmake: no CMake >= 3 on PATH and no package manager to install one"
        return 1
    fi
    if command -v cmake3 > /dev/null 2>&1; then echo cmake3; else echo cmake; fi
}

function get_cmake {
    # Former name of get_modern_cmake.
    echo "get_cmake is deprecated; use get_modern_cmake" >&2
    get_modern_cmake
}

function build_zlib {
    # zlib from the system (multibuild: an old but safe version): nothing to do on macOS or
    # where the compiler already finds zlib.h; else the package manager; else build_new_zlib.
    if mb_is_macos || [ -e zlib-stamp ]; then return 0; fi
    if ! mb_have_header zlib.h && ! mb_system_install zlib-devel zlib-dev zlib1g-dev -; then
        build_new_zlib
        return
    fi
    touch zlib-stamp
}

function build_suitesparse {
    # SuiteSparse from the system's packages, as multibuild does (stamp: suitesparse-stamp).
    if [ -e suitesparse-stamp ]; then return 0; fi
    if ! mb_system_install suitesparse-devel suitesparse-dev libsuitesparse-dev suite-sparse; then
        mb_error "build_suitesparse: no package manager to install SuiteSparse with"
        return 1
    fi
    touch suitesparse-stamp
}

function ensure_xz {
    # The xz tool: from PATH, Homebrew on macOS, else build_xz.
    if command -v xz > /dev/null 2>&1; then return 0; fi
    if mb_is_macos; then brew install xz; else build_xz; fi
}

# --- recipes (recipes.json holds their versions, archives and checksums) -----------------------

function build_new_zlib {
    # zlib from source (ZLIB_VERSION).
    mb_recipe build_new_zlib zlib ZLIB zlib configure
}

function mb_steps_bzip2 {
    # bzip2's own Makefiles: the PIC objects of the shared-library Makefile end up in libbz2.a.
    local prefix=$1 stage=$2
    make -f Makefile-libbz2_so && make install PREFIX="$stage$prefix"
}

function build_bzip2 {
    # bzip2 (BZIP2_VERSION); macOS has it.
    if mb_is_macos; then return 0; fi
    mb_recipe build_bzip2 bzip2 BZIP2 bzip2 bzip2
}

function build_xz {
    # xz / liblzma (XZ_VERSION).
    mb_recipe build_xz xz XZ xz configure
}

function build_libpng {
    # libpng (LIBPNG_VERSION), after build_zlib.
    build_zlib || return 1
    mb_recipe build_libpng libpng LIBPNG libpng configure
}

function build_jpeg {
    # IJG libjpeg (JPEG_VERSION); stamp jpeg-stamp, shared with build_libjpeg_turbo.
    mb_recipe build_jpeg jpeg JPEG jpeg configure
}

function build_libjpeg_turbo {
    # libjpeg-turbo (JPEGTURBO_VERSION) with CMake; its jpeg-stamp stops a later build_jpeg.
    mb_recipe build_libjpeg_turbo libjpeg-turbo JPEGTURBO jpeg cmake
}

function build_tiff {
    # libtiff (TIFF_VERSION), after zlib, jpeg and xz.
    build_zlib && build_jpeg && ensure_xz || return 1
    mb_recipe build_tiff tiff TIFF tiff configure
}

function build_openjpeg {
    # OpenJPEG (OPENJPEG_VERSION) with CMake, after zlib, libpng, tiff and lcms2.
    build_zlib && build_libpng && build_tiff && build_lcms2 || return 1
    mb_recipe build_openjpeg openjpeg OPENJPEG openjpeg cmake
}

function build_lcms2 {
    # Little CMS 2 (LCMS2_VERSION), after tiff.
    build_tiff || return 1
    mb_recipe build_lcms2 lcms2 LCMS2 lcms2 configure
}

function mb_steps_giflib {
    # giflib >= 5.1.5 has a plain Makefile (libraries and tools; no man pages, which need
    # xmlto); older releases a configure script.
    local prefix=$1 stage=$2; shift 2
    if [ -x ./configure ]; then
        mb_steps_configure "$prefix" "$stage" "$@"
        return
    fi
    make -j"${MB_JOBS:-4}" libgif.so libgif.a libutil.so libutil.a \
        && make install-bin install-include install-lib PREFIX="$prefix" DESTDIR="$stage"
}

function build_giflib {
    # giflib (GIFLIB_VERSION).
    mb_recipe build_giflib giflib GIFLIB giflib giflib
}

function build_libwebp {
    # libwebp (LIBWEBP_VERSION) with libwebpmux and libwebpdemux, after libpng, tiff, giflib.
    build_libpng && build_tiff && build_giflib || return 1
    mb_recipe build_libwebp libwebp LIBWEBP libwebp configure \
        --enable-libwebpmux --enable-libwebpdemux
}

function build_freetype {
    # FreeType (FREETYPE_VERSION), after libpng and bzip2.
    build_libpng && build_bzip2 || return 1
    mb_recipe build_freetype freetype FREETYPE freetype configure
}

function build_libyaml {
    # libyaml (LIBYAML_VERSION); stamp yaml-stamp.
    mb_recipe build_libyaml yaml LIBYAML yaml configure
}

function build_szip {
    # szip (SZIP_VERSION) without its patent-encumbered encoder, after zlib.
    build_zlib || return 1
    mb_recipe build_szip szip SZIP szip configure --enable-encoding=no
}

function build_libaec {
    # libaec (LIBAEC_VERSION), the free drop-in replacement for szip.
    mb_recipe build_libaec libaec LIBAEC libaec configure
}

function build_hdf5 {
    # HDF5 (HDF5_VERSION), thread-safe, with szip support from libaec, after zlib; its tests
    # are not built.
    if mb_stamped hdf5; then return 0; fi
    build_zlib && build_libaec || return 1
    mb_recipe build_hdf5 hdf5 HDF5 hdf5 configure --with-szlib="${BUILD_PREFIX:-/usr/local}" \
        --enable-threadsafe --enable-unsupported --with-pthread=yes --disable-tests
}

function build_blosc {
    # c-blosc (BLOSC_VERSION) with CMake; on macOS its libraries get their full path as id.
    local lib
    if mb_stamped blosc; then return 0; fi
    mb_recipe build_blosc blosc BLOSC blosc cmake -DBUILD_TESTS=OFF -DBUILD_BENCHMARKS=OFF \
        || return 1
    if mb_is_macos; then
        for lib in "${BUILD_PREFIX:-/usr/local}"/lib/libblosc*.dylib; do
            [ -e "$lib" ] || continue
            install_name_tool -id "$lib" "$lib"
        done
    fi
}

function build_snappy {
    # Snappy (SNAPPY_VERSION): CMake for releases without a configure script.
    mb_recipe build_snappy snappy SNAPPY snappy cmake -DSNAPPY_BUILD_TESTS=OFF \
        -DSNAPPY_BUILD_BENCHMARKS=OFF -DBUILD_SHARED_LIBS=ON
}

function build_lzo {
    # LZO (LZO_VERSION), shared library too.
    mb_recipe build_lzo lzo LZO lzo configure --enable-shared
}

function build_lzf {
    # liblzf (LZF_VERSION); stamp liblzf-stamp.
    mb_recipe build_lzf liblzf LZF liblzf configure
}

function build_curl {
    # curl (CURL_VERSION): Secure Transport on macOS, else OpenSSL from build_openssl.
    if mb_stamped curl; then return 0; fi
    if mb_is_macos; then
        mb_recipe build_curl curl CURL curl configure --with-secure-transport
    else
        build_openssl || return 1
        mb_recipe build_curl curl CURL curl configure --with-ssl="${BUILD_PREFIX:-/usr/local}" \
            LIBS=-ldl
    fi
}

function mb_steps_openssl {
    # OpenSSL's Configure: static libraries in PREFIX/lib, no documentation.
    local prefix=$1 stage=$2; shift 2
    ./config no-shared -fPIC --prefix="$prefix" --libdir=lib "$@" \
        && make -j"${MB_JOBS:-4}" \
        && make install_sw DESTDIR="$stage"
}

function build_openssl {
    # OpenSSL, static (OPENSSL_ROOT=openssl-VERSION; OPENSSL_HASH its sha256;
    # OPENSSL_DOWNLOAD_URL a directory holding OPENSSL_ROOT.tar.gz).
    # shellcheck disable=SC2034  # read by mb_recipe as OPENSSL_VERSION / OPENSSL_SHA256
    local OPENSSL_VERSION=${OPENSSL_ROOT#openssl-}
    local OPENSSL_SHA256=${OPENSSL_HASH:-${OPENSSL_SHA256:-}}
    mb_recipe build_openssl openssl OPENSSL openssl openssl
}

function build_netcdf {
    # netCDF-C (NETCDF_VERSION) with DAP, after hdf5 and curl.
    if mb_stamped netcdf; then return 0; fi
    build_hdf5 && build_curl || return 1
    mb_recipe build_netcdf netcdf NETCDF netcdf configure --enable-dap
}

function build_pcre {
    # PCRE (PCRE_VERSION).
    mb_recipe build_pcre pcre PCRE pcre configure
}

function build_swig {
    # SWIG (SWIG_VERSION): Homebrew on macOS; else from source, without PCRE (SWIG >= 4.1
    # wants PCRE2; its regex-based renaming is the only feature needing it).
    if mb_stamped swig; then return 0; fi
    if mb_is_macos; then
        brew install swig > /dev/null && touch swig-stamp
        return
    fi
    mb_recipe build_swig swig SWIG swig configure --without-pcre
}

function build_libtool {
    # GNU libtool (LIBTOOL_VERSION).
    mb_recipe build_libtool libtool LIBTOOL libtool configure
}

function build_ragel {
    # Ragel (RAGEL_VERSION).
    mb_recipe build_ragel ragel RAGEL ragel configure
}

function build_bison {
    # GNU Bison (BISON_VERSION).
    mb_recipe build_bison bison BISON bison configure
}

function build_flex {
    # flex (FLEX_VERSION).
    mb_recipe build_flex flex FLEX flex configure
}

function build_fftw_case {
    # One configuration of FFTW (FFTW_VERSION) into BUILD_PREFIX, as multibuild's helper of
    # build_fftw: build_fftw_case [CONFIGURE_ARGS...] (e.g. --enable-float). Each call builds;
    # the library cache keys on the arguments, so repeated cases are cheap.
    mb_recipe build_fftw fftw FFTW fftw configure "$@" || return 1
    rm -f fftw-stamp
}

function build_fftw {
    # FFTW (FFTW_VERSION) in single, double and long double precision (shared, threads, PIC,
    # SIMD on x86), built with -O3 -ffast-math; exports C_INCLUDE_PATH and STATIC_FFTW_DIR
    # (pyFFTW's static link). Stamp: fftw-stamp.
    local prefix=${BUILD_PREFIX:-/usr/local} old_cflags=${CFLAGS-} had_cflags=${CFLAGS+x}
    local common=(--with-pic --enable-shared --enable-threads --disable-fortran) status=0
    local single double long_double
    if mb_stamped fftw; then return 0; fi
    single=("${common[@]}" --enable-float)
    double=("${common[@]}")
    long_double=("${common[@]}" --enable-long-double)
    case "$(uname -m)" in
        x86_64|i?86)
            single+=(--enable-sse --enable-sse2 --enable-avx)
            double+=(--enable-sse2 --enable-avx)
            ;;
    esac
    export CFLAGS="-O3 -fomit-frame-pointer -fstrict-aliasing -ffast-math"
    build_fftw_case "${single[@]}" \
        && build_fftw_case "${double[@]}" \
        && build_fftw_case "${long_double[@]}" \
        || status=1
    if [ -n "$had_cflags" ]; then export CFLAGS=$old_cflags; else unset CFLAGS; fi
    if [ "$status" -ne 0 ]; then return 1; fi
    touch fftw-stamp
    export C_INCLUDE_PATH="$prefix/include" STATIC_FFTW_DIR="$prefix/lib"
}

function mb_steps_cfitsio {
    # CFITSIO: configure, the shared library, install.
    local prefix=$1 stage=$2; shift 2
    ./configure --prefix="$prefix" "$@" \
        && make -j"${MB_JOBS:-4}" shared \
        && make install DESTDIR="$stage"
}

function build_cfitsio {
    # CFITSIO (CFITSIO_VERSION: 4.2.0, or 3450 for the old cfitsio3450.tar.gz naming);
    # Homebrew on macOS.
    if mb_stamped cfitsio; then return 0; fi
    if mb_is_macos; then
        brew install cfitsio && touch cfitsio-stamp
        return
    fi
    mb_recipe build_cfitsio cfitsio CFITSIO cfitsio cfitsio
}
