"""`harness tokens`: what each turn's request will cost, known before anything is sent.

A dry run over the rendered plans: no model is called and no network is used
(tiktoken counts offline). The first turn's request is known exactly; a later
turn's includes replies nobody has seen yet, so its count is a lower bound
(the known messages plus the framing of each reply to come).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from harness.core.plan import CasePlan
from harness.metering.budgets import fmt, turn_refusal
from harness.metering.meter import Meter, requested_completion_limit

PLACEHOLDER_REPLY = {"role": "assistant", "content": ""}  # an unknown reply: only its framing is counted
ESTIMATE_NOTE = "estimate: counted with {encoding}, the model's tokenizer is unknown"


@dataclass
class TurnEstimate:
    """One turn's request as far as it can be known before the run; the JSON form of `harness tokens --json`."""

    suite: str
    case: str
    turn: int
    model: str
    prompt_tokens: int
    exact: bool
    encoding: str
    context_window: int | None
    reserved_completion_tokens: int
    headroom: int | None  # window - prompt - reserved; negative: the context strategy will act (or fail)
    context_strategy: str
    cost_usd_min: float | None  # prompt only
    cost_usd_max: float | None  # prompt + the full completion limit
    notes: list[str] = field(default_factory=list)


def estimate_plan(plan: CasePlan) -> list[TurnEstimate]:
    """Every turn of one case, counted before sending."""
    meter = Meter.for_plan(plan)
    meter.warn_if_estimated()
    messages = plan.initial_messages()
    rows: list[TurnEstimate] = []
    for n, turn in enumerate(plan.turns):
        if n:
            messages.append(dict(PLACEHOLDER_REPLY))
            for text in turn.tool_results.values():
                messages.append({"role": "tool", "content": text})
        if turn.user is not None:
            messages.append({"role": "user", "content": turn.user})
        prompt = meter.count(messages, plan.params)
        limits = meter.limits
        reserved = meter.reserved_completion(plan.params)
        cap = requested_completion_limit(plan.params)
        cap = cap if cap is not None else meter.max_output_tokens()
        costs = meter.prices.estimate(meter.model, prompt, cap) if cap is not None else None
        low = meter.prompt_cost(prompt) if costs is None else costs[0]
        row = TurnEstimate(
            suite=plan.suite.name, case=plan.case.id, turn=turn.index, model=plan.model, prompt_tokens=prompt,
            exact=n == 0 and not meter.estimated, encoding=meter.encoding,
            context_window=limits.context_window if limits else None,
            reserved_completion_tokens=reserved,
            headroom=limits.context_window - prompt - reserved if limits else None,
            context_strategy=meter.strategy, cost_usd_min=_round(low), cost_usd_max=_round(costs[1] if costs else None),
        )  # fmt: skip
        if row.headroom is not None and row.headroom < 0:
            action = {"error": "the turn will fail unsent", "drop_oldest": "oldest exchanges will be dropped",
                      "summarize": "earlier exchanges will be summarized"}[meter.strategy]  # fmt: skip
            row.notes.append(f"{'does' if row.exact else 'will'} not fit the window: {action}")
        if meter.estimated:
            row.notes.append(ESTIMATE_NOTE.format(encoding=meter.encoding))
        refusal = turn_refusal(turn.budget, meter.project(prompt, plan.params), turn.index)
        if refusal:  # a lower bound over a limit is over it too
            row.notes.append(f"over budget: {refusal}")
        rows.append(row)
    return rows


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 10)


def estimate_plans(plans: list[CasePlan]) -> list[TurnEstimate]:
    return [row for plan in plans for row in estimate_plan(plan)]


def as_json(rows: list[TurnEstimate]) -> list[dict[str, Any]]:
    return [asdict(r) for r in rows]


def _usd(value: float | None) -> str:
    return "-" if value is None else fmt("max_cost_usd", value)


def as_table(rows: list[TurnEstimate]) -> str:
    from tabulate import tabulate

    table = []
    estimated: dict[str, str] = {}  # model -> its note: said once below the table, not on every row of the model
    for i, r in enumerate(rows):
        note = ESTIMATE_NOTE.format(encoding=r.encoding)
        if note in r.notes:
            estimated.setdefault(r.model, note.removeprefix("estimate: "))
        # A case's first turn is known in full: not exact only when the model's tokenizer is unknown (~).
        first = i == 0 or (rows[i - 1].suite, rows[i - 1].case) != (r.suite, r.case)
        more, less = ("", "") if r.exact else ("~", "~") if first else (">=", "<=")
        table.append([r.suite, r.case, r.turn, r.model, f"{more}{r.prompt_tokens:,}",
                      "-" if r.context_window is None else f"{r.context_window:,}",
                      "-" if r.headroom is None else f"{less}{r.headroom:,}",
                      f"{_usd(r.cost_usd_min)} .. {_usd(r.cost_usd_max)}" if r.cost_usd_min is not None else "-",
                      "; ".join(n for n in r.notes if n != note)])  # fmt: skip
    headers = ["suite", "case", "turn", "model", "prompt tokens", "window", "headroom", "cost (USD)", "notes"]
    footer = (
        "\n>= a lower bound: the replies of earlier turns are not known before the run; "
        "~ an estimate: the model's tokenizer is not known to tiktoken.\n"
        "headroom = window - prompt - tokens reserved for the reply (max_tokens, else the model's output limit).\n"
        "cost: prompt only .. prompt + the full completion limit; '-' where the model has no price."
    )
    models = "".join(f"\n{model}: {note}." for model, note in estimated.items())
    return tabulate(table, headers=headers, disable_numparse=True) + "\n" + footer + models
