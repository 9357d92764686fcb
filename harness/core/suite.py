"""The suite as loaded from YAML: suites, cases, turns, checks and fixed messages.

Plain data with the position of every piece, so any later stage can point a
user at the line that caused a problem.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.core.locations import Loc
from harness.core.specs import Budget, ContextSpec, GraderSpec, Prices

# Folders never searched for suite files: recordings, outputs and tooling (harness discovery and the pytest plugin).
SKIPPED_DIRS = frozenset({"cassettes", "reports", "node_modules", "__pycache__"})


@dataclass
class Check:
    name: str
    arg: Any
    loc: Loc
    weight: float = 1.0  # its share of the case score (`weight:` beside the check)
    metric: str | None = None  # the metric it counts toward in reports (`metric:` beside the check)


@dataclass
class Turn:
    index: int
    user: str | None
    expect: list[Check]
    loc: Loc
    tool_results: dict[str, str] = field(default_factory=dict)
    budget: Budget | None = None


@dataclass
class Message:
    role: str
    content: Any
    loc: Loc
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Case:
    id: str
    turns: list[Turn]
    loc: Loc
    vars: dict[str, Any] = field(default_factory=dict)
    system: str | None = None
    system_loc: Loc | None = None
    params: dict[str, Any] = field(default_factory=dict)
    messages: list[Message] = field(default_factory=list)
    model: str | None = None
    fail_on_length: bool | None = None
    description: str = ""
    encoding: str | None = None
    budget: Budget | None = None
    context: ContextSpec | None = None
    policy: dict[str, Any] = field(default_factory=dict)  # repeat, pass_if, threshold, allow_fail as given
    policy_locs: dict[str, Loc] = field(default_factory=dict)


@dataclass
class Variant:
    """One entry of a suite's `variants:`: named overrides under which every case runs once more.

    None means "the suite's own"; ``params`` are merged over the suite's, ``vars`` over the suite's.
    """

    name: str
    loc: Loc
    model: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    system: str | None = None
    system_loc: Loc | None = None
    vars: dict[str, Any] = field(default_factory=dict)


@dataclass
class Suite:
    name: str
    path: Path
    cases: list[Case]
    loc: Loc
    model: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    system: str | None = None
    system_loc: Loc | None = None
    vars: dict[str, Any] = field(default_factory=dict)
    fail_on_length: bool = True
    description: str = ""
    encoding: str | None = None
    budget: Budget | None = None
    context: ContextSpec | None = None
    prices: Prices | None = None  # the shipped table with `pricing_file:` and `pricing:` applied
    retry: dict[str, Any] = field(default_factory=dict)  # max_retries, timeout, base_delay
    rate_limit: dict[str, Any] = field(default_factory=dict)  # rpm, tpm
    grader: GraderSpec | None = None  # `grader: {model, params, embedding_model}` for model-graded checks
    policy: dict[str, Any] = field(default_factory=dict)  # repeat, pass_if, threshold, min_pass_rate as given
    policy_locs: dict[str, Loc] = field(default_factory=dict)
    variants: list[Variant] = field(default_factory=list)  # `variants:`; empty: each case runs once, as written
