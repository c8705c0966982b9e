"""The one ref and REPO_DIR check (multibuild/core/refs.py): git's own rules, proved against the
real ``git check-ref-format --allow-onelevel`` over thousands of generated names, and the
policy on top of them."""

from __future__ import annotations

import itertools
import random
import subprocess
from concurrent.futures import ThreadPoolExecutor

import pytest

from multibuild import UsageError
from multibuild.core.refs import (
    MAX_REF_LENGTH,
    check_ref,
    git_ref_problem,
    ref_problem,
    repo_dir_problem,
    url_problem,
)

# Pieces git treats specially, shell and CI metacharacters, and non-ASCII letters.
PIECES = ["a", "b", "Z", "0", ".", "..", "...", "/", "//", "@", "@{", "{", "}", ".lock",
          "lock", "x.lock/", "refs/heads/", "-", "~", "^", ":", "?", "*", "[", "]", "\\", " ",
          "\t", "\x7f", "\x01", "\x1f", "é", "ü", "€", "$(", ")", "`", "'", '"', ";", "|",
          "&", "<", ">", "!", "#", "%", "+", "=", ","]
SMALL = ["a", ".", "/", "@", "{", "-", "l"]


def corpus(size: int = 3000) -> list[str]:
    """Every name of up to 3 characters over SMALL, then seeded random mixtures of PIECES."""
    names = {"".join(c) for n in range(1, 4) for c in itertools.product(SMALL, repeat=n)}
    rng = random.Random(19)
    while len(names) < size:
        names.add("".join(rng.choice(PIECES) for _ in range(rng.randint(1, 6))))
    return sorted(names)


def git_accepts(name: str) -> bool:
    # git check-ref-format reads a leading '-' as an option; the rules are per component
    # (only a lone '@' is judged whole), so "x/-name" is judged as "-name" is.
    arg = "x/" + name if name.startswith("-") else name
    done = subprocess.run(["git", "check-ref-format", "--allow-onelevel", arg],
                          capture_output=True, check=False)
    assert done.returncode in (0, 1), done.stderr
    return done.returncode == 0


def test_git_rules_match_git_check_ref_format() -> None:
    names = corpus()
    with ThreadPoolExecutor(4) as pool:
        verdicts = list(pool.map(git_accepts, names))
    mismatches = [(name, ok, git_ref_problem(name)) for name, ok in zip(names, verdicts)
                  if ok != (git_ref_problem(name) is None)]
    assert mismatches == []
    # The corpus is not trivially one-sided.
    assert 300 < sum(verdicts) < len(names) - 300


@pytest.mark.parametrize("ref", ["v2.2.6", "main", "maintenance/2.3.x", "v2.3.0rc1",
                                 "0123456789abcdef0123456789abcdef01234567", "a1b2c3d",
                                 "release+build", "user@fork", "x" * MAX_REF_LENGTH])
def test_ordinary_refs_are_accepted(ref: str) -> None:
    assert ref_problem(ref) is None
    assert check_ref(ref, "--commit") == ref


@pytest.mark.parametrize(("ref", "fragment"), [
    ("$(touch${IFS}/tmp/x)", "refused character(s) '$(){}'"),
    ("v1;touch", "refused character(s) ';'"),
    ("`id`", "refused character(s) '`'"),
    ("v1'; touch /tmp/x; '", "not a valid git ref"),  # the space: git refuses it first
    ("v1.lock", "not a valid git ref"),
    ("v1/", "empty path component"),
    ("x" * 300, "longer than 128 characters (300)"),
    ("-rf", "starts with '-'"),
    ("v1|v2", "refused character(s) '|'"),
    ("a&b", "refused character(s) '&'"),
    ("a>b", "refused character(s) '>'"),
    ("a!b", "refused character(s) '!'"),
    ("a#b", "refused character(s) '#'"),
    ("a%b", "refused character(s) '%'"),
    ("nümpy", "refused character(s) 'ü'"),
    ("a*b", "not a valid git ref"),
    ("a\tb", "not a valid git ref"),
    ("", "empty value"),
])
def test_refused_refs_name_the_reason(ref: str, fragment: str) -> None:
    problem = ref_problem(ref)
    assert problem is not None and fragment in problem, problem
    with pytest.raises(UsageError) as caught:
        check_ref(ref, "BUILD_COMMIT")
    assert "\n" not in str(caught.value) and str(caught.value).startswith("BUILD_COMMIT ")
    assert len(str(caught.value)) < 300  # a 300-character ref is shortened in the message


@pytest.mark.parametrize(("value", "single", "ok"), [
    ("numpy", True, True), ("scipy-src", True, True), ("h5py_2", True, True),
    ("a/b", True, False), ("..", True, False), (".hidden", True, False), ("-rf", True, False),
    ("$(touch x)", True, False), ("num py", True, False), ("", True, False),
    ("../scipy-src", False, True), ("/tmp/pytest-of-root/p-1/checkout", False, True),
    ("build/src/numpy", False, True), ("$(touch x)/y", False, False), ("a b/c", False, False),
    ("-x/y", False, False), ("a;b", False, False),
])
def test_repo_dir_policy(value: str, single: bool, ok: bool) -> None:
    assert (repo_dir_problem(value, single=single) is None) is ok


@pytest.mark.parametrize(("value", "ok"), [
    ("https://github.com/numpy/numpy.git", True), ("git@github.com:numpy/numpy.git", True),
    ("/srv/git/numpy.git", True), ("https://h/$(id)", False), ("https://h/a b", False),
    ("https://user:tok@github.com/numpy/numpy.git", False), ("https://h/`x`", False),
    ("~/numpy", False),
])
def test_repo_url_policy(value: str, ok: bool) -> None:
    assert (url_problem(value) is None) is ok
