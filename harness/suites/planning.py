"""Planning: turn loaded suites into rendered case plans, every template rendered before the first request."""

from __future__ import annotations

import gc
import hashlib
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

from harness.core.apis import CHAT
from harness.core.locations import Loc
from harness.core.plan import CasePlan, PlannedTurn
from harness.core.policy import CasePolicy, unreachable
from harness.core.problems import Problem, SuiteError
from harness.core.specs import DEFAULT_ENDPOINT, EndpointSpec
from harness.core.suite import Case, Check, PromptFile, Suite, Text, Variant
from harness.core.text_policy import has_surrogates, storable, surrogate_problem
from harness.metering.budgets import COST_KEY
from harness.metering.meter import Meter
from harness.suites.case_tables import MissingColumns
from harness.suites.loading import load_suites_partially
from harness.suites.project_files import project_root, shown
from harness.suites.requests import request_problems
from harness.suites.templating import TemplateProblem, render, render_text
from harness.suites.variants import select_variants, unknown_variant_message


def plan_cases(suites: list[Suite], model_override: str | None = None, model_option: str = "--model",
               variants: list[str] | None = None, api: str | None = None) -> list[CasePlan]:  # fmt: skip
    """Render every case of every suite (once per variant); raise SuiteError listing every problem."""
    plans, problems = _plan_all(suites, model_override, model_option, variants or [], api)
    if problems:
        raise SuiteError(problems)
    return plans


def _plan_all(suites: list[Suite], model_override: str | None, model_option: str,
              wanted: list[str] | None = None, api_override: str | None = None) -> tuple[list[CasePlan], list[Problem]]:  # fmt: skip
    """The cases that render (each once per selected variant), and the problems of those that do not
    (each once: a suite-level problem would otherwise repeat for every case).

    ``wanted`` are the `--variant` names: a suite without variants runs as before; a name no suite
    declares is a problem, so a typo never silently runs nothing. ``api_override`` is --api.
    """
    plans: list[CasePlan] = []
    problems: list[Problem] = []
    missing = MissingColumns()
    known = {v.name for s in suites for v in s.variants}
    problems += [Problem(Loc("--variant", 0, 0), unknown_variant_message(w, known)) for w in wanted or [] if w not in known]
    for suite in suites:
        read: set[str] = set()
        suite_dir = Path(suite.path).parent
        chosen, _ = select_variants(suite.variants, wanted or [])
        if suite.variants and not chosen:
            continue  # --variant picked none of this suite's variants
        for case in suite.cases:
            for variant in chosen or [None]:
                plan = _plan_case(suite, case, model_override, problems, model_option, variant, missing, suite_dir,
                                  api_override)  # fmt: skip
                if plan is not None:
                    plans.append(plan)
                    read.update(f for files in plan.prompt_files.values() for f in files)
        suite.files = list(dict.fromkeys([*suite.files, *(project_root() / f for f in sorted(read))]))
        suite.fingerprint = fingerprint(suite)
    return plans, _once_per_place(list(dict.fromkeys(problems + missing.problems())))


_IN_CASE = re.compile(r"^(?P<text>.*) \(in (?P<where>case '.*)\)$", re.S)  # what _plan_case appends to a message
_NAMED = 3  # cases named in a problem many cases share


def _once_per_place(problems: list[Problem]) -> list[Problem]:
    """A problem in text many cases render (a suite's prompt file, its `system:`) once, naming how many cases
    met it, instead of once per case and variant."""
    shared: dict[tuple[Loc, str], list[str]] = {}
    for p in problems:
        if m := _IN_CASE.match(p.message):
            shared.setdefault((p.loc, m["text"]), []).append(m["where"])
    out, done = [], set()
    for p in problems:
        m = _IN_CASE.match(p.message)
        key = (p.loc, m["text"]) if m else None
        if key is None or len(shared[key]) == 1:
            out.append(p)
        elif key not in done:
            done.add(key)
            cases = shared[key]
            named = ", ".join(cases[:_NAMED]) + (f" and {len(cases) - _NAMED:,} more" if len(cases) > _NAMED else "")
            out.append(Problem(p.loc, f"{m['text']} (in {len(cases):,} cases: {named})"))
    return out


