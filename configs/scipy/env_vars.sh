# Build environment for scipy wheels: ./wheels build --config scipy (or
# CONFIG_PATH=configs/scipy/config.sh ENV_VARS_PATH=configs/scipy/env_vars.sh, as before).
# Sourced before configs/scipy/config.sh, in the build and in the test environment.

# The project this configuration builds: the defaults of ./wheels build --config scipy
# (--repo-url/--repo-dir/--commit and the environment come first). The newest scipy release
# on PyPI; where GitHub is out of reach, clean_code builds it from its sdist.
REPO_URL=${REPO_URL:-https://github.com/scipy/scipy.git}
REPO_DIR=${REPO_DIR:-scipy}
BUILD_COMMIT=${BUILD_COMMIT:-v1.17.1}

# scipy links LP64 OpenBLAS (scipy-openblas32) on every platform.
export NPY_USE_BLAS_ILP64=
# The newest scipy-openblas for the manylinux policy (MB_ML_VER): its wheels are manylinux2014
# (glibc 2.17) up to 0.3.31.188.0, manylinux_2_28 after.
if [ "${MB_ML_VER:-}" == 2014 ]; then
    export OPENBLAS_VERSION=${OPENBLAS_VERSION:-0.3.31.188.0}
else
    export OPENBLAS_VERSION=${OPENBLAS_VERSION:-0.3.34.481.3}
fi
# tools/openblas_support.py --check_version checks the OpenBLAS scipy bundles.
export OPENBLAS_CHECK_PACKAGE=scipy
# scipy's test suite label for run_tests: fast (not the slow-marked tests) or full.
export SCIPY_TEST_LABEL=${SCIPY_TEST_LABEL:-fast}
# What scipy's suite needs; pytest-xdist runs it on SCIPY_TEST_JOBS workers. pooch is left
# out on purpose: scipy.datasets' tests download data sets (see run_tests).
export SCIPY_TEST_JOBS=${SCIPY_TEST_JOBS:-2}
export TEST_DEPENDS=${TEST_DEPENDS:-"pytest==8.3.5 pytest-xdist==3.6.1 hypothesis==6.131.0 threadpoolctl"}
# The wheel is built with scipy's own flags, as its release wheels are: not the library
# defaults configure_build.sh sets for libraries built into BUILD_PREFIX (-Wl,-strip-all,
# -I$BUILD_PREFIX/include), which scipy.show_config() would otherwise record.
export MB_WHEEL_FLAGS=${MB_WHEEL_FLAGS:-project}
# Docker mode: pre_build downloads OpenBLAS from the package index (build_openblas), so the
# containers use the host's network (the default, none, reaches only the wheels the host
# prepares).
export MB_DOCKER_NETWORK=${MB_DOCKER_NETWORK:-host}
