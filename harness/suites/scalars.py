"""Values no suite may hold, wherever they are: numbers that are not finite, text that is not Unicode.

`temperature: .nan` passed validation and failed the run with "internal
error: ValueError" (JSON has no NaN); `"\\ud83d"` (half of an escaped emoji)
cannot be sent or stored (harness/core/text_policy.py). One walk over the
parsed document finds both, with the location of each, before anything is
rendered or sent. A surrogate *pair* is the character it spells, so it is
joined in place rather than reported.
"""

from __future__ import annotations

import math
import re
from typing import Any

from harness.core.locations import Loc
from harness.core.problems import Problem
from harness.core.text_policy import has_surrogates, storable, surrogate_problem
from harness.core.yaml_positions import PosDict, PosList

# Only YAML escapes make surrogates, and only these spellings make non-finite floats; most suites
# hold none, so the walk is skipped for them (a 10,000-case suite is hundreds of thousands of values).
# An exponent only counts after a digit, a dot or an underscore (`1.0e+400`), not in a word (`case-00001`).
_SUSPECT = re.compile(r"\\[uU]|\.(?:nan|NaN|NAN|inf|Inf|INF)\b|[0-9._][eE][-+]?[0-9]{3}|!!float")


def may_hold_bad_scalars(text: str) -> bool:
    """False when ``text`` spells no non-finite number and no surrogate: nothing in it to walk for."""
    return bool(_SUSPECT.search(text))


def scalars_in(item: Any, path: str, loc: Loc) -> list[Problem]:
    """A problem for every non-finite number and unpaired surrogate in ``item`` (at ``path``, `cases[3]`, or
    "" for the whole document; call it only when ``may_hold_bad_scalars`` of the document's text).

    Surrogate pairs in values are joined in place; an unpaired surrogate is replaced by U+FFFD once
    reported, so later checks of the same text do not report it again.
    """
    problems: list[Problem] = []
    _checked(item, path, loc, problems)
    return problems


def row_problems(values: dict[str, Any], loc: Loc) -> list[Problem]:
    """The same check for one row of a `cases_from` table (JSON and YAML rows can hold both), at the row's line;
    surrogate pairs are joined in place."""
    problems: list[Problem] = []
    for column in list(values):
        values[column] = _checked_plain(values[column], column, loc, problems)
    return problems


def _checked_plain(value: Any, where: str, loc: Loc, problems: list[Problem]) -> Any:
    if isinstance(value, dict):
        return {key: _checked_plain(item, f"{where}.{key}", loc, problems) for key, item in value.items()}
    if isinstance(value, list):
        return [_checked_plain(item, f"{where}[{i}]", loc, problems) for i, item in enumerate(value)]
    return _checked(value, where, loc, problems)


def _walk(node: Any, path: str, problems: list[Problem]) -> None:
    if isinstance(node, PosDict):
        for key in list(node):
            where = f"{path}.{key}" if path else str(key)
            key_problem = _value_problem(key, where, as_key=True)
            if key_problem:
                problems.append(Problem(node.key_locs[key], key_problem))
            node[key] = _checked(node[key], where, node.value_locs[key], problems)
    elif isinstance(node, PosList):
        for i, (item, loc) in enumerate(zip(node, node.item_locs)):
            node[i] = _checked(item, f"{path}[{i}]", loc, problems)


def _checked(value: Any, where: str, loc: Loc, problems: list[Problem]) -> Any:
    """``value`` with surrogate pairs joined (and unpaired ones replaced once reported)."""
    if isinstance(value, (PosDict, PosList)):
        _walk(value, where, problems)
        return value
    problem = _value_problem(value, where)
    if problem:
        problems.append(Problem(loc, problem))
    return storable(value)[0] if isinstance(value, str) and has_surrogates(value) else value


def _value_problem(value: Any, where: str, as_key: bool = False) -> str | None:
    what = f"the key {where!r}" if as_key else f"`{where}`"
    if isinstance(value, float) and not math.isfinite(value):
        spelled = ".nan" if math.isnan(value) else ".inf" if value > 0 else "-.inf"
        return (f"{what} is {spelled}, which is not a finite number: JSON cannot send it and no check can use it; "
                "write a number such as 0.7 (or leave the key out)")  # fmt: skip
    if isinstance(value, str) and has_surrogates(value):
        if as_key:
            return f"{what} holds a UTF-16 surrogate; write the character itself"
        problem = surrogate_problem(value)
        return f"{what}: {problem}" if problem else None
    return None
