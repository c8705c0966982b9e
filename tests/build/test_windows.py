"""Windows jobs from Linux: interpreter lookup (AppVeyor, Azure tool cache, py launcher), the
delvewheel command line (Python and the sourced windows_utils.sh), the repair tool chosen by
tag, and delvewheel / repairwheel bundling a DLL into a cross-compiled (ziglang) wheel."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pefile
import pytest
from crossbuild import PY_TAG, make_wheel, wheel_member, wheel_names, windows_wheel

from multibuild import MultibuildError
from multibuild.build import windows
from multibuild.build.repair import choose_tool, repair_command, repair_wheel
from multibuild.core.platforms import CI_ENTRY_POINTS, host_os

REPO_ROOT = Path(__file__).resolve().parents[2]
TOOL_PYTHON = str(REPO_ROOT / ".venv" / "bin" / "python")


@pytest.fixture
def cross_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.getbasetemp() / "cross"


def shell(script: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    base = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp"),
            "MB_TOOL_PYTHON": TOOL_PYTHON}
    return subprocess.run(["bash", "-c", script], cwd=REPO_ROOT, env={**base, **env},
                          capture_output=True, text=True, check=False)


# -- interpreter lookup ------------------------------------------------------------------------


def test_appveyor_interpreters_by_plat() -> None:
    def exists(path: str) -> bool:
        return path in {r"C:\Python312-x64\python.exe", r"C:\Python312\python.exe"}

    assert windows.find_interpreter("3.12", "win_amd64", {}, exists, lambda _: []) == \
        r"C:\Python312-x64\python.exe"
    assert windows.find_interpreter("3.12", "win32", {}, exists, lambda _: []) == \
        r"C:\Python312\python.exe"


def test_azure_tool_cache_newest_patch_and_arch() -> None:
    env = {"AGENT_TOOLSDIRECTORY": r"C:\hostedtoolcache\windows"}

    def listdir(path: str) -> list[str]:
        assert path == r"C:\hostedtoolcache\windows\Python"
        return ["3.11.9", "3.12.1", "3.12.10", "3.12.2", "PyPy"]

    found = windows.candidates("3.12", "win_amd64", env, listdir)
    assert found[1:] == [r"C:\hostedtoolcache\windows\Python\3.12.10\x64\python.exe",
                         r"C:\hostedtoolcache\windows\Python\3.12.2\x64\python.exe",
                         r"C:\hostedtoolcache\windows\Python\3.12.1\x64\python.exe"]
    assert found[0] == r"C:\Python312-x64\python.exe"  # AppVeyor's layout comes first
    x86 = windows.candidates("3.12", "win32", env, listdir)
    assert x86[1] == r"C:\hostedtoolcache\windows\Python\3.12.10\x86\python.exe"
    chosen = windows.find_interpreter("3.12", "win32", env, lambda p: r"\x86" in p, listdir)
    assert chosen == r"C:\hostedtoolcache\windows\Python\3.12.10\x86\python.exe"
    threaded = windows.candidates("3.13t", "win_amd64", env, lambda _: ["3.13.1"])
    assert threaded[-1] == \
        r"C:\hostedtoolcache\windows\Python\3.13.1\x64-freethreaded\python3.13t.exe"


def test_explicit_interpreter_and_py_launcher_and_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    env = {"MB_PYTHON_EXE": r"D:\py\python.exe"}
    assert windows.candidates("3.11", "win_amd64", env, lambda _: [])[0] == r"D:\py\python.exe"
    assert windows.py_launcher_args("3.12", "win32") == ["py", "-3.12-32"]
    assert windows.py_launcher_args("3.13t", "win_amd64") == ["py", "-3.13t-64"]
    monkeypatch.setenv("PATH", "/nonexistent")  # no `py` launcher here
    with pytest.raises(MultibuildError, match=r"no Python 3\.12 for win_amd64 .*py -3\.12-64"):
        windows.find_interpreter("3.12", "win_amd64", {}, lambda _: False, lambda _: [])
    with pytest.raises(MultibuildError, match="unsupported Windows PLAT 'x86_64'"):
        windows.candidates("3.12", "x86_64", {})


def test_windows_utils_decisions_in_the_shell(tmp_path: Path) -> None:
    """get_windows_python and delvewheel_repair_cmd, sourced on Linux (a tool cache made of
    plain files stands in for the Azure machine's)."""
    exe = tmp_path / "cache" / "Python" / "3.12.4" / "x64" / "python.exe"
    exe.parent.mkdir(parents=True)
    exe.write_text("")
    dlls = tmp_path / "openblas" / "lib"
    script = """
set -e
source multibuild/windows_utils.sh
echo "python=$(get_windows_python "$MB_PYTHON_VERSION")"
echo "venv=$(windows_venv_python /work/venv)"
echo "cmd=$(delvewheel_repair_cmd "$1" /out)"
get_windows_python 3.12 win32 || echo "win32 status: $?"
"""
    wheel = f"pkg-1.0-{PY_TAG}-{PY_TAG}-win_amd64.whl"
    done = shell(script.replace("$1", wheel), {
        "MB_PYTHON_VERSION": "3.12", "PLAT": "win_amd64",
        "AGENT_TOOLSDIRECTORY": str(tmp_path / "cache"), "MB_DLL_PATH": str(dlls)})
    assert done.returncode == 0, done.stderr
    lines = dict(line.split("=", 1) for line in done.stdout.splitlines() if "=" in line)
    assert lines["python"] == str(exe)
    assert lines["venv"] == "/work/venv/Scripts/python.exe"
    assert lines["cmd"] == f"delvewheel repair -w /out --add-path {dlls} {wheel}"
    assert "win32 status: 1" in done.stdout
    assert "error: no Python 3.12 for win32" in done.stderr


# -- the repair tool, by tag -------------------------------------------------------------------


@pytest.mark.parametrize(("tag", "tool"), [
    ("cp312-cp312-linux_x86_64", "auditwheel"),
    ("cp312-cp312-manylinux_2_28_x86_64", "auditwheel"),
    ("cp312-cp312-macosx_11_0_arm64", "delocate"),
    ("cp312-cp312-macosx_10_13_universal2", "delocate"),
    ("cp312-cp312-win_amd64", "delvewheel"),
    ("cp312-cp312-win32", "delvewheel"),
    ("py3-none-any", None),
])
def test_repair_tool_chosen_by_platform_tag(tag: str, tool: str | None) -> None:
    wheel = Path(f"pkg-1.0-{tag}.whl")
    assert choose_tool(wheel, {}) == tool
    expected = None if tool is None else "repairwheel"
    assert choose_tool(wheel, {"MB_REPAIR_TOOL": "repairwheel"}) == expected


def test_unknown_repair_tool_is_named() -> None:
    with pytest.raises(MultibuildError, match="MB_REPAIR_TOOL='patchelf': expected one of"):
        choose_tool(Path("pkg-1.0-cp312-cp312-win_amd64.whl"), {"MB_REPAIR_TOOL": "patchelf"})


def test_delvewheel_command_line(tmp_path: Path) -> None:
    wheel = tmp_path / f"pkg-1.0-{PY_TAG}-{PY_TAG}-win32.whl"
    env = {"MB_DLL_PATH": os.pathsep.join(["/a/lib", "/b/lib"]), "MB_DELVEWHEEL_ARGS": "-v"}
    assert windows.delvewheel_command(wheel, tmp_path, env) == [
        "delvewheel", "repair", "-w", str(tmp_path), "--add-path",
        os.pathsep.join(["/a/lib", "/b/lib"]), "-v", str(wheel)]
    assert windows.delvewheel_command(wheel, tmp_path, {})[-3:] == ["-w", str(tmp_path),
                                                                    str(wheel)]
    with pytest.raises(MultibuildError, match="is not a Windows wheel"):
        windows.delvewheel_command(Path("p-1-cp312-cp312-macosx_11_0_arm64.whl"), tmp_path, {})


# -- CI entry points ---------------------------------------------------------------------------


def _functions(entry: str) -> set[str]:
    """Shell function names in an entry-point description (tool names have a dash)."""
    words = set(re.findall(r"[A-Za-z_][\w-]*", entry.split(":", 1)[1]))
    not_functions = {"universal2", "repair", "delvewheel", "docker", "mode"}
    return {w for w in words if "-" not in w} - not_functions


@pytest.mark.parametrize(("system", "os_name"), [("Darwin", "macos"),
                                                 ("MINGW64_NT-10.0-20348", "windows")])
def test_steps_of_other_oses_define_their_entry_points(
    tmp_path: Path, system: str, os_name: str
) -> None:
    """travis_steps.sh dispatches on the system name (Git bash reports MINGW64_NT-...); every
    function that `./wheels jobs` names for the OS's jobs is defined by those steps."""
    assert host_os(system) == os_name
    config = tmp_path / "config.sh"
    config.write_text("function run_tests {\n    # nothing\n    true\n}\n")
    entry = CI_ENTRY_POINTS[os_name]
    names = sorted(_functions(entry))
    script = ("source multibuild/travis_steps.sh || exit 9\n"
              + "".join(f"declare -F {n} >/dev/null || echo missing {n}\n" for n in names)
              + "declare -f mb_test_venv | head -n 5\n")
    done = shell(script, {"MB_HOST_SYSTEM": system, "CONFIG_PATH": str(config)})
    assert done.returncode == 0, done.stderr
    assert "missing" not in done.stdout
    assert {"before_install", "build_wheel", "install_run"} <= set(names)
    steps_file = entry.split(":", 1)[0]
    assert (REPO_ROOT / "multibuild" / steps_file).is_file()
    # The OS's own test environment (not the Linux one).
    marker = "get_macpython_interpreter" if os_name == "macos" else "mb_windows_venv"
    assert marker in done.stdout


def test_replay_names_the_entry_points_of_skipped_jobs() -> None:
    env = {**os.environ, "MB_BUILD_MODE": "native"}
    done = subprocess.run([str(REPO_ROOT / "wheels"), "jobs", "azure-macos-*",
                           "appveyor-windows-*"], cwd=REPO_ROOT, env=env, capture_output=True,
                          text=True, check=False)
    assert done.returncode == 0, done.stderr
    lines = [ln for ln in done.stdout.splitlines() if "skip:" in ln]
    assert lines and all("job: runs on a" in ln for ln in lines)
    mac = [ln for ln in lines if ln.startswith("azure-macos-")]
    win = [ln for ln in lines if ln.startswith("appveyor-windows-")]
    assert mac and all("travis_osx_steps.sh" in ln and "get_macpython_environment" in ln
                       and "fuse_macos_universal2" in ln for ln in mac)
    assert win and all("windows_steps.sh" in ln and "get_windows_python" in ln
                       and "delvewheel repair --add-path" in ln for ln in win)
    replay = subprocess.run([str(REPO_ROOT / "wheels"), "replay", "azure-windows-win_amd64-cp312"],
                            cwd=REPO_ROOT, env=env, capture_output=True, text=True, check=False)
    assert replay.returncode == 1
    assert "skipped: Windows job: runs on a Windows machine only; runs windows_steps.sh: " \
        "before_install=get_windows_python" in replay.stdout


# -- real artifacts ----------------------------------------------------------------------------


def _pyd_imports(data: bytes) -> list[str]:
    pe = pefile.PE(data=data)
    return sorted(entry.dll.decode() for entry in pe.DIRECTORY_ENTRY_IMPORT)


def test_delvewheel_show_finds_the_missing_dll_only_with_add_path(cross_dir: Path) -> None:
    wheel, dlls = windows_wheel(cross_dir)
    assert "helper.dll" in _pyd_imports(wheel_member(wheel, "winext/_ext.pyd"))
    show = [sys.executable, "-m", "delvewheel", "show", str(wheel)]
    missing = subprocess.run(show, capture_output=True, text=True, check=True).stdout
    assert "helper.dll (Error: Not Found)" in missing
    found = subprocess.run([*show[:-1], "--add-path", str(dlls), str(wheel)],
                           capture_output=True, text=True, check=True).stdout
    assert f"helper.dll ({dlls / 'helper.dll'})" in found


@pytest.mark.parametrize("tool", ["delvewheel", "repairwheel"])
def test_windows_wheel_needing_a_dll_is_repaired_with_it_bundled(
    cross_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tool: str
) -> None:
    """The DLL directory reaches the tool from MB_DLL_PATH (what build_openblas exports for
    the OpenBLAS DLL); the repaired wheel carries the DLL and the .pyd loads it by its new,
    mangled name."""
    wheel, dlls = windows_wheel(cross_dir)
    monkeypatch.setenv("MB_DLL_PATH", str(dlls))
    monkeypatch.setenv("MB_REPAIR_TOOL", "repairwheel" if tool == "repairwheel" else "auto")
    cmd = repair_command(wheel, tmp_path, "windows")
    assert (["--add-path", str(dlls)] if tool == "delvewheel" else ["-l", str(dlls)]) == \
        [c for c in cmd if c in ("--add-path", "-l", str(dlls))]
    repaired = repair_wheel(wheel, tmp_path / "out")
    assert repaired.name == wheel.name
    names = wheel_names(repaired)
    bundled = [n for n in names if n.startswith("winext.libs/")]
    assert len(bundled) == 1 and re.fullmatch(r"winext\.libs/helper-[0-9a-f]+\.dll", bundled[0])
    imports = _pyd_imports(wheel_member(repaired, "winext/_ext.pyd"))
    assert Path(bundled[0]).name in imports and "helper.dll" not in imports
    assert wheel_member(repaired, bundled[0])[:2] == b"MZ"


def test_an_unrelated_pure_wheel_passes_untouched(tmp_path: Path) -> None:
    wheel = make_wheel(tmp_path / "in", "purething", "1.0", "py3-none-any",
                       {"purething/__init__.py": b""})
    out = repair_wheel(wheel, tmp_path / "out")
    assert out.read_bytes() == wheel.read_bytes()
