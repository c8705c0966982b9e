"""The upload step against a real pypiserver on 127.0.0.1 and anaconda-client up to its boundary."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_upload_helpers import (
    REPO_ROOT,
    TOKEN,
    USER,
    PypiServer,
    SilentServer,
    loopback_env,
    make_wheel,
    running_pypiserver,
    running_silent_server,
    sha256,
)

from multibuild.release.upload import (
    Destination,
    Retry,
    UploadError,
    anaconda_command,
    destination,
    main,
    select_wheels,
    token_problem,
    upload,
    write_report,
)

PUSH = {"BUILD_REASON": "IndividualCI", "BUILD_COMMIT": "v1.0.0"}
SCHEDULE = {"BUILD_REASON": "Schedule", "NIGHTLY_BUILD_COMMIT": "main"}


@pytest.fixture
def pypiserver(tmp_path: Path) -> Iterator[PypiServer]:
    with running_pypiserver(tmp_path / "pypiserver") as server:
        yield server


@pytest.fixture
def pypiserver_overwrite(tmp_path: Path) -> Iterator[PypiServer]:
    with running_pypiserver(tmp_path / "pypiserver-overwrite", overwrite=True) as server:
        yield server


@pytest.fixture
def silent_server() -> Iterator[SilentServer]:
    with running_silent_server() as server:
        yield server


def staging_env(server: PypiServer, token: str = TOKEN, **extra: str) -> dict[str, str]:
    values = {**PUSH, "STAGING_UPLOAD_URL": server.url, "STAGING_UPLOAD_USER": USER,
              "STAGING_UPLOAD_TOKEN": token, **extra}
    return loopback_env(**values)


def wheelhouse(tmp_path: Path, payload: str = "") -> Path:
    out = tmp_path / "wheelhouse"
    make_wheel(out, tag="cp312-cp312-manylinux_2_28_x86_64", payload=payload)
    make_wheel(out, tag="cp313-cp313-manylinux_2_28_x86_64", payload=payload)
    return out


@pytest.mark.parametrize("value", [None, "", "   ", "$(STAGING_UPLOAD_TOKEN)", "${{ secrets.X }}"])
def test_missing_token_is_a_warning_and_no_upload(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], value: str | None
) -> None:
    env = loopback_env(**PUSH, STAGING_UPLOAD_URL="http://127.0.0.1:9/")
    if value is not None:
        env["STAGING_UPLOAD_TOKEN"] = value
    assert main(["-w", str(wheelhouse(tmp_path)), "--attempts", "1"], env) == 0
    err = capsys.readouterr().err
    assert "warning: STAGING_UPLOAD_TOKEN" in err and "not uploading to the staging" in err
    assert token_problem(value, "X") is not None


def test_pull_request_uploads_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    env = loopback_env(BUILD_REASON="PullRequest", BUILD_COMMIT="v1", STAGING_UPLOAD_TOKEN=TOKEN)
    assert main(["-w", str(wheelhouse(tmp_path))], env) == 0
    assert "nothing uploaded" in capsys.readouterr().out


def test_destination_from_environment() -> None:
    env = {"NIGHTLY_UPLOAD_URL": "https://anaconda.org/my-nightly",
           "MB_NIGHTLY_TOKEN_VAR": "MY_SECRET"}
    dest = destination("nightly", env)
    assert (dest.backend, dest.org, dest.token_var, dest.policy) == (
        "anaconda", "my-nightly", "MY_SECRET", "replace")
    staging = destination("staging", {"STAGING_UPLOAD_URL": "http://127.0.0.1:1/legacy/"})
    assert (staging.backend, staging.policy) == ("index", "skip")
    assert staging.simple_url == "http://127.0.0.1:1/simple/"
    assert destination("staging", {}, policy="replace").policy == "replace"


def test_only_wheels_that_passed_in_this_run(tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "wheelhouse"
    good = make_wheel(out, tag="cp312-cp312-manylinux_2_28_x86_64")
    failed = make_wheel(out, tag="cp313-cp313-manylinux_2_28_x86_64")
    changed = make_wheel(out, tag="cp311-cp311-manylinux_2_28_x86_64")
    stale = make_wheel(out, tag="cp310-cp310-manylinux_2_28_x86_64")  # an earlier run's
    write_report(out, [("cp312", True, [good]), ("cp313", False, [failed]),
                       ("cp311", True, [changed])])
    make_wheel(out, tag="cp311-cp311-manylinux_2_28_x86_64", payload="rebuilt after the test")
    assert select_wheels(out) == [good]
    logged = capsys.readouterr().out
    assert failed.name in logged and stale.name in logged and "differs" in logged
    data = json.loads((out / "report.json").read_text())
    assert data["targets"][0]["wheels"][0] == {"file": good.name, "sha256": sha256(good)}
    (out / "report.json").unlink()
    assert len(select_wheels(out)) == 4  # no report: the runner staged only passing wheels
    (out / "report.json").write_text("{not json")
    with pytest.raises(Exception, match="not a valid test report"):
        select_wheels(out)


def test_staging_upload_and_skip_existing(tmp_path: Path, pypiserver: PypiServer,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    house = wheelhouse(tmp_path)
    env = staging_env(pypiserver)
    assert main(["-w", str(house), "--backoff", "0"], env) == 0
    local = {p.name: sha256(p) for p in house.glob("*.whl")}
    assert pypiserver.files() == local
    capsys.readouterr()
    # A re-run (CI retried): nothing fails, nothing is uploaded again.
    assert main(["-w", str(house), "--backoff", "0"], env) == 0
    assert capsys.readouterr().out.count("already on the index (same content)") == 2
    # Rebuilt wheels with the same names: staging keeps what is there.
    rebuilt = wheelhouse(tmp_path / "again", payload="rebuilt")
    assert main(["-w", str(rebuilt), "--backoff", "0"], env) == 0
    assert "different content, policy skip" in capsys.readouterr().out
    assert pypiserver.files() == local


def test_replace_policy(tmp_path: Path, pypiserver_overwrite: PypiServer,
                        pypiserver: PypiServer, capsys: pytest.CaptureFixture[str]) -> None:
    first, second = wheelhouse(tmp_path / "a"), wheelhouse(tmp_path / "b", payload="newer")
    args = ["--policy", "replace", "--backoff", "0", "--attempts", "2"]
    env = staging_env(pypiserver_overwrite)
    assert main(["-w", str(first), *args], env) == 0
    assert main(["-w", str(second), *args], env) == 0
    assert pypiserver_overwrite.files() == {p.name: sha256(p) for p in second.glob("*.whl")}
    assert "replacing" in capsys.readouterr().out
    # A server that refuses to overwrite (409 Conflict): the listing then shows other bytes
    # under the name, an error naming the file at once (retrying cannot change it).
    env = staging_env(pypiserver)
    assert main(["-w", str(first), *args], env) == 0
    capsys.readouterr()
    assert main(["-w", str(second), *args], env) == 1
    captured = capsys.readouterr()
    assert captured.out.count("attempt ") == 1
    (line,) = [ln for ln in captured.err.splitlines() if ln.startswith("error:")]
    assert line.startswith("error: tinypkg-1.0.0-cp312-cp312-manylinux_2_28_x86_64.whl: the "
                           "index keeps a different file under this name"), line


def test_wrong_credentials(tmp_path: Path, pypiserver: PypiServer,
                           capsys: pytest.CaptureFixture[str]) -> None:
    wrong = "not-the-password-123"
    assert main(["-w", str(wheelhouse(tmp_path)), "--backoff", "0"],
                staging_env(pypiserver, token=wrong)) == 1
    captured = capsys.readouterr()
    assert "refused the credentials in STAGING_UPLOAD_TOKEN" in captured.err
    assert captured.out.count("attempt ") == 1  # not retried
    assert wrong not in captured.out + captured.err
    assert pypiserver.files() == {}


# --------------------------------------------------------------------------- anaconda-client


def anaconda_dest(policy: str = "skip") -> Destination:
    return destination("staging", {}, url="https://anaconda.org/multibuild-wheels-staging",
                       policy=policy)


def test_anaconda_command() -> None:
    files = [Path("w/a.whl"), Path("w/b.whl")]
    assert anaconda_command("anaconda", anaconda_dest(), files) == [
        "anaconda", "upload", "-u", "multibuild-wheels-staging",
        "-l", "main", "--no-progress", "--skip-existing", "w/a.whl", "w/b.whl"]
    assert "--force" in anaconda_command("anaconda", anaconda_dest("replace"), files)


def fake_anaconda(tmp_path: Path, body: str) -> Path:
    """An ``anaconda`` executable that logs its argv and echoes the token it was given (from
    ANACONDA_API_TOKEN, the only place it gets it), then BODY."""
    exe = tmp_path / "bin" / "anaconda"
    exe.parent.mkdir(parents=True, exist_ok=True)
    exe.write_text(
        "#!/bin/bash\n"
        f'log={tmp_path}/calls\n'
        'echo "$*" >> "$log"\n'
        'echo "token from the environment: $ANACONDA_API_TOKEN"\n'
        'echo "pid $$" > ' + f"{tmp_path}/pid\n" + body
    )
    exe.chmod(exe.stat().st_mode | stat.S_IXUSR)
    return exe


def test_anaconda_fails_twice_then_succeeds(tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    exe = fake_anaconda(tmp_path, f'n=$(wc -l < {tmp_path}/calls)\n[ "$n" -ge 3 ]\n')
    env = loopback_env(PATH=f"{exe.parent}:{os.environ['PATH']}", STAGING_UPLOAD_TOKEN=TOKEN)
    files = sorted(wheelhouse(tmp_path).glob("*.whl"))
    result = upload(anaconda_dest(), files, env, Retry(timeout=30, attempts=3, backoff=0))
    assert result.uploaded == files
    calls = (tmp_path / "calls").read_text().splitlines()
    assert len(calls) == 3
    assert calls[0].split()[:4] == ["upload", "-u", "multibuild-wheels-staging", "-l"]
    captured = capsys.readouterr()
    assert "token from the environment: ***" in captured.out  # the tool echoed it: redacted
    assert TOKEN not in captured.out + captured.err + "\n".join(calls)


def test_anaconda_bounded_retries_then_clear_error(tmp_path: Path) -> None:
    exe = fake_anaconda(tmp_path, "exit 1\n")
    env = loopback_env(MB_ANACONDA=str(exe), STAGING_UPLOAD_TOKEN=TOKEN)
    with pytest.raises(UploadError, match="failed after 3 attempts"):
        upload(anaconda_dest(), [make_wheel(tmp_path / "w")], env,
               Retry(timeout=30, attempts=3, backoff=0))
    assert len((tmp_path / "calls").read_text().splitlines()) == 3


def test_anaconda_that_hangs_is_killed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    exe = fake_anaconda(tmp_path, "sleep 1000 & wait\n")
    env = loopback_env(MB_ANACONDA=str(exe), STAGING_UPLOAD_TOKEN=TOKEN)
    with pytest.raises(UploadError, match="failed after 2 attempts"):
        upload(anaconda_dest(), [make_wheel(tmp_path / "w")], env,
               Retry(timeout=1, attempts=2, backoff=0))
    assert "no result within 1s (killed)" in capsys.readouterr().err
    pid = int((tmp_path / "pid").read_text().split()[1])
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_real_anaconda_client_against_silent_server(
    tmp_path: Path, silent_server: SilentServer, capsys: pytest.CaptureFixture[str]
) -> None:
    """anaconda-client itself waits forever on a server that never answers: the timeout ends it."""
    config = tmp_path / "binstar" / "data"
    config.mkdir(parents=True)
    (config / "config.yaml").write_text(f"url: {silent_server.url}\n")
    env = loopback_env(BINSTAR_CONFIG_DIR=str(tmp_path / "binstar"), STAGING_UPLOAD_TOKEN=TOKEN,
                       MB_ANACONDA=str(Path(sys.executable).parent / "anaconda"))
    with pytest.raises(UploadError, match="failed after 1 attempts"):
        upload(anaconda_dest(), [make_wheel(tmp_path / "w")], env,
               Retry(timeout=4, attempts=1, backoff=0))
    captured = capsys.readouterr()
    assert "no result within 4s (killed)" in captured.err
    assert TOKEN not in captured.out + captured.err


# --------------------------------------------------------------------------- the token


def test_token_never_in_any_output(tmp_path: Path, pypiserver: PypiServer) -> None:
    """Run the upload step as CI does, in every outcome, and scan everything it printed."""
    exe = fake_anaconda(tmp_path, 'echo "using $*"; exit 1\n')
    house = wheelhouse(tmp_path)
    runs = [
        staging_env(pypiserver),  # success
        staging_env(pypiserver),  # re-run: skips
        staging_env(pypiserver, STAGING_UPLOAD_USER="nobody"),  # refused
        loopback_env(**PUSH, STAGING_UPLOAD_TOKEN=TOKEN, MB_ANACONDA=str(exe)),  # anaconda fails
        loopback_env(**SCHEDULE, NIGHTLY_UPLOAD_TOKEN=TOKEN, NIGHTLY_UPLOAD_URL=pypiserver.url,
                     NIGHTLY_UPLOAD_USER=USER, MB_NIGHTLY_STAMP="2025-01-02T03:04:05Z"),
    ]
    other = tmp_path / "other"
    make_wheel(other, version="2.0.0", tag="cp312-cp312-manylinux_2_28_x86_64")
    houses = [house, house, other, house, house]
    statuses, output = [], ""
    for env, where in zip(runs, houses):
        done = subprocess.run(
            [sys.executable, "-m", "multibuild.release.upload", "-w", str(where), "--backoff", "0",
             "--attempts", "2"], env=env, capture_output=True, text=True, cwd=REPO_ROOT)
        statuses.append(done.returncode)
        output += done.stdout + done.stderr
    assert statuses == [0, 0, 1, 1, 0]
    assert "tinypkg-1.0.1.dev20250102030405-cp312" in output  # the nightly went up
    assert TOKEN not in output
    assert "***" in output  # the fake client echoed the token it was given: redacted


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_signal_during_upload_kills_the_tool_and_leaves_no_secret(tmp_path: Path,
                                                                  signum: int) -> None:
    """A real signal to the upload step while anaconda-client hangs: the tool's process group
    is killed, nothing holding the token is left in TMPDIR, the exit status says why."""
    exe = fake_anaconda(tmp_path, "sleep 1000 & wait\n")
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    env = loopback_env(**PUSH, STAGING_UPLOAD_TOKEN=TOKEN, MB_ANACONDA=str(exe),
                       TMPDIR=str(tmp))
    proc = subprocess.Popen(
        [sys.executable, "-m", "multibuild.release.upload", "-w", str(wheelhouse(tmp_path)),
         "--timeout", "600"], env=env, cwd=REPO_ROOT, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True)
    pid_file = tmp_path / "pid"
    deadline = time.monotonic() + 60
    while not pid_file.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    child = int(pid_file.read_text().split()[1])
    proc.send_signal(signum)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 128 + signum
    assert "upload: interrupted" in err and "Traceback" not in err
    time.sleep(0.2)
    with pytest.raises(ProcessLookupError):
        os.kill(child, 0)  # the fake client (and its sleep) went with the group
    assert not list(tmp.glob("mb-upload-*"))
    for path in tmp.rglob("*"):
        assert not path.is_file() or TOKEN not in path.read_text(errors="replace")
    assert TOKEN not in out + err
