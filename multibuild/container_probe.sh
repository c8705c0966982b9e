#!/usr/bin/env bash
# What docker mode needs to know about an image (run in it: KEY=VALUE lines), and the choice
# of the library's tool interpreter there (sourced: mb_container_tool_python), kept in one
# place for the host's probe, mb_container_tools and the image recipes.

function mb_container_tool_python {
    # Print the interpreter the library's tools use in a container: the newest CPython of
    # /opt/python (the manylinux layout; free-threaded builds left out), else python3.
    local newest
    newest=$(printf '%s\n' /opt/python/cp3*-cp3*/bin/python | grep -v 't/bin/python$' \
        | sort -V | tail -n 1)
    if [ -x "$newest" ]; then
        echo "$newest"
    else
        command -v python3
    fi
}

function mb_container_facts {
    # Print the image's architecture, glibc, tool interpreter and CPython versions (X.Y:
    # /opt/python/cpXY-cpXY and pythonX.Y on PATH, as multibuild.core.interpreters finds them).
    local tool candidate version versions=""
    tool=$(mb_container_tool_python) || { echo "error: no python3 in this image" >&2; return 1; }
    echo "arch=$(uname -m)"
    echo "glibc=$(getconf GNU_LIBC_VERSION 2> /dev/null | cut -d' ' -f2)"
    echo "tool_python=$tool"
    echo "tool_version=$("$tool" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
    for candidate in /opt/python/cp3*-cp3*/bin/python; do
        [ -x "$candidate" ] || continue
        version=${candidate#/opt/python/cp}
        version=${version%%-*}
        [[ $candidate == *t/bin/python ]] || versions+=" 3.${version#3}"
    done
    for version in 6 7 8 9 10 11 12 13 14 15; do
        if command -v "python3.$version" > /dev/null 2>&1; then versions+=" 3.$version"; fi
    done
    # shellcheck disable=SC2086  # one version a word
    echo "pythons=$(printf '%s\n' $versions | sort -uV | tr '\n' ' ')"
}

if [ "${BASH_SOURCE[0]}" == "$0" ]; then
    mb_container_facts
fi
