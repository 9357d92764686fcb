"""Keeping a conversation inside the model's context window.

The three strategies of the OpenAI cookbook: drop the oldest exchanges, summarize
them (the caller makes the model call; this module only plans and splices), or
report that the prompt does not fit. Token counting is passed in as `count`, so
this module stays pure and independent of the tokenizer.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Message = dict[str, Any]
Counter = Callable[[list[Message]], int]

STRATEGIES = ("drop_oldest", "summarize", "error")
PINNED_ROLES = frozenset({"system", "developer"})
SUMMARY_INSTRUCTION = (
    "Summarize the conversation so far concisely. Keep the facts, names, numbers, decisions "
    "and open questions the assistant needs to continue it; leave out pleasantries."
)
SUMMARY_PREFIX = "Summary of the earlier conversation: "


@dataclass
class TruncationOutcome:
    """What to send, what was removed, and a note a reviewer can read in the report."""

    messages: list[Message]
    dropped: list[Message]
    fits: bool
    prompt_tokens: int
    note: str


@dataclass
class SummaryPlan:
    """head + [summary of to_summarize] + tail is the conversation to send next."""

    head: list[Message]
    to_summarize: list[Message]
    tail: list[Message]
    exchanges: int = 0
    fits: bool = True
    summarized_tokens: int = 0


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def split_exchanges(messages: list[Message]) -> tuple[list[int], list[list[int]]]:
    """Indices of pinned (system/developer) messages, and the exchanges in order.

    An exchange is a user message and every assistant/tool message up to the next
    user message; anything before the first user message forms its own exchange.
    """
    pinned: list[int] = []
    exchanges: list[list[int]] = []
    for i, message in enumerate(messages):
        role = message.get("role")
        if role in PINNED_ROLES:
            pinned.append(i)
        elif role == "user" or not exchanges:
            exchanges.append([i])
        else:
            exchanges[-1].append(i)
    return pinned, exchanges


def _removal_note(verb: str, exchanges: int, messages: int, tokens: int, window: int) -> str:
    return (
        f"{verb} {_plural(exchanges, 'oldest exchange')} ({_plural(messages, 'message')}, "
        f"{tokens} tokens) to fit {window}-token window"
    )


def _overflow_note(needed: int, reserved: int, window: int, what: str) -> str:
    return f"{what} need {needed} tokens + {reserved} reserved for the completion > {window}-token window"


def check_fits(messages: list[Message], count: Counter, window: int, reserved_completion: int = 0) -> TruncationOutcome:
    """The `error` strategy: change nothing, say whether the prompt fits."""
    tokens = count(messages)
    fits = tokens + reserved_completion <= window
    note = (
        f"{tokens} prompt tokens + {reserved_completion} reserved fit the {window}-token window"
        if fits
        else _overflow_note(tokens, reserved_completion, window, "the messages")
    )
    return TruncationOutcome(list(messages), [], fits, tokens, note)


def drop_oldest(
    messages: list[Message], count: Counter, window: int, reserved_completion: int = 0
) -> TruncationOutcome:
    """Remove whole oldest exchanges until `count(messages) + reserved_completion <= window`.

    System/developer messages and the newest exchange (the newest user turn and
    any tool calls after it) are always kept. If even they do not fit, nothing is
    removed and `fits` is False.
    """
    outcome = check_fits(messages, count, window, reserved_completion)
    if outcome.fits:
        return outcome
    pinned, exchanges = split_exchanges(messages)
    always = set(pinned) | set(exchanges[-1] if exchanges else [])
    minimal_tokens = count([m for i, m in enumerate(messages) if i in always])
    if minimal_tokens + reserved_completion > window:
        what = "the system messages and newest user turn alone"
        note = _overflow_note(minimal_tokens, reserved_completion, window, what)
        note += f"; the full conversation has {outcome.prompt_tokens} tokens"
        return TruncationOutcome(list(messages), [], False, outcome.prompt_tokens, note)
    gone: set[int] = set()
    n, kept, tokens = 0, list(messages), outcome.prompt_tokens
    for n, exchange in enumerate(exchanges[:-1], 1):
        gone.update(exchange)
        kept = [m for i, m in enumerate(messages) if i not in gone]
        tokens = count(kept)
        if tokens + reserved_completion <= window:
            break
    dropped = [m for i, m in enumerate(messages) if i in gone]
    note = _removal_note("dropped", n, len(dropped), outcome.prompt_tokens - tokens, window)
    return TruncationOutcome(kept, dropped, True, tokens, note)


def plan_summary(
    messages: list[Message],
    count: Counter,
    window: int,
    reserved_completion: int = 0,
    summary_tokens: int = 256,
) -> SummaryPlan:
    """Choose the fewest oldest exchanges whose replacement by a summary makes the prompt fit.

    `summary_tokens` is the budget the summary may take (pass it as the summary
    request's max_tokens). The newest exchange is never summarized; `fits` is
    False when even summarizing everything older would not make room.
    """
    pinned, exchanges = split_exchanges(messages)
    total = count(messages)
    if total + reserved_completion <= window or len(exchanges) < 2:
        return SummaryPlan([], [], list(messages), fits=total + reserved_completion <= window)
    pinned_set = set(pinned)
    for n in range(1, len(exchanges)):
        start = exchanges[n][0]
        head = [messages[i] for i in range(start) if i in pinned_set]
        tail = messages[start:]
        kept_tokens = count(head + tail)
        if kept_tokens + summary_tokens + reserved_completion <= window:
            break
    to_summarize = [messages[i] for exchange in exchanges[:n] for i in exchange]
    fits = kept_tokens + summary_tokens + reserved_completion <= window
    return SummaryPlan(head, to_summarize, tail, n, fits, total - kept_tokens)


def _text(content: Any) -> str:
    if isinstance(content, list):
        return " ".join(str(p.get("text", "")) if isinstance(p, dict) else str(p) for p in content)
    return "" if content is None else str(content)


def transcript(messages: list[Message]) -> str:
    """A plain-text rendering of messages, one speaker per paragraph."""
    lines: list[str] = []
    for m in messages:
        role = str(m.get("role", "unknown"))
        if _text(m.get("content")):
            lines.append(f"{role.capitalize()}: {_text(m.get('content'))}")
        for call in m.get("tool_calls") or []:
            fn = call.get("function", {}) if isinstance(call, dict) else {}
            args = fn.get("arguments", "")
            args = args if isinstance(args, str) else json.dumps(args)
            lines.append(f"{role.capitalize()} called {fn.get('name', '?')}({args})")
    return "\n\n".join(lines)


def summary_request(plan: SummaryPlan) -> list[Message]:
    """The messages to send to get the summary: the instruction, then the transcript."""
    return [
        {"role": "system", "content": SUMMARY_INSTRUCTION},
        {"role": "user", "content": transcript(plan.to_summarize)},
    ]


def splice_summary(plan: SummaryPlan, summary: str) -> list[Message]:
    """Replace the summarized exchanges by one system message holding the summary."""
    if not plan.to_summarize:
        return plan.head + plan.tail
    return plan.head + [{"role": "system", "content": SUMMARY_PREFIX + summary.strip()}] + plan.tail


def apply_summary(
    plan: SummaryPlan, summary: str, count: Counter, window: int, reserved_completion: int = 0
) -> TruncationOutcome:
    """Splice the model's summary in and report the result like drop_oldest does."""
    messages = splice_summary(plan, summary)
    if not plan.to_summarize:
        return check_fits(messages, count, window, reserved_completion)
    tokens = count(messages)
    fits = tokens + reserved_completion <= window
    note = _removal_note("summarized", plan.exchanges, len(plan.to_summarize), plan.summarized_tokens, window)
    if not fits:
        note += "; " + _overflow_note(tokens, reserved_completion, window, "the summarized messages still")
    return TruncationOutcome(messages, list(plan.to_summarize), fits, tokens, note)
