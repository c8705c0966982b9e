"""``tools/wheel-uploader``: release a complete, checked set of staged wheels to PyPI.

terryfy's interface: ``wheel-uploader [-u URL] [-w DIR] [-t TYPE] [-c] [-n] [-s] [-r REPO] [-v]
PKG VERSION``. In order, stopping at the first problem with one line naming the file and why:

1. check every input, and resolve the target index (``-r NAME`` from ``~/.pypirc``, PyPI's
   and TestPyPI's addresses built in, or ``--repository-url``) before any download;
2. download the wheels of PKG VERSION of the platform TYPE from the channel at URL
   (``multibuild.release.download``: every file verified, resumable, interruptible);
3. refuse an incomplete set (``--allow-incomplete`` overrides), then ``twine check --strict``
   the full set and sign it with gpg on ``-s``;
4. read the target index's simple page: files already there with the same sha256 are skipped
   (for any index, PyPI included); a file there with *different* content stops everything
   before the first upload;
5. upload the missing files one at a time with twine (``-n``: everything but this), each under
   a timeout; a rerun after an interruption uploads what is still missing.
"""

from __future__ import annotations

import argparse
import configparser
import os
import re
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from multibuild import MultibuildError, UsageError, run_cli
from multibuild.core.refs import shown
from multibuild.net.fetch import (
    FetchError,
    Http,
    Interrupted,
    check_url,
    exit_status,
    origin,
    redact_url,
    sigterm_raises,
)
from multibuild.net.index import check_project_name, parse_release_version
from multibuild.net.wheelcheck import BadDistribution, verify_distribution
from multibuild.release.download import (
    DEFAULT_STAGING_URL,
    OneLineParser,
    RemoteFile,
    add_source_arguments,
    anaconda_api_url,
    anaconda_org,
    check_complete,
    check_destination,
    download_all,
    expected_slots,
    http_from_args,
    is_anaconda,
    list_files,
    list_simple,
    matrix_pairs,
    nonempty,
    parse_expect,
    positive_float,
    say,
    wheel_slots,
)
from multibuild.release.upload import Redactor, run_bounded

# -t TYPE -> platform key prefixes (the platform table's keys: linux-x86_64, macos-arm64, ...)
TYPES: dict[str, tuple[str, ...]] = {
    "all": ("",),
    "macosx": ("macos-",),
    "macos": ("macos-",),
    "win": ("windows-",),
    "windows": ("windows-",),
    "manylinux": ("linux-",),
    "manylinux1": ("linux-",),
    "manylinux2014": ("linux-",),
    "linux": ("linux-", "musllinux-"),
    "musllinux": ("musllinux-",),
    "any": ("any",),
}
# twine's built-in repositories: (upload URL, simple index).
KNOWN_REPOSITORIES = {
    "pypi": ("https://upload.pypi.org/legacy/", "https://pypi.org/simple/"),
    "testpypi": ("https://test.pypi.org/legacy/", "https://test.pypi.org/simple/"),
}


def of_type(filename: str, kind: str) -> bool:
    prefixes = TYPES[kind]
    return any(plat.startswith(prefixes) for _py, plat in wheel_slots(filename))


# --------------------------------------------------------------------------- the target index


@dataclass(frozen=True)
class Target:
    """Where the release goes: twine's arguments, and the simple page to read first."""

    label: str
    twine_args: tuple[str, ...]
    simple_url: str
    username: str | None = None
    password: str | None = None
    upload_url: str = ""  # the credentials' origin: they are sent nowhere else


def simple_from_upload(url: str) -> str:
    """The simple index beside an upload URL (``.../legacy/`` -> ``.../simple/``)."""
    for upload, simple in KNOWN_REPOSITORIES.values():
        if url.rstrip("/") == upload.rstrip("/"):
            return simple
    base = url.rstrip("/")
    if base.endswith("/legacy"):
        return base[: -len("legacy")] + "simple/"
    return base + "/simple/"


