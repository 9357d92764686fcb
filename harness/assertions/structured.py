"""Checks on structured replies: JSON, JSON Schema, JSON paths, tool calls, the request's own format."""

from __future__ import annotations

import json
import re
from functools import lru_cache
from collections.abc import Iterator
from typing import Any

from harness.assertions.registry import CheckContext, Outcome, check, is_bool, preview
from harness.core.json_errors import json_error_text
from harness.assertions.request_formats import declared_functions, requested_format

_MISSING = object()


def _parse_json(text: str) -> tuple[Any, str | None]:
    """Parse the reply as JSON; the error says what is wrong and where."""
    stripped = text.strip()
    try:
        return json.loads(stripped), None
    except json.JSONDecodeError as e:
        hint = " (it is wrapped in a Markdown code fence)" if stripped.startswith("```") else ""
        return _MISSING, f"reply is not valid JSON{hint}: {json_error_text(e)}"
    except RecursionError:  # valid or not, no check could read it: Python's parser stops near 1,000 levels
        return _MISSING, "reply is JSON nested too deeply to read (arrays or objects inside each other ~1,000 deep)"


@check("is_json", validate=is_bool, example="is_json: true")
def is_json(ctx: CheckContext, arg: bool) -> Outcome:
    """The reply parses as JSON (`is_json: false`: it does not)."""
    _, error = _parse_json(ctx.reply.text)
    parsed = error is None
    if parsed == arg:
        return Outcome(True, "reply is valid JSON" if parsed else f"as expected, {error}")
    if arg:
        return Outcome(False, f"expected valid JSON; {error}; got {preview(ctx.reply.text)}",
                       negated=f"the reply is not valid JSON ({error})")
    return Outcome(False, f"expected a reply that is not JSON, got valid JSON {preview(ctx.reply.text)}",
                   negated="the reply is valid JSON")


def _schema_error(schema: Any) -> str | None:
    import jsonschema

    if not isinstance(schema, (dict, bool)):
        return f"expects a JSON Schema mapping, got {type(schema).__name__}"
    try:
        jsonschema.validators.validator_for(schema).check_schema(schema)
    except jsonschema.SchemaError as e:
        return f"invalid JSON Schema: {e.message}"
    if outside := next(_outside_refs(schema), None):
        return (f"a `$ref` to {outside!r} points outside the schema; the harness never fetches a schema (a suite "
                "could make CI reach any address): put what it refers to under `$defs` and write "
                "`$ref: '#/$defs/name'`")  # fmt: skip
    return None


def _outside_refs(schema: Any) -> Iterator[str]:
    """Every `$ref` / `$dynamicRef` in ``schema`` that is not a pointer into the schema itself ('#...')."""
    if isinstance(schema, dict):
        for key, value in schema.items():
            if key in ("$ref", "$dynamicRef") and isinstance(value, str) and not value.startswith("#"):
                yield value
            else:
                yield from _outside_refs(value)
    elif isinstance(schema, list):
        for item in schema:
            yield from _outside_refs(item)


def _no_retrieval(uri: str) -> Any:
    """The schema registry's retrieval: none, ever (jsonschema would otherwise fetch a remote `$ref`)."""
    from referencing.exceptions import NoSuchResource

    raise NoSuchResource(ref=uri)


@lru_cache(maxsize=1024)
def _validator(schema_json: str) -> Any:
    import jsonschema
    from referencing import Registry

    schema = json.loads(schema_json)
    return jsonschema.validators.validator_for(schema)(schema, registry=Registry(retrieve=_no_retrieval))


def schema_violations(instance: Any, schema: Any) -> list[str]:
    """Human-readable violations of ``schema`` by ``instance``, most relevant first."""
    validator = _validator(json.dumps(schema, sort_keys=True))
    errors = sorted(validator.iter_errors(instance), key=lambda e: (len(e.path), str(e.path)))
    return [f"at {_json_pointer(e.absolute_path)}: {e.message}" for e in errors]


