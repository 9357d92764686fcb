"""The suite schema: which keys go where, and the validator that enforces it.

It turns one parsed YAML file into a ``Suite``, recording every problem with
its file:line:column, the key, and a fix, rather than stopping at the first.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from harness import assertions
from harness.assertions.custom import resolve_function
from harness.assertions.graded import missing_model
from harness.core.locations import Loc
from harness.core.policy import CHECK_OPTIONS, parse_check_option, parse_setting, unreachable
from harness.core.problems import Problem, did_you_mean
from harness.core.specs import Budget, ContextSpec, GraderSpec
from harness.core.suite import Case, Check, Message, Suite, Turn
from harness.core.usage_limits import GATE_EXAMPLE, LIMIT_KEYS, parse_gate_value
from harness.core.yaml_positions import PosDict, PosList, to_plain
from harness.metering.budgets import BUDGET_KEYS, validate_budget_value
from harness.metering.meter import STRATEGIES
from harness.metering.pricing import PriceFileError, PriceTable
from harness.metering.tokens import SUPPORTED_ENCODINGS
from harness.suites.variants import validate_variants

SUITE_KEYS = {"suite", "description", "model", "params", "system", "vars", "cases", "fail_on_length",
              "encoding", "budget", "context", "pricing", "pricing_file", "retry", "rate_limit", "grader",
              "repeat", "pass_if", "threshold", "min_pass_rate", "gate", "variants"}  # fmt: skip
GRADER_KEYS = {"model", "params", "embedding_model"}  # for llm_rubric, factuality (model) and similar (embedding_model)
# Suite-level reliability settings: key -> (number kind, minimum, whether the minimum itself is allowed).
RETRY_KEYS = {"max_retries": (int, 0, True), "timeout": (float, 0, False), "base_delay": (float, 0, True)}
RATE_LIMIT_KEYS = {"rpm": (float, 0, False), "tpm": (float, 0, False)}
CASE_KEYS = {"id", "description", "model", "params", "system", "vars", "messages", "turns", "fail_on_length",
             "encoding", "budget", "context", "repeat", "pass_if", "threshold", "allow_fail"}  # fmt: skip
POLICY_KEYS = ("repeat", "pass_if", "threshold", "allow_fail", "min_pass_rate")  # harness/policy.py
TURN_KEYS = {"user", "expect", "tool_results", "budget"}
CONTEXT_KEYS = {"window", "max_output_tokens", "strategy", "summary_max_tokens"}
MESSAGE_ROLES = {"system", "developer", "user", "assistant", "tool"}

# Chat Completions parameters, for "did you mean" on typos. Unknown names are
# still sent as given (servers have extensions such as top_k), unless they
# look like a misspelling of one of these.
KNOWN_PARAMS = {
    "temperature", "top_p", "max_tokens", "max_completion_tokens", "seed", "stop", "n",
    "response_format", "tools", "tool_choice", "parallel_tool_calls", "presence_penalty",
    "frequency_penalty", "logit_bias", "logprobs", "top_logprobs", "user", "reasoning_effort",
    "service_tier", "store", "metadata", "modalities", "prediction", "audio", "verbosity",
    "web_search_options", "prompt_cache_key", "safety_identifier",
}  # fmt: skip
# Common extensions of compatible servers (vLLM, llama.cpp): sent as given, never "did you mean".
EXTENSION_PARAMS = {"top_k", "min_p", "typical_p", "repeat_penalty", "repetition_penalty", "chat_template_kwargs"}


def duplicate_keys(node: Any, path: str) -> list[Problem]:
    """Every key written twice in one mapping, at any depth (YAML would silently keep the last)."""
    found: list[Problem] = []
    if isinstance(node, PosDict):
        for key, loc in node.duplicates:
            where = f" in `{path}`" if path else ""
            found.append(Problem(loc, f"duplicate key {key!r}{where}; the later value would silently win, so remove one"))
        for key, value in node.items():
            found += duplicate_keys(value, f"{path}.{key}" if path else str(key))
    elif isinstance(node, PosList):
        for i, value in enumerate(node):
            found += duplicate_keys(value, f"{path}[{i}]")
    return found


class SuiteValidator:
    """Turns one parsed file into a Suite, collecting problems rather than stopping at the first."""

    def __init__(self, file: str, path: Path):
        self.file = file
        self.path = path
        self.problems: list[Problem] = []
        self.grader_spec: GraderSpec | None = None  # the suite's `grader:`, for checks that need a model

    def add(self, loc: Loc, message: str) -> None:
        self.problems.append(Problem(loc, message))

    def keys(self, data: PosDict, allowed: set[str], where: str) -> None:
        for key in data:
            if key not in allowed:
                hint = did_you_mean(str(key), allowed) or f"; expected one of {', '.join(sorted(allowed))}"
                self.add(data.key_locs[key], f"unknown key {key!r} in {where}{hint}")

    def typed(self, data: PosDict, key: str, kind: type | tuple[type, ...], what: str, where: str) -> Any:
        if key not in data or data[key] is None:
            return None
        value = data[key]
        if isinstance(value, bool) and kind in (int, float, (int, float)):
            ok = False
        else:
            ok = isinstance(value, kind)
        if not ok:
            self.add(data.value_locs[key], f"`{key}` in {where} must be {what}, got {_kind(value)}")
            return None
        return value

    def suite(self, data: PosDict) -> tuple[Suite | None, list[Problem]]:
        self.keys(data, SUITE_KEYS, "the suite")
        name = self.typed(data, "suite", str, "a string", "the suite") or self.path.stem
        cases_raw = data.get("cases")
        if "cases" not in data:
            self.add(data.loc, "the suite has no `cases:` list; add at least one case with an `id` and `turns`")
        elif not isinstance(cases_raw, PosList) or not cases_raw:
            self.add(data.value_locs["cases"], "`cases` must be a non-empty list of cases")
        suite = Suite(
            name=name,
            path=self.path,
            cases=[],
            loc=data.loc,
            model=self.typed(data, "model", str, "a model name", "the suite"),
            params=self.params(data, "the suite"),
            system=self.typed(data, "system", str, "a string", "the suite"),
            system_loc=data.value_locs.get("system"),
            vars=self.vars(data, "the suite"),
            fail_on_length=self.flag(data, "the suite", default=True),
            description=self.typed(data, "description", str, "a string", "the suite") or "",
            encoding=self.encoding(data, "the suite"),
            budget=self.budget(data, "the suite"),
            context=self.context(data, "the suite"),
            prices=self.prices(data),
            retry=self.numbers(data, "retry", RETRY_KEYS, "retry: {max_retries: 5, timeout: 30}"),
            rate_limit=self.numbers(data, "rate_limit", RATE_LIMIT_KEYS, "rate_limit: {rpm: 500, tpm: 200000}"),
            grader=self.grader(data),
        )
        self.grader_spec = suite.grader
        suite.variants = validate_variants(self, data)
        suite.policy, suite.policy_locs = self.policy(data, "the suite", SUITE_KEYS)
        if limits := self.gate(data):
            suite.policy["gate"], suite.policy_locs["gate"] = limits, data.value_locs["gate"]
        seen: dict[str, Loc] = {}
        if isinstance(cases_raw, PosList):
            for i, (item, loc) in enumerate(zip(cases_raw, cases_raw.item_locs), start=1):
                case = self.case(item, loc, i)
                if case is None:
                    continue
                if case.id in seen:
                    self.add(case.loc, f"duplicate case id {case.id!r} (first used at line {seen[case.id].line}); "
                             "case ids must be unique in a suite because they name the cassette")  # fmt: skip
                    continue
                seen[case.id] = case.loc
                suite.cases.append(case)
        self.reachable(suite)
        return suite, self.problems

    def grader(self, data: PosDict) -> GraderSpec | None:
        """`grader: {model, params, embedding_model}`: who grades llm_rubric/factuality and embeds for similar."""
        where = "`grader` of the suite"
        value = self.typed(data, "grader", dict, "a mapping like {model: gpt-4o-mini}", "the suite")
        if value is None:
            return None
        self.keys(value, GRADER_KEYS, where)
        return GraderSpec(model=self.typed(value, "model", str, "a model name", where),
                          params=self.params(value, where),
                          embedding_model=self.typed(value, "embedding_model", str, "a model name", where))  # fmt: skip

    def gate(self, data: PosDict) -> dict[str, float]:
        """`gate:`: how much cost, tokens and latency may grow against a base run (harness/core/usage_limits.py)."""
        block = self.typed(data, "gate", dict, f"a mapping like `{GATE_EXAMPLE}`", "the suite")
        if block is None:
            return {}
        if not block:
            self.add(data.value_locs["gate"], f"`gate` of the suite is empty; write e.g. `{GATE_EXAMPLE}`")
        limits: dict[str, float] = {}
        for key, value in block.items():
            if key not in LIMIT_KEYS:
                hint = did_you_mean(str(key), set(LIMIT_KEYS)) or f"; expected one of {', '.join(LIMIT_KEYS)}"
                self.add(block.key_locs[key], f"unknown key {key!r} in `gate` of the suite{hint}")
                continue
            found, problems = parse_gate_value(str(key), to_plain(value))
            for inner, on_key, problem in problems:
                at = block.value_locs[key]
                if inner is not None and isinstance(value, PosDict):
                    at = (value.key_locs if on_key else value.value_locs).get(inner, at)
                self.add(at, f"`gate.{key}{'' if inner is None or on_key else '.' + inner}` {problem}")
            limits.update(found)
        return limits

    def numbers(self, data: PosDict, key: str, spec: dict[str, tuple[type, float, bool]], example: str) -> dict[str, Any]:
        """A small mapping of named numbers (`retry:`, `rate_limit:`), each checked against its minimum."""
        block = self.typed(data, key, dict, f"a mapping like `{example}`", "the suite")
        out: dict[str, Any] = {}
        for name, value in (block or {}).items():
            if name not in spec:
                hint = did_you_mean(str(name), set(spec)) or f"; expected one of {', '.join(sorted(spec))}"
                self.add(block.key_locs[name], f"unknown key {name!r} in `{key}`{hint}")
                continue
            kind, minimum, inclusive = spec[name]
            number = isinstance(value, (int, float)) and not isinstance(value, bool)
            whole = kind is float or isinstance(value, int)
            if not number or not whole or value != value or value in (float("inf"), float("-inf")):
                what = "a whole number" if kind is int else "a number"
                self.add(block.value_locs[name], f"`{key}.{name}` must be {what}, got {_kind(value)}")
            elif value < minimum or (value == minimum and not inclusive):
                self.add(block.value_locs[name],
                         f"`{key}.{name}` must be {'at least' if inclusive else 'more than'} {minimum:g}, got {value!r}")  # fmt: skip
            else:
                out[str(name)] = value
        return out

    def flag(self, data: PosDict, where: str, default: bool | None) -> bool | None:
        value = self.typed(data, "fail_on_length", bool, "true or false", where)
        return default if value is None else value

    def vars(self, data: PosDict, where: str) -> dict[str, Any]:
        value = self.typed(data, "vars", dict, "a mapping of names to values", where)
        return to_plain(value) if value else {}

    def params(self, data: PosDict, where: str) -> dict[str, Any]:
        value = self.typed(data, "params", dict, "a mapping of request parameters", where)
        if not value:
            return {}
        for key in value:
            loc = value.key_locs[key]
            if key in ("model", "messages"):
                self.add(loc, f"`{key}` cannot be a param; set `{key}:` on the suite or case instead")
            elif key == "stream":
                if value[key]:
                    self.add(loc, "streaming is not supported; remove `stream`")
            elif key not in KNOWN_PARAMS | EXTENSION_PARAMS and did_you_mean(str(key), KNOWN_PARAMS):
                self.add(loc, f"unknown request parameter {key!r} in {where}{did_you_mean(str(key), KNOWN_PARAMS)}")
        return to_plain(value)

    def encoding(self, data: PosDict, where: str) -> str | None:
        value = self.typed(data, "encoding", str, "a tiktoken encoding name", where)
        if value is not None and value not in SUPPORTED_ENCODINGS:
            hint = did_you_mean(value, list(SUPPORTED_ENCODINGS)) or f"; choose one of {', '.join(SUPPORTED_ENCODINGS)}"
            self.add(data.value_locs["encoding"], f"unknown encoding {value!r} in {where}{hint}")
            return None
        return value

    def budget(self, data: PosDict, where: str) -> Budget | None:
        """`budget: {max_prompt_tokens, max_completion_tokens, max_total_tokens, max_cost_usd}`."""
        value = self.typed(data, "budget", dict, "a mapping of limits, e.g. {max_cost_usd: 0.50}", where)
        if value is None:
            return None
        limits: dict[str, float] = {}
        for key, limit in value.items():
            if key not in BUDGET_KEYS:
                hint = did_you_mean(str(key), BUDGET_KEYS) or f"; expected one of {', '.join(BUDGET_KEYS)}"
                self.add(value.key_locs[key], f"unknown budget limit {key!r} in {where}{hint}")
            elif error := validate_budget_value(key, limit):
                self.add(value.value_locs[key], f"`budget.{key}` in {where} {error}")
            else:
                limits[key] = limit
        if not value:
            self.add(data.value_locs["budget"], f"`budget` in {where} is empty; set e.g. `max_total_tokens: 4000`")
        return Budget(limits, data.value_locs["budget"]) if limits else None

    def context(self, data: PosDict, where: str) -> ContextSpec | None:
        """`context: {window, max_output_tokens, strategy, summary_max_tokens}`."""
        value = self.typed(data, "context", dict, "a mapping like {window: 8192, strategy: drop_oldest}", where)
        if value is None:
            return None
        self.keys(value, CONTEXT_KEYS, f"`context` of {where}")
        spec = ContextSpec()
        for key in ("window", "max_output_tokens", "summary_max_tokens"):
            number = value.get(key)
            if number is None:
                continue
            if isinstance(number, bool) or not isinstance(number, int) or number <= 0:
                self.add(value.value_locs[key], f"`context.{key}` in {where} must be a positive whole number "
                                                f"of tokens, got {_kind(number)}")  # fmt: skip
            else:
                setattr(spec, key, number)
        strategy = value.get("strategy")
        if strategy is not None and strategy not in STRATEGIES:
            hint = did_you_mean(str(strategy), STRATEGIES) or f"; choose one of {', '.join(STRATEGIES)}"
            self.add(value.value_locs["strategy"], f"unknown context strategy {strategy!r} in {where}{hint}")
        elif strategy is not None:
            spec.strategy = strategy
        return spec

    def prices(self, data: PosDict) -> PriceTable | None:
        """The price table for the suite: shipped table, then `pricing_file:`, then `pricing:`."""
        file_name = self.typed(data, "pricing_file", str, "a path to a JSON or YAML price file", "the suite")
        inline = self.typed(data, "pricing", dict, "a mapping of model name to {input, output} USD per 1M tokens",
                            "the suite")  # fmt: skip
        if file_name is None and inline is None:
            return None
        table = PriceTable.load_default()
        try:
            if file_name is not None:
                path = self.path.parent / file_name
                if "\x00" in file_name:
                    self.add(data.value_locs["pricing_file"], f"`pricing_file` {file_name!r} is not a valid path")
                    return None
                if not inside_project(path, self.path):
                    self.add(data.value_locs["pricing_file"], f"`pricing_file` {file_name!r} is outside the project; "
                             "a suite may only read files under the working directory or its own folder")  # fmt: skip
                    return None
                if not path.is_file():
                    self.add(data.value_locs["pricing_file"], f"`pricing_file` {file_name!r} does not exist "
                             f"(looked for {path}; the path is relative to the suite file)")  # fmt: skip
                    return None
                extra = PriceTable.from_file(path)
                table = table.with_overrides({m: vars(extra.lookup(m)) for m in extra.models}, str(path))
            if inline is not None:
                table = table.with_overrides(inline, self.file)
        except PriceFileError as e:
            loc, message = _split_loc(str(e), data.value_locs.get("pricing_file" if inline is None else "pricing"))
            self.add(loc, message)
            return None
        return table

    def case(self, data: Any, loc: Loc, number: int) -> Case | None:
        if not isinstance(data, PosDict):
            self.add(loc, f"case {number} must be a mapping with `id` and `turns`, got {_kind(data)}")
            return None
        raw_id = data.get("id")
        if isinstance(raw_id, (str, int)) and not isinstance(raw_id, bool) and str(raw_id).strip():
            case_id = str(raw_id)
        else:
            self.add(data.value_locs.get("id", data.loc), f"case {number} needs an `id:` (a non-empty string)")
            case_id = f"#{number}"
        where = f"case {case_id!r}"
        self.keys(data, CASE_KEYS, where)
        case = Case(
            id=case_id,
            turns=[],
            loc=data.loc,
            vars=self.vars(data, where),
            system=self.typed(data, "system", str, "a string", where),
            system_loc=data.value_locs.get("system"),
            params=self.params(data, where),
            model=self.typed(data, "model", str, "a model name", where),
            fail_on_length=self.flag(data, where, default=None),
            description=self.typed(data, "description", str, "a string", where) or "",
            encoding=self.encoding(data, where),
            budget=self.budget(data, where),
            context=self.context(data, where),
        )
        case.policy, case.policy_locs = self.policy(data, where, CASE_KEYS)
        messages = self.typed(data, "messages", list, "a list of {role, content} messages", where)
        for item, mloc in zip(messages or [], getattr(messages, "item_locs", [])):
            message = self.message(item, mloc, where)
            if message:
                case.messages.append(message)
        turns = data.get("turns")
        if "turns" not in data:
            self.add(data.loc, f"{where} has no `turns:`; add at least one turn with a `user:` message")
        elif not isinstance(turns, PosList) or not turns:
            self.add(data.value_locs["turns"], f"`turns` in {where} must be a non-empty list of turns")
        else:
            for i, (item, tloc) in enumerate(zip(turns, turns.item_locs), start=1):
                turn = self.turn(item, tloc, i, where)
                if turn:
                    case.turns.append(turn)
        return case

    def message(self, data: Any, loc: Loc, where: str) -> Message | None:
        if not isinstance(data, PosDict):
            self.add(loc, f"a message in {where} must be a mapping like {{role: user, content: Hi}}")
            return None
        role = data.get("role")
        if not isinstance(role, str) or role not in MESSAGE_ROLES:
            self.add(data.value_locs.get("role", loc),
                     f"message role must be one of {', '.join(sorted(MESSAGE_ROLES))}, got {role!r}")  # fmt: skip
            return None
        if "content" not in data and not data.get("tool_calls"):
            self.add(loc, f"a {role} message in {where} needs `content`")
            return None
        content = data.get("content")
        if not (content is None or isinstance(content, str) or
                (isinstance(content, list) and all(isinstance(p, dict) for p in content))):  # fmt: skip
            self.add(data.value_locs.get("content", loc),
                     f"`content` of a {role} message in {where} must be text (quote it: YAML read {_kind(content)}) "
                     "or a list of content parts")  # fmt: skip
            return None
        extra = {k: to_plain(v) for k, v in data.items() if k not in ("role", "content")}
        return Message(role, to_plain(data.get("content")), data.value_locs.get("content", loc), extra)

    def turn(self, data: Any, loc: Loc, index: int, where: str) -> Turn | None:
        where = f"turn {index} of {where}"
        if not isinstance(data, PosDict):
            self.add(loc, f"{where} must be a mapping with `user:` and `expect:`, got {_kind(data)}")
            return None
        self.keys(data, TURN_KEYS, where)
        user = self.typed(data, "user", str, "a string", where)
        tool_results = self.typed(data, "tool_results", dict, "a mapping of function name to result text", where)
        if user is None and not tool_results and "user" not in data:
            self.add(loc, f"{where} has no `user:` message; add `user: <what the user says>`")
        elif user is None and not tool_results and data["user"] is None:
            self.add(data.value_locs["user"], f"`user` in {where} is empty; write the user's message after `user:`")
        turn = Turn(index, user, [], data.value_locs.get("user", loc),
                    {str(k): v if isinstance(v, str) else _json(v) for k, v in (tool_results or {}).items()},
                    self.budget(data, where))  # fmt: skip
        expect = data.get("expect")
        if expect is None:
            return turn
        if not isinstance(expect, PosList):
            self.add(data.value_locs["expect"], f"`expect` in {where} must be a list of checks, e.g. `- contains: hello`")
            return turn
        for item, cloc in zip(expect, expect.item_locs):
            c = self.check(item, cloc, where)
            if c:
                turn.expect.append(c)
        return turn

    def check(self, data: Any, loc: Loc, where: str) -> Check | None:
        if not isinstance(data, PosDict) or len(data) == 0:
            self.add(loc, f"each check in {where} must be a one-key mapping like `- contains: hello`, got {_kind(data)}")
            return None
        names, options = self.check_options(data, where)
        if len(names) != 1:
            listed = " and ".join(f"`{n}`" for n in names) or "no check"
            self.add(loc, f"each check in {where} must be a one-key mapping like `- contains: hello` (with optional "
                          f"`weight:` and `metric:` beside it), got {listed}; give each check its own entry")  # fmt: skip
            return None
        (name,) = names
        key_loc = data.key_locs[name]
        resolved = assertions.resolve(str(name))
        if resolved is None:
            hint = assertions.suggest(str(name))
            tip = f"; did you mean {hint!r}?" if hint else "; run `harness checks` to list them"
            self.add(key_loc, f"unknown check {name!r} in {where}{tip}")
            return None
        spec, _ = resolved
        arg = to_plain(data[name])
        error = spec.validate(arg)
        if error:
            self.add(data.value_locs[name], f"check `{name}` in {where} {error} (example: `{spec.example}`)")
            return None
        if spec.name == "python":  # import the user's function now, so a typo is exit 2, not a failed run
            try:
                resolve_function(arg, self.path.parent.resolve())
            except ImportError as e:
                self.add(data.value_locs[name], f"check `{name}` in {where}: {e}")
                return None
        if needs := missing_model(spec.name, arg, self.grader_spec):
            self.add(key_loc, f"check `{name}` in {where} {needs}")
            return None
        return Check(str(name), arg, key_loc, **options)

    def check_options(self, data: PosDict, where: str) -> tuple[list[Any], dict[str, Any]]:
        """Split a check entry into its check key(s) and the `weight:` / `metric:` beside it."""
        names: list[Any] = []
        options: dict[str, Any] = {}
        for key in data:
            if key in CHECK_OPTIONS:
                value, problem = parse_check_option(key, to_plain(data[key]))
                if problem:
                    self.add(data.value_locs[key], f"{problem} (beside a check in {where})")
                else:
                    options[key] = value
            elif len(data) > 1 and assertions.resolve(str(key)) is None and did_you_mean(str(key), CHECK_OPTIONS):
                self.add(data.key_locs[key], f"unknown key {key!r} beside a check in {where}"
                                             f"{did_you_mean(str(key), CHECK_OPTIONS)}")  # fmt: skip
            else:
                names.append(key)
        return names, options

    def policy(self, data: PosDict, where: str, allowed: set[str]) -> tuple[dict[str, Any], dict[str, Loc]]:
        """`repeat`, `pass_if`, `threshold`, `allow_fail`, `min_pass_rate` where allowed (harness/policy.py)."""
        values: dict[str, Any] = {}
        locs: dict[str, Loc] = {}
        for key in POLICY_KEYS:
            if key not in allowed or key not in data or data[key] is None:
                continue
            value, problem, inner = parse_setting(key, to_plain(data[key]))
            if problem:
                node = data[key]
                at = data.value_locs[key]
                if inner is not None and isinstance(node, PosDict):
                    at = (node.value_locs if inner in node else node.key_locs).get(inner, at)
                self.add(at, f"`{key}` in {where} {problem}")
                continue
            values[key], locs[key] = value, data.value_locs[key]
        return values, locs

    def reachable(self, suite: Suite) -> None:
        """A `pass_if: {at_least: K}` that more repeats than the case runs could never be met: say so now."""
        for case in suite.cases:
            repeats = case.policy.get("repeat", suite.policy.get("repeat", 1))
            rule = case.policy.get("pass_if", suite.policy.get("pass_if"))
            if rule is not None and (problem := unreachable(rule, repeats, case.id)):
                self.add(case.policy_locs.get("pass_if") or suite.policy_locs["pass_if"], problem)


def inside_project(path: Path, suite_file: Path) -> bool:
    """Whether ``path`` (symlinks resolved) is under the working directory or the suite's own folder.

    A suite is often someone else's file: it must not be able to read ~/.ssh or /etc.
    """
    try:
        target = path.resolve()
    except (OSError, ValueError):  # a NUL byte, a symlink loop: not a file anyone can read
        return False
    roots = {Path.cwd().resolve(), suite_file.parent.resolve()}
    return any(target == root or root in target.parents for root in roots)


def _split_loc(text: str, fallback: Loc) -> tuple[Loc, str]:
    """Split 'file:line:col: message' (as pricing errors read) into a Loc and the message."""
    import re

    found = re.match(r"(.+?):(\d+):(\d+): (.*)", text, re.S)
    if found:
        return Loc(found[1], int(found[2]), int(found[3])), found[4]
    return fallback, text


def _kind(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return f"{type(value).__name__} {value!r}"[:80]


def _json(value: Any) -> str:
    return json.dumps(to_plain(value), ensure_ascii=False)
