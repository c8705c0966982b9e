# numpy wheels: project hooks, sourced after the multibuild library and env_vars.sh, so any
# library function may be overridden here.
# REPO_DIR, BUILD_COMMIT and REPO_URL come from the CI files (or ./wheels build flags).

function pre_build {
    # Runs in the build environment before the wheel is built: fetch the verified OpenBLAS
    # for PLAT (OPENBLAS_VERSION; ILP64 when NPY_USE_BLAS_ILP64 is set) and export PKG_CONFIG_PATH,
    # OPENBLAS, OPENBLAS_CONFIG_SETTINGS (meson -Dblas/-Dlapack/-Duse-ilp64, read by pip_opts)
    # and the library path the repair tool needs. See multibuild/library_builders.sh.
    build_openblas || return 1
    echo "pre_build: OpenBLAS ${OPENBLAS_VERSION:-} in $OPENBLAS ($OPENBLAS_PKG_CONFIG_NAME.pc)"
    append_bundled_licenses "${REPO_DIR:-numpy}"
}

function pip_opts {
    # The library's pip options, plus meson settings that make numpy's build use exactly the
    # OpenBLAS pre_build fetched (-Dallow-noblas=false: no silent fallback to no BLAS).
    mb_default_pip_opts
    echo "${OPENBLAS_CONFIG_SETTINGS:-}"
}

function append_bundled_licenses {
    # A binary numpy carries the licences of what it bundles, as numpy's own release builds do:
    # LICENSE.txt gains LICENSES_bundled.txt and tools/wheels/LICENSE_<os>.txt (OpenBLAS,
    # gfortran runtime). Once per checkout: clean_code restores LICENSE.txt.
    local repo_dir=$1 os_file
    case "$(uname -s)" in
        Darwin) os_file=LICENSE_osx.txt ;;
        MINGW*|MSYS*|CYGWIN*) os_file=LICENSE_win32.txt ;;
        *) os_file=LICENSE_linux.txt ;;
    esac
    if grep -q "This binary distribution of NumPy also bundles" "$repo_dir/LICENSE.txt"; then
        return 0
    fi
    {
        printf '\n----\n\n'
        cat "$repo_dir/LICENSES_bundled.txt"
        if [ -r "$repo_dir/tools/wheels/$os_file" ]; then cat "$repo_dir/tools/wheels/$os_file"; fi
    } >> "$repo_dir/LICENSE.txt"
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
