"""How one case's requests are measured: tokenizer, prices and context limits.

The harness counts every request's prompt tokens itself (tiktoken, offline), so
budgets and the context window are checked before anything is sent, and the
server's own count can be cross-checked after. A `Meter` bundles what that
needs for one case: the model, the encoding, the suite's price table and the
context-window settings.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import Any

from harness.core.reply import Completion, Usage
from harness.core.specs import ContextSpec
from harness.metering.budgets import Projection, Spend
from harness.metering.models import ModelLimits, default_limits, limits_for, resolve_model_name
from harness.metering.pricing import PriceTable
from harness.metering.tokens import count_chat_tokens, count_text, encoding_name_for_model

STRATEGIES = ("error", "drop_oldest", "summarize")
DEFAULT_STRATEGY = "error"
DEFAULT_SUMMARY_TOKENS = 256
# The reply's length limit: Chat Completions' two spellings, and the Responses API's.
COMPLETION_LIMIT_PARAMS = ("max_completion_tokens", "max_tokens", "max_output_tokens")

_warned_models: set[str] = set()




def warn_unknown_model(model: str, encoding: str) -> None:
    """Say once per model and process that its tokens are counted with a fallback encoding."""
    if model in _warned_models:
        return
    _warned_models.add(model)
    print(f"warning: no tiktoken encoding is known for model {model!r}; counting its tokens with {encoding} "
          "(an estimate; set `encoding:` in the suite to choose one)", file=sys.stderr)  # fmt: skip


@dataclass
class Meter:
    """Counting, pricing and context limits for one model in one suite."""

    model: str
    encoding_override: str | None = None
    prices: PriceTable = field(default_factory=PriceTable.load_default)
    context: ContextSpec = field(default_factory=ContextSpec)
    api: str = "chat"  # whose vocabulary a request the harness writes itself (a context summary) uses

    @classmethod
    def for_plan(cls, plan: Any, batch: bool = False) -> Meter:
        """The meter of a CasePlan: case keys over suite keys; ``batch``: priced at the Batch API's rates."""
        suite, case = plan.suite, plan.case
        context = (case.context or ContextSpec()).over(suite.context)
        prices = suite.prices or PriceTable.load_default()
        return cls(plan.model, case.encoding or suite.encoding, prices.for_batch() if batch else prices, context,
                   getattr(plan, "api", "chat"))  # fmt: skip

    @property
    def encoding(self) -> str:
        return encoding_name_for_model(self.model, self.encoding_override)[0]

    @property
    def estimated(self) -> bool:
        """True when tiktoken does not know the model's tokenizer, so counts use a fallback encoding."""
        return not encoding_name_for_model(self.model, self.encoding_override)[1]

    def warn_if_estimated(self) -> None:
        """Warn (once per model and process) that a count the user relies on is an estimate.

        Called only where a count drives something the user asked for (a budget, a
        context window, `harness tokens`); the per-turn estimate alone stays quiet.
        """
        if self.estimated:
            warn_unknown_model(self.model, self.encoding)

    @property
    def known_openai_model(self) -> bool:
        """True when tiktoken's encoding for the model is known, so the count should match the server's."""
        return encoding_name_for_model(self.model)[1]

    def count(self, messages: list[dict[str, Any]], params: dict[str, Any] | None = None) -> int:
        """Prompt tokens of a request: the messages plus the tool definitions in `params`."""
        tools = (params or {}).get("tools")
        return count_chat_tokens(messages, self.model, tools if isinstance(tools, list) else None, self.encoding)

    def count_text(self, text: str) -> int:
        return count_text(text, self.model, self.encoding)

    def cost(self, usage: Usage) -> float | None:
        """USD for one reply; None when the model has no price or the server reported no usage."""
        return self.prices.cost(self.model, usage)

    def has_price(self) -> bool:
        return self.prices.lookup(self.model) is not None

    def prompt_cost(self, prompt_tokens: int, completion_tokens: int = 0) -> float | None:
        return self.prices.cost(self.model, Usage(prompt_tokens, completion_tokens, prompt_tokens + completion_tokens))

    @property
    def limits(self) -> ModelLimits | None:
        """The model's window and output limit with `context:` overrides; None for an unknown model without `window`."""
        overrides: dict[str, int] = {}
        if self.context.window is not None:
            overrides["context_window"] = self.context.window
        if self.context.max_output_tokens is not None:
            overrides["max_output_tokens"] = self.context.max_output_tokens
        return limits_for(self.model, overrides)

    def max_output_tokens(self) -> int | None:
        """The model's output limit when it is actually known (table or override), else None."""
        if self.context.max_output_tokens is not None:
            return self.context.max_output_tokens
        key = resolve_model_name(self.model, default_limits())
        return default_limits()[key].max_output_tokens if key else None

    def reserved_completion(self, params: dict[str, Any]) -> int:
        """Tokens kept free in the window for the reply.

        The request's `max_completion_tokens`/`max_tokens`/`max_output_tokens` (capped at the model's
        output limit), else the model's output limit, else 0 (unknown model,
        no `max_output_tokens`): only the prompt then has to fit.
        """
        requested = requested_completion_limit(params)
        limit = self.max_output_tokens()
        known = [n for n in (requested, limit) if n is not None]
        return min(known) if known else 0

    def project(self, prompt_tokens: int, params: dict[str, Any]) -> Projection:
        """What a request may use before it is sent: its prompt, and its own completion limit if it sets one."""
        requested = requested_completion(params)
        completion = requested[1] if requested else 0
        cost = self.prompt_cost(prompt_tokens, completion)
        label = f"{requested[0]} {completion:,}" if requested else None
        return Projection(Spend(prompt_tokens, completion, cost or 0.0), label, priced=cost is not None)

    def spent(self, reply: Completion, estimated_prompt_tokens: int) -> Spend:
        """What a reply used: the server's usage, or the harness's own counts where it reported none."""
        usage = reply.usage
        prompt = usage.prompt_tokens if usage.prompt_tokens is not None else estimated_prompt_tokens
        completion = usage.completion_tokens
        if completion is None:
            completion = self.count_text(reply.text + "".join(c.name + c.arguments for c in reply.tool_calls))
        cost = self.cost(usage)
        if cost is None:
            cost = self.prompt_cost(prompt, completion)
        return Spend(prompt, completion, cost or 0.0)

    @property
    def strategy(self) -> str:
        return self.context.strategy or DEFAULT_STRATEGY

    @property
    def summary_max_tokens(self) -> int:
        return self.context.summary_max_tokens or DEFAULT_SUMMARY_TOKENS


def requested_completion(params: dict[str, Any]) -> tuple[str, int] | None:
    """The completion limit the request itself sets, and the parameter that sets it."""
    for key in COMPLETION_LIMIT_PARAMS:
        value = params.get(key)
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            return key, value
    return None


def requested_completion_limit(params: dict[str, Any]) -> int | None:
    found = requested_completion(params)
    return found[1] if found else None
