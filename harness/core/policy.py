"""What makes a case pass, and what may fail without failing the run.

Set in YAML (`repeat`, `pass_if`, `threshold`, `allow_fail` on a case, the
suite's `min_pass_rate`) and carried on every CaseResult, so a results.json,
a journal line, a shard or a pytest-xdist report all aggregate the same way
without the suites at hand. Plain types only: the result model imports this.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from harness.core.usage_limits import limits_from_dict

PASS_IF_WORDS = ("all", "majority")
PASS_IF_KEYS = ("at_least",)
MAX_REPEAT = 1000


@dataclass(frozen=True)
class PassPolicy:
    """How many of a case's repeats must pass: all, a majority (more than half), or at least K."""

    kind: str = "all"  # "all" | "majority" | "at_least"
    count: int = 0  # K, for at_least

    def required(self, repeats: int) -> int:
        """Passing repeats needed out of ``repeats``."""
        if self.kind == "majority":
            return repeats // 2 + 1
        if self.kind == "at_least":
            return self.count
        return repeats

    def to_json(self) -> str | dict[str, int]:
        """The YAML form: ``"all"``, ``"majority"`` or ``{"at_least": K}``."""
        return {"at_least": self.count} if self.kind == "at_least" else self.kind

    @classmethod
    def from_json(cls, value: Any) -> PassPolicy:
        """Read the YAML/JSON form; anything unrecognised is the default, ``all``."""
        if isinstance(value, dict) and isinstance(value.get("at_least"), int):
            return cls("at_least", value["at_least"])
        if value == "majority":
            return cls("majority")
        return cls()

    def __str__(self) -> str:
        return f"at least {self.count}" if self.kind == "at_least" else self.kind


@dataclass(frozen=True)
class CasePolicy:
    """Everything that turns a case's repeats and checks into one verdict."""

    repeats: int = 1
    pass_if: Any = "all"  # PassPolicy.to_json() form, so the dataclass is its own JSON
    threshold: float | None = None  # weighted share of passed checks a repeat needs (None: every check)
    allow_fail: bool = False  # a known-bad case: its failure is reported but does not fail the run
    min_pass_rate: float | None = None  # the suite's gate: share of its cases that must pass
    # The suite's `gate:` limits on the growth of cost, tokens and latency against a base run (metric -> percent),
    # carried like min_pass_rate so `harness compare` of two results files knows the policy without the suites.
    usage_limits: dict[str, float] | None = None
    allow_new_failures: bool = False  # the suite's `gate: {allow_new_failures: true}`: new cases may land failing

    @property
    def rule(self) -> PassPolicy:
        return PassPolicy.from_json(self.pass_if)

    @property
    def is_default(self) -> bool:
        return self == DEFAULT_POLICY

    def to_dict(self) -> dict[str, Any]:
        """``dataclasses.asdict(self)``, written out: called once per planned case for its fingerprint, where the
        generic deep copy was most of the fingerprinting time of a 10,000-case run."""
        pass_if = self.pass_if
        return {"repeats": self.repeats, "pass_if": dict(pass_if) if isinstance(pass_if, dict) else pass_if,
                "threshold": self.threshold, "allow_fail": self.allow_fail, "min_pass_rate": self.min_pass_rate,
                "usage_limits": None if self.usage_limits is None else dict(self.usage_limits),
                "allow_new_failures": self.allow_new_failures}  # fmt: skip

    @classmethod
    def from_settings(cls, suite: dict[str, Any], case: dict[str, Any]) -> CasePolicy:
        """A case's policy from the parsed YAML keys: the case's own, else the suite's, else the defaults."""
        rule = case.get("pass_if") or suite.get("pass_if") or PassPolicy()
        return cls(repeats=case.get("repeat", suite.get("repeat", 1)), pass_if=rule.to_json(),
                   threshold=case.get("threshold", suite.get("threshold")), allow_fail=case.get("allow_fail", False),
                   min_pass_rate=suite.get("min_pass_rate"), usage_limits=suite.get("gate") or None,
                   allow_new_failures=bool(suite.get("allow_new_failures", False)))  # fmt: skip

    @classmethod
    def from_dict(cls, data: Any) -> CasePolicy:
        """Tolerant of missing and unknown keys (files from other versions)."""
        if not isinstance(data, dict):
            return DEFAULT_POLICY
        known = {k: data[k] for k in ("repeats", "pass_if", "threshold", "allow_fail", "min_pass_rate",
                                      "allow_new_failures") if k in data}  # fmt: skip
        return cls(**known, usage_limits=limits_from_dict(data.get("usage_limits")) or None)


