"""The upload step: tested wheels of this run to the channel the CI event chose.

Channel: ``multibuild.events.plan`` (scheduled -> nightly, push -> staging, pull request ->
nothing), or ``--channel``. Per channel ``C`` (``STAGING``/``NIGHTLY``), from the environment:

- ``C_UPLOAD_URL``: ``https://anaconda.org/ORG`` (anaconda-client backend) or the upload URL
  of any PyPI-compatible index (twine backend);
- ``C_UPLOAD_TOKEN``: the secret (the variable's *name* is configurable with
  ``MB_C_TOKEN_VAR`` or ``--token-var``); missing, empty or an unexpanded ``$(NAME)`` is a
  warning and no upload (pull requests from forks get no secrets);
- ``C_UPLOAD_USER``: index user name (default ``__token__``);
- ``C_INDEX_URL``: the index's simple URL, to see what is there (default ``URL/simple/``);
- ``C_UPLOAD_POLICY``: ``skip`` (default for staging) keeps files that exist, ``replace``
  (default for nightly) replaces them.

Which wheels: those in the output wheelhouse that ``report.json`` there lists as passed in
this run (the file the build writes, see ``multibuild.report``); without a report, every wheel of
the wheelhouse (the runner stages only passing wheels); or explicit paths.

The token never reaches argv, output or a file: anaconda-client reads it from
``ANACONDA_API_TOKEN``, twine from ``TWINE_PASSWORD``, both in the child's environment only; all
relayed output is redacted. Each tool runs in its own process group under a timeout; on
Ctrl-C or SIGTERM the group is killed before this step exits (130 / 143).

Without a ``report.json`` every wheel is verified (``multibuild.wheelcheck``) before anything is
uploaded: a junk file named ``.whl`` stops the step with one line naming it.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Literal

from multibuild import MultibuildError
from multibuild.download import (
    DownloadError,
    Http,
    OneLineParser,
    file_version,
    is_anaconda,
    list_simple,
    positive_float,
    positive_int,
    redact_url,
    sha256_file,
)
from multibuild.fetch import Interrupted, check_url, exit_status, sigterm_raises
from multibuild.report import REPORT
from multibuild.report import write_report as write_report  # moved there; importable here

Policy = Literal["skip", "replace"]
CHANNELS = ("staging", "nightly")
DEFAULT_URLS = {
    "staging": "https://anaconda.org/multibuild-wheels-staging",
    "nightly": "https://anaconda.org/scientific-python-nightly-wheels",
}
DEFAULT_POLICY: dict[str, Policy] = {"staging": "skip", "nightly": "replace"}
_UNEXPANDED = re.compile(r"\$\(\s*[\w.]+\s*\)|\$\{\{.*\}\}")
_AUTH_FAILURE = re.compile(r"\b(401|403)\b|Unauthorized|Forbidden|Invalid or non-existent")


class UploadError(MultibuildError):
    """An upload that failed after its bounded retries."""


def log(message: str) -> None:
    print(f"upload: {message}", flush=True)


def warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- configuration


@dataclass(frozen=True)
class Destination:
    channel: str
    url: str
    token_var: str
    policy: Policy
    username: str = "__token__"
    index_url: str = ""
    label: str = "main"

    @property
    def backend(self) -> Literal["anaconda", "index"]:
        return "anaconda" if is_anaconda(self.url) else "index"

    @property
    def org(self) -> str:
        return self.url.rstrip("/").rsplit("/", 1)[-1]

    @property
    def simple_url(self) -> str:
        if self.index_url:
            return self.index_url
        base = self.url.rstrip("/")
        if base.endswith("/legacy"):
            return base[: -len("legacy")] + "simple/"
        return base + "/simple/"


def destination(channel: str, environ: Mapping[str, str], *, url: str | None = None,
                token_var: str | None = None, policy: str | None = None,
                username: str | None = None, index_url: str | None = None) -> Destination:
    """The upload destination of ``channel``, from arguments first, then the environment."""
    if channel not in CHANNELS:
        raise MultibuildError(f"unknown channel {channel!r}; use staging or nightly")
    upper = channel.upper()
    chosen = policy or environ.get(f"{upper}_UPLOAD_POLICY") or DEFAULT_POLICY[channel]
    if chosen not in ("skip", "replace"):
        raise MultibuildError(f"unknown upload policy {chosen!r}; use skip or replace")
    return Destination(
        channel=channel,
        url=url or environ.get(f"{upper}_UPLOAD_URL") or DEFAULT_URLS[channel],
        token_var=token_var or environ.get(f"MB_{upper}_TOKEN_VAR") or f"{upper}_UPLOAD_TOKEN",
        policy="skip" if chosen == "skip" else "replace",
        username=username or environ.get(f"{upper}_UPLOAD_USER") or "__token__",
        index_url=index_url or environ.get(f"{upper}_INDEX_URL") or "",
    )


def token_problem(value: str | None, name: str) -> str | None:
    """Why ``value`` is not a usable token (never quoting it), or None."""
    if value is None:
        return f"{name} is not set"
    if not value.strip():
        return f"{name} is empty"
    if _UNEXPANDED.search(value):
        return f"{name} holds an unexpanded CI variable reference"
    return None


class Redactor:
    """Replaces every secret in text with ``***``."""

    def __init__(self, *secrets: str) -> None:
        self.secrets = sorted({s for s in secrets if s}, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, "***")
        return text


# --------------------------------------------------------------------------- which wheels


def passed_wheels(report: Path) -> dict[str, str | None]:
    """{file name: sha256 or None} of the wheels that ``report`` lists as passed."""
    try:
        data = json.loads(report.read_text())
        passed: dict[str, str | None] = {}
        for target in data["targets"]:
            if target.get("passed") is not True:
                continue
            for wheel in target.get("wheels", []):
                if isinstance(wheel, str):
                    passed[wheel] = None
                else:
                    passed[str(wheel["file"])] = wheel.get("sha256")
        return passed
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise MultibuildError(f"{report}: not a valid test report ({exc})") from None


def select_wheels(wheelhouse: Path, explicit: Sequence[Path] = ()) -> list[Path]:
    """The files to upload: ``explicit`` ones, or the wheelhouse's passed wheels."""
    if explicit:
        for path in explicit:
            if not path.is_file():
                raise MultibuildError(f"{path}: no such file")
            if file_version(path.name) is None:
                raise MultibuildError(f"{path}: not a wheel or sdist file name")
        return verified(list(explicit))
    if not wheelhouse.is_dir():
        what = "is not a directory" if wheelhouse.exists() else "no such wheelhouse"
        raise MultibuildError(f"{wheelhouse}: {what}")
    wheels = sorted(wheelhouse.glob("*.whl"))
    report = wheelhouse / REPORT
    if not report.is_file():
        return verified(wheels)
    passed = passed_wheels(report)
    chosen = []
    for wheel in wheels:
        if wheel.name not in passed:
            log(f"not uploading {wheel.name}: not listed as passed in {report}")
            continue
        expected = passed[wheel.name]
        if expected and sha256_file(wheel) != expected:
            log(f"not uploading {wheel.name}: it differs from the wheel that was tested")
            continue
        chosen.append(wheel)
    for name in sorted(set(passed) - {w.name for w in wheels}):
        warn(f"{name} passed its tests but is not in {wheelhouse}")
    return chosen


