"""The suite's metering keys: `encoding`, `budget`, `context`, and the price table (`pricing`, `pricing_file`)."""

from __future__ import annotations

import re
from pathlib import Path

from harness.core.locations import Loc
from harness.core.problems import did_you_mean
from harness.core.specs import Budget, ContextSpec
from harness.core.yaml_positions import PosDict
from harness.metering.budgets import BUDGET_KEYS, validate_budget_value
from harness.metering.meter import STRATEGIES
from harness.metering.pricing import PriceFileError, PriceTable
from harness.metering.tokens import SUPPORTED_ENCODINGS
from harness.suites.schema_base import ValidatorBase, kind_of

CONTEXT_KEYS = {"window", "max_output_tokens", "strategy", "summary_max_tokens"}


class SettingKeys(ValidatorBase):
    """Validation of the keys that set up token counting, budgets, the context window and prices."""

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
                                                f"of tokens, got {kind_of(number)}")  # fmt: skip
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
                self.files.append(path.resolve())
                table = table.with_overrides({m: vars(extra.lookup(m)) for m in extra.models}, str(path))
            if inline is not None:
                table = table.with_overrides(inline, self.file)
        except PriceFileError as e:
            loc, message = _split_loc(str(e), data.value_locs.get("pricing_file" if inline is None else "pricing"))
            self.add(loc, message)
            return None
        return table


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
    found = re.match(r"(.+?):(\d+):(\d+): (.*)", text, re.S)
    if found:
        return Loc(found[1], int(found[2]), int(found[3])), found[4]
    return fallback, text
