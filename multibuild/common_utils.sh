#!/usr/bin/env bash
# Utilities and the platform-independent build steps of the multibuild library.
#
# Source it first:  source multibuild/common_utils.sh; source multibuild/travis_steps.sh
# Every function here may be overridden by config.sh, which is sourced last.
# Logic beyond a few lines lives in the Python modules beside this file (see mb_python).

MULTIBUILD_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
MB_ROOT=$(cd "$MULTIBUILD_DIR/.." && pwd)
WHEEL_SDIR=${WHEEL_SDIR:-wheelhouse}
export MULTIBUILD_DIR MB_ROOT

# shellcheck source=multibuild/bootstrap.sh
source "$MULTIBUILD_DIR/bootstrap.sh"

function mb_error {
    # Print a one-line error to stderr. Callers return non-zero after it.
    echo "error: $*" >&2
}

function mb_python {
    # Run a helper module of this library: mb_python MODULE [ARGS...]
    # Uses the tool environment (MB_TOOL_PYTHON), creating it on first use.
    local module=$1; shift
    if [ -z "${MB_TOOL_PYTHON:-}" ]; then
        mb_bootstrap_tools "$MB_ROOT" >&2 || return 1
    fi
    PYTHONPATH="$MB_ROOT${PYTHONPATH:+:$PYTHONPATH}" "$MB_TOOL_PYTHON" -m "multibuild.$module" "$@"
}

function mb_now_us {
    # Print the current time in microseconds since the epoch (EPOCHREALTIME, else date).
    if [ -n "${EPOCHREALTIME:-}" ]; then
        local now=${EPOCHREALTIME/,/.}
        echo "${now/./}"
    else
        echo "$(date +%s)000000"
    fi
}

function mb_log_groups {
    # Print the log-group style of this CI service: azure, travis, github or none.
    # MB_LOG_GROUPS forces one (e.g. MB_LOG_GROUPS=none to silence markers).
    if [ -n "${MB_LOG_GROUPS:-}" ]; then echo "$MB_LOG_GROUPS"
    elif [ "${GITHUB_ACTIONS:-}" == true ]; then echo github
    elif [ "${TF_BUILD:-}" == True ]; then echo azure
    elif [ "${TRAVIS:-}" == true ]; then echo travis
    else echo none
    fi
}

function mb_group_name {
    # Print a fold-safe name for step NAME: TARGET.NAME with only [A-Za-z0-9._-].
    local name=${MB_TARGET_ID:+$MB_TARGET_ID.}$1
    echo "${name//[^A-Za-z0-9._-]/_}"
}

function mb_step_start {
    # Open lifecycle step NAME: a CI log group (Azure ##[group], Travis fold and timer,
    # GitHub ::group::) or a plain header, and a start line in MB_STEP_LOG (when set).
    MB_CURRENT_STEP=$1
    MB_STEP_START_US=$(mb_now_us)
    local title="${MB_TARGET_ID:+$MB_TARGET_ID: }$1" fold
    fold=$(mb_group_name "$1")
    case "$(mb_log_groups)" in
        azure) echo "##[group]$title" ;;
        github) echo "::group::$title" ;;
        travis) printf 'travis_fold:start:%s\r\033[0K%s\ntravis_time:start:%s\r\033[0K' \
                    "$fold" "$title" "$fold" ;;
        *) echo "---- $title" ;;
    esac
    if [ -n "${MB_STEP_LOG:-}" ]; then
        printf 'start\t%s\t%s.%s\n' "$1" "${MB_STEP_START_US:0:${#MB_STEP_START_US}-6}" \
            "${MB_STEP_START_US:${#MB_STEP_START_US}-6}" >> "$MB_STEP_LOG"
    fi
}