def _plan_case(suite: Suite, case: Case, model_override: str | None, problems: list[Problem],
               model_option: str = "--model", variant: Variant | None = None, missing: MissingColumns | None = None,
               suite_dir: Path | None = None, api_override: str | None = None) -> CasePlan | None:  # fmt: skip
    before = len(problems)
    api, history_mode = request_problems(suite, case, variant, api_override, problems)
    variables = {**suite.vars, **(variant.vars if variant else {}), **case.vars}
    where = f"case {case.id!r}" + (f" (variant {variant.name!r})" if variant else "")
    suite_dir = suite_dir or Path(suite.path).parent
    prompt_files: dict[str, list[str]] = {}
    columns_missing = False

    def r(source: Text | None, loc: Loc | None, slot: str | None = None) -> str | None:
        nonlocal columns_missing
        if source is None:
            return None
        try:
            if isinstance(source, str) and "{%" not in source:  # no include possible: the short, cached path
                text = render(source, variables)
            else:
                rendered = render_text(source, variables, suite_dir)
                if rendered.files and slot is not None:
                    prompt_files[slot] = rendered.files
                text = rendered.text
        except TemplateProblem as e:
            at = e.loc or (source.loc if not isinstance(source, str) else None) or loc or case.loc
            if case.row is not None and e.undefined and e.undefined not in variables and missing is not None:
                missing.note(case.row, e.undefined, at, variables)  # once per data file and name, not per row
                columns_missing = True
                return None
            problems.append(Problem(at, f"{e} (in {where})"))
            return None
        if has_surrogates(text):  # a template can spell one ("{{ '\\ud83d' }}"); the suite's own text was checked
            if problem := surrogate_problem(text):
                problems.append(Problem(loc or case.loc, f"the template's output {problem} (in {where})"))
                return None
            text = storable(text)[0]
        return text

    model = model_override or case.model or (variant and variant.model) or suite.model
    if not model:
        problems.append(Problem(case.loc, f"no model for {where}: set `model:` in the suite or pass {model_option}"))
    system_source, system_loc = suite.system, suite.system_loc
    if case.system is not None:
        system_source, system_loc = case.system, case.system_loc
    elif variant is not None and variant.system is not None:
        system_source, system_loc = variant.system, variant.system_loc
    system = r(system_source, system_loc, "system")
    history = []
    for i, m in enumerate(case.messages):
        content: Any = m.content
        if isinstance(content, (str, PromptFile)):
            content = r(content, m.loc, f"messages[{i}]")
        elif isinstance(content, list):
            content = [
                {**part, "text": r(part["text"], m.loc)} if isinstance(part, dict) and isinstance(part.get("text"), str) else part
                for part in content
            ]
        history.append({"role": m.role, "content": content, **m.extra})
    fail_on_length = suite.fail_on_length if case.fail_on_length is None else case.fail_on_length
    defaults = suite.defaults if case.defaults else []
    turns = [
        PlannedTurn(
            index=t.index,
            user=r(t.user, t.loc, f"turn {t.index}"),
            checks=[_render_check(c, r) for c in [*t.expect, *defaults]],
            fail_on_length=bool(fail_on_length),
            tool_results={k: r(v, t.loc) or "" for k, v in t.tool_results.items()},
            budget=t.budget,
        )
        for t in case.turns
    ]
    if len(problems) > before or columns_missing:
        return None
    endpoint = _endpoint(suite, case.endpoint or (variant.endpoint if variant else None) or suite.endpoint)
    grader_choice = suite.grader.endpoint if suite.grader is not None else None
    return CasePlan(
        suite=suite,
        case=case,
        model=model or "",
        params=stream_usage({**suite.params, **(variant.params if variant else {}), **case.params}, api),
        system=system,
        history=history,
        turns=turns,
        api=api,
        history_mode=history_mode,
        policy=_policy(suite, case),
        variant=variant.name if variant else "",
        endpoint=endpoint,
        grader_endpoint=endpoint if grader_choice is None else _endpoint(suite, grader_choice),
        prompt_files=prompt_files,
    )


_POLICIES: dict[tuple[int, int], tuple[dict[str, Any], dict[str, Any], CasePolicy]] = {}


def _policy(suite: Suite, case: Case) -> CasePolicy:
    """The case's policy; the cases of one `cases_from:` table share their settings, so it is made once for them."""
    key = (id(suite.policy), id(case.policy))
    found = _POLICIES.get(key)
    if found is None or found[0] is not suite.policy or found[1] is not case.policy:  # ids are reused once freed
        if len(_POLICIES) > 4096:
            _POLICIES.clear()
        found = _POLICIES[key] = (suite.policy, case.policy, CasePolicy.from_settings(suite.policy, case.policy))
    return found[2]


def _endpoint(suite: Suite, name: str | None) -> EndpointSpec | None:
    """The named endpoint of the suite; None for the run's own server (no name, or `default`)."""
    if name is None or name == DEFAULT_ENDPOINT:
        return None
    return suite.endpoints.get(name)  # missing only when its definition had a problem, already reported


def fingerprint(suite: Suite) -> str:
    """A digest of the suite file and every project file it reads, so `--rerun` can tell the suites changed."""
    digest = hashlib.sha256()
    for path in [Path(suite.path), *sorted(suite.files)]:
        digest.update(shown(path).encode() + b"\0")
        try:
            digest.update(path.read_bytes())
        except OSError:
            digest.update(b"<unreadable>")
        digest.update(b"\0")
    return digest.hexdigest()[:16]


