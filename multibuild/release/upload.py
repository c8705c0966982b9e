"""The upload step: tested wheels of this run to the channel the CI event chose.

Channel: ``multibuild.ci.events.plan`` (scheduled -> nightly, push -> staging, pull request ->
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
this run (the file the build writes, see ``multibuild.run.report``); without a report, every
wheel of the wheelhouse (the runner stages only passing wheels); or explicit paths.

The token never reaches argv, output or a file: anaconda-client reads it from
``ANACONDA_API_TOKEN``, twine from ``TWINE_PASSWORD``, both in the child's environment only; all
relayed output is redacted. Each tool runs in its own process group under a timeout; on
Ctrl-C or SIGTERM the group is killed before this step exits (130 / 143).

Without a ``report.json`` every wheel is verified (``multibuild.net.wheelcheck``) before anything is
uploaded: a junk file named ``.whl`` stops the step with one line naming it.
"""

from __future__ import annotations

import argparse
import contextlib
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
from datetime import datetime, timezone
from pathlib import Path
from typing import Literal

from multibuild import MultibuildError, UsageError, run_cli
from multibuild.core.refs import shown
from multibuild.net.fetch import Interrupted, check_url, exit_status, sigterm_raises
from multibuild.net.index import file_version, load_json
from multibuild.release.download import (
    DownloadError,
    Http,
    OneLineParser,
    anaconda_org,
    is_anaconda,
    list_simple,
    positive_float,
    positive_int,
    redact_url,
    sha256_file,
)
from multibuild.run.report import REPORT
from multibuild.run.report import write_report as write_report  # moved there; importable here

Policy = Literal["skip", "replace"]
CHANNELS = ("staging", "nightly")
DEFAULT_URLS = {
    "staging": "https://anaconda.org/multibuild-wheels-staging",
    "nightly": "https://anaconda.org/scientific-python-nightly-wheels",
}
DEFAULT_POLICY: dict[str, Policy] = {"staging": "skip", "nightly": "replace"}
_UNEXPANDED = re.compile(r"\$\(\s*[\w.]+\s*\)|\$\{\{.*\}\}")
_MAX_REPORT_BYTES = 64 << 20
# The index refused a file (twine: "HTTPError: 409 Conflict", or the 400 PyPI and pypiserver
# answer twine for a file that exists); retrying cannot change that.
_CONFLICT = re.compile(r"HTTPError: 4\d\d|\b409 Conflict|already exists", re.IGNORECASE)
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
        return anaconda_org(self.url)

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
        raise UsageError(f"unknown upload policy {chosen!r}; use skip or replace")
    if token_var is not None:
        check_token_var(token_var, "--token-var")
    elif environ.get(f"MB_{upper}_TOKEN_VAR") is not None:
        token_var = check_token_var(environ[f"MB_{upper}_TOKEN_VAR"], f"MB_{upper}_TOKEN_VAR")
    dest = Destination(
        channel=channel,
        url=url or environ.get(f"{upper}_UPLOAD_URL") or DEFAULT_URLS[channel],
        token_var=token_var or f"{upper}_UPLOAD_TOKEN",
        policy="skip" if chosen == "skip" else "replace",
        username=username or environ.get(f"{upper}_UPLOAD_USER") or "__token__",
        index_url=index_url or environ.get(f"{upper}_INDEX_URL") or "",
    )
    if dest.backend == "anaconda":
        anaconda_org(dest.url)  # https://anaconda.org/ alone would name no organisation
    return dest


# A token variable's name says so; PATH, HOME, USER and the like would hand their values to
# the index as a password.
_TOKEN_NAME = re.compile(r"[A-Z][A-Z0-9_]*(TOKEN|PASSWORD|SECRET|API_KEY|_KEY|_PAT)[A-Z0-9_]*")


def check_token_var(name: str, what: str) -> str:
    """``name`` when it looks like the name of a variable holding a secret, else one line."""
    if not _TOKEN_NAME.fullmatch(name):
        raise UsageError(f"{what} {shown(name)}: not the name of a token variable (an "
                         "upper-case name containing TOKEN, PASSWORD, SECRET or KEY, e.g. "
                         "STAGING_UPLOAD_TOKEN)")
    return name


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
        if report.stat().st_size > _MAX_REPORT_BYTES:
            raise ValueError(f"larger than {_MAX_REPORT_BYTES} bytes")
        data = load_json(report.read_text(encoding="utf-8"))
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
    except OSError as exc:
        raise UsageError(f"{report}: cannot read the test report ({exc.strerror})") from None
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise UsageError(f"{report}: not a valid test report ({exc})") from None


def select_wheels(wheelhouse: Path, explicit: Sequence[Path] = ()) -> list[Path]:
    """The files to upload: ``explicit`` ones, or the wheelhouse's passed wheels."""
    try:
        return _select_wheels(wheelhouse, explicit)
    except OSError as exc:
        raise UsageError(f"-w {shown(str(wheelhouse))}: {exc.strerror}") from None