function mb_step_end {
    # Close step NAME with STATUS (default 0): its duration, the end line in MB_STEP_LOG,
    # then the CI group end (and on failure the service's error annotation).
    local name=$1 status=${2:-0} end start title fold took verdict
    end=$(mb_now_us)
    start=${MB_STEP_START_US:-$end}
    title="${MB_TARGET_ID:+$MB_TARGET_ID: }$name"
    fold=$(mb_group_name "$name")
    took=$(( (end - start) / 1000000 )).$(( (end - start) / 100000 % 10 ))
    verdict=passed
    [ "$status" -ne 0 ] && verdict="FAILED (exit $status)"
    if [ -n "${MB_STEP_LOG:-}" ]; then
        printf 'end\t%s\t%s.%s\t%s\n' "$name" "${end:0:${#end}-6}" "${end:${#end}-6}" \
            "$status" >> "$MB_STEP_LOG"
    fi
    echo "---- $title: $verdict in ${took}s"
    case "$(mb_log_groups)" in
        azure)
            echo "##[endgroup]"
            [ "$status" -ne 0 ] && echo "##[error]$title failed (exit $status) after ${took}s"
            ;;
        github)
            echo "::endgroup::"
            [ "$status" -ne 0 ] && echo "::error::$title failed (exit $status) after ${took}s"
            ;;
        travis)
            printf '\ntravis_time:end:%s:start=%s000,finish=%s000,duration=%s000\r\033[0K' \
                "$fold" "$start" "$end" "$((end - start))"
            printf 'travis_fold:end:%s\r\033[0K\n' "$fold"
            ;;
    esac
    MB_CURRENT_STEP=
    return 0
}

function mb_record_exit {
    # EXIT trap of a step script: a step still open when the shell exits has failed.
    local status=$?
    if [ -n "${MB_CURRENT_STEP:-}" ]; then
        mb_step_end "$MB_CURRENT_STEP" "$([ "$status" -eq 0 ] && echo 1 || echo "$status")"
    fi
    return "$status"
}

function retry {
    # Run a command, retrying on failure: retry COMMAND [ARGS...]
    # MB_RETRIES (default 5) attempts in all; waits 1, 2, 4, ... seconds between them.
    local attempts=${MB_RETRIES:-5} attempt=1 status
    while true; do
        "$@" && return 0
        status=$?
        if [ "$attempt" -ge "$attempts" ]; then
            echo "retry: '$*' failed $attempt times (exit $status); giving up" >&2
            return "$status"
        fi
        echo "retry: '$*' failed (exit $status); attempt $((attempt + 1))/$attempts" >&2
        sleep $((2 ** (attempt - 1)))
        attempt=$((attempt + 1))
    done
}

function suppress {
    # Run a command quietly; show its output only if it fails.
    local log status
    log=$(mktemp)
    "$@" > "$log" 2>&1
    status=$?
    [ "$status" -ne 0 ] && cat "$log" >&2
    rm -f "$log"
    return "$status"
}

function rm_mkdir {
    # Remove directory if present, then make it empty.
    local path=$1
    [ -z "$path" ] && { mb_error "rm_mkdir: no directory given"; return 1; }
    rm -rf "$path" && mkdir -p "$path"
}

