#!/usr/bin/env bash
# Library builders of the multibuild library (multibuild's names), sourced by common_utils.sh.
# OpenBLAS comes verified and unpacked from multibuild/openblas.py (wheel or tarball source);
# see `python tools/openblas_support.py --help` for its environment variables.

# shellcheck source=multibuild/_gfortran_utils.sh
source "$MULTIBUILD_DIR/_gfortran_utils.sh"

function openblas_get {
    # Print the OpenBLAS prefix (lib/, include/, lib/pkgconfig/*.pc) for PLAT: openblas_get [PLAT]
    # Honours OPENBLAS_VERSION, NPY_USE_BLAS_ILP64, MB_ML_VER and OPENBLAS_SOURCE.
    local plat=${1:-${PLAT:-}}
    if [ -n "$plat" ]; then
        mb_python openblas --plat "$plat"
    else
        mb_python openblas
    fi
}

function build_openblas {
    # Make OpenBLAS available to the build: build_openblas [PLAT]
    # Exports OPENBLAS (the prefix), OPENBLAS_LIB_DIR, OPENBLAS_INCLUDE_DIR, PKG_CONFIG_PATH,
    # OPENBLAS_PKG_CONFIG_NAME, OPENBLAS_CONFIG_SETTINGS (pip -Csetup-args options any meson
    # project with BLAS options takes: -Dblas, -Dlapack, and -Duse-ilp64 for ILP64) and the
    # library path the repair tool reads (LD_LIBRARY_PATH, DYLD_FALLBACK_LIBRARY_PATH or
    # MB_DLL_PATH).
    local plat=${1:-${PLAT:-}} exports
    if [ -n "$plat" ]; then
        exports=$(mb_python openblas --exports --plat "$plat") || return 1
    else
        exports=$(mb_python openblas --exports) || return 1
    fi
    eval "$exports"
}
