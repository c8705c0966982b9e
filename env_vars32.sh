# Build environment for numpy wheels on 32-bit platforms: LP64 OpenBLAS (scipy-openblas32).
export NPY_USE_BLAS_ILP64=
export OPENBLAS_VERSION=${OPENBLAS_VERSION:-0.3.34.481.3}
export NPY_TEST_LABEL=${NPY_TEST_LABEL:-fast}
