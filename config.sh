# numpy wheels: project hooks, sourced after the multibuild library and env_vars.sh, so any
# library function may be overridden here.
# REPO_DIR, BUILD_COMMIT and REPO_URL come from the CI files (or ./wheels build flags).

function pre_build {
    # Runs in the build environment before the wheel is built.
    :
}

function run_tests {
    # Runs from an empty directory, with the repaired wheel installed in a fresh environment.
    python -c 'import numpy, sys; print(numpy.__version__); sys.exit(not numpy.test(label="'"${NPY_TEST_LABEL:-fast}"'"))'
}
