"""One policy for text the harness stores: it is always valid Unicode, and never unboundedly long.

JSON (a server's reply, a YAML escape) can spell a lone UTF-16 surrogate
(`"\\ud83d"`, half an emoji) that no UTF-8 file can hold; writing it raised,
and the run was lost. Where text enters, surrogate pairs are joined into the
character they spell and every unpaired one becomes U+FFFD: a reply is
repaired and its turn notes it; a suite that holds one is bad input (the
harness never sends other text than was written). The writers use the
``storable`` codec error handler as a last line of defence, so a file write
can never fail on text that slipped past.

Stored text is also capped: a reply of 10 MB is judged whole, but results,
the journal and the reports keep its first ``STORED_TEXT_LIMIT`` characters
and a marker (cassettes keep it whole, to replay it).
"""

from __future__ import annotations

import codecs
import dataclasses
import re
from typing import Any

REPLACEMENT = "\ufffd"
STORABLE_ERRORS = "storable"  # the codec error handler every writer opens its files with
STORED_TEXT_LIMIT = 1_000_000  # characters of one text kept in results.json, the journal and the reports
_SURROGATE = re.compile("[\ud800-\udfff]")


def _replace_unencodable(error: UnicodeError) -> tuple[bytes, int]:
    if isinstance(error, UnicodeEncodeError) and error.encoding in ("utf-8", "utf8"):
        return REPLACEMENT.encode() * (error.end - error.start), error.end  # bytes: the UTF-8 encoder takes them as-is
    raise error


codecs.register_error(STORABLE_ERRORS, _replace_unencodable)


def has_surrogates(text: str) -> bool:
    return _SURROGATE.search(text) is not None


def storable(text: str) -> tuple[str, int]:
    """``text`` with surrogate pairs joined and each unpaired surrogate replaced by U+FFFD; and how many were."""
    if not has_surrogates(text):
        return text, 0
    fixed = text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
    return fixed, fixed.count(REPLACEMENT) - text.count(REPLACEMENT)


def surrogate_problem(text: str) -> str | None:
    """Why suite text cannot be sent as written (an unpaired surrogate), with the fix; None when it can."""
    at = _first_unpaired(text)
    if at is None:
        return None
    return (f"text holds an unpaired surrogate (\\u{ord(text[at]):04x} at character {at + 1}), which is not a "
            "character and cannot be sent or stored; write the character itself, or its full escape such as "
            "\\U0001F600 (or the whole pair \\ud83d\\ude00)")  # fmt: skip


def _first_unpaired(text: str) -> int | None:
    start = 0
    while (found := _SURROGATE.search(text, start)) is not None:
        i = found.start()
        if "\ud800" <= text[i] <= "\udbff" and i + 1 < len(text) and "\udc00" <= text[i + 1] <= "\udfff":
            start = i + 2  # a pair: one character
            continue
        return i
    return None


def repair(value: Any) -> tuple[Any, int]:
    """Apply ``storable`` to every string inside ``value`` (dataclasses in place); the count of replacements."""
    return _walk(value, _repair_text)


def _repair_text(text: str) -> tuple[str, int]:
    return storable(text) if _SURROGATE.search(text) else (text, 0)


_FIELD_NAMES: dict[type, tuple[str, ...]] = {}


def _field_names(cls: type) -> tuple[str, ...]:
    names = _FIELD_NAMES.get(cls)
    if names is None:
        names = _FIELD_NAMES[cls] = tuple(f.name for f in dataclasses.fields(cls)) if dataclasses.is_dataclass(cls) else ()
    return names


def _walk(value: Any, fix: Any) -> tuple[Any, int]:
    """``value`` with ``fix(text) -> (text, count)`` applied to every string inside: lists and dicts rebuilt only
    when something changed, dataclasses changed in place; and the total count. Every finished case goes
    through here, so it dispatches on the exact type rather than asking dataclasses each time."""
    cls = type(value)
    if cls is str:
        return fix(value)
    if cls is list:
        total = 0
        for i, item in enumerate(value):
            new, n = _walk(item, fix)
            if n:
                value[i] = new
                total += n
        return value, total
    if cls is dict:
        total = 0
        for key, item in list(value.items()):
            new, n = _walk(item, fix)
            if n:
                value[key] = new
                total += n
            if type(key) is str and (k := fix(key))[1]:
                value[k[0]] = value.pop(key)
                total += k[1]
        return value, total
    if cls in _ATOMS:
        return value, 0
    total = 0
    for name in _field_names(cls):
        new, n = _walk(getattr(value, name), fix)
        if n:
            object.__setattr__(value, name, new)
            total += n
    return value, total


