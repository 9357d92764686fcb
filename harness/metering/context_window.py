"""Fitting each request into the model's context window before it is sent.

Called by the turn loop with the conversation about to be sent. When prompt
plus the tokens reserved for the reply would not fit the window, the case's
`context.strategy` applies: `error` (the default) fails the turn without
sending, `drop_oldest` removes the oldest exchanges, `summarize` replaces them
with a summary the model writes (a real request through the same client,
cassette and retries, made by the caller's `summarize` function).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from harness.core.reply import Completion
from harness.metering import truncation
from harness.metering.meter import Meter

Message = dict[str, Any]
Summarize = Callable[[list[Message], dict[str, Any]], Awaitable[Completion]]
CHECK_NAME = "context_window"
# Request parameters the summary request inherits; everything else (tools,
# response_format, ...) belongs to the conversation, not to its summary.
SUMMARY_INHERITS = ("temperature", "top_p", "seed")


@dataclass
class Fitted:
    """What to send, a note on what changed, or why nothing may be sent."""

    messages: list[Message]
    note: str | None = None
    failure: str | None = None


def summary_params(params: dict[str, Any], max_tokens: int, api: str = "chat") -> dict[str, Any]:
    """Parameters of the summary request: the conversation's sampling settings and a length limit
    in the vocabulary of the case's API."""
    if api == "responses":
        limit_key = "max_output_tokens"
    else:
        limit_key = "max_completion_tokens" if "max_completion_tokens" in params else "max_tokens"
    return {**{k: params[k] for k in SUMMARY_INHERITS if k in params}, limit_key: max_tokens}


def _preview(messages: list[Message], limit: int = 6) -> str:
    """The removed messages, one short quote each, for the turn's note."""
    parts = []
    for m in messages[:limit]:
        content = m.get("content")
        if isinstance(content, list):
            content = " ".join(str(p.get("text", "")) if isinstance(p, dict) else str(p) for p in content)
        text = " ".join(str(content or "").split())
        parts.append(f"{m.get('role')} {text[:40] + '...' if len(text) > 40 else text!r}")
    more = f", and {len(messages) - limit} more" if len(messages) > limit else ""
    return ", ".join(parts) + more


async def fit(meter: Meter, messages: list[Message], params: dict[str, Any], turn: int,
              summarize: Summarize) -> Fitted:  # fmt: skip
    """Apply the strategy so `messages` fit the window; never sends the turn's own request.

    Exceptions raised by `summarize` (a failed or refused summary request) propagate.
    """
    limits = meter.limits
    if limits is None:
        return Fitted(messages)
    meter.warn_if_estimated()  # the window is checked against this count
    window = limits.context_window
    reserved = meter.reserved_completion(params)

    def count(msgs: list[Message]) -> int:
        return meter.count(msgs, params)

    checked = truncation.check_fits(messages, count, window, reserved)
    if checked.fits:
        return Fitted(messages)
    strategy = meter.strategy
    where = f"{meter.model}, context strategy {strategy!r}"
    if strategy == "drop_oldest":
        outcome = truncation.drop_oldest(messages, count, window, reserved)
        if not outcome.fits:
            return Fitted(messages, failure=f"request not sent: turn {turn}: {outcome.note} ({where})")
        return Fitted(outcome.messages, note=f"context: {outcome.note}; dropped: {_preview(outcome.dropped)}")
    if strategy == "summarize":
        plan = truncation.plan_summary(messages, count, window, reserved, meter.summary_max_tokens)
        if not plan.fits or not plan.to_summarize:
            what = f"{checked.note}; even summarizing every earlier exchange (into up to " \
                   f"{meter.summary_max_tokens} tokens) would not make it fit"  # fmt: skip
            return Fitted(messages, failure=f"request not sent: turn {turn}: {what} ({where})")
        reply = await summarize(truncation.summary_request(plan), summary_params(params, meter.summary_max_tokens, meter.api))
        if not reply.text.strip():
            return Fitted(messages, failure=f"turn {turn}: the context summary request returned no text "
                                            f"(finish_reason {reply.finish_reason!r}); request not sent")  # fmt: skip
        outcome = truncation.apply_summary(plan, reply.text, count, window, reserved)
        if not outcome.fits:
            return Fitted(outcome.messages, failure=f"request not sent: turn {turn}: {outcome.note} ({where})")
        return Fitted(outcome.messages, note=f"context: {outcome.note}; summarized: {_preview(outcome.dropped)}")
    hint = "set `context: {strategy: drop_oldest}` (or summarize), or shorten the conversation or max_tokens"
    return Fitted(messages, failure=f"request not sent: turn {turn}: {checked.note} ({where}); {hint}")
