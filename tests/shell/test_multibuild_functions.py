"""Every function multibuild defines exists here, after sourcing the library the way multibuild's
users do. The names are data, one list per multibuild file, written from reading multibuild's
sources (its current files, plus the older names wheel repositories still call)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from conftest import REPO_ROOT, tool_env

LIB = REPO_ROOT / "multibuild"

MULTIBUILD_FUNCTIONS: dict[str, tuple[str, ...]] = {
    "common_utils.sh": (
        "shell_session_update", "start_spinner", "stop_spinner", "any_python", "abspath",
        "relpath", "realpath", "lex_ver", "unlex_ver", "strip_ver_suffix", "is_function",
        "gh_clone", "gh-clone", "set_opts", "suppress", "expect_return", "cmd_notexit",
        "rm_mkdir", "untar", "install_rsync", "fetch_unpack", "clean_code", "build_wheel_cmd",
        "pip_wheel_cmd", "bdist_wheel_cmd", "wrap_wheel_builder", "build_pip_wheel",
        "build_bdist_wheel", "build_wheel", "build_index_wheel_cmd", "build_index_wheel",
        "pip_opts", "get_os", "get_platform", "get_distutils_platform", "install_wheel",
        "install_run", "fill_submodule", "unroll_version", "install_pypy", "fill_pypy_ver",
        "get_pypy_build_prefix", "retry", "install_pip", "check_python", "check_pip",
        "get_py_mm", "cpython_path",
    ),
    "osx_utils.sh": (
        "check_python", "check_pip", "check_var", "get_py_digit", "get_py_mm",
        "get_py_mm_nodot", "get_py_prefix", "fill_pyver", "macpython_sdk_list_for_version",
        "macpython_sdk_for_version", "pyinst_ext_for_version", "pyinst_fname_for_version",
        "get_macpython_arch", "get_macpython_osx_ver", "macpython_arch_for_version",
        "macpython_impl_for_version", "strip_macpython_ver_prefix", "install_macpython",
        "install_mac_cpython", "install_virtualenv", "make_workon_venv", "remove_travis_ve_pip",
        "set_py_vars", "get_macpython_environment", "install_delocate", "repair_wheelhouse",
        "install_pkg_config", "activate_ccache", "macos_intel_native_build_setup",
        "macos_intel_cross_build_setup", "macos_arm64_cross_build_setup",
        "macos_arm64_native_build_setup", "fuse_macos_intel_arm64", "wrap_wheel_builder",
        # older multibuild
        "mac_arch_for_pyosx_version", "install_mac_pypy", "install_pip",
        "get_python_environment",
    ),
    "manylinux_utils.sh": (
        "get_platform", "repair_wheelhouse", "activate_ccache", "yum_install", "cpython_path",
    ),
    "configure_build.sh": ("update_env_for_build_prefix",),
    "travis_linux_steps.sh": (
        "before_install", "build_wheel", "build_index_wheel", "build_multilinux", "install_run",
    ),
    "travis_osx_steps.sh": ("before_install",),
    # Multibuild keeps these in _gfortran_utils.sh; here they are in common_utils.sh.
    "gfortran names in common_utils.sh": ("get_distutils_platform",
                                          "get_distutils_platform_ex"),
}
# Files other parts of this library provide (issue 13: library builders, gfortran): checked
# too, as expected failures until those land.
OTHER_FILES: dict[str, tuple[str, ...]] = {
    "library_builders.sh": (
        "build_simple", "build_github", "openblas_get", "build_openblas", "build_zlib",
        "build_new_zlib", "build_jpeg", "build_libjpeg_turbo", "build_libpng", "build_bzip2",
        "build_tiff", "get_modern_cmake", "get_cmake", "build_openjpeg", "build_lcms2",
        "build_giflib", "build_xz", "ensure_xz", "build_libwebp", "build_freetype",
        "build_libyaml", "build_szip", "build_hdf5", "build_libaec", "build_blosc",
        "build_snappy", "build_lzo", "build_lzf", "build_curl", "check_sha256sum",
        "build_openssl", "build_netcdf", "build_pcre", "build_swig", "build_suitesparse",
        "build_libtool", "build_ragel", "build_bison", "build_flex", "build_fftw_case",
        "build_fftw", "build_cfitsio",
    ),
    "_gfortran_utils.sh": (
        "get_distutils_platform", "get_distutils_platform_ex", "get_macosx_target",
        "check_gfortran", "get_gf_lib_for_suf", "install_gfortran", "get_gf_lib",
    ),
}

# The ways multibuild's users source the library (docs/drop-in.md; docker_build_wrap.sh;
# config.sh).
LINUX_STEPS = 'source multibuild/common_utils.sh; source multibuild/travis_steps.sh'
SOURCINGS: dict[str, tuple[str, dict[str, str]]] = {
    "linux-ci-steps": (LINUX_STEPS, {}),
    "macos-ci-steps": (LINUX_STEPS, {"MB_HOST_SYSTEM": "Darwin", "PLAT": "x86_64"}),
    "manylinux-container": ("source multibuild/manylinux_utils.sh", {}),
    "osx_utils": ("source multibuild/osx_utils.sh", {}),
    "configure_build": ("source multibuild/configure_build.sh", {}),
}
EXPECTED: dict[str, tuple[str, ...]] = {
    "linux-ci-steps": ("common_utils.sh", "configure_build.sh", "travis_linux_steps.sh",
                       "manylinux_utils.sh", "gfortran names in common_utils.sh"),
    "macos-ci-steps": ("common_utils.sh", "osx_utils.sh", "configure_build.sh",
                       "travis_osx_steps.sh"),
    "manylinux-container": ("common_utils.sh", "manylinux_utils.sh"),
    "osx_utils": ("common_utils.sh", "osx_utils.sh"),
    "configure_build": ("common_utils.sh", "configure_build.sh"),
}


def _project(root: Path) -> Path:
    """A wheels repository using our library as its multibuild submodule."""
    (root / "multibuild").symlink_to(LIB)
    (root / "config.sh").write_text("function run_tests { :; }\n")
    (root / "env_vars.sh").write_text("")
    return root


def defined_functions(script: str, env: dict[str, str], cwd: Path) -> set[str]:
    full = tool_env({"MB_BUILD_MODE": "native", "PLAT": "x86_64", **env})
    done = subprocess.run(["bash", "-c", f"{script}\ndeclare -F"], cwd=cwd, env=full,
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    return {line.split()[-1] for line in done.stdout.splitlines()}


@pytest.mark.parametrize("way", SOURCINGS)
def test_every_multibuild_function_is_defined(way: str, tmp_path: Path) -> None:
    script, env = SOURCINGS[way]
    found = defined_functions(script, env, _project(tmp_path))
    missing = {f"{source}: {name}" for source in EXPECTED[way]
               for name in MULTIBUILD_FUNCTIONS[source] if name not in found}
    assert not missing, f"not defined after `{script}`: {sorted(missing)}"


@pytest.mark.parametrize("source", OTHER_FILES)
def test_library_builder_and_gfortran_names(source: str, tmp_path: Path) -> None:
    found = defined_functions(LINUX_STEPS, {}, _project(tmp_path))
    missing = [name for name in OTHER_FILES[source] if name not in found]
    assert not missing, f"{source}: not defined after `{LINUX_STEPS}`: {missing}"