_ATOMS = {int, float, bool, type(None), bytes}


def replaced_note(count: int, what: str = "the reply") -> str:
    """The turn note for repaired text."""
    noun = "surrogate" if count == 1 else "surrogates"
    return (f"{what} held {count} unpaired {noun} (text that is not valid Unicode); "
            f"stored with U+FFFD ({REPLACEMENT}) in {'its' if count == 1 else 'their'} place")  # fmt: skip


def cap_stored_text(case: Any, limit: int = STORED_TEXT_LIMIT) -> None:
    """Cut every text of a finished case longer than ``limit`` (in place), with a note on its turn.

    Called once the checks have judged the case (they see every reply whole), before the journal,
    results.json and the reports get it.
    """

    def cut(text: str) -> tuple[str, int]:
        return (capped(text, limit), 1) if len(text) > limit else (text, 0)

    for turn in getattr(case, "turns", []):
        if not _may_be_long(turn, limit):
            continue
        _, count = _walk(turn, cut)
        if count:
            noun = "text was" if count == 1 else "texts were"
            turn.notes.append(f"{count} {noun} longer than {limit:,} characters (a reply, and the history that "
                              f"repeats it): stored cut to their first {limit:,} characters; the checks saw them "
                              "whole")  # fmt: skip
    if isinstance(getattr(case, "error", None), str):
        case.error = capped(case.error, limit)


def _may_be_long(turn: Any, limit: int) -> bool:
    """Whether a finished turn can hold a text over ``limit``: the usual places are looked at directly (a
    10,000-case run has 10,000s of turns), anything unusual (content parts, grader details) is walked."""
    if turn.context_summary is not None or (turn.error is not None and len(turn.error) > limit):
        return True
    for message in turn.messages:
        content = message.get("content")
        if len(message) > 2 or (len(content) > limit if type(content) is str else content is not None):
            return True
    reply = turn.reply
    if reply is not None:
        if (reply.content is not None and len(reply.content) > limit) or reply.refusal is not None or reply.tool_calls:
            return True
    for check in turn.checks:
        if len(check.reason) > limit or check.details or (check.expected is not None and _may_be_long_value(check.expected, limit)):
            return True
    return False


def _may_be_long_value(value: Any, limit: int) -> bool:
    if isinstance(value, str):
        return len(value) > limit
    if isinstance(value, (list, tuple)):
        return any(_may_be_long_value(item, limit) if isinstance(item, (str, list, tuple, dict)) else False
                   for item in value)  # fmt: skip
    return isinstance(value, dict)


def capped(text: str, limit: int = STORED_TEXT_LIMIT) -> str:
    """``text`` cut to ``limit`` characters with a marker saying how long it was; unchanged when shorter."""
    if len(text) <= limit:
        return text
    return text[:limit] + f"\n[... cut by prompt-harness: {len(text):,} characters, the first {limit:,} are stored]"


# C0 controls (newline and tab included), DEL and C1 controls: what a terminal or a CI log would act on.
_CONTROLS = {c: f"\\x{c:02x}" for c in (*range(0x20), 0x7F, *range(0x80, 0xA0))} | {0x0A: "\\n", 0x0D: "\\r",
                                                                                  0x09: "\\t"}  # fmt: skip


def printable(text: str) -> str:
    """Untrusted text (a server's error message, a grader's reasoning) as one inert line for a terminal or a
    CI log: every control character spelt out, so an escape sequence cannot move the cursor or retitle the
    window, and a newline cannot start a line GitHub Actions reads as a workflow command (`::error::`)."""
    return text.translate(_CONTROLS)
