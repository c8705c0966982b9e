"""auditwheel cannot tell the libc of an extension that needs no libc.so.6 (--as-needed drops
it when no libc function is called) and whose name predates Python 3.11's musl/gnu split (seen
with the blasdot fixture on 3.9 and 3.10); repair retries with this host's glibc policy."""

from __future__ import annotations

import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest
from test_upload_helpers import record_hash

from multibuild.build.repair import repair_wheel

SOURCE = """#include <Python.h>
static struct PyModuleDef d = {PyModuleDef_HEAD_INIT, "nolibc", 0, -1, 0};
PyMODINIT_FUNC PyInit_nolibc(void) { return PyModule_Create(&d); }
"""


def platform_wheel(tmp_path: Path) -> Path:
    """A linux_ARCH wheel whose only file is an extension with no DT_NEEDED libc."""
    gcc = shutil.which("gcc")
    if gcc is None:
        pytest.skip("needs gcc")
    (tmp_path / "nolibc.c").write_text(SOURCE)
    # A CPython 3.10 extension name: auditwheel guesses glibc from the name only for >= 3.11.
    ext = tmp_path / f"nolibc.cpython-310-{sysconfig.get_config_var('MULTIARCH')}.so"
    subprocess.run([gcc, "-shared", "-fPIC", "-nostdlib", "-I", sysconfig.get_paths()["include"],
                    str(tmp_path / "nolibc.c"), "-o", str(ext)], check=True)
    needed = subprocess.run(["readelf", "-d", str(ext)], capture_output=True, text=True).stdout
    assert "libc.so" not in needed
    tag = "cp310"
    plat = sysconfig.get_platform().replace("-", "_").replace(".", "_")
    info = "nolibc-1.0.dist-info"
    files = {
        ext.name: ext.read_bytes(),
        f"{info}/METADATA": b"Metadata-Version: 2.1\nName: nolibc\nVersion: 1.0\n",
        f"{info}/WHEEL": (f"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: false\n"
                          f"Tag: {tag}-{tag}-{plat}\n").encode(),
    }
    wheel = tmp_path / "in" / f"nolibc-1.0-{tag}-{tag}-{plat}.whl"
    wheel.parent.mkdir()
    with zipfile.ZipFile(wheel, "w") as archive:
        records = []
        for name, data in files.items():
            archive.writestr(name, data)
            records.append(f"{name},{record_hash(data)},{len(data)}")
        archive.writestr(f"{info}/RECORD", "\n".join([*records, f"{info}/RECORD,,"]) + "\n")
    return wheel


def test_extension_without_libc_is_repaired_with_the_host_policy(tmp_path: Path,
                                                                 capfd: pytest.CaptureFixture[str]
                                                                 ) -> None:
    if not sys.platform.startswith("linux"):
        pytest.skip("auditwheel: Linux only")
    wheel = platform_wheel(tmp_path)
    repaired = repair_wheel(wheel, tmp_path / "out")
    platform_tags = repaired.name[:-len(".whl")].split("-")[-1].split(".")
    assert platform_tags and all(t.startswith("manylinux") for t in platform_tags), repaired.name
    assert "links no libc; retrying with --plat manylinux_" in capfd.readouterr().out
    assert [p.name for p in (tmp_path / "out").iterdir()] == [repaired.name]