def _select_wheels(wheelhouse: Path, explicit: Sequence[Path]) -> list[Path]:
    if explicit:
        for path in explicit:
            if not path.is_file():
                raise UsageError(f"{path}: no such file")
            if file_version(path.name) is None:
                raise UsageError(f"{path}: not a wheel or sdist file name")
        return verified(list(explicit))
    if not wheelhouse.is_dir():
        what = "is not a directory" if wheelhouse.exists() else "no such wheelhouse"
        raise UsageError(f"{wheelhouse}: {what}")
    wheels = sorted(wheelhouse.glob("*.whl"))
    report = wheelhouse / REPORT
    if os.path.lexists(report) and (report.is_symlink() or not report.is_file()):
        raise UsageError(f"{report}: not a regular file; refusing to guess what passed")
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
    # The report vouches for what was tested; the content is checked all the same.
    return verified(chosen)


def verified(paths: list[Path]) -> list[Path]:
    """``paths``, after checking each is the wheel (or sdist) its name says; else one line
    naming the first bad file, and nothing is uploaded."""
    from multibuild.net.wheelcheck import BadDistribution, verify_distribution

    for path in paths:
        try:
            verify_distribution(path)
        except BadDistribution as exc:
            raise UsageError(f"{path.parent}/{exc}; nothing uploaded") from None
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
    # The credentials go to the upload URL's origin only (the listing there gets them, one
    # elsewhere does not); a listing redirected elsewhere is refused (multibuild.net.fetch),
    # never read as "already there".
    http = Http(timeout=min(retry.timeout, 60.0), attempts=retry.attempts,
                backoff=retry.backoff, auth=(dest.username, token), auth_url=dest.url,
                sleep=retry.sleep)
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
    """twine to a PyPI-compatible index. The index's listing decides, before and after each
    twine run: a file there with this run's sha256 is done (after a 409 Conflict too: an
    upload that raced ours); one there with other bytes after we tried is an error naming
    it; one still missing is tried again, within the bounded attempts. Returns the files
    this run put there."""
    redact = Redactor(token)
    env = {k: v for k, v in environ.items() if not k.startswith("TWINE_")}
    env.update(TWINE_USERNAME=dest.username, TWINE_PASSWORD=token, TWINE_NON_INTERACTIVE="1")
    mine = {path: sha256_file(path) for path in files}
    uploaded: list[Path] = []
    tried: set[Path] = set()
    accepted: set[Path] = set()  # twine's last run over them exited 0
    refused: set[Path] = set()  # the index answered 409 / 400 "already exists" for them
    seen_before: dict[Path, str | None] = {}  # the listing just before we tried, if there
    pending = list(files)
    for attempt in range(1, retry.attempts + 2):
        there = existing_files(dest, pending, token, retry)
        todo = []
        for path in pending:
            if path.name not in there:
                todo.append(path)
                continue
            theirs = there[path.name]
            if theirs == mine[path] or (theirs is None and path in accepted):
                if path in tried:
                    uploaded.append(path)
                    log(f"{path.name} is on the index with this run's content")
                else:
                    log(f"{path.name} is already on the index (same content); not uploaded")
                continue
            # Other bytes under the name after we tried: a conflicting upload won (the file
            # was missing, or changed, just before), or the index refused to replace it.
            if path in tried and (path in refused or path not in seen_before
                                  or seen_before[path] != theirs):
                raise UploadError(
                    f"{path.name}: the index keeps a different file under this name (sha256 "
                    f"{theirs or 'not listed'} there, {mine[path]} here); it refused ours")
            if dest.policy == "skip":
                why = "no sha256 listed" if theirs is None else "different content"
                log(f"{path.name} is already on the index ({why}, policy skip); not uploaded")
                warn(f"{path.name}: the staged file is not the one this run tested (policy "
                     "skip keeps what is there)")
                continue
            log(f"{path.name} is on the index with different content; replacing")
            todo.append(path)
        pending = todo
        if not todo:
            return uploaded
        if attempt > retry.attempts:
            break
        cmd = [sys.executable, "-m", "twine", "upload", "--non-interactive",
               "--disable-progress-bar", "--repository-url", dest.url, *map(str, todo)]
        log(f"attempt {attempt}/{retry.attempts}: {shown_command(cmd, redact)}")
        tried.update(todo)
        seen_before = {path: there[path.name] for path in todo if path.name in there}
        ran = run_bounded(cmd, env, retry.timeout, redact)
        _relay(ran)
        if ran.status == 0:
            accepted.update(todo)
            continue  # the listing confirms what arrived
        accepted.difference_update(todo)
        if _CONFLICT.search(ran.output):
            refused.update(p for p in todo if p.name in ran.output)
        if ran.status is not None and _AUTH_FAILURE.search(ran.output):
            raise UploadError(f"{redact_url(dest.url)} refused the credentials in "
                              f"{dest.token_var} (user {dest.username})")
        reason = (f"no result within {retry.timeout:g}s (killed)" if ran.status is None
                  else f"exit status {ran.status}")
        warn(f"twine upload to {redact_url(dest.url)}: {reason}")
        if attempt < retry.attempts:
            retry.sleep(retry.backoff * attempt)
    names = ", ".join(p.name for p in pending)
    raise UploadError(f"upload to {redact_url(dest.url)} failed after {retry.attempts} "
                      f"attempts: not on the index: {names}")


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
        raise UploadError(f"no tested wheels to upload to the {dest.channel} channel "
                          "(report.json lists none as passed, or the wheelhouse is empty); "
                          "nothing uploaded")
    log(f"{len(files)} files to the {dest.channel} channel at {redact_url(dest.url)} "
        f"({dest.backend}, policy {dest.policy})")
    backend = upload_anaconda if dest.backend == "anaconda" else upload_index
    done = backend(dest, files, token, environ, retry)
    return UploadResult(dest.channel, uploaded=list(done))