def verified(paths: list[Path]) -> list[Path]:
    """``paths``, after checking each is the wheel (or sdist) its name says; else one line
    naming the first bad file, and nothing is uploaded."""
    from multibuild.wheelcheck import BadDistribution, verify_distribution

    for path in paths:
        try:
            verify_distribution(path)
        except BadDistribution as exc:
            raise MultibuildError(f"{path.parent}/{exc}; nothing uploaded") from None
    return paths


# --------------------------------------------------------------------------- running tools


@dataclass
class Ran:
    status: int | None  # None: timed out (and killed)
    output: str


def run_bounded(cmd: Sequence[str], env: Mapping[str, str], timeout: float,
                redact: Callable[[str], str]) -> Ran:
    """Run ``cmd`` in its own process group; kill the group after ``timeout`` seconds, and on
    any interruption of ours (Ctrl-C, SIGTERM turned into an exception), before re-raising."""
    proc = subprocess.Popen(list(cmd), env=dict(env), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True,
                            errors="replace", start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=timeout)
        return Ran(proc.returncode, redact(out or ""))
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        out, _ = proc.communicate()
        return Ran(None, redact(out or ""))
    except BaseException:
        _kill_group(proc)
        with contextlib.suppress(Exception):
            proc.communicate(timeout=5)
        raise