function abspath {
    # Absolute form of a path (need not exist); '.' and '..' resolved, symlinks kept.
    local path=$1 part out=()
    [[ "$path" != /* ]] && path="$PWD/$path"
    local IFS=/
    for part in $path; do
        case "$part" in
            ""|.) ;;
            ..) [ "${#out[@]}" -gt 0 ] && unset 'out[${#out[@]}-1]' ;;
            *) out+=("$part") ;;
        esac
    done
    echo "/${out[*]}"
}

function relpath {
    # Path of $1 relative to $2 (default: current directory).
    local target base
    target=$(abspath "$1")
    base=$(abspath "${2:-$PWD}")
    "${PYTHON_EXE:-python3}" -c 'import os.path, sys; print(os.path.relpath(sys.argv[1], sys.argv[2]))' \
        "$target" "$base"
}

function is_function {
    # Echo the name (and succeed) if it is a defined shell function: [ -n "$(is_function f)" ]
    declare -Ff "$1"
}

function get_platform {
    # Machine architecture, as multibuild reports it (x86_64, i686, aarch64, arm64, ...).
    uname -m
}

function untar {
    # Extract an archive into the current directory, choosing the tool by extension.
    local archive=$1
    case "$archive" in
        *.tar.gz|*.tgz|*.tar.bz2|*.tbz|*.tar.xz|*.txz|*.tar) tar -xf "$archive" ;;
        *.zip) unzip -qo "$archive" ;;
        *) mb_error "untar: unknown archive type: $archive"; return 1 ;;
    esac
}

function check_sha256sum {
    # Fail unless FILE has sha256 SHA: check_sha256sum FILE SHA
    local file=$1 expected=$2 actual
    [ -f "$file" ] || { mb_error "check_sha256sum: no file $file"; return 1; }
    actual=$(sha256sum "$file" 2>/dev/null || shasum -a 256 "$file")
    actual=${actual%% *}
    if [ "$actual" != "$expected" ]; then
        mb_error "sha256 mismatch for $file: expected $expected, got $actual"
        return 1
    fi
}

function fetch_unpack {
    # Download URL into ARCHIVE_SDIR (default 'archives', a cache) and unpack it here.
    # fetch_unpack URL [ARCHIVE_NAME]; prints nothing, leaves the unpacked tree in $PWD.
    local url=$1
    local name=${2:-${url##*/}}
    local cache=${ARCHIVE_SDIR:-archives}
    [ -z "$url" ] && { mb_error "fetch_unpack: no URL given"; return 1; }
    mkdir -p "$cache"
    local archive="$cache/$name"
    if [ ! -f "$archive" ]; then
        retry curl -fsSL --max-time 600 -o "$archive.part" "$url" || {
            rm -f "$archive.part"; mb_error "fetch_unpack: download failed: $url"; return 1; }
        mv "$archive.part" "$archive"
    fi
    local scratch abs_archive
    abs_archive=$(abspath "$archive")
    scratch=$(mktemp -d "$PWD/.unpack-XXXXXX")
    (cd "$scratch" && untar "$abs_archive") || { rm -rf "$scratch"; return 1; }
    # Move the unpacked content beside us, replacing an older copy.
    local entry
    for entry in "$scratch"/* "$scratch"/.[!.]*; do
        [ -e "$entry" ] || continue
        rm -rf "./${entry##*/}"
        mv "$entry" .
    done
    rmdir "$scratch"
}

function build_simple {
    # Configure, make and install a source library into BUILD_PREFIX:
    # build_simple NAME VERSION URL [EXT [CONFIGURE_ARGS...]]
    # The installed files are kept in a library cache (MB_LIB_CACHE, default
    # $(mb_cache_dir)/libs) under a hash of the recipe (this function, name, version, URL,
    # arguments, prefix), the flags (CC, CXX, CFLAGS, CPPFLAGS, CXXFLAGS, FFLAGS, LDFLAGS) and
    # the platform; a hit installs the cached files, anything else is a rebuild.
    local name=$1 version=$2 url=$3 ext=${4:-tar.gz}
    shift 4 2>/dev/null || shift $#
    local prefix=${BUILD_PREFIX:-/usr/local}
    local cache key entry stage
    cache=${MB_LIB_CACHE:-$(mb_cache_dir)/libs} || return 1
    key=$( { declare -f build_simple
             printf '%s\n' "$name" "$version" "$url" "$ext" "$prefix" "$*" \
                "CC=${CC:-}" "CXX=${CXX:-}" "CFLAGS=${CFLAGS:-}" "CPPFLAGS=${CPPFLAGS:-}" \
                "CXXFLAGS=${CXXFLAGS:-}" "FFLAGS=${FFLAGS:-}" "LDFLAGS=${LDFLAGS:-}" \
                "PLAT=${PLAT:-}" "MB_ML_VER=${MB_ML_VER:-}" "MB_ML_LIBC=${MB_ML_LIBC:-}" \
                "MACOSX_DEPLOYMENT_TARGET=${MACOSX_DEPLOYMENT_TARGET:-}" \
                "ARCHFLAGS=${ARCHFLAGS:-}" "$(uname -sm)"
           } | mb_sha256_stdin | cut -c1-16 )
    entry="$cache/$name-$version-$key"
    if [ ! -d "$entry" ]; then
        fetch_unpack "$url/$name-$version.$ext" || return 1
        stage=$(abspath "$cache/.stage-$name-$key-$$")
        rm -rf "$stage"
        (cd "$name-$version" \
            && ./configure --prefix="$prefix" "$@" \
            && make -j"${MB_JOBS:-4}" \
            && make install DESTDIR="$stage") || { rm -rf "$stage"; return 1; }
        if [ ! -d "$stage$prefix" ]; then
            # make install ignored DESTDIR and installed into the prefix: nothing to cache.
            rm -rf "$stage"
            echo "build_simple: $name $version built (its install ignores DESTDIR: not cached)"
            return 0
        fi
        mkdir -p "$cache"
        # Publish atomically; a parallel target may have published the same key first.
        mv "$stage" "$entry" 2>/dev/null || rm -rf "$stage"
        echo "build_simple: $name $version built, cached as $entry"
    else
        echo "build_simple: $name $version from the library cache ($entry)"
    fi
    mkdir -p "$prefix" && cp -a "$entry$prefix/." "$prefix/"
}

