"""Library recipes: the table of source archives and the verified fetch behind the shell.

``recipes.json`` holds, for each library builder of ``library_builders.sh``, its default version,
archive file name and URL templates and the sha256 of every known version. The shell asks this
module for a recipe's URL and checksum (``resolve``), and has it download, verify and unpack
archives (``fetch-unpack`` behind ``fetch_unpack``; ``untar``):

- downloads go through the project's download layer (bounded retries, Content-Length check,
  written to a temporary name and renamed only once the sha256 matched);
- an archive already in the archive directory is reused, checked against the same sha256;
- an archive with no known checksum (a version the table does not know, an arbitrary
  ``fetch_unpack`` URL) has its sha256 recorded on first use in the wheels repository's lock
  file (``archives.lock``, committed with it), with a one-line notice; every later run checks
  it against that record, and ``MB_REQUIRE_SHA256=1`` refuses archives recorded nowhere;
- an archive is also found in the archive directory under multibuild's name for it (the last
  part of multibuild's URL: ``xz-5.4.1.tar.gz`` where the table fetches ``.tar.xz``);
- unpacking refuses members that would land outside the target (absolute paths, ``..``,
  escaping links, special files) and replaces what an earlier unpack left.

The two functions under "Download and extraction" are the only places that touch the download
and extraction layers.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import sys
import tarfile
import tempfile
import time
import urllib.parse
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from multibuild import MultibuildError, run_cli
from multibuild.core.shellvars import records

TABLE = Path(__file__).with_name("recipes.json")
SEEDED_ARCHIVES = Path(__file__).parents[1] / "archives"  # multibuild's pre-seeded archives
_SHA256 = re.compile(r"[0-9a-f]{64}")
_VERSION = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+~-]*")
_UNTAR_TYPES = (".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz", ".tbz2", ".tar.xz", ".txz", ".zip")


# --------------------------------------------------------------------------------------------
# Download and extraction: the project's one download layer (multibuild.net.fetch) and safe
# extractors (multibuild.net.extract). Imported lazily: most calls of this module need neither.


def download_verified(url: str, directory: Path, name: str, sha256: str | None,
                      attempts: int, backoff: float) -> Path:
    """Fetch ``url`` as ``directory/name`` with bounded retries; with ``sha256``, a file that
    does not match is refused and never lands under ``name``."""
    from multibuild.net.fetch import Http, download

    if "/" in name or name.startswith("."):
        raise MultibuildError(f"refusing archive name {name!r}")
    target = directory / name
    parts = urllib.parse.urlsplit(url)
    if parts.scheme == "file":  # a local archive (curl's file://, as multibuild's took it)
        copy_verified(Path(urllib.parse.unquote(parts.path)), target, sha256)
        return target
    download(Http(attempts=attempts, backoff=backoff), url, target, sha256=sha256)
    return target


def copy_verified(source: Path, target: Path, sha256: str | None) -> None:
    """Copy the local archive ``source`` to ``target`` atomically, refusing a sha256 mismatch."""
    from multibuild.core.files import atomic_path
    from multibuild.net.fetch import sha256_file

    if not source.is_file():
        raise MultibuildError(f"{source}: no such archive")
    with atomic_path(target) as tmp:
        shutil.copyfile(source, tmp)
        actual = sha256_file(tmp)
        if sha256 and actual != sha256.lower():
            raise MultibuildError(f"{target.name}: sha256 mismatch: expected {sha256}, "
                                  f"the file has {actual}; file rejected")


def extract_safely(archive: Path, dest: Path, label: str) -> None:
    """Extract a tar (any compression) or zip archive into the empty directory ``dest``,
    refusing it on any member that would escape ``dest``; members keep their archived
    modification times."""
    from multibuild.net.extract import safe_extract_tar, safe_extract_zip

    if zipfile.is_zipfile(archive):
        safe_extract_zip(archive, dest, label)
    else:
        safe_extract_tar(archive, dest, label)
    _restore_mtimes(archive, dest)


def _restore_mtimes(archive: Path, dest: Path) -> None:
    # Autotools trees rely on them: a configure.ac newer than configure or aclocal.m4 makes
    # `make` regenerate them with whatever automake the host has (or fail without one).
    stamps: list[tuple[Path, float, bool]] = []
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as zf:
            for info in zf.infolist():
                when = time.mktime((*info.date_time, 0, 0, -1))
                stamps.append((dest / info.filename.rstrip("/"), when, info.is_dir()))
    else:
        with tarfile.open(archive, "r:*") as tar:
            stamps.extend((dest / member.name, float(member.mtime), member.isdir())
                          for member in tar)
    # Files first, then directories from the deepest (writing a file touches its directory).
    for path, when, _is_dir in sorted(stamps, key=lambda s: (s[2], -len(s[0].parts))):
        if path.is_symlink() or path.exists():
            os.utime(path, (when, when), follow_symlinks=False)


def sha256_of(path: Path) -> str:
    from multibuild.net.fetch import sha256_file

    return sha256_file(path)


# --------------------------------------------------------------------------------------------
# The table.


@dataclass(frozen=True)
class Known:
    sha256: str | None
    verified: bool
    evidence: str


@dataclass(frozen=True)
class Recipe:
    key: str
    function: str
    var: str
    version: str
    file: str
    url: str
    known: Mapping[str, Known]
    legacy: Mapping[str, str]
    multibuild_file: str = ""  # multibuild's name for the archive, where it differs

    def _templates(self, version: str) -> tuple[str, str, str]:
        file, url, other = self.file, self.url, self.multibuild_file
        legacy = self.legacy
        if legacy:
            applies = False
            if "below" in legacy:
                applies = _version_key(version) < _version_key(legacy["below"])
            elif "match" in legacy:
                applies = re.fullmatch(legacy["match"], version) is not None
            if applies:
                file = legacy.get("file", file)
                url = legacy.get("url", url)
                other = legacy.get("multibuild_file", other)
        return file, url, other

    def _fields(self, version: str) -> dict[str, str]:
        return {"version": version, "short": ".".join(version.split(".")[:2])}

    def names(self, version: str) -> tuple[str, str]:
        """(archive file name, upstream URL) of ``version``."""
        file_t, url_t, _ = self._templates(version)
        fields = self._fields(version)
        file = file_t.format(**fields)
        return file, url_t.format(file=file, **fields)

    def also_named(self, version: str) -> list[str]:
        """Other names an archive of ``version`` may have in an archive directory: the one
        multibuild gave it (the last part of its URL), when it differs from ours."""
        other = self._templates(version)[2].format(**self._fields(version))
        return [other] if other and other != self.names(version)[0] else []


def _version_key(version: str) -> tuple[tuple[int, str], ...]:
    return tuple((int(p), "") if p.isdigit() else (-1, p) for p in re.split(r"[.+~-]", version))


def _recipe(key: str, data: Mapping[str, Any]) -> Recipe:
    known: dict[str, Known] = {}
    for version, entry in data["known"].items():
        sha = entry.get("sha256")
        if sha is not None and not _SHA256.fullmatch(sha):
            raise MultibuildError(f"{TABLE.name}: {key} {version}: bad sha256 {sha!r}")
        known[version] = Known(sha, bool(entry.get("verified")), str(entry.get("evidence", "")))
    return Recipe(key=key, function=data["function"], var=data["var"], version=data["version"],
                  file=data["file"], url=data["url"], known=known,
                  legacy=dict(data.get("legacy", {})),
                  multibuild_file=str(data.get("multibuild_file", "")))


def load_table(path: Path = TABLE) -> dict[str, Recipe]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return {key: _recipe(key, entry) for key, entry in data["recipes"].items()}
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise MultibuildError(f"cannot read the recipe table {path}: {exc}") from None


@dataclass(frozen=True)
class Resolved:
    version: str
    file: str
    url: str
    sha256: str | None
    also_named: tuple[str, ...] = ()

    def shell(self) -> str:
        values = {"mb_recipe_version": self.version, "mb_recipe_file": self.file,
                  "mb_recipe_url": self.url, "mb_recipe_sha256": self.sha256 or "",
                  "mb_recipe_also_named": " ".join(self.also_named)}
        return records(values)


def resolve(recipe: Recipe, *, caller: str, version: str = "", sha256: str = "",
            base_url: str = "", mirror: str = "") -> Resolved:
    """The archive of ``recipe`` at ``version`` (default: the table's), its URL (``base_url``,
    else ``mirror``, else upstream: both are directories holding the archive under its file
    name) and the sha256 it must have (``sha256``, else the table's; none for a version the
    table does not know: the fetch then checks it against, or records it in, the lock file)."""
    version = version or recipe.version
    if not _VERSION.fullmatch(version):
        raise MultibuildError(f"{caller}: {recipe.var}_VERSION={version!r} is not a version")
    if sha256 and not _SHA256.fullmatch(sha256.lower()):
        raise MultibuildError(f"{caller}: {recipe.var}_SHA256={sha256!r} is not a sha256 "
                              "(64 hexadecimal digits)")
    file, url = recipe.names(version)
    known = recipe.known.get(version)
    expected = sha256.lower() or (known.sha256 if known else None)
    for name, base in (("download URL", base_url), ("MB_SOURCE_MIRROR", mirror)):
        if base:
            if not urllib.parse.urlsplit(base).scheme:
                raise MultibuildError(f"{caller}: {name} {base!r} is not a URL")
            url = base.rstrip("/") + "/" + file
            break
    return Resolved(version, file, url, expected, tuple(recipe.also_named(version)))


def known_sha256(url: str, table: Mapping[str, Recipe]) -> str | None:
    """The table's sha256 of the upstream archive at ``url``, if it is one of them."""
    for recipe in table.values():
        for version, known in recipe.known.items():
            if known.sha256 and recipe.names(version)[1] == url:
                return known.sha256
    return None


