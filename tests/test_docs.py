"""The docs stay true to the tree and short enough to read.

- every repository path the docs name exists: relative Markdown links in every Markdown file,
  and paths that start with a top-level folder (`trainer/...`, `docs/...`) or name a
  top-level file (`Makefile`), in Markdown and in the docstrings and comments of the Python
  packages and tests (also the comments of the Makefile, the deploy files and `.ci/run`);
- every page under docs/ stays under 400 lines, README.md under 251.

Placeholders (`MODEL`, `VERSION`, `<version>`, `{name}`), globs, elisions (`…`), URLs and the
folders only a run creates (models/, exported/ but its README.md, .cache/, evaluation/) are
not paths to check.
"""

from __future__ import annotations

import ast
import io
import re
import tokenize
from collections.abc import Iterator
from pathlib import Path

from tests.fixtures.paths import ROOT

TOP_FOLDERS = (
    "intent_server",
    "trainer",
    "bench",
    "tests",
    "docs",
    "deploy",
    "examples",
    "protos",
    ".ci",
)
TOP_FILES = ("Makefile", "README.md", "pyproject.toml")
PYTHON_FOLDERS = ("intent_server", "trainer", "bench", "tests")
# Files whose `#` comments are read too.
COMMENTED_FILES = ("Makefile", "deploy/Dockerfile", ".ci/run")
COMMENTED_FOLDERS = ("deploy/k8s",)
# Written by the benchmark, not by hand: a run may name its own temporary folders there.
GENERATED = ("bench/results/",)
# Generated from the option declarations: long tables, not a page to read through.
LINE_LIMIT_EXEMPT = ("docs/reference/",)
RUNTIME = ("models/", "exported/", ".cache/", "evaluation/")
SKIPPED_PARTS = {"node_modules", ".git", ".venv"}
MAX_DOC_LINES = 399
MAX_README_LINES = 250

LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_FOLDERS = "|".join(re.escape(f"{folder}/") for folder in TOP_FOLDERS)
_FILES = "|".join(re.escape(name) for name in TOP_FILES)
# A path starts after a space, a quote, a backtick or a bracket, never inside a longer path,
# URL or dotted name, and runs to the next space, quote, backtick or bracket.
REPO_PATH = re.compile(
    rf"(?<![\w./:@-])((?:{_FOLDERS})[^\s`'\"()\[\]<>,;]*|(?:{_FILES})(?![\w.-]))"
)
INLINE_CODE = re.compile(r"`[^`]*`")
LINE_SUFFIX = re.compile(r"(?::\d+)+$")  # file:line
FENCE = re.compile(r"^\s*(```|~~~)")
PLACEHOLDER_PART = re.compile(r"^\.?[A-Z][A-Z0-9_]*(?:\.tmp.*)?$")


def _skip_dir(path: Path) -> bool:
    parts = path.relative_to(ROOT).parts
    if SKIPPED_PARTS & set(parts):
        return True
    hidden = [part for part in parts[:-1] if part.startswith(".")]
    return bool(hidden) and parts[0] != ".ci"


def markdown_files() -> list[Path]:
    return sorted(
        path
        for path in ROOT.rglob("*.md")
        if not _skip_dir(path)
        and not _runtime(path.relative_to(ROOT).as_posix())
        and not path.relative_to(ROOT).as_posix().startswith(GENERATED)
    )


def _runtime(relative: str) -> bool:
    if relative == "exported/README.md":
        return False
    return relative.startswith(RUNTIME)


def _python_texts(path: Path) -> Iterator[tuple[int, str]]:
    """(line, text) of every docstring and comment of a Python file."""
    source = path.read_text(encoding="utf-8")
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                value = body[0].value.value
                if isinstance(value, str):
                    for offset, line in enumerate(value.splitlines()):
                        yield body[0].lineno + offset, line
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.COMMENT:
            yield token.start[0], token.string


def _comment_texts(path: Path) -> Iterator[tuple[int, str]]:
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if line.lstrip().startswith("#"):
            yield number, line


def _is_placeholder(path: str) -> bool:
    if any(mark in path for mark in ("*", "…", "...", "<", ">", "{", "}", "$")):
        return True
    return any(PLACEHOLDER_PART.match(part) for part in path.split("/"))


def _link_target(target: str) -> str | None:
    if re.match(r"^[a-z][a-z0-9+.-]*:", target) or target.startswith(("#", "//")):
        return None
    target = target.split("#", 1)[0].split("?", 1)[0]
    return target or None


