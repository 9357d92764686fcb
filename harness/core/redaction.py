"""Keeping the API key out of everything the harness writes.

Servers echo keys back ("Incorrect API key provided: sk-test-S...123456") and a
model can repeat one a prompt contained, so every error message, every
finished case before it reaches the journal, results or reports, and every
reply before it is recorded in a cassette, is scrubbed of the key, of any run
of 10 or more of its characters, and of any run of 6 or more of its secret part
(what follows a prefix every key of its kind shares, such as `sk-proj-`): one
rule for every file the harness writes. A cassette that would still hold one
(a suite's own request) is not written at all.
"""

from __future__ import annotations

import dataclasses
import re
from functools import lru_cache
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

REDACTED = "[redacted]"
MIN_KEY_FRAGMENT = 10  # a run of the whole key, its shared prefix included
MIN_SECRET_FRAGMENT = 6  # a run of its secret part alone
_PREFIX = re.compile(r"(?:[a-z]+-)+")  # sk-, sk-proj-, sk-svcacct-: the same in every key of a kind, not secret
_SECRET_QUERY_WORDS = ("key", "token", "secret", "sig", "password", "auth")


def _secret_start(key: str) -> int:
    found = _PREFIX.match(key)
    return found.end() if found and found.end() < len(key) else 0


@lru_cache(maxsize=32)
def _windows(key: str) -> tuple[str, ...]:
    """The shortest runs that count as a leak: 10 characters of the key, 6 of its secret part (worked out once
    per key: every string of every finished case is checked against them)."""
    if len(key) < MIN_SECRET_FRAGMENT:
        return (key,)
    secret = key[_secret_start(key):]
    runs = {key[i : i + MIN_KEY_FRAGMENT] for i in range(len(key) - MIN_KEY_FRAGMENT + 1)}
    runs |= {secret[i : i + MIN_SECRET_FRAGMENT] for i in range(len(secret) - MIN_SECRET_FRAGMENT + 1)}
    return tuple(sorted(runs)) or (key,)


def leaks(text: str, key: str | None) -> bool:
    """Whether ``text`` holds the key or a run of it that counts (cheap: one scan per window)."""
    return bool(key and text) and any(w in text for w in _windows(key))


def redact(text: str, key: str | None) -> str:
    """``text`` with the key, any run of 10 or more of its characters and any run of 6 or more of its secret
    part replaced by [redacted], longest first."""
    if not leaks(text, key):
        return text
    assert key is not None
    if len(key) < MIN_SECRET_FRAGMENT:
        return text.replace(key, REDACTED)
    secret_start = _secret_start(key)
    for size in range(len(key), MIN_SECRET_FRAGMENT - 1, -1):
        for start in range(len(key) - size + 1):
            if size < MIN_KEY_FRAGMENT and start < secret_start:
                continue  # a short run that takes in the shared prefix is not secret enough to hide
            fragment = key[start : start + size]
            if fragment in text:
                text = text.replace(fragment, REDACTED)
    return text


def redact_value(value: Any, key: str | None) -> Any:
    """Scrub every string inside ``value`` (dataclasses are changed in place, containers rebuilt)."""
    if isinstance(value, str):
        return redact(value, key)
    if isinstance(value, list):
        return [redact_value(v, key) for v in value]
    if isinstance(value, tuple):
        return tuple(redact_value(v, key) for v in value)
    if isinstance(value, dict):
        return {redact_value(k, key): redact_value(v, key) for k, v in value.items()}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        for f in dataclasses.fields(value):
            object.__setattr__(value, f.name, redact_value(getattr(value, f.name), key))  # frozen ones too
    return value


def redact_case(case: Any, key: str | None) -> Any:
    """Scrub a finished case; the common case (no leak) costs one scan of its repr."""
    if key and leaks(repr(case), key):
        redact_value(case, key)
    return case


def redact_url(url: str | None) -> str | None:
    """A base URL with secret-looking query values (``?api-key=...``) and user info removed."""
    if not url:
        return url
    parts = urlsplit(url)
    netloc = parts.netloc.rsplit("@", 1)[-1]
    query = [(k, REDACTED if any(w in k.lower() for w in _SECRET_QUERY_WORDS) else v)
             for k, v in parse_qsl(parts.query, keep_blank_values=True)]  # fmt: skip
    return urlunsplit((parts.scheme, netloc, parts.path, urlencode(query, safe="[]"), parts.fragment))