# --------------------------------------------------------------------------------------------
# Archives.


def _check_name(name: str, what: str) -> None:
    if not name or "/" in name or "\\" in name or name.startswith(".") or "\0" in name:
        raise MultibuildError(f"{what}: bad archive name {name!r}")


@dataclass(frozen=True)
class FetchPolicy:
    attempts: int = 4
    backoff: float = 1.0
    require_sha256: bool = False


LOCK_FILE = "archives.lock"
LOCK_HEADER = (
    "# sha256 of the source archives this wheels repository's builds use that no table or\n"
    "# <NAME>_SHA256 vouches for, recorded on first use by multibuild/deps/recipes.py: "
    "commit this\n"
    "# file. Every later run checks those archives against it (a mismatch stops the build);\n"
    "# MB_REQUIRE_SHA256=1 refuses archives recorded nowhere.\n"
)


def read_lock(lock: Path) -> dict[str, str]:
    """The lock file's {archive name: sha256} (sha256sum's format; comments skipped)."""
    from multibuild.net.fetch import parse_manifest

    try:
        return parse_manifest(lock.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError):
        return {}


def record_in_lock(lock: Path, name: str, sha256: str) -> None:
    """Add ``name``'s sha256 to the lock file: merged with what is on disk, written whole
    (temp name, then rename), under an flock kept in the cache, not beside the committed
    file."""
    from multibuild.core.files import atomic_write, file_lock

    cache = Path(os.environ.get("MB_CACHE_DIR") or Path.home() / ".cache" / "wheels")
    digest = hashlib.sha256(str(lock.resolve()).encode()).hexdigest()[:16]
    with file_lock(cache / "locks" / f"archives-{digest}.lock"):
        entries = read_lock(lock)
        entries[name] = sha256
        lock.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(lock, LOCK_HEADER + "".join(f"{entries[n]}  {n}\n"
                                                 for n in sorted(entries)))