DEFAULT_POLICY = CasePolicy()


# --- YAML validation of the keys above (suite.py adds file:line and the suite/case it is in) ---------


def _close(word: str, choices: tuple[str, ...]) -> str:
    import difflib

    found = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"; did you mean {found[0]!r}?" if found else ""


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value == value


def parse_setting(key: str, value: Any) -> tuple[Any, str | None, str | None]:
    """Check one policy key's value: (parsed value, problem or None, nested key the problem is at)."""
    if key == "repeat":
        if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= MAX_REPEAT:
            return value, None, None
        return (
            None,
            f"must be a whole number from 1 to {MAX_REPEAT} (how many times to run each case), got {value!r}",
            None,
        )
    if key == "allow_fail":
        if isinstance(value, bool):
            return value, None, None
        return None, f"must be true or false, got {value!r}", None
    if key in ("threshold", "min_pass_rate"):
        what = (
            "weighted share of the case's checks that must pass"
            if key == "threshold"
            else "share of the suite's cases that must pass"
        )
        if _number(value) and 0 < value <= 1:
            return float(value), None, None
        hint = f"; write {value / 100:g} for {value:g}%" if _number(value) and 10 <= value <= 100 else ""
        return None, f"must be a fraction above 0 and at most 1 (the {what}, e.g. 0.8), got {value!r}{hint}", None
    if key == "pass_if":
        return _parse_pass_if(value)
    raise KeyError(key)


def _parse_pass_if(value: Any) -> tuple[PassPolicy | None, str | None, str | None]:
    usage = "write `pass_if: all`, `pass_if: majority` or `pass_if: {at_least: 3}`"
    if isinstance(value, str):
        if value in PASS_IF_WORDS:
            return PassPolicy(value), None, None
        return (
            None,
            f"is {value!r}, which is not a policy{_close(value, PASS_IF_WORDS + PASS_IF_KEYS) or '; ' + usage}",
            None,
        )
    if isinstance(value, dict):
        for k in value:
            if k not in PASS_IF_KEYS:
                return None, f"has unknown key {k!r}{_close(str(k), PASS_IF_KEYS) or '; ' + usage}", str(k)
        count = value.get("at_least")
        if isinstance(count, int) and not isinstance(count, bool) and count >= 1:
            return PassPolicy("at_least", count), None, None
        return None, f"`at_least` must be a whole number of repeats, 1 or more, got {count!r}", "at_least"
    return None, f"must be all, majority or {{at_least: K}}, got {value!r}; {usage}", None


CHECK_OPTIONS = ("weight", "metric")


def parse_check_option(key: str, value: Any) -> tuple[Any, str | None]:
    """`weight:` (a positive number) or `metric:` (a name) beside a check."""
    if key == "weight":
        if _number(value) and 0 < value < float("inf"):
            return float(value), None
        return None, f"`weight` must be a positive number, got {value!r}"
    if isinstance(value, str) and value.strip():
        return value.strip(), None
    return None, f"`metric` must be a name such as `accuracy`, got {value!r}"


def unreachable(rule: PassPolicy, repeats: int, case_id: str) -> str | None:
    """Why ``rule`` can never be met by a case run ``repeats`` times, or None."""
    if rule.required(repeats) <= repeats:
        return None
    noun = "time" if repeats == 1 else "times"
    return (f"`pass_if: {{at_least: {rule.count}}}` can never be met by case {case_id!r}, which runs {repeats} {noun}; "
            f"lower `at_least` or raise `repeat`")  # fmt: skip
