"""What a case's requests will be, checked when it is planned: its API, its conversation state, its params.

Only once a case is planned is its API known (`api:` of the case, else of its
variant, else of the suite, else chat; `--api` over all), so the parameters it
sends, the way its conversation keeps its state, and the checks that depend on
them are checked here, each problem with the file:line:column to fix.
"""

from __future__ import annotations

from typing import Any

from harness.assertions.request_formats import declared_functions, requested_format
from harness.core.apis import CHAT, PREVIOUS_RESPONSE_ID, RESEND
from harness.core.problems import Problem, did_you_mean
from harness.core.suite import Case, Check, Suite, Variant
from harness.suites.api_params import Layer, param_problems
from harness.suites.strict_schemas import strict_schema_problems

SHORTENING_STRATEGIES = ("drop_oldest", "summarize")
STREAMED_CHECKS = ("ttft_ms",)  # checks that only a streamed reply can pass
REQUEST_CHECKS = (*STREAMED_CHECKS, "matches_response_format", "tool_call")  # checks that read the request


def request_problems(suite: Suite, case: Case, variant: Variant | None, api_override: str | None,
                     problems: list[Problem]) -> tuple[str, str]:  # fmt: skip
    """The case's API and history mode; every problem of its requests is added to ``problems``."""
    variant_api = variant.api if variant is not None else None
    api = api_override or case.api or variant_api or suite.api or CHAT
    history = case.history or suite.history or RESEND
    source = f"--api {api}" if api_override else f"`api: {api}`"
    where = f"case {case.id!r}"
    nodes = ((suite.params_yaml, "the suite"), (variant.params_yaml if variant else None, f"variant {variant.name!r}"
             if variant else ""), (case.params_yaml, where))  # fmt: skip
    layers: list[Layer] = [(node, at) for node, at in nodes if node is not None]
    problems.extend(param_problems(api, layers, source, history))
    for node, at in layers:
        problems.extend(strict_schema_problems(node, at))
    written = [(check, f"turn {turn.index} of {where}") for turn in case.turns for check in turn.expect
               if check.name.removeprefix("not_") in REQUEST_CHECKS]  # fmt: skip
    if case.defaults:
        written += [(check, "the suite's `defaults:`") for check in suite.defaults
                    if check.name.removeprefix("not_") in REQUEST_CHECKS]  # fmt: skip
    if written:  # most cases have none: no need to merge their params
        params = {**suite.params, **(variant.params if variant else {}), **case.params}
        problems.extend(_check_problems(written, params))
    history_loc = case.locs.get("history") or suite.locs.get("history") or case.loc
    if history == PREVIOUS_RESPONSE_ID:
        if api == CHAT:
            problems.append(Problem(history_loc, f"`history: previous_response_id` needs the Responses API, but "
                                                 f"{where} uses Chat Completions ({source}), which keeps no "
                                                 "conversation on the server; set `api: responses` or use "
                                                 "`history: resend`"))  # fmt: skip
        contexts = (case.context, suite.context)
        strategy = next((c.strategy for c in contexts if c is not None and c.strategy), None)
        if strategy in SHORTENING_STRATEGIES:
            problems.append(Problem(history_loc, f"`history: previous_response_id` keeps {where}'s conversation on "
                                                 f"the server, so `context: {{strategy: {strategy}}}` cannot shorten "
                                                 "it; use `history: resend`, or the `error` strategy"))  # fmt: skip
    return api, history


def _check_problems(written: list[tuple[Check, str]], params: dict[str, Any]) -> list[Problem]:
    """Checks that depend on the request: a stream to time, a format to match, a function to call."""
    problems: list[Problem] = []
    declared = declared_functions(params)
    for check, place in written:
        name = check.name.removeprefix("not_")
        at = f"check `{check.name}` in {place}"
        if name in STREAMED_CHECKS and params.get("stream") is not True:
            problems.append(Problem(check.loc, f"{at} times a streamed reply; add `stream: true` to the case's "
                                               "or the suite's params"))  # fmt: skip
        elif name == "matches_response_format" and requested_format(params) is None:
            problems.append(Problem(check.loc, f"{at} holds the reply to the request's own format, but the case "
                                               "asks for none; set `response_format: {type: json_schema, "
                                               "json_schema: {name, schema}}` (Chat) or `text: {format: {type: "
                                               "json_schema, name, schema}}` (Responses)"))  # fmt: skip
        elif name == "tool_call" and declared:
            called = check.arg if isinstance(check.arg, str) else (check.arg or {}).get("name")
            if isinstance(called, str) and called not in declared:
                hint = did_you_mean(called, list(declared))
                problems.append(Problem(check.loc, f"{at} expects a call to {called!r}, which the case's tools do "
                                                   f"not declare{hint}; declared: {', '.join(declared)}"))  # fmt: skip
    return problems
