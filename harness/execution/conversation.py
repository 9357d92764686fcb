"""The multi-turn loop: send the whole history each turn, append the real reply.

The model has no memory between requests, so each turn's request carries the
system prompt, the fixed history, every earlier user message and every earlier
reply, exactly as a production chat loop does. Before each request the loop
fits it into the context window and checks it against the budgets; a request
that does not fit or would cross a budget is never sent.
"""

from __future__ import annotations

import time
from typing import Any

from harness.assertions import CheckContext, run_check_async
from harness.assertions.reply import not_truncated
from harness.core.errors import RequestFailed
from harness.core.plan import CasePlan, PlannedTurn
from harness.core.reply import Completion, Usage  # fmt: skip
from harness.core.result import ERROR, FAILED, PASSED, CaseResult, CheckResult, ContextSummary, TurnResult
from harness.execution.grading import TurnGrading
from harness.metering import context_window
from harness.metering.budgets import CaseBudgets, Spending
from harness.metering.meter import Meter
from harness.providers.pipeline import Channel, Send


class _Refused(Exception):
    """A budget kept a request from being sent; the message says which and why."""


async def run_conversation(plan: CasePlan, channel: Channel, repeat: int = 0,
                           spending: Spending | None = None) -> CaseResult:  # fmt: skip
    """Play every turn of one case in order and evaluate its checks.

    `channel` sends the case's requests (and the `similar` check's embeddings) and shapes replies
    into the history; `spending` holds the run's suite ledgers (without it the suite budget only
    sees this case).
    """
    started = time.perf_counter()
    result = CaseResult(suite=plan.suite.name, id=plan.case.id, status=PASSED, file=str(plan.suite.path),
                        model=plan.model, repeat=repeat)  # fmt: skip
    meter = Meter.for_plan(plan, batch=channel.batch)
    budgets = CaseBudgets(plan.case.id, plan.case.budget, (spending or Spending()).suite_ledger(plan.suite), plan.model)
    history = plan.initial_messages()
    previous: Completion | None = None
    for turn in plan.turns:
        problem = _add_tool_results(history, previous, turn, channel)
        if problem:
            result.turns.append(TurnResult(turn.index, list(history), plan.params, error=problem))
            break
        if turn.user is not None:
            history.append({"role": "user", "content": turn.user})
        turn_result = TurnResult(turn.index, list(history), plan.params)
        result.turns.append(turn_result)
        try:
            reply = await _play_turn(plan, turn, turn_result, history, meter, budgets, channel)
        except RequestFailed as e:
            turn_result.error, turn_result.recording = e.message, e.recording
            turn_result.partial_reply = e.partial  # what a stream that broke off had delivered
            turn_result.notes.extend(getattr(e.partial, "notes", None) or [])  # its text, repaired as it arrived
            break
        except _Refused as e:
            turn_result.checks.append(budgets.refused(turn.budget, str(e)))
            break
        if reply is None:
            break
        history = list(turn_result.messages)
        history.append(channel.provider.assistant_message(reply))
        previous = reply
    result.status = case_status(result)
    result.error = next((f"turn {t.index}: {t.error}" for t in result.turns if t.error), None)
    result.duration_ms = round((time.perf_counter() - started) * 1000, 1)
    return result


async def _play_turn(plan: CasePlan, turn: PlannedTurn, out: TurnResult, history: list[dict[str, Any]],
                     meter: Meter, budgets: CaseBudgets, channel: Channel) -> Completion | None:  # fmt: skip
    """Fit, check, send and evaluate one turn into `out`; None when its request was not sent."""
    over: list[str] = []
    send = channel.send

    async def summarize(messages: list[dict[str, Any]], params: dict[str, Any]) -> Completion:
        """The context summary: a real request, budgeted and costed like the turn's own."""
        out.context_summary = record = ContextSummary(messages, params)
        reply, record.cost_usd, spent_over = await _send_budgeted(plan, meter, budgets, send, messages, params,
                                                                  None, turn.index, summary=True)  # fmt: skip
        record.reply = reply
        out.notes.extend(f"context summary: {note}" for note in reply.notes)
        over.extend(spent_over)
        return reply

    fitted = await context_window.fit(meter, history, plan.params, turn.index, summarize)
    out.messages = list(fitted.messages)
    if fitted.note:
        out.notes.append(fitted.note)
    # Counting loads a 67 MB tokenizer: only when a budget, a window, the cross-check or a named encoding asks.
    if meter.known_openai_model or meter.encoding_override or meter.limits is not None or budgets.applies(turn.budget):
        out.estimated_prompt_tokens = meter.count(out.messages, plan.params)
    summary_cost = out.context_summary.cost_usd if out.context_summary else None
    out.cost_usd = summary_cost
    if fitted.failure:
        limits = meter.limits
        expected = {"window": limits.context_window if limits else None,
                    "reserved_completion": meter.reserved_completion(plan.params), "strategy": meter.strategy}  # fmt: skip
        out.checks.append(CheckResult(context_window.CHECK_NAME, False, fitted.failure, expected, implicit=True))
        return None
    reply, cost, spent_over = await _send_budgeted(plan, meter, budgets, send, out.messages, plan.params,
                                                   turn.budget, turn.index, prompt_tokens=out.estimated_prompt_tokens)  # fmt: skip
    over.extend(spent_over)
    out.reply = reply
    out.notes.extend(reply.notes)  # text the harness repaired as it arrived (harness/core/text_policy.py)
    out.cost_usd = None if cost is None and summary_cost is None else (cost or 0.0) + (summary_cost or 0.0)
    _cross_check(out, reply, meter)
    grader = channel.grader or channel  # a suite's `grader: {endpoint: ...}`, or Chat for a Responses case
    grading = TurnGrading(meter, budgets, grader.send, grader.embed, turn.index, f"case {plan.case.id!r}, turn {turn.index}")
    ctx = CheckContext(reply=reply, messages=out.messages, model=plan.model, params=plan.params,
                       grader=getattr(plan.suite, "grader", None), grade=grading.grade,
                       embed=grading.embed if grader.embed is not None else None,
                       count_usage=lambda: _counted_usage(meter, reply, out, plan.params))  # fmt: skip
    try:
        out.checks = await evaluate(turn, ctx, grading)
    finally:
        grading.account(out)  # grader requests that were answered are paid for, even when a later one failed
    over.extend(grading.over)
    if budgets.applies(turn.budget):
        out.checks.append(budgets.check(turn.budget, turn.index, meter.spent(reply, out.estimated_prompt_tokens or 0),
                                        over))  # fmt: skip
    return reply


