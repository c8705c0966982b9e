"""The one check of the refs, REPO_DIRs and URLs the tools accept (BUILD_COMMIT,
NIGHTLY_BUILD_COMMIT, ``--commit``, ``REPO_DIR``, ``--repo-dir``, ``REPO_URL``).

Two layers, so each can be proved on its own:

1. :func:`git_ref_problem` is git's own rule set (``git check-ref-format --allow-onelevel``,
   git's ``refs.c``): no ``..``, ``@{``, control characters, space, ``~ ^ : ? * [ \\``; no
   component starting with ``.`` or ending with ``.lock``; no empty component, no trailing
   ``.`` or ``/``; not ``@`` alone. ``tests/core/test_refs.py`` compares it with the real git over
   thousands of generated names.
2. The policy on top (:func:`ref_problem`): at most :data:`MAX_REF_LENGTH` characters, no
   leading ``-`` (a git command would read an option), and only the characters of
   :data:`REF_CHARACTERS`. Git accepts ``$ ( ) ; | & < > ' " ` ! # % , = { }`` and any
   non-ASCII letter; every one of them means something to a shell or a CI file (Travis
   evaluates its ``env`` entries as shell, Azure expands ``$(...)``, AppVeyor's cmd ``%...%``),
   so a ref holding one is refused rather than quoted: a value that passes needs no quoting
   in any CI file's shell, and only YAML's own quoting where YAML would retype it.

``REPO_DIR`` in a CI file is one path component of :data:`PATH_CHARACTERS` (the project's
directory in the wheels repository, as in every MacPython repository); a local
``--repo-dir`` or ``REPO_DIR`` may be a path (absolute or relative) of such components.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Sequence

from multibuild import UsageError, run_cli

MAX_REF_LENGTH = 128
REF_CHARACTERS = "letters, digits and . _ - / + @"
_REF_SAFE = re.compile(r"[A-Za-z0-9._/+@-]*")
MAX_COMPONENT_LENGTH = 100
MAX_PATH_LENGTH = 1024
PATH_CHARACTERS = "letters, digits and . _ - +"
_COMPONENT = re.compile(r"[A-Za-z0-9._+-]+")
# A clone URL or path in a CI file: what git needs, nothing a shell assignment interprets
# (no $ ` ' " ; & | < > ( ) space, no ~ that an assignment would expand).
_URL_SAFE = re.compile(r"[A-Za-z0-9._:/@+%-]+")

# git's refs.c, refname_disposition: 1 ends a component, 2 is ".", 3 is "{", 4 is refused,
# 5 is "*" (refused outside refspec patterns). Bytes from 0x80 up are ordinary.
_END, _DOT, _BRACE, _BAD, _STAR = 1, 2, 3, 4, 5
_DISPOSITION = bytes(
    [_END] + [_BAD] * 31                       # NUL ends the name; other controls refused
    + [_BAD if c == " " else _STAR if c == "*" else _DOT if c == "." else _END if c == "/"
       else _BAD if c in ":?[\\^~" else _BRACE if c == "{" else 0
       for c in map(chr, range(32, 127))]
    + [_BAD]                                   # DEL
    + [0] * 128
)


def _component_length(name: bytes, start: int) -> int:
    """Length of the component at ``start`` (git's check_refname_component); -1 if bad."""
    last = 0
    index = start
    while index < len(name):
        kind = _DISPOSITION[name[index]]
        if kind == _END:
            break
        if kind == _DOT and last == ord("."):
            return -1  # ".."
        if kind == _BRACE and last == ord("@"):
            return -1  # "@{"
        if kind in (_BAD, _STAR):
            return -1
        last = name[index]
        index += 1
    length = index - start
    if length == 0:
        return 0
    if name[start] == ord("."):
        return -1
    if name[start:index].endswith(b".lock"):
        return -1
    return length


def git_ref_problem(ref: str) -> str | None:
    """Why ``git check-ref-format --allow-onelevel REF`` refuses ``ref``, or None."""
    name = ref.encode("utf-8", "surrogateescape")
    if b"\0" in name:
        return "it holds a NUL byte"
    if name == b"@":
        return "'@' alone is not a ref name"
    start = 0
    while True:
        length = _component_length(name, start)
        if length <= 0:
            component = name[start:].split(b"/", 1)[0].decode("utf-8", "replace")
            if length == 0:
                return "it has an empty path component (leading, trailing or double '/')"
            return f"git refuses its component {component!r} (.., @{{, control characters, " \
                   "space, ~ ^ : ? * [ \\, a leading '.' or a '.lock' ending)"
        if start + length == len(name):
            break
        start += length + 1
    if name.endswith(b"."):
        return "it ends with '.'"
    return None


def ref_problem(ref: str) -> str | None:
    """Why ``ref`` may not be built or written into a CI file, or None: git's rules, then
    the length cap, no leading '-', and only :data:`REF_CHARACTERS`."""
    if not ref:
        return "empty value"
    if len(ref) > MAX_REF_LENGTH:
        return f"not an accepted ref: longer than {MAX_REF_LENGTH} characters ({len(ref)})"
    problem = git_ref_problem(ref)
    if problem is not None:
        return f"not a valid git ref (a branch, tag or commit hash): {problem}"
    if ref.startswith("-"):
        return "not an accepted ref: it starts with '-' (a command would read an option)"
    if not _REF_SAFE.fullmatch(ref):
        bad = sorted({c for c in ref if not _REF_SAFE.fullmatch(c)})
        return (f"not an accepted ref: refused character(s) {''.join(bad)!r} (a ref here holds "
                f"only {REF_CHARACTERS}; what a shell or CI file would interpret is refused)")
    return None


def check_ref(ref: str, what: str) -> str:
    """``ref`` when acceptable, else a one-line MultibuildError naming ``what``."""
    problem = ref_problem(ref)
    if problem is not None:
        raise UsageError(f"{what} {shown(ref)}: {problem}")
    return ref


def repo_dir_problem(value: str, *, single: bool = False) -> str | None:
    """Why ``value`` is not an acceptable REPO_DIR, or None. ``single``: one path component
    (a CI file's REPO_DIR); otherwise a path of such components (``.`` and ``..`` allowed)."""
    if not value:
        return "empty value"
    if "\0" in value or len(value) > (MAX_COMPONENT_LENGTH if single else MAX_PATH_LENGTH):
        return "too long" if "\0" not in value else "it holds a NUL byte"
    if value.startswith("-"):
        return "it may not start with '-' (a command would read it as an option)"
    if single:
        if value in (".", "..") or value.startswith(".") or not _COMPONENT.fullmatch(value):
            return (f"REPO_DIR in a CI file is one directory name of {PATH_CHARACTERS}, not "
                    "starting with '.'")
        return None
    parts = value.split("/")
    body = parts[1:] if value.startswith("/") else parts
    for part in body:
        if part and not _COMPONENT.fullmatch(part):
            bad = sorted({c for c in part if not _COMPONENT.fullmatch(c)})
            return (f"refused character(s) {''.join(bad)!r}: a path here holds only "
                    f"{PATH_CHARACTERS} in each component")
    return None


def check_repo_dir(value: str, what: str, *, single: bool = False) -> str:
    problem = repo_dir_problem(value, single=single)
    if problem is not None:
        raise UsageError(f"{what} {shown(value)}: {problem}")
    return value


def url_problem(value: str) -> str | None:
    """Why ``value`` cannot be a REPO_URL written in a CI file, or None."""
    if not value:
        return "empty value"
    if not _URL_SAFE.fullmatch(value):
        bad = sorted({c for c in value if not _URL_SAFE.fullmatch(c)})
        return (f"refused character(s) {''.join(bad)!r}: a shell would interpret them "
                "(letters, digits and . _ : / @ + % - only)")
    if value.startswith("-"):
        return "it may not start with '-'"
    _scheme, sep, rest = value.partition("://")
    authority = rest.split("/", 1)[0]
    if sep and "@" in authority and ":" in authority.rsplit("@", 1)[0]:
        return "it holds a password (user:password@); give credentials to git another way"
    return None


def shown(value: str, limit: int = 80) -> str:
    """``value`` quoted for a one-line message, shortened when long."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit - 20]}...' ({len(value)} characters)"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m multibuild.core.refs",
        description="Check a ref (BUILD_COMMIT) and a REPO_DIR as every tool here does: exit 2 "
        "with one line naming the bad one.",
    )
    parser.add_argument("--ref", help="a branch, tag or commit hash")
    parser.add_argument("--repo-dir", help="the project's checkout directory")
    parser.add_argument("--what", default="", help="the function to name in the message")
    args = parser.parse_args(argv)
    prefix = f"{args.what}: " if args.what else ""

    def body() -> None:
        if args.repo_dir is not None:
            check_repo_dir(args.repo_dir, f"{prefix}REPO_DIR")
        if args.ref is not None:
            check_ref(args.ref, f"{prefix}BUILD_COMMIT")

    return run_cli(body, 2)


if __name__ == "__main__":
    sys.exit(main())