def stream_usage(params: dict[str, Any], api: str) -> dict[str, Any]:
    """A streamed Chat request reports usage only when asked: `stream_options: {include_usage: true}` is added
    when the suite sets no `stream_options` (it is then in results.json and the cassette like any param)."""
    if api == CHAT and params.get("stream") is True and "stream_options" not in params:
        return {**params, "stream_options": {"include_usage": True}}
    return params


def load_plans(paths: list[str], model_override: str | None = None, *, repeat: int | None = None,
               model_option: str = "--model", variants: list[str] | None = None,
               api: str | None = None) -> tuple[list[Suite], list[CasePlan]]:  # fmt: skip
    """Load, validate and render everything under ``paths``; raise SuiteError with every problem at once.

    The one path from PATH arguments to runnable plans: `harness run`, `validate` and `tokens` and the
    pytest plugin all come through here, so a suite one of them rejects, every one of them rejects.
    Besides the suites' own problems it checks what only shows once cases are rendered: `repeat`
    (``--repeat N`` over the suites') against `pass_if`, and `max_cost_usd` budgets for models with
    no price. ``variants`` (`--variant`) picks some of the suites' variants. ``model_option`` is how the front door spells --model, for the message when none is set.
    ``api`` (--api) chooses the API of every case, over the suites' (and variants') `api:`.
    """
    # The cyclic collector would walk what loading builds again and again (a 100,000-case file is millions of
    # objects; its passes cost a third of the load), and none of it is garbage: paused while the suites load,
    # and their objects set aside (frozen) while they are planned, with the collector on: a template that fails
    # leaves its exception's frames in a cycle, which may hold what it was rendering.
    # A caller's own freeze (gc.get_freeze_count()) is left as it is: then nothing is frozen here.
    paused, freeze = gc.isenabled(), gc.isenabled() and gc.get_freeze_count() == 0
    frozen = False
    gc.disable()
    try:
        suites, problems = load_suites_partially(paths)
        if freeze:
            gc.freeze()
            frozen = True
        if paused:
            gc.enable()
        plans, found = _plan_all(suites, model_override, model_option, variants or [], api)
    finally:
        if frozen:
            gc.unfreeze()
        if paused:
            gc.enable()
    problems.extend(found)
    if repeat:
        problems.extend(override_repeats(plans, repeat))
    problems.extend(unpriced_cost_budgets(plans))
    if problems:
        raise SuiteError(problems)
    return suites, plans


def _render_check(check: Check, r: Any) -> Check:
    """Render templates inside a check's argument (``contains: "{{ customer }}"``), so one case's vars serve both."""
    rendered = _rendered(check.arg, r, check.loc)
    if rendered == check.arg:
        return check
    copied = object.__new__(Check)  # dataclasses.replace, at a fifth of its cost: once per check of every case
    copied.__dict__.update(check.__dict__, arg=rendered)
    return copied


def _rendered(value: Any, r: Any, loc: Loc) -> Any:
    """Every text inside ``value`` rendered. A module function, not a closure calling itself: that would be a
    reference cycle per check, garbage only the cyclic collector frees."""
    if isinstance(value, str):
        return r(value, loc)
    if isinstance(value, list):
        return [_rendered(v, r, loc) for v in value]
    if isinstance(value, dict):
        return {k: _rendered(v, r, loc) for k, v in value.items()}
    return value


def override_repeats(plans: list[CasePlan], repeat: int) -> list[Problem]:
    """Apply `--repeat N` to every plan; the problems (file:line) of `pass_if` rules N repeats cannot meet."""
    problems = []
    for plan in plans:
        plan.policy = replace(plan.policy, repeats=repeat)
        if problem := unreachable(plan.policy.rule, repeat, plan.case.id):
            loc = plan.case.policy_locs.get("pass_if") or plan.suite.policy_locs.get("pass_if") or plan.case.loc
            problems.append(Problem(loc, f"{problem} (--repeat {repeat})"))
    return problems


def unpriced_cost_budgets(plans: list[CasePlan]) -> list[Problem]:
    """A Problem for every `max_cost_usd` that cannot be enforced because the case's model has no price.

    Reported before the run (exit 2), so no money is spent under a ceiling that cannot be checked.
    """
    problems: list[Problem] = []
    seen: set[tuple[int, str]] = set()
    for plan in plans:
        budgets = [plan.suite.budget, plan.case.budget, *(t.budget for t in plan.turns)]
        with_cost = [b for b in budgets if b is not None and COST_KEY in b.limits]
        if not with_cost or Meter.for_plan(plan).has_price():
            continue
        loc = with_cost[0].loc or plan.case.loc
        if (id(with_cost[0]), plan.model) in seen:
            continue
        seen.add((id(with_cost[0]), plan.model))
        problems.append(Problem(loc, f"{COST_KEY} cannot be enforced for case {plan.case.id!r}: no price is known "
                                     f"for model {plan.model!r}; add it under `pricing:` (USD per 1M tokens, "
                                     "e.g. {input: 0.15, output: 0.60}) or `pricing_file:` in the suite"))  # fmt: skip
    return problems
