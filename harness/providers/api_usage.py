"""How each API reports the tokens a reply used, read into one ``Usage``.

Lenient on purpose: compatible servers send null details (LiteLLM), leave
fields out (llama.cpp) or add their own; what is there is read, the rest is None.
Reasoning tokens are part of the completion (output) tokens in both APIs.
"""

from __future__ import annotations

from typing import Any

from harness.core.reply import Usage
from harness.providers.openai_sdk import whole_number


def chat_usage(raw: Any) -> Usage:
    """Chat Completions' `usage`, with cached prompt tokens and reasoning tokens from its details."""
    raw = raw if isinstance(raw, dict) else {}
    prompt_details = raw.get("prompt_tokens_details") or {}
    completion_details = raw.get("completion_tokens_details") or {}
    return Usage(
        prompt_tokens=whole_number(raw.get("prompt_tokens")),
        completion_tokens=whole_number(raw.get("completion_tokens")),
        total_tokens=whole_number(raw.get("total_tokens")),
        cached_tokens=whole_number(prompt_details.get("cached_tokens")) if isinstance(prompt_details, dict) else None,
        reasoning_tokens=whole_number(completion_details.get("reasoning_tokens"))
        if isinstance(completion_details, dict) else None,
    )  # fmt: skip


def responses_usage(raw: Any) -> Usage:
    """`input_tokens`/`output_tokens` as prompt/completion tokens; cached and reasoning tokens from the details.

    Lenient: compatible servers send null details (LiteLLM) or leave fields out.
    """
    raw = raw if isinstance(raw, dict) else {}
    inputs = raw.get("input_tokens_details")
    outputs = raw.get("output_tokens_details")
    prompt, completion = whole_number(raw.get("input_tokens")), whole_number(raw.get("output_tokens"))
    total = whole_number(raw.get("total_tokens"))
    if total is None and prompt is not None and completion is not None:
        total = prompt + completion
    return Usage(
        prompt_tokens=prompt,
        completion_tokens=completion,
        total_tokens=total,
        cached_tokens=whole_number(inputs.get("cached_tokens")) if isinstance(inputs, dict) else None,
        reasoning_tokens=whole_number(outputs.get("reasoning_tokens")) if isinstance(outputs, dict) else None,
    )
