"""The tarball source of multibuild/deps/openblas.py against a real HTTP server on 127.0.0.1.

The server serves crafted archives; each unsafe one must be refused with a one-line error and
leave nothing behind, neither in the cache nor anywhere outside it.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import threading
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CLI = ROOT / "tools" / "openblas_support.py"


# ---------------------------------------------------------------------------------------------
# Crafted archives.


def _tar(entries: list[tarfile.TarInfo | tuple[str, bytes]], compress: bool = True) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz" if compress else "w") as tar:
        for entry in entries:
            if isinstance(entry, tarfile.TarInfo):
                tar.addfile(entry)
            else:
                name, data = entry
                info = tarfile.TarInfo(name)
                info.size = len(data)
                info.mode = 0o644
                tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _link(name: str, target: str, hard: bool = False) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = tarfile.LNKTYPE if hard else tarfile.SYMTYPE
    info.linkname = target
    return info


PC = (
    "prefix=/usr/local\nlibdir=${prefix}/lib\nincludedir=/usr/local/include\n\n"
    "Name: openblas\nDescription: test\nVersion: 0.3.10\n"
    "Libs: -L${libdir} -lopenblas\nCflags: -I${includedir}\n"
)


def good_unix(
    libname: str = "libopenblasp-r0.3.10.so", link: str = "libopenblas.so", tag: str = "",
) -> bytes:
    return _tar([
        ("usr/local/share/artifact.txt", tag.encode()),
        ("usr/local/include/cblas.h", b"/* cblas */\n"),
        ("usr/local/include/openblas_config.h", b"/* config */\n"),
        (f"usr/local/lib/{libname}", b"\x7fELF fake library"),
        _link(f"usr/local/lib/{link}", libname),
        ("usr/local/lib/pkgconfig/openblas.pc", PC.encode()),
    ])


def good_zip(top: str, tag: str = "") -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(f"{top}/artifact.txt", tag)
        zf.writestr(f"{top}/include/cblas.h", "/* cblas */\n")
        zf.writestr(f"{top}/lib/libopenblas_v0.3.10-gcc_7_1_0.a", "fake static")
        zf.writestr(f"{top}/lib/libopenblas_v0.3.10-gcc_7_1_0.dll.a", "fake import")
        zf.writestr(f"{top}/bin/libopenblas_v0.3.10-gcc_7_1_0.dll", "fake dll")
    return buf.getvalue()


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# ---------------------------------------------------------------------------------------------
# The server: path -> (payload, behaviour); counts requests per path.


@dataclass
class Served:
    files: dict[str, tuple[bytes, str]] = field(default_factory=dict)
    hits: dict[str, int] = field(default_factory=dict)
    port: int = 0

    def base(self, version_dir: str = "{version}") -> str:
        return f"http://127.0.0.1:{self.port}/{version_dir}"


def _handler(served: Served) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            served.hits[self.path] = served.hits.get(self.path, 0) + 1
            if self.path not in served.files:
                self.send_error(404)
                return
            data, how = served.files[self.path]
            self.send_response(200)
            self.send_header("Content-Type", "text/html" if how == "html" else
                             "application/octet-stream")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if how == "trickle":
                # 16 bytes a second: no socket timeout ever fires.
                for start in range(0, len(data), 16):
                    try:
                        self.wfile.write(data[start:start + 16])
                        self.wfile.flush()
                    except OSError:
                        return
                    time.sleep(1)
                return
            if how == "drop":
                # Half the body, then the connection goes away.
                self.wfile.write(data[: len(data) // 2])
                self.wfile.flush()
                self.close_connection = True
                self.connection.shutdown(2)
                return
            self.wfile.write(data)

    return Handler


@pytest.fixture
def server() -> Iterator[Served]:
    served = Served()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(served))
    served.port = httpd.server_address[1]
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield served
    finally:
        httpd.shutdown()
        httpd.server_close()


def run_cli(
    args: list[str], tmp_path: Path, extra_env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("OPENBLAS_", "NPY_", "PLAT", "MB_ML"))}
    env.update({
        "OPENBLAS_RETRY_WAIT": "0", "OPENBLAS_RETRIES": "3", "MB_ML_VER": "2014",
        "OPENBLAS_CACHE_DIR": str(tmp_path / "cache"), "PYTHONDONTWRITEBYTECODE": "1",
    })
    env.update(extra_env or {})
    return subprocess.run(
        [sys.executable, str(CLI), "--source", "tarball", *args],
        capture_output=True, text=True, env=env, check=False, timeout=120,
    )


def write_table(tmp_path: Path, files: dict[str, str]) -> Path:
    table = tmp_path / "table.json"
    table.write_text(json.dumps({"files": files}))
    return table


def leftovers(tmp_path: Path) -> list[str]:
    cache = tmp_path / "cache"
    if not cache.exists():
        return []
    return sorted(str(p.relative_to(cache)) for p in cache.rglob("*"))


# ---------------------------------------------------------------------------------------------
# Good archives: a prefix with relocatable pkg-config, a warm cache, every platform's naming.


def test_good_tarball_gives_usable_prefix_and_warm_run_is_offline(
    server: Served, tmp_path: Path,
) -> None:
    name = "openblas-v0.3.10-manylinux2014_x86_64.tar.gz"
    data = good_unix()
    server.files[f"/v0.3.10/{name}"] = (data, "ok")
    table = write_table(tmp_path, {name: sha(data)})
    args = ["--base-url", server.base(), "--sha256-table", str(table),
            "--openblas-version", "v0.3.10", "--plat", "x86_64", "--lp64"]

    first = run_cli(args, tmp_path)
    assert first.returncode == 0, first.stderr
    prefix = Path(first.stdout.strip())
    assert prefix.parent == tmp_path / "cache"
    assert prefix.name == sha(data)[:32]  # keyed by content hash
    assert (prefix / "lib" / "libopenblas.so").is_symlink()
    assert (prefix / "include" / "cblas.h").is_file()

    pc_text = (prefix / "lib" / "pkgconfig" / "openblas.pc").read_text()
    assert "/usr/local" not in pc_text
    pkg_config = shutil.which("pkg-config")
    if pkg_config:
        env = {**os.environ, "PKG_CONFIG_PATH": str(prefix / "lib" / "pkgconfig")}
        libdir = subprocess.run([pkg_config, "--variable=libdir", "openblas"], env=env,
                                capture_output=True, text=True, check=True).stdout.strip()
        assert Path(libdir).resolve() == (prefix / "lib").resolve()
        cflags = subprocess.run([pkg_config, "--cflags", "openblas"], env=env,
                                capture_output=True, text=True, check=True).stdout.split()
        assert Path(cflags[0][2:]).resolve() == (prefix / "include").resolve()

    # Warm: served from the cache, no request, even in offline mode.
    hits = dict(server.hits)
    second = run_cli([*args, "--offline"], tmp_path)
    assert second.returncode == 0, second.stderr
    assert second.stdout.strip() == str(prefix)
    assert server.hits == hits
    assert not [p for p in (tmp_path / "cache").iterdir() if p.name.startswith(".tmp-")]


def test_every_platform_artifact_with_test_all(server: Served, tmp_path: Path) -> None:
    """--test all: each supported platform and width resolves to the historical file name."""
    names = {}
    for width in ("", "64_"):
        for arch in ("x86_64", "aarch64", "ppc64le", "s390x"):
            name = f"openblas{width}-v0.3.10-manylinux2014_{arch}.tar.gz"
            names[name] = good_unix(tag=name)
        name = f"openblas{width}-v0.3.10-macosx_10_9_x86_64-gf_1becaaa.tar.gz"
        names[name] = good_unix("libopenblasp-r0.3.10.dylib", "libopenblas.dylib", name)
        name = f"openblas{width}-v0.3.10-macosx_11_0_arm64-gf_5272328.tar.gz"
        names[name] = good_unix("libopenblas64_p-r0.3.10.dylib", "libopenblas.dylib", name)
        name = f"openblas{width}-v0.3.10-win_amd64-gcc_7_1_0.zip"
        names[name] = good_zip("64", name)
    names["openblas-v0.3.10-manylinux2014_i686.tar.gz"] = good_unix(tag="i686")
    names["openblas-v0.3.10-win32-gcc_7_1_0.zip"] = good_zip("32", "win32")
    for name, data in names.items():
        server.files[f"/v0.3.10/{name}"] = (data, "ok")
    table = write_table(tmp_path, {n: sha(d) for n, d in names.items()})
    result = run_cli(["--base-url", server.base(), "--sha256-table", str(table),
                      "--openblas-version", "v0.3.10", "--test", "all"], tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 16 and all(line.startswith("ok ") for line in lines), lines
    assert set(server.hits) == {f"/v0.3.10/{n}" for n in names}
    # The Windows zip had no .pc: one was generated, relative to its own location.
    win = next(line for line in lines if "windows-win_amd64 lp64" in line)
    prefix = Path(win.split(": ", 1)[1].split(" (")[0])
    pc = (prefix / "lib" / "pkgconfig" / "openblas.pc").read_text()
    assert "libdir=${pcfiledir}/.." in pc and "-lopenblas_v0.3.10-gcc_7_1_0" in pc


def test_missing_table_entry_is_named(server: Served, tmp_path: Path) -> None:
    table = write_table(tmp_path, {})
    result = run_cli(["--base-url", server.base(), "--sha256-table", str(table),
                      "--openblas-version", "v0.3.10", "--plat", "aarch64", "--ilp64"], tmp_path)
    assert result.returncode == 1
    assert result.stderr.startswith("error: no entry for linux-aarch64 ilp64 v0.3.10")
    assert "openblas64_" in result.stderr and not server.hits


def test_test_mode_reports_every_failure(server: Served, tmp_path: Path) -> None:
    name = "openblas-v0.3.10-manylinux2014_x86_64.tar.gz"
    data = good_unix()
    server.files[f"/v0.3.10/{name}"] = (data, "ok")
    table = write_table(tmp_path, {name: sha(data)})
    result = run_cli(["--base-url", server.base(), "--sha256-table", str(table),
                      "--openblas-version", "v0.3.10", "--test", "linux-x86_64", "linux-s390x"],
                     tmp_path)
    assert result.returncode == 1
    assert "ok   linux-x86_64 lp64" in result.stdout
    assert "FAIL linux-s390x ilp64" in result.stdout
    assert result.stderr.strip().splitlines()[-1].startswith("error: OpenBLAS artifacts failed")


def test_repository_table_is_well_formed() -> None:
    sys.path.insert(0, str(ROOT))
    from multibuild.deps.openblas import DEFAULT_SHA256_TABLE, load_table

    base, files = load_table(DEFAULT_SHA256_TABLE)
    assert base.startswith("https://") and "{version}" in base
    assert files and all(n.startswith(("openblas-v", "openblas64_-v")) for n in files)


# ---------------------------------------------------------------------------------------------
# Unsafe archives.

NAME = "openblas-{v}-manylinux2014_x86_64.tar.gz"


def _bad_cases(tmp_path: Path) -> dict[str, tuple[bytes, str, str, str]]:
    """case -> (served bytes, table sha, server behaviour, expected error fragment)."""
    good = good_unix()
    truncated = good[: len(good) // 2]
    outside = tmp_path / "outside"
    escaping_dir = _tar([_link("usr/local/lib/sub", "../../../.."),
                         ("usr/local/lib/libopenblas.so", b"x")])
    return {
        "sha": (good + b"tampered", sha(good), "ok", "sha256 mismatch"),
        "html": (b"<!DOCTYPE html><html><body>Not found</body></html>", sha(good), "html",
                 "HTML page instead of an archive"),
        "truncated": (truncated, sha(truncated), "ok", "truncated or corrupt archive"),
        "absolute": (_tar([(f"{outside}/evil", b"x"), ("usr/local/lib/libopenblas.so", b"x")]),
                     "", "ok", "absolute"),
        "dotdot": (_tar([("usr/local/lib/libopenblas.so", b"x"), ("usr/../../../evil", b"x")]),
                   "", "ok", "'..' component"),
        "symlink": (_tar([_link("usr/local/lib/libopenblas.so", "../../../../outside/evil")]),
                    "", "ok", "points outside the archive"),
        "symlink-abs": (_tar([_link("usr/local/lib/libopenblas.so", str(outside / "evil"))]),
                        "", "ok", "points outside the archive"),
        "symlink-dir": (escaping_dir, "", "ok", "points outside the archive"),
        "hardlink": (_tar([("usr/local/lib/libopenblas.so", b"x"),
                           _link("usr/local/lib/hard", str(outside / "evil"), hard=True)]),
                     "", "ok", "absolute"),
        "hardlink-dotdot": (_tar([("usr/local/lib/libopenblas.so", b"x"),
                                  _link("usr/local/lib/hard", "../outside/evil", hard=True)]),
                            "", "ok", "'..' component"),
        "drop": (good, sha(good), "drop", "failed after 3 attempts"),
        "not-found": (b"", sha(good), "missing", "HTTP 404"),
    }


CASES = ["sha", "html", "truncated", "absolute", "dotdot", "symlink", "symlink-abs",
         "symlink-dir", "hardlink", "hardlink-dotdot", "drop", "not-found"]


@pytest.mark.parametrize("case", CASES)
def test_unsafe_or_broken_archive_is_refused(case: str, server: Served, tmp_path: Path) -> None:
    data, table_sha, how, fragment = _bad_cases(tmp_path)[case]
    version = f"v0.0.{CASES.index(case)}"
    name = NAME.format(v=version)
    path = f"/{version}/{name}"
    if how != "missing":
        server.files[path] = (data, how)
    table = write_table(tmp_path, {name: table_sha or sha(data)})
    (tmp_path / "outside").mkdir()

    result = run_cli(["--base-url", server.base(), "--sha256-table", str(table),
                      "--openblas-version", version, "--plat", "x86_64", "--lp64"], tmp_path)

    assert result.returncode == 1, result.stdout
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and fragment in errors[0], result.stderr
    assert result.stdout == ""
    assert leftovers(tmp_path) == []
    assert list((tmp_path / "outside").iterdir()) == []
    assert server.hits[path] == (3 if how == "drop" else 1)


def test_unsafe_zip_member_is_refused(server: Served, tmp_path: Path) -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("64/lib/libopenblas.a", "x")
        zf.writestr("64/../../evil.dll", "x")
    data = buf.getvalue()
    name = "openblas64_-v0.3.10-win_amd64-gcc_7_1_0.zip"
    server.files[f"/v0.3.10/{name}"] = (data, "ok")
    table = write_table(tmp_path, {name: sha(data)})
    result = run_cli(["--base-url", server.base(), "--sha256-table", str(table),
                      "--openblas-version", "v0.3.10", "--plat", "win_amd64", "--ilp64"], tmp_path)
    assert result.returncode == 1
    assert "'..' component" in result.stderr.splitlines()[-1]
    assert leftovers(tmp_path) == []


def test_zip_symlink_escaping_is_refused(tmp_path: Path) -> None:
    sys.path.insert(0, str(ROOT))
    from multibuild import MultibuildError
    from multibuild.deps.openblas import safe_extract_zip

    archive = tmp_path / "a.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        info = zipfile.ZipInfo("64/lib/libopenblas.dll")
        info.external_attr = (0o120777 << 16)
        zf.writestr(info, "../../../outside")
    dest = tmp_path / "dest"
    dest.mkdir()
    with pytest.raises(MultibuildError, match="points outside the archive"):
        safe_extract_zip(archive, dest, "a.zip")
    assert list(dest.iterdir()) == []


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_signal_mid_download_leaves_nothing(signum: int, server: Served, tmp_path: Path) -> None:
    name = "openblas-v0.3.10-manylinux2014_x86_64.tar.gz"
    data = good_unix()
    server.files[f"/v0.3.10/{name}"] = (data, "trickle")
    table = write_table(tmp_path, {name: sha(data)})
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("OPENBLAS_", "NPY_", "PLAT", "MB_ML"))}
    env.update({"MB_ML_VER": "2014", "OPENBLAS_CACHE_DIR": str(tmp_path / "cache")})
    proc = subprocess.Popen(
        [sys.executable, str(CLI), "--source", "tarball", "--base-url", server.base(),
         "--sha256-table", str(table), "--openblas-version", "v0.3.10", "--plat", "x86_64",
         "--lp64"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    deadline = time.monotonic() + 60
    while not list((tmp_path / "cache").rglob("*.part")) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert list((tmp_path / "cache").rglob("*.part"))  # mid-download
    proc.send_signal(signum)
    _out, err = proc.communicate(timeout=30)
    assert proc.returncode == 128 + signum, err
    assert "interrupted" in err and "Traceback" not in err
    assert leftovers(tmp_path) == []
