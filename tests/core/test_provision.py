"""multibuild/core/provision.py: one policy for installing system packages (the tests' LLVM,
the build's ccache, install_gfortran), exercised with a stand-in apt-get on PATH."""

from __future__ import annotations

import io
import os
import sys
from pathlib import Path

import pytest

from multibuild.core.provision import SystemPackage, ensure

pytestmark = pytest.mark.skipif(sys.platform == "darwin", reason="apt-get is the Linux path")


def fake_apt(tmp: Path, *, works: bool = True) -> tuple[Path, Path]:
    """A PATH with an apt-get that logs its arguments and "installs" a tool into bin/."""
    bin_dir, log = tmp / "bin", tmp / "apt.log"
    bin_dir.mkdir()
    for tool in ("env", "sh", "chmod"):
        (bin_dir / tool).symlink_to(f"/usr/bin/{tool}" if Path(f"/usr/bin/{tool}").exists()
                                    else f"/bin/{tool}")
    install = ('for p in "$@"; do case "$p" in -*|install) ;; *) '
               f'printf "#!/bin/sh\\n" > "{bin_dir}/$p-tool"; chmod +x "{bin_dir}/$p-tool";; '
               'esac; done') if works else 'echo "E: Unable to locate package $3" >&2; exit 100'
    (bin_dir / "apt-get").write_text(
        f'#!/bin/sh\necho "$DEBIAN_FRONTEND $*" >> "{log}"\nshift 2\n'
        f'case "$1" in update) exit 0;; esac\n{install}\n')
    (bin_dir / "apt-get").chmod(0o755)
    return bin_dir, log


def test_installs_a_missing_package_as_root(tmp_path: Path) -> None:
    bin_dir, log = fake_apt(tmp_path)
    out = io.StringIO()
    still = ensure([SystemPackage("ccache-tool", apt="ccache")],
                   {"PATH": str(bin_dir), "MB_EUID": "0"}, who="wheels", stream=out)
    assert still == []
    assert out.getvalue() == "wheels: ccache-tool not on PATH; installing ccache with apt-get\n"
    assert log.read_text().splitlines() == [
        "noninteractive -y -q install --no-install-recommends ccache"]


def test_present_packages_and_non_root_install_nothing(tmp_path: Path) -> None:
    bin_dir, log = fake_apt(tmp_path)
    (bin_dir / "there").write_text("#!/bin/sh\n")
    (bin_dir / "there").chmod(0o755)
    env = {"PATH": str(bin_dir), "MB_EUID": "0"}
    assert ensure([SystemPackage("there", apt="there")], env, stream=io.StringIO()) == []
    missing = SystemPackage("ccache-tool", apt="ccache")
    # Not root, no sudo on PATH: nothing attempted, the package reported missing.
    assert ensure([missing], {**env, "MB_EUID": "1000"}, stream=io.StringIO()) == [missing]
    assert not log.exists()


def test_a_failed_install_updates_once_and_says_why_in_one_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bin_dir, log = fake_apt(tmp_path, works=False)
    package = SystemPackage("nosuch-tool", apt="nosuch")
    still = ensure([package], {"PATH": str(bin_dir), "MB_EUID": "0"}, stream=io.StringIO())
    assert still == [package]
    calls = log.read_text().splitlines()
    assert len(calls) == 3 and "update" in calls[1]
    err = capsys.readouterr().err
    assert err == "wheels: apt-get could not install nosuch (E: Unable to locate package nosuch)\n"


def test_absolute_probe_paths(tmp_path: Path) -> None:
    probe = tmp_path / "llvm-lipo"
    assert ensure([SystemPackage(str(probe))], {"PATH": os.defpath}) == [
        SystemPackage(str(probe))]
    probe.write_text("")
    assert ensure([SystemPackage(str(probe))], {"PATH": os.defpath}) == []


def test_a_build_without_ccache_says_so_in_one_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """./wheels build's ccache: no installer reachable (no apt-get on PATH) -> one line, and
    the build goes on; USE_CCACHE=0 -> nothing tried, nothing said."""
    from multibuild.build.incremental import provision_ccache

    empty = tmp_path / "empty"
    empty.mkdir()
    env = {"PATH": str(empty), "MB_EUID": "0", "MB_BUILD_MODE": "native"}
    assert provision_ccache({**env, "USE_CCACHE": "1"}) is False
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "building without it" in err and "USE_CCACHE=0" in err
    assert provision_ccache({**env, "USE_CCACHE": "0"}) is False
    assert capsys.readouterr() == ("", "")
