"""The `variants:` key of a suite: named overrides under which every case runs once each.

Validated like the rest of the suite (every problem at once, with file:line:column), and applied
when a case is planned: a variant's `model`, `system` and `vars` replace the suite's, its `params`
are merged over the suite's. A case's own keys still win over both, as they win over the suite's.
"""

from __future__ import annotations

import re
from typing import Any, Protocol

from harness.core.locations import Loc
from harness.core.problems import did_you_mean
from harness.core.suite import PromptFile, Variant
from harness.core.yaml_positions import PosDict, PosList
from harness.suites.endpoint_schema import chosen_endpoint


class SuiteValidator(Protocol):
    """What this module uses of harness.suites.schema.SuiteValidator (named here: no import cycle)."""

    def add(self, loc: Loc, message: str) -> None: ...

    def keys(self, data: PosDict, allowed: set[str], where: str) -> None: ...

    def typed(self, data: PosDict, key: str, kind: type | tuple[type, ...], what: str, where: str) -> Any: ...

    def params(self, data: PosDict, where: str) -> dict[str, Any]: ...

    def vars(self, data: PosDict, where: str) -> dict[str, Any]: ...

    def text(self, data: PosDict, key: str, where: str) -> Any: ...

    def choice(self, data: PosDict, key: str, where: str) -> str | None: ...

VARIANT_KEYS = {"name", "description", "model", "params", "system", "vars", "endpoint", "api"}
EXAMPLE = "variants: [{name: baseline}, {name: terse, system: 'Answer in one line.'}]"
# A variant names a cassette folder and is typed on the command line: keep it to a safe, short word.
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def validate_variants(v: SuiteValidator, data: PosDict) -> list[Variant]:
    """The suite's `variants:` as Variant data; every problem goes to the validator."""
    raw = v.typed(data, "variants", list, f"a list of named variants, e.g. `{EXAMPLE}`", "the suite")
    if raw is None:
        return []
    if not raw:
        v.add(data.value_locs["variants"], f"`variants` of the suite is empty; remove it or list variants: `{EXAMPLE}`")
        return []
    found: list[Variant] = []
    seen: dict[str, int] = {}
    for number, (item, loc) in enumerate(zip(raw, raw.item_locs if isinstance(raw, PosList) else []), start=1):
        if not isinstance(item, PosDict):
            v.add(loc, f"variant {number} must be a mapping with a `name:`, e.g. `- name: terse`")
            continue
        name = item.get("name")
        where = f"variant {name!r}" if isinstance(name, str) else f"variant {number}"
        v.keys(item, VARIANT_KEYS, where)
        if "name" not in item:
            v.add(item.loc, f"variant {number} needs a `name:` (it names the variant's cassette folder and --variant)")
            continue
        if not isinstance(name, str) or not NAME_PATTERN.match(name):
            v.add(item.value_locs["name"], f"`name` of variant {number} must be a word of letters, digits, '-', '_' "
                                           f"or '.', starting with a letter or digit, got {name!r}")  # fmt: skip
            continue
        if name in seen:
            v.add(item.value_locs["name"], f"duplicate variant name {name!r} (first used at line {seen[name]}); "
                                           "variant names must be unique because they name the cassette folder")  # fmt: skip
            continue
        seen[name] = item.value_locs["name"].line
        found.append(Variant(name=name, loc=item.loc,
                             model=v.typed(item, "model", str, "a model name", where),
                             params=v.params(item, where),
                             system=v.text(item, "system", where),  # text, or {file: path}
                             system_loc=item.value_locs.get("system"),
                             vars=v.vars(item, where),
                             endpoint=chosen_endpoint(v, item, where)[0],  # type: ignore[arg-type]
                             api=v.choice(item, "api", where), api_loc=item.value_locs.get("api"),
                             params_yaml=item.get("params") if isinstance(item.get("params"), PosDict) else None))  # fmt: skip
        v.typed(item, "description", str, "a string", where)
    return found


def select_variants(variants: list[Variant], wanted: list[str]) -> tuple[list[Variant], list[str]]:
    """The variants `--variant NAME` picked (all when none given), and the names that match none."""
    if not wanted:
        return variants, []
    names = {x.name for x in variants}
    unknown = [w for w in wanted if w not in names]
    return [x for x in variants if x.name in wanted], unknown


def unknown_variant_message(name: str, known: set[str]) -> str:
    """What `--variant NAME` says when no suite declares NAME."""
    if not known:
        return f"no suite here declares `variants:`, so {name!r} matches nothing; drop --variant or add `variants:`"
    hint = did_you_mean(name, known) or f"; the suites declare {', '.join(sorted(known))}"
    return f"no suite declares a variant named {name!r}{hint}"


def variant_overrides(variant: Variant | None) -> dict[str, Any]:
    """For a report: what the variant changes, as written (empty for no variant)."""
    if variant is None:
        return {}
    out: dict[str, Any] = {}
    for key in ("model", "system", "endpoint", "api"):
        value = getattr(variant, key)
        if isinstance(value, PromptFile):
            out[key] = {"file": value.path}
        elif value is not None:
            out[key] = value
    for key in ("params", "vars"):
        if getattr(variant, key):
            out[key] = getattr(variant, key)
    return out
