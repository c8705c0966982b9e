# Build environment for numpy wheels on 64-bit platforms (sourced before config.sh, in the
# build and in the test environment). ILP64 OpenBLAS from the scipy-openblas64 wheel.
export NPY_USE_BLAS_ILP64=${NPY_USE_BLAS_ILP64-1}
# The newest scipy-openblas for the manylinux policy (MB_ML_VER): its wheels are manylinux2014
# (glibc 2.17) up to 0.3.31.188.0, manylinux_2_28 after.
if [ "${MB_ML_VER:-}" == 2014 ]; then
    export OPENBLAS_VERSION=${OPENBLAS_VERSION:-0.3.31.188.0}
else
    export OPENBLAS_VERSION=${OPENBLAS_VERSION:-0.3.34.481.3}
fi
# numpy's test suite label for run_tests: fast or full.
export NPY_TEST_LABEL=${NPY_TEST_LABEL:-fast}
# What numpy's test suite needs: f2py's tests call meson (and ninja); numpy.distutils (still
# shipped for Python < 3.12) is tested against setuptools < 60 only.
export TEST_DEPENDS=${TEST_DEPENDS:-"pytest==8.3.5 hypothesis==6.131.0 typing_extensions meson ninja setuptools<60;python_version<'3.12'"}
# The wheel is built with numpy's own flags, as its release wheels are: not the library
# defaults configure_build.sh sets for libraries built into BUILD_PREFIX (-Wl,-strip-all,
# -I$BUILD_PREFIX/include), which numpy.show_config() would otherwise record.
export MB_WHEEL_FLAGS=${MB_WHEEL_FLAGS:-project}
# Docker mode: pre_build downloads OpenBLAS from the package index (build_openblas), so the
# containers use the host's network (the default, none, reaches only the wheels the host
# prepares).
export MB_DOCKER_NETWORK=${MB_DOCKER_NETWORK:-host}