def resolve_target(args: argparse.Namespace, environ: Mapping[str, str]) -> Target:
    """The target index, checked before anything is downloaded."""
    user = environ.get("TWINE_USERNAME")
    password = environ.get("TWINE_PASSWORD")
    if args.repository_url:
        url = check_url(args.repository_url, "--repository-url")
        simple = check_url(args.index_url or simple_from_upload(url), "--index-url")
        return Target(redact_url(url), ("--repository-url", url), simple, user, password, url)
    config_file = Path(args.config_file or "~/.pypirc").expanduser()
    config = configparser.RawConfigParser()
    if os.path.lexists(config_file) and not config_file.is_file():
        # (a missing file is twine's default: its built-in pypi and testpypi)
        raise UsageError(f"--config-file {shown(str(config_file))}: not a regular file")
    if config_file.is_file():
        try:
            config.read(config_file, encoding="utf-8")
        except (configparser.Error, UnicodeDecodeError) as exc:
            problem = str(exc).splitlines()[0]
            raise MultibuildError(f"{config_file}: not a valid .pypirc ({problem})") from None
    name = args.repository
    twine_args = ("-r", name, "--config-file", str(config_file))
    if config.has_section(name):
        section = config[name]
        url = section.get("repository") or KNOWN_REPOSITORIES.get(name, ("", ""))[0]
        if not url:
            raise MultibuildError(f"-r {name}: the [{name}] section of {config_file} has no "
                                  "repository URL")
        check_url(url, f"-r {name}: repository")
        simple = args.index_url or simple_from_upload(url)
        return Target(f"{name} ({redact_url(url)})", twine_args, check_url(simple, "--index-url"),
                      user or section.get("username"), password or section.get("password"), url)
    if name in KNOWN_REPOSITORIES:
        url, simple = KNOWN_REPOSITORIES[name]
        return Target(f"{name} ({url})", twine_args,
                      check_url(args.index_url or simple, "--index-url"), user, password, url)
    known = sorted({*config.sections(), *KNOWN_REPOSITORIES} - {"distutils"})
    raise MultibuildError(f"-r {name}: no such repository in {config_file} (known: "
                          f"{', '.join(known)}); or pass --repository-url")


def index_files(target: Target, http: Http, package: str, version: str) -> dict[str, str | None]:
    """{file name: sha256 or None} of ``package`` ``version`` already on the target index."""
    try:
        found = list_simple(http, target.simple_url, package, version)
    except FetchError as exc:
        if (not re.search(r"HTTP 40[13]", str(exc)) or not (target.username and target.password)
            or origin(target.simple_url) != origin(target.upload_url)):
            raise MultibuildError(f"cannot read what is on {target.label}: {exc}") from None
        http = Http(timeout=http.timeout, attempts=http.attempts, deadline=http.deadline,
                    auth=(target.username, target.password), auth_url=target.upload_url)
        try:
            found = list_simple(http, target.simple_url, package, version)
        except FetchError as again:
            raise MultibuildError(f"cannot read what is on {target.label}: {again}") from None
    return {f.filename: f.sha256 for f in found}


# --------------------------------------------------------------------------- twine


_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def twine_reason(output: str) -> str:
    """The reason in twine's output, on one line: its ERROR message with the lines that
    continue it (rich wraps and colours them), else its last line."""
    lines = [_ANSI.sub("", ln).rstrip() for ln in output.splitlines()]
    picked: list[str] = []
    for index, line in enumerate(lines):
        if line.lstrip().startswith("ERROR"):
            picked.append(line.strip())
            for follow in lines[index + 1:]:
                if not follow.startswith((" ", "\t")) or not follow.strip():
                    break
                picked.append(follow.strip())
            break
    if not picked:
        tail = [ln.strip() for ln in lines if ln.strip()]
        picked = tail[-1:] or ["no output"]
    text = re.sub(r"\s+", " ", " ".join(picked))
    return re.sub(r"^ERROR\s+", "", text)[:400]


def twine_check(paths: Sequence[Path], env: Mapping[str, str], redact: Redactor,
                timeout: float, verbose: bool) -> None:
    cmd = [sys.executable, "-m", "twine", "check", "--strict", *map(str, paths)]
    if verbose:
        print("+ twine check --strict " + " ".join(p.name for p in paths), flush=True)
    ran = run_bounded(cmd, env, timeout, redact)
    if verbose or ran.status != 0:
        print("\n".join(f"  | {ln}" for ln in ran.output.rstrip().splitlines()), flush=True)
    if ran.status is None:
        raise MultibuildError(f"twine check --strict: no result within {timeout:g}s")
    if ran.status != 0:
        output = _ANSI.sub("", ran.output)
        failed = [ln for ln in output.splitlines() if "FAILED" in ln]
        name = next((p.name for p in paths if failed and p.name in failed[0]), "a file")
        detail = [ln.strip() for ln in output.splitlines()
                  if ln.lstrip().startswith(("ERROR", "WARNING")) or "`" in ln]
        reason = re.sub(r"^(ERROR|WARNING)\s+", "", detail[0]) if detail else "see above"
        raise MultibuildError(f"twine check --strict failed for {name}: {reason}")


