"""Portable Linux wheels without docker: native builds compile with zig for the glibc of the
manylinux policy asked for (MB_ML_VER), repair to exactly that policy, and prove it from the
wheel's own ELF files (objdump -T and multibuild.build.glibc agree); MB_NATIVE_TOOLCHAIN=host keeps
the host's compilers; bad input is refused before anything is built."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import jsonschema
import pytest
from conftest import (
    FIXTURES,
    REPO_ROOT,
    FixtureRepo,
    make_fixture_repo,
    objdump_glibc,
    run_shell,
    run_wheels,
)

from multibuild.build.glibc import analyse, elf_references, highest, policy_glibc, version_text
from multibuild.run.report import SCHEMA

# MB_ML_VER -> (the platform tags of the repaired wheel, the policy's glibc)
POLICIES = {
    "2014": ({"manylinux2014_x86_64", "manylinux_2_17_x86_64"}, (2, 17)),
    "_2_28": ({"manylinux_2_28_x86_64"}, (2, 28)),
}
pytestmark = pytest.mark.skipif(
    __import__("platform").machine() != "x86_64", reason="the zig toolchain tests build x86_64")


@dataclass
class Build:
    proc: subprocess.CompletedProcess[str]
    output: Path
    work: Path

    @property
    def log(self) -> str:
        return self.proc.stdout + self.proc.stderr

    @property
    def wheel(self) -> Path:
        (wheel,) = self.output.glob("*.whl")
        return wheel

    @property
    def report(self) -> dict:  # type: ignore[type-arg]
        return json.loads((self.output / "report.json").read_text())


def build(tmp: Path, repo: FixtureRepo, python: str, env: dict[str, str],
          work: Path | None = None, plat: str | None = None) -> Build:
    output, work = tmp / "out", work or tmp / "work"
    shutil.rmtree(output, ignore_errors=True)
    proc = run_wheels(
        ["build", "--python", python, "--commit", "main", "--repo-url", str(repo.path),
         "--repo-dir", str(tmp / "checkout"), "--output", str(output), "--work-dir", str(work),
         *(["--plat", plat] if plat else [])],
        {"CONFIG_PATH": str(repo.path / "config.sh"),
         "ENV_VARS_PATH": str(repo.path / "env_vars.sh"), **env},
        timeout=1800,
    )
    return Build(proc, output, work)


@pytest.fixture(scope="module")
def zigext_repo(tmp_path_factory: pytest.TempPathFactory) -> FixtureRepo:
    return make_fixture_repo("zigext", tmp_path_factory.mktemp("src") / "zigext")


@pytest.fixture(scope="module")
def newest_python(pythons: dict[str, Path]) -> str:
    return max(pythons, key=lambda v: tuple(map(int, v.split("."))))


@pytest.fixture(scope="module", params=sorted(POLICIES))
def zig_build(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
              zigext_repo: FixtureRepo, newest_python: str) -> tuple[str, Build]:
    ml_ver: str = request.param
    tmp = tmp_path_factory.mktemp(f"zig{ml_ver}")
    return ml_ver, build(tmp, zigext_repo, newest_python, {"MB_ML_VER": ml_ver})


def compilers_of(data: bytes, tmp: Path) -> str:
    """The .comment section of an ELF file: which compilers made its objects."""
    path = tmp / "elf"
    path.write_bytes(data)
    return subprocess.run(["readelf", "-p", ".comment", str(path)], capture_output=True,
                          text=True, check=True).stdout


def elf_members(wheel: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(wheel) as archive:
        return {n: archive.read(n) for n in archive.namelist()
                if archive.read(n)[:4] == b"\x7fELF"}


def test_the_wheel_carries_exactly_the_policy_asked_for(zig_build: tuple[str, Build]) -> None:
    ml_ver, result = zig_build
    tags, glibc = POLICIES[ml_ver]
    assert result.proc.returncode == 0, result.log[-6000:]
    platform_tags = set(result.wheel.name[:-len(".whl")].split("-")[-1].split("."))
    assert platform_tags == tags, result.wheel.name
    # The tests ran on the installed wheel, built against that glibc's headers: getrandom()
    # (glibc 2.25) only for manylinux_2_28.
    used = "used" if glibc >= (2, 25) else "not used"
    assert f"zigext: ok, built for glibc {glibc[0]}.{glibc[1]}, getrandom {used}" in result.log
    assert f"toolchain: zig 0.17.0 x86_64-linux-gnu.{glibc[0]}.{glibc[1]}" in result.log
    assert "--only-plat" in result.log


def test_auditwheel_show_agrees(zig_build: tuple[str, Build]) -> None:
    ml_ver, result = zig_build
    _tags, glibc = POLICIES[ml_ver]
    shown = subprocess.run([sys.executable, "-m", "auditwheel", "show", str(result.wheel)],
                           capture_output=True, text=True, check=True).stdout
    found = re.search(r'consistent\s+with\s+the\s+following\s+platform\s+tag:\s*"([^"]+)"', shown)
    assert found, shown
    assert policy_glibc(found.group(1)) <= glibc, shown  # the policy asked for, or older
    assert "libstdc++" not in shown and "GLIBCXX" not in shown, shown


def test_no_elf_file_needs_a_glibc_above_the_policy(zig_build: tuple[str, Build],
                                                    tmp_path: Path) -> None:
    """The proof that the policy is real, not only a tag: every ELF file of the wheel, read by
    binutils' objdump -T and by multibuild.build.glibc (the report's reader), needs no GLIBC_
    version above the policy; the C++ extension has no libstdc++ (zig's libc++ is linked in)."""
    ml_ver, result = zig_build
    _tags, glibc = POLICIES[ml_ver]
    members = elf_members(result.wheel)
    assert len(members) == 2, sorted(members)
    for name, data in members.items():
        by_objdump = objdump_glibc(data, tmp_path)
        references = elf_references(data, name)
        assert by_objdump is not None and by_objdump <= glibc, (name, by_objdump)
        assert highest(references) == by_objdump, name
        assert not any(r.library.startswith("libstdc++") for r in references), name
        assert not any(r.namespace in ("GLIBCXX", "CXXABI") for r in references), name
        made_by = compilers_of(data, tmp_path)
        assert "clang version" in made_by and "GCC:" not in made_by, (name, made_by)
    # The 2.28 build uses getrandom@GLIBC_2.25; the manylinux2014 one nothing above 2.17.
    needed = analyse(result.wheel, f"manylinux_{glibc[0]}_{glibc[1]}_x86_64")
    assert needed["policy_met"] is True and needed["above_policy"] == []
    assert needed["highest_glibc"] == ("2.25" if glibc >= (2, 25) else "2.17")


def test_report_and_summary_name_the_toolchain_and_where_the_wheel_installs(
        zig_build: tuple[str, Build]) -> None:
    ml_ver, result = zig_build
    _tags, glibc = POLICIES[ml_ver]
    report = result.report
    jsonschema.validate(report, json.loads(SCHEMA.read_text()))
    (target,) = report["targets"]
    toolchain = target["toolchain"]
    assert toolchain["name"] == "zig" and toolchain["version"] == "0.17.0"
    assert toolchain["compiler"].startswith("zig 0.17.0 (clang ")
    assert toolchain["target"] == f"x86_64-linux-gnu.{glibc[0]}.{glibc[1]}"
    assert toolchain["policy"] == f"manylinux_{glibc[0]}_{glibc[1]}_x86_64"
    assert toolchain["cxx_runtime"].startswith("libc++")
    (wheel,) = target["wheels"]
    assert wheel["glibc"]["policy_met"] is True
    assert wheel["glibc"]["highest_glibc"] == ("2.25" if glibc >= (2, 25) else "2.17")
    assert wheel["tag_glibc"] == f"{glibc[0]}.{glibc[1]}"
    oldest = "CentOS/RHEL 7+" if glibc == (2, 17) else "RHEL 8 (Alma, Rocky)+"
    assert oldest in wheel["installs_on"]
    summary = [ln for ln in result.proc.stdout.splitlines() if "installs on" in ln]
    assert summary and oldest in summary[0] and "built with zig 0.17.0" in summary[0], summary
    page = (result.output / "report.html").read_text()
    assert "toolchain: zig 0.17.0 (clang " in page and f"installs on {oldest}" in page


def test_host_toolchain_keeps_the_host_glibc_and_never_reuses_zig_builds(
        zig_build: tuple[str, Build], zigext_repo: FixtureRepo, newest_python: str) -> None:
    """MB_NATIVE_TOOLCHAIN=host: today's behaviour (gcc, the host's glibc tag). Switching the
    toolchain in the same work dir starts the build directory afresh."""
    ml_ver, zig = zig_build
    if ml_ver != "2014":
        pytest.skip("once is enough")
    result = build(zig.output.parent, zigext_repo, newest_python,
                   {"MB_ML_VER": ml_ver, "MB_NATIVE_TOOLCHAIN": "host"}, work=zig.work)
    assert result.proc.returncode == 0, result.log[-6000:]
    assert "afresh: changed:" in result.log and "MB_TOOLCHAIN_ID" in result.log
    (target,) = result.report["targets"]
    assert target["toolchain"]["name"] == "host"
    assert target["toolchain"]["policy"] is None
    assert "built for glibc 2.36" in result.log or "built for glibc 2." in result.log
    # gcc on this host binds pthread_create@GLIBC_2.34: the host's glibc decides the tag.
    tag_glibc = policy_glibc(result.wheel.name[:-4].split("-")[-1].split(".")[0])
    assert tag_glibc >= (2, 34), result.wheel.name
    assert target["wheels"][0]["glibc"]["policy"] is None


def test_cmake_and_scikit_build_core_build_with_the_toolchain(
        tmp_path: Path, newest_python: str) -> None:
    """scikit-build-core runs CMake, which takes the toolchain's CMAKE_TOOLCHAIN_FILE: zig's
    compilers (clang, the wrappers) and ar for a static library, so the C++ extension is
    manylinux2014 with libc++ inside, like the meson and setuptools builds."""
    repo = make_fixture_repo("cmakeext", tmp_path / "cmakeext")
    result = build(tmp_path, repo, newest_python, {"MB_ML_VER": "2014"})
    assert result.proc.returncode == 0, result.log[-6000:]
    assert set(result.wheel.name[:-4].split("-")[-1].split(".")) == POLICIES["2014"][0]
    assert "cmakeext: ok, C Clang, C++ Clang" in result.log
    with zipfile.ZipFile(result.wheel) as archive:
        used = archive.read("cmakeext/compilers.txt").decode().splitlines()
    assert "/toolchains/zig-" in used[2] and used[2].endswith("/bin/ar"), used
    (name, data), = elf_members(result.wheel).items()
    assert (objdump_glibc(data, tmp_path) or (0,)) <= (2, 17), name
    assert not any(r.library.startswith("libstdc++") for r in elf_references(data, name))
    # scikit-build-core strips on install (.comment too): CMake's record above names clang.
    assert "GCC:" not in compilers_of(data, tmp_path)


def test_the_cmake_toolchain_file_names_the_wrappers_and_a_cross_target(
        tmp_path: Path) -> None:
    from multibuild.build.toolchain import choose, cmake_toolchain_file

    native = cmake_toolchain_file(choose({"MB_ML_VER": "2014"}, "x86_64"), tmp_path)
    assert 'set(CMAKE_C_COMPILER "cc")' in native and 'set(CMAKE_CXX_COMPILER "c++")' in native
    assert f'set(CMAKE_AR "{tmp_path}/ar" CACHE FILEPATH' in native
    assert "CMAKE_SYSTEM_NAME" not in native
    cross = cmake_toolchain_file(choose({}, "aarch64", machine="x86_64"), tmp_path)
    assert "set(CMAKE_SYSTEM_NAME Linux)\nset(CMAKE_SYSTEM_PROCESSOR aarch64)" in cross


# --------------------------------------------------------------------------- bad input

BAD = [
    ({"MB_ML_VER": "2015"}, [],
     "error: MB_ML_VER='2015': not a manylinux policy (1, 2010, 2014, or _2_NN such as _2_28)"),
    ({"MB_ML_VER": "2010"}, [],
     "error: MB_ML_VER=2010: manylinux2010 (glibc 2.12) is older than glibc 2.17, the oldest "
     "this library builds against with zig; use MB_ML_VER=2014 or newer, or docker mode with a "
     "manylinux2010 image"),
    ({"MB_ML_VER": "_2_30"}, [], "error: MB_ML_VER=_2_30: auditwheel knows no policy "
     "manylinux_2_30_x86_64 (known: manylinux_2_5_x86_64, "),
    ({"MB_NATIVE_TOOLCHAIN": "gcc"}, [], "error: MB_NATIVE_TOOLCHAIN='gcc': expected zig or host"),
    ({"MB_ML_LIBC": "musllinux", "MB_ML_VER": "_1_2"}, [],
     "error: MB_ML_LIBC=musllinux: zig builds manylinux (glibc) wheels only here"),
    ({"MB_ML_VER": "2014"}, ["--plat", "ppc64le"],
     "error: MB_ML_VER=2014: manylinux2014 (glibc 2.17) is older than glibc 2.19, zig's oldest "
     "for ppc64le; use MB_ML_VER=_2_28 or newer"),
    ({}, ["--plat", "s390x"], "error: --plat s390x: zig cross builds from this x86_64 machine "
     "are for aarch64 only (use docker mode on s390x hardware)"),
    ({"MB_NATIVE_TOOLCHAIN": "host"}, ["--plat", "aarch64"],
     "error: --plat aarch64: MB_NATIVE_TOOLCHAIN=host cannot build for aarch64 on this x86_64 "
     "machine"),
]


@pytest.mark.parametrize("env,args,message", BAD, ids=[m.split(":")[1] for *_, m in BAD])
def test_bad_toolchain_input_is_one_line_before_anything_is_built(
        env: dict[str, str], args: list[str], message: str, tmp_path: Path,
        zigext_repo: FixtureRepo, newest_python: str) -> None:
    proc = run_wheels(
        ["build", "--python", newest_python, "--commit", "main", "--repo-url",
         str(zigext_repo.path), "--repo-dir", str(tmp_path / "checkout"), "--output",
         str(tmp_path / "out"), "--work-dir", str(tmp_path / "work"), *args],
        {"CONFIG_PATH": str(zigext_repo.path / "config.sh"),
         "ENV_VARS_PATH": str(zigext_repo.path / "env_vars.sh"), **env})
    assert proc.returncode == 2, proc.stdout + proc.stderr
    (line,) = (proc.stdout + proc.stderr).strip().splitlines()
    assert line.startswith(message), line
    assert not (tmp_path / "checkout").exists() and not (tmp_path / "work").exists()


def test_an_env_vars_policy_is_checked_before_anything_is_built(
        tmp_path: Path, zigext_repo: FixtureRepo, newest_python: str) -> None:
    env_vars = tmp_path / "env_vars.sh"
    env_vars.write_text("MB_ML_VER=2011\n")  # multibuild's env_vars.sh style: not exported
    proc = run_wheels(
        ["build", "--python", newest_python, "--commit", "main", "--repo-url",
         str(zigext_repo.path), "--repo-dir", str(tmp_path / "checkout"), "--output",
         str(tmp_path / "out"), "--work-dir", str(tmp_path / "work")],
        {"CONFIG_PATH": str(zigext_repo.path / "config.sh"), "ENV_VARS_PATH": str(env_vars)})
    assert proc.returncode == 2
    assert (proc.stdout + proc.stderr).strip() == (
        "error: MB_ML_VER='2011': not a manylinux policy (1, 2010, 2014, or _2_NN such as _2_28)")


def test_a_ci_step_with_a_plat_zig_cannot_build_fails_before_building(tmp_path: Path) -> None:
    """A CI step calling build_wheel itself (no ./wheels) meets the same check."""
    done = run_shell(f"cd {tmp_path}\nmkdir proj\nexport PLAT=armv7l\n"
                     "build_wheel_cmd true proj || echo status=$?")
    assert "status=2" in done.stdout, done.stdout + done.stderr
    assert done.stderr.strip().splitlines()[-1] == (
        "error: PLAT=armv7l: no zig target for it (zig builds x86_64, i686, aarch64, ppc64le, "
        "s390x); use docker mode or MB_NATIVE_TOOLCHAIN=host")
    assert not list(tmp_path.rglob("*.whl"))


# --------------------------------------------------------------------------- the wrappers


@pytest.fixture(scope="module")
def wrappers(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from multibuild.build.toolchain import choose, install

    cache = tmp_path_factory.mktemp("cache")
    return install(choose({"MB_ML_VER": "2014"}, "x86_64"), cache).bin


def test_wrappers_take_what_build_systems_pass(wrappers: Path, tmp_path: Path) -> None:
    """Flags zig refuses or that make no sense here are rewritten, probes answer, stdin and
    response files work: what autotools, meson, numpy and setuptools pass."""
    source = tmp_path / "t.c"
    source.write_text("#include <string.h>\n#include <math.h>\n"
                      "double f(const char *s, double x) { return strlen(s) + exp(x); }\n")
    cc = str(wrappers / "cc")

    def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run([cc, *args], cwd=tmp_path, input=stdin, capture_output=True,
                              text=True, check=False)

    linked = run("-shared", "-fPIC", "t.c", "-o", "t.so", "-Wl,-strip-all",
                 "-Wl,-O1,-Bsymbolic-functions,--exclude-libs,ALL,-z,relro,-h,libt.so",
                 "-march=x86-64-v2", "-mtune=generic", "-Wp,-D_FORTIFY_SOURCE=2", "-O2",
                 "-flto=auto", "-ffat-lto-objects", "-static-libgcc", "--target=aarch64-linux")
    assert linked.returncode == 0, linked.stderr
    assert objdump_glibc((tmp_path / "t.so").read_bytes(), tmp_path) <= (2, 17)
    dynamic = subprocess.run(["readelf", "-d", "-S", str(tmp_path / "t.so")],
                             capture_output=True, text=True, check=True).stdout
    assert "Library soname: [libt.so]" in dynamic and ".symtab" not in dynamic  # stripped
    (tmp_path / "link.rsp").write_text("-shared -fPIC 't.c' -o t2.so -Wl,-strip-all\n")
    assert run("@link.rsp").returncode == 0
    for probe in (["--version"], ["-dumpversion"], ["-dumpmachine"], ["-v"],
                  ["-print-search-dirs"]):
        answer = run(*probe)
        assert answer.returncode == 0, (probe, answer.stderr)
    defines = run("-E", "-dM", "-", stdin="")
    assert defines.returncode == 0 and "#define __GLIBC_MINOR__ 17" in defines.stdout
    preprocessed = run("-E", "-", stdin="#include <zlib.h>\nZLIB_VERSION\n")
    assert preprocessed.returncode == 0, preprocessed.stderr  # the system's headers, after zig's
    compile_only = run("-c", "t.c", "-o", "t.o", "-Wl,-strip-all", "-O2")
    assert compile_only.returncode == 0 and "unused" not in compile_only.stderr
    cxx = subprocess.run([str(wrappers / "c++"), "-E", "-x", "c++", "-"], input="", text=True,
                         capture_output=True, check=False)
    assert cxx.returncode == 0, cxx.stderr


def test_library_path_and_system_libraries_are_searched_when_linking(
        wrappers: Path, tmp_path: Path) -> None:
    (tmp_path / "lib").mkdir()
    (tmp_path / "a.c").write_text("int a(void) { return 1; }\n")
    cc = str(wrappers / "cc")
    subprocess.run([cc, "-shared", "-fPIC", "a.c", "-o", "lib/liba.so"], cwd=tmp_path,
                   check=True)
    (tmp_path / "b.c").write_text("#include <zlib.h>\nint a(void);\n"
                                  "const char *b(void) { return a() ? zlibVersion() : 0; }\n")
    done = subprocess.run([cc, "-shared", "-fPIC", "-O2", "b.c", "-o", "b.so", "-la", "-lz"],
                          cwd=tmp_path, capture_output=True, text=True, check=False,
                          env={"PATH": "/usr/bin:/bin", "LIBRARY_PATH": str(tmp_path / "lib")})
    assert done.returncode == 0, done.stderr
    needed = subprocess.run(["readelf", "-d", str(tmp_path / "b.so")], capture_output=True,
                            text=True, check=True).stdout
    assert "[liba.so]" in needed and "[libz.so.1]" in needed


def test_debug_information_only_when_asked_and_none_from_zigs_runtimes(
        wrappers: Path, tmp_path: Path) -> None:
    """As gcc: no -g, no debug information. zig cc emits it by default, and the libc++ and
    libunwind it links statically carry it always, naming zig's installation and the
    directory of the build that first needed them: a C++ link without -g drops it (its
    symbol table stays); with -g the project's and the runtimes' debug information stays."""
    (tmp_path / "x.cpp").write_text(
        '#include <stdexcept>\n#include <string>\nextern "C" int f(int n) { try { if (n) '
        'throw std::runtime_error("x"); } catch (std::exception &e) { return '
        'std::string(e.what()).size(); } return 0; }\n')
    (tmp_path / "t.c").write_text("int g(int x) { return x + 1; }\n")

    def sections(*args: str, tool: str = "c++") -> str:
        subprocess.run([str(wrappers / tool), "-shared", "-fPIC", "-O2", *args, "-o", "out.so"],
                       cwd=tmp_path, check=True)
        return subprocess.run(["readelf", "-S", str(tmp_path / "out.so")], capture_output=True,
                              text=True, check=True).stdout

    for args, tool in ((["x.cpp"], "c++"), (["t.c"], "cc")):
        plain = sections(*args, tool=tool)
        assert ".debug_info" not in plain and ".symtab" in plain, (tool, plain)
        assert b"ziglang" not in (tmp_path / "out.so").read_bytes()
    assert ".debug_info" in sections("-g", "x.cpp")
    # Compiled with -g, linked with it: the project's debug information is the project's.
    subprocess.run([str(wrappers / "c++"), "-c", "-fPIC", "-g", "x.cpp", "-o", "x.o"],
                   cwd=tmp_path, check=True)
    assert ".debug_info" in sections("-g", "x.o")
    # An executable stays executable (meson runs its sanity check).
    subprocess.run([str(wrappers / "c++"), "-x", "c++", "-", "-o", "main"], cwd=tmp_path,
                   input="int main() { return 0; }\n", text=True, check=True)
    assert subprocess.run([str(tmp_path / "main")], check=False).returncode == 0


def test_zig_oldest_glibc_table_matches_the_installed_zig() -> None:
    """ZIG_OLDEST_GLIBC copies zig's own table (lib/std/zig/target.zig): checked against the
    pinned ziglang, so a new zig cannot change it silently."""
    from multibuild.build.toolchain import ZIG_ARCH, ZIG_OLDEST_GLIBC, zig_binary

    table = (zig_binary().parent / "lib" / "std" / "zig" / "target.zig").read_text()
    for plat, arch in ZIG_ARCH.items():
        line = re.search(rf"\.arch = \.{arch}, \.os = \.linux, \.abi = \.gnu,[^\n]*", table)
        assert line, arch
        minimum = re.search(r"glibc_min = \.\{ \.major = (\d+), \.minor = (\d+)", line.group(0))
        expected = (int(minimum.group(1)), int(minimum.group(2))) if minimum else None
        assert ZIG_OLDEST_GLIBC.get(plat) == expected, plat


def test_glibc_cli_names_what_pins_a_wheel_above_a_policy(tmp_path: Path) -> None:
    """python -m multibuild.build.glibc: exit 1 and the symbol, library and file above the
    policy."""
    project = tmp_path / "p"
    shutil.copytree(FIXTURES / "zigext", project)
    source = (project / "zigext" / "_cext.c")
    # Built with the host's gcc (glibc 2.36 here): pthread_create@GLIBC_2.34.
    obj = tmp_path / "x.so"
    subprocess.run(["gcc", "-shared", "-fPIC", "-O2", "-o", str(obj), str(source),
                    f"-I{__import__('sysconfig').get_paths()['include']}"], check=True)
    wheel = tmp_path / "x-1.0-cp3-none-linux_x86_64.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.write(obj, "x/_x.so")
    done = subprocess.run([sys.executable, "-m", "multibuild.build.glibc", str(wheel), "--policy",
                           "manylinux2014_x86_64"], capture_output=True, text=True, check=False)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "ABOVE manylinux2014_x86_64" in done.stdout
    assert "pthread_create@GLIBC_2.34 (libc.so.6) in x/_x.so" in done.stdout
    assert version_text(highest(elf_references(obj.read_bytes(), "x"))) in done.stdout
    bad = subprocess.run([sys.executable, "-m", "multibuild.build.glibc", str(wheel), "--policy",
                          "manylinux_2_30_x86_64"], capture_output=True, text=True, check=False)
    assert bad.returncode == 2 and bad.stderr.startswith("error: auditwheel knows no policy")


# --------------------------------------------------------------------------- library builders


@pytest.fixture(scope="module")
def zlib_libpng_mirror(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """Debian's zlib and libpng sources (the recipes' versions), served on 127.0.0.1 as
    MB_SOURCE_MIRROR, with the checksum variables of Debian's repacks."""
    from source_mirror import DebianUnavailable, debian_origs, serving

    from multibuild.deps import recipes

    table = recipes.load_table()
    data = json.loads(recipes.TABLE.read_text())["recipes"]
    picked = {key: data[key]["known"][table[key].version]["debian"] for key in ("zlib", "libpng")}
    try:
        origs = debian_origs(REPO_ROOT / "build" / "cache" / "debian-sources",
                             [(d["package"], d["orig"], d["sha256"]) for d in picked.values()])
    except DebianUnavailable as exc:
        pytest.skip(f"Debian's source archives are not available: {exc}")
    root = tmp_path_factory.mktemp("mirror")
    env = {}
    for key, debian in picked.items():
        recipe = table[key]
        file, _url = recipe.names(recipe.version)
        shutil.copyfile(origs[debian["orig"]], root / file)
        if not debian["identical"]:
            env[f"{recipe.var}_SHA256"] = debian["sha256"]
    with serving(root) as mirror:
        yield {"MB_SOURCE_MIRROR": mirror.url, **env}


@pytest.mark.parametrize("ml_ver", sorted(POLICIES))
def test_library_builders_build_zlib_and_libpng_for_the_policy(
        ml_ver: str, tmp_path: Path, zlib_libpng_mirror: dict[str, str],
        newest_python: str) -> None:
    """The whole job of a wheels repository whose pre_build builds zlib and libpng with the
    library builders: they compile with the same zig toolchain, so the libpng auditwheel
    bundles fits the policy too (zlib is a manylinux system library: linked, not bundled)."""
    tags, glibc = POLICIES[ml_ver]
    repo = make_fixture_repo("pngz", tmp_path / "pngz")
    result = build(tmp_path, repo, newest_python,
                   {"MB_ML_VER": ml_ver, "MB_CACHE_DIR": str(tmp_path / "cache"),
                    "USE_CCACHE": "0", **zlib_libpng_mirror})
    assert result.proc.returncode == 0, result.log[-6000:]
    assert set(result.wheel.name[:-4].split("-")[-1].split(".")) == tags
    assert "pngz: 1.2.13 1.6.39" in result.log
    logs = (result.work / f"cp{newest_python.replace('.', '')}-linux-x86_64" / "build.log"
            ).read_text()
    assert "zlib: zlib 1.2.13 built, cached" in logs
    assert "libpng: libpng 1.6.39 built, cached" in logs
    members = elf_members(result.wheel)
    bundled = [n for n in members if n.startswith("pngz.libs/")]
    assert len(bundled) == 1 and "libpng16" in bundled[0], sorted(members)
    for name, data in members.items():
        assert (objdump_glibc(data, tmp_path) or (0,)) <= glibc, name
        made_by = compilers_of(data, tmp_path)
        assert "clang version" in made_by and "GCC:" not in made_by, (name, made_by)
    (target,) = result.report["targets"]
    assert all(w["glibc"]["policy_met"] for w in target["wheels"])


# --------------------------------------------------------------------------- Fortran


@pytest.fixture(scope="module")
def fortdot_repo(tmp_path_factory: pytest.TempPathFactory) -> FixtureRepo:
    if shutil.which("gfortran") is None:
        pytest.skip("no gfortran here (install_gfortran installs it as root on Debian)")
    return make_fixture_repo("fortdot", tmp_path_factory.mktemp("src") / "fortdot")


def test_fortran_links_a_gfortran_runtime_that_keeps_the_policy(
        tmp_path: Path, fortdot_repo: FixtureRepo, newest_python: str) -> None:
    """zig has no Fortran: the machine's gfortran compiles, zig's cc links, and -lgfortran
    finds a runtime built for glibc 2.17 (the scipy-openblas32 manylinux2014 wheel's): the
    wheel stays manylinux2014, and its Fortran formatted I/O works."""
    result = build(tmp_path, fortdot_repo, newest_python, {"MB_ML_VER": "2014"})
    assert result.proc.returncode == 0, result.log[-6000:]
    assert set(result.wheel.name[:-4].split("-")[-1].split(".")) == POLICIES["2014"][0]
    assert "fortdot: ok, 32.000" in result.log
    members = elf_members(result.wheel)
    runtimes = sorted(n for n in members if n.startswith("fortdot.libs/"))
    assert [n.split("/")[1].split("-")[0] for n in runtimes] == ["libgfortran", "libquadmath"]
    for name, data in members.items():
        assert (objdump_glibc(data, tmp_path) or (0,)) <= (2, 17), name
    (target,) = result.report["targets"]
    fortran = target["toolchain"]["fortran"]
    assert fortran["fits_policy"] is True and fortran["runtime_glibc"] == "2.17"
    assert fortran["runtime"].startswith("libgfortran-") and "GNU Fortran" in fortran["compiler"]
    assert target["wheels"][0]["glibc"]["policy_met"] is True
    assert target["wheels"][0]["compiler_runtimes"]


def test_fortran_with_the_machines_runtime_is_never_a_silent_manylinux_2_34(
        tmp_path: Path, fortdot_repo: FixtureRepo, newest_python: str) -> None:
    """MB_GFORTRAN_RUNTIME=host: the machine's libgfortran needs glibc 2.34; the wheel is
    repaired to the policy its symbols fit, and the log, the summary and report.json name the
    symbols and the library that pin it there, and point to docker mode."""
    result = build(tmp_path, fortdot_repo, newest_python,
                   {"MB_ML_VER": "2014", "MB_GFORTRAN_RUNTIME": "host"})
    assert result.proc.returncode == 0, result.log[-6000:]
    tag = result.wheel.name[:-4].split("-")[-1]
    assert policy_glibc(tag) >= (2, 34), tag
    assert "toolchain: no gfortran runtime for manylinux_2_17_x86_64" in result.log
    assert re.search(r"warning: fortdot-\S+ is above the manylinux_2_17_x86_64 policy "
                     r"asked for \(MB_ML_VER\): it needs glibc 2\.3\d; pinned by:", result.log)
    assert re.search(r"warning:   \w+@GLIBC_2\.3\d from libc\.so\.6, needed by "
                     r"fortdot\.libs/libgfortran-", result.log)
    summary = [ln for ln in result.proc.stdout.splitlines()
               if ln.startswith(f"cp{newest_python.replace('.', '')}-linux-x86_64: above the")]
    assert summary and "libgfortran-" in summary[0] and "docker mode" in summary[0], summary
    (target,) = result.report["targets"]
    assert target["passed"] is True
    glibc = target["wheels"][0]["glibc"]
    assert glibc["policy_met"] is False and glibc["policy"] == "manylinux_2_17_x86_64"
    first = glibc["above_policy"][0]
    assert first["library"] == "libc.so.6" and first["elf"].startswith("fortdot.libs/libgfortran")
    assert first["version"].startswith("GLIBC_2.3")
    assert target["toolchain"]["fortran"]["fits_policy"] is False
    page = (result.output / "report.html").read_text()
    assert "above manylinux_2_17_x86_64: " in page and "libgfortran-" in page


def test_a_gfortran_runtime_that_is_not_a_directory_is_refused_before_building(
        tmp_path: Path, fortdot_repo: FixtureRepo, newest_python: str) -> None:
    proc = build(tmp_path, fortdot_repo, newest_python,
                 {"MB_GFORTRAN_RUNTIME": str(tmp_path / "nope")}).proc
    assert proc.returncode == 2
    assert (proc.stdout + proc.stderr).strip() == (
        f"error: MB_GFORTRAN_RUNTIME={tmp_path / 'nope'}: not a directory (auto, host, or a "
        "directory holding a libgfortran.so.5 built for the policy)")


@pytest.fixture(scope="module")
def policy_runtime(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory holding a gfortran runtime built for glibc 2.17 (and its libquadmath) and
    the OpenBLAS beside it: the scipy-openblas32 manylinux2014 wheel's lib/, fetched and
    verified as the build does."""
    from multibuild.build.toolchain import choose, fetched_runtime_dir, runtime_candidates

    if shutil.which("gfortran") is None:
        pytest.skip("no gfortran here (install_gfortran installs it as root on Debian)")
    fetched = fetched_runtime_dir(choose({"MB_ML_VER": "2014"}, "x86_64"), __import__("os").environ)
    directory = tmp_path_factory.mktemp("runtime")
    for library in fetched.iterdir():
        if library.name.startswith(("libgfortran", "libquadmath", "libscipy_openblas")):
            shutil.copyfile(library, directory / library.name)
    assert [p.name for p in runtime_candidates(directory)] == ["libgfortran-040039e1.so.5.0.0"]
    return directory


def fortran_choice(environ: dict[str, str], cache: Path
                   ) -> tuple[dict[str, str], dict[str, object]]:
    from multibuild.build.toolchain import choose, fortran_runtime

    full = {"PATH": "/usr/local/bin:/usr/bin:/bin", "MB_ML_VER": "2014", **environ}
    exports, record = fortran_runtime(choose(full, "x86_64"), full, cache)
    assert record is not None
    return exports, record


@pytest.mark.parametrize("how", ["MB_GFORTRAN_RUNTIME", "OPENBLAS_LIB_DIR"])
def test_a_named_or_openblas_runtime_is_linked_first_without_fetching(
        how: str, policy_runtime: Path, tmp_path: Path) -> None:
    """MB_GFORTRAN_RUNTIME=DIR, or (auto) the lib directory of the build's OpenBLAS: its
    runtime fits manylinux2014, so -lgfortran and -lquadmath find it first; nothing fetched."""
    exports, record = fortran_choice({how: str(policy_runtime)}, tmp_path / "cache")
    assert record["fits_policy"] is True and record["runtime_glibc"] == "2.17"
    assert record["runtime"] == "libgfortran-040039e1.so.5.0.0"
    assert record["runtime_from"] == str(policy_runtime)
    assert "GNU Fortran" in str(record["compiler"])
    linkdir = Path(exports["MB_GFORTRAN_RUNTIME_LINKDIR"])
    assert (linkdir / "libgfortran.so").resolve() == policy_runtime / record["runtime"]
    assert (linkdir / "libquadmath.so").resolve().name == "libquadmath-96973f99.so.0.0.0"
    # For the repair: the runtime by its own names, and nothing else of where it came from
    # (the OpenBLAS beside it in a scipy-openblas wheel must not shadow the build's own).
    assert exports["LD_LIBRARY_PATH"].split(":")[0] == str(linkdir)
    assert sorted(p.name for p in linkdir.iterdir()) == [
        "libgfortran-040039e1.so.5.0.0", "libgfortran.so", "libquadmath-96973f99.so.0.0.0",
        "libquadmath.so"]
    assert not (tmp_path / "cache" / "openblas").exists()


@pytest.mark.parametrize("choice", ["machine", "host"])
def test_a_runtime_above_the_policy_is_never_linked_first(
        choice: str, tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    """A directory whose only runtime is the machine's (glibc 2.34), or MB_GFORTRAN_RUNTIME=
    host: nothing is put first, and one line says the wheel will be above the policy."""
    if shutil.which("gfortran") is None:
        pytest.skip("no gfortran here")
    machine = Path(subprocess.run(["gfortran", "-print-file-name=libgfortran.so.5"],
                                  capture_output=True, text=True, check=True).stdout.strip())
    if choice == "machine":
        shutil.copyfile(machine.resolve(), tmp_path / machine.resolve().name)
        wanted = str(tmp_path)
    else:
        wanted = "host"
    exports, record = fortran_choice({"MB_GFORTRAN_RUNTIME": wanted}, tmp_path / "cache")
    assert exports == {}
    assert record["fits_policy"] is False and record["runtime"].startswith("libgfortran.so.5")
    assert tuple(map(int, str(record["runtime_glibc"]).split("."))) > (2, 17)
    (line,) = capfd.readouterr().err.strip().splitlines()
    assert line.startswith(f"toolchain: no gfortran runtime for manylinux_2_17_x86_64 "
                           f"(MB_GFORTRAN_RUNTIME={wanted}); ")
    assert "above the policy" in line and "docker mode" in line


def test_the_gfortran_wrapper_puts_the_policy_runtime_first(
        wrappers: Path, policy_runtime: Path, tmp_path: Path) -> None:
    """The toolchain's gfortran runs the machine's; with MB_GFORTRAN_RUNTIME_LINKDIR it
    reports that directory first among its library directories (meson hands those to the C
    linker) and links with it first: the result needs the policy's runtime, by its soname."""
    exports, _record = fortran_choice({"MB_GFORTRAN_RUNTIME": str(policy_runtime)},
                                      tmp_path / "cache")
    linkdir = exports["MB_GFORTRAN_RUNTIME_LINKDIR"]
    env = {"PATH": f"{wrappers}:/usr/local/bin:/usr/bin:/bin",
           "MB_GFORTRAN_RUNTIME_LINKDIR": linkdir}
    gfortran = str(wrappers / "gfortran")
    dirs = subprocess.run([gfortran, "-print-search-dirs"], env=env, capture_output=True,
                          text=True, check=True).stdout
    libraries = next(ln for ln in dirs.splitlines() if ln.startswith("libraries: ="))
    assert libraries.startswith(f"libraries: ={linkdir}:"), libraries
    (tmp_path / "f.f90").write_text(
        "subroutine hello(x)\n  real(8), intent(in) :: x\n  print '(f8.3)', x\nend\n")
    subprocess.run([gfortran, "-shared", "-fPIC", "f.f90", "-o", "libf.so"], cwd=tmp_path,
                   env=env, check=True)
    needed = subprocess.run(["readelf", "-d", str(tmp_path / "libf.so")], capture_output=True,
                            text=True, check=True).stdout
    assert "[libgfortran-040039e1.so.5.0.0]" in needed and "[libgfortran.so.5]" not in needed
    # Without the directory it is the machine's gfortran, unchanged.
    plain = subprocess.run([gfortran, "-print-search-dirs"], capture_output=True, text=True,
                           env={"PATH": env["PATH"]}, check=True).stdout
    assert linkdir not in plain
    # No gfortran besides the wrapper on PATH: one line saying what to install.
    shell = tmp_path / "shell"
    shell.mkdir()
    for tool in ("bash", "dirname"):
        (shell / tool).symlink_to(shutil.which(tool) or tool)
    missing = subprocess.run([gfortran, "--version"], capture_output=True, text=True,
                             env={"PATH": f"{wrappers}:{shell}"}, check=False)
    assert missing.returncode == 127
    assert missing.stderr.strip() == (
        "error: gfortran: no GNU Fortran on PATH (zig compiles no Fortran; install it, e.g. "
        "apt-get install gfortran, or call install_gfortran in pre_build)")


# --------------------------------------------------------------------------- cross: aarch64

# The target interpreters: Debian bullseye's, bookworm's and trixie's (headers, sysconfig).
CROSS_PYTHONS = ("3.9", "3.11", "3.13")
CROSS_PYTHON = "3.11"


@pytest.fixture(scope="module", params=CROSS_PYTHONS)
def aarch64_build(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
                  zigext_repo: FixtureRepo, pythons: dict[str, Path]) -> Build:
    python: str = request.param
    if python not in pythons:
        pytest.skip(f"the cross build runs this machine's CPython {python}")
    if shutil.which("debootstrap") is None and __import__("os").geteuid() != 0:
        pytest.skip("no debootstrap (apt-get install debootstrap) to fetch Debian's arm64 Python")
    tmp = tmp_path_factory.mktemp(f"aarch64-{python}")
    return build(tmp, zigext_repo, python, {}, plat="aarch64")


@pytest.mark.slow
def test_aarch64_cross_build_is_repaired_and_tested_under_qemu(aarch64_build: Build,
                                                               tmp_path: Path) -> None:
    """--plat aarch64 on x86_64: zig compiles for aarch64-linux-gnu.2.28 against Debian's
    arm64 python3.11 headers, auditwheel repairs the aarch64 wheel to manylinux_2_28, and the
    wheel is installed and tested with Debian's arm64 python3.11 under qemu-user."""
    result = aarch64_build
    assert result.proc.returncode == 0, result.log[-6000:]
    (target,) = result.report["targets"]
    cp = target["id"].split("-")[0]
    assert result.wheel.name.endswith(f"-{cp}-{cp}-manylinux_2_28_aarch64.whl"), result.wheel
    members = elf_members(result.wheel)
    assert len(members) == 2
    for name, data in members.items():
        assert name.endswith(f".cpython-{cp[2:]}-aarch64-linux-gnu.so"), name
        assert data[18:20] == (183).to_bytes(2, "little"), name  # e_machine EM_AARCH64
        assert (highest(elf_references(data, name)) or (0,)) <= (2, 28), name
    needed = analyse(result.wheel, "manylinux_2_28_aarch64")
    assert needed["policy_met"] is True and needed["highest_glibc"] == "2.25"
    if "built, not tested" in result.log:
        pytest.skip("qemu-user is not available here: " + result.log.split(
            "built, not tested: ", 1)[1].splitlines()[0])
    assert "install_run: testing the aarch64 wheel with qemu-aarch64" in result.log
    assert "zigext: ok, built for glibc 2.28, getrandom used" in result.log
    assert target["cross_test"]["tested"] is True
    assert target["toolchain"]["cross"] is True
    assert target["toolchain"]["target"] == "aarch64-linux-gnu.2.28"
    assert f"{cp}-linux-aarch64: tested: qemu-aarch64" in result.proc.stdout


@pytest.mark.slow
def test_aarch64_cmake_cross_build_with_scikit_build_core(
        tmp_path: Path, pythons: dict[str, Path]) -> None:
    """The CMake toolchain file of a cross build names the target system: scikit-build-core
    builds the aarch64 extension, tested under qemu-user where it runs. FindPython asks no
    target interpreter, so WITH_SOABI gives a plain .so (CPython imports it; SKBUILD_SOABI
    has the full suffix)."""
    if CROSS_PYTHON not in pythons:
        pytest.skip(f"the cross build runs this machine's CPython {CROSS_PYTHON}")
    repo = make_fixture_repo("cmakeext", tmp_path / "cmakeext")
    result = build(tmp_path, repo, CROSS_PYTHON, {}, plat="aarch64")
    assert result.proc.returncode == 0, result.log[-6000:]
    assert result.wheel.name.endswith("-cp311-cp311-manylinux_2_28_aarch64.whl"), result.wheel
    (name, data), = elf_members(result.wheel).items()
    assert name == "cmakeext/_core.so", name
    assert data[18:20] == (183).to_bytes(2, "little"), name  # e_machine EM_AARCH64
    if "built, not tested" not in result.log:
        assert "cmakeext: ok, C Clang, C++ Clang" in result.log


@pytest.mark.slow
def test_aarch64_without_emulation_says_built_not_tested(
        tmp_path: Path, zigext_repo: FixtureRepo, pythons: dict[str, Path]) -> None:
    if CROSS_PYTHON not in pythons:
        pytest.skip(f"the cross build runs this machine's CPython {CROSS_PYTHON}")
    result = build(tmp_path, zigext_repo, CROSS_PYTHON, {"MB_CROSS_TEST": "0"},
                   plat="aarch64")
    assert result.proc.returncode == 0, result.log[-4000:]
    assert "install_run: aarch64 wheel built, not tested: MB_CROSS_TEST=0" in result.log
    (target,) = result.report["targets"]
    assert target["passed"] is True
    assert target["cross_test"] == {"tested": False, "how": "MB_CROSS_TEST=0"}
    assert "cp311-linux-aarch64: built, not tested: MB_CROSS_TEST=0" in result.proc.stdout


def test_a_cross_build_for_a_python_debian_lacks_is_refused(
        tmp_path: Path, zigext_repo: FixtureRepo) -> None:
    proc = build(tmp_path, zigext_repo, "3.12", {}, plat="aarch64").proc
    assert proc.returncode == 2
    assert (proc.stdout + proc.stderr).strip() == (
        "error: Python 3.12 for aarch64: cross builds use Debian's Python for the target, "
        "which is 3.9 (Debian bullseye), 3.11 (Debian bookworm), 3.13 (Debian trixie)")
