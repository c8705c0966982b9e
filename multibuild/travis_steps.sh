#!/usr/bin/env bash
# CI step functions for this OS (before_install, build_wheel, install_run, ...), then the
# project's env_vars.sh and config.sh.
#   source multibuild/common_utils.sh; source multibuild/travis_steps.sh
_mb_steps_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
if [ -z "$(declare -Ff mb_python)" ]; then
    # shellcheck source=multibuild/common_utils.sh
    source "$_mb_steps_dir/common_utils.sh"
fi
# MB_HOST_SYSTEM (default: uname -s) picks the steps; tests set it to load another OS's steps.
case "${MB_HOST_SYSTEM:-$(uname -s)}" in
    Linux)
        # shellcheck source=multibuild/travis_linux_steps.sh
        source "$_mb_steps_dir/travis_linux_steps.sh" ;;
    Darwin)
        # shellcheck source=multibuild/travis_osx_steps.sh
        source "$_mb_steps_dir/travis_osx_steps.sh" ;;
    MINGW*|MSYS*|CYGWIN*|Windows*)
        # shellcheck source=multibuild/windows_steps.sh
        source "$_mb_steps_dir/windows_steps.sh" ;;
    *)
        mb_error "travis_steps.sh: no CI steps for $(uname -s) in this library yet"
        return 1 ;;
esac
unset _mb_steps_dir
