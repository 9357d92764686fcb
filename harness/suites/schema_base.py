"""What every part of the suite validator shares: recording problems, known keys, and typed values.

The validator is split by topic (``schema.py``: suites, cases, turns and checks;
``setting_keys.py``: encodings, budgets, the context window and prices;
``prompt_schema.py``: message text, prompt files and shared checks); each part
builds on this base, so they all report problems the same way.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from harness.core.locations import Loc
from harness.core.problems import Problem, did_you_mean
from harness.core.specs import GraderSpec
from harness.core.yaml_positions import PosDict, PosList, to_plain


def duplicate_keys(node: Any, path: str) -> list[Problem]:
    """Every key written twice in one mapping, at any depth (YAML would silently keep the last)."""
    found: list[Problem] = []
    _duplicates(node, path, found)
    return found


def _duplicates(node: Any, path: str, found: list[Problem]) -> None:
    """Into mappings and lists only: a suite is mostly scalars, and a path is only spelt for what may hold one."""
    if isinstance(node, PosDict):
        for key, loc in node.duplicates:
            where = f" in `{path}`" if path else ""
            found.append(Problem(loc, f"duplicate key {key!r}{where}; the later value would silently win, so remove one"))
        for key, value in node.items():
            if isinstance(value, (PosDict, PosList)):
                _duplicates(value, f"{path}.{key}" if path else str(key), found)
    elif isinstance(node, PosList):
        for i, value in enumerate(node):
            if isinstance(value, (PosDict, PosList)):
                _duplicates(value, f"{path}[{i}]", found)


class ValidatorBase:
    """Problems with their file:line:column, collected rather than raised, and the helpers that add them."""

    def __init__(self, file: str, path: Path):
        self.file = file
        self.path = path
        self.problems: list[Problem] = []
        self.grader_spec: GraderSpec | None = None  # the suite's `grader:`, for checks that need a model
        self.allow_new_failures = False  # `gate: {allow_new_failures: true}`
        self.endpoint_names: set[str] = set()  # the suite's `endpoints:`, for `endpoint:` choices
        self.files: list[Path] = []  # project files the suite reads: prompt files, data tables, its price file

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
            self.add(data.value_locs[key], f"`{key}` in {where} must be {what}, got {kind_of(value)}")
            return None
        return value

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
                self.add(block.value_locs[name], f"`{key}.{name}` must be {what}, got {kind_of(value)}")
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


def kind_of(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return f"{type(value).__name__} {value!r}"[:80]


def as_json(value: Any) -> str:
    return json.dumps(to_plain(value), ensure_ascii=False)
