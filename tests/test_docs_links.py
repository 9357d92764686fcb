"""Every relative link and image in README.md and docs/*.md points at something that exists.

Links and images (inline `[text](target)`, `![alt](target)`, reference
definitions `[name]: target`, and HTML `href="..."`/`src="..."`) are read
outside fenced code blocks and inline code spans. `http:`, `https:`,
`mailto:` and protocol-relative `//host` targets are skipped. A relative
target must name an existing file or folder (relative to the page, or to the
repository root when it starts with `/`). An anchor (`#part` or
`page.md#part`) must match a heading of that Markdown page, slugged as GitHub
does: lowercase; drop every character but letters, digits, `_`, `-` and
spaces; spaces to hyphens; a repeated heading gets `-1`, `-2`, ...
"""

from __future__ import annotations

import os
import re
import unicodedata
from pathlib import Path
from urllib.parse import unquote

import pytest

ROOT = Path(__file__).resolve().parent.parent

FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
CLOSING_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})[ \t]*$")
CODE_SPAN = re.compile(r"(`+)(?:(?!\1).)+?\1")
# `](target)` or `](target "title")`: the end of an inline link or image; the text before it may nest an image
INLINE = re.compile(r"\]\(\s*(<[^>\n]*>|[^\s)]*)(?:\s+(?:\"[^\"]*\"|'[^']*'|\([^)]*\)))?\s*\)")
REFERENCE = re.compile(r"^ {0,3}\[[^\]]+\]:\s*(<[^>\n]*>|\S+)")
HTML_ATTR = re.compile(r"""\b(?:href|src)\s*=\s*(?:"([^"]*)"|'([^']*)')""", re.IGNORECASE)
HTML_ANCHOR = re.compile(r"""<a\s[^>]*\b(?:name|id)\s*=\s*(?:"([^"]*)"|'([^']*)')""", re.IGNORECASE)
ATX = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$")
SETEXT = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")
EXTERNAL = re.compile(r"^(?:https?:|mailto:|//)", re.IGNORECASE)


def doc_files(root: Path = ROOT) -> list[Path]:
    """README.md and every docs/*.md."""
    return [root / "README.md", *sorted((root / "docs").glob("*.md"))]


def prose_lines(text: str) -> list[tuple[int, str]]:
    """(line number, line) outside fenced code, with inline code spans blanked out."""
    lines, fence = [], None
    for number, line in enumerate(text.splitlines(), start=1):
        if fence is None:
            opened = FENCE.match(line)
            if opened:
                fence = opened.group(1)
            else:
                lines.append((number, CODE_SPAN.sub(lambda m: " " * len(m.group(0)), line)))
        else:
            closed = CLOSING_FENCE.match(line)
            if closed and closed.group(1)[0] == fence[0] and len(closed.group(1)) >= len(fence):
                fence = None
    return lines


def shown(path: Path, root: Path) -> str:
    """A path as the failure message names it: relative to the repository root."""
    return Path(os.path.relpath(path, root)).as_posix()


def resolve(page: Path, file_part: str, root: Path) -> Path:
    """Where a link's file part points: relative to the page, or to the root when it starts with `/`."""
    if file_part.startswith("/"):
        return root / file_part.lstrip("/")
    return page.parent / file_part


def slug(heading: str) -> str:
    """GitHub's anchor for a heading's text."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link or image in a heading: its text
    text = re.sub(r"<[^>]+>", "", text)  # HTML tags
    text = text.strip().lower()
    kept = (c for c in text if c in " -" or unicodedata.category(c)[0] in "LMN" or unicodedata.category(c) == "Pc")
    return "".join(kept).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    """Every anchor a Markdown page offers: its headings' slugs (repeats numbered) and HTML name/id anchors."""
    seen: dict[str, int] = {}
    found: set[str] = set()
    previous, previous_number = "", 0
    for number, line in prose_lines(path.read_text(encoding="utf-8")):
        heading = None
        atx = ATX.match(line)
        if atx:
            heading = atx.group(2) or ""
        elif (
            SETEXT.match(line)
            and previous_number == number - 1
            and previous.strip()
            and not re.match(r"^ {0,3}([#>|*+-]|\d+[.)])", previous)
        ):
            heading = previous.strip()
        if heading is not None:
            base = slug(heading)
            count = seen.get(base, 0)
            seen[base] = count + 1
            found.add(base if count == 0 else f"{base}-{count}")
        for match in HTML_ANCHOR.finditer(line):
            found.add(match.group(1) or match.group(2) or "")
        previous, previous_number = ("" if heading is not None else line), number
    return found


def link_targets(text: str) -> list[tuple[int, str]]:
    """(line number, target) of every link and image in the prose of a Markdown text."""
    targets = []
    for number, line in prose_lines(text):
        for match in INLINE.finditer(line):
            if "[" in line[: match.start()]:
                targets.append((number, match.group(1)))
        reference = REFERENCE.match(line)
        if reference:
            targets.append((number, reference.group(1)))
        for match in HTML_ATTR.finditer(line):
            targets.append((number, match.group(1) if match.group(1) is not None else match.group(2)))
    return [(number, target[1:-1] if target.startswith("<") and target.endswith(">") else target) for number, target in targets]


