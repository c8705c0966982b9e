"""Nightly versions that sort: a PEP 440 dev release stamped with the commit's date and time.

``2.3.0.dev0+git20250102.abc`` (or the release ``2.2.6``) built from the commit of
2025-01-02 10:00:00 UTC becomes ``2.3.0.dev20250102100000`` (``2.2.7.dev20250102100000``):
no local segment (indexes refuse those), later commits sort later, and every nightly sorts
above the last release, so ``pip install --pre --index-url NIGHTLY`` picks the newest.

The version is written into a built, tested wheel (file name, ``.dist-info`` and ``.data``
directory names, ``METADATA``, ``RECORD``) rather than into the build, so what was tested is
what is uploaded, byte for byte apart from the metadata. A version the package reports at run
time from its own code (``__version__``) keeps the build's value.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import subprocess
import sys
import zipfile
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path

from packaging.utils import InvalidWheelFilename, parse_wheel_filename
from packaging.version import InvalidVersion, Version

from multibuild import MultibuildError, run_cli
from multibuild.core.files import atomic_path

_SIGNATURES = ("RECORD.jws", "RECORD.p7s")


def nightly_version(base: str, stamp: datetime | None = None, dev: int | None = None) -> str:
    """The nightly version for a build whose own version is ``base``.

    The dev number is ``dev`` when given (a CI build number), else the UTC date and time of
    ``stamp`` as ``YYYYMMDDhhmmss`` (default: now). Use one scheme per channel.
    """
    try:
        version = Version(base)
    except InvalidVersion:
        raise MultibuildError(f"invalid version {base!r}") from None
    release = list(version.release)
    pre = ""
    if version.pre is not None:
        pre = f"{version.pre[0]}{version.pre[1]}"
    elif not version.is_devrelease:
        release[-1] += 1  # a final or post release: the nightly is of the next one
    if dev is None:
        when = (stamp or datetime.now(timezone.utc)).astimezone(timezone.utc)
        dev = int(when.strftime("%Y%m%d%H%M%S"))
    if dev < 0:
        raise MultibuildError(f"dev number must not be negative: {dev}")
    epoch = f"{version.epoch}!" if version.epoch else ""
    return str(Version(f"{epoch}{'.'.join(map(str, release))}{pre}.dev{dev}"))


def commit_stamp(repo_dir: Path, ref: str = "HEAD") -> datetime:
    """The committer date of ``ref`` in ``repo_dir`` (the same for every job of a build)."""
    done = subprocess.run(["git", "-C", str(repo_dir), "log", "-1", "--format=%ct", ref],
                          capture_output=True, text=True, check=False)
    if done.returncode != 0 or not done.stdout.strip():
        raise MultibuildError(f"cannot read the commit date of {ref} in {repo_dir}")
    return datetime.fromtimestamp(int(done.stdout.strip()), timezone.utc)


def _record_hash(data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"sha256={digest}"


def _set_metadata_version(text: str, version: str) -> str:
    head, sep, body = text.partition("\n\n")
    lines = head.split("\n")
    found = False
    for i, line in enumerate(lines):
        if line.startswith("Version:"):
            lines[i] = f"Version: {version}"
            found = True
            break
    if not found:
        raise MultibuildError("METADATA has no Version field")
    return "\n".join(lines) + sep + body


def rewrite_wheel_version(wheel: Path, version: str, dest: Path | None = None) -> Path:
    """Write a copy of ``wheel`` with version ``version`` into ``dest`` (default: its directory).

    The copy is written under a temporary name and renamed; the original is left alone.
    """
    try:
        _name, _old, build, _tags = parse_wheel_filename(wheel.name)
        new = Version(version)
    except (InvalidWheelFilename, InvalidVersion) as exc:
        raise MultibuildError(f"{wheel.name}: {exc}") from None
    parts = wheel.name[: -len(".whl")].split("-")
    dist = parts[0]
    tag_part = "-".join(parts[-3:])
    build_part = f"-{build[0]}{build[1]}" if build else ""
    new_name = f"{dist}-{new}{build_part}-{tag_part}.whl"
    dest = dest or wheel.parent
    dest.mkdir(parents=True, exist_ok=True)
    try:
        source = zipfile.ZipFile(wheel)
    except (OSError, zipfile.BadZipFile) as exc:
        raise MultibuildError(f"{wheel}: cannot read wheel ({exc})") from None
    with source:
        infos = source.infolist()
        dist_infos = {i.filename.split("/")[0] for i in infos
                      if i.filename.count("/") == 1 and i.filename.endswith(".dist-info/METADATA")}
        if len(dist_infos) != 1:
            raise MultibuildError(f"{wheel.name}: expected one .dist-info directory")
        old_info = dist_infos.pop()
        prefix = old_info[: -len(".dist-info")].rsplit("-", 1)[0]
        renames = {
            old_info: f"{prefix}-{new}.dist-info",
            old_info[: -len(".dist-info")] + ".data": f"{prefix}-{new}.data",
        }
        new_info = renames[old_info]
        record_name = f"{new_info}/RECORD"
        path = dest / new_name
        with atomic_path(path) as tmp:
            records: list[str] = []
            with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as out:
                for info in infos:
                    top, _, rest = info.filename.partition("/")
                    target = f"{renames.get(top, top)}/{rest}" if rest else info.filename
                    if top == old_info and rest in ("RECORD", *_SIGNATURES):
                        continue
                    data = source.read(info)
                    if top == old_info and rest == "METADATA":
                        data = _set_metadata_version(data.decode("utf-8"), str(new)).encode()
                    clone = zipfile.ZipInfo(target, date_time=info.date_time)
                    clone.external_attr = info.external_attr
                    clone.compress_type = zipfile.ZIP_DEFLATED
                    out.writestr(clone, data)
                    if not target.endswith("/"):
                        records.append(f"{target},{_record_hash(data)},{len(data)}")
                records.append(f"{record_name},,")
                record = zipfile.ZipInfo(record_name, date_time=infos[-1].date_time)
                record.external_attr = 0o644 << 16
                record.compress_type = zipfile.ZIP_DEFLATED
                out.writestr(record, "\n".join(records) + "\n")
    return path


def wheel_version(wheel: Path) -> str:
    return str(parse_wheel_filename(wheel.name)[1])


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m multibuild.ci.nightly",
        description="Give built wheels a nightly version (dev release stamped with the commit "
        "date) that sorts after every earlier nightly and the last release.",
    )
    parser.add_argument("wheels", nargs="+", type=Path, help="wheels to rewrite")
    parser.add_argument("-o", "--output", type=Path, help="directory for the rewritten wheels")
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--repo-dir", type=Path, help="stamp from this checkout's HEAD commit")
    group.add_argument("--date", help="stamp as ISO date/time, e.g. 2025-01-02T10:00:00Z")
    group.add_argument("--dev", type=int, help="use this dev number (a CI build number)")
    parser.add_argument("--replace", action="store_true", help="remove the original wheels")
    args = parser.parse_args(argv)

    def body() -> int:
        stamp = None
        if args.repo_dir:
            stamp = commit_stamp(args.repo_dir)
        elif args.date:
            try:
                stamp = datetime.fromisoformat(args.date.replace("Z", "+00:00"))
            except ValueError:
                raise MultibuildError(f"--date {args.date!r}: not an ISO date") from None
            if stamp.tzinfo is None:
                stamp = stamp.replace(tzinfo=timezone.utc)
        for wheel in args.wheels:
            version = nightly_version(wheel_version(wheel), stamp, args.dev)
            path = rewrite_wheel_version(wheel, version, args.output)
            if args.replace and path != wheel:
                wheel.unlink()
            print(path)
        return 0

    return run_cli(body, 1)


if __name__ == "__main__":
    sys.exit(main())
