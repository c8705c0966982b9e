# numpy wheels: project hooks, sourced after the multibuild library and env_vars.sh, so any
# library function may be overridden here. The default configuration of ./wheels build;
# configs/*/ hold others (./wheels build --config scipy).
# REPO_DIR, BUILD_COMMIT and REPO_URL come from the CI files (or ./wheels build flags).

function pre_build {
    # Runs in the build environment before the wheel is built, with errexit on (any failing
    # command fails the step): fetch the verified OpenBLAS for PLAT (OPENBLAS_VERSION; ILP64
    # when NPY_USE_BLAS_ILP64 is set) and export PKG_CONFIG_PATH, OPENBLAS,
    # OPENBLAS_CONFIG_SETTINGS (meson -Dblas/-Dlapack/-Duse-ilp64, read by pip_opts) and the
    # library path the repair tool needs. See multibuild/library_builders.sh.
    build_openblas
    echo "pre_build: OpenBLAS ${OPENBLAS_VERSION:-} in $OPENBLAS ($OPENBLAS_PKG_CONFIG_NAME.pc)"
    append_bundled_licenses "${REPO_DIR:-numpy}"
}

function pip_opts {
    # The library's pip options, the generic OpenBLAS meson settings pre_build exported, and
    # numpy's own: -Dallow-noblas=false, so a build that cannot find that OpenBLAS fails
    # instead of quietly building without BLAS.
    mb_default_pip_opts
    if [ -n "${OPENBLAS_CONFIG_SETTINGS:-}" ]; then
        echo "$OPENBLAS_CONFIG_SETTINGS -Csetup-args=-Dallow-noblas=false"
    fi
}

function append_bundled_licenses {
    # A binary numpy carries the licences of what it bundles, as numpy's release builds do:
    # LICENSE.txt gains the OpenBLAS/GCC runtime text of the scipy-openblas wheel (kept in the
    # OpenBLAS cache; else numpy's tools/wheels/LICENSE_<os>.txt, numpy < 2.3) and
    # LICENSES_bundled.txt where numpy has it. Once per checkout: clean_code restores LICENSE.txt.
    mb_python deps.licenses append "$1" --name NumPy --openblas "${OPENBLAS:-}"
}

function run_tests {
    # Runs from an empty directory, with the repaired wheel installed in a fresh environment
    # (TEST_DEPENDS from env_vars.sh). numpy's own suite first, then what a release needs on
    # top: the OpenBLAS it loads (version and integer width) and the bundled licence text.
    python -c 'import numpy; numpy.show_config()'
    python -c 'import numpy, sys; print(numpy.__version__); sys.exit(not numpy.test(label="'"${NPY_TEST_LABEL:-fast}"'"))'
    python "$MB_ROOT/tools/openblas_support.py" --check_version "$OPENBLAS_VERSION"
    python "$MB_ROOT/tools/check_license.py" numpy --bundles OpenBLAS
}