function mb_default_pip_opts {
    # The library's own pip options (a config.sh pip_opts may add to them).
    if [ -n "${MANYLINUX_URL:-}" ]; then echo "--find-links $MANYLINUX_URL"; fi
}

function pip_opts {
    # Extra options for every pip command (install and wheel). config.sh may override.
    mb_default_pip_opts
}

function mb_uv_bin {
    # Print the uv binary of the tool environment; fail when absent or MB_USE_UV=0.
    [ "${MB_USE_UV:-1}" == 0 ] && return 1
    if [ -z "${MB_UV:-}" ]; then
        if [ -z "${MB_TOOL_PYTHON:-}" ]; then mb_bootstrap_tools "$MB_ROOT" >&2 || return 1; fi
        MB_UV=$("$MB_TOOL_PYTHON" -c 'import uv; print(uv.find_uv_bin())' 2>/dev/null) || MB_UV=none
        export MB_UV
    fi
    [ "$MB_UV" != none ] && echo "$MB_UV"
}

function mb_make_venv {
    # Create a fresh virtual environment: mb_make_venv BASE_PYTHON DIR
    # uv when available (an order of magnitude faster), else the venv module.
    local base=$1 dir=$2 uv
    rm -rf "$dir"
    if uv=$(mb_uv_bin); then
        UV_PYTHON_DOWNLOADS=never "$uv" venv --quiet --seed --python "$base" "$dir"
    else
        "$base" -m venv "$dir"
    fi
}

function mb_pip_install {
    # Install into the environment of PYTHON: mb_pip_install PYTHON ARGS...
    local python=$1 uv; shift
    if uv=$(mb_uv_bin); then
        UV_PYTHON_DOWNLOADS=never "$uv" pip install --python "$python" "$@"
    else
        "$python" -m pip install "$@"
    fi
}

function mb_cache_dir {
    # Print (and create) the stable cache directory: MB_CACHE_DIR, default build/cache under
    # the repository root (the same path inside a container, which sees the root as /io).
    local dir=${MB_CACHE_DIR:-$MB_ROOT/build/cache}
    mkdir -p "$dir" && echo "$dir"
}

function mb_sha256_stdin {
    # Print the sha256 of standard input (sha256sum, else shasum -a 256).
    local sum
    if command -v sha256sum > /dev/null 2>&1; then sum=$(sha256sum); else sum=$(shasum -a 256); fi
    echo "${sum%% *}"
}