def references(source: Path, text: str, code: bool = False) -> Iterator[tuple[str, Path]]:
    """(path as written, where it points) for each repository path named in `text`; in code
    (`code`, or between backticks) `[text](target)` is not a link (e.g. entity markup)."""
    if source.suffix == ".md" and not code:
        for match in LINK.finditer(INLINE_CODE.sub("", text)):
            target = _link_target(match.group(1))
            if target is not None and not _is_placeholder(target):
                yield target, (source.parent / target).resolve()
    for match in REPO_PATH.finditer(text):
        written = LINE_SUFFIX.sub("", match.group(1).rstrip(".:!?")).rstrip(".:!?")
        if not _is_placeholder(written):
            yield written, ROOT / written


def _markdown_texts(path: Path) -> Iterator[tuple[int, str, bool]]:
    """(line, text, inside a fenced code block) of a Markdown file."""
    fenced = False
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if FENCE.match(line):
            fenced = not fenced
            continue
        yield number, line, fenced


def _texts(path: Path) -> Iterator[tuple[int, str, bool]]:
    if path.suffix == ".md":
        yield from _markdown_texts(path)
    else:
        texts = _python_texts(path) if path.suffix == ".py" else _comment_texts(path)
        yield from ((number, text, True) for number, text in texts)


def scanned_files() -> list[Path]:
    python = [
        path
        for folder in PYTHON_FOLDERS
        for path in sorted((ROOT / folder).rglob("*.py"))
        if not _skip_dir(path) and "_pb2" not in path.name
    ]
    commented = [ROOT / name for name in COMMENTED_FILES if (ROOT / name).is_file()]
    commented += [p for f in COMMENTED_FOLDERS for p in sorted((ROOT / f).glob("*.y*ml"))]
    return markdown_files() + python + commented


def missing() -> list[str]:
    problems = []
    for path in scanned_files():
        for line, text, code in _texts(path):
            for written, target in references(path, text, code):
                try:
                    relative = target.relative_to(ROOT).as_posix()
                except ValueError:
                    relative = written  # outside the repository: cannot exist in it
                if _runtime(relative):
                    continue
                if not target.exists():
                    problems.append(f"{path.relative_to(ROOT)}:{line}: {written}")
    return problems


def test_every_path_the_docs_name_exists() -> None:
    problems = missing()
    assert not problems, "paths named in docs that do not exist:\n" + "\n".join(problems)


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    seen: dict[str, int] = {}
    for _, text, code in _markdown_texts(page):
        heading = re.match(r"^#{1,6}\s+(.*?)\s*#*$", text)
        if heading and not code:
            base = slug(heading.group(1))
            count = seen.get(base, 0)
            seen[base] = count + 1
    return {f"{base}-{n}" if n else base for base, count in seen.items() for n in range(count)}


def test_every_anchor_the_docs_link_exists() -> None:
    problems = []
    for path in markdown_files():
        for line, text, code in _markdown_texts(path):
            if code:
                continue
            for match in LINK.finditer(INLINE_CODE.sub("", text)):
                target, _, anchor = match.group(1).partition("#")
                if not anchor or re.match(r"^[a-z][a-z0-9+.-]*:", target):
                    continue
                page = (path.parent / target).resolve() if target else path
                if page.suffix == ".md" and page.is_file() and anchor not in anchors(page):
                    problems.append(f"{path.relative_to(ROOT)}:{line}: {match.group(1)}")
    assert not problems, "links to headings that do not exist:\n" + "\n".join(problems)


def test_the_scan_finds_the_docs_and_their_paths() -> None:
    names = {path.relative_to(ROOT).as_posix() for path in scanned_files()}
    assert {"README.md", "docs/ARCHITECTURE.md", "tests/test_docs.py"} <= names
    found = [w for w, _ in references(ROOT / "README.md", "`docs/x/MODEL/a.md`, `[P](city)`")]
    assert found == []  # a placeholder, and entity markup in code
    found = [w for w, _ in references(ROOT / "docs/a.md", "[a](../bench/x.py#L3), tests/y:12.")]
    assert found == ["../bench/x.py", "tests/y"]
    assert slug("The speed/accuracy dial: `--encoder-layers N`") == (
        "the-speedaccuracy-dial---encoder-layers-n"
    )


def test_pages_stay_short() -> None:
    long = []
    for path in markdown_files():
        relative = path.relative_to(ROOT).as_posix()
        if not relative.startswith("docs/") or relative.startswith(LINE_LIMIT_EXEMPT):
            continue
        lines = len(path.read_text(encoding="utf-8").splitlines())
        if lines > MAX_DOC_LINES:
            long.append(f"{relative}: {lines} lines (at most {MAX_DOC_LINES})")
    readme = len((ROOT / "README.md").read_text(encoding="utf-8").splitlines())
    if readme > MAX_README_LINES:
        long.append(f"README.md: {readme} lines (at most {MAX_README_LINES})")
    assert not long, "pages too long to read through; split them:\n" + "\n".join(long)