def _kill_group(proc: subprocess.Popen[str]) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)


def shown_command(cmd: Sequence[str], redact: Callable[[str], str]) -> str:
    return redact(" ".join(shlex.quote(redact_url(c)) for c in cmd))


def _relay(ran: Ran) -> None:
    text = ran.output.rstrip()
    if text:
        print("\n".join(f"  | {line}" for line in text.splitlines()), flush=True)


@dataclass
class Retry:
    timeout: float = 600.0
    attempts: int = 3
    backoff: float = 5.0
    sleep: Callable[[float], None] = time.sleep


def find_anaconda(environ: Mapping[str, str]) -> str:
    """The anaconda-client executable: MB_ANACONDA, PATH, or next to this Python."""
    explicit = environ.get("MB_ANACONDA")
    if explicit:
        return explicit
    found = shutil.which("anaconda", path=environ.get("PATH"))
    if found:
        return found
    sibling = Path(sys.executable).parent / "anaconda"
    if sibling.is_file():
        return str(sibling)
    raise MultibuildError("anaconda-client (the anaconda command) is not installed")


def anaconda_command(exe: str, dest: Destination, files: Sequence[Path]) -> list[str]:
    flag = "--skip-existing" if dest.policy == "skip" else "--force"
    return [exe, "upload", "-u", dest.org, "-l", dest.label, "--no-progress", flag,
            *map(str, files)]


def upload_anaconda(dest: Destination, files: Sequence[Path], token: str,
                    environ: Mapping[str, str], retry: Retry) -> list[Path]:
    """``anaconda upload -u ORG ...`` under a timeout, with bounded retries; the token goes in
    the child's environment (``ANACONDA_API_TOKEN``), never in argv or a file."""
    redact = Redactor(token)
    exe = find_anaconda(environ)
    cmd = anaconda_command(exe, dest, files)
    env = dict(environ)
    env.pop("BINSTAR_API_TOKEN", None)  # anaconda-client would prefer it to ours
    env["ANACONDA_API_TOKEN"] = token
    for attempt in range(1, retry.attempts + 1):
        log(f"attempt {attempt}/{retry.attempts}: {shown_command(cmd, redact)}")
        ran = run_bounded(cmd, env, retry.timeout, redact)
        _relay(ran)
        if ran.status == 0:
            return list(files)
        reason = (f"no result within {retry.timeout:g}s (killed)" if ran.status is None
                  else f"exit status {ran.status}")
        warn(f"anaconda upload to {dest.org}: {reason}")
        if attempt < retry.attempts:
            retry.sleep(retry.backoff * attempt)
    raise UploadError(f"anaconda upload to {dest.org} failed after {retry.attempts} attempts")


def existing_files(dest: Destination, files: Sequence[Path], token: str,
                   retry: Retry) -> dict[str, str | None]:
    """{file name: sha256} of the files already on the index, for the projects of ``files``."""
    http = Http(timeout=min(retry.timeout, 60.0), attempts=retry.attempts,
                backoff=retry.backoff, auth=(dest.username, token), sleep=retry.sleep)
    found: dict[str, str | None] = {}
    seen = set()
    for path in files:
        parsed = file_version(path.name)
        if parsed is None or parsed in seen:
            continue
        seen.add(parsed)
        try:
            for remote in list_simple(http, dest.simple_url, parsed[0], str(parsed[1])):
                found[remote.filename] = remote.sha256
        except DownloadError as exc:
            raise UploadError(f"cannot list what is on the index: {exc}") from None
    return found


