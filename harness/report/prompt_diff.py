"""The prompt change itself, as a compact unified diff for summary.md.

A reviewer of a prompt pull request needs the edit before anything else. The
same edit (a system prompt) shows up in every case of a suite, so identical
changes are shown once, headed by the prompt files they come from and the cases
they apply to. Long lines are cut
around the change, the whole diff is capped, and what is left out is in diff.html.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable

from harness.results.changes import common_ends
from harness.results.compare import CaseDiff

MAX_LINES = 60  # diff lines in summary.md, over every change
LONG_LINE = 200  # a longer line is cut around what changed
CONTEXT_CHARS = 60  # unchanged characters kept on each side of a change in a long line


def prompt_diff(diffs: Iterable[CaseDiff], limit: int = MAX_LINES) -> tuple[str, int]:
    """The fenced ```diff block of every distinct prompt change, and how many diff lines were left out."""
    groups: dict[tuple[str, str, tuple[tuple[str, str], ...], tuple[str, ...]], list[CaseDiff]] = {}
    for d in diffs:
        for change in d.prompt:  # the word diff is cached: the same edit in every case is the same tuple
            groups.setdefault((change.label, change.kind, tuple(change.ops), tuple(change.files)), []).append(d)
    lines: list[str] = []
    left_out = 0
    for (label, kind, ops, files), cases in groups.items():
        if len(lines) >= limit - 1:  # nothing more fits: count what is left out without diffing it
            left_out += sum(1 for k, _ in ops if k != "=")
            continue
        before = "".join(text for k, text in ops if k != "+")
        after = "".join(text for k, text in ops if k != "-")
        body = _hunks(before if kind != "added" else "", after if kind != "removed" else "")
        source = f" ({', '.join(files)})" if files else ""  # the prompt files the text is read from
        block = [f"@@ {label}{source}{'' if kind == 'changed' else ' ' + kind}: {_cases(cases)} @@", *body]
        room = limit - len(lines)
        if room <= 1:
            left_out += len(body)
            continue
        lines += block[:room]
        left_out += max(0, len(block) - room)
    if not lines:
        return "", left_out
    text = "\n".join(lines)
    fence = "`" * max(3, 1 + max((len(run) for run in re.findall(r"`+", text)), default=0))
    return f"{fence}diff\n{text}\n{fence}", left_out


def _cases(cases: list[CaseDiff]) -> str:
    """'support / wifi-drops, greeting; billing / refund' (at most 8 named)."""
    by_suite: dict[str, dict[str, None]] = {}
    for d in cases:
        by_suite.setdefault(d.suite, {})[d.id] = None
    shown, parts = 0, []
    for suite, ids in by_suite.items():
        named = list(ids)[: max(0, 8 - shown)]
        shown += len(named)
        if named:
            parts.append(f"{suite} / {', '.join(named)}")
    more = sum(len(ids) for ids in by_suite.values()) - shown
    return "; ".join(parts) + (f" and {more} more" if more else "")


def _hunks(before: str, after: str) -> list[str]:
    """Unified-diff lines (two lines of context), hunks separated by an elision line."""
    a, b = before.splitlines(), after.splitlines()
    out: list[str] = []
    for n, group in enumerate(difflib.SequenceMatcher(None, a, b, autojunk=False).get_grouped_opcodes(2)):
        if n:
            out.append("@@ \u2026 @@")
        for tag, i1, i2, j1, j2 in group:
            if tag == "equal":
                out += [" " + _cut(line) for line in a[i1:i2]]
                continue
            old, new = a[i1:i2], b[j1:j2]
            if len(old) == len(new):  # line by line: each pair cut around its own change
                pairs = [_cut_pair(x, y) for x, y in zip(old, new)]
                out += ["-" + x for x, _ in pairs] + ["+" + y for _, y in pairs]
            else:
                out += ["-" + _cut(line) for line in old] + ["+" + _cut(line) for line in new]
    return out


def _cut(line: str) -> str:
    return line if len(line) <= LONG_LINE else line[:LONG_LINE] + "\u2026"


def _cut_pair(old: str, new: str) -> tuple[str, str]:
    """Two versions of a long line, each cut to the stretch that changed with some context."""
    if max(len(old), len(new)) <= LONG_LINE:
        return old, new
    start, end = common_ends(old, new)
    lo = max(0, start - CONTEXT_CHARS)

    def part(text: str) -> str:
        hi = min(len(text), len(text) - end + CONTEXT_CHARS)
        return ("\u2026" if lo else "") + _cut(text[lo:hi]) + ("\u2026" if hi < len(text) else "")

    return part(old), part(new)