def _json_pointer(path: Any) -> str:
    return "$" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path)


@check("json_schema", validate=_schema_error, example="json_schema: {type: object, required: [name]}")
def json_schema(ctx: CheckContext, arg: dict[str, Any]) -> Outcome:
    """The reply is JSON that validates against the JSON Schema."""
    value, error = _parse_json(ctx.reply.text)
    if error:
        return Outcome(False, f"expected JSON matching the schema; {error}; got {preview(ctx.reply.text)}")
    problems = schema_violations(value, arg)
    if not problems:
        return Outcome(True, "reply matches the JSON Schema")
    more = f" (+{len(problems) - 3} more)" if len(problems) > 3 else ""
    detail = "; ".join(problems[:3]) + more
    return Outcome(False, f"reply does not match the JSON Schema: {detail}; got {preview(ctx.reply.text)}")


_PATH_TOKEN = re.compile(r"\.([A-Za-z_][\w-]*)|\[(\d+)\]|\[(['\"])(.*?)\3\]")


def parse_path(path: str) -> list[str | int]:
    """Parse a simple JSON path like ``$.items[0].name`` or ``$['odd key']``."""
    if not path.startswith("$"):
        raise ValueError(f"path {path!r} must start with '$', e.g. $.items[0].name")
    steps: list[str | int] = []
    pos = 1
    while pos < len(path):
        m = _PATH_TOKEN.match(path, pos)
        if not m:
            raise ValueError(f"cannot parse path {path!r} at {path[pos:]!r}; use .key, [0] or ['key']")
        if m.group(1) is not None:
            steps.append(m.group(1))
        elif m.group(2) is not None:
            steps.append(int(m.group(2)))
        else:
            steps.append(m.group(4))
        pos = m.end()
    return steps


def _valid_json_path(arg: Any) -> str | None:
    if not isinstance(arg, dict) or "path" not in arg or "equals" not in arg or set(arg) - {"path", "equals"}:
        return "expects {path: '$.key', equals: value}"
    if not isinstance(arg["path"], str):
        return "path must be a string like $.items[0].name"
    try:
        parse_path(arg["path"])
    except ValueError as e:
        return str(e)
    return None


@check("json_path", validate=_valid_json_path, example="json_path: {path: $.city, equals: New York}",
       keys=("path", "equals"))  # fmt: skip
def json_path(ctx: CheckContext, arg: dict[str, Any]) -> Outcome:
    """The value at a simple JSON path in the reply equals the expected value."""
    value, error = _parse_json(ctx.reply.text)
    path = arg["path"]
    if error:
        return Outcome(False, f"expected {path} == {arg['equals']!r}; {error}")
    for step in parse_path(path):
        if isinstance(step, int) and isinstance(value, list) and step < len(value):
            value = value[step]
        elif isinstance(step, str) and isinstance(value, dict) and step in value:
            value = value[step]
        else:
            return Outcome(False, f"expected {path} == {arg['equals']!r}, but the reply has no {step!r} there; "
                           f"got {preview(ctx.reply.text)}")  # fmt: skip
    if value == arg["equals"]:
        return Outcome(True, f"{path} == {value!r}")
    return Outcome(False, f"expected {path} == {arg['equals']!r}, got {value!r}")


def _valid_tool_call(arg: Any) -> str | None:
    if isinstance(arg, str) and arg:
        return None
    if isinstance(arg, dict) and isinstance(arg.get("name"), str) and not set(arg) - {"name", "arguments"}:
        return _schema_error(arg["arguments"]) if "arguments" in arg else None
    return "expects a function name, or {name: fn, arguments: <JSON Schema for the arguments>}"


@check("tool_call", validate=_valid_tool_call, example="tool_call: {name: get_weather, arguments: {required: [city]}}",
       keys=("name", "arguments"))  # fmt: skip
