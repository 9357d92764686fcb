"""Checks on the reply text."""

from __future__ import annotations

import re
from typing import Any

from harness.assertions.registry import CheckContext, Outcome, check, is_str, is_str_list, preview


@check("equals", validate=is_str, example="equals: 'Paris'")
def equals(ctx: CheckContext, arg: str) -> Outcome:
    """The reply, stripped of surrounding whitespace, equals the text exactly."""
    actual = ctx.reply.text.strip()
    if actual == arg.strip():
        return Outcome(True, f"reply equals {arg!r}")
    return Outcome(False, f"expected reply to equal {arg!r}, got {preview(actual)}",
                   negated=f"the reply does not equal {arg!r}")


@check("contains", validate=is_str, example="contains: refund")
def contains(ctx: CheckContext, arg: str) -> Outcome:
    """The reply contains the text (case-sensitive)."""
    text = ctx.reply.text
    pos = text.find(arg)
    if pos >= 0:
        return Outcome(True, f"reply contains {arg!r} at position {pos}")
    return Outcome(False, f"expected reply to contain {arg!r}, got {preview(text)}",
                   negated=f"the reply does not contain {arg!r}")


@check("icontains", validate=is_str, example="icontains: REFUND")
def icontains(ctx: CheckContext, arg: str) -> Outcome:
    """The reply contains the text, ignoring case."""
    text = ctx.reply.text
    pos = text.casefold().find(arg.casefold())
    if pos >= 0:
        return Outcome(True, f"reply contains {arg!r} (ignoring case) at position {pos}")
    return Outcome(False, f"expected reply to contain {arg!r} (ignoring case), got {preview(text)}",
                   negated=f"the reply does not contain {arg!r} (ignoring case)")


@check("contains_any", validate=is_str_list, example="contains_any: [restart, reboot]")
def contains_any(ctx: CheckContext, arg: list[str]) -> Outcome:
    """The reply contains at least one of the texts (case-insensitive)."""
    folded = ctx.reply.text.casefold()
    found = [s for s in arg if s.casefold() in folded]
    if found:
        return Outcome(True, f"reply contains {found[0]!r} (one of {arg!r})")
    return Outcome(False, f"expected reply to contain any of {arg!r}, got {preview(ctx.reply.text)}",
                   negated=f"the reply contains none of {arg!r}")


@check("contains_all", validate=is_str_list, example="contains_all: [name, city]")
def contains_all(ctx: CheckContext, arg: list[str]) -> Outcome:
    """The reply contains every one of the texts (case-insensitive)."""
    folded = ctx.reply.text.casefold()
    missing = [s for s in arg if s.casefold() not in folded]
    if not missing:
        return Outcome(True, f"reply contains all of {arg!r}")
    return Outcome(False, f"expected reply to contain all of {arg!r}; missing {missing!r} in {preview(ctx.reply.text)}",
                   negated=f"the reply does not contain all of {arg!r} (no {', '.join(map(repr, missing))})")


@check("starts_with", validate=is_str, example="starts_with: 'Dear'")
def starts_with(ctx: CheckContext, arg: str) -> Outcome:
    """The reply, after leading whitespace, starts with the text."""
    text = ctx.reply.text.lstrip()
    if text.startswith(arg):
        return Outcome(True, f"reply starts with {arg!r}")
    return Outcome(False, f"expected reply to start with {arg!r}, got {preview(text, 60)}",
                   negated=f"the reply does not start with {arg!r}")


def _valid_regex(arg: Any) -> str | None:
    if not isinstance(arg, str):
        return f"expects a regular expression string, got {type(arg).__name__}"
    try:
        re.compile(arg)
    except re.error as e:
        return f"invalid regular expression {arg!r}: {e}"
    return None


@check("regex", validate=_valid_regex, example="regex: '\\b\\d{5}\\b'")
def regex(ctx: CheckContext, arg: str) -> Outcome:
    """Python's re.search finds the pattern somewhere in the reply."""
    m = re.search(arg, ctx.reply.text)
    if m:
        return Outcome(True, f"pattern {arg!r} matched {m.group(0)!r}")
    return Outcome(False, f"expected a match for pattern {arg!r}, got {preview(ctx.reply.text)}",
                   negated=f"no match for pattern {arg!r} in the reply")
