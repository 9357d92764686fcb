"""Token and cost budgets per turn, per case and per suite, checked before sending.

Before a request goes out its usage is projected: the prompt tokens counted by
the harness, plus the request's own `max_tokens`/`max_completion_tokens` as the
most the reply can use (0 when the request sets no limit: only what is
certain). A request whose projection would cross any budget is not sent; the
turn fails with the reason. After the reply, the real usage is checked again.

Case and suite ledgers reserve the projection of requests in flight, so cases
running concurrently never collectively overshoot a suite budget.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from harness.core.result import CheckResult
from harness.core.specs import Budget

TOKEN_KEYS = ("max_prompt_tokens", "max_completion_tokens", "max_total_tokens")
COST_KEY = "max_cost_usd"
BUDGET_KEYS = (*TOKEN_KEYS, COST_KEY)
CHECK_NAME = "budget"




def validate_budget_value(key: str, value: Any) -> str | None:
    """Why `value` is not a valid limit for `key`, or None when it is."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        kind = "a positive whole number of tokens" if key in TOKEN_KEYS else "a positive number of US dollars"
        return f"must be {kind}, got {value!r}{_number_hint(key, value)}"
    if key in TOKEN_KEYS and (not isinstance(value, int) or value <= 0):
        return f"must be a positive whole number of tokens, got {value!r}"
    if key == COST_KEY and not value > 0:
        return f"must be a positive number of US dollars, got {value!r}"
    return None


def _number_hint(key: str, value: Any) -> str:
    """PyYAML reads `1e3` and `5e-06` as text; say how to write the number instead."""
    try:
        number = float(str(value))
    except ValueError:
        return ""
    written = f"{int(number)}" if key in TOKEN_KEYS else f"{number:.10f}".rstrip("0")
    return f" (YAML reads {value} as text; write {written})"


@dataclass
class Spend:
    """Tokens and dollars, spent or projected."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def amount(self, key: str) -> float:
        return {
            "max_prompt_tokens": self.prompt_tokens,
            "max_completion_tokens": self.completion_tokens,
            "max_total_tokens": self.total_tokens,
            COST_KEY: self.cost_usd,
        }[key]

    def add(self, other: Spend, sign: int = 1) -> None:
        self.prompt_tokens += sign * other.prompt_tokens
        self.completion_tokens += sign * other.completion_tokens
        self.cost_usd += sign * other.cost_usd


@dataclass
class Projection:
    """What a request is about to use; `completion_limit` names where its completion bound came from."""

    spend: Spend
    completion_limit: str | None = None  # e.g. "max_tokens 200"; None: the reply is not bounded
    priced: bool = True


def fmt(key: str, value: float) -> str:
    """A budget amount as people write it: 1,240 tokens, $0.0012."""
    if key == COST_KEY:
        text = f"{value:.8f}".rstrip("0")
        whole, _, frac = text.partition(".")
        return f"${whole}.{frac.ljust(2, '0')}"
    return f"{int(value):,}"


def _what(key: str, projection: Projection) -> str:
    s = projection.spend
    if key == "max_prompt_tokens":
        return f"{fmt(key, s.prompt_tokens)} prompt tokens"
    if key == "max_completion_tokens":
        return f"a reply of up to {fmt(key, s.completion_tokens)} tokens ({projection.completion_limit})"
    bound = f" + {projection.completion_limit}" if projection.completion_limit else ""
    if key == "max_total_tokens":
        if projection.completion_limit:
            return f"up to {fmt(key, s.total_tokens)} tokens ({fmt(key, s.prompt_tokens)} prompt{bound})"
        return f"{fmt(key, s.total_tokens)} prompt tokens"
    prefix = "up to " if projection.completion_limit else ""
    return f"{prefix}{fmt(key, s.cost_usd)} ({fmt('max_prompt_tokens', s.prompt_tokens)} prompt tokens{bound})"


class Ledger:
    """Spend against the budget of one case or one suite, with in-flight reservations."""

    def __init__(self, label: str, budget: Budget | None):
        self.label = label
        self.budget = budget
        self.spent = Spend()
        self.reserved = Spend()
        self.stop_reason: str | None = None

    def refusal(self, projection: Projection) -> str | None:
        """Why the projected request may not be sent under this ledger's budget, or None."""
        if self.budget is None:
            return None
        for key, limit in self.budget.limits.items():
            if key == COST_KEY and not projection.priced:
                continue  # refused up front by check_before_send
            used = self.spent.amount(key) + self.reserved.amount(key)
            need = projection.spend.amount(key)
            if used > limit:
                return f"{self.label} already used {fmt(key, used)}, over its {key} {fmt(key, limit)}"
            if used + need > limit:
                return (f"{_what(key, projection)} would bring {self.label} to {fmt(key, used + need)}, "
                        f"over its {key} {fmt(key, limit)} ({fmt(key, used)} used so far)")  # fmt: skip
        return None

    def reserve(self, projection: Projection) -> None:
        self.reserved.add(projection.spend)

    def release(self, projection: Projection) -> None:
        """Drop a reservation whose request failed (nothing was spent)."""
        self.reserved.add(projection.spend, -1)

    def settle(self, projection: Projection, actual: Spend) -> list[str]:
        """Swap a reservation for the real usage; returns what the real usage exceeded."""
        self.reserved.add(projection.spend, -1)
        self.spent.add(actual)
        return self.exceeded()

    def exceeded(self) -> list[str]:
        if self.budget is None:
            return []
        return [f"{self.label} used {fmt(key, self.spent.amount(key))}, over its {key} {fmt(key, limit)}"
                for key, limit in self.budget.limits.items() if self.spent.amount(key) > limit]  # fmt: skip


