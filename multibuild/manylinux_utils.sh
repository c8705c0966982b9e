#!/usr/bin/env bash
# Helpers for manylinux containers (and the clean native test process).
_mb_ml_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
if [ -z "$(declare -Ff mb_python)" ]; then
    # shellcheck source=multibuild/common_utils.sh
    source "$_mb_ml_dir/common_utils.sh"
fi
unset _mb_ml_dir

function cpython_path {
    # Prefix of CPython X.Y in a manylinux image: cpython_path 3.12 -> /opt/python/cp312-cp312
    local version=$1
    local nodot=${version//./}
    echo "/opt/python/cp${nodot}-cp${nodot}"
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