def broken_links(path: Path, root: Path = ROOT) -> list[str]:
    """One message per broken link in a Markdown file: `file:line: target: why`."""
    problems = []
    where = shown(path, root)
    anchor_cache: dict[Path, set[str]] = {}
    for number, target in link_targets(path.read_text(encoding="utf-8")):
        if EXTERNAL.match(target):
            continue

        def problem(why: str, number: int = number, target: str = target) -> None:
            problems.append(f"{where}:{number}: {target!r}: {why}")

        if not target:
            problem("empty link target")
            continue
        file_part, _, anchor = target.partition("#")
        file_part = unquote(file_part.split("?", 1)[0])
        linked = resolve(path, file_part, root) if file_part else path
        if not linked.exists():
            problem(f"{shown(linked, root)} does not exist")
            continue
        if anchor and linked.is_file() and linked.suffix.lower() == ".md":
            if linked not in anchor_cache:
                anchor_cache[linked] = anchors(linked)
            if unquote(anchor) not in anchor_cache[linked]:
                page = "this page" if linked == path else shown(linked, root)
                problem(f"no heading in {page} has the anchor #{unquote(anchor)}")
    return problems


def test_readme_and_docs_are_found():
    files = doc_files()
    assert files[0].is_file(), "README.md is missing"
    assert len(files) > 1, "docs/*.md: no pages found"


@pytest.mark.parametrize("path", doc_files(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_relative_links_resolve(path: Path):
    problems = broken_links(path)
    assert not problems, "broken links:\n" + "\n".join(problems)


def test_every_docs_file_is_linked():
    """Nothing in docs/ is orphaned: every page and picture is the target of a link from README or another page."""
    linked: set[Path] = set()
    for path in doc_files():
        for _, target in link_targets(path.read_text(encoding="utf-8")):
            file_part = unquote(target.partition("#")[0].split("?", 1)[0])
            if file_part and not EXTERNAL.match(target):
                linked.add(resolve(path, file_part, ROOT).resolve())
    orphans = [p.relative_to(ROOT).as_posix() for p in sorted((ROOT / "docs").iterdir()) if p.is_file() and p.resolve() not in linked]
    assert not orphans, "docs files that nothing links to: " + ", ".join(orphans)


# The checker itself: it must be able to fail.


def test_slug_follows_github():
    assert slug("Tokens, budgets and cost") == "tokens-budgets-and-cost"
    assert slug("The `harness run` command!") == "the-harness-run-command"
    assert slug("Where does my change go?") == "where-does-my-change-go"
    assert slug("pass_if and `min_pass_rate`") == "pass_if-and-min_pass_rate"
    assert slug("Exit codes (0–3)") == "exit-codes-03"
    assert slug("[Recording](x.md) the examples") == "recording-the-examples"


def test_checker_reports_file_line_and_target(tmp_path: Path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "pic.png").write_bytes(b"")
    (tmp_path / "docs" / "page.md").write_text("# Page\n\n## Exit codes\n\n## Exit codes\n\nSetext heading\n---\n")
    (tmp_path / "README.md").write_text(
        "# Title\n"
        "\n"
        "[fine](docs/page.md) [fine too](docs/page.md#exit-codes-1) [setext](docs/page.md#setext-heading)\n"
        "![picture](docs/pic.png) [here](#title) [web](https://example.com/x.md) [mail](mailto:a@b.c)\n"
        "[gone](docs/missing.md)\n"
        "![no picture](docs/missing.png)\n"
        "[bad anchor](docs/page.md#exit-code)\n"
        "[bad local anchor](#nowhere)\n"
        "`[in code](docs/nope.md)`\n"
        "```\n"
        "[in a fence](docs/nope.md)\n"
        "```\n"
        "[![badge](docs/pic.png)](docs/absent.md)\n"
        "[ref]: docs/also-missing.md\n"
    )
    problems = broken_links(tmp_path / "README.md", root=tmp_path)
    assert [p.split(": ", 1)[0] for p in problems] == [
        "README.md:5",
        "README.md:6",
        "README.md:7",
        "README.md:8",
        "README.md:13",
        "README.md:14",
    ], problems
    assert "'docs/missing.md'" in problems[0] and "does not exist" in problems[0]
    assert "'docs/missing.png'" in problems[1]
    assert "'docs/page.md#exit-code'" in problems[2] and "no heading in docs/page.md has the anchor #exit-code" in problems[2]
    assert "'#nowhere'" in problems[3] and "this page" in problems[3]
    assert "'docs/absent.md'" in problems[4]
    assert "'docs/also-missing.md'" in problems[5]
