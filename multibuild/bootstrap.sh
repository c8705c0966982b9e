#!/usr/bin/env bash
# Tool environment: the interpreter that runs this library's Python helpers.
# Sourced by ./wheels and by the container wrappers; not by config.sh authors.

function mb_bootstrap_tools {
    # Create or refresh ROOT/.venv with the pins of ROOT/pyproject.toml; export MB_TOOL_PYTHON.
    # A stamp (hash of pyproject.toml) makes a warm call a no-op. The environment and the
    # library are byte-compiled ahead (even under PYTHONDONTWRITEBYTECODE, which only stops
    # Python writing them): every helper call would otherwise compile its imports again.
    # Depends on: python3 (>= 3.9) on PATH, or MB_BOOTSTRAP_PYTHON. MB_TOOL_PACKAGES (names)
    # installs only those pins (a container's steps need a few of the tools).
    local root=$1
    local venv="${MB_TOOL_VENV:-$root/.venv}"
    local stamp="$venv/.mb-stamp"
    local want python name
    local -a pins=()
    want="$(sha256sum "$root/pyproject.toml" | cut -d' ' -f1) compiled${MB_TOOL_PACKAGES:+ $MB_TOOL_PACKAGES}"
    python=$(mb_venv_python "$venv")
    if [ -x "$python" ] && [ "$(cat "$stamp" 2>/dev/null)" == "$want" ]; then
        export MB_TOOL_PYTHON="$python"
        mb_compile_library "$root" "$python" "$stamp"
        return 0
    fi
    local py="${MB_BOOTSTRAP_PYTHON:-python3}"
    if ! "$py" -c 'import sys; sys.exit(sys.version_info < (3, 9))' 2>/dev/null; then
        echo "wheels: need Python >= 3.9 to bootstrap (tried '$py'); set MB_BOOTSTRAP_PYTHON" >&2
        return 1
    fi
    echo "wheels: preparing tool environment in $venv (first run only)" >&2
    if [ ! -x "$python" ]; then
        "$py" -m venv "$venv" || return 1
        python=$(mb_venv_python "$venv")
    fi
    "$python" -m pip install --quiet --disable-pip-version-check "$(mb_pin uv "$root")" \
        || return 1
    if [ -n "${MB_TOOL_PACKAGES:-}" ]; then
        for name in $MB_TOOL_PACKAGES; do
            pins+=("$(mb_pin "$name" "$root")")
        done
        "$python" -m uv pip install --quiet --python "$python" "${pins[@]}" || return 1
    else
        "$python" -m uv pip install --quiet --python "$python" \
            -r "$root/pyproject.toml" --all-extras || return 1
    fi
    # uv compiles only what it installs; an environment already satisfied stays uncompiled.
    "$python" -m compileall -q -j 0 "$venv" > /dev/null 2>&1 || true
    echo "$want" > "$stamp"
    export MB_TOOL_PYTHON="$python"
    mb_compile_library "$root" "$python" "$stamp" force
}

function mb_compile_library {
    # Byte-compile ROOT/multibuild when a module is newer than STAMP (or with "force"):
    # mb_compile_library ROOT PYTHON STAMP [force]
    local root=$1 python=$2 stamp=$3
    if [ "${4:-}" == force ] \
        || [ -n "$(find "$root/multibuild" -name '*.py' -newer "$stamp" -print -quit)" ]; then
        # A shared tool environment may not be ours to touch: then compile again next time.
        "$python" -m compileall -q "$root/multibuild" > /dev/null \
            && { touch "$stamp" 2> /dev/null || true; }
    fi
    return 0
}

function mb_venv_python {
    # The interpreter of virtual environment DIR: DIR/bin/python, or DIR/Scripts/python.exe
    # (Windows layout) when that one exists.
    if [ ! -e "$1/bin/python" ] && [ -e "$1/Scripts/python.exe" ]; then
        echo "$1/Scripts/python.exe"
    else
        echo "$1/bin/python"
    fi
}

function mb_pin {
    # Print the pinned requirement NAME==VERSION of package NAME from ROOT/pyproject.toml.
    local name=$1 root=$2
    grep -o "\"$name==[^\"]*\"" "$root/pyproject.toml" | head -n 1 | tr -d '"'
}
