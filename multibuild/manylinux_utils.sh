#!/usr/bin/env bash
# Helpers for manylinux containers (and the clean native test process); multibuild's
# manylinux_utils.sh. Sourcing it sources common_utils.sh first.
_mb_ml_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
if [ -z "$(declare -Ff mb_python)" ]; then
    # shellcheck source=multibuild/common_utils.sh
    source "$_mb_ml_dir/common_utils.sh"
fi
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
    # The host's tool environment does not run in a container: make one inside it, with the
    # newest CPython of the image, unless MB_TOOL_PYTHON points at a working one.
    if [ -n "${MB_TOOL_PYTHON:-}" ] && [ -x "$MB_TOOL_PYTHON" ]; then return 0; fi
    unset MB_TOOL_PYTHON MB_UV
    export MB_TOOL_VENV=${MB_CONTAINER_TOOL_VENV:-/tmp/mb-tools}
    local candidate
    for candidate in /opt/python/cp3*-cp3*/bin/python; do
        [ -x "$candidate" ] && MB_BOOTSTRAP_PYTHON=$candidate
    done
    export MB_BOOTSTRAP_PYTHON
    mb_bootstrap_tools "$MB_ROOT"
}
