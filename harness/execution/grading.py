"""The turn loop's side of model-graded checks: their requests, budgets and cost.

A check calls ``ctx.grade`` or ``ctx.embed``; ``TurnGrading`` sends the request
with the case's own sender (so the same client, cassette, retries and rate
limits apply as for the case's requests), settles its usage in the case and
suite budget ledgers, and adds its tokens and cost to the turn and the check.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from harness.core.reply import Completion, Embeddings, Usage
from harness.core.result import CheckResult, TurnResult
from harness.metering.budgets import CaseBudgets, Projection, Spend
from harness.metering.meter import Meter
from harness.providers.pipeline import Embed, Send


@dataclass
class GraderCall:
    """One request a graded check made, and what it cost (None: the model has no price)."""

    model: str
    usage: Usage
    cost_usd: float | None


class TurnGrading:
    """The grading requests of one turn's checks, evaluated one after another."""

    def __init__(self, meter: Meter, budgets: CaseBudgets, send: Send, embed: Embed | None, turn: int, what: str):
        self.meter = meter
        self.budgets = budgets
        self.send = send
        self.embedder = embed  # None: the run has no embeddings client, so `similar` cannot run
        self.turn = turn
        self.what = what  # e.g. "case 'x', turn 2": names the request in a budget message
        self.calls: list[GraderCall] = []
        self.over: list[str] = []  # budgets the grading requests exceeded
        self.notes: list[str] = []  # what the harness changed in the graders' replies as they arrived
        self._annotated = 0

    def _meter(self, model: str) -> Meter:
        """Prices and tokenizer for the grader's model, from the case's suite."""
        return Meter(model, self.meter.encoding_override, self.meter.prices, self.meter.context)

    async def grade(self, model: str, messages: list[dict[str, Any]], params: dict[str, Any]) -> Completion:
        meter = self._meter(model)
        reply = await self.send(model, messages, params)
        self.notes += [f"grader: {note}" for note in reply.notes]
        estimated = reply.usage.prompt_tokens
        if estimated is None:
            estimated = meter.count(messages, params)
        spend = meter.spent(reply, estimated)  # the server's usage, else the harness's own counts
        self._settle(model, reply.usage, spend, spend.cost_usd if meter.has_price() else None)
        return reply

    async def embed(self, model: str, inputs: list[str]) -> Embeddings:
        if self.embedder is None:
            raise RuntimeError("this run has no embeddings client")
        meter = self._meter(model)
        result = await self.embedder(model, inputs)
        usage = result.usage
        if usage.prompt_tokens is None:  # the server reported none: count the inputs ourselves
            counted = sum(meter.count_text(text) for text in inputs)
            usage = result.usage = Usage(counted, 0, counted)
        cost = meter.cost(usage)
        self._settle(model, usage, Spend(usage.prompt_tokens or 0, 0, cost or 0.0), cost)
        return result

    def _settle(self, model: str, usage: Usage, spend: Spend, cost: float | None) -> None:
        """Count a finished request against the case and suite budgets (like a context summary, not the turn's)."""
        self.calls.append(GraderCall(model, usage, cost))
        self.over += self.budgets.after_reply(Projection(Spend()), spend, None, self.turn, f"{self.what}, grader")

    def annotate(self, result: CheckResult) -> None:
        """Put the usage and cost of the requests the check just made into its details."""
        calls, self._annotated = self.calls[self._annotated :], len(self.calls)
        if not calls:
            return
        costs = [c.cost_usd for c in calls if c.cost_usd is not None]
        result.details = {**(result.details or {}), "usage": asdict(_total(calls)),
                          "cost_usd": round(sum(costs), 10) if costs else None}  # fmt: skip

    def account(self, out: TurnResult) -> None:
        """Add the grading requests' tokens and cost to the turn (and so to the case and run totals)."""
        out.notes.extend(self.notes)
        if not self.calls:
            return
        out.grader_usage = _total(self.calls)
        costs = [c.cost_usd for c in self.calls if c.cost_usd is not None]
        if costs:
            out.grader_cost_usd = sum(costs)
            out.cost_usd = (out.cost_usd or 0.0) + out.grader_cost_usd
        for model in dict.fromkeys(c.model for c in self.calls if c.cost_usd is None):
            out.notes.append(f"grader model {model!r} has no price: its tokens are counted, its cost is not "
                             "(add it under `pricing:` in the suite)")  # fmt: skip


def _total(calls: list[GraderCall]) -> Usage:
    total = Usage.zero()
    for c in calls:
        total.add(c.usage)
    return total
