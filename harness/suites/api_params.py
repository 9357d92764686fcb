"""Request parameters in each API's own vocabulary: what Chat Completions and the Responses API accept.

`params:` are sent exactly as written, so a parameter of the other API would
be rejected by the server (or, worse, silently ignored by a lenient one). A
case's parameters are checked against the API it uses (`api:` of the case or
suite, or `--api`) when it is planned, and a parameter of the other API is an
error that names its equivalent. Names no API knows are still sent (servers
have extensions such as `top_k`) unless they look like a misspelling.
"""

from __future__ import annotations

from typing import Any

from harness.core.apis import CHAT, PREVIOUS_RESPONSE_ID, RESPONSES
from harness.core.locations import Loc
from harness.core.problems import Problem, did_you_mean
from harness.core.yaml_positions import PosDict

# Both APIs (openai SDK: CompletionCreateParams and ResponseCreateParams).
SHARED = {"temperature", "top_p", "tools", "tool_choice", "parallel_tool_calls", "metadata", "store", "user",
          "service_tier", "prompt_cache_key", "prompt_cache_retention", "prompt_cache_options", "safety_identifier",
          "moderation", "top_logprobs", "stream", "stream_options"}  # fmt: skip

# Chat Completions only -> what to write under the Responses API instead.
CHAT_ONLY = {
    "max_tokens": "`max_output_tokens`",
    "max_completion_tokens": "`max_output_tokens`",
    "response_format": "`text: {format: ...}` (a json_schema's `name`, `schema` and `strict` move up into `format`)",
    "n": "nothing: one reply per request; sample several with `repeat: N`",
    "logprobs": "`include: [message.output_text.logprobs]` with `top_logprobs`",
    "reasoning_effort": "`reasoning: {effort: ...}`",
    "verbosity": "`text: {verbosity: ...}`",
    "stop": "nothing: the Responses API has no stop sequences",
    "seed": "nothing: the Responses API takes no seed",
    "frequency_penalty": "nothing: the Responses API has no penalties",
    "presence_penalty": "nothing: the Responses API has no penalties",
    "logit_bias": "nothing: the Responses API has no logit bias",
    "functions": "`tools` (flat function tools: `{type: function, name, parameters}`)",
    "function_call": "`tool_choice`",
    "modalities": "nothing (text output only)",
    "audio": "nothing (text output only)",
    "prediction": "nothing: the Responses API has no predicted outputs",
    "web_search_options": "`tools: [{type: web_search}]`",
}

# Responses API only -> what to write under Chat Completions instead.
RESPONSES_ONLY = {
    "max_output_tokens": "`max_completion_tokens` (or `max_tokens`)",
    "text": "`response_format` for `text.format`, `verbosity` for `text.verbosity`",
    "reasoning": "`reasoning_effort`",
    "include": "`logprobs: true` for output_text logprobs",
    "truncation": "nothing; the harness's `context:` keeps a conversation inside the window",
    "background": "nothing: Chat Completions answers in the request",
    "max_tool_calls": "nothing",
    "prompt": "`system:` and `messages:` (a stored prompt is a Responses API feature)",
    "context_management": "nothing; the harness's `context:` keeps a conversation inside the window",
    "image": "nothing",
    "access_programs": "nothing",
}

# Parameters the harness itself fills in from the suite: per API, the key and what to write instead.
OWNED = {
    CHAT: {"model": "set `model:` on the suite or case instead",
           "messages": "set `messages:` on the suite or case instead"},
    RESPONSES: {
        "model": "set `model:` on the suite or case instead",
        "messages": "set `messages:` on the suite or case instead",
        "input": "the harness builds it from `messages:` and the turns",
        "instructions": "set `system:` (it is sent as `instructions`)",
        "previous_response_id": "set `history: previous_response_id` and each turn continues from the one before",
        "conversation": "set `history: previous_response_id` for a conversation the server keeps",
    },
}  # fmt: skip

KNOWN = {CHAT: SHARED | set(CHAT_ONLY), RESPONSES: SHARED | set(RESPONSES_ONLY)}
API_NAMES = {CHAT: "Chat Completions API", RESPONSES: "Responses API"}
# Common extensions of compatible servers (vLLM, llama.cpp): sent as given, never "did you mean".
EXTENSION_PARAMS = {"top_k", "min_p", "typical_p", "repeat_penalty", "repetition_penalty", "chat_template_kwargs"}

Layer = tuple[PosDict, str]  # a `params:` mapping as read, and where it is ("the suite", "case 'x'")


def merged(layers: list[Layer]) -> dict[str, tuple[Any, Loc, Loc, str]]:
    """Key -> (value, key loc, value loc, where) of the layer that wins (the last one that sets it)."""
    out: dict[str, tuple[Any, Loc, Loc, str]] = {}
    for node, where in layers:
        for key, value in node.items():
            out[str(key)] = (value, node.key_locs[key], node.value_locs[key], where)
    return out


