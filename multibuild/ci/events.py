"""What a CI event means, decided once for every CI service.

scheduled build -> NIGHTLY_BUILD_COMMIT, uploaded to the nightly channel;
push / merge / manual -> BUILD_COMMIT, uploaded to the staging channel;
pull request -> BUILD_COMMIT, built and tested, uploaded nowhere.

GitHub Actions: ``workflow_dispatch`` is a manual nightly (as ``schedule``); a push uploads to
staging only from the default branch (MB_DEFAULT_BRANCH, which the workflow sets) or a release
branch (RELEASE_BRANCHES), other branches build and test only; a build for the release workflow
(MB_RELEASE_BUILD=true) builds BUILD_COMMIT and uploads nothing (release.yml publishes it).
"""

from __future__ import annotations

import argparse
import fnmatch
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from multibuild import MultibuildError, run_cli
from multibuild.core.shellvars import records

EventKind = Literal["schedule", "push", "pull_request"]
Channel = Literal["nightly", "staging"]


@dataclass(frozen=True)
class BuildPlan:
    event: EventKind
    service: str
    commit: str
    channel: Channel | None  # None: build and test, upload nothing

    def as_env(self) -> dict[str, str]:
        return {
            "MB_EVENT": self.event,
            "BUILD_COMMIT": self.commit,
            "MB_UPLOAD_CHANNEL": self.channel or "",
        }


def detect_event(environ: Mapping[str, str]) -> tuple[str, EventKind]:
    """(service, event kind) from the variables each CI service sets."""
    if "BUILD_REASON" in environ:  # Azure Pipelines
        reason = environ["BUILD_REASON"]
        if reason == "Schedule":
            return "azure", "schedule"
        return "azure", "pull_request" if reason == "PullRequest" else "push"
    if "TRAVIS_EVENT_TYPE" in environ:
        kind = environ["TRAVIS_EVENT_TYPE"]
        if kind == "cron":
            return "travis", "schedule"
        return "travis", "pull_request" if kind == "pull_request" else "push"
    if environ.get("APPVEYOR", "").lower() == "true" or "APPVEYOR_SCHEDULED_BUILD" in environ:
        if environ.get("APPVEYOR_SCHEDULED_BUILD", "").lower() == "true":
            return "appveyor", "schedule"
        if environ.get("APPVEYOR_PULL_REQUEST_NUMBER"):
            return "appveyor", "pull_request"
        return "appveyor", "push"
    if "GITHUB_EVENT_NAME" in environ:
        kind = environ["GITHUB_EVENT_NAME"]
        if kind in ("schedule", "workflow_dispatch") \
                and environ.get("MB_RELEASE_BUILD", "") != "true":
            return "github", "schedule"
        return "github", "pull_request" if kind.startswith("pull_request") else "push"
    return "local", "push"


# Branches a GitHub push uploads to staging from, besides the default branch.
RELEASE_BRANCHES: tuple[str, ...] = ("maintenance/*", "release/*")


def github_push_channel(environ: Mapping[str, str]) -> Channel | None:
    """Staging for a push to the default branch or a release branch; nothing for other
    branches or a build for the release workflow."""
    if environ.get("MB_RELEASE_BUILD", "") == "true":
        return None
    ref = environ.get("GITHUB_REF", "")
    branch = ref[len("refs/heads/"):] if ref.startswith("refs/heads/") else ""
    default = environ.get("MB_DEFAULT_BRANCH", "")
    if branch and (branch == default
                   or any(fnmatch.fnmatchcase(branch, p) for p in RELEASE_BRANCHES)):
        return "staging"
    return None


def plan(environ: Mapping[str, str]) -> BuildPlan:
    """The commit to build and the channel to upload to, for the current event."""
    service, event = detect_event(environ)
    if event == "schedule":
        commit = environ.get("NIGHTLY_BUILD_COMMIT", "")
        if not commit:
            raise MultibuildError("scheduled build but NIGHTLY_BUILD_COMMIT is not set")
        return BuildPlan(event, service, commit, "nightly")
    commit = environ.get("BUILD_COMMIT", "")
    if not commit:
        raise MultibuildError("BUILD_COMMIT is not set")
    if event == "pull_request":
        return BuildPlan(event, service, commit, None)
    if service == "github":
        return BuildPlan(event, service, commit, github_push_channel(environ))
    return BuildPlan(event, service, commit, "staging")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m multibuild.ci.events",
        description="Print NAME=VALUE records (MB_EVENT, BUILD_COMMIT, MB_UPLOAD_CHANNEL) "
        "for the current CI event, one a line, for mb_import_vars (never eval'd).",
    )
    parser.parse_args(argv)

    def body() -> int:
        text = records(plan(os.environ).as_env())
        sys.stdout.buffer.write(text.encode("utf-8"))  # UTF-8 and "\n" on every OS
        sys.stdout.flush()
        return 0

    return run_cli(body, 1)


if __name__ == "__main__":
    sys.exit(main())
