#!/usr/bin/env bash
# Utilities and the platform-independent build steps of the multibuild library.
#
# Source it first:  source multibuild/common_utils.sh; source multibuild/travis_steps.sh
# Every function here may be overridden by config.sh, which is sourced last.
# Logic beyond a few lines lives in the Python modules beside this file (see mb_python).
#
# As multibuild's, sourcing it turns on errexit (set -e) in the sourcing shell, and sourcing it
# again in the same shell does nothing (so functions config.sh overrode stay overridden).

if [ -n "${COMMON_UTILS_SOURCED:-}" ]; then
    return 0
fi
COMMON_UTILS_SOURCED=1
set -e

MULTIBUILD_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
MB_ROOT=$(cd "$MULTIBUILD_DIR/.." && pwd)
WHEEL_SDIR=${WHEEL_SDIR:-wheelhouse}
export MULTIBUILD_DIR MB_ROOT

# multibuild's variables for config.sh (set, not exported, as multibuild does): IS_MACOS and its
# old name IS_OSX on macOS (MB_HOST_SYSTEM overrides uname -s, as in travis_steps.sh), IS_ALPINE
# for musllinux builds, IS_X86 on x86_64 and i686, UNICODE_WIDTH for cpython_path (Python 2),
# DOWNLOADS_SDIR for downloads. MB_ML_VER keeps its default in multibuild/core/platforms.py.
# shellcheck disable=SC2034
{
    if [ "${MB_HOST_SYSTEM:-$(uname -s)}" == Darwin ]; then IS_MACOS=1; IS_OSX=1; fi
    if [ "${MB_ML_LIBC:-}" == musllinux ]; then IS_ALPINE=1; fi
    case "$(uname -m)" in x86_64|i686) IS_X86=1 ;; esac
    UNICODE_WIDTH=${UNICODE_WIDTH:-32}
    DOWNLOADS_SDIR=${DOWNLOADS_SDIR:-downloads}
}

# shellcheck source=multibuild/bootstrap.sh
source "$MULTIBUILD_DIR/bootstrap.sh"

function mb_error {
    # Print a one-line error to stderr. Callers return non-zero after it.
    echo "error: $*" >&2
}

function mb_python {
    # Run a helper module of this library: mb_python PACKAGE.MODULE [ARGS...], e.g.
    # mb_python build.incremental requires SRC (python -m multibuild.build.incremental).
    # Uses the tool environment (MB_TOOL_PYTHON), creating it on first use.
    local module=$1; shift
    if [ -z "${MB_TOOL_PYTHON:-}" ]; then
        mb_bootstrap_tools "$MB_ROOT" >&2 || return 1
    fi
    PYTHONPATH="$MB_ROOT${PYTHONPATH:+:$PYTHONPATH}" "$MB_TOOL_PYTHON" -m "multibuild.$module" "$@"
}

function mb_import_vars {
    # Assign the NAME=VALUE lines on stdin (multibuild/core/shellvars.py) without evaluating any:
    #   mb_import_vars [--export] NAME... <<< "$(mb_python MODULE ...)"
    # Only the NAMEs listed are accepted; each value is taken byte for byte (quotes, $(...),
    # backticks, globs and all) with printf -v, or export with --export. Never eval. A line's
    # trailing CR (Python's newline on Windows) is dropped: no value may hold one.
    local mb_iv_export="" mb_iv_line mb_iv_name mb_iv_known mb_iv_ok
    if [ "${1:-}" == --export ]; then mb_iv_export=1; shift; fi
    while IFS= read -r mb_iv_line || [ -n "$mb_iv_line" ]; do
        mb_iv_line=${mb_iv_line%$'\r'}
        [ -n "$mb_iv_line" ] || continue
        mb_iv_name=${mb_iv_line%%=*}
        mb_iv_ok=""
        for mb_iv_known in "$@"; do
            if [ "$mb_iv_known" == "$mb_iv_name" ]; then mb_iv_ok=1; break; fi
        done
        if [ -z "$mb_iv_ok" ] || [ "$mb_iv_name" == "$mb_iv_line" ]; then
            mb_error "mb_import_vars: unexpected record '${mb_iv_line:0:60}' (expected: $*)"
            return 1
        fi
        if [ -n "$mb_iv_export" ]; then
            export "$mb_iv_name=${mb_iv_line#*=}"
        else
            printf -v "$mb_iv_name" '%s' "${mb_iv_line#*=}"
        fi
    done
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
    # then the CI group end (and on failure the service's error annotation). SIGNAL, when
    # given, names the signal that interrupted the step: it is reported as interrupted, not
    # failed: mb_step_end NAME [STATUS [SIGNAL]]
    local name=$1 status=${2:-0} signame=${3:-} end start title fold took verdict problem
    end=$(mb_now_us)
    start=${MB_STEP_START_US:-$end}
    title="${MB_TARGET_ID:+$MB_TARGET_ID: }$name"
    fold=$(mb_group_name "$name")
    took=$(( (end - start) / 1000000 )).$(( (end - start) / 100000 % 10 ))
    verdict=passed
    problem="failed (exit $status)"
    [ "$status" -ne 0 ] && verdict="FAILED (exit $status)"
    if [ -n "$signame" ]; then
        verdict="INTERRUPTED by $signame"
        problem="interrupted by $signame"
    fi
    if [ -n "${MB_STEP_LOG:-}" ]; then
        local extra=""
        [ -n "$signame" ] && extra=$'\t'$signame
        printf 'end\t%s\t%s.%s\t%s%s\n' "$name" "${end:0:${#end}-6}" "${end:${#end}-6}" \
            "$status" "$extra" >> "$MB_STEP_LOG"
    fi
    echo "---- $title: $verdict $([ -n "$signame" ] && echo after || echo in) ${took}s"
    case "$(mb_log_groups)" in
        azure)
            echo "##[endgroup]"
            [ "$status" -ne 0 ] && echo "##[error]$title $problem after ${took}s"
            ;;
        github)
            echo "::endgroup::"
            [ "$status" -ne 0 ] && echo "::error::$title $problem after ${took}s"
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
    # EXIT trap of a step script: a step still open when the shell exits has failed, or was
    # interrupted when ./wheels wrote the signal's name to MB_INTERRUPT_MARK before stopping
    # the script (whatever status its commands died with).
    local status=$? signame=""
    if [ -n "${MB_CURRENT_STEP:-}" ]; then
        if [ -n "${MB_INTERRUPT_MARK:-}" ] && [ -s "$MB_INTERRUPT_MARK" ]; then
            read -r signame < "$MB_INTERRUPT_MARK" || signame=signal
        fi
        mb_step_end "$MB_CURRENT_STEP" "$([ "$status" -eq 0 ] && echo 1 || echo "$status")" \
            "$signame"
    fi
    return "$status"
}

function shell_session_update {
    # Nothing: a hook Travis's macOS image calls on cd; multibuild defines it empty too.
    :
}

function start_spinner {
    # Keep a quiet CI job alive: print "Building libraries..." to stderr, then "Still
    # building..." every MB_SPINNER_INTERVAL (default 60) seconds until stop_spinner. The
    # keep-alive process is MB_SPINNER_PID; it also ends by itself once this shell has exited.
    if [ -n "${MB_SPINNER_PID:-}" ]; then return 0; fi
    echo "Building libraries..." >&2
    local shell_pid=$$ interval=${MB_SPINNER_INTERVAL:-60}
    (
        while sleep "$interval" > /dev/null 2>&1 && kill -0 "$shell_pid" 2>/dev/null
        do
            echo "Still building..." >&2
        done
    ) < /dev/null > /dev/null &
    MB_SPINNER_PID=$!
    disown "$MB_SPINNER_PID" 2>/dev/null || true
}

function stop_spinner {
    # Stop the keep-alive process of start_spinner and say so on stderr; nothing if none runs.
    if [ -z "${MB_SPINNER_PID:-}" ]; then return 0; fi
    kill "$MB_SPINNER_PID" 2>/dev/null || true
    unset MB_SPINNER_PID
    echo "Building libraries finished." >&2
}

function any_python {
    # Print the first Python there is: PYTHON_EXE, else python3, else python.
    local cmd
    for cmd in ${PYTHON_EXE:+"$PYTHON_EXE"} python3 python; do
        if [ -n "$(type -t "$cmd")" ]; then
            echo "$cmd"
            return 0
        fi
    done
    mb_error "any_python: no Python found (PYTHON_EXE, python3 and python are missing)"
    return 1
}