def turn_refusal(budget: Budget | None, projection: Projection, turn: int) -> str | None:
    """Why one request may not be sent under its turn's own budget, or None."""
    if budget is None:
        return None
    for key, limit in budget.limits.items():
        if key == COST_KEY and not projection.priced:
            continue
        need = projection.spend.amount(key)
        if need > limit:
            return f"{_what(key, projection)} would exceed {key} {fmt(key, limit)} (budget of turn {turn})"
    return None


def turn_exceeded(budget: Budget | None, actual: Spend, turn: int) -> list[str]:
    if budget is None:
        return []
    return [f"turn {turn} used {fmt(key, actual.amount(key))}, over its {key} {fmt(key, limit)}"
            for key, limit in budget.limits.items() if actual.amount(key) > limit]  # fmt: skip


def check_before_send(
    projection: Projection, turn_budget: Budget | None, turn: int, ledgers: list[Ledger], model: str
) -> str | None:
    """Why a request may not be sent under any budget (turn, case, suite), or None.

    A cost budget that cannot be evaluated (the model has no price) refuses:
    a ceiling on spending is never silently ignored.
    """
    budgets = [turn_budget, *(ledger.budget for ledger in ledgers)]
    if not projection.priced and any(b is not None and COST_KEY in b.limits for b in budgets):
        return (f"{COST_KEY} cannot be enforced: no price is known for model {model!r}; "
                "add it under `pricing:` or `pricing_file:` in the suite")  # fmt: skip
    reason = turn_refusal(turn_budget, projection, turn)
    for ledger in ledgers:
        reason = reason or ledger.refusal(projection)
    return reason


class CaseBudgets:
    """The budgets one case's requests answer to: each turn's, the case's and the suite's."""

    def __init__(self, case_id: str, case_budget: Budget | None, suite_ledger: Ledger, model: str):
        self.case = Ledger(f"case {case_id!r}", case_budget)
        self.suite = suite_ledger
        self.model = model

    @property
    def ledgers(self) -> list[Ledger]:
        return [self.case, self.suite]

    def applies(self, turn_budget: Budget | None) -> bool:
        return budgets_apply(turn_budget, self.case.budget, self.suite.budget)

    def before_send(self, projection: Projection, turn_budget: Budget | None, turn: int, what: str) -> str | None:
        """None and a reservation when the request may go out; else why not (and the suite stops if it was its budget)."""
        reason = check_before_send(projection, turn_budget, turn, self.ledgers, self.model)
        if reason is None:
            for ledger in self.ledgers:
                ledger.reserve(projection)
            return None
        suite_reason = self.suite.refusal(projection)
        if suite_reason and self.suite.stop_reason is None:
            self.suite.stop_reason = (
                f"not started: the budget of {self.suite.label} was reached ({what}: {suite_reason})"
            )
        return reason

    def failed(self, projection: Projection) -> None:
        for ledger in self.ledgers:
            ledger.release(projection)

    def after_reply(self, projection: Projection, actual: Spend, turn_budget: Budget | None, turn: int,
                    what: str) -> list[str]:  # fmt: skip
        """Record the real usage; returns every budget it exceeded."""
        over = turn_exceeded(turn_budget, actual, turn) if turn_budget else []
        over += self.case.settle(projection, actual)
        suite_over = self.suite.settle(projection, actual)
        if suite_over and self.suite.stop_reason is None:
            self.suite.stop_reason = (
                f"not started: the budget of {self.suite.label} was exceeded ({what}: {suite_over[0]})"
            )
        return over + suite_over

    def check(self, turn_budget: Budget | None, turn: int, actual: Spend, over: list[str]) -> CheckResult:
        """The turn's implicit `budget` check, after its reply."""
        expected = limits_summary(turn_budget, self.case.budget, self.suite.budget)
        if over:
            return CheckResult(CHECK_NAME, False, "over budget: " + "; ".join(over), expected, implicit=True)
        used = []
        for level, spent, budget in (("turn", actual, turn_budget), ("case", self.case.spent, self.case.budget),
                                     ("suite", self.suite.spent, self.suite.budget)):  # fmt: skip
            for key, limit in budget.limits.items() if budget else []:
                used.append(f"{level} {key} {fmt(key, spent.amount(key))} of {fmt(key, limit)}")
        return CheckResult(CHECK_NAME, True, "within budget: " + ", ".join(used), expected, implicit=True)

    def refused(self, turn_budget: Budget | None, reason: str) -> CheckResult:
        expected = limits_summary(turn_budget, self.case.budget, self.suite.budget)
        return CheckResult(CHECK_NAME, False, f"request not sent: {reason}", expected, implicit=True)


@dataclass
class Spending:
    """Every suite's ledger for one run; the runner asks it before starting a case."""

    suites: dict[str, Ledger] = field(default_factory=dict)

    def suite_ledger(self, suite: Any) -> Ledger:
        ledger = self.suites.get(suite.name)
        if ledger is None:
            ledger = self.suites[suite.name] = Ledger(f"suite {suite.name!r}", getattr(suite, "budget", None))
        return ledger

    def skip_reason(self, plan: Any) -> str | None:
        """Why a case must not start: its suite's budget already stopped the suite."""
        ledger = self.suites.get(plan.suite.name)
        return ledger.stop_reason if ledger is not None else None


def budgets_apply(*budgets: Budget | None) -> bool:
    return any(b is not None and b.limits for b in budgets)


def limits_summary(turn: Budget | None, case: Budget | None, suite: Budget | None) -> dict[str, dict[str, float]]:
    """The limits in force for a turn, by level; recorded as the budget check's `expected`."""
    levels = {"turn": turn, "case": case, "suite": suite}
    return {level: dict(b.limits) for level, b in levels.items() if b is not None and b.limits}
