"""Real macOS and Windows artifacts made on Linux: a tiny extension cross-compiled with
``ziglang`` (from PyPI) against a shared library it needs, packed into wheels.

macOS: ``libhelper.dylib`` (install name ``@rpath/libhelper.dylib``) and ``crossext/_ext.so``
(a Python extension built against this interpreter's headers, ``-undefined dynamic_lookup`` as
on macOS) for x86_64 and arm64. zig links dylibs only (``-bundle`` is not supported): CPython
loads an MH_DYLIB extension just as well.
Windows: ``helper.dll`` and ``winext/_ext.pyd`` importing ``helper_add`` from it
(x86_64-windows-gnu); the .pyd uses no Python API, so no CPython import library is needed.

Everything links with ``-nostdlib`` (macOS still records libSystem, from zig's stubs): no C
runtime to build, so even a cold zig cache makes each binary in well under a second.
"""

from __future__ import annotations

import base64
import hashlib
import shutil
import struct
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

PY_TAG = f"cp{sys.version_info[0]}{sys.version_info[1]}"
ZIG_TARGETS = {"x86_64": "x86_64-macos.11.0", "arm64": "aarch64-macos.11.0"}
HELPER_C = "int helper_add(int a, int b) { return a + b; }\n"
EXT_C = """#include <Python.h>
extern int helper_add(int, int);
static PyObject *add(PyObject *self, PyObject *args) {
    int a, b;
    if (!PyArg_ParseTuple(args, "ii", &a, &b)) return NULL;
    return PyLong_FromLong(helper_add(a, b));
}
static PyMethodDef methods[] = {{"add", add, METH_VARARGS, "add"}, {NULL, NULL, 0, NULL}};
static struct PyModuleDef mod = {PyModuleDef_HEAD_INIT, "_ext", NULL, -1, methods};
PyMODINIT_FUNC PyInit__ext(void) { return PyModule_Create(&mod); }
"""
# -nostdlib: no C runtime to build (zig would spend a minute on mingw's the first time), so
# each DLL needs its own entry point.
_DLL_ENTRY = "int __stdcall DllMainCRTStartup(void *h, unsigned long r, void *p) { return 1; }\n"
WIN_HELPER_C = "__declspec(dllexport) int helper_add(int a, int b) { return a + b; }\n" + _DLL_ENTRY
WIN_EXT_C = """__declspec(dllimport) int helper_add(int, int);
__declspec(dllexport) void *PyInit__ext(void) { return (void *)(long long)helper_add(1, 2); }
""" + _DLL_ENTRY
LLVM_HINT = "Debian's llvm-16 (apt-get install -y llvm-16) or MB_LLVM_BIN"
_BUILT: dict[tuple[str, ...], tuple[Path, Path]] = {}


def require_zig() -> None:
    pytest.importorskip("ziglang", reason="ziglang (dev pin in pyproject.toml) is not installed")


def llvm_bin_or_skip() -> Path:
    from multibuild import MultibuildError
    from multibuild.build.macos import find_llvm_bin

    try:
        return find_llvm_bin({"PATH": "/usr/bin:/bin"})
    except MultibuildError:
        pytest.skip(f"no LLVM Mach-O tools (llvm-otool, llvm-lipo, llvm-install-name-tool): "
                    f"install {LLVM_HINT}")


def zig_cc(target: str, args: list[str], cwd: Path) -> None:
    cmd = [sys.executable, "-m", "ziglang", "cc", "-target", target, *args]
    done = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=900, check=False)
    if done.returncode != 0:
        raise AssertionError(f"zig cc failed: {' '.join(cmd)}\n{done.stderr}")


