"""The suite schema: which keys go where, and the validator that enforces it.

It turns one parsed YAML file into a ``Suite``, recording every problem with
its file:line:column, the key, and a fix, rather than stopping at the first.
"""

from __future__ import annotations

from typing import Any

from harness import assertions
from harness.assertions.custom import resolve_function
from harness.assertions.graded import missing_model
from harness.core.apis import APIS, CHAT, HISTORY_MODES
from harness.core.locations import Loc
from harness.core.policy import CHECK_OPTIONS, parse_check_option, parse_setting, unreachable
from harness.core.problems import Problem, did_you_mean
from harness.core.specs import GraderSpec
from harness.core.suite import Case, Check, Message, Suite, Turn
from harness.core.usage_limits import GATE_EXAMPLE, LIMIT_KEYS, parse_gate_value
from harness.core.yaml_positions import PosDict, PosList, to_plain
from harness.suites import endpoint_schema
from harness.suites.case_tables import MissingColumns, generated_cases
from harness.suites.prompt_schema import PromptKeys
from harness.suites.schema_base import as_json, duplicate_keys, kind_of
from harness.suites.setting_keys import CONTEXT_KEYS, SettingKeys, inside_project
from harness.suites.api_params import param_problems
from harness.suites.variants import validate_variants

__all__ = ["CASE_KEYS", "CONTEXT_KEYS", "SUITE_KEYS", "TURN_KEYS", "SuiteValidator", "duplicate_keys", "inside_project"]

SUITE_KEYS = {"suite", "description", "model", "params", "system", "vars", "cases", "fail_on_length",
              "encoding", "budget", "context", "pricing", "pricing_file", "retry", "rate_limit", "grader",
              "repeat", "pass_if", "threshold", "min_pass_rate", "gate", "variants",
              "endpoints", "endpoint", "defaults", "cases_from", "api", "history"}  # fmt: skip
NEW_FAILURES_KEY = "allow_new_failures"  # in `gate:`: compare lets the suite's new cases land failing
GRADER_KEYS = {"model", "params", "embedding_model",  # for llm_rubric, factuality (model) and similar (embedding_model)
               "endpoint"}  # fmt: skip
# Suite-level reliability settings: key -> (number kind, minimum, whether the minimum itself is allowed).
RETRY_KEYS = {"max_retries": (int, 0, True), "timeout": (float, 0, False), "base_delay": (float, 0, True)}
RATE_LIMIT_KEYS = {"rpm": (float, 0, False), "tpm": (float, 0, False)}
CASE_KEYS = {"id", "description", "model", "params", "system", "vars", "messages", "turns", "fail_on_length",
             "encoding", "budget", "context", "repeat", "pass_if", "threshold", "allow_fail",
             "endpoint", "defaults", "api", "history"}  # fmt: skip
POLICY_KEYS = ("repeat", "pass_if", "threshold", "allow_fail", "min_pass_rate")  # harness/policy.py
TURN_KEYS = {"user", "expect", "tool_results", "budget"}
MESSAGE_ROLES = {"system", "developer", "user", "assistant", "tool"}

CHOICES = {"api": APIS, "history": HISTORY_MODES}


