"""Limits on how much cost, tokens and latency may grow from a base run to a head run: names and parsing.

One vocabulary for a suite's `gate:` block and the `harness compare` flags, so
both spell and check a limit the same way and cannot drift apart. A limit is
a percentage (20 means head may be at most 20 % above base). Plain data: the
suite schema adds file:line:column to a problem, the command line the flag.
"""

from __future__ import annotations

import difflib
import math
from typing import Any

COST = "cost"
PROMPT_TOKENS = "prompt_tokens"
COMPLETION_TOKENS = "completion_tokens"
TOTAL_TOKENS = "total_tokens"
LATENCY_MEDIAN = "latency_median"
LATENCY_P95 = "latency_p95"
METRICS = (COST, PROMPT_TOKENS, COMPLETION_TOKENS, TOTAL_TOKENS, LATENCY_MEDIAN, LATENCY_P95)
LATENCY_METRICS = (LATENCY_MEDIAN, LATENCY_P95)
LABELS = {COST: "cost", PROMPT_TOKENS: "prompt tokens", COMPLETION_TOKENS: "completion tokens",
          TOTAL_TOKENS: "total tokens", LATENCY_MEDIAN: "median latency", LATENCY_P95: "p95 latency"}  # fmt: skip

# A key of `gate:` (the flag is the same name with dashes): the words that choose what it limits, and what a
# bare number limits. `max_token_increase: 20` limits total tokens; `max_latency_increase: 30` median and p95.
LIMIT_KEYS: dict[str, tuple[dict[str, str], tuple[str, ...]]] = {
    "max_cost_increase": ({}, (COST,)),
    "max_token_increase": ({"prompt": PROMPT_TOKENS, "completion": COMPLETION_TOKENS, "total": TOTAL_TOKENS},
                           (TOTAL_TOKENS,)),
    "max_latency_increase": ({"median": LATENCY_MEDIAN, "p95": LATENCY_P95}, (LATENCY_MEDIAN, LATENCY_P95)),
}  # fmt: skip
EXAMPLES = {"max_cost_increase": "20", "max_token_increase": "completion=20",
            "max_latency_increase": "p95=50"}  # fmt: skip
GATE_EXAMPLE = "gate: {max_cost_increase: 20, max_token_increase: {completion: 20}, max_latency_increase: {p95: 50}}"

Limits = dict[str, float]  # metric -> the largest increase allowed, in percent


def flag_name(key: str) -> str:
    """`max_token_increase` -> `--max-token-increase`."""
    return "--" + key.replace("_", "-")


def _close(word: str, choices: list[str]) -> str:
    found = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return f"; did you mean {found[0]!r}?" if found else ""


def parse_percent(value: Any) -> tuple[float | None, str | None]:
    """A percentage of 0 or more: a number, or text like ``20`` or ``20%``; (value, None) or (None, problem)."""
    number: Any = value
    if isinstance(value, str):
        text = value.strip().removesuffix("%").strip()
        try:
            number = float(text)
        except ValueError:
            number = None
    ok = isinstance(number, (int, float)) and not isinstance(number, bool) and math.isfinite(number) and number >= 0
    if ok:
        return float(number), None
    return None, f"must be a percentage of 0 or more (20 allows head up to 20 % above base), got {value!r}"


GateProblem = tuple[str | None, bool, str]  # (inner key or None for the whole value, at the key rather than its value, text)


def parse_gate_value(key: str, value: Any) -> tuple[Limits, list[GateProblem]]:
    """One key of a suite's `gate:`: its limits, and each problem with where it is.

    ``max_token_increase: 20`` or ``{completion: 20, total: 30}``; the same for the others' words.
    """
    words, bare = LIMIT_KEYS[key]
    if not isinstance(value, dict):
        pct, problem = parse_percent(value)
        if problem:
            shape = f"; write a number or a mapping like {{{', '.join(f'{w}: 20' for w in list(words)[:2])}}}"
            return {}, [(None, False, problem + (shape if words else ""))]
        return {m: pct for m in bare}, []  # type: ignore[misc]
    if not words:
        return {}, [(None, False, f"must be a percentage such as 20, got a mapping; `{key}` has no kinds to choose from")]
    limits: Limits = {}
    problems: list[GateProblem] = []
    if not value:
        problems.append((None, False, f"is empty; write e.g. {{{next(iter(words))}: 20}}"))
    for word, raw in value.items():
        if word not in words:
            hint = _close(str(word), list(words)) or f"; choose {', '.join(words)}"
            problems.append((str(word), True, f"has unknown kind {word!r}{hint}"))
            continue
        pct, problem = parse_percent(raw)
        if problem:
            problems.append((str(word), False, problem))
        else:
            limits[words[word]] = pct  # type: ignore[assignment]
    return limits, problems


def parse_flag(key: str, texts: list[str]) -> tuple[Limits, list[str]]:
    """The values of one repeatable flag (``completion=20``, ``prompt=10,total=15``, ``20``); later ones win."""
    words, bare = LIMIT_KEYS[key]
    flag = flag_name(key)
    limits: Limits = {}
    problems: list[str] = []
    for text in texts:
        for part in str(text).split(","):
            word, sep, amount = part.partition("=")
            if not sep:
                pct, problem = parse_percent(part)
                targets = bare
            elif not words:
                problems.append(f"{flag} {text}: takes a percentage only, e.g. {flag} {EXAMPLES[key]}")
                continue
            elif word.strip() not in words:
                hint = _close(word.strip(), list(words)) or f"; choose {', '.join(words)}"
                problems.append(f"{flag} {text}: unknown kind {word.strip()!r}{hint} (e.g. {flag} {EXAMPLES[key]})")
                continue
            else:
                pct, problem = parse_percent(amount)
                targets = (words[word.strip()],)
            if problem:
                problems.append(f"{flag} {text}: {problem}; e.g. {flag} {EXAMPLES[key]}")
                continue
            limits.update({m: pct for m in targets})  # type: ignore[misc]
    return limits, problems


def limits_from_dict(data: Any) -> Limits:
    """Limits read back from a results file: unknown metrics and bad values are dropped (files from other versions)."""
    if not isinstance(data, dict):
        return {}
    out: Limits = {}
    for metric, raw in data.items():
        pct, problem = parse_percent(raw)
        if metric in METRICS and problem is None:
            out[metric] = pct  # type: ignore[assignment]
    return out
