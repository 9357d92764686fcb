"""Strict-mode JSON Schemas (`strict: true`), checked when the suite loads.

OpenAI's structured outputs refuse a strict schema unless every object says
`additionalProperties: false` and lists every one of its properties in
`required` (an optional property is one whose type allows null). The server
would answer 400 on the first request; the harness says so before anything is
sent, naming the path inside the params and its file:line:column.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from harness.core.locations import Loc
from harness.core.problems import Problem
from harness.core.yaml_positions import PosDict, PosList

NESTED_LISTS = ("anyOf", "oneOf", "allOf", "prefixItems")
NESTED_MAPS = ("$defs", "definitions")


def strict_schema_problems(params: PosDict, where: str) -> list[Problem]:
    """Every strict-mode rule broken by a `strict: true` schema in one `params:` mapping."""
    problems: list[Problem] = []
    for schema, path in _strict_schemas(params):
        problems.extend(_walk(schema, path, where))
    return problems


def _strict_schemas(params: PosDict) -> Iterator[tuple[Any, str]]:
    """(schema, path) of each strict schema: the reply format (either API) and strict function tools."""
    fmt = params.get("response_format")
    if isinstance(fmt, dict) and isinstance(fmt.get("json_schema"), dict) and fmt["json_schema"].get("strict") is True:
        yield fmt["json_schema"].get("schema"), "response_format.json_schema.schema"
    text = params.get("text")
    fmt = text.get("format") if isinstance(text, dict) else None
    if isinstance(fmt, dict) and fmt.get("strict") is True:
        yield fmt.get("schema"), "text.format.schema"
    tools = params.get("tools")
    for i, tool in enumerate(tools if isinstance(tools, list) else []):
        if not isinstance(tool, dict):
            continue
        if isinstance(tool.get("function"), dict) and tool["function"].get("strict") is True:
            yield tool["function"].get("parameters"), f"tools[{i}].function.parameters"
        elif tool.get("strict") is True:
            yield tool.get("parameters"), f"tools[{i}].parameters"


def _walk(schema: Any, path: str, where: str) -> Iterator[Problem]:
    if not isinstance(schema, dict):
        return
    loc = _loc(schema)
    kinds = schema.get("type")
    kinds = kinds if isinstance(kinds, list) else [kinds]
    properties = schema.get("properties") if isinstance(schema.get("properties"), dict) else {}
    if "object" in kinds or properties:
        if schema.get("additionalProperties") is not False:
            at = schema.value_locs.get("additionalProperties", loc) if isinstance(schema, PosDict) else loc
            yield Problem(at, f"`params.{path}` in {where} is a strict schema (`strict: true`), so this object needs "
                              "`additionalProperties: false`")  # fmt: skip
        required = schema.get("required") if isinstance(schema.get("required"), list) else []
        missing = [str(k) for k in properties if k not in required]
        if missing:
            at = schema.value_locs.get("required", loc) if isinstance(schema, PosDict) else loc
            yield Problem(at, f"`params.{path}` in {where} is a strict schema (`strict: true`), so every property "
                              f"must be in `required`; add {', '.join(missing)} (to make one optional, let its type "
                              "allow null, e.g. `type: [string, 'null']`)")  # fmt: skip
    for key, sub in properties.items():
        yield from _walk(sub, f"{path}.properties.{key}", where)
    items = schema.get("items")
    if isinstance(items, dict):
        yield from _walk(items, f"{path}.items", where)
    for key in NESTED_LISTS:
        for i, sub in enumerate(schema.get(key) if isinstance(schema.get(key), list) else []):
            yield from _walk(sub, f"{path}.{key}[{i}]", where)
    for key in NESTED_MAPS:
        for name, sub in (schema.get(key) if isinstance(schema.get(key), dict) else {}).items():
            yield from _walk(sub, f"{path}.{key}.{name}", where)


def _loc(node: Any) -> Loc:
    return node.loc if isinstance(node, (PosDict, PosList)) else Loc("", 0, 0)