def ensure_archive(url: str, name: str, sha256: str | None, archive_dir: Path, *,
                   caller: str, policy: FetchPolicy, lock: Path,
                   also_named: Sequence[str] = (), seeded: Path = SEEDED_ARCHIVES) -> Path:
    """The archive ``name`` in ``archive_dir`` — already there (under ``name`` or one of
    ``also_named``, multibuild's names for it), pre-seeded in ``seeded``, or downloaded from
    ``url`` — checked against ``sha256`` (explicit or the table's, which is the sha256 of the
    file called ``name``), else against its record in ``lock``; with neither, its sha256 is
    recorded there (one notice line), unless ``policy.require_sha256`` refuses it."""
    for each in (name, *also_named):
        _check_name(each, caller)
    archive_dir.mkdir(parents=True, exist_ok=True)
    present = next((n for n in (name, *also_named) if (archive_dir / n).is_file()), None)
    if present is None and (seeded / name).is_file():
        from multibuild.core.files import atomic_path

        with atomic_path(archive_dir / name) as tmp:
            shutil.copyfile(seeded / name, tmp)
        present = name
    local = present or name
    recorded = read_lock(lock)
    expected, source = (sha256, "expected") if sha256 and local == name else (None, "")
    if expected is None and local in recorded:
        expected, source = recorded[local], f"recorded in {lock}"
    if expected is None and policy.require_sha256:
        raise MultibuildError(
            f"{caller}: no sha256 known for {local} (not in the recipe table, no <NAME>_SHA256, "
            f"not recorded in {lock}) and MB_REQUIRE_SHA256=1 refuses it")
    if present is None:
        try:
            download_verified(url, archive_dir, name, expected, policy.attempts,
                              policy.backoff)
        except MultibuildError as exc:
            raise MultibuildError(f"{caller}: {exc}") from None
    target = archive_dir / local
    actual = sha256_of(target)
    if expected is not None and actual != expected:
        raise MultibuildError(
            f"{caller}: {target} has sha256 {actual}, {source} {expected}; remove it to "
            "download it again" + (f", or its line in {lock} if the new file is right"
                                   if source != "expected" else ""))
    if expected is None:
        record_in_lock(lock, local, actual)
        print(f"notice: {caller}: {local} is in no recipe table; its sha256 {actual} is now "
              f"recorded in {lock} (commit it: later runs check the archive against it)",
              file=sys.stderr)
    return target


