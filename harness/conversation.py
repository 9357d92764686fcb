"""The multi-turn loop: send the whole history each turn, append the real reply.

The model has no memory between requests, so each turn's request carries the
system prompt, the fixed history, every earlier user message and every earlier
reply, exactly as a production chat loop does.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

from harness.assertions import CheckContext, run_check
from harness.assertions.reply import not_truncated
from harness.client import RequestFailed
from harness.results import ERROR, FAILED, PASSED, CaseResult, CheckResult, Completion, TurnResult
from harness.templating import CasePlan, PlannedTurn

Send = Callable[[str, list[dict[str, Any]], dict[str, Any]], Awaitable[Completion]]


async def run_conversation(plan: CasePlan, send: Send, repeat: int = 0) -> CaseResult:
    """Play every turn of one case in order and evaluate its checks."""
    started = time.perf_counter()
    result = CaseResult(suite=plan.suite.name, id=plan.case.id, status=PASSED, file=str(plan.suite.path),
                        model=plan.model, repeat=repeat)  # fmt: skip
    history = plan.initial_messages()
    previous: Completion | None = None
    for turn in plan.turns:
        problem = _add_tool_results(history, previous, turn)
        if problem:
            result.turns.append(TurnResult(turn.index, list(history), plan.params, error=problem))
            break
        if turn.user is not None:
            history.append({"role": "user", "content": turn.user})
        sent = list(history)
        turn_result = TurnResult(turn.index, sent, plan.params)
        result.turns.append(turn_result)
        try:
            reply = await send(plan.model, sent, plan.params)
        except RequestFailed as e:
            turn_result.error = e.message
            break
        turn_result.reply = reply
        turn_result.checks = evaluate(turn, CheckContext(reply=reply, messages=sent, model=plan.model))
        history.append(reply.as_message())
        previous = reply
    result.status = case_status(result)
    result.error = next((f"turn {t.index}: {t.error}" for t in result.turns if t.error), None)
    result.duration_ms = round((time.perf_counter() - started) * 1000, 1)
    return result


def evaluate(turn: PlannedTurn, ctx: CheckContext) -> list[CheckResult]:
    """Run the turn's checks, plus the implicit truncation check unless finish_reason is checked."""
    results = [run_check(c.name, c.arg, ctx) for c in turn.checks]
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


def _add_tool_results(history: list[dict[str, Any]], previous: Completion | None, turn: PlannedTurn) -> str | None:
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
    for c in calls:
        history.append({"role": "tool", "tool_call_id": c.id, "content": turn.tool_results[c.name]})
    return None