function activate_ccache {
    # Put ccache in front of the C/C++ compilers (USE_CCACHE=1 calls it before pre_build):
    # wrapper links first on PATH, CC="ccache CC", CXX="ccache CXX", CCACHE_DIR in the
    # stable cache dir and CCACHE_BASEDIR so the stable build paths hash the same every run.
    local ccache bin cache compiler found
    if ! ccache=$(command -v ccache); then
        echo "warning: USE_CCACHE=1 but ccache is not on PATH; building without it" >&2
        return 0
    fi
    cache=$(mb_cache_dir) || return 1
    bin="$cache/ccache-bin"
    mkdir -p "$bin"
    for compiler in cc gcc c++ g++ clang clang++; do
        # Link only compilers that exist (ccache then runs the next one on PATH).
        found=$(PATH=${PATH//$bin:/} command -v "$compiler") || continue
        [ -n "$found" ] && ln -sf "$ccache" "$bin/$compiler"
    done
    case ":$PATH:" in *":$bin:"*) ;; *) export PATH="$bin:$PATH" ;; esac
    case "${CC:-}" in ccache\ *) ;; *) export CC="ccache ${CC:-gcc}" ;; esac
    case "${CXX:-}" in ccache\ *) ;; *) export CXX="ccache ${CXX:-g++}" ;; esac
    export CCACHE_DIR=${CCACHE_DIR:-$cache/ccache}
    export CCACHE_BASEDIR=${CCACHE_BASEDIR:-${MB_WORK_DIR:-$PWD}}
    export CCACHE_NOHASHDIR=${CCACHE_NOHASHDIR:-1}
    echo "activate_ccache: $CC, cache $CCACHE_DIR"
}

function mb_maybe_ccache {
    # Activate ccache when USE_CCACHE is 1 (or any other non-empty value but 0).
    if [ -n "${USE_CCACHE:-}" ] && [ "${USE_CCACHE}" != 0 ]; then activate_ccache; fi
}

function mb_target_checkout {
    # The target's own copy of the prepared checkout: mb_target_checkout SOURCE DEST
    # SOURCE is REPO_DIR after clean_code (once per run); DEST is a stable path under the
    # target's work dir, so parallel targets never share a build tree.
    local source=$1 dest=$2
    [ -d "$source/.git" ] || [ -f "$source/.git" ] || {
        mb_error "mb_target_checkout: $source is not a prepared checkout"; return 1; }
    rm -rf "$dest"
    mkdir -p "$(dirname "$dest")"
    if cp --reflink=auto --version > /dev/null 2>&1; then
        cp -a --reflink=auto "$source" "$dest" || return 1  # GNU cp: copy-on-write if possible
    else
        cp -a "$source" "$dest" || return 1
    fi
    echo "clean_code: $dest: copy of $source at $(git -C "$dest" rev-parse HEAD)"
}

function mb_clone_sdist_mirror {
    # Fallback of clean_code when a remote REPO_URL is out of reach and the commit is a release
    # tag: clone a local mirror made from the release's sdist on the package index instead.
    #   mb_clone_sdist_mirror REPO_DIR COMMIT
    # MB_SDIST_FALLBACK=0 refuses; MB_SDIST_NAME is the project's index name (default: REPO_DIR's).
    local repo_dir=$1 build_commit=$2 mirror
    [ "${MB_SDIST_FALLBACK:-1}" == 0 ] && return 1
    case "${REPO_URL:-}" in *://*|git@*) ;; *) return 1 ;; esac
    echo "clean_code: cannot clone $REPO_URL; trying the sdist of $build_commit on the index" >&2
    mirror=$(mb_python mirror "${MB_SDIST_NAME:-$(basename "$repo_dir")}" "$build_commit") || return 1
    git clone --quiet "$mirror" "$repo_dir"
}

