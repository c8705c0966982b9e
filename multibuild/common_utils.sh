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

function mb_step_start {
    # Mark the start of lifecycle step NAME in MB_STEP_LOG (when set), for the run summary.
    MB_CURRENT_STEP=$1
    if [ -n "${MB_STEP_LOG:-}" ]; then
        printf 'start\t%s\t%s\n' "$1" "$(date +%s.%N)" >> "$MB_STEP_LOG"
    fi
}

function mb_step_end {
    # Mark the end of step NAME with STATUS (default 0).
    if [ -n "${MB_STEP_LOG:-}" ]; then
        printf 'end\t%s\t%s\t%s\n' "$1" "$(date +%s.%N)" "${2:-0}" >> "$MB_STEP_LOG"
    fi
    MB_CURRENT_STEP=
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
    # Skipped when the same recipe (name, version, args, flags) was installed already.
    local name=$1 version=$2 url=$3 ext=${4:-tar.gz}
    shift 4 2>/dev/null || shift $#
    local prefix=${BUILD_PREFIX:-/usr/local}
    local key
    key=$(printf '%s\n' "$name" "$version" "$url" "$ext" "$prefix" "$*" "${CFLAGS:-}" \
        "${LDFLAGS:-}" | sha256sum | cut -c1-16)
    local stamp="${name}-${key}-stamp"
    [ -e "$stamp" ] && return 0
    fetch_unpack "$url/$name-$version.$ext" || return 1
    (cd "$name-$version" \
        && ./configure --prefix="$prefix" "$@" \
        && make -j"${MB_JOBS:-4}" \
        && make install) || return 1
    touch "$stamp"
}

function pip_opts {
    # Extra options for every pip command (install and wheel). config.sh may override.
    if [ -n "${MANYLINUX_URL:-}" ]; then echo "--find-links $MANYLINUX_URL"; fi
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
        git clone --quiet "$REPO_URL" "$repo_dir" || {
            mb_error "clean_code: cannot clone $REPO_URL"; return 1; }
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

function pip_wheel_cmd {
    # Build the wheel of the current directory into WHEELHOUSE with pip.
    local abs_wheelhouse=$1
    # shellcheck disable=SC2046
    ${PIP_CMD:-python -m pip} wheel $(pip_opts) -w "$abs_wheelhouse" --no-deps .
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
    if [ -n "$(is_function pre_build)" ]; then
        pre_build || { mb_error "pre_build failed"; return 1; }
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
    if [ -n "$(is_function pre_build)" ]; then pre_build || return 1; fi
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