class SuiteValidator(SettingKeys, PromptKeys):
    """Turns one parsed file into a Suite, collecting problems rather than stopping at the first."""

    def suite(self, data: PosDict, streamed: list[Case | None] | None = None) -> tuple[Suite | None, list[Problem]]:
        """The suite ``data`` holds; ``streamed``: its `cases:` already validated, one by one as they were read
        (harness/suites/case_stream.py), by this validator."""
        self.keys(data, SUITE_KEYS, "the suite")
        name = self.typed(data, "suite", str, "a string", "the suite") or self.path.stem
        cases_raw = data.get("cases")
        if "cases" not in data and "cases_from" not in data:
            self.add(data.loc, "the suite has no `cases:` list; add at least one case with an `id` and `turns` "
                               "(or generate cases from a data file with `cases_from:`)")  # fmt: skip
        elif "cases" in data and (not isinstance(cases_raw, PosList) or not cases_raw):
            self.add(data.value_locs["cases"], "`cases` must be a non-empty list of cases")
        endpoints = endpoint_schema.parse_endpoints(self, data)
        suite = Suite(
            name=name,
            path=self.path,
            cases=[],
            loc=data.loc,
            model=self.typed(data, "model", str, "a model name", "the suite"),
            params=self.params(data, "the suite"),
            system=self.text(data, "system", "the suite"),
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
            endpoints=endpoints,
        )
        self.grader_spec = suite.grader
        suite.variants = validate_variants(self, data)
        suite.endpoint, suite.endpoint_loc = endpoint_schema.chosen_endpoint(self, data, "the suite")
        suite.defaults = self.defaults(data)
        suite.policy, suite.policy_locs = self.policy(data, "the suite", SUITE_KEYS)
        if limits := self.gate(data):
            suite.policy["gate"], suite.policy_locs["gate"] = limits, data.value_locs["gate"]
        if self.allow_new_failures:
            suite.policy[NEW_FAILURES_KEY] = True
        self.api_keys(suite, data, "the suite")
        seen: dict[str, Loc] = {}
        if streamed is None and isinstance(cases_raw, PosList):
            streamed = [self.case(item, loc, i) for i, (item, loc) in enumerate(zip(cases_raw, cases_raw.item_locs), start=1)]
        if streamed is not None:
            for case in streamed:
                if case is None:
                    continue
                if case.id in seen:
                    self.add(case.loc, f"duplicate case id {case.id!r} (first used at line {seen[case.id].line}); "
                             "case ids must be unique in a suite because they name the cassette")  # fmt: skip
                    continue
                seen[case.id] = case.loc
                suite.cases.append(case)
        missing = MissingColumns()
        suite.cases += generated_cases(self, data, suite, seen, missing)
        self.problems += missing.problems()
        endpoint_schema.literal_keys(self, data)
        suite.files = list(dict.fromkeys(self.files))
        self.reachable(suite)
        return suite, self.problems

    def grader(self, data: PosDict) -> GraderSpec | None:
        """`grader: {model, params, embedding_model, endpoint}`: who grades llm_rubric/factuality and embeds for similar."""
        where = "`grader` of the suite"
        value = self.typed(data, "grader", dict, "a mapping like {model: gpt-4o-mini}", "the suite")
        if value is None:
            return None
        self.keys(value, GRADER_KEYS, where)
        endpoint, endpoint_loc = endpoint_schema.chosen_endpoint(self, value, where)
        if isinstance(value.get("params"), PosDict):  # a grader is asked over Chat Completions
            self.problems.extend(param_problems(CHAT, [(value["params"], where)], "model-graded checks always ask "
                                                "through Chat Completions", subject="the grader"))  # fmt: skip
        return GraderSpec(model=self.typed(value, "model", str, "a model name", where),
                          params=self.params(value, where),
                          embedding_model=self.typed(value, "embedding_model", str, "a model name", where),
                          endpoint=endpoint, endpoint_loc=endpoint_loc)  # fmt: skip

    def gate(self, data: PosDict) -> dict[str, float]:
        """`gate:`: how much cost, tokens and latency may grow against a base run (harness/core/usage_limits.py),
        and whether the suite's new cases may land failing (`allow_new_failures`, kept in the suite's policy)."""
        block = self.typed(data, "gate", dict, f"a mapping like `{GATE_EXAMPLE}`", "the suite")
        if block is None:
            return {}
        if not block:
            self.add(data.value_locs["gate"], f"`gate` of the suite is empty; write e.g. `{GATE_EXAMPLE}`")
        limits: dict[str, float] = {}
        known = [*LIMIT_KEYS, NEW_FAILURES_KEY]
        for key, value in block.items():
            if key == NEW_FAILURES_KEY:
                if isinstance(value, bool):
                    self.allow_new_failures = value
                else:
                    self.add(block.value_locs[key], f"`gate.{key}` must be true or false, got {kind_of(value)}")
                continue
            if key not in LIMIT_KEYS:
                hint = did_you_mean(str(key), set(known)) or f"; expected one of {', '.join(known)}"
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

    def params(self, data: PosDict, where: str) -> dict[str, Any]:
        """The request parameters as written; which API's vocabulary they must use is known once
        the case is planned (`api:` of the case or suite, or --api), so they are checked there."""
        value = self.typed(data, "params", dict, "a mapping of request parameters", where)
        return to_plain(value) if value else {}

    def choice(self, data: PosDict, key: str, where: str) -> str | None:
        """`api:` or `history:`: one of its names, or None when not set."""
        value = data.get(key)
        if value is None:
            return None
        choices = CHOICES[key]
        if value not in choices:
            hint = did_you_mean(str(value), list(choices)) or ""
            self.add(data.value_locs[key], f"`{key}` in {where} must be one of {', '.join(choices)}, got {value!r}{hint}")
            return None
        return str(value)

    def api_keys(self, target: Suite | Case, data: PosDict, where: str) -> None:
        """`api:`, `history:` and the positioned `params:` that planning checks against the case's API."""
        target.api, target.history = self.choice(data, "api", where), self.choice(data, "history", where)
        target.locs = {key: data.value_locs[key] for key in CHOICES if key in data}
        target.params_yaml = data.get("params") if isinstance(data.get("params"), PosDict) else None

    def case(self, data: Any, loc: Loc, number: int, generated: str | None = None,
             allowed: set[str] = frozenset()) -> Case | None:  # fmt: skip
        """One case; ``generated`` names a `cases_from` block whose keys (beside ``allowed``) are a case's."""
        if not isinstance(data, PosDict):
            self.add(loc, f"case {number} must be a mapping with `id` and `turns`, got {kind_of(data)}")
            return None
        raw_id = data.get("id")
        if generated is not None:
            case_id = where = generated
        elif isinstance(raw_id, (str, int)) and not isinstance(raw_id, bool) and str(raw_id).strip():
            case_id = str(raw_id)
        else:
            self.add(data.value_locs.get("id", data.loc), f"case {number} needs an `id:` (a non-empty string)")
            case_id = f"#{number}"
        where = generated or f"case {case_id!r}"
        self.keys(data, CASE_KEYS | allowed, where)
        case = Case(
            id=case_id,
            turns=[],
            loc=data.loc,
            vars=self.vars(data, where),
            system=self.text(data, "system", where),
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
        case.endpoint, case.endpoint_loc = endpoint_schema.chosen_endpoint(self, data, where)
        use_defaults = self.typed(data, "defaults", bool, "false (to leave out the suite's `defaults:`) or true", where)
        case.defaults = use_defaults is not False
        self.api_keys(case, data, where)
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
        if isinstance(content, PosDict) and "file" in content:
            prompt = self.prompt_file(content, f"`content` of a {role} message in {where}")
            extra = {k: to_plain(v) for k, v in data.items() if k not in ("role", "content")}
            return Message(role, prompt, data.value_locs.get("content", loc), extra) if prompt else None
        if not (content is None or isinstance(content, str) or
                (isinstance(content, list) and all(isinstance(p, dict) for p in content))):  # fmt: skip
            self.add(data.value_locs.get("content", loc),
                     f"`content` of a {role} message in {where} must be text (quote it: YAML read {kind_of(content)}) "
                     "or a list of content parts")  # fmt: skip
            return None
        extra = {k: to_plain(v) for k, v in data.items() if k not in ("role", "content")}
        return Message(role, to_plain(data.get("content")), data.value_locs.get("content", loc), extra)

    def turn(self, data: Any, loc: Loc, index: int, where: str) -> Turn | None:
        where = f"turn {index} of {where}"
        if not isinstance(data, PosDict):
            self.add(loc, f"{where} must be a mapping with `user:` and `expect:`, got {kind_of(data)}")
            return None
        self.keys(data, TURN_KEYS, where)
        user = self.text(data, "user", where)
        tool_results = self.typed(data, "tool_results", dict, "a mapping of function name to result text", where)
        if user is None and not tool_results and "user" not in data:
            self.add(loc, f"{where} has no `user:` message; add `user: <what the user says>`")
        elif user is None and not tool_results and data["user"] is None:
            self.add(data.value_locs["user"], f"`user` in {where} is empty; write the user's message after `user:`")
        turn = Turn(index, user, [], data.value_locs.get("user", loc),
                    {str(k): v if isinstance(v, str) else as_json(v) for k, v in (tool_results or {}).items()},
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
            self.add(loc, f"each check in {where} must be a one-key mapping like `- contains: hello`, got {kind_of(data)}")
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
        node = data[name]
        if spec.keys and isinstance(node, PosDict) and (unknown := [k for k in node if k not in spec.keys]):
            for key in unknown:
                hint = did_you_mean(str(key), spec.keys) or f"; expected {', '.join(spec.keys)}"
                self.add(node.key_locs[key], f"unknown key {key!r} in check `{name}` in {where}{hint} "
                                             f"(example: `{spec.example}`)")  # fmt: skip
            return None
        arg = to_plain(node)
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