def make_wheel(dest: Path, name: str, version: str, tag: str, files: dict[str, bytes]) -> Path:
    """A wheel with ``files`` (archive name -> content), METADATA, WHEEL and RECORD."""
    dist_info = f"{name}-{version}.dist-info"
    members = dict(files)
    members[f"{dist_info}/METADATA"] = (
        f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n").encode()
    members[f"{dist_info}/WHEEL"] = (
        f"Wheel-Version: 1.0\nGenerator: crossbuild\nRoot-Is-Purelib: false\nTag: {tag}\n"
    ).encode()
    record = []
    for member, data in members.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{member},sha256={digest},{len(data)}")
    record.append(f"{dist_info}/RECORD,,")
    members[f"{dist_info}/RECORD"] = ("\n".join(record) + "\n").encode()
    dest.mkdir(parents=True, exist_ok=True)
    wheel = dest / f"{name}-{version}-{tag}.whl"
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as archive:
        for member, data in members.items():
            info = zipfile.ZipInfo(member, date_time=(2020, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            archive.writestr(info, data, zipfile.ZIP_DEFLATED)
    return wheel


def macos_thin_wheel(work: Path, arch: str, *, rpath: bool = True,
                     version: str = "1.0") -> tuple[Path, Path]:
    """(wheel, library directory) of the x86_64 or arm64 extension; ``rpath``: the extension
    records the library directory as an LC_RPATH, as a local build would."""
    key = (str(work), arch, str(rpath), version)
    if key in _BUILT:
        return _BUILT[key]
    require_zig()
    include = Path(sysconfig.get_paths()["include"])
    if not (include / "Python.h").is_file():
        pytest.skip(f"no Python.h in {include}")
    target = ZIG_TARGETS[arch]
    root = work / f"macos-{arch}-{'rpath' if rpath else 'plain'}-{version}"
    shutil.rmtree(root, ignore_errors=True)
    lib, obj = root / "lib", root / "obj"
    lib.mkdir(parents=True)
    obj.mkdir()
    (obj / "helper.c").write_text(HELPER_C)
    (obj / "ext.c").write_text(EXT_C)
    zig_cc(target, ["-shared", "-nostdlib", "-Os", "-o", str(lib / "libhelper.dylib"),
                    "helper.c",
                    "-Wl,-install_name,@rpath/libhelper.dylib"], obj)
    link = ["-shared", "-nostdlib", "-Os", f"-I{include}", "-o", "_ext.so", "ext.c", f"-L{lib}",
            "-lhelper", "-Wl,-undefined,dynamic_lookup"]
    if rpath:
        link.append(f"-Wl,-rpath,{lib}")
    zig_cc(target, link, obj)
    files = {"crossext/__init__.py": b"from ._ext import add\n",
             "crossext/_ext.so": (obj / "_ext.so").read_bytes()}
    wheel = make_wheel(root / "dist", "crossext", version,
                       f"{PY_TAG}-{PY_TAG}-macosx_11_0_{arch}", files)
    _BUILT[key] = (wheel, lib)
    return wheel, lib


def windows_wheel(work: Path) -> tuple[Path, Path]:
    """(wheel, DLL directory): winext/_ext.pyd needs helper.dll, which is not in the wheel."""
    key = (str(work), "win_amd64")
    if key in _BUILT:
        return _BUILT[key]
    require_zig()
    root = work / "windows"
    shutil.rmtree(root, ignore_errors=True)
    dlls, obj = root / "dlls", root / "obj"
    dlls.mkdir(parents=True)
    obj.mkdir()
    (obj / "helper.c").write_text(WIN_HELPER_C)
    (obj / "ext.c").write_text(WIN_EXT_C)
    target = "x86_64-windows-gnu"
    zig_cc(target, ["-shared", "-nostdlib", "-Os", "-o", "helper.dll", "helper.c",
                    "-Wl,--out-implib,libhelper.dll.a"], obj)
    zig_cc(target, ["-shared", "-nostdlib", "-Os", "-o", "_ext.pyd", "ext.c", "-L.",
                    "-lhelper"], obj)
    shutil.copy2(obj / "helper.dll", dlls / "helper.dll")
    files = {"winext/__init__.py": b"from . import _ext\n",
             "winext/_ext.pyd": (obj / "_ext.pyd").read_bytes()}
    wheel = make_wheel(root / "dist", "winext", "1.0", f"{PY_TAG}-{PY_TAG}-win_amd64", files)
    _BUILT[key] = (wheel, dlls)
    return wheel, dlls


def wheel_names(wheel: Path) -> set[str]:
    with zipfile.ZipFile(wheel) as archive:
        return {n for n in archive.namelist() if not n.endswith("/")}


def wheel_member(wheel: Path, name: str) -> bytes:
    with zipfile.ZipFile(wheel) as archive:
        return archive.read(name)


def adhoc_signature_state(image: bytes) -> str:
    """``unsigned``, ``valid`` or ``invalid``: the page hashes of a thin 64-bit Mach-O image's
    code signature (LC_CODE_SIGNATURE -> SuperBlob -> CodeDirectory) against its bytes.
    arm64 macOS refuses to load a binary whose ad hoc signature no longer matches."""
    assert image[:4] == b"\xcf\xfa\xed\xfe", "not a thin 64-bit little-endian Mach-O image"
    (ncmds,) = struct.unpack_from("<I", image, 16)
    offset, signature = 32, None
    for _ in range(ncmds):
        cmd, size = struct.unpack_from("<II", image, offset)
        if cmd == 0x1D:  # LC_CODE_SIGNATURE
            signature = struct.unpack_from("<I", image, offset + 8)[0]
        offset += size
    if signature is None:
        return "unsigned"
    magic, _length, count = struct.unpack_from(">III", image, signature)
    assert magic == 0xFADE0CC0  # embedded signature SuperBlob
    for index in range(count):
        slot, blob = struct.unpack_from(">II", image, signature + 12 + 8 * index)
        if slot != 0:  # CodeDirectory
            continue
        cd = signature + blob
        fields = struct.unpack_from(">IIIIIIIIIBBBB", image, cd)
        hash_offset, code_slots, code_limit, hash_size, page_shift = (
            fields[4], fields[7], fields[8], fields[9], fields[12])
        page = 1 << page_shift
        for k in range(code_slots):
            chunk = image[k * page: min((k + 1) * page, code_limit)]
            want = image[cd + hash_offset + k * hash_size: cd + hash_offset + (k + 1) * hash_size]
            if hashlib.sha256(chunk).digest()[:hash_size] != want:
                return "invalid"
        return "valid"
    return "invalid"
