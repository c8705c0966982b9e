# Build environment for numpy wheels on 32-bit platforms: env_vars.sh with LP64 OpenBLAS
# (scipy-openblas32) instead of ILP64.
# shellcheck source=env_vars.sh
source "$(dirname "${BASH_SOURCE[0]}")/env_vars.sh"
export NPY_USE_BLAS_ILP64=
