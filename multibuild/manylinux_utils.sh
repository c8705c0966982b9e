#!/usr/bin/env bash
# Helpers for manylinux containers (and the clean native test process); multibuild's
# manylinux_utils.sh. Sourcing it sources common_utils.sh first.
_mb_ml_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
if [ -z "$(declare -Ff mb_python)" ]; then
    # shellcheck source=multibuild/common_utils.sh
    source "$_mb_ml_dir/common_utils.sh"
fi
# shellcheck source=multibuild/container_probe.sh
source "$_mb_ml_dir/container_probe.sh"
unset _mb_ml_dir

# cpython_path, get_platform, repair_wheelhouse and activate_ccache come from common_utils.sh.

function yum_install {
    # Install packages with yum, and fail unless rpm then knows them (old CentOS yum returned 0
    # for a package it could not find): yum_install PACKAGE...
    if [ $# -eq 0 ]; then mb_error "yum_install: no package given"; return 1; fi
    if ! command -v yum > /dev/null 2>&1; then
        mb_error "yum_install: yum is not available here (a CentOS-based manylinux image has it)"
        return 1
    fi
    yum install -y "$@" && rpm -q "$@"
}

function mb_container_tools {
    # The host's tool environment does not run in a container: make one inside it with the
    # container's tool interpreter (container_probe.sh), with the tools MB_TOOL_PACKAGES names,
    # in MB_CONTAINER_TOOL_VENV (kept under /io per image, so later containers reuse it; taken
    # in turns with flock) or /tmp/mb-tools; unless MB_TOOL_PYTHON points at a working one.
    if [ -n "${MB_TOOL_PYTHON:-}" ] && [ -x "$MB_TOOL_PYTHON" ]; then return 0; fi
    unset MB_TOOL_PYTHON MB_UV
    export MB_TOOL_VENV=${MB_CONTAINER_TOOL_VENV:-/tmp/mb-tools}
    MB_BOOTSTRAP_PYTHON=$(mb_container_tool_python) \
        || { mb_error "mb_container_tools: no python3 in this container"; return 1; }
    export MB_BOOTSTRAP_PYTHON
    mkdir -p "$(dirname "$MB_TOOL_VENV")"
    if command -v flock > /dev/null 2>&1; then
        (flock 9 && mb_bootstrap_tools "$MB_ROOT") 9> "$MB_TOOL_VENV.lock" || return 1
    fi
    mb_bootstrap_tools "$MB_ROOT"
}

function mb_container_start {
    # Start of a docker-mode step in its container: the invoking user's umask (MB_UMASK),
    # and on exit, or TERM, INT or HUP, the hand-over of what the step created under the
    # repository to the invoking user (MB_HOST_UID, MB_HOST_GID).
    if [ -n "${MB_UMASK:-}" ]; then umask "$MB_UMASK"; fi
    trap mb_container_handover EXIT
    trap 'exit 143' TERM
    trap 'exit 130' INT
    trap 'exit 129' HUP
    if [ "${MB_DOCKER_NETWORK:-}" == none ]; then
        echo "docker: no network in this container: packages come from the wheels the host" \
            "prepared (${PIP_FIND_LINKS:-}); MB_DOCKER_NETWORK=host lets steps reach the index"
    fi
}

function mb_container_handover {
    # Give the invoking user what the container's root created in their repository (MB_ROOT,
    # which they own): wheels, work directories, caches, stamps.
    local uid=${MB_HOST_UID:-0} gid=${MB_HOST_GID:-0}
    if [ "$uid" == 0 ] || [ "$(stat -c %u "$MB_ROOT")" != "$uid" ]; then return 0; fi
    find "$MB_ROOT" -uid 0 -exec chown -h "$uid:$gid" {} + 2> /dev/null || true
}
