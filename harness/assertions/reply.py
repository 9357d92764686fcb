"""Checks on the reply's metadata: finish_reason, token usage, latency, time to first token."""

from __future__ import annotations

from typing import Any

from harness.assertions.registry import CheckContext, Outcome, check, is_non_negative_number

FINISH_REASONS = ("stop", "length", "content_filter", "tool_calls", "function_call")


# The Responses API's statuses, as its replies are normalised (docs/responses-api.md)
RESPONSES_STATUSES = {"completed": "'stop' ('tool_calls' when it called a function)",
                      "incomplete": "'length' (out of max_output_tokens) or 'content_filter'"}  # fmt: skip


def _valid_finish_reason(arg: Any) -> str | None:
    values = arg if isinstance(arg, list) else [arg]
    bad = [v for v in values if v not in FINISH_REASONS]
    if not values or bad:
        status = next((v for v in bad if isinstance(v, str) and v in RESPONSES_STATUSES), None)
        tip = (f"; the Responses API's status {status!r} is read as finish_reason {RESPONSES_STATUSES[status]} "
               "(docs/responses-api.md)" if status else "")  # fmt: skip
        return f"expects one of {', '.join(FINISH_REASONS)} (or a list of them), got {arg!r}{tip}"
    return None


@check("finish_reason", validate=_valid_finish_reason, example="finish_reason: stop")
def finish_reason(ctx: CheckContext, arg: str | list[str]) -> Outcome:
    """The reply ended for this reason (or one of these reasons)."""
    allowed = arg if isinstance(arg, list) else [arg]
    actual = ctx.reply.finish_reason
    if actual in allowed:
        return Outcome(True, f"finish_reason is {actual!r}")
    want = allowed[0] if len(allowed) == 1 else allowed
    return Outcome(False, f"expected finish_reason {want!r}, got {actual!r}",
                   negated=f"finish_reason is {actual!r}, not {want!r}")


def not_truncated(ctx: CheckContext) -> Outcome:
    """The implicit check every turn gets unless it checks finish_reason itself."""
    if ctx.reply.finish_reason == "length":
        return Outcome(
            False,
            "reply was cut off at the token limit (finish_reason 'length'); raise max_tokens, "
            "add `finish_reason: length` to expect it, or set `fail_on_length: false`",
        )
    return Outcome(True, f"reply was not truncated (finish_reason {ctx.reply.finish_reason!r})")


def _token_check(field: str, label: str):
    def run(ctx: CheckContext, arg: int) -> Outcome:
        actual, how = getattr(ctx.reply.usage, field), ""
        if actual is None and ctx.count_usage is not None:  # a stream from a server that sends no usage
            actual, how = getattr(ctx.count_usage(), field), " (counted by the harness: the server reported no usage)"
        if actual is None:
            return Outcome(False, f"the server reported no {field} in usage, so the budget of {arg} cannot be checked")
        if actual <= arg:
            return Outcome(True, f"{label} {actual} <= {arg}{how}")
        return Outcome(False, f"expected {label} <= {arg}, got {actual}{how}", negated=f"{label} {actual} > {arg}{how}")

    run.__doc__ = (f"The API's usage.{field} is at most the given number (counted by the harness, as the budgets "
                   "count, when the server reports no usage).")
    return run


check("max_completion_tokens", validate=is_non_negative_number, example="max_completion_tokens: 150")(
    _token_check("completion_tokens", "completion tokens")
)
check("max_prompt_tokens", validate=is_non_negative_number, example="max_prompt_tokens: 2000")(
    _token_check("prompt_tokens", "prompt tokens")
)
check("max_total_tokens", validate=is_non_negative_number, example="max_total_tokens: 2500")(
    _token_check("total_tokens", "total tokens")
)


@check("latency_ms", validate=is_non_negative_number, example="latency_ms: 3000")
def latency_ms(ctx: CheckContext, arg: float) -> Outcome:
    """The request took at most this many milliseconds (the recorded latency when replaying)."""
    actual = round(ctx.reply.latency_ms)
    if actual <= arg:
        return Outcome(True, f"latency {actual} ms <= {arg} ms")
    return Outcome(False, f"expected latency <= {arg} ms, got {actual} ms", negated=f"latency {actual} ms > {arg} ms")



@check("ttft_ms", validate=is_non_negative_number, example="ttft_ms: 800")
def ttft_ms(ctx: CheckContext, arg: float) -> Outcome:
    """A streamed reply's first content or tool-call delta came within this many ms (needs `stream: true`)."""
    actual = ctx.reply.ttft_ms
    if actual is None:
        return Outcome(False, "no content or tool-call delta arrived, so there is no time to first token "
                              "(an empty reply, or one that was not streamed)",
                       negated="no content or tool-call delta arrived")  # fmt: skip
    shown = round(actual)
    if actual <= arg:
        return Outcome(True, f"time to first token {shown} ms <= {arg} ms")
    return Outcome(False, f"expected the first token within {arg} ms, got it after {shown} ms",
                   negated=f"time to first token {shown} ms > {arg} ms")
