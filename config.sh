# numpy wheels: project hooks, sourced after the multibuild library and env_vars.sh, so any
# library function may be overridden here.
# REPO_DIR, BUILD_COMMIT and REPO_URL come from the CI files (or ./wheels build flags).

function pre_build {
    # Runs in the build environment before the wheel is built: fetch the verified OpenBLAS
    # for PLAT (OPENBLAS_VERSION; ILP64 when NPY_USE_BLAS_ILP64 is set) and export PKG_CONFIG_PATH,
    # OPENBLAS, OPENBLAS_CONFIG_SETTINGS (meson -Dblas/-Dlapack/-Duse-ilp64 for pip) and the
    # library path the repair tool needs. See multibuild/library_builders.sh.
    build_openblas || return 1
    echo "pre_build: OpenBLAS ${OPENBLAS_VERSION:-} in $OPENBLAS ($OPENBLAS_PKG_CONFIG_NAME.pc)"
}

function run_tests {
    # Runs from an empty directory, with the repaired wheel installed in a fresh environment.
    python -c 'import numpy, sys; print(numpy.__version__); sys.exit(not numpy.test(label="'"${NPY_TEST_LABEL:-fast}"'"))'
}