function retry {
    # Run a command until it succeeds, as multibuild does: retry COMMAND [ARGS...]
    # Up to MB_RETRIES (default 5) attempts, MB_RETRY_WAIT (default 1) seconds apart; after the
    # last failed attempt prints "Retry failed [N]: COMMAND ARGS" on stderr and returns 1.
    if [ $# -eq 0 ]; then mb_error "retry: no command given"; return 1; fi
    local attempts=${MB_RETRIES:-5} wait=${MB_RETRY_WAIT:-1} attempt
    for (( attempt = 1; attempt <= attempts; attempt++ )); do
        if "$@"; then return 0; fi
        if (( attempt < attempts )); then sleep "$wait"; fi
    done
    echo "Retry failed [$attempts]: $*" >&2
    return 1
}

function set_opts {
    # Turn each of the shell options e, x, h, m, B, H on or off as OPTS (in $- form) has it:
    #   saved=$-; set +e; ...; set_opts "$saved"
    if [ $# -eq 0 ]; then mb_error "set_opts: no options string given (e.g. \"\$-\")"; return 1; fi
    local opts=$1 flag
    for flag in e x h m B H; do
        if [[ "$opts" == *"$flag"* ]]; then set -"$flag"; else set +"$flag"; fi
    done
}

function suppress {
    # Run a command quietly: print "Running COMMAND ARGS" on stdout, and only if the command
    # fails its whole output (stdout and stderr, in order) on stdout too; return its status.
    # With errexit on, the command runs with errexit as well (a failing step inside a function
    # stops it), without ending this shell.
    if [ $# -eq 0 ]; then mb_error "suppress: no command given"; return 1; fi
    local log status flags=$-
    log=$(mktemp "${TMPDIR:-/tmp}/mb-suppress.XXXXXX") || return 1
    echo "Running $*"
    set +e
    ( if [[ $flags == *e* ]]; then set -e; fi; "$@" ) > "$log" 2>&1
    status=$?
    if [[ $flags == *e* ]]; then set -e; fi
    if [ "$status" -ne 0 ]; then cat "$log"; fi
    rm -f "$log"
    return "$status"
}

function expect_return {
    # Succeed only if COMMAND returns CODE: expect_return CODE COMMAND [ARGS...]
    # Otherwise return the command's status (1 when it succeeded unexpectedly). The command
    # runs in a subshell, so an exit in it cannot end this shell.
    if [ $# -lt 2 ]; then
        mb_error "expect_return: needs a return code and a command (got $# argument(s))"
        return 1
    fi
    if [[ ! "$1" =~ ^[0-9]+$ ]]; then
        mb_error "expect_return: return code '$1' is not a number"
        return 1
    fi
    local expected=$1 status=0
    shift
    ( "$@" ) || status=$?
    if [ "$status" -eq "$expected" ]; then return 0; fi
    return $(( status == 0 ? 1 : status ))
}

function cmd_notexit {
    # Run COMMAND in a subshell with errexit off and return its status, so it cannot end this
    # shell (the caller's errexit setting is kept): cmd_notexit COMMAND [ARGS...] || status=$?
    if [ $# -eq 0 ]; then mb_error "cmd_notexit: no command given"; return 1; fi
    local flags=$- status
    set +e
    ( "$@" )
    status=$?
    if [[ $flags == *e* ]]; then set -e; fi
    return "$status"
}

function rm_mkdir {
    # Remove directory if present, then make it empty: rm_mkdir DIR
    local path=${1:-}
    if [ -z "$path" ]; then mb_error "rm_mkdir: no directory given"; return 1; fi
    rm -rf "$path" && mkdir -p "$path"
}

function abspath {
    # Absolute form of a path (need not exist); '.' and '..' resolved, symlinks kept.
    local path=${1:-} part out=()
    if [[ "$path" != /* ]]; then path="$PWD/$path"; fi
    local IFS=/
    for part in $path; do
        case "$part" in
            ""|.) ;;
            ..) if [ "${#out[@]}" -gt 0 ]; then unset 'out[${#out[@]}-1]'; fi ;;
            *) out+=("$part") ;;
        esac
    done
    echo "/${out[*]}"
}

function relpath {
    # Path of $1 relative to $2 (default: current directory).
    if [ -z "${1:-}" ]; then mb_error "relpath: no path given"; return 1; fi
    local target base python
    target=$(abspath "$1")
    base=$(abspath "${2:-$PWD}")
    python=$(any_python) || return 1
    "$python" -c 'import os.path, sys; print(os.path.relpath(sys.argv[1], sys.argv[2]))' \
        "$target" "$base"
}

function realpath {
    # Absolute path with symlinks resolved; it need not exist: realpath PATH
    # (called with options or several paths, the system's realpath runs instead).
    if [ $# -eq 0 ]; then mb_error "realpath: no path given"; return 1; fi
    if [ $# -gt 1 ] || [[ "$1" == -* ]]; then
        command realpath "$@"
        return
    fi
    local python
    python=$(any_python) || return 1
    "$python" -c 'import os.path, sys; print(os.path.realpath(sys.argv[1]))' "$1"
}

function lex_ver {
    # Sortable, zero-padded form of a dotted version; suffixes are dropped:
    #   lex_ver 3.2.1 -> 003002001; lex_ver 3 -> 003000000; lex_ver 2.1.4rc1 -> 002001004
    if [ -z "${1:-}" ]; then mb_error "lex_ver: no version given"; return 1; fi
    local IFS=. part lexed="" index
    local -a parts
    read -r -a parts <<< "$1"
    for index in 0 1 2; do
        part=${parts[index]:-0}
        part=${part%%[!0-9]*}
        lexed+=$(printf '%03d' "$((10#${part:-0}))")
    done
    echo "$lexed"
}

function unlex_ver {
    # The version of a lex_ver string: unlex_ver 003002001 -> 3.2.1 (beyond 9 digits ignored)
    local lex=${1:-}
    if [[ ! "$lex" =~ ^[0-9]{9} ]]; then
        mb_error "unlex_ver: expected 9 digits as lex_ver prints them, got '$lex'"
        return 1
    fi
    echo "$((10#${lex:0:3})).$((10#${lex:3:3})).$((10#${lex:6:3}))"
}

function strip_ver_suffix {
    # MAJOR.MINOR.MICRO of a version, suffix dropped: strip_ver_suffix 3.4.0rc1 -> 3.4.0
    if [ -z "${1:-}" ]; then mb_error "strip_ver_suffix: no version given"; return 1; fi
    unlex_ver "$(lex_ver "$1")"
}

function is_function {
    # Print "true" and succeed if NAME is a shell function (it is not run); else print nothing
    # and fail. Use: if [ -n "$(is_function pre_build)" ]; then pre_build; fi
    if [ -n "${1:-}" ] && declare -Ff -- "$1" > /dev/null; then
        echo true
        return 0
    fi
    return 1
}

function gh_clone {
    # Clone a GitHub repository into the current directory: gh_clone OWNER/NAME
    if [[ ! "${1:-}" =~ ^[^/[:space:]]+/[^/[:space:]]+$ ]]; then
        mb_error "gh_clone: expected OWNER/NAME, got '${1:-}'"
        return 1
    fi
    git clone "https://github.com/$1"
}

function gh-clone {
    # The old name of gh_clone, kept as multibuild keeps it.
    gh_clone "$@"
}

function get_os {
    # The operating system as Python's platform.system() names it: Linux, Darwin or Windows
    # (MB_HOST_SYSTEM overrides uname -s).
    local system=${MB_HOST_SYSTEM:-$(uname -s)}
    case "$system" in
        MINGW*|MSYS*|CYGWIN*|Windows*) echo Windows ;;
        *) echo "$system" ;;
    esac
}

function get_platform {
    # Machine architecture, as multibuild reports it (x86_64, i686, aarch64, arm64, ...).
    uname -m
}

function get_distutils_platform {
    # With no argument: the platform tag PYTHON_EXE builds for (sysconfig.get_platform(), e.g.
    # linux-x86_64, macosx-10.9-x86_64). With PLAT [UNAME] (the old _gfortran_utils.sh form):
    # the tag of a library archive for PLAT, manylinux1_PLAT or macosx_TARGET_PLAT on Darwin.
    if [ $# -eq 0 ]; then
        check_python || return 1
        "$PYTHON_EXE" -c 'import sysconfig; print(sysconfig.get_platform())'
        return
    fi
    mb_python core.platforms --function get_distutils_platform archive-tag "$1" \
        --system "${2:-$(get_os)}" --ml-ver 1
}

function get_distutils_platform_ex {
    # The tag of a library archive for PLAT: get_distutils_platform_ex PLAT [UNAME]
    #   manylinux${MB_ML_VER}_PLAT (MB_ML_VER's default is this library's), or on Darwin
    #   macosx_${MACOSX_DEPLOYMENT_TARGET}_PLAT.
    if [ -z "${1:-}" ]; then mb_error "get_distutils_platform_ex: no PLAT given"; return 1; fi
    mb_python core.platforms --function get_distutils_platform_ex archive-tag "$1" \
        --system "${2:-$(get_os)}" --ml-ver "${MB_ML_VER:-}"
}

function check_python {
    # Fail, with a one-line error, unless PYTHON_EXE is set.
    if [ -z "${PYTHON_EXE:-}" ]; then
        mb_error "${FUNCNAME[1]:-check_python}: PYTHON_EXE variable not defined"
        return 1
    fi
}

function check_pip {
    # Fail, with a one-line error, unless PIP_CMD is set.
    if [ -z "${PIP_CMD:-}" ]; then
        mb_error "${FUNCNAME[1]:-check_pip}: PIP_CMD variable not defined"
        return 1
    fi
}

function get_py_mm {
    # MAJOR.MINOR of PYTHON_EXE: 3.12
    check_python || return 1
    "$PYTHON_EXE" -c 'import sys; print("%d.%d" % sys.version_info[:2])'
}

function install_pip {
    # Make sure PYTHON_EXE has pip (ensurepip, which needs no network) and set PIP_CMD to it.
    # multibuild marks it deprecated: its own steps no longer call it.
    check_python || return 1
    if ! "$PYTHON_EXE" -m pip --version > /dev/null 2>&1; then
        "$PYTHON_EXE" -m ensurepip --upgrade > /dev/null \
            || { mb_error "install_pip: ensurepip failed for $PYTHON_EXE"; return 1; }
    fi
    PIP_CMD="$PYTHON_EXE -m pip"
    export PIP_CMD
}

function cpython_path {
    # Prefix of CPython X.Y in a manylinux image: cpython_path X.Y [UNICODE_WIDTH]
    #   3.12 -> /opt/python/cp312-cp312, 3.13t -> /opt/python/cp313-cp313t (free-threaded),
    #   3.7 -> /opt/python/cp37-cp37m (the "m" ABI suffix before 3.8),
    #   2.7 -> /opt/python/cp27-cp27mu (UNICODE_WIDTH 32, the default, or "u"; 16 -> cp27m).
    local version=${1:-} width=${2:-${UNICODE_WIDTH:-32}}
    if [[ ! "$version" =~ ^([23])\.([0-9]+)(\.[0-9]+)?(t?)$ ]]; then
        mb_error "cpython_path: expected a CPython version X.Y (e.g. 3.12), got '$version'"
        return 1
    fi
    local major=${BASH_REMATCH[1]} minor=${BASH_REMATCH[2]} threading=${BASH_REMATCH[4]} abi=""
    if [ -n "$threading" ] && (( major * 100 + minor < 313 )); then
        mb_error "cpython_path: free-threaded CPython starts at 3.13, got '$version'"
        return 1
    fi
    if (( major * 100 + minor < 308 )); then abi=m; fi
    if (( major * 100 + minor < 304 )); then
        case "$width" in
            32|u) abi+=u ;;
            16) ;;
            *) mb_error "cpython_path: unicode width must be 16 or 32, got '$width'"; return 1 ;;
        esac
    fi
    echo "/opt/python/cp$major$minor-cp$major$minor$abi$threading"
}

function install_rsync {
    # Make sure rsync is on PATH: nothing to do on macOS or when it is there; else install it
    # with the image's package manager (apk on musllinux, apt-get, yum).
    if [ -n "${IS_MACOS:-}" ] || command -v rsync > /dev/null 2>&1; then return 0; fi
    if [ -n "${IS_ALPINE:-}" ] && command -v apk > /dev/null 2>&1; then
        apk add rsync
    elif command -v apt-get > /dev/null 2>&1; then
        apt-get install -y rsync
    elif command -v yum > /dev/null 2>&1; then
        yum install -y rsync && rpm -q rsync
    else
        mb_error "install_rsync: rsync is missing and there is no apk, apt-get or yum to install it"
        return 1
    fi
}

# The last PyPy release of each series, for fill_pypy_ver (multibuild's table, up to 7.2).
# shellcheck disable=SC2034
{
    LATEST_PP_5p0=5.0.1; LATEST_PP_5p1=5.1.1; LATEST_PP_5p3=5.3.1; LATEST_PP_5p4=5.4.1
    LATEST_PP_5p6=5.6.0; LATEST_PP_5p7=5.7.1; LATEST_PP_5p8=5.8.0; LATEST_PP_5p9=5.9.0
    LATEST_PP_5p10=5.10.1; LATEST_PP_5=$LATEST_PP_5p10
    LATEST_PP_6p0=6.0.0; LATEST_PP_6=$LATEST_PP_6p0
    LATEST_PP_7p0=7.0.0; LATEST_PP_7p1=7.1.1; LATEST_PP_7p2=7.2.0
}

function unroll_version {
    # Expand a version through a table of PREFIX_XpY variables, as far as it goes:
    #   unroll_version LATEST_PP 5 -> $LATEST_PP_5 -> $LATEST_PP_5p10 ... -> 5.10.1
    # A version the table does not know is printed as given.
    if [ -z "${1:-}" ] || [ -z "${2:-}" ]; then
        mb_error "unroll_version: needs a table prefix and a version (e.g. LATEST_PP 5)"
        return 1
    fi
    local prefix=$1 version=$2 name seen=0
    while (( seen++ < 10 )); do
        name="${prefix}_${version//./p}"
        if [[ ! "$name" =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]] || [ -z "${!name:-}" ]; then break; fi
        version=${!name}
    done
    echo "$version"
}

function fill_pypy_ver {
    # MAJOR.MINOR.MICRO of a PyPy version from multibuild's table: fill_pypy_ver 5 -> 5.10.1
    if [ -z "${1:-}" ]; then mb_error "fill_pypy_ver: no version given"; return 1; fi
    unroll_version LATEST_PP "$1"
}

function get_pypy_build_prefix {
    # File name prefix of a PyPy download: pypy3.6-7.2 -> pypy3.6-v, 7.2 -> pypy2.7-v,
    # 5.3 to 6.x -> pypy2-v, older -> pypy-
    local version=${1:-}
    if [[ "$version" =~ pypy([0-9]+)\.([0-9]+)-([0-9]+)\.([0-9]+) ]]; then
        echo "pypy${BASH_REMATCH[1]}.${BASH_REMATCH[2]}-v"
    elif [[ "$version" =~ ([0-9]+)\.([0-9]+) ]]; then
        local major=${BASH_REMATCH[1]} minor=${BASH_REMATCH[2]}
        if (( major > 6 )); then echo "pypy2.7-v"
        elif (( major > 5 || (major == 5 && minor >= 3) )); then echo "pypy2-v"
        else echo "pypy-"
        fi
    else
        mb_error "get_pypy_build_prefix: expected a version like pypy3.6-7.2 or 7.2, got '$version'"
        return 1
    fi
}

function install_pypy {
    # Not available: this library builds with CPython only (multibuild downloaded PyPy here).
    mb_error "install_pypy: PyPy is not supported by this library (CPython only), asked for '${1:-}'"
    return 1
}

function untar {
    # Extract an archive into the current directory: untar ARCHIVE
    # The type comes from the name (.tar, .tar.gz/.tgz, .tar.bz2/.tbz, .tar.xz/.txz, .zip); an
    # archive with members that would land outside the directory is refused, nothing extracted.
    local archive=${1:-}
    if [ -z "$archive" ]; then
        mb_error "untar: ARCHIVE (argument 1) is empty"
        return 1
    fi
    mb_python deps.recipes untar "$archive" --dest .
}

function check_sha256sum {
    # Fail unless FILE has sha256 SHA: check_sha256sum FILE SHA (prints "FILE: OK", as
    # sha256sum -c does in multibuild's)
    local file=${1:-} expected=${2:-} actual
    if [ -z "$file" ] || [ -z "$expected" ]; then
        mb_error "check_sha256sum: needs a file and its sha256"
        return 1
    fi
    [ -f "$file" ] || { mb_error "check_sha256sum: no file $file"; return 1; }
    actual=$(sha256sum "$file" 2>/dev/null || shasum -a 256 "$file")
    actual=${actual%% *}
    if [ "$actual" != "$expected" ]; then
        mb_error "sha256 mismatch for $file: expected $expected, got $actual"
        return 1
    fi
    echo "$file: OK"
}

function fetch_unpack {
    # Fetch an archive and unpack it here; print the unpacked top-level names, one a line:
    #   out=$(fetch_unpack URL [ARCHIVE_NAME [SHA256]])
    # The archive is kept in ARCHIVE_SDIR (default archives/) as ARCHIVE_NAME (default: the
    # URL's last part) and reused when present there (or in multibuild/archives/), also under
    # the names a recipe lists in MB_ARCHIVE_ALSO_NAMED (multibuild's; MB_ARCHIVE_CALLER names
    # the recipe in messages). Downloads are retried
    # (MB_RETRIES attempts, MB_RETRY_BACKOFF seconds apart, growing) and checked against
    # SHA256, else the recipe table's checksum of URL, else the one recorded in the wheels
    # repository's lock file (MB_ARCHIVES_LOCK, default archives.lock at its root), where an
    # archive no table knows is recorded on first use (MB_REQUIRE_SHA256=1 refuses it
    # instead). Each unpacked entry replaces an older one of the same name; unsafe archives
    # are refused.
    local url=${1:-} name
    local -a also_named=()
    if [ -z "$url" ]; then
        mb_error "fetch_unpack: URL (argument 1) is empty"
        return 1
    fi
    for name in ${MB_ARCHIVE_ALSO_NAMED:-}; do also_named+=(--also-named "$name"); done
    mb_python deps.recipes fetch-unpack "$url" --name "${2:-}" --sha256 "${3:-}" --dest . \
        --archive-dir "${ARCHIVE_SDIR:-archives}" --require-sha256 "${MB_REQUIRE_SHA256:-0}" \
        --lock "${MB_ARCHIVES_LOCK:-$MB_ROOT/archives.lock}" \
        --caller "${MB_ARCHIVE_CALLER:-fetch_unpack}" \
        --attempts "${MB_RETRIES:-5}" --backoff "${MB_RETRY_BACKOFF:-1}" \
        ${also_named[@]+"${also_named[@]}"}
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

function mb_base_python {
    # Print the interpreter of CPython X.Y on this machine: mb_base_python X.Y
    # MB_PYTHON_BASE when ./wheels found it already for this target, else a search (pyenv
    # versions, pythonX.Y on PATH, /opt/python/cpXY-cpXY).
    if [ -n "${MB_PYTHON_BASE:-}" ] && [ "$1" == "${MB_PYTHON_VERSION:-}" ]; then
        echo "$MB_PYTHON_BASE"
    else
        mb_python core.interpreters find "$1"
    fi
}

function mb_env_key {
    # Print the reuse key of an environment: mb_env_key BASE_PYTHON [REQUIREMENTS...]
    # A hash of the base interpreter (its path, version and build) and the requirement lists.
    local base=$1 identity
    shift
    identity=$("$base" -I -S -c 'import sys; print(sys.version); print(sys.executable)') \
        || { mb_error "cannot run $base"; return 1; }
    printf '%s\n' "$base" "$identity" "$@" | mb_sha256_stdin
}

function mb_env_matches {
    # Succeed when environment DIR exists and was made for KEY (mb_env_key) and MB_FRESH is
    # not set: mb_env_matches DIR KEY
    [ "${MB_FRESH:-0}" == 0 ] && [ -x "$1/bin/python" ] \
        && [ "$(cat "$1/.mb-env-key" 2> /dev/null)" == "$2" ]
}

function mb_reuse_venv {
    # Keep the virtual environment DIR when it was made from BASE_PYTHON for the same
    # requirements, else make it afresh: mb_reuse_venv BASE_PYTHON DIR [REQUIREMENTS...]
    # Sets MB_VENV_STATE to "reused" or "new". Installs nothing: the caller's installs are
    # no-ops when already satisfied (uv).
    local base=$1 dir=$2 key
    shift 2
    key=$(mb_env_key "$base" "$@") || return 1
    if mb_env_matches "$dir" "$key"; then
        MB_VENV_STATE=reused
        return 0
    fi
    mb_make_venv "$base" "$dir" || return 1
    echo "$key" > "$dir/.mb-env-key"
    MB_VENV_STATE=new
}

function mb_build_venv {
    # Make or reuse the build environment DIR of BASE_PYTHON: mb_build_venv BASE_PYTHON DIR
    # Reused while made from the same interpreter for the same build requirements: the
    # project's [build-system].requires (of MB_SOURCE_DIR, the run's checkout, else REPO_DIR)
    # and BUILD_DEPENDS, and the same toolchain choice (MB_NATIVE_TOOLCHAIN, MB_ML_VER).
    local base=$1 dir=$2 project=${MB_SOURCE_DIR:-${REPO_DIR:-}} requires=""
    if [ -n "$project" ] && [ -d "$project" ]; then
        requires=$(mb_python build.incremental requires "$project") || return 1
    fi
    # The toolchain choice too: a requirement built from source here is built with it.
    mb_reuse_venv "$base" "$dir" "$requires" "${BUILD_DEPENDS:-}" \
        "toolchain ${MB_NATIVE_TOOLCHAIN:-} ${MB_ML_VER:-}"
}

function mb_activate_test_venv {
    # Make or reuse the test environment DIR of BASE_PYTHON, with TEST_DEPENDS, and activate
    # it: mb_activate_test_venv BASE_PYTHON DIR
    # Reused while made from the same interpreter for the same TEST_DEPENDS and pip_opts, and
    # then put back (uv pip sync) to the packages it had right after TEST_DEPENDS went in:
    # the previous run's wheel and whatever came with it are removed, so the environment
    # holds TEST_DEPENDS only, as a fresh one would. Without uv it is made afresh every time.
    local base=$1 dir=$2 key opts uv baseline
    baseline="$dir/.mb-baseline.txt"
    opts=$(pip_opts | tr '\n' ' ')
    key=$(mb_env_key "$base" "${TEST_DEPENDS:-}" "$opts") || return 1
    # shellcheck disable=SC2086
    if uv=$(mb_uv_bin) && mb_env_matches "$dir" "$key" && [ -f "$baseline" ] \
        && UV_PYTHON_DOWNLOADS=never "$uv" pip sync --quiet --python "$dir/bin/python" \
            $opts "$baseline"; then
        echo "install_run: reusing $dir (same Python and TEST_DEPENDS; back to those alone)"
    else
        mb_make_venv "$base" "$dir" || return 1
        if [ -n "${TEST_DEPENDS:-}" ]; then
            # shellcheck disable=SC2086
            mb_pip_install "$dir/bin/python" $opts $TEST_DEPENDS || {
                mb_error "install_run: cannot install TEST_DEPENDS ($TEST_DEPENDS) for" \
                    "$("$dir/bin/python" --version 2>&1) (see the installer's reason above)"
                return 1; }
        fi
        if [ -n "$uv" ]; then
            "$uv" pip freeze --python "$dir/bin/python" > "$baseline" \
                && echo "$key" > "$dir/.mb-env-key" || return 1
        fi
    fi
    export VIRTUAL_ENV=$dir PATH="$dir/bin:$PATH" PYTHON_EXE="$dir/bin/python"
    PIP_CMD=$(mb_venv_pip_cmd "$PYTHON_EXE")
    export PIP_CMD
}

function mb_venv_pip_cmd {
    # Print PIP_CMD for the activated environment of PYTHON: mb_venv_pip_cmd PYTHON
    # "PYTHON -m pip", as multibuild sets it; config.sh files run `$PIP_CMD install ...`
    # unquoted (it is a command line), so where PYTHON's path holds whitespace (a clone at
    # "/home/me/my wheels") it is "python -m pip": the environment is first on PATH.
    if [[ $1 == *[[:space:]]* ]]; then echo "python -m pip"; else echo "$1 -m pip"; fi
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
    # Put ccache in front of the C/C++ compilers as multibuild does (USE_CCACHE=1 calls it
    # before pre_build): a directory of wrapper links (cc, gcc, c++, g++, clang, clang++ and
    # the host's triplet-named gcc/g++ -> ccache) first on PATH. CC and CXX are left alone: a
    # two-word "ccache gcc" breaks builds that take CC or CXX as one program (numpy.distutils
    # links C++ with "ccache -shared"). CCACHE_DIR is in the stable cache dir, CCACHE_BASEDIR
    # the work-dir root (the parent of every target's work dir: paths below it are the same for
    # every target, run and checkout, so they share hits); a stats log per build
    # (mb_ccache_stats prints it).
    local ccache bin cache compiler found triplet
    if ! ccache=$(command -v ccache); then
        # A docker-mode build container: the static ccache the host put under /io.
        if [ -n "${MB_CCACHE_BIN:-}" ] && [ -x "$MB_CCACHE_BIN" ]; then
            ccache=$MB_CCACHE_BIN
        else
            echo "warning: USE_CCACHE=${USE_CCACHE:-1} but ccache is not on PATH; building" \
                "without it (USE_CCACHE=0 turns it off)" >&2
            return 0
        fi
    fi
    cache=$(mb_cache_dir) || return 1
    bin="$cache/ccache-bin"
    mkdir -p "$bin"
    # ccache itself on PATH too (mb_ccache_stats calls it).
    [ "$ccache" == "$bin/ccache" ] || ln -sf "$ccache" "$bin/ccache"
    triplet=$(gcc -dumpmachine 2> /dev/null) || triplet=
    for compiler in cc gcc c++ g++ clang clang++ ${triplet:+"$triplet-gcc" "$triplet-g++"}; do
        # Link only compilers that exist (ccache then runs the next one on PATH).
        found=$(PATH=${PATH//$bin:/} command -v "$compiler") || continue
        [ -n "$found" ] && ln -sf "$ccache" "$bin/$compiler"
    done
    case ":$PATH:" in *":$bin:"*) ;; *) export PATH="$bin:$PATH" ;; esac
    export CCACHE_DIR=${CCACHE_DIR:-$cache/ccache}
    if [ -n "${MB_WORK_DIR:-}" ]; then
        export CCACHE_BASEDIR=${CCACHE_BASEDIR:-$(dirname "$(abspath "$MB_WORK_DIR")")}
        CCACHE_STATSLOG=$(abspath "$MB_WORK_DIR")/ccache-stats.log
        export CCACHE_STATSLOG
        rm -f "$CCACHE_STATSLOG"
    else
        export CCACHE_BASEDIR=${CCACHE_BASEDIR:-$PWD}
    fi
    export CCACHE_NOHASHDIR=${CCACHE_NOHASHDIR:-1}
    unset CCACHE_DISABLE
    echo "activate_ccache: $(command -v gcc || command -v cc) -> ccache, cache $CCACHE_DIR," \
        "base dir $CCACHE_BASEDIR"
}

function mb_activate_toolchain {
    # The C and C++ compilers of the build (multibuild/build/toolchain.py), before pre_build, so the
    # library builders use them too: on Linux, natively, zig's wrappers targeting the glibc of
    # the manylinux policy MB_ML_VER (CC=cc, CXX=c++, AR, RANLIB, CMAKE_TOOLCHAIN_FILE, PATH
    # with the wrappers first after ccache's links, AUDITWHEEL_PLAT and MB_POLICY_PLAT for the
    # repair); with
    # MB_NATIVE_TOOLCHAIN=host, or in a container, the compilers as they are.
    # Records the choice in MB_WORK_DIR/toolchain.json. A bad MB_ML_VER, PLAT or
    # MB_NATIVE_TOOLCHAIN is a one-line error (status 2) before anything is built.
    [ "$(get_os)" == Linux ] || return 0
    local out status=0 before=${CC:-}
    # env_vars.sh may assign them without export (multibuild's CI files set them in the env).
    out=$(MB_ML_VER=${MB_ML_VER:-} MB_ML_LIBC=${MB_ML_LIBC:-} \
        MB_NATIVE_TOOLCHAIN=${MB_NATIVE_TOOLCHAIN:-} \
        MB_GFORTRAN_RUNTIME=${MB_GFORTRAN_RUNTIME:-} MB_PYTHON_VERSION=${MB_PYTHON_VERSION:-} \
        mb_python build.toolchain activate ${PLAT:+--plat "$PLAT"}) || status=$?
    [ "$status" -eq 0 ] || return "$status"
    mb_import_vars --export CC CXX AR RANLIB PATH MB_TOOLCHAIN_BIN \
        MB_TOOLCHAIN_ID MB_MESON_NATIVE_FILE CMAKE_TOOLCHAIN_FILE AUDITWHEEL_PLAT MB_POLICY_PLAT \
        MB_MESON_CROSS_FILE MB_CROSS_SYSCONFIG_NAME MB_CROSS_SYSCONFIG_DIR \
        MB_CROSS_HOST_PLATFORM MB_CROSS_INCLUDE <<< "$out" || return 1
    if [ -n "${MB_TOOLCHAIN_BIN:-}" ]; then
        case "$before" in ""|cc|"ccache cc"|"ccache gcc"|gcc) ;;
            *) echo "toolchain: CC=$before replaced by zig's cc (MB_NATIVE_TOOLCHAIN=host keeps it)" ;;
        esac
    fi
    echo "toolchain: ${MB_TOOLCHAIN_ID:-}${AUDITWHEEL_PLAT:+ (repair to $AUDITWHEEL_PLAT)}"
}

function mb_toolchain_fortran {
    # After pre_build (which may install gfortran and fetch OpenBLAS): with zig's toolchain and a
    # gfortran, the gfortran runtime the link takes (multibuild/build/toolchain.py): one that fits the
    # policy (MB_GFORTRAN_RUNTIME: auto, a directory, or host) comes first for -lgfortran;
    # otherwise a one-line warning that a wheel linking Fortran will be above the policy.
    [ -n "${MB_TOOLCHAIN_BIN:-}" ] || return 0
    local out status=0
    out=$(MB_ML_VER=${MB_ML_VER:-} MB_ML_LIBC=${MB_ML_LIBC:-} \
        MB_NATIVE_TOOLCHAIN=${MB_NATIVE_TOOLCHAIN:-} \
        MB_GFORTRAN_RUNTIME=${MB_GFORTRAN_RUNTIME:-} \
        mb_python build.toolchain fortran ${PLAT:+--plat "$PLAT"}) || status=$?
    [ "$status" -eq 0 ] || return "$status"
    mb_import_vars --export MB_GFORTRAN_RUNTIME_LINKDIR LD_LIBRARY_PATH <<< "$out" || return 1
    if [ -n "${MB_GFORTRAN_RUNTIME_LINKDIR:-}" ]; then
        echo "toolchain: gfortran links $(readlink "$MB_GFORTRAN_RUNTIME_LINKDIR/libgfortran.so")"
    fi
}

function mb_maybe_ccache {
    # Activate ccache when USE_CCACHE is 1 (or any other non-empty value but 0); with
    # USE_CCACHE=0 keep it out of the build (CCACHE_DISABLE: meson would otherwise pick an
    # installed ccache up by itself). ./wheels sets USE_CCACHE's default (on for native
    # Linux and macOS builds outside CI).
    if [ -n "${USE_CCACHE:-}" ] && [ "${USE_CCACHE}" != 0 ]; then
        activate_ccache
    elif [ "${USE_CCACHE:-}" == 0 ]; then
        export CCACHE_DISABLE=1
    fi
}

function mb_compiler_names {
    # Print CC=... and CXX=... assignments naming the plain compilers (cc, c++) for a wheel
    # build, where CC or CXX is unset and a ccache is on PATH: meson prepends an installed
    # ccache to a compiler it picks itself and records that command in the project (numpy's
    # show_config() "commands" would say /usr/bin/ccache). Named, the compiler is found on
    # PATH: through activate_ccache's wrapper links when ccache is on, else the system's.
    command -v ccache > /dev/null 2>&1 || return 0
    [ -n "${CC:-}" ] || echo "CC=cc"
    [ -n "${CXX:-}" ] || echo "CXX=c++"
}

function mb_ccache_stats {
    # Print ccache's counts for the build that just ran (its stats log), when ccache is on.
    if [ -z "${CCACHE_STATSLOG:-}" ] || [ -n "${CCACHE_DISABLE:-}" ] \
        || ! command -v ccache > /dev/null 2>&1; then
        return 0
    fi
    if [ ! -s "$CCACHE_STATSLOG" ]; then
        echo "ccache: no compiler call went through ccache in this build"
        return 0
    fi
    echo "ccache: this build's compilations:"
    ccache --show-log-stats 2> /dev/null | grep -v ':$' | sed 's/^/ccache: /' || true
}

# --- the project checkout: clean_code, fill_submodule, per-target copies --------------------

function mb_git {
    # git with automatic housekeeping off: no gc/maintenance (least of all a detached one in
    # the background) may repack a repository while this library reads or copies it.
    git -c gc.auto=0 -c gc.autoDetach=false -c maintenance.auto=false "$@"
}

function mb_redact_url {
    # Print URL without any user:password@ part, so tokens never reach a log.
    local url=$1
    if [[ $url =~ ^([A-Za-z][A-Za-z0-9+.-]*://)[^/@]*@(.*)$ ]]; then
        echo "${BASH_REMATCH[1]}${BASH_REMATCH[2]}"
    else
        echo "$url"
    fi
}

function mb_redact_text {
    # Standard input with every scheme://user:password@ reduced to scheme:// (git's messages).
    sed -E 's#(://)[^/@[:space:]]*@#\1#g'
}

function mb_is_local_url {
    # Succeed when URL is a local path (not scheme://... nor scp-like host:path).
    case "$1" in
        *://*) return 1 ;;
        /*|./*|../*) return 0 ;;
        *:*) [[ ${1%%:*} == */* ]] ;;  # a ':' after a '/' is part of a path
        *) return 0 ;;
    esac
}

function mb_normalize_url {
    # A local-path URL made absolute (against $PWD), so it means the same from any directory;
    # other URLs unchanged.
    if mb_is_local_url "$1"; then abspath "$1"; else echo "$1"; fi
}

function mb_physical_dir {
    # Print the symlink-free absolute path of existing directory DIR.
    (cd "$1" 2> /dev/null && pwd -P)
}

function mb_is_own_repo {
    # Succeed when DIR is the top of a git work tree with its own .git directory.
    local dir=$1 top phys
    [ -d "$dir/.git" ] || return 1
    phys=$(mb_physical_dir "$dir") || return 1
    top=$(git -C "$dir" rev-parse --show-toplevel 2> /dev/null) || return 1
    [ "$top" == "$phys" ]
}

function mb_git_clone_local {
    # Clone the local repository SRC into DEST (which must not exist), with objects of its own:
    #   mb_git_clone_local SRC DEST
    # Hardlinks first (instant), then a connectivity check, because a gc or repack running
    # in SRC meanwhile can hide objects from any file-level copy; after three such races, git's
    # pack protocol (--no-local), which reads SRC safely whatever runs there. The clone is
    # made under a temporary name beside DEST and renamed when complete.
    local src=$1 dest=$2 tmp attempt log
    tmp="$(dirname "$dest")/.$(basename "$dest").clone-$$"
    mkdir -p "$(dirname "$dest")" || return 1
    for attempt in 1 2 3; do
        rm -rf "$tmp"
        if log=$(mb_git clone --quiet --no-checkout -- "$src" "$tmp" 2>&1) \
            && mb_git -C "$tmp" fsck --connectivity-only --no-dangling --no-progress \
                > /dev/null 2>&1; then
            mv "$tmp" "$dest" && return 0
            rm -rf "$tmp"
            mb_error "cannot move the clone of $src to $dest"
            return 1
        fi
    done
    echo "clean_code: $src changed while being copied (a repack there?);" \
        "cloning it over git's pack protocol instead" >&2
    rm -rf "$tmp"
    if ! log=$(mb_git clone --quiet --no-checkout --no-local -- "$src" "$tmp" 2>&1); then
        rm -rf "$tmp"
        mb_error "cannot clone $src: $(echo "$log" | tail -n 1 | mb_redact_text)"
        return 1
    fi
    mv "$tmp" "$dest"
}

function mb_clone_into {
    # Clone URL into DIR (missing or an empty directory), all or nothing:
    #   mb_clone_into URL DIR
    # Local paths through mb_git_clone_local; remote URLs with git clone.
    local url=$1 dir=$2 tmp log
    if [ -d "$dir" ]; then
        rmdir "$dir" 2> /dev/null || { mb_error "clean_code: '$dir' is not empty"; return 1; }
    fi
    if mb_is_local_url "$url"; then
        mb_git_clone_local "$url" "$dir"
        return
    fi
    tmp="$(dirname "$dir")/.$(basename "$dir").clone-$$"
    mkdir -p "$(dirname "$dir")" || return 1
    rm -rf "$tmp"
    if ! log=$(mb_git clone --quiet --no-checkout -- "$url" "$tmp" 2>&1); then
        rm -rf "$tmp"
        echo "clean_code: git clone $(mb_redact_url "$url"):" \
            "$(echo "$log" | tail -n 1 | mb_redact_text)" >&2
        return 1
    fi
    mv "$tmp" "$dir"
}

function mb_submodule_superproject {
    # Print the top of the superproject when DIR is a submodule path registered there (a
    # gitlink in its index); fail otherwise. DIR need not exist or be initialised.
    local abs parent top rel entry
    abs=$(abspath "$1")
    parent=$(mb_physical_dir "$(dirname "$abs")") || return 1
    top=$(git -C "$parent" rev-parse --show-toplevel 2> /dev/null) || return 1
    rel="$parent/$(basename "$abs")"
    rel=${rel#"$top"/}
    entry=$(git -C "$top" ls-files --stage -- "$rel" 2> /dev/null) || return 1
    [[ $entry == 160000\ * ]] || return 1
    echo "$top"
}

function mb_submodule_name {
    # Print the .gitmodules name of submodule path REL in superproject TOP.
    local top=$1 rel=$2 key path
    while read -r key path; do
        if [ "$path" == "$rel" ]; then
            key=${key#submodule.}
            echo "${key%.path}"
            return 0
        fi
    done < <(git -C "$top" config -f .gitmodules --get-regexp '^submodule\..*\.path$' 2> /dev/null)
    return 1
}

function fill_submodule {
    # Give REPO_DIR a .git directory of its own (multibuild's contract): fill_submodule REPO_DIR
    # Nothing to do when REPO_DIR/.git is a directory. A submodule checkout (.git is a file
    # naming the superproject's .git/modules/...) becomes a standalone clone at the same HEAD
    # with the same origin, so copies of it stay valid git work trees (versioneer). A submodule
    # registered in the superproject but not initialised (an empty directory, as in a fresh
    # clone) is cloned from its URL in .gitmodules (relative URLs resolved by git), else, when
    # that is out of reach, from REPO_URL (origin stays the .gitmodules URL).
    local repo_dir=${1:-} abs top rel name url head origin tmp fallback=""
    [ -n "$repo_dir" ] || { mb_error "fill_submodule: no REPO_DIR given"; return 1; }
    [ -d "$repo_dir/.git" ] && return 0
    abs=$(abspath "$repo_dir")
    if [ -f "$abs/.git" ]; then
        head=$(git -C "$abs" rev-parse --verify --quiet HEAD) \
            || { mb_error "fill_submodule: '$repo_dir' has no commit checked out"; return 1; }
        origin=$(git -C "$abs" config --get remote.origin.url) || origin=""
        tmp="$(dirname "$abs")/.$(basename "$abs").fill-$$"
        rm -rf "$tmp"
        mb_git_clone_local "$abs" "$tmp" || return 1
        if [ -n "$origin" ]; then
            mb_git -C "$tmp" remote set-url origin "$origin" || return 1
        fi
        # Only the .git changes: the work tree, untracked and modified files included, stays.
        mb_git -C "$tmp" update-ref --no-deref HEAD "$head" || return 1
        rm -f "$abs/.git" && mv "$tmp/.git" "$abs/.git" && rm -rf "$tmp" || return 1
        mb_git -C "$abs" reset --quiet || return 1
        echo "fill_submodule: $repo_dir is now a repository of its own at $head" >&2
        return 0
    fi
    if [ -e "$abs" ] && [ -n "$(ls -A "$abs" 2> /dev/null)" ]; then
        mb_error "fill_submodule: '$repo_dir' exists but is not a git repository"
        return 1
    fi
    top=$(mb_submodule_superproject "$abs") \
        || { mb_error "fill_submodule: '$repo_dir' is neither a git repository nor a submodule"
             return 1; }
    rel="$(mb_physical_dir "$(dirname "$abs")")/$(basename "$abs")"
    rel=${rel#"$top"/}
    name=$(mb_submodule_name "$top" "$rel") \
        || { mb_error "fill_submodule: submodule '$rel' has no entry in $top/.gitmodules"
             return 1; }
    if ! git -C "$top" config -f .gitmodules --get "submodule.$name.url" > /dev/null; then
        mb_error "fill_submodule: submodule '$name' has no url in $top/.gitmodules"
        return 1
    fi
    # git resolves a relative URL against the superproject's remote and records it.
    mb_git -C "$top" submodule --quiet init -- "$rel" || return 1
    url=$(git -C "$top" config --get "submodule.$name.url") || return 1
    if (cd "$top" && mb_clone_into "$url" "$rel"); then
        echo "fill_submodule: cloned submodule $rel from $(mb_redact_url "$url")" >&2
        return 0
    fi
    # Out of reach (no network, a moved project): REPO_URL, when set, holds the same project.
    # Its origin stays the .gitmodules URL, as for a submodule cloned from there.
    [ -n "${REPO_URL:-}" ] && fallback=$(mb_normalize_url "$REPO_URL")
    if [ -n "$fallback" ] && (cd "$top" && mb_clone_into "$fallback" "$rel") \
        && mb_git -C "$abs" remote set-url origin "$url" \
        && mb_git -C "$abs" config mb.url "$fallback"; then
        echo "fill_submodule: cloned submodule $rel from REPO_URL $(mb_redact_url "$REPO_URL")" \
            "($(mb_redact_url "$url") is out of reach)" >&2
        return 0
    fi
    mb_error "fill_submodule: cannot clone submodule '$name' from $(mb_redact_url "$url")" \
        "${REPO_URL:+or REPO_URL $(mb_redact_url "$REPO_URL")}"
    return 1
}

function mb_clone_sdist_mirror {
    # Fallback of clean_code when a remote REPO_URL is out of reach and the commit is a release
    # tag: the project from a local mirror made of the release's sdist on the package index.
    #   mb_clone_sdist_mirror REPO_DIR COMMIT
    # A missing REPO_DIR is cloned from the mirror; an existing one (an earlier fallback)
    # fetches it. REPO_DIR's git config keeps mb.url=REPO_URL (what was asked for) and
    # mb.sdistmirror=MIRROR (what stands in for it). MB_SDIST_FALLBACK=0 refuses;
    # MB_SDIST_NAME is the project's index name (default: REPO_DIR's).
    local repo_dir=$1 build_commit=$2 mirror
    [ "${MB_SDIST_FALLBACK:-1}" == 0 ] && return 1
    case "${REPO_URL:-}" in *://*|git@*) ;; *) return 1 ;; esac
    echo "clean_code: cannot reach $(mb_redact_url "$REPO_URL"); trying the sdist of" \
        "$build_commit on the index" >&2
    mirror=$(mb_python source.mirror "${MB_SDIST_NAME:-$(basename "$repo_dir")}" "$build_commit") \
        || return 1
    mirror=$(echo "$mirror" | tail -n 1)
    if [ -d "$repo_dir/.git" ]; then
        mb_git -C "$repo_dir" remote set-url origin "$mirror" \
            && mb_git -C "$repo_dir" fetch --quiet --force origin "+refs/tags/*:refs/tags/*" \
            || return 1
    else
        mb_clone_into "$mirror" "$repo_dir" || return 1
    fi
    mb_git -C "$repo_dir" config mb.url "$REPO_URL" \
        && mb_git -C "$repo_dir" config mb.sdistmirror "$mirror"
}

function mb_resolve_commit {
    # Print the commit REF names in REPO, as fetched from REMOTE: mb_resolve_commit REPO REMOTE REF
    # A branch of REMOTE first, then a tag, a commit hash, or any other revision; a local
    # branch only when REPO has no remote (it may be stale, or from a previous REPO_URL).
    local repo=$1 remote=$2 ref=$3
    if [ -n "$remote" ]; then
        git -C "$repo" rev-parse --verify --quiet "refs/remotes/$remote/$ref^{commit}" && return 0
    fi
    git -C "$repo" rev-parse --verify --quiet "refs/tags/$ref^{commit}" && return 0
    if [ -n "$remote" ] && git -C "$repo" show-ref --verify --quiet "refs/heads/$ref"; then
        return 1
    fi
    git -C "$repo" rev-parse --verify --quiet "$ref^{commit}"
}

function mb_write_checkout_info {
    # Record what DIR holds as JSON (python -m multibuild.source.checkout) in MB_CHECKOUT_INFO, else
    # $MB_WORK_DIR/checkout.json when MB_WORK_DIR is set (a ./wheels run); else nothing.
    # With SAY, also print one line after it saying what was checked out: the ref, the commit,
    # what was really fetched (the sdist of a stand-in mirror) and whether the commit exists
    # upstream: mb_write_checkout_info DIR [SAY]
    local dir=$1 info_file=${MB_CHECKOUT_INFO:-${MB_WORK_DIR:+$MB_WORK_DIR/checkout.json}}
    local -a args=()
    [ -n "$info_file" ] && args+=(--output "$info_file")
    [ -n "${2:-}" ] && args+=(--say "$2")
    [ "${#args[@]}" -gt 0 ] || return 0
    mb_python source.checkout describe "$dir" "${args[@]}"
}

function clean_code {
    # Check out BUILD_COMMIT of the project in REPO_DIR, clean: clean_code [REPO_DIR [COMMIT]]
    # COMMIT: a branch, tag, full or short hash of the repository asked for: REPO_URL when set,
    # else REPO_DIR's origin. REPO_DIR may be:
    #  - a submodule of the wheels repository: filled first (fill_submodule; initialised from
    #    its .gitmodules URL if needed). Its origin stays that URL; a different REPO_URL is
    #    fetched as remote 'repo-url' and COMMIT resolved there.
    #  - missing or empty: cloned from REPO_URL (a remote out of reach falls back to the
    #    release's sdist, see mb_clone_sdist_mirror).
    #  - a clone: a REPO_URL other than the one it was made from re-points origin (tags and
    #    branches of the old URL are dropped), refused while REPO_DIR has local changes.
    # Then: checkout --force, git clean -fxd, reset --hard, submodules. No automatic gc runs.
    # The URL, ref and hash are kept in REPO_DIR's git config (mb.url, mb.ref; HEAD) and
    # written as JSON by mb_write_checkout_info.
    local repo_dir=${1:-${REPO_DIR:-}}
    local build_commit=${2:-${BUILD_COMMIT:-}}
    local repo_url="" submodule="" remote="" origin previous asked sha status
    [ -n "$repo_dir" ] || { mb_error "clean_code: REPO_DIR is not set"; return 1; }
    [ -n "$build_commit" ] || { mb_error "clean_code: BUILD_COMMIT is not set"; return 1; }
    # Refs as git checks them, and no characters a shell would read (multibuild/core/refs.py).
    mb_python core.refs --what clean_code --repo-dir="$repo_dir" --ref="$build_commit" || return 1
    if [ -e "$repo_dir" ] && [ ! -d "$repo_dir" ]; then
        mb_error "clean_code: REPO_DIR '$repo_dir' is not a directory"
        return 1
    fi
    [ -n "${REPO_URL:-}" ] && repo_url=$(mb_normalize_url "$REPO_URL")
    mb_submodule_superproject "$repo_dir" > /dev/null && submodule=1
    if [ -f "$repo_dir/.git" ] || { [ -n "$submodule" ] && [ ! -d "$repo_dir/.git" ]; }; then
        fill_submodule "$repo_dir" || return 1
    elif [ ! -e "$repo_dir/.git" ]; then
        if [ -n "$(ls -A "$repo_dir" 2> /dev/null)" ]; then
            mb_error "clean_code: REPO_DIR '$repo_dir' exists but is not a git repository"
            return 1
        fi
        if [ -z "$repo_url" ]; then
            mb_error "clean_code: project directory '$repo_dir' is missing and REPO_URL is not set"
            return 1
        fi
        mb_clone_into "$repo_url" "$repo_dir" \
            || mb_clone_sdist_mirror "$repo_dir" "$build_commit" \
            || { mb_error "clean_code: cannot clone $(mb_redact_url "$repo_url")"; return 1; }
        mb_git -C "$repo_dir" config mb.url "$repo_url" || return 1
    fi
    if ! mb_is_own_repo "$repo_dir"; then
        mb_error "clean_code: REPO_DIR '$repo_dir' is not the top of a git repository"
        return 1
    fi
    origin=$(git -C "$repo_dir" config --get remote.origin.url) || origin=""
    previous=$(git -C "$repo_dir" config --get mb.url) || previous=$origin
    [ -n "$origin" ] && remote=origin
    asked=${repo_url:-$previous}
    if [ -n "$submodule" ] && [ -n "$repo_url" ] && [ "$repo_url" != "$origin" ]; then
        remote="repo-url"  # origin is pinned by .gitmodules
    fi
    if [ -n "$repo_url" ] && [ "$repo_url" != "$previous" ]; then
        if [ -n "$(git -C "$repo_dir" status --porcelain 2> /dev/null | head -n 1)" ]; then
            mb_error "clean_code: REPO_DIR '$repo_dir' has local changes; refusing to switch it" \
                "from $(mb_redact_url "${previous:-no URL}") to $(mb_redact_url "$repo_url")" \
                "(commit or discard them, or use another REPO_DIR)"
            return 1
        fi
        if [ "$remote" == "repo-url" ]; then
            :  # set below, on every run
        elif [ -n "$origin" ]; then
            mb_git -C "$repo_dir" remote set-url origin "$repo_url" || return 1
        else
            mb_git -C "$repo_dir" remote add origin "$repo_url" || return 1
            remote=origin
        fi
        mb_git -C "$repo_dir" config --unset mb.sdistmirror > /dev/null 2>&1 || true
        echo "clean_code: $repo_dir now fetches from $(mb_redact_url "$repo_url")" \
            "(was $(mb_redact_url "${previous:-no URL}"))"
    fi
    if [ "$remote" == "repo-url" ]; then
        mb_git -C "$repo_dir" remote set-url repo-url "$repo_url" 2> /dev/null \
            || mb_git -C "$repo_dir" remote add repo-url "$repo_url" || return 1
    fi
    if [ -n "$remote" ]; then
        local fetch=(fetch --quiet --force --prune)
        if [ "$(git -C "$repo_dir" rev-parse --is-shallow-repository)" == true ]; then
            fetch+=(--unshallow)  # git describe needs the history (versioneer, setuptools_scm)
        fi
        if ! mb_git -C "$repo_dir" "${fetch[@]}" "$remote" \
                "+refs/heads/*:refs/remotes/$remote/*" "+refs/tags/*:refs/tags/*"; then
            mb_error "clean_code: cannot fetch from $(mb_redact_url "$asked") into $repo_dir"
            return 1
        fi
    fi
    if ! sha=$(mb_resolve_commit "$repo_dir" "$remote" "$build_commit"); then
        if [ -n "$(git -C "$repo_dir" config --get mb.sdistmirror)" ] \
            && mb_clone_sdist_mirror "$repo_dir" "$build_commit"; then
            sha=$(mb_resolve_commit "$repo_dir" origin "$build_commit") || sha=""
        fi
        if [ -z "$sha" ]; then
            mb_error "clean_code: unknown ref '$build_commit' in repository" \
                "$(mb_redact_url "${asked:-$repo_dir}")"
            return 1
        fi
    fi
    status=0
    mb_git -C "$repo_dir" checkout --quiet --force --detach "$sha" \
        && mb_git -C "$repo_dir" clean -fxdq \
        && mb_git -C "$repo_dir" reset --quiet --hard \
        && mb_git -C "$repo_dir" submodule --quiet sync --recursive \
        && mb_git -C "$repo_dir" submodule --quiet update --init --recursive --force \
        || status=$?
    if [ "$status" -ne 0 ]; then
        mb_error "clean_code: checking out $build_commit ($sha) in $repo_dir failed"
        return "$status"
    fi
    mb_git -C "$repo_dir" config mb.url "$asked" \
        && mb_git -C "$repo_dir" config mb.ref "$build_commit" || return 1
    mb_write_checkout_info "$repo_dir" "clean_code: $repo_dir at "
}

function mb_target_checkout {
    # The target's own checkout of the prepared source: mb_target_checkout SOURCE DEST
    # SOURCE is REPO_DIR after clean_code (once per run); DEST a stable path in the target's
    # work dir (build/<target>/src/<name>), so parallel targets never share a build tree.
    # DEST is a git clone of SOURCE with objects of its own (mb_git_clone_local: never a file
    # copy of a live .git, no dependence on SOURCE's gc), at SOURCE's HEAD with SOURCE's tags,
    # so git describe (versioneer, setuptools_scm) gives the same version. An existing DEST is
    # updated in place (fetch from SOURCE, checkout --force, git clean -ffdx, reset --hard).
    # The project's submodules come the same way from SOURCE's, recursively.
    local source=$1 dest=$2 sha key path name entry
    if [ -z "$source" ] || [ -z "$dest" ]; then
        mb_error "mb_target_checkout: usage: mb_target_checkout SOURCE DEST"
        return 1
    fi
    if [ ! -e "$source/.git" ] || ! sha=$(git -C "$source" rev-parse --verify --quiet HEAD); then
        mb_error "mb_target_checkout: $source is not a prepared checkout"
        return 1
    fi
    source=$(mb_physical_dir "$source") || return 1
    if ! { mb_is_own_repo "$dest" \
            && mb_git -C "$dest" fetch --quiet --force --prune "$source" "+HEAD:refs/mb/source" \
                "+refs/heads/*:refs/remotes/origin/*" "+refs/tags/*:refs/tags/*" 2> /dev/null; }
    then
        rm -rf "$dest"
        mb_git_clone_local "$source" "$dest" || return 1
    fi
    # Refresh the index first: files whose inode changed but not their content (a backup, a
    # hardlink copy, a container mount) would otherwise be rewritten by checkout --force, and
    # their new timestamps would make the build recompile them.
    mb_git -C "$dest" update-index -q --refresh > /dev/null 2>&1 || true
    if ! { mb_git -C "$dest" checkout --quiet --force --detach "$sha" \
            && mb_git -C "$dest" clean -ffdxq \
            && mb_git -C "$dest" reset --quiet --hard; }; then
        mb_error "mb_target_checkout: checking out $sha in $dest failed"
        return 1
    fi
    for key in url ref sdistmirror; do
        if entry=$(git -C "$source" config --get "mb.$key"); then
            mb_git -C "$dest" config "mb.$key" "$entry" || return 1
        fi
    done
    if [ -f "$dest/.gitmodules" ]; then
        while read -r key path; do
            entry=$(git -C "$dest" ls-files --stage -- "$path") || continue
            [[ $entry == 160000\ * ]] && [ -e "$source/$path/.git" ] || continue
            name=${key#submodule.}
            name=${name%.path}
            MB_CHECKOUT_INFO="" MB_WORK_DIR="" \
                mb_target_checkout "$source/$path" "$dest/$path" > /dev/null || return 1
            mb_git -C "$dest" config "submodule.$name.url" "$source/$path" \
                && mb_git -C "$dest" config "submodule.$name.active" true || return 1
        done < <(git -C "$dest" config -f .gitmodules --get-regexp '^submodule\..*\.path$')
    fi
    echo "clean_code: $dest: clone of $source at $sha"
    mb_write_checkout_info "$dest"
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
    # The state goes in through a pipe and the exports come back through fd 3, so no file
    # ever holds the environment (which may carry secrets) to be left behind by a kill.
    # On failure fd 3 carries instead the command that failed (mb_failed_command).
    local exports status=0
    if [ -z "$(is_function pre_build)" ]; then return 0; fi
    {
        # shellcheck disable=SC2016
        exports=$("${BASH:-bash}" -c \
            'source "$1" 2> /dev/null; set -eE; trap "mb_failed_command pre_build >&3" ERR
             pre_build; mb_print_exports >&3' \
            pre_build <(mb_shell_state) 3>&1 1>&4) || status=$?
    } 4>&1
    if [ "$status" -ne 0 ]; then
        mb_error "pre_build failed (exit $status)${exports:+: $exports}"
        return "$status"
    fi
    # shellcheck disable=SC1090
    source <(printf '%s\n' "$exports") 2> /dev/null
}

function pip_wheel_cmd {
    # Build the wheel of the current directory into WHEELHOUSE with pip; in a build
    # environment build_wheel_cmd prepared, without isolation and in the stable build
    # directory (mb_incremental_wheel_opts). Verbose (pip shows the build backend's output
    # only with -v): the build's progress, e.g. meson's ninja [n/m] lines, reaches build.log,
    # and the terminal gets it condensed (multibuild/core/progress.py). MB_BUILD_VERBOSE=0 builds
    # quietly. In a prepared build environment the same no-deps, no-isolation build runs
    # through pypa/build instead (multibuild/build/incremental.py build-wheel: pip -v logs the
    # backend's output a line at a time, a minute for a build with half a million lines of
    # compiler warnings), unless pip_opts hold options only pip understands.
    local abs_wheelhouse=$1 opts verbose=-v incremental status=0
    local -a incremental_opts=()
    [ "${MB_BUILD_VERBOSE:-1}" == 0 ] && verbose=
    opts=$(pip_opts | tr '\n' ' ')
    if [ -n "${MB_BUILD_ENV_READY:-}" ] && [ -n "$verbose" ]; then
        mb_python build.incremental build-wheel "$PWD" --python "${PYTHON_EXE:-python}" \
            --pip-opts "$opts" --out "$abs_wheelhouse" ${MB_WORK_DIR:+--work-dir "$(abspath "$MB_WORK_DIR")"} \
            || status=$?
        [ "$status" -eq 3 ] || return "$status"
    fi
    incremental=$(mb_incremental_wheel_opts "$opts") || return 1
    # One option a line, kept whole: the build directory may hold a space.
    [ -z "$incremental" ] || mapfile -t incremental_opts <<< "$incremental"
    incremental=${incremental_opts[*]}
    echo "pip_wheel_cmd: ${PIP_CMD:-python -m pip} wheel $verbose${verbose:+ }$opts$incremental${incremental:+ }-w $abs_wheelhouse --no-deps ."
    # shellcheck disable=SC2086
    ${PIP_CMD:-python -m pip} wheel $verbose $opts "${incremental_opts[@]}" \
        -w "$abs_wheelhouse" --no-deps .
}

function bdist_wheel_cmd {
    # Build the wheel of the current directory with setup.py bdist_wheel; copy to WHEELHOUSE.
    local abs_wheelhouse=$1
    "${PYTHON_EXE:-python}" setup.py bdist_wheel || return 1
    cp dist/*.whl "$abs_wheelhouse"
}

function mb_in_errexit_subshell {
    # Run a command in a subshell that keeps this shell's errexit setting (a failing command in
    # a function stops it, as it would unwrapped) and return its status: mb_in_errexit_subshell
    # CMD... (a plain `( CMD ) || ...` would turn errexit off inside).
    local flags=$- status
    set +e
    ( if [[ $flags == *e* ]]; then set -e; fi; "$@" )
    status=$?
    if [[ $flags == *e* ]]; then set -e; fi
    return "$status"
}

function mb_words {
    # Print WORDS split on whitespace and joined by single spaces: mb_words WORDS
    local -a words=()
    read -r -a words <<< "$1"
    echo "${words[*]}"
}

function mb_wheel_flags {
    # Run COMMAND with the compiler flags the wheel build gets: mb_wheel_flags COMMAND [ARGS...]
    # MB_WHEEL_FLAGS=library (the default, as multibuild): configure_build.sh's defaults stay.
    # MB_WHEEL_FLAGS=project: the wheel is built with the project's and the user's flags only,
    # as the project's own release builds are (numpy's and scipy's meson record the flags in
    # show_config): the -Wl,-strip-all configure_build.sh put into CFLAGS/CXXFLAGS/FFLAGS
    # (MB_DEFAULTED_FLAGS) and the BUILD_PREFIX entries of CPPFLAGS and LIBRARY_PATH are left
    # out; whatever env_vars.sh, config.sh or pre_build set or added stays. The library builds
    # of pre_build keep the defaults. Runs COMMAND in a subshell (the changes stay in it).
    # shellcheck disable=SC2030
    (
        case "${MB_WHEEL_FLAGS:-library}" in
            library) ;;
            project)
                local name value entry kept="" prefix=${BUILD_PREFIX:-/usr/local}
                for name in ${MB_DEFAULTED_FLAGS:-}; do
                    value=" ${!name:-} "
                    value=$(mb_words "${value/" ${STRIP_FLAGS:-} "/ }")
                    if [ -n "$value" ]; then export "$name=$value"; else unset "$name"; fi
                done
                value=" ${CPPFLAGS:-} "
                value=$(mb_words "${value//" -I$prefix/include "/ }")
                if [ -n "$value" ]; then export CPPFLAGS=$value; else unset CPPFLAGS; fi
                while IFS= read -r -d : entry; do
                    [ -z "$entry" ] || [ "$entry" == "$prefix/lib" ] || kept+=${kept:+:}$entry
                done <<< "${LIBRARY_PATH:-}:"
                if [ -n "$kept" ]; then export LIBRARY_PATH=$kept; else unset LIBRARY_PATH; fi
                ;;
            *)
                mb_error "MB_WHEEL_FLAGS=$MB_WHEEL_FLAGS: expected library or project"
                exit 2 ;;
        esac
        "$@"
    )
}

function mb_named_compilers {
    # Run COMMAND with CC and CXX named where ccache would otherwise be recorded in the
    # build (mb_compiler_names): mb_named_compilers COMMAND [ARGS...]. Call it in a subshell.
    local assignment
    for assignment in $(mb_compiler_names); do export "${assignment?}"; done
    "$@"
}

function mb_path_map {
    # Export MB_PATH_MAP: the build's machine- and clone-specific directories, each with the
    # stable name the wheel gets instead ("OLD=NEW" lines, most general first): the build
    # interpreter's installation (/mb/python), the wheels repository (/mb/root), the cache
    # (/mb/cache), OpenBLAS's prefix (/mb/openblas: OPENBLAS, build_openblas unpacks it in the
    # user's cache, and meson records its pkg-config directories) and the target's work dir
    # (/mb/work: checkout copy, environments, build directory). The compilers map them
    # (mb_path_map_flags) and the repair rewrites them in the wheel's text files
    # (multibuild/build/reproducible.py), so a wheel's bytes do not depend on
    # where the repository was cloned or who built it. MB_PATH_MAP=none: no mapping.
    [ "${MB_PATH_MAP:-}" != none ] || return 0
    local base="" entry dir real lines=""
    if [ -n "${MB_PYTHON_BASE:-}" ]; then
        base=$(dirname "$(dirname "$MB_PYTHON_BASE")")
    elif [ -n "${PYTHON_EXE:-}" ]; then
        base=$("$PYTHON_EXE" -c 'import sys; print(sys.base_prefix)') || base=""
    fi
    for entry in "$base=/mb/python" "${MB_ROOT:-}=/mb/root" \
            "${MB_CACHE_DIR:-${MB_ROOT:+$MB_ROOT/build/cache}}=/mb/cache" \
            "${OPENBLAS:-}=/mb/openblas" \
            "${MB_WORK_DIR:+$(abspath "$MB_WORK_DIR")}=/mb/work"; do
        dir=${entry%=*}
        # Not "/" (it would map everything) and only directories that exist.
        if [ -n "$dir" ] && [ "$dir" != / ] && [ -d "$dir" ]; then
            # As given and with symlinks resolved: the build may see either.
            real=$(cd "$dir" && pwd -P)
            [ "$real" == "$dir" ] || lines+=$dir=${entry##*=}$'\n'
            lines+=$real=${entry##*=}$'\n'
        fi
    done
    MB_PATH_MAP=${lines%$'\n'}
    export MB_PATH_MAP
}

function mb_path_map_flags {
    # Run COMMAND with -ffile-prefix-map=OLD=NEW for each MB_PATH_MAP line added to CFLAGS,
    # CXXFLAGS and FFLAGS (debug information, __FILE__ and assert messages then hold NEW),
    # when the C compiler takes the option: mb_path_map_flags COMMAND [ARGS...]. A directory
    # with a space is quoted as setuptools, meson and CMake's shell commands read flags; one
    # with quotes, backslashes, "$" or "=" is left out (no quoting survives every build
    # system). Call it in a subshell.
    local line old flag flags=""
    if [ -n "${MB_PATH_MAP:-}" ] && [ "$MB_PATH_MAP" != none ] \
        && ${CC:-cc} -ffile-prefix-map=/a=/b -E -x c /dev/null > /dev/null 2>&1; then
        while IFS= read -r line; do
            old=${line%=*}
            case $old in *[\'\"\\\$=]*) continue ;; esac
            flag="-ffile-prefix-map=$old=${line##*=}"
            [[ $old == *[[:space:]]* ]] && flag="'$flag'"
            flags+=" $flag"
        done <<< "$MB_PATH_MAP"
    fi
    if [ -n "$flags" ]; then
        export CFLAGS="${CFLAGS:-}$flags" CXXFLAGS="${CXXFLAGS:-}$flags" \
            FFLAGS="${FFLAGS:-}$flags"
    fi
    "$@"
}

function mb_stable_link_objects {
    # Run COMMAND with -save-temps=obj added to LDFLAGS, when the C compiler takes it:
    # mb_stable_link_objects COMMAND [ARGS...]. A link command given assembly or C sources
    # (numpy's meson hands its SVML .s files to the link) has the compiler driver make
    # objects under random temporary names (/tmp/ccXXXXXX.o, LTO's ltrans objects), and the
    # linker records each name as a FILE symbol: every link, even of unchanged sources, gives
    # other bytes. -save-temps=obj names them after the output (OUTPUT-SOURCE.o, beside it in
    # the build directory). MB_LINK_SAVE_TEMPS=0 leaves LDFLAGS alone. Call it in a subshell.
    if [ "${MB_LINK_SAVE_TEMPS:-1}" != 0 ] \
        && (cd "${TMPDIR:-/tmp}" && ${CC:-cc} -save-temps=obj -E -x c /dev/null) \
            > /dev/null 2>&1; then
        export LDFLAGS="${LDFLAGS:+$LDFLAGS }-save-temps=obj"
    fi
    "$@"
}

function mb_cd_run {
    # cd DIR, then run COMMAND: mb_cd_run DIR COMMAND [ARGS...]
    cd "$1" && shift && "$@"
}

function build_wheel_cmd {
    # Generic build: build_wheel_cmd [CMD [REPO_DIR]]
    # pre_build (if config.sh defines it), BUILD_DEPENDS, CMD WHEELHOUSE in REPO_DIR, repair.
    local cmd=${1:-pip_wheel_cmd}
    local repo_dir=${2:-${REPO_DIR:-}}
    if [ -z "$repo_dir" ]; then mb_error "build_wheel_cmd: REPO_DIR is not set"; return 1; fi
    local wheelhouse
    wheelhouse=$(abspath "$WHEEL_SDIR")
    mkdir -p "$wheelhouse"
    mb_activate_toolchain || return $?  # first: ccache's links then cover zig's wrappers
    mb_maybe_ccache || return 1
    mb_build_env "$repo_dir" || return 1
    mb_run_pre_build || return $?  # errexit holds inside: it runs in its own bash
    mb_toolchain_fortran || return $?
    mb_install_build_requires || return 1
    mb_path_map || return 1
    mb_in_errexit_subshell mb_wheel_flags mb_named_compilers mb_path_map_flags \
        mb_stable_link_objects mb_cd_run "$repo_dir" "$cmd" "$wheelhouse" \
        || { mb_error "building $repo_dir with $cmd failed"; return 1; }
    mb_ccache_stats
    repair_wheelhouse "$wheelhouse"
}

function mb_build_env {
    # What the build of REPO_DIR needs to know first: mb_build_env REPO_DIR
    # Exports SOURCE_DATE_EPOCH (unless set) as the commit date of REPO_DIR's HEAD, so the
    # compilers, the build backend and the repair tool write that date, not the clock's;
    # sets MB_BUILD_REQUIRES (array) to the project's [build-system].requires and
    # MB_BUILD_REQUIRES_DECLARED to 1 when pyproject.toml declares them (0: pip's fallback).
    local out line
    out=$(mb_python build.incremental build-env "$1") || return 1
    MB_COMMIT_EPOCH="" MB_BUILD_REQUIRES=() MB_BUILD_REQUIRES_DECLARED=0
    while IFS= read -r line; do  # NAME=VALUE records (multibuild/core/shellvars.py), never eval'd
        line=${line%$'\r'}
        case $line in
            MB_COMMIT_EPOCH=*) MB_COMMIT_EPOCH=${line#*=} ;;
            MB_BUILD_REQUIRES=*) MB_BUILD_REQUIRES+=("${line#*=}") ;;
            MB_BUILD_REQUIRES_DECLARED=*) MB_BUILD_REQUIRES_DECLARED=${line#*=} ;;
        esac
    done <<< "$out"
    if [ -z "${SOURCE_DATE_EPOCH:-}" ] && [ -n "${MB_COMMIT_EPOCH:-}" ]; then
        export SOURCE_DATE_EPOCH=$MB_COMMIT_EPOCH
        echo "build_wheel: SOURCE_DATE_EPOCH=$SOURCE_DATE_EPOCH (the commit date of $1)"
    fi
}

function mb_install_build_requires {
    # Install what the build needs into the build environment (PYTHON_EXE): BUILD_DEPENDS
    # (multibuild's pip install of them), then, unless MB_BUILD_ISOLATION=1, the project's
    # [build-system].requires (MB_BUILD_REQUIRES, from mb_build_env) on top: the wheel is then
    # built without build isolation in this environment, whose paths stay the same between runs
    # (an isolated build gets a new temporary environment each time, and with it new paths in
    # every compile command). The build must see what multibuild's `pip wheel` gave it: an
    # isolated environment of pyproject.toml's requires (BUILD_DEPENDS do not reach it), so
    # where BUILD_DEPENDS are set those requires go in with --upgrade, as the newest versions
    # they allow (a BUILD_DEPENDS numpy==1.17.3 does not stand in for a requires' "numpy"); a
    # project without [build-system] builds against BUILD_DEPENDS as they are, as pip's
    # legacy path did. Installs are no-ops when satisfied (uv). Sets MB_BUILD_ENV_READY=1 for
    # pip_wheel_cmd.
    local opts upgrade=""
    local -a depends=()
    opts=$(pip_opts | tr '\n' ' ')
    read -r -a depends <<< "${BUILD_DEPENDS:-}"
    MB_BUILD_ENV_READY=
    if [ "${#depends[@]}" -gt 0 ]; then
        # shellcheck disable=SC2086
        mb_pip_install "${PYTHON_EXE:-python}" $opts "${depends[@]}" || {
            mb_error "build_wheel: cannot install BUILD_DEPENDS (${depends[*]}) for" \
                "$("${PYTHON_EXE:-python}" --version 2>&1) (see the installer's reason above)"
            return 1; }
    fi
    [ "${MB_BUILD_ISOLATION:-0}" != 1 ] || return 0
    if [ "${#depends[@]}" -gt 0 ] && [ "${MB_BUILD_REQUIRES_DECLARED:-0}" == 1 ]; then
        upgrade=--upgrade
    fi
    if [ "${#MB_BUILD_REQUIRES[@]}" -gt 0 ]; then
        # shellcheck disable=SC2086
        mb_pip_install "${PYTHON_EXE:-python}" $opts $upgrade "${MB_BUILD_REQUIRES[@]}" \
            || return 1
    fi
    MB_BUILD_ENV_READY=1
}

function mb_incremental_wheel_opts {
    # The extra pip wheel options of a build in a build environment mb_install_build_requires
    # prepared (nothing otherwise): mb_incremental_wheel_opts PIP_OPTS
    # multibuild/build/incremental.py installs what the backend asks for on top, keeps or starts
    # afresh the stable build directory MB_WORK_DIR/build-dir (meson-python,
    # scikit-build-core) and prints --no-build-isolation [-Cbuild-dir=DIR], one a line.
    [ -n "${MB_BUILD_ENV_READY:-}" ] || return 0
    mb_python build.incremental prepare-build . --python "${PYTHON_EXE:-python}" --pip-opts "$1" \
        ${MB_WORK_DIR:+--work-dir "$(abspath "$MB_WORK_DIR")"}
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
    # Build SPEC from the package index into WHEELHOUSE: index_wheel_cmd SPEC WHEELHOUSE [PIP_ARGS]
    local spec=$1 abs_wheelhouse=$2
    shift 2
    local name=${spec%%[=<>!~;[ ]*}
    # shellcheck disable=SC2046
    ${PIP_CMD:-python -m pip} wheel $(pip_opts) "$@" -w "$abs_wheelhouse" --no-deps \
        --no-binary "$name" "$spec"
}

function build_index_wheel_cmd {
    # Build a wheel of a source release on the package index, then repair it:
    # build_index_wheel_cmd SPEC [PIP_ARGS...]  (SPEC: "tornado" or "tornado==4.4.1"; PIP_ARGS go
    # to the pip install of BUILD_DEPENDS and to pip wheel). pre_build runs first if defined.
    local spec=${1:-}
    if [ -z "$spec" ]; then mb_error "build_index_wheel_cmd: no project spec given"; return 1; fi
    shift
    local wheelhouse
    wheelhouse=$(abspath "$WHEEL_SDIR")
    mkdir -p "$wheelhouse"
    mb_activate_toolchain || return $?
    mb_maybe_ccache || return 1
    mb_run_pre_build || return $?  # errexit holds inside: it runs in its own bash
    mb_toolchain_fortran || return $?
    if [ -n "${BUILD_DEPENDS:-}" ]; then
        # shellcheck disable=SC2046,SC2086
        mb_pip_install "${PYTHON_EXE:-python}" $(pip_opts) "$@" $BUILD_DEPENDS || return 1
    fi
    index_wheel_cmd "$spec" "$wheelhouse" "$@" || return 1
    repair_wheelhouse "$wheelhouse"
}

function build_index_wheel {
    # Build a wheel from a package index source release with the platform's compiler settings:
    # build_index_wheel SPEC [PIP_ARGS...]
    if [ -z "${1:-}" ]; then mb_error "build_index_wheel: no project spec given"; return 1; fi
    wrap_wheel_builder build_index_wheel_cmd "$@"
}

function repair_wheelhouse {
    # Make the wheels of IN_DIR self-contained into OUT_DIR (default IN_DIR):
    # auditwheel (Linux), delocate (macOS), delvewheel (Windows); pure wheels untouched.
    # Each repaired wheel gets a PEP 770 SBOM naming the project at REPO_DIR's commit and
    # every library the repair bundled (multibuild/build/sbom.py).
    local in_dir=$1 out_dir=${2:-$1}
    local -a source=()
    [ -n "${REPO_DIR:-}" ] && [ -d "$REPO_DIR" ] && source=(--source "$REPO_DIR")
    mb_python build.repair "$in_dir" "$out_dir" "${source[@]}"
}

function install_wheel {
    # Install TEST_DEPENDS and the wheelhouse wheels that fit PYTHON_EXE; sets the array
    # MB_INSTALLED_WHEELS to their paths (one a line from wheelfit: paths may hold spaces).
    local wheelhouse listed
    wheelhouse=$(abspath "$WHEEL_SDIR")
    listed=$(mb_python build.wheelfit "$wheelhouse" --python "${PYTHON_EXE:-python}") || return 1
    mapfile -t MB_INSTALLED_WHEELS <<< "$listed"
    if [ -n "${TEST_DEPENDS:-}" ]; then
        # shellcheck disable=SC2046,SC2086
        mb_pip_install "${PYTHON_EXE:-python}" $(pip_opts) $TEST_DEPENDS || return 1
    fi
    echo "install_wheel: ${MB_INSTALLED_WHEELS[*]}"
    # shellcheck disable=SC2046
    mb_pip_install "${PYTHON_EXE:-python}" $(pip_opts) "${MB_INSTALLED_WHEELS[@]}"
}

function mb_test_venv {
    # The test environment of MB_PYTHON_VERSION, with TEST_DEPENDS, activated: reused while
    # its interpreter and TEST_DEPENDS are unchanged, clean of any earlier wheel
    # (mb_activate_test_venv).
    local base
    base=$(mb_base_python "${MB_PYTHON_VERSION:-3}") || return 1
    mb_activate_test_venv "$base" "$(abspath "${MB_WORK_DIR:-build}/test-venv")"
}

function install_run {
    # Install the fitting wheels into a fresh environment, then run config.sh's run_tests in
    # tmp_for_test/ inside the wheels repository, as multibuild does: run_tests reaches the
    # project's sources as ../$REPO_DIR and the repository's own files as ../NAME, and
    # imports the installed wheel, not the source tree. For a target of ./wheels build that
    # directory sits beside the target's own checkout, whose parent links every other entry of
    # the repository (multibuild/run/testdir.py). REPO_DIR is, while run_tests runs, the value
    # the CI file (or --repo-dir) gave (MB_GIVEN_REPO_DIR), not the target's copy.
    # In a ./wheels run (MB_WORK_DIR set) every pytest run_tests starts writes a JUnit XML
    # file, MB_WORK_DIR/test-results.xml (PYTEST_ADDOPTS), for the report's test counts.
    if [ -z "$(is_function run_tests)" ]; then
        mb_error "config.sh (${CONFIG_PATH:-config.sh}) does not define run_tests"
        return 1
    fi
    if [ "${1:-${PLAT:-}}" != "$(uname -m)" ] && [ "$(get_os)" == Linux ]; then
        mb_cross_test_env "${1:-${PLAT:-}}" || return $?  # a cross-built wheel
        [ -z "${MB_CROSS_UNTESTED:-}" ] || return 0
    else
        mb_test_venv || return 1
        install_wheel || return 1
        if mb_reuse_test_results; then return 0; fi
    fi
    # run_tests runs in a subshell with errexit on, as a CI step would. In a container the
    # test directory is /io/tmp_for_test (the target's own, mounted there by docker.py), as
    # multibuild's docker_test_wrap.sh has it; natively multibuild/run/testdir.py makes it.
    local test_dir status flags=$- failed junit=""
    if [ -n "${MB_WORK_DIR:-}" ]; then
        junit="$(abspath "$MB_WORK_DIR")/test-results.xml"
        rm -f "$junit"
    fi
    if [ -n "${MB_IN_CONTAINER:-}" ]; then
        test_dir=$PWD/tmp_for_test
        mkdir -p "$test_dir"
    else
        test_dir=$(mb_python run.testdir --root "$MB_ROOT" --repo-dir "${REPO_DIR:-}" \
            --work-dir "${MB_WORK_DIR:-}") || return 1
    fi
    set +e
    { failed=$( (mb_run_tests_in "$test_dir" "$junit") 3>&1 1>&4); status=$?; } 4>&1
    [[ $flags == *e* ]] && set -e
    if [ -n "${MB_IN_CONTAINER:-}" ]; then
        rmdir "$test_dir" 2> /dev/null || true  # kept when it is a mount or run_tests left files
    else
        rmdir "$test_dir" 2> /dev/null \
            || echo "install_run: $test_dir kept: run_tests left files in it"
    fi
    if [ "$status" -ne 0 ]; then
        mb_error "run_tests failed (exit $status)${failed:+: $failed}"
        return "$status"
    fi
}

function mb_cross_test_env {
    # The test environment of a wheel cross-built for PLAT (multibuild/build/crosspython.py): the
    # target's Python (Debian's, under qemu-user) first on PATH as python, with TEST_DEPENDS
    # and the wheelhouse's wheels for PLAT installed for it into MB_WORK_DIR/cross-site on its
    # PYTHONPATH. Without qemu-user: says "built, not tested" (and why), sets
    # MB_CROSS_UNTESTED and records it for the report. mb_cross_test_env PLAT
    local plat=$1 out site uv wheelhouse
    local -a wheels=() depends=()
    out=$(mb_python build.crosspython test-python --plat "$plat" --python "${MB_PYTHON_VERSION:-}") \
        || return $?
    MB_CROSS_TEST_PYTHON="" MB_CROSS_UNTESTED="" MB_CROSS_TESTED_WITH="" MB_CROSS_UV_PLATFORM=""
    mb_import_vars MB_CROSS_TEST_PYTHON MB_CROSS_UNTESTED MB_CROSS_TESTED_WITH \
        MB_CROSS_UV_PLATFORM <<< "$out" || return 1
    if [ -n "$MB_CROSS_UNTESTED" ]; then
        echo "install_run: $plat wheel built, not tested: $MB_CROSS_UNTESTED"
        mb_python build.crosspython record-test --tested false --how "$MB_CROSS_UNTESTED"
        return 0
    fi
    wheelhouse=$(abspath "$WHEEL_SDIR")
    for out in "$wheelhouse"/*.whl; do
        case $out in *"_$plat.whl"|*"-any.whl") wheels+=("$out") ;; esac
    done
    [ "${#wheels[@]}" -gt 0 ] || { mb_error "install_run: no $plat wheel in $wheelhouse"; return 1; }
    site=$(abspath "${MB_WORK_DIR:-build}/cross-site")
    rm -rf "$site"
    uv=$(mb_uv_bin) || { mb_error "install_run: cross tests need uv (MB_USE_UV=1)"; return 1; }
    read -r -a depends <<< "${TEST_DEPENDS:-}"
    # shellcheck disable=SC2046
    UV_PYTHON_DOWNLOADS=never "$uv" pip install --quiet --target "$site" \
        --python-platform "$MB_CROSS_UV_PLATFORM" --python-version "$MB_PYTHON_VERSION" \
        $(pip_opts) "${depends[@]}" "${wheels[@]}" || return 1
    export PYTHONPATH="$site" PYTHON_EXE=$MB_CROSS_TEST_PYTHON
    PATH="${MB_CROSS_TEST_PYTHON%/*}:$PATH"
    export PATH PIP_CMD="$MB_CROSS_TEST_PYTHON -m pip"
    echo "install_run: testing the $plat wheel with $MB_CROSS_TESTED_WITH"
    mb_python build.crosspython record-test --tested true --how "$MB_CROSS_TESTED_WITH"
}

function mb_reuse_test_results {
    # Whether the last passing run's test results apply (multibuild/run/testreuse.py): the same
    # wheel bytes, test environment, run_tests inputs (mb_run_tests_inputs, hashed here) and
    # interpreter; says so, or why the tests run, in one line. Only in a ./wheels run
    # (MB_WORK_DIR), natively; MB_REUSE_TESTS=1 (the run's decision: not under CI, not with
    # --retest) lets it reuse, otherwise this run's key is only kept for the next one.
    [ -n "${MB_WORK_DIR:-}" ] && [ -z "${MB_IN_CONTAINER:-}" ] || return 1
    local inputs
    inputs=$(mb_run_tests_inputs | mb_sha256_stdin) || return 1
    mb_python run.testreuse check --work-dir "$(abspath "$MB_WORK_DIR")" \
        --python "${PYTHON_EXE:-python}" --inputs "$inputs" \
        ${MB_REUSE_TESTS:+--reuse "$MB_REUSE_TESTS"} "${MB_INSTALLED_WHEELS[@]}"
}

function mb_run_tests_inputs {
    # Print what run_tests' result depends on in this shell: its text, the text of every
    # function it calls (by name, transitively) and the value of every variable they name,
    # with the variables test runners read by themselves (PYTEST_*, PYTHON*, thread counts).
    # install_run hashes it: no value is kept.
    local -A seen=()
    local -a todo=(run_tests) words=()
    local name word text=""
    while [ "${#todo[@]}" -gt 0 ]; do
        name=${todo[0]}
        todo=("${todo[@]:1}")
        [ -z "${seen[$name]:-}" ] || continue
        seen[$name]=1
        text+=$(declare -f "$name")$'\n'
        mapfile -t words < <(declare -f "$name" | grep -oE '[A-Za-z_][A-Za-z0-9_]*' | sort -u)
        for word in "${words[@]}"; do
            if [ -z "${seen[$word]:-}" ] && declare -F "$word" > /dev/null; then
                todo+=("$word")
            fi
        done
    done
    printf '%s' "$text"
    mapfile -t words < <({ grep -oE '[A-Za-z_][A-Za-z0-9_]*' <<< "$text"
        compgen -e | grep -E '^(PYTEST|PYTHON|NPY_|SCIPY_|OMP_|OPENBLAS|MKL_|HYPOTHESIS)'; } \
        | sort -u)
    for word in "${words[@]}"; do
        case $word in  # what changes every run (or every line) without changing the tests
            RANDOM|SRANDOM|SECONDS|EPOCHREALTIME|EPOCHSECONDS|LINENO|BASHPID|BASH_*|FUNCNAME \
                |PIPESTATUS|OLDPWD|PPID|MB_RUN_ID|SHLVL|_) continue ;;
        esac
        [[ -v $word ]] && declare -p "$word" 2> /dev/null
    done
}

function mb_failed_command {
    # The ERR trap of the project's hooks under errexit: print the command that failed and
    # the function it is in (`false` in helper), so the hook's one-line error says what
    # failed in config.sh's own code (a download it makes, a test it runs):
    # mb_failed_command HOOK
    local status=$? where=${FUNCNAME[1]:-}
    [ "$where" == "$1" ] && where=
    # shellcheck disable=SC2016  # the backquotes are text: they quote the command
    printf '`%s` failed (exit %s)%s' "$BASH_COMMAND" "$status" "${where:+ in $where}"
}

function mb_run_tests_in {
    # Run config.sh's run_tests in DIR with errexit on and REPO_DIR as the CI file gave it:
    # mb_run_tests_in DIR [JUNIT_XML] (in a subshell: it changes directory, REPO_DIR and
    # PYTEST_ADDOPTS). A pytest run_tests starts writes JUNIT_XML when given. The command
    # that failed goes to fd 3 (mb_failed_command).
    set -eE
    trap "mb_failed_command run_tests >&3" ERR
    cd "$1"
    if [ -n "${2:-}" ]; then
        PYTEST_ADDOPTS="${PYTEST_ADDOPTS:+$PYTEST_ADDOPTS }--junitxml=$(printf %q "$2")"
        export PYTEST_ADDOPTS
    fi
    REPO_DIR=${MB_GIVEN_REPO_DIR:-${REPO_DIR:-}}
    run_tests
}

function mb_source_project {
    # Source ENV_VARS_PATH (default env_vars.sh), then configure_build.sh (BUILD_PREFIX, CFLAGS,
    # CPPFLAGS, PKG_CONFIG_PATH, ...; not in the test environment, nor on Windows), then
    # CONFIG_PATH (default config.sh), last, so the project can override any library function:
    # multibuild's order. Syntax errors are named up front.
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
            problem=$(echo "$problem" | head -n 1)
            mb_error "syntax error in $file: ${problem#"$file: "}"
            return 1
        fi
    done
    if [ -r "$env_vars" ]; then
        # shellcheck disable=SC1090
        source "$env_vars" || { mb_error "sourcing $env_vars failed"; return 1; }
    fi
    if [ -z "${MB_IN_TEST_ENV:-}" ] && [ "$(get_os)" != Windows ]; then
        # shellcheck source=multibuild/configure_build.sh
        source "$MULTIBUILD_DIR/configure_build.sh" \
            || { mb_error "sourcing configure_build.sh failed"; return 1; }
    fi
    # shellcheck disable=SC1090
    source "$config" || { mb_error "sourcing $config failed"; return 1; }
}

function mb_root_relative {
    # Print PATH as a container sees it from /io: relative to the repository root (MB_ROOT);
    # a relative PATH is that already. One-line error for a path outside the root.
    local path=$1 root
    root=$(cd "$MB_ROOT" && pwd -P)
    if [ -d "$path" ]; then path=$(cd "$path" && pwd -P); fi
    case "$path" in
        "$root") echo . ;;
        "$root"/*) echo "${path#"$root"/}" ;;
        /*) mb_error "$1 is outside the repository $MB_ROOT; a container cannot see it"
            return 1 ;;
        *) echo "$path" ;;
    esac
}

function mb_handed_env {
    # Run a command with the declared step environment exported (see environment.py):
    # mb_handed_env COMMAND [ARGS...]. Runs in a subshell; the caller's shell is untouched.
    (
        local name
        for name in $(mb_python core.environment names) ; do
            if [ -n "${!name+x}" ]; then export "${name?}"; fi
        done
        "$@"
    )
}

# shellcheck source=multibuild/library_builders.sh
source "$MULTIBUILD_DIR/library_builders.sh"