def tool_call(ctx: CheckContext, arg: str | dict[str, Any]) -> Outcome:
    """The reply calls the named function, with arguments valid against its declared parameters (and the schema if given)."""
    name = arg if isinstance(arg, str) else arg["name"]
    schema = None if isinstance(arg, str) else arg.get("arguments")
    declared = declared_functions(ctx.params)
    calls = ctx.reply.tool_calls
    if not calls:
        return Outcome(False, f"expected a call to {name!r}, but the reply called no tool; got {preview(ctx.reply.content)}",
                       negated=f"the reply calls no tool, so not {name!r}")
    undeclared = [c.name for c in calls if declared and c.name not in declared]
    if undeclared:
        return Outcome(False, f"the reply called {', '.join(repr(n) for n in undeclared)}, which the request does not "
                              f"declare; declared: {', '.join(declared)}")  # fmt: skip
    matching = [c for c in calls if c.name == name]
    if not matching:
        return Outcome(False, f"expected a call to {name!r}, got calls to {[c.name for c in calls]!r}",
                       negated=f"the reply does not call {name!r} (it calls {[c.name for c in calls]!r})")
    schemas = [(s, what) for s, what in ((declared.get(name), "its declared parameters"), (schema, "the schema"))
               if isinstance(s, dict)]  # fmt: skip
    if not schemas:
        return Outcome(True, f"reply calls {name!r}")
    last_problem = ""
    for c in matching:
        try:
            args = json.loads(c.arguments or "{}")
        except json.JSONDecodeError as e:
            last_problem = f"arguments are not valid JSON ({json_error_text(e)}): {preview(c.arguments)}"
            continue
        for s, what in schemas:
            problems = schema_violations(args, s)
            if problems:
                last_problem = (f"arguments do not match {what}: " + "; ".join(problems[:3])
                                + f"; got {preview(c.arguments)}")  # fmt: skip
                break
        else:
            checked = " and ".join(what for _, what in schemas)
            return Outcome(True, f"reply calls {name!r} with arguments valid against {checked}")
    return Outcome(False, f"expected a call to {name!r} with valid arguments; {last_problem}")


def _true_only(arg: Any) -> str | None:
    if arg is True:
        return None
    return f"expects true (for the opposite, use `not_matches_response_format: true`), got {arg!r}"


@check("matches_response_format", validate=_true_only, example="matches_response_format: true")
def matches_response_format(ctx: CheckContext, arg: bool) -> Outcome:
    """The reply is valid against the request's own response_format (Chat) or text.format (Responses) schema."""
    fmt = requested_format(ctx.params)
    if fmt is None:
        return Outcome(False, "the request asks for no structured format (`response_format` or `text.format`)")
    if ctx.reply.refusal:
        return Outcome(False, f"the model refused instead of answering in the {fmt.where} format: "
                              f"{preview(ctx.reply.refusal)}")  # fmt: skip
    value, error = _parse_json(ctx.reply.text)
    if error:
        return Outcome(False, f"expected JSON in the {fmt.where} format; {error}; got {preview(ctx.reply.text)}",
                       negated=f"the reply is not JSON in the {fmt.where} format")  # fmt: skip
    if fmt.kind == "json_object" or not isinstance(fmt.schema, (dict, bool)):
        if isinstance(value, dict):
            return Outcome(True, f"reply is a JSON object, as {fmt.where} ({fmt.kind}) asks")
        return Outcome(False, f"{fmt.where} ({fmt.kind}) asks for a JSON object, got {preview(ctx.reply.text)}",
                       negated=f"the reply is not the JSON object {fmt.where} asks for")  # fmt: skip
    problems = schema_violations(value, fmt.schema)
    if not problems:
        return Outcome(True, f"reply matches the {fmt.where} schema")
    more = f" (+{len(problems) - 3} more)" if len(problems) > 3 else ""
    return Outcome(False, f"reply does not match the {fmt.where} schema: {'; '.join(problems[:3])}{more}; "
                          f"got {preview(ctx.reply.text)}",
                   negated=f"the reply does not match the {fmt.where} schema")  # fmt: skip
