#!/usr/bin/env bash
# In the test container, or a clean native process: install the fitting wheels into a fresh
# environment and run config.sh's run_tests (in a container from /io/tmp_for_test, as
# multibuild's does). Usage: docker_test_wrap.sh [PLAT]
set -e
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=multibuild/manylinux_utils.sh
source multibuild/manylinux_utils.sh
if [ -n "${MB_IN_CONTAINER:-}" ]; then
    mb_container_start
    mb_container_tools
fi
export MB_IN_TEST_ENV=1
mb_source_project
install_run "${1:-${PLAT:-x86_64}}"