function clean_code {
    # Check out BUILD_COMMIT of the project in REPO_DIR, clean: clean_code [REPO_DIR [COMMIT]]
    # Clones REPO_URL when REPO_DIR is missing. Any ref: branch, tag, full or short hash.
    local repo_dir=${1:-${REPO_DIR:-}}
    local build_commit=${2:-${BUILD_COMMIT:-}}
    [ -z "$repo_dir" ] && { mb_error "clean_code: REPO_DIR is not set"; return 1; }
    [ -z "$build_commit" ] && { mb_error "clean_code: BUILD_COMMIT is not set"; return 1; }
    if [ ! -d "$repo_dir" ]; then
        if [ -z "${REPO_URL:-}" ]; then
            mb_error "clean_code: project directory '$repo_dir' is missing and REPO_URL is not set"
            return 1
        fi
        git clone --quiet "$REPO_URL" "$repo_dir" \
            || mb_clone_sdist_mirror "$repo_dir" "$build_commit" \
            || { mb_error "clean_code: cannot clone $REPO_URL"; return 1; }
    fi
    local where=${REPO_URL:-$repo_dir}
    (
        cd "$repo_dir" || exit 1
        if git remote get-url origin > /dev/null 2>&1; then
            git fetch --quiet --tags --force origin || { mb_error "clean_code: fetch from $where failed"; exit 1; }
        fi
        # A remote branch is fresher than a stale local one; then tags, hashes, local branches.
        local sha
        sha=$(git rev-parse --verify --quiet "refs/remotes/origin/$build_commit^{commit}") \
            || sha=$(git rev-parse --verify --quiet "$build_commit^{commit}") \
            || { mb_error "clean_code: unknown ref '$build_commit' in repository $where"; exit 1; }
        git checkout --quiet --force --detach "$sha" \
            && git clean -fxdq \
            && git reset --quiet --hard \
            && git submodule --quiet update --init --recursive \
            && echo "clean_code: $repo_dir at $build_commit ($sha)"
    )
}

function mb_shell_state {
    # Print this shell's options, functions and variables as bash code, for a fresh bash
    # process to carry on from (bash's own and per-process variables left out).
    local name
    set +o
    shopt -p
    declare -f
    for name in $(compgen -v); do
        case "$name" in
            BASH*|FUNCNAME|PIPESTATUS|GROUPS|DIRSTACK|LINENO|RANDOM|SRANDOM|SECONDS|EPOCH*|\
            HIST*|COMP_*|OPTIND|OPTARG|OPTERR|PPID|SHLVL|SHELLOPTS|EUID|UID|PWD|OLDPWD|IFS|\
            PS[0-9]|_|COLUMNS|LINES) continue ;;
        esac
        declare -p "$name" 2> /dev/null
    done
}

function mb_print_exports {
    # Print every exported variable as an 'export NAME=VALUE' line (shell-quoted).
    local name
    for name in $(compgen -e); do
        case "$name" in BASH*|PWD|OLDPWD|SHLVL|_) continue ;; esac
        printf 'export %s=%q\n' "$name" "${!name}"
    done
}

function mb_run_pre_build {
    # Run config.sh's pre_build with errexit on, as CI runs a step's commands: a failing
    # command anywhere in it fails the build at once. It runs in a fresh bash process that
    # gets this shell's functions and variables (mb_shell_state): in a subshell, errexit
    # would be ignored whenever a caller tests the status (`||`, `&&`, `if`, as macOS's
    # wrap_wheel_builder does). What pre_build exports (PKG_CONFIG_PATH, OPENBLAS, CFLAGS,
    # PATH, ...) is exported here afterwards; plain variables it sets stay in its process.
    local state exports status=0
    state=$(mktemp) && exports=$(mktemp) || return 1
    mb_shell_state > "$state"
    # shellcheck disable=SC2016
    "${BASH:-bash}" -c 'source "$1" 2> /dev/null; set -e; pre_build; mb_print_exports > "$2"' \
        pre_build "$state" "$exports" || status=$?
    if [ "$status" -eq 0 ]; then
        # shellcheck disable=SC1090
        source "$exports" 2> /dev/null
    fi
    rm -f "$state" "$exports"
    if [ "$status" -ne 0 ]; then
        mb_error "pre_build failed (exit $status)"
        return "$status"
    fi
}

function pip_wheel_cmd {
    # Build the wheel of the current directory into WHEELHOUSE with pip. Verbose (pip shows
    # the build backend's output only with -v): the build's progress, e.g. meson's ninja
    # [n/m] lines, reaches build.log, and the terminal gets it condensed
    # (multibuild/progress.py). MB_BUILD_VERBOSE=0 builds quietly.
    local abs_wheelhouse=$1 opts verbose=-v
    [ "${MB_BUILD_VERBOSE:-1}" == 0 ] && verbose=
    opts=$(pip_opts | tr '\n' ' ')
    echo "pip_wheel_cmd: ${PIP_CMD:-python -m pip} wheel $verbose${verbose:+ }$opts-w $abs_wheelhouse --no-deps ."
    # shellcheck disable=SC2086
    ${PIP_CMD:-python -m pip} wheel $verbose $opts -w "$abs_wheelhouse" --no-deps .
}

