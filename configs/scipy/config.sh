# scipy wheels: project hooks (./wheels build --config scipy), sourced after the multibuild
# library and configs/scipy/env_vars.sh, so any library function may be overridden here.

function pre_build {
    # Runs in the build environment before the wheel is built, with errexit on: a Fortran
    # compiler (found, installed with the OS package manager, or a one-line error), the
    # verified LP64 OpenBLAS (PKG_CONFIG_PATH, OPENBLAS, OPENBLAS_CONFIG_SETTINGS) and the
    # licences of what the wheel bundles.
    install_gfortran
    build_openblas
    echo "pre_build: OpenBLAS ${OPENBLAS_VERSION:-} in $OPENBLAS ($OPENBLAS_PKG_CONFIG_NAME.pc)"
    append_bundled_licenses "${REPO_DIR:-scipy}"
}

function pip_opts {
    # The library's pip options and scipy's meson settings. Not OPENBLAS_CONFIG_SETTINGS:
    # scipy's meson (1.17) looks for the scipy-openblas pkg-config file itself under
    # -Dblas=openblas (its default) and fails on -Dblas=scipy-openblas ("Unknown variable name
    # blas"); pre_build put that .pc first on PKG_CONFIG_PATH. scipy is LP64 only, and rejects
    # options it does not know (numpy's -Dallow-noblas).
    mb_default_pip_opts
    echo "-Csetup-args=-Dblas=openblas -Csetup-args=-Dlapack=openblas"
}

function append_bundled_licenses {
    # LICENSE.txt gains the OpenBLAS/GCC runtime licences (from the scipy-openblas wheel, kept
    # in the OpenBLAS cache; else scipy's tools/wheels/LICENSE_<os>.txt) and
    # LICENSES_bundled.txt. Once per checkout: clean_code restores LICENSE.txt.
    mb_python deps.licenses append "$1" --name SciPy --openblas "${OPENBLAS:-}"
}

function run_tests {
    # Runs from an empty directory, with the repaired wheel installed in a fresh environment
    # (TEST_DEPENDS). scipy's suite, then the OpenBLAS scipy loads (version, LP64) and the
    # bundled licence text. Left out, each for a reason:
    # - scipy.datasets' tests: they download data sets (pooch, network), which the build
    #   machines cannot reach;
    # - optimize's TestDifferentialEvolutionSolver::test_L4: its optimum depends on the
    #   OpenBLAS build (scipy gh-11693, gh-21475); it misses by 15% with OPENBLAS_VERSION
    #   0.3.34.481.3 (scipy 1.17 pins 0.3.30.0.8), with numpy 2.4.6 and 2.5.5 alike.
    python -c 'import scipy; scipy.show_config()'
    python -c 'import os, scipy, sys
print(scipy.__version__)
jobs = int(sys.argv[2])
datasets = os.path.join(os.path.dirname(scipy.__file__), "datasets", "tests")
sys.exit(not scipy.test(label=sys.argv[1], parallel=jobs if jobs > 1 else None,
                        extra_argv=["--ignore=" + datasets,
                                    "-k", "not (TestDifferentialEvolutionSolver and test_L4)"]))' \
        "${SCIPY_TEST_LABEL:-fast}" "${SCIPY_TEST_JOBS:-1}"
    python "$MB_ROOT/tools/openblas_support.py" --check_version "$OPENBLAS_VERSION" --package scipy
    python "$MB_ROOT/tools/check_license.py" scipy --bundles OpenBLAS
}
