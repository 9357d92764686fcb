"""Running a case N times, and turning each run's checks into a score and a status.

A case's repeats run one after another inside the case's task, with the
case's one cassette, so the order they were recorded in is the order they
replay in: vcrpy plays the first unplayed recording that matches, so N
identical first requests get the N recorded replies back in turn, and every
later turn's request (which holds that repeat's earlier replies) matches its
own recording.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from harness.core.plan import CasePlan
from harness.core.result import FAILED, PASSED, CaseResult
from harness.execution.conversation import run_conversation
from harness.providers.pipeline import Channel


async def run_repeats(plan: CasePlan, channel: Channel, on_repeat: Callable[[int], None] | None = None,
                      **options: Any) -> list[CaseResult]:  # fmt: skip
    """Play the case ``plan.repeats`` times in order; ``options`` go to ``run_conversation``.

    ``on_repeat(k)`` is called before repeat ``k`` (0-based) starts, e.g. so a cassette can say which
    repeat is missing its recording.
    """
    results = []
    for repeat in range(plan.repeats):
        if on_repeat is not None:
            on_repeat(repeat)
        result = await run_conversation(plan, channel, repeat=repeat, **options)
        results.append(finish(plan, result))
    return results


def whole_case(plan: CasePlan, status: str, **fields: Any) -> list[CaseResult]:
    """One result per repeat for a case settled as a whole: skipped, interrupted, or an error before any turn."""
    return [stamp(plan, CaseResult(suite=plan.suite.name, id=plan.case.id, status=status, file=str(plan.suite.path),
                                   model=plan.model, repeat=repeat, **fields))  # fmt: skip
            for repeat in range(plan.repeats)]


def stamp(plan: CasePlan, result: CaseResult) -> CaseResult:
    """Carry the case's policy, API and variant on its result, so it aggregates and compares the same wherever
    the result travels, and the prompt files its messages came from, so reports can name them."""
    result.policy = plan.policy
    result.variant = plan.variant
    result.prompt_files = plan.prompt_files
    result.api, result.history = plan.api, plan.history_mode
    return result


def finish(plan: CasePlan, result: CaseResult) -> CaseResult:
    """Give the checks their `weight:`, `metric:` and origin (the suite's `defaults:`), score the repeat, and
    apply the case's `threshold`."""
    stamp(plan, result)
    planned = {t.index: t for t in plan.turns}
    for turn in result.turns:
        spec = planned.get(turn.index)
        explicit = [c for c in turn.checks if not c.implicit]
        if spec is not None and len(explicit) == len(spec.checks):  # checks come back in the order written
            for check, written in zip(explicit, spec.checks):
                check.weight, check.metric = getattr(written, "weight", 1.0), getattr(written, "metric", None)
                check.default = getattr(written, "default", False)
    result.score = score(result)
    threshold = plan.policy.threshold
    if threshold is not None and result.status == FAILED and _complete(plan, result):
        implicit_ok = all(c.passed for t in result.turns for c in t.checks if c.implicit)
        if implicit_ok and result.score is not None and result.score >= threshold - 1e-12:
            result.status = PASSED
    return result


def score(result: CaseResult) -> float | None:
    """The weighted share of the explicit checks that passed; None when the case has none.

    Implicit checks (not_truncated, budgets, the context window) are not scored:
    with a `threshold` they must still pass.
    """
    total = passed = 0.0
    for turn in result.turns:
        for c in turn.checks:
            if not c.implicit:
                total += c.weight
                passed += c.weight if c.passed else 0.0
    return round(passed / total, 6) if total else None


def _complete(plan: CasePlan, result: CaseResult) -> bool:
    """Every planned turn was sent and answered: a threshold never passes half a conversation."""
    answered = {t.index for t in result.turns if t.reply is not None and t.error is None}
    return all(t.index in answered for t in plan.turns)