def sign(paths: Sequence[Path], identity: str | None, verbose: bool) -> dict[Path, Path]:
    """Detached ASCII-armoured gpg signatures (``FILE.asc``) of ``paths``."""
    signatures = {}
    for path in paths:
        asc = path.with_name(path.name + ".asc")
        asc.unlink(missing_ok=True)
        cmd = ["gpg", "--batch", "--yes", "--detach-sign", "--armor"]
        if identity:
            cmd += ["--local-user", identity]
        cmd += ["--output", str(asc), str(path)]
        if verbose:
            print("+ " + " ".join(cmd), flush=True)
        try:
            done = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True,
                                  text=True, check=False)
        except FileNotFoundError:
            raise MultibuildError("gpg is not installed; cannot sign (-s)") from None
        if done.returncode != 0:
            lines = done.stderr.strip().splitlines() or ["no output"]
            raise MultibuildError(f"gpg could not sign {path.name}: {lines[-1]}")
        signatures[path] = asc
    return signatures


# --------------------------------------------------------------------------- the command


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="wheel-uploader",
        description="Download the staged wheels of PKG VERSION, check the set is complete, "
        "check and optionally sign them, and upload to the index those it does not have.",
    )
    parser.add_argument("package", metavar="PKG")
    parser.add_argument("version", metavar="VERSION")
    parser.add_argument("-u", "--url", default=os.environ.get("MB_STAGING_URL",
                                                              DEFAULT_STAGING_URL),
                        help="channel holding the wheels: anaconda.org/ORG or a simple index")
    parser.add_argument("-w", "--wheel-dir", default=".",
                        help="directory to download into (default: .)")
    parser.add_argument("-t", "--type", dest="kind", choices=sorted(TYPES), default="all",
                        help="platform type of wheels to upload (default: all)")
    parser.add_argument("-c", "--clobber", action="store_true",
                        help="download again even when a valid copy is present")
    parser.add_argument("-n", "--no-upload", action="store_true",
                        help="download, check and sign, but do not upload")
    parser.add_argument("-s", "--sign", action="store_true", help="sign wheels with gpg")
    parser.add_argument("-i", "--identity", help="gpg key to sign with")
    parser.add_argument("-r", "--repository", default="pypi",
                        help="repository name from the .pypirc file (default: pypi)")
    parser.add_argument("--config-file", default=None,
                        help="the .pypirc file (default: ~/.pypirc, when there is one)")
    parser.add_argument("--repository-url", help="upload URL (overrides -r)")
    parser.add_argument("--index-url", help="the target's simple index, read before uploading "
                        "(default: pypi.org/simple for PyPI, else beside the upload URL)")
    parser.add_argument("--upload-timeout", type=positive_float, default=600.0,
                        help="seconds for one twine call (default: 600)")
    parser.add_argument("-v", "--verbose", action="store_true", help="say more")
    add_source_arguments(parser)
    parser.add_argument("--allow-incomplete", action="store_true",
                        help="upload even when the completeness gate fails")
    return parser


def main(argv: Sequence[str] | None = None, root: Path | None = None) -> int:
    root = root or Path(__file__).resolve().parents[2]
    args = build_parser().parse_args(argv)
    environ = os.environ
    try:
        with sigterm_raises():
            return run_cli(lambda: release(args, root, environ))
    except (KeyboardInterrupt, Interrupted) as exc:
        say("wheel-uploader: interrupted; run the same command again to finish the release "
            "(files already on the index are skipped)")
        return exit_status(exc)