def unpack_into(archive: Path, dest: Path) -> list[str]:
    """Extract ``archive`` into ``dest``, each top-level entry replacing any older one of the
    same name; the top-level names, sorted."""
    dest.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=dest, prefix=".mb-unpack-") as scratch:
        extract_safely(archive, Path(scratch), archive.name)
        entries = sorted(os.listdir(scratch))
        if not entries:
            raise MultibuildError(f"{archive.name}: the archive is empty")
        for entry in entries:
            target = dest / entry
            if target.is_dir() and not target.is_symlink():
                shutil.rmtree(target)
            elif target.exists() or target.is_symlink():
                target.unlink()
            os.rename(Path(scratch) / entry, target)
    return entries


def untar(archive: Path, dest: Path) -> list[str]:
    """multibuild's ``untar``: the archive type comes from the file name."""
    if not archive.name.endswith(_UNTAR_TYPES):
        raise MultibuildError(f"untar: unknown archive type: {archive} (expected "
                              + ", ".join(_UNTAR_TYPES) + ")")
    if not archive.is_file():
        raise MultibuildError(f"untar: no such file: {archive}")
    return unpack_into(archive, dest)


# --------------------------------------------------------------------------------------------
# Documentation.


def markdown_table(table: Mapping[str, Recipe]) -> str:
    lines = ["| function | version (variable) | source archive | sha256 from |",
             "|---|---|---|---|"]
    for recipe in table.values():
        _file, url = recipe.names(recipe.version)
        known = recipe.known.get(recipe.version)
        if known is None or known.sha256 is None:
            origin = "none known: set the `_SHA256` variable"
        elif known.verified:
            origin = "the archive (verified here)"
        else:
            origin = "public build files (not verified here)"
        variable = "OPENSSL_ROOT" if recipe.var == "OPENSSL" else f"{recipe.var}_VERSION"
        lines.append(f"| `{recipe.function}` | {recipe.version} (`{variable}`) | {url} "
                     f"| {origin} |")
    return "\n".join(lines) + "\n"


def shell_defaults(table: Mapping[str, Recipe]) -> str:
    lines = [
        "#!/usr/bin/env bash",
        "# Default versions of the library recipes, multibuild's variable names (generated from",
        "# recipes.json by `python -m multibuild.deps.recipes shell`; do not edit). "
        "Set one before a",
        "# build_* call to build another version; one without a known sha256 needs <NAME>_SHA256.",
        "# shellcheck disable=SC2034",
    ]
    for recipe in table.values():
        if recipe.var == "OPENSSL":  # multibuild names OpenSSL by its archive root
            lines.append(f"OPENSSL_ROOT=${{OPENSSL_ROOT:-openssl-{recipe.version}}}")
        else:
            lines.append(f"{recipe.var}_VERSION=${{{recipe.var}_VERSION:-{recipe.version}}}")
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------------------------
# Command line (called by library_builders.sh and common_utils.sh through mb_python).