def upload_index(dest: Destination, files: Sequence[Path], token: str,
                 environ: Mapping[str, str], retry: Retry) -> list[Path]:
    """twine to a PyPI-compatible index; existing files are checked here, per policy."""
    redact = Redactor(token)
    env = {k: v for k, v in environ.items() if not k.startswith("TWINE_")}
    env.update(TWINE_USERNAME=dest.username, TWINE_PASSWORD=token, TWINE_NON_INTERACTIVE="1")
    uploaded: list[Path] = []
    for attempt in range(1, retry.attempts + 1):
        there = existing_files(dest, files, token, retry)
        todo = []
        for path in files:
            if path in uploaded:
                continue
            if path.name in there:
                same = there[path.name] == sha256_file(path)
                if same or dest.policy == "skip":
                    why = "same content" if same else "different content, policy skip"
                    log(f"{path.name} is already on the index ({why}); not uploaded")
                    continue
                log(f"{path.name} is on the index with different content; replacing")
            todo.append(path)
        if not todo:
            return uploaded
        cmd = [sys.executable, "-m", "twine", "upload", "--non-interactive",
               "--disable-progress-bar", "--repository-url", dest.url, *map(str, todo)]
        log(f"attempt {attempt}/{retry.attempts}: {shown_command(cmd, redact)}")
        ran = run_bounded(cmd, env, retry.timeout, redact)
        _relay(ran)
        if ran.status == 0:
            return uploaded + todo
        if ran.status is not None and _AUTH_FAILURE.search(ran.output):
            raise UploadError(f"{redact_url(dest.url)} refused the credentials in "
                              f"{dest.token_var} (user {dest.username})")
        reason = (f"no result within {retry.timeout:g}s (killed)" if ran.status is None
                  else f"exit status {ran.status}")
        warn(f"twine upload to {redact_url(dest.url)}: {reason}")
        if attempt < retry.attempts:
            retry.sleep(retry.backoff * attempt)
    raise UploadError(f"upload to {redact_url(dest.url)} failed after {retry.attempts} attempts")


@dataclass
class UploadResult:
    channel: str | None
    uploaded: list[Path] = field(default_factory=list)
    skipped_reason: str = ""


def upload(dest: Destination, files: Sequence[Path], environ: Mapping[str, str],
           retry: Retry | None = None) -> UploadResult:
    """Upload ``files`` to ``dest``; a missing token is a warning and no upload."""
    retry = retry or Retry()
    token = environ.get(dest.token_var)
    problem = token_problem(token, dest.token_var)
    if problem is not None:
        warn(f"{problem}: not uploading to the {dest.channel} channel (a fork's pull request "
             "gets no secrets)")
        return UploadResult(dest.channel, skipped_reason=problem)
    assert token is not None
    if not files:
        warn("no tested wheels to upload")
        return UploadResult(dest.channel, skipped_reason="no wheels")
    log(f"{len(files)} files to the {dest.channel} channel at {redact_url(dest.url)} "
        f"({dest.backend}, policy {dest.policy})")
    backend = upload_anaconda if dest.backend == "anaconda" else upload_index
    done = backend(dest, files, token, environ, retry)
    return UploadResult(dest.channel, uploaded=list(done))


# --------------------------------------------------------------------------- CLI


def _nightly_copies(files: Sequence[Path], tmp: Path, environ: Mapping[str, str],
                    repo_dir: str | None) -> list[Path]:
    from multibuild.nightly import commit_stamp, nightly_version, rewrite_wheel_version

    stamp = None
    repo = repo_dir or environ.get("REPO_DIR")
    if environ.get("MB_NIGHTLY_STAMP"):
        stamp = datetime.fromisoformat(environ["MB_NIGHTLY_STAMP"].replace("Z", "+00:00"))
    elif repo and Path(repo, ".git").exists():
        stamp = commit_stamp(Path(repo))
    out = []
    for path in files:
        if path.suffix != ".whl":
            continue
        from multibuild.nightly import wheel_version

        version = nightly_version(wheel_version(path), stamp)
        out.append(rewrite_wheel_version(path, version, tmp))
        log(f"{path.name} -> {out[-1].name}")
    return out


def non_negative_float(text: str) -> float:
    return 0.0 if text.strip() in ("0", "0.0") else positive_float(text)


