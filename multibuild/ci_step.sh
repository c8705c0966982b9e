#!/usr/bin/env bash
# The one entry point of CI steps: every CI file runs `bash multibuild/ci_step.sh STEP`.
#   build   decide the event (multibuild.ci.events: commit and upload channel), then run the main
#           job (./wheels build) for this job's MB_PYTHON_VERSION and PLAT
#   upload  upload the tested wheels to the event's channel; nothing for pull requests
#   check   ./wheels check: the CI files agree (BUILD_COMMIT, platforms, Pythons)
# ./wheels replay JOB runs the build step of a listed job with the environment CI gives it.
set -euo pipefail
MB_CI_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$MB_CI_ROOT"
# shellcheck source=multibuild/common_utils.sh
source "$MB_CI_ROOT/multibuild/common_utils.sh"

function mb_ci_plan {
    # Export MB_EVENT, BUILD_COMMIT and MB_UPLOAD_CHANNEL for the current CI event.
    local plan
    plan=$(mb_python ci.events) || return 1
    mb_import_vars --export MB_EVENT BUILD_COMMIT MB_UPLOAD_CHANNEL <<< "$plan" || return 1
    echo "ci_step: ${MB_EVENT} event: commit ${BUILD_COMMIT}, upload channel '${MB_UPLOAD_CHANNEL}'"
}

step=${1:-}
case "$step" in
    build)
        # A timed log group per step: this plan here, the lifecycle steps in the runner.
        mb_step_start event_plan
        mb_ci_plan || { mb_step_end event_plan 1; exit 1; }
        mb_step_end event_plan
        exec ./wheels build
        ;;
    upload)
        mb_step_start event_plan
        mb_ci_plan || { mb_step_end event_plan 1; exit 1; }
        mb_step_end event_plan
        if [ -z "$MB_UPLOAD_CHANNEL" ]; then
            echo "ci_step: upload: nothing to upload for a ${MB_EVENT} build"
            exit 0
        fi
        mb_step_start upload
        status=0
        mb_python release.upload || status=$?
        mb_step_end upload "$status"
        exit "$status"
        ;;
    check)
        exec ./wheels check
        ;;
    *)
        mb_error "ci_step.sh: unknown step '${step}' (build, upload or check)"
        exit 2
        ;;
esac