def _counted_usage(meter: Meter, reply: Completion, out: TurnResult, params: dict[str, Any]) -> Usage:
    """The turn's tokens as the budgets count them: the server's usage where it reported it, else the harness's
    own count of the request and the reply (a server that streams no usage)."""
    prompt = out.estimated_prompt_tokens if out.estimated_prompt_tokens is not None else meter.count(out.messages, params)
    spend = meter.spent(reply, prompt)
    return Usage(spend.prompt_tokens, spend.completion_tokens, spend.prompt_tokens + spend.completion_tokens)


async def _send_budgeted(plan: CasePlan, meter: Meter, budgets: CaseBudgets, send: Send,
                         messages: list[dict[str, Any]], params: dict[str, Any], turn_budget: Any, turn: int,
                         summary: bool = False, prompt_tokens: int | None = None,
                         ) -> tuple[Completion, float | None, list[str]]:  # fmt: skip
    """Send one request if the budgets allow it; returns the reply, its cost and the budgets it exceeded."""
    if budgets.applies(turn_budget):
        meter.warn_if_estimated()  # the budgets are checked against this count
        if prompt_tokens is None:
            prompt_tokens = meter.count(messages, params)
    projection = meter.project(prompt_tokens or 0, params)
    what = f"case {plan.case.id!r}, turn {turn}" + (", context summary" if summary else "")
    refusal = budgets.before_send(projection, turn_budget, turn, what)
    if refusal:
        raise _Refused(f"context summary: {refusal}" if summary else refusal)
    try:
        reply = await send(plan.model, messages, params)
    except RequestFailed as e:
        budgets.failed(projection)
        if summary:
            e.message = f"the context summary request failed: {e.message}"
        raise
    over = budgets.after_reply(projection, meter.spent(reply, prompt_tokens or 0), turn_budget, turn, what)
    return reply, meter.cost(reply.usage), over


def _cross_check(out: TurnResult, reply: Completion, meter: Meter) -> None:
    """Compare the server's prompt token count with the harness's, for models whose tokenizer is known."""
    server = reply.usage.prompt_tokens
    if server is None or out.estimated_prompt_tokens is None or not meter.known_openai_model:
        return
    out.prompt_tokens_delta = server - out.estimated_prompt_tokens
    if out.prompt_tokens_delta:
        out.notes.append(f"prompt tokens: the server counted {server:,}, the harness estimated "
                         f"{out.estimated_prompt_tokens:,} with {meter.encoding} ({out.prompt_tokens_delta:+,})")  # fmt: skip


async def evaluate(turn: PlannedTurn, ctx: CheckContext, grading: TurnGrading | None = None) -> list[CheckResult]:
    """Run the turn's checks in order, plus the implicit truncation check unless finish_reason is checked.

    A model-graded check whose request failed after its retries raises
    RequestFailed (the case is an error: the reply was never judged).
    """
    results = []
    for c in turn.checks:
        try:
            result = await run_check_async(c.name, c.arg, ctx)
        except RequestFailed as e:
            e.message = f"check `{c.name}` could not be graded: {e.message}"
            e.args = (e.message,)
            raise
        if grading is not None:
            grading.annotate(result)
        results.append(result)
    checks_finish = any(c.name in ("finish_reason", "not_finish_reason") for c in turn.checks)
    if turn.fail_on_length and not checks_finish:
        outcome = not_truncated(ctx)
        results.append(CheckResult("not_truncated", outcome.passed, outcome.reason, None, implicit=True))
    return results


def case_status(result: CaseResult) -> str:
    if any(t.error for t in result.turns):
        return ERROR
    if any(not c.passed for t in result.turns for c in t.checks):
        return FAILED
    return PASSED


def _add_tool_results(history: list[dict[str, Any]], previous: Completion | None, turn: PlannedTurn,
                      channel: Channel) -> str | None:  # fmt: skip
    """Answer the previous reply's tool calls with the turn's `tool_results`, or say what is missing."""
    calls = previous.tool_calls if previous else []
    if not calls:
        if turn.tool_results:
            return "`tool_results` given, but the previous reply called no tool"
        return None
    missing = sorted({c.name for c in calls} - set(turn.tool_results))
    if missing:
        return (f"the previous reply called {', '.join(missing)}; give the result of each call under "
                f"`tool_results:` in turn {turn.index} so the conversation can continue")  # fmt: skip
    history.extend(channel.provider.tool_result_messages(calls, turn.tool_results))
    return None