def _flag(value: str) -> bool:
    return value.strip().lower() not in ("", "0", "no", "false", "off")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m multibuild.deps.recipes", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    res = sub.add_parser("resolve", help="print a recipe's version, file, URL and sha256 "
                         "as shell assignments")
    res.add_argument("key")
    res.add_argument("--caller", default="recipe")
    res.add_argument("--var", default="", help="the shell's variable prefix (checked)")
    res.add_argument("--version", default="")
    res.add_argument("--sha256", default="")
    res.add_argument("--base-url", default="")
    res.add_argument("--mirror", default="")
    fetch = sub.add_parser("fetch-unpack", help="download (verified) and unpack an archive; "
                           "print the unpacked top-level names")
    fetch.add_argument("url")
    fetch.add_argument("--name", default="")
    fetch.add_argument("--sha256", default="")
    fetch.add_argument("--archive-dir", default="archives")
    fetch.add_argument("--dest", default=".")
    fetch.add_argument("--caller", default="fetch_unpack")
    fetch.add_argument("--also-named", action="append", default=[],
                       help="another name the archive may have in the archive directory")
    fetch.add_argument("--lock", default=LOCK_FILE,
                       help="the lock file recording archives no table knows")
    fetch.add_argument("--require-sha256", default="0")
    fetch.add_argument("--attempts", default="4")
    fetch.add_argument("--backoff", default="1")
    unt = sub.add_parser("untar", help="extract an archive safely into --dest")
    unt.add_argument("archive")
    unt.add_argument("--dest", default=".")
    sub.add_parser("table", help="the recipe table in Markdown (docs/library-builders.md)")
    sub.add_parser("shell", help="the default versions as shell assignments (recipes.sh)")
    return parser


def _policy(args: argparse.Namespace) -> FetchPolicy:
    try:
        attempts = max(1, int(args.attempts))
        backoff = max(0.0, float(args.backoff))
    except ValueError:
        raise MultibuildError(f"{args.caller}: MB_RETRIES={args.attempts!r} / "
                              f"MB_RETRY_BACKOFF={args.backoff!r} must be numbers") from None
    return FetchPolicy(attempts, backoff, _flag(args.require_sha256))


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)

    def body() -> int:
        if args.command == "resolve":
            table = load_table()
            if args.key not in table:
                raise MultibuildError(f"{args.caller}: no recipe {args.key!r} in {TABLE.name}")
            recipe = table[args.key]
            if args.var and args.var != recipe.var:
                raise MultibuildError(f"{args.caller}: recipe {args.key} uses {recipe.var}_*, "
                                      f"not {args.var}_*")
            resolved = resolve(recipe, caller=args.caller, version=args.version,
                               sha256=args.sha256, base_url=args.base_url, mirror=args.mirror)
            sys.stdout.write(resolved.shell())
        elif args.command == "fetch-unpack":
            name = args.name or Path(urllib.parse.urlsplit(args.url).path).name
            sha = args.sha256.lower()
            if sha and not _SHA256.fullmatch(sha):
                raise MultibuildError(f"{args.caller}: {args.sha256!r} is not a sha256")
            archive = ensure_archive(args.url, name, sha or known_sha256(args.url, load_table()),
                                     Path(args.archive_dir), caller=args.caller,
                                     policy=_policy(args), lock=Path(args.lock),
                                     also_named=[n for n in args.also_named if n])
            entries = unpack_into(archive, Path(args.dest))
            sys.stdout.write("".join(f"{entry}\n" for entry in entries))
        elif args.command == "untar":
            untar(Path(args.archive), Path(args.dest))
        elif args.command == "table":
            sys.stdout.write(markdown_table(load_table()))
        elif args.command == "shell":
            sys.stdout.write(shell_defaults(load_table()))
        return 0

    return run_cli(body, 1)


if __name__ == "__main__":
    sys.exit(main())
