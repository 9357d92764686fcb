"""Checks on the reply text."""

from __future__ import annotations

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


# A pattern that backtracks exponentially (`^(a+)+$` on 40 a's and a '!') runs for ever in Python's `re`, which
# neither a timeout nor Ctrl-C can stop: the run would hang until CI kills it, with no report. The `regex` module
# (re's syntax and results; tiktoken already needs it) can give up after a time.
REGEX_SECONDS = 1.0


def _valid_regex(arg: Any) -> str | None:
    import regex as bounded

    if not isinstance(arg, str):
        return f"expects a regular expression string, got {type(arg).__name__}"
    try:
        bounded.compile(arg)
    except bounded.error as e:
        return f"invalid regular expression {arg!r}: {e}"
    return None


@check("regex", validate=_valid_regex, example="regex: '\\b\\d{5}\\b'")
def regex(ctx: CheckContext, arg: str) -> Outcome:
    """The pattern (Python's re syntax) is found somewhere in the reply; at most a second is spent looking."""
    import regex as bounded

    try:
        m = bounded.search(arg, ctx.reply.text, timeout=REGEX_SECONDS)
    except TimeoutError:
        return Outcome(False, f"pattern {arg!r} took more than {REGEX_SECONDS:g} s on this reply of "
                              f"{len(ctx.reply.text):,} characters (it backtracks exponentially, as `(a+)+` does); "
                              "simplify it, e.g. without a repeat inside a repeat")  # fmt: skip
    if m:
        return Outcome(True, f"pattern {arg!r} matched {m.group(0)!r}")
    return Outcome(False, f"expected a match for pattern {arg!r}, got {preview(ctx.reply.text)}",
                   negated=f"no match for pattern {arg!r} in the reply")
