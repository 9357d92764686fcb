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
    if isinstance(value, str):
        return storable(value)
    total = 0
    if isinstance(value, list):
        out = []
        for item in value:
            item, n = repair(item)
            out.append(item)
            total += n
        return out, total
    if isinstance(value, dict):
        fixed = {}
        for k, v in value.items():
            k, n1 = repair(k)
            v, n2 = repair(v)
            fixed[k] = v
            total += n1 + n2
        return fixed, total
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        for f in dataclasses.fields(value):
            new, n = repair(getattr(value, f.name))
            if n:
                object.__setattr__(value, f.name, new)
                total += n
    return value, total


def replaced_note(count: int, what: str = "the reply") -> str:
    """The turn note for repaired text."""
    noun = "surrogate" if count == 1 else "surrogates"
    return (f"{what} held {count} unpaired {noun} (text that is not valid Unicode); "
            f"stored with U+FFFD ({REPLACEMENT}) in {'its' if count == 1 else 'their'} place")  # fmt: skip


def capped(text: str, limit: int = STORED_TEXT_LIMIT) -> str:
    """``text`` cut to ``limit`` characters with a marker saying how long it was; unchanged when shorter."""
    if len(text) <= limit:
        return text
    return text[:limit] + f"\n[... cut by prompt-harness: {len(text):,} characters, the first {limit:,} are stored]"