def event_channel(environ: Mapping[str, str]) -> str | None:
    """The channel of this CI event (scheduled: nightly; push: staging; pull request: none).
    The commit is not needed to upload what was built, so BUILD_COMMIT need not be set."""
    from multibuild.events import detect_event

    _service, event = detect_event(environ)
    return {"schedule": "nightly", "push": "staging"}.get(event)


def build_parser(prog: str = "python -m multibuild.upload") -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog=prog,
        description="Upload the wheels that passed their tests in this run to the channel the "
        "CI event chose (staging for pushes, nightly for scheduled builds, none for PRs).",
    )
    parser.add_argument("files", nargs="*", type=Path, help="explicit files (default: the "
                        "wheelhouse's wheels that report.json lists as passed)")
    parser.add_argument("-w", "--wheelhouse", type=Path, default=Path("wheelhouse"),
                        help="staged output wheelhouse (default: wheelhouse)")
    parser.add_argument("--channel", choices=CHANNELS,
                        help="override the channel chosen from the CI event")
    parser.add_argument("--url", help="anaconda.org/ORG or an index upload URL")
    parser.add_argument("--index-url", help="the index's simple URL (default: URL/simple/)")
    parser.add_argument("--token-var", help="environment variable holding the token")
    parser.add_argument("--user", help="index user name (default: __token__)")
    parser.add_argument("--policy", choices=("skip", "replace"),
                        help="existing files: skip (staging default) or replace (nightly)")
    parser.add_argument("--timeout", type=positive_float, default=600.0,
                        help="seconds for one upload attempt (default: 600)")
    parser.add_argument("--attempts", type=positive_int, default=3,
                        help="upload attempts (default: 3)")
    parser.add_argument("--backoff", type=non_negative_float, default=5.0,
                        help="seconds between attempts")
    parser.add_argument("--nightly-version", choices=("rewrite", "keep"), default="rewrite",
                        help="nightly channel: give wheels a dated dev version (default) or not")
    parser.add_argument("--repo-dir", help="checkout whose commit date stamps nightlies")
    return parser


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None,
         prog: str = "python -m multibuild.upload") -> int:
    environ = os.environ if environ is None else environ
    args = build_parser(prog).parse_args(argv)
    try:
        with sigterm_raises():
            return run(args, environ)
    except (KeyboardInterrupt, Interrupted) as exc:
        print("upload: interrupted; the upload tool was stopped, no secret was left behind",
              file=sys.stderr, flush=True)
        return exit_status(exc)
    except MultibuildError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


def run(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    channel = args.channel
    if channel is None:
        channel = event_channel(environ)
        if channel is None:
            log("pull request: built and tested, nothing uploaded")
            return 0
    for option, value in (("--url", args.url), ("--index-url", args.index_url)):
        if value:
            check_url(value, option)
    dest = destination(channel, environ, url=args.url, token_var=args.token_var,
                       policy=args.policy, username=args.user, index_url=args.index_url)
    check_url(dest.url, f"{channel.upper()}_UPLOAD_URL")
    files = select_wheels(args.wheelhouse, args.files)
    retry = Retry(timeout=args.timeout, attempts=args.attempts, backoff=args.backoff)
    with tempfile.TemporaryDirectory(prefix="mb-nightly-") as tmp:
        problem = token_problem(environ.get(dest.token_var), dest.token_var)
        if channel == "nightly" and args.nightly_version == "rewrite" and problem is None:
            files = _nightly_copies(files, Path(tmp), environ, args.repo_dir)
        result = upload(dest, files, environ, retry)
    for path in result.uploaded:
        log(f"uploaded {path.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())


def add_subcommand(sub: argparse._SubParsersAction[argparse.ArgumentParser],
                   root: Path) -> None:
    """``./wheels upload [ARGS]``: this module's command line."""
    parser = sub.add_parser(
        "upload", add_help=False, prefix_chars="\0",
        help="upload the wheels that passed in this run to the event's channel",
        description="See ./wheels upload --help.",
    )
    parser.add_argument("args", nargs=argparse.REMAINDER)

    def run(args: argparse.Namespace) -> int:
        return main(list(args.args), prog="./wheels upload")

    parser.set_defaults(func=run)
