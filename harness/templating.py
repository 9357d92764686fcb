"""Sandboxed Jinja2 rendering of suites into conversation plans.

Every template in every case is rendered before the first request, so a missing
variable is a load-time error (exit 2) naming the variable, case and file,
never a half-finished, half-paid run.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Any

import jinja2
from jinja2.sandbox import SandboxedEnvironment

from harness.budgets import Budget
from harness.policy import DEFAULT_POLICY, CasePolicy
from harness.suite import Case, Check, Problem, Suite, SuiteError, load_suites_partially
from harness.yaml_positions import Loc


@dataclass
class PlannedTurn:
    index: int
    user: str | None
    checks: list[Check]
    fail_on_length: bool
    tool_results: dict[str, str] = field(default_factory=dict)
    budget: Budget | None = None


@dataclass
class CasePlan:
    """One case, rendered and ready to send: what the runner executes."""

    suite: Suite
    case: Case
    model: str
    params: dict[str, Any]
    system: str | None
    history: list[dict[str, Any]]
    turns: list[PlannedTurn]
    policy: CasePolicy = DEFAULT_POLICY  # repeats, pass_if, threshold, allow_fail, the suite's min_pass_rate

    @property
    def key(self) -> tuple[str, str]:
        return (self.suite.name, self.case.id)

    @property
    def repeats(self) -> int:
        return self.policy.repeats

    def initial_messages(self) -> list[dict[str, Any]]:
        """System prompt plus the fixed history: what precedes the first turn."""
        messages: list[dict[str, Any]] = []
        if self.system is not None:
            messages.append({"role": "system", "content": self.system})
        messages.extend(dict(m) for m in self.history)
        return messages


_ENV = SandboxedEnvironment(undefined=jinja2.StrictUndefined, autoescape=False, keep_trailing_newline=True)


@lru_cache(maxsize=4096)
def _compile(source: str) -> jinja2.Template:
    return _ENV.from_string(source)


class TemplateProblem(Exception):
    pass


def render(source: str, variables: dict[str, Any]) -> str:
    """Render one template string in the sandbox; raise TemplateProblem with a readable message."""
    if "{{" not in source and "{%" not in source and "{#" not in source:
        return source
    try:
        return _compile(source).render(variables)
    except jinja2.UndefinedError as e:
        raise TemplateProblem(f"template variable error: {e.message}; define it under `vars:` in the case or suite") from None
    except jinja2.TemplateSyntaxError as e:
        raise TemplateProblem(f"template syntax error: {e.message} (template line {e.lineno})") from None
    except jinja2.exceptions.SecurityError as e:
        raise TemplateProblem(f"template tried an unsafe operation: {e}") from None
    except TypeError as e:
        if "no loader" not in str(e):
            raise TemplateProblem(f"template failed: TypeError: {e}") from None
        raise TemplateProblem("templates cannot include, import or extend files; put shared text in `vars:`") from None
    except jinja2.TemplateError as e:
        raise TemplateProblem(f"template error: {e}") from None
    except Exception as e:  # a filter given the wrong type, a division by zero, ...
        raise TemplateProblem(f"template failed: {type(e).__name__}: {e}") from None


def plan_cases(suites: list[Suite], model_override: str | None = None, model_option: str = "--model") -> list[CasePlan]:
    """Render every case of every suite; raise SuiteError listing every problem."""
    plans, problems = _plan_all(suites, model_override, model_option)
    if problems:
        raise SuiteError(problems)
    return plans


def _plan_all(suites: list[Suite], model_override: str | None, model_option: str) -> tuple[list[CasePlan], list[Problem]]:
    """The cases that render, and the problems of those that do not."""
    plans: list[CasePlan] = []
    problems: list[Problem] = []
    for suite in suites:
        for case in suite.cases:
            plan = _plan_case(suite, case, model_override, problems, model_option)
            if plan is not None:
                plans.append(plan)
    return plans, problems


def _plan_case(suite: Suite, case: Case, model_override: str | None, problems: list[Problem],
               model_option: str = "--model") -> CasePlan | None:  # fmt: skip
    before = len(problems)
    variables = {**suite.vars, **case.vars}
    where = f"case {case.id!r}"

    def r(source: str | None, loc: Loc | None) -> str | None:
        if source is None:
            return None
        try:
            return render(source, variables)
        except TemplateProblem as e:
            problems.append(Problem(loc or case.loc, f"{e} (in {where})"))
            return None

    model = model_override or case.model or suite.model
    if not model:
        problems.append(Problem(case.loc, f"no model for {where}: set `model:` in the suite or pass {model_option}"))
    system_source, system_loc = (case.system, case.system_loc) if case.system is not None else (suite.system, suite.system_loc)
    system = r(system_source, system_loc)
    history = []
    for m in case.messages:
        content: Any = m.content
        if isinstance(content, str):
            content = r(content, m.loc)
        elif isinstance(content, list):
            content = [
                {**part, "text": r(part["text"], m.loc)} if isinstance(part, dict) and isinstance(part.get("text"), str) else part
                for part in content
            ]
        history.append({"role": m.role, "content": content, **m.extra})
    fail_on_length = suite.fail_on_length if case.fail_on_length is None else case.fail_on_length
    turns = [
        PlannedTurn(
            index=t.index,
            user=r(t.user, t.loc),
            checks=[_render_check(c, r) for c in t.expect],
            fail_on_length=bool(fail_on_length),
            tool_results={k: r(v, t.loc) or "" for k, v in t.tool_results.items()},
            budget=t.budget,
        )
        for t in case.turns
    ]
    if len(problems) > before:
        return None
    return CasePlan(
        suite=suite,
        case=case,
        model=model or "",
        params={**suite.params, **case.params},
        system=system,
        history=history,
        turns=turns,
        policy=CasePolicy.from_settings(getattr(suite, "policy", {}), getattr(case, "policy", {})),
    )


def load_plans(paths: list[str], model_override: str | None = None, *, repeat: int | None = None,
               model_option: str = "--model") -> tuple[list[Suite], list[CasePlan]]:  # fmt: skip
    """Load, validate and render everything under ``paths``; raise SuiteError with every problem at once.

    The one path from PATH arguments to runnable plans: `harness run`, `validate` and `tokens` and the
    pytest plugin all come through here, so a suite one of them rejects, every one of them rejects.
    Besides the suites' own problems it checks what only shows once cases are rendered: `repeat`
    (``--repeat N`` over the suites') against `pass_if`, and `max_cost_usd` budgets for models with
    no price. ``model_option`` is how the front door spells --model, for the message when none is set.
    """
    from harness.budgets import unpriced_cost_budgets
    from harness.repeats import override_repeats  # imports the conversation loop, which imports this module

    suites, problems = load_suites_partially(paths)
    plans, found = _plan_all(suites, model_override, model_option)
    problems.extend(found)
    if repeat:
        problems.extend(override_repeats(plans, repeat))
    problems.extend(unpriced_cost_budgets(plans))
    if problems:
        raise SuiteError(problems)
    return suites, plans


def _render_check(check: Check, r: Any) -> Check:
    """Render templates inside a check's argument (``contains: "{{ customer }}"``), so one case's vars serve both."""

    def walk(value: Any) -> Any:
        if isinstance(value, str):
            return r(value, check.loc)
        if isinstance(value, list):
            return [walk(v) for v in value]
        if isinstance(value, dict):
            return {k: walk(v) for k, v in value.items()}
        return value

    rendered = walk(check.arg)
    return check if rendered == check.arg else replace(check, arg=rendered)
