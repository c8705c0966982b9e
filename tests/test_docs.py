"""The documentation site builds offline with no broken link, the README stays the short front
door linking only to pages that exist, and every command the docs show exists."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from functools import cache
from pathlib import Path

import pytest
from conftest import REPO_ROOT, run_wheels
from markdown.extensions.toc import slugify
from ruamel.yaml import YAML

DOCS = REPO_ROOT / "docs"
README = REPO_ROOT / "README.md"
README_MAX_LINES = 150
# A markdown link to a relative target: [text](target) (images too).
LINK = re.compile(r"\]\(([^)\s]+)\)")


def pages() -> list[Path]:
    return sorted(DOCS.rglob("*.md"))


def documents() -> list[Path]:
    return [README, *pages()]


def nav_files(entries: object) -> list[str]:
    """The page files of mkdocs.yml's nav, at any depth."""
    if isinstance(entries, str):
        return [entries]
    if isinstance(entries, list):
        return [f for entry in entries for f in nav_files(entry)]
    if isinstance(entries, dict):
        return [f for value in entries.values() for f in nav_files(value)]
    return []


def config() -> dict[str, object]:
    loaded = YAML(typ="safe").load((REPO_ROOT / "mkdocs.yml").read_text())
    assert isinstance(loaded, dict)
    return loaded


def test_mkdocs_build_strict(tmp_path: Path) -> None:
    """`mkdocs build --strict`: no broken link or anchor, no page left out of the nav."""
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir",
                           str(tmp_path / "site")], cwd=REPO_ROOT, env=env, capture_output=True,
                          text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "WARNING" not in done.stderr, done.stderr
    built = (tmp_path / "site" / "index.html").read_text()
    # Offline: no web font is fetched, at build time or by a reader's browser.
    assert "fonts.googleapis.com" not in built and "fonts.gstatic.com" not in built


def test_every_page_is_in_the_nav_and_the_build_is_offline() -> None:
    settings = config()
    listed = set(nav_files(settings["nav"]))
    assert listed == {str(p.relative_to(DOCS)) for p in pages()}
    theme = settings["theme"]
    assert isinstance(theme, dict) and theme["name"] == "material" and theme["font"] is False
    # Only mkdocs' own search: no plugin that downloads at build time.
    assert settings.get("plugins") == ["search"]


def test_docs_tools_are_pinned() -> None:
    pyproject = (REPO_ROOT / "pyproject.toml").read_text()
    assert re.search(r'"mkdocs==[\d.]+"', pyproject)
    assert re.search(r'"mkdocs-material==[\d.]+"', pyproject)


@cache
def anchors(page: Path) -> frozenset[str]:
    """The heading ids mkdocs gives a page (its toc slugs; duplicates get _1, _2, ...)."""
    seen: dict[str, int] = {}
    ids = set()
    fenced = False
    for line in page.read_text().splitlines():
        if line.startswith("```"):
            fenced = not fenced
        heading = re.match(r"(#{1,6})\s+(.*?)\s*$", line)
        if fenced or not heading:
            continue
        text = re.sub(r"[`*]", "", heading.group(2))
        slug = slugify(text, "-")
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        ids.add(slug if count == 0 else f"{slug}_{count}")
    return frozenset(ids)


def test_readme_is_short_and_links_only_to_pages_that_exist() -> None:
    text = README.read_text()
    assert len(text.splitlines()) <= README_MAX_LINES
    links = [t for t in LINK.findall(text) if not t.startswith(("http://", "https://"))]
    assert links, "the README points into docs/"
    for target in links:
        path, _, anchor = target.partition("#")
        page = (REPO_ROOT / path).resolve()
        assert page.is_file() and DOCS in page.parents, target
        assert str(page.relative_to(DOCS)) in nav_files(config()["nav"]), target
        if anchor:
            assert anchor in anchors(page), target


def test_readme_keeps_the_two_commands() -> None:
    """The main job and the test command, exactly as .ci/run runs the latter."""
    text = README.read_text()
    assert "./wheels build      # the main job" in text
    assert "./wheels test       # the test suite" in text
    assert (REPO_ROOT / ".ci" / "run").read_text().rstrip().endswith("exec ./wheels test")


# `./wheels SUB ...` and `tools/NAME ...` as the docs show them (in code, up to a comment).
COMMAND = re.compile(r"(?:^|[`\s(])(\./wheels|tools/[\w.-]+(?![\w/-]))((?:[ \t]+[^`\n#|;]*)?)",
                     re.M)
LONG_OPTION = re.compile(r"(?<![\w-])(--[a-z][\w-]*)")


def shown_commands() -> dict[str, set[str]]:
    """Each command shown in the docs -> the long options shown with it."""
    found: dict[str, set[str]] = {}
    for doc in documents():
        for program, rest in COMMAND.findall(doc.read_text()):
            words = rest.split()
            if program == "./wheels":
                if not words or not re.fullmatch(r"[a-z]+", words[0]):
                    continue
                program, words = f"./wheels {words[0]}", words[1:]
            options = found.setdefault(program, set())
            options.update(LONG_OPTION.findall(" ".join(words)))
    return found


@cache
def wheels_help(args: tuple[str, ...]) -> str:
    done = run_wheels([*args, "--help"], timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_every_wheels_command_in_the_docs_exists() -> None:
    commands = {c.split()[1]: opts for c, opts in shown_commands().items()
                if c.startswith("./wheels ")}
    listed = set(re.findall(r"^    (\w+)", wheels_help(()), re.M))
    assert set(commands) <= listed, set(commands) - listed
    for command, options in commands.items():
        if command == "test":  # pytest's options pass through
            assert options <= {"--slow", "--docker", "--no-provision"}, options
            continue
        usage = wheels_help((command,))
        missing = {o for o in options if o not in usage}
        assert not missing, (command, missing)


def test_every_tool_in_the_docs_exists_with_its_options() -> None:
    tools = {c: opts for c, opts in shown_commands().items() if c.startswith("tools/")}
    assert tools
    for tool, options in tools.items():
        path = REPO_ROOT / tool
        assert path.is_file(), tool
        if path.suffix == ".json":
            continue
        cmd = [sys.executable, str(path)] if path.suffix == ".py" else [str(path)]
        done = subprocess.run([*cmd, "--help"], cwd=REPO_ROOT, capture_output=True, text=True,
                              timeout=120, check=False)
        assert done.returncode == 0, (tool, done.stdout + done.stderr)
        missing = {o for o in options if o not in done.stdout}
        assert not missing, (tool, missing)


# Code the docs name by path (inline code, never links: those would leave docs/).
CODE_PATH = re.compile(r"`((?:multibuild|tests|tools|benchmarks)/[\w/.-]+\.(?:py|json|sh))`")
MODULE_RUN = re.compile(r"python -m (multibuild(?:\.[a-z_]+)+)")


@pytest.mark.skipif(not (REPO_ROOT / "multibuild" / "core").is_dir(),
                    reason="the docs name the subpackage layout of issue 24, not yet here")
def test_every_module_and_test_the_docs_name_exists() -> None:
    for doc in documents():
        text = doc.read_text()
        for name in CODE_PATH.findall(text):
            assert (REPO_ROOT / name).is_file(), (doc.name, name)
        for module in set(MODULE_RUN.findall(text)):
            path = REPO_ROOT / (module.replace(".", "/") + ".py")
            assert path.is_file(), (doc.name, module)