# --------------------------------------------------------------------------- CLI


def nightly_stamp(environ: Mapping[str, str], repo_dir: str | None) -> datetime | None:
    """When nightlies are stamped: MB_NIGHTLY_STAMP (ISO date and time), else the commit
    date of ``--repo-dir`` (which must be a checkout) or of REPO_DIR when it is one, else
    None (now, with a warning). Checked before anything is uploaded."""
    from multibuild.ci.nightly import commit_stamp

    raw = environ.get("MB_NIGHTLY_STAMP", "")
    if raw:
        try:
            stamp = datetime.fromisoformat(raw.replace("Z", "+00:00"))
        except ValueError:
            raise UsageError(f"MB_NIGHTLY_STAMP {shown(raw)}: not an ISO date and time "
                             "(e.g. 2025-01-02T10:00:00Z)") from None
        return stamp if stamp.tzinfo else stamp.replace(tzinfo=timezone.utc)
    if repo_dir is not None:
        if not Path(repo_dir, ".git").exists():
            raise UsageError(f"--repo-dir {shown(repo_dir)}: not a git checkout (its commit "
                             "date stamps the nightly versions)")
        return commit_stamp(Path(repo_dir))
    repo = environ.get("REPO_DIR")
    if repo and Path(repo, ".git").exists():
        return commit_stamp(Path(repo))
    warn("no checkout to date the nightlies from (--repo-dir, REPO_DIR, MB_NIGHTLY_STAMP); "
         "stamping them with the current time")
    return None


def _nightly_copies(files: Sequence[Path], tmp: Path, stamp: datetime | None) -> list[Path]:
    from multibuild.ci.nightly import nightly_version, rewrite_wheel_version

    out = []
    for path in files:
        if path.suffix != ".whl":
            continue
        from multibuild.ci.nightly import wheel_version

        version = nightly_version(wheel_version(path), stamp)
        out.append(rewrite_wheel_version(path, version, tmp))
        log(f"{path.name} -> {out[-1].name}")
    return out


def non_negative_float(text: str) -> float:
    return 0.0 if text.strip() in ("0", "0.0") else positive_float(text)


def event_channel(environ: Mapping[str, str]) -> str | None:
    """The channel of this CI event (scheduled: nightly; push: staging; pull request: none).
    The commit is not needed to upload what was built, so BUILD_COMMIT need not be set."""
    from multibuild.ci.events import detect_event

    _service, event = detect_event(environ)
    return {"schedule": "nightly", "push": "staging"}.get(event)


def build_parser(prog: str = "python -m multibuild.release.upload") -> argparse.ArgumentParser:
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
         prog: str = "python -m multibuild.release.upload") -> int:
    environ = os.environ if environ is None else environ
    args = build_parser(prog).parse_args(argv)
    for option, value in (("--token-var", args.token_var), ("--url", args.url),
                          ("--index-url", args.index_url), ("--user", args.user),
                          ("--repo-dir", args.repo_dir)):
        if value is not None and not value.strip():
            print(f"error: {option} '': empty value (leave the option out for the default)",
                  file=sys.stderr)
            return 2
    try:
        with sigterm_raises():
            return run_cli(lambda: run(args, environ))
    except (KeyboardInterrupt, Interrupted) as exc:
        print("upload: interrupted; the upload tool was stopped, no secret was left behind",
              file=sys.stderr, flush=True)
        return exit_status(exc)


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
    rewrite = channel == "nightly" and args.nightly_version == "rewrite"
    stamp = nightly_stamp(environ, args.repo_dir) if rewrite else None
    files = select_wheels(args.wheelhouse, args.files)
    retry = Retry(timeout=args.timeout, attempts=args.attempts, backoff=args.backoff)
    with tempfile.TemporaryDirectory(prefix="mb-nightly-") as tmp:
        problem = token_problem(environ.get(dest.token_var), dest.token_var)
        if rewrite and problem is None:
            files = _nightly_copies(files, Path(tmp), stamp)
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