def release(args: argparse.Namespace, root: Path, environ: Mapping[str, str]) -> int:
    # 1. Every input, and the target, before the first request.
    check_project_name(args.package, "PKG")
    parse_release_version(args.version)
    check_url(args.url, "-u")
    if args.api_url:
        check_url(args.api_url, "--api-url")
    if is_anaconda(args.url) or args.source == "anaconda":
        anaconda_org(args.url)
        anaconda_api_url(args.url)
    wheel_dir = check_destination(Path(nonempty(args.wheel_dir, "-w")), "-w").resolve()
    target = resolve_target(args, environ)
    pairs = parse_expect(args.expect) if args.expect else matrix_pairs(root)
    redact = Redactor(*(s for s in (target.password, environ.get("TWINE_PASSWORD")) if s))
    http = http_from_args(args, environ)

    # 2. Download and verify the full set.
    listed = list_files(http, args.url, args.package, args.version, args.source, args.api_url)
    wheels: list[RemoteFile] = [
        f for f in listed if f.filename.endswith(".whl") and of_type(f.filename, args.kind)
    ]
    if not wheels:
        raise MultibuildError(f"no {args.kind} wheels of {args.package} {args.version} "
                              f"at {redact_url(args.url)}")
    outcomes = download_all(http, wheels, wheel_dir, jobs=args.jobs, clobber=args.clobber,
                            progress=not args.no_progress, log=say)
    paths = [o.path for o in outcomes]
    # What twine is given is checked here first, whatever vouched for it before: a complete
    # zip whose WHEEL tags, METADATA and RECORD hashes match its name (twine checks none).
    for path in paths:
        try:
            verify_distribution(path)
        except BadDistribution as exc:
            raise MultibuildError(f"{exc}; nothing uploaded") from None
    if args.verbose:
        for outcome in outcomes:
            print(f"{outcome.sha256}  {outcome.path.name}")

    # 3. The gate, twine check, signatures.
    expected = {s for s in expected_slots(pairs) if s[1].startswith(TYPES[args.kind])}
    gate = check_complete([p.name for p in paths], expected)
    if not gate.ok:
        print(gate.report(), file=sys.stderr)
        if not args.allow_incomplete:
            raise MultibuildError(
                f"incomplete set ({len(gate.missing)} missing, {len(gate.unexpected)} "
                "unexpected); not uploading (--allow-incomplete to override)"
            )
        say("warning: uploading an incomplete set (--allow-incomplete)")
    env = dict(environ)
    twine_check(paths, env, redact, args.upload_timeout, args.verbose)
    signatures = sign(paths, args.identity, args.verbose) if args.sign else {}
    if args.no_upload:
        print(f"wheel-uploader: {len(paths)} wheels verified and checked; not uploading (-n)")
        return 0

    # 4. What the target has already.
    # The target is read with a client of its own: the download's run-wide deadline
    # (--total-deadline) bounds fetching the set, not the upload that follows it.
    target_http = Http(timeout=args.timeout, attempts=args.attempts, deadline=args.deadline)
    there = index_files(target, target_http, args.package, args.version)
    digests = {o.path: o.sha256 for o in outcomes}
    missing: list[Path] = []
    for path in paths:
        if path.name not in there:
            missing.append(path)
            continue
        theirs = there[path.name]
        if theirs is not None and theirs != digests[path]:
            raise MultibuildError(
                f"{path.name} is already on {target.label} with different content (sha256 "
                f"{theirs} there, {digests[path]} here); nothing uploaded"
            )
        if args.verbose or theirs is None:
            note = "" if theirs else " (the index gives no sha256 to compare)"
            print(f"wheel-uploader: {path.name} is already on {target.label}{note}; skipped")
    present = len(paths) - len(missing)
    if not missing:
        print(f"wheel-uploader: nothing to do: all {len(paths)} wheels are already on "
              f"{target.label}")
        return 0

    # 5. Upload what is missing, one file at a time.
    base = [sys.executable, "-m", "twine", "upload", "--non-interactive",
            "--disable-progress-bar", *target.twine_args]
    env["TWINE_NON_INTERACTIVE"] = "1"
    for number, path in enumerate(missing, 1):
        files = [str(path)] + ([str(signatures[path])] if path in signatures else [])
        print(f"wheel-uploader: [{number}/{len(missing)}] uploading {path.name}", flush=True)
        ran = run_bounded([*base, *files], env, args.upload_timeout, redact)
        if args.verbose:
            print("\n".join(f"  | {ln}" for ln in ran.output.rstrip().splitlines()), flush=True)
        if ran.status == 0:
            continue
        # Uploaded meanwhile by someone else, with the same bytes? Then it is done.
        now = index_files(target, target_http, args.package, args.version)
        if now.get(path.name) == digests[path]:
            print(f"wheel-uploader: {path.name} appeared on {target.label} meanwhile (same "
                  "content)")
            continue
        reason = (f"no result within {args.upload_timeout:g}s (twine killed)"
                  if ran.status is None else twine_reason(ran.output))
        raise MultibuildError(
            f"upload of {path.name} to {target.label} failed: {redact(reason)} "
            f"({number - 1} of {len(missing)} missing files uploaded; run again to continue)"
        )
    print(f"wheel-uploader: uploaded {len(missing)} wheels to {target.label}; {present} were "
          "already there")
    return 0


if __name__ == "__main__":
    sys.exit(main())