function bdist_wheel_cmd {
    # Build the wheel of the current directory with setup.py bdist_wheel; copy to WHEELHOUSE.
    local abs_wheelhouse=$1
    "${PYTHON_EXE:-python}" setup.py bdist_wheel || return 1
    cp dist/*.whl "$abs_wheelhouse"
}

function build_wheel_cmd {
    # Generic build: build_wheel_cmd [CMD [REPO_DIR]]
    # pre_build (if config.sh defines it), BUILD_DEPENDS, CMD WHEELHOUSE in REPO_DIR, repair.
    local cmd=${1:-pip_wheel_cmd}
    local repo_dir=${2:-${REPO_DIR:-}}
    [ -z "$repo_dir" ] && { mb_error "build_wheel_cmd: REPO_DIR is not set"; return 1; }
    local wheelhouse
    wheelhouse=$(abspath "$WHEEL_SDIR")
    mkdir -p "$wheelhouse"
    mb_maybe_ccache || return 1
    if [ -n "$(is_function pre_build)" ]; then
        mb_run_pre_build || return 1
    fi
    if [ -n "${BUILD_DEPENDS:-}" ]; then
        # shellcheck disable=SC2046,SC2086
        mb_pip_install "${PYTHON_EXE:-python}" $(pip_opts) $BUILD_DEPENDS || return 1
    fi
    (cd "$repo_dir" && "$cmd" "$wheelhouse") || { mb_error "building $repo_dir with $cmd failed"; return 1; }
    repair_wheelhouse "$wheelhouse"
}

function build_pip_wheel {
    # Build with pip wheel: build_pip_wheel [REPO_DIR]
    wrap_wheel_builder build_wheel_cmd pip_wheel_cmd "$@"
}

function build_bdist_wheel {
    # Build with setup.py bdist_wheel: build_bdist_wheel [REPO_DIR]
    wrap_wheel_builder build_wheel_cmd bdist_wheel_cmd "$@"
}

function build_wheel {
    # Default wheel build: build_wheel [REPO_DIR [PLAT]]. config.sh may override.
    build_pip_wheel "$1"
}

function wrap_wheel_builder {
    # Run a builder with the platform's compiler settings: wrap_wheel_builder BUILDER ARGS...
    # On Linux there is nothing to set; osx_utils.sh redefines it for architectures.
    "$@"
}

function index_wheel_cmd {
    # Build SPEC from the package index into WHEELHOUSE: index_wheel_cmd SPEC WHEELHOUSE
    local spec=$1 abs_wheelhouse=$2
    local name=${spec%%[=<>!~;[ ]*}
    # shellcheck disable=SC2046
    ${PIP_CMD:-python -m pip} wheel $(pip_opts) -w "$abs_wheelhouse" --no-deps \
        --no-binary "$name" "$spec"
}

function build_index_wheel {
    # Build a wheel from a package index source release: build_index_wheel SPEC
    local spec=$1
    [ -z "$spec" ] && { mb_error "build_index_wheel: no project spec given"; return 1; }
    local wheelhouse
    wheelhouse=$(abspath "$WHEEL_SDIR")
    mkdir -p "$wheelhouse"
    mb_maybe_ccache || return 1
    if [ -n "$(is_function pre_build)" ]; then mb_run_pre_build || return 1; fi
    if [ -n "${BUILD_DEPENDS:-}" ]; then
        # shellcheck disable=SC2046,SC2086
        mb_pip_install "${PYTHON_EXE:-python}" $(pip_opts) $BUILD_DEPENDS || return 1
    fi
    wrap_wheel_builder index_wheel_cmd "$spec" "$wheelhouse" || return 1
    repair_wheelhouse "$wheelhouse"
}

function repair_wheelhouse {
    # Make the wheels of IN_DIR self-contained into OUT_DIR (default IN_DIR):
    # auditwheel (Linux), delocate (macOS), delvewheel (Windows); pure wheels untouched.
    local in_dir=$1 out_dir=${2:-$1}
    mb_python repair "$in_dir" "$out_dir"
}

function install_wheel {
    # Install TEST_DEPENDS and the wheelhouse wheels that fit PYTHON_EXE.
    local wheelhouse wheels
    wheelhouse=$(abspath "$WHEEL_SDIR")
    wheels=$(mb_python wheelfit "$wheelhouse" --python "${PYTHON_EXE:-python}") || return 1
    if [ -n "${TEST_DEPENDS:-}" ]; then
        # shellcheck disable=SC2046,SC2086
        mb_pip_install "${PYTHON_EXE:-python}" $(pip_opts) $TEST_DEPENDS || return 1
    fi
    echo "install_wheel: $wheels"
    # shellcheck disable=SC2046,SC2086
    mb_pip_install "${PYTHON_EXE:-python}" $(pip_opts) $wheels
}

function mb_test_venv {
    # Make a fresh test environment for MB_PYTHON_VERSION and activate it.
    local base dir
    base=$(mb_python interpreters find "${MB_PYTHON_VERSION:-3}") || return 1
    dir=$(abspath "${MB_WORK_DIR:-build}/test-venv")
    mb_make_venv "$base" "$dir" || return 1
    export VIRTUAL_ENV=$dir PATH="$dir/bin:$PATH" PYTHON_EXE="$dir/bin/python"
    export PIP_CMD="$PYTHON_EXE -m pip"
}

function install_run {
    # Install the fitting wheels into a fresh environment and run config.sh's run_tests there,
    # from an empty directory, so the installed wheel is tested, not the source tree.
    if [ -z "$(is_function run_tests)" ]; then
        mb_error "config.sh (${CONFIG_PATH:-config.sh}) does not define run_tests"
        return 1
    fi
    mb_test_venv || return 1
    install_wheel || return 1
    # run_tests runs in a subshell with errexit on, as a CI step would, from an empty directory.
    local empty status flags=$-
    empty=$(mktemp -d)
    set +e
    (set -e; cd "$empty"; run_tests)
    status=$?
    [[ $flags == *e* ]] && set -e
    rm -rf "$empty"
    if [ "$status" -ne 0 ]; then
        mb_error "run_tests failed (exit $status)"
        return "$status"
    fi
}

function mb_source_project {
    # Source ENV_VARS_PATH (default env_vars.sh), then CONFIG_PATH (default config.sh), last,
    # so the project can override any library function. Syntax errors are named up front.
    local env_vars=${ENV_VARS_PATH:-env_vars.sh} config=${CONFIG_PATH:-config.sh} file problem
    if [ -n "${ENV_VARS_PATH:-}" ] && [ ! -r "$env_vars" ]; then
        mb_error "ENV_VARS_PATH file '$env_vars' not found (in $PWD)"
        return 1
    fi
    if [ ! -r "$config" ]; then
        mb_error "CONFIG_PATH file '$config' not found (in $PWD)"
        return 1
    fi
    for file in "$env_vars" "$config"; do
        [ -r "$file" ] || continue
        if ! problem=$(bash -n "$file" 2>&1); then
            mb_error "syntax error in $file: $(echo "$problem" | head -n 1)"
            return 1
        fi
    done
    if [ -r "$env_vars" ]; then
        # shellcheck disable=SC1090
        source "$env_vars" || { mb_error "sourcing $env_vars failed"; return 1; }
    fi
    # shellcheck disable=SC1090
    source "$config" || { mb_error "sourcing $config failed"; return 1; }
}

function mb_handed_env {
    # Run a command with the declared step environment exported (see environment.py):
    # mb_handed_env COMMAND [ARGS...]. Runs in a subshell; the caller's shell is untouched.
    (
        local name
        for name in $(mb_python environment names) ; do
            if [ -n "${!name+x}" ]; then export "${name?}"; fi
        done
        "$@"
    )
}

# shellcheck source=multibuild/library_builders.sh
source "$MULTIBUILD_DIR/library_builders.sh"
