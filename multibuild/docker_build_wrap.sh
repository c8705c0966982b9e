#!/usr/bin/env bash
# Inside the build container: the library, env_vars.sh and config.sh, then BUILD_COMMANDS.
# Depends on: BUILD_COMMANDS, MB_PYTHON_VERSION, PLAT, MB_AUDITWHEEL_PLAT (the policy of
# MB_ML_VER, unless the image sets AUDITWHEEL_PLAT), MB_UMASK, MB_HOST_UID, MB_HOST_GID
# (handed in by `docker.py build`).
set -e
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=multibuild/manylinux_utils.sh
source multibuild/manylinux_utils.sh
mb_container_start
export AUDITWHEEL_PLAT=${AUDITWHEEL_PLAT:-${MB_AUDITWHEEL_PLAT:-}}
mb_container_tools
export MB_BUILD_MODE=native
# shellcheck source=multibuild/travis_steps.sh
source multibuild/travis_steps.sh
before_install
eval "$BUILD_COMMANDS"