def param_problems(api: str, layers: list[Layer], api_source: str | None = None,
                   history: str | None = None, subject: str = "the case") -> list[Problem]:  # fmt: skip
    """Every problem of the parameters a case sends under ``api``.

    ``api_source`` says how the API was chosen (`api: responses`, `--api responses`) for the
    messages; ``history`` is the case's `history:` mode; ``subject`` who sends them ("the grader").
    """
    source = api_source or f"`api: {api}`"
    found: list[Problem] = []
    params = merged(layers)
    for key, (value, key_loc, value_loc, where) in params.items():
        if key in OWNED[api]:
            found.append(Problem(key_loc, f"`{key}` cannot be a param; {OWNED[api][key]}"))
        elif key not in KNOWN[api] and key in (RESPONSES_ONLY if api == CHAT else CHAT_ONLY):
            other = RESPONSES if api == CHAT else CHAT
            equivalent = (RESPONSES_ONLY if api == CHAT else CHAT_ONLY)[key]
            found.append(Problem(key_loc, f"`{key}` in {where} is a {API_NAMES[other]} parameter, but {subject} "
                                          f"uses the {API_NAMES[api]} ({source}); use {equivalent}"))  # fmt: skip
        elif key not in KNOWN[api] | EXTENSION_PARAMS and (hint := did_you_mean(key, KNOWN[api])):
            found.append(Problem(key_loc, f"unknown request parameter {key!r} in {where}{hint}"))
        else:
            found.extend(_value_problems(api, key, value, value_loc, where, params, source, subject))
    if history == PREVIOUS_RESPONSE_ID and "store" in params and params["store"][0] is False:
        _, _, loc, where = params["store"]
        found.append(Problem(loc, f"`store: false` in {where} cannot be used with `history: previous_response_id`: "
                                  "each turn continues from the stored previous response; remove `store: false`, "
                                  "or use `history: resend`"))  # fmt: skip
    return found


def _value_problems(api: str, key: str, value: Any, loc: Loc, where: str,
                    params: dict[str, tuple[Any, Loc, Loc, str]], source: str,
                    subject: str = "the case") -> list[Problem]:  # fmt: skip
    """Problems of one parameter's value that the server would reject, or that the harness cannot honour."""
    problems: list[Problem] = []
    streamed = params.get("stream", (False,))[0] is True
    if key == "stream" and not isinstance(value, bool):
        problems.append(Problem(loc, f"`stream` in {where} must be true or false, got {value!r}"))
    elif key == "stream_options":
        if not isinstance(value, dict):
            problems.append(Problem(loc, f"`stream_options` in {where} must be a mapping, "
                                         "e.g. {include_usage: true}"))  # fmt: skip
        elif not streamed:
            problems.append(Problem(loc, f"`stream_options` in {where} needs `stream: true` (the server refuses it "
                                         "on a request that does not stream)"))  # fmt: skip
        elif api == RESPONSES and "include_usage" in value:
            problems.append(Problem(value.key_locs["include_usage"], "`stream_options.include_usage` is a Chat "
                                    f"Completions option, but {subject} uses the Responses API ({source}); remove it: "
                                    "the Responses API always reports usage in its final event"))  # fmt: skip
    elif key == "n" and api == CHAT:
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            problems.append(Problem(loc, f"`n` in {where} must be a whole number of 1 or more, got {value!r}"))
        elif value > 1:
            problems.append(Problem(loc, f"`n: {value}` in {where} asks for {value} choices in one reply, but only "
                                         f"one would be checked; use `repeat: {value}` to sample {value} replies "
                                         "and check every one (or remove `n`)"))  # fmt: skip
    elif key == "tools":
        problems.extend(_tool_shape_problems(api, value, loc, where, source, subject))
    elif key == "tool_choice" and isinstance(value, PosDict) and value.get("type") == "function":
        if api == RESPONSES and "function" in value:
            problems.append(Problem(loc, f"`tool_choice` in {where} is in the Chat Completions shape, but {subject} "
                                         f"uses the Responses API ({source}); "
                                         "write `{type: function, name: ...}`"))  # fmt: skip
        elif api == CHAT and "name" in value and "function" not in value:
            problems.append(Problem(loc, f"`tool_choice` in {where} is in the Responses API shape, but {subject} "
                                         f"uses Chat Completions ({source}); write "
                                         "`{type: function, function: {name: ...}}`"))  # fmt: skip
    elif key == "text" and api == RESPONSES and isinstance(value, PosDict) and isinstance(value.get("format"), PosDict):
        fmt = value["format"]
        if fmt.get("type") == "json_schema" and "json_schema" in fmt:
            problems.append(Problem(value.value_locs["format"], f"`text.format` in {where} nests `json_schema:` as "
                                    "Chat's `response_format` does; under the Responses API `name`, `schema` and "
                                    "`strict` sit in `format` itself: `{type: json_schema, name: ..., schema: ...}`"))  # fmt: skip
    return problems


def _tool_shape_problems(api: str, tools: Any, loc: Loc, where: str, source: str,
                         subject: str = "the case") -> list[Problem]:  # fmt: skip
    """Function tools are nested under `function:` in Chat Completions and flat in the Responses API."""
    if not isinstance(tools, list):
        return [Problem(loc, f"`tools` in {where} must be a list of tools")]
    problems = []
    locs = getattr(tools, "item_locs", [loc] * len(tools))
    for tool, tool_loc in zip(tools, locs):
        if not isinstance(tool, dict) or tool.get("type") != "function":
            continue
        if api == RESPONSES and "function" in tool:
            problems.append(Problem(tool_loc, f"a tool in {where} is in the Chat Completions shape, but {subject} "
                                              f"uses the Responses API ({source}); function tools are flat: move "
                                              "`name`, `description`, `parameters` and `strict` up beside "
                                              "`type: function`"))  # fmt: skip
        elif api == CHAT and "function" not in tool:
            problems.append(Problem(tool_loc, f"a tool in {where} is in the Responses API shape, but {subject} uses "
                                              f"Chat Completions ({source}); nest `name`, `description`, "
                                              "`parameters` and `strict` under `function:`"))  # fmt: skip
    return problems
