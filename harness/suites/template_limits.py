"""Bounds on what a template may produce, so a typo cannot eat the machine or send a 50 MB request.

Jinja2's sandbox stops templates reaching Python's internals, not from
building a gigabyte: `{{ 'a' * 1000000000 }}` took 13 s and 3.9 GB to validate.
``BoundedEnvironment`` extends the sandbox at its documented hooks: every
operator that can multiply a size (`*`, `**`, `+`, `%`), every call and filter
(widths such as `center(10**9)`, `replace`, `join`, format specs) is checked
*before* it allocates, every result after, and `~`, loops and the output
stream count against the limits below. A template over a limit is a load-time
error naming the limit (harness/suites/templating.py), never a half-built run.

A loop with an empty body over data from the suite is only bounded by its
iteration count; everything else is also checked against the clock.
"""

from __future__ import annotations

import contextvars
import functools
import math
import re
import string
import time
from collections.abc import Iterable, Iterator
from typing import Any

from jinja2 import nodes
from jinja2.sandbox import SandboxedEnvironment
from jinja2.utils import _PassArg, generate_lorem_ipsum
from jinja2.visitor import NodeTransformer

MAX_CHARS = 1_000_000  # characters one template may produce (and items in a list it builds): ~250,000 tokens
MAX_ITERATIONS = 1_000_000  # loop iterations of one template, all loops together
MAX_SECONDS = 2.0  # time one template may take to render
MAX_INT_BITS = 100_000  # an integer result of ** (~30,000 digits)


class TemplateLimit(Exception):
    """A template went past one of the limits; the message says which and by how much."""


class _Budget:
    __slots__ = ("deadline", "iterations")

    def __init__(self) -> None:
        self.deadline = time.monotonic() + MAX_SECONDS
        self.iterations = 0


_budget: contextvars.ContextVar[_Budget | None] = contextvars.ContextVar("harness_template_budget", default=None)


def _tick(iterations: int = 0) -> None:
    budget = _budget.get()
    if budget is None:
        return
    if iterations:
        budget.iterations += iterations
        if budget.iterations > MAX_ITERATIONS:
            raise TemplateLimit(f"its loops ran more than {MAX_ITERATIONS:,} times")
    if time.monotonic() > budget.deadline:
        raise TemplateLimit(f"it took more than {MAX_SECONDS:g} s to render")


def too_big(size: int, what: str) -> TemplateLimit:
    return TemplateLimit(f"{what} would be {size:,} characters or items, over the limit of {MAX_CHARS:,}")


def _sized(value: Any) -> Any:
    if isinstance(value, (str, bytes, list, tuple, dict)) and len(value) > MAX_CHARS:
        raise too_big(len(value), "a value it builds")
    return value


def render_bounded(chunks: Iterable[str]) -> str:
    """Join a template's output (``template.generate(...)``) within the limits, counting it as it streams and
    the clock and loops as it runs; raise TemplateLimit past one."""
    token = _budget.set(_Budget())
    try:
        parts: list[str] = []
        size = 0
        for chunk in chunks:
            size += len(chunk)
            if size > MAX_CHARS:
                raise too_big(size, "its output")
            parts.append(chunk)
            _tick()
        return "".join(parts)
    finally:
        _budget.reset(token)


# --- what operators, calls and filters may do -------------------------------------------------------------

_PRINTF_FIELD = re.compile(r"%(?:\([^)]*\))?[-#0 +]*(\*|\d+)?(?:\.(\*|\d+))?[a-zA-Z%]")
_SPEC_NUMBERS = re.compile(r"\d+")


def _check_printf(fmt: str, args: Any) -> None:
    """`'%1000000000s' % x`: a width or precision (or a `*` one from the arguments) over the limit."""
    for width, precision in _PRINTF_FIELD.findall(fmt):
        for number in (width, precision):
            if number.isdigit() and int(number) > MAX_CHARS:
                raise too_big(int(number), f"the format {fmt[:40]!r}")
        if "*" in (width, precision):
            _check_ints(args if isinstance(args, tuple) else (args,), "a * width")


def _check_format_spec(fmt: str, values: tuple[Any, ...]) -> None:
    """`'{:>1000000000}'.format(x)`: a width or precision in a format spec (or a nested one) over the limit."""
    try:
        fields = list(string.Formatter().parse(fmt))
    except ValueError:
        return  # str.format raises the same error, with its own message
    for _, _, spec, _ in fields:
        if not spec:
            continue
        if "{" in spec:
            _check_ints(values, "a nested format width")
        for number in _SPEC_NUMBERS.findall(spec):
            if int(number) > MAX_CHARS:
                raise too_big(int(number), f"the format {fmt[:40]!r}")


def _check_ints(values: Iterable[Any], what: str) -> None:
    for value in values:
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_CHARS:
            raise too_big(abs(value), what)


def _length(value: Any) -> int:
    return len(value) if isinstance(value, (str, bytes, list, tuple, dict)) else len(str(value))


def _check_binop(operator: str, left: Any, right: Any) -> None:
    sequences = (str, bytes, list, tuple)
    if operator == "*":
        for seq, times in ((left, right), (right, left)):
            if isinstance(seq, sequences) and isinstance(times, int) and len(seq) * times > MAX_CHARS:
                raise too_big(len(seq) * times, "a repetition")
    elif operator == "+":
        if isinstance(left, sequences) and isinstance(right, sequences) and len(left) + len(right) > MAX_CHARS:
            raise too_big(len(left) + len(right), "a concatenation")
    elif operator == "**":
        if isinstance(left, int) and isinstance(right, int) and abs(left) > 1 and right > 0:
            if right * math.log2(abs(left)) > MAX_INT_BITS:
                raise TemplateLimit(f"{left} ** {right} is a number too large for a template")
    elif operator == "%" and isinstance(left, str):
        _check_printf(left, right)


def _estimate(name: str, target: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> int | None:
    """The size of what a str method or filter that can multiply its input would build; None for others."""
    if name in ("batch", "slice"):  # as many lists (or fill items) as asked for
        count = args[0] if args else kwargs.get("linecount", kwargs.get("slices"))
        return count if isinstance(count, int) else None
    if not isinstance(target, str):
        return None
    if name in ("center", "ljust", "rjust", "zfill"):
        width = args[0] if args else kwargs.get("width", 80 if name == "center" else 0)
        return width if isinstance(width, int) else None
    if name == "expandtabs":
        size = args[0] if args else kwargs.get("tabsize", 8)
        return len(target) + target.count("\t") * size if isinstance(size, int) else None
    if name == "indent":
        width = args[0] if args else kwargs.get("width", 4)
        step = width if isinstance(width, int) else _length(width)
        return len(target) + (target.count("\n") + 1) * step
    if name == "replace" and len(args) >= 2:
        old, new = _length(args[0]), _length(args[1])
        hits = target.count(str(args[0])) if old else len(target) + 1
        count = args[2] if len(args) > 2 else kwargs.get("count")
        if isinstance(count, int) and count >= 0:
            hits = min(hits, count)
        return len(target) + hits * max(new - old, 0)
    return None


def _checked_call(name: str, target: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, ...]:
    """Refuse a call that would build too much; a `join` gets its items as a list (counted once)."""
    size = _estimate(name, target, args, kwargs)
    if size is not None and size > MAX_CHARS:
        raise too_big(size, f"{name}()")
    if name == "join" and args:
        items = list(args[0]) if not isinstance(args[0], (list, tuple, str)) else args[0]
        separator = target if isinstance(target, str) else str(args[1] if len(args) > 1 else kwargs.get("d", ""))
        size = sum(_length(x) for x in items) + len(separator) * max(len(items) - 1, 0)
        if size > MAX_CHARS:
            raise too_big(size, "join()")
        args = (items, *args[1:])
    return args


def _guarded_filter(name: str, function: Any) -> Any:
    """A built-in filter checked like a call: `'a'|center(10**9)` is refused before it allocates."""
    skip = 1 if _PassArg.from_obj(function) is not None else 0  # the context or environment Jinja passes first

    @functools.wraps(function)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        _tick()
        passed, (value, *rest) = args[:skip], args[skip:] or (None,)
        if name == "format" and isinstance(value, str):
            _check_printf(value, tuple(rest) or tuple(kwargs.values()))
        if name == "join":
            rest_args = _checked_call(name, None, (value, *rest), kwargs)
            return _sized(function(*passed, *rest_args, **kwargs))
        _checked_call(name, value, tuple(rest), kwargs)
        return _sized(function(*args, **kwargs))

    return guarded


def _bounded_lipsum(n: int = 5, html: bool = True, min: int = 20, max: int = 100) -> str:  # noqa: A002 (Jinja's names)
    if n * max > 10_000:
        raise too_big(n * max * 8, "lipsum()")
    return generate_lorem_ipsum(n, html, min, max)


class _CountLoopsAndConcat(NodeTransformer):
    """Route every `{% for %}` iterable and every `~` through the environment, where they are counted."""

    def __init__(self, environment: BoundedEnvironment):
        self.environment = environment

    def _call(self, name: str, arg: nodes.Expr, like: nodes.Node) -> nodes.Call:
        call = nodes.Call(nodes.EnvironmentAttribute(name), [arg], [], None, None)
        return call.set_lineno(like.lineno).set_environment(self.environment)

    def visit_For(self, node: nodes.For) -> nodes.Node:
        self.generic_visit(node)
        node.iter = self._call("bounded_iter", node.iter, node)
        return node

    def visit_Concat(self, node: nodes.Concat) -> nodes.Node:
        self.generic_visit(node)
        return self._call("bounded_concat", nodes.List(node.nodes).set_lineno(node.lineno), node)


class BoundedEnvironment(SandboxedEnvironment):
    """The sandbox, with every way of growing a value checked against the limits (see the module doc)."""

    intercepted_binops = frozenset({"*", "**", "+", "%"})

    def __init__(self, **options: Any):
        # Constant folding would evaluate `'a' * 10**9` at compile time, before any check.
        super().__init__(optimized=False, **options)
        self.globals["lipsum"] = _bounded_lipsum
        self.filters = {name: _guarded_filter(name, f) for name, f in self.filters.items()}

    def _generate(self, source: nodes.Template, name: str | None, filename: str | None,
                  defer_init: bool = False) -> str:  # fmt: skip
        _CountLoopsAndConcat(self).visit(source)
        return super()._generate(source, name, filename, defer_init)

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        _tick()
        _check_binop(operator, left, right)
        return _sized(super().call_binop(context, operator, left, right))

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805 (Jinja's signature)
        _tick()
        name = getattr(__obj, "__name__", "")
        target = getattr(__obj, "__self__", None)
        if isinstance(target, (str, bytes)):
            args = _checked_call(name, target, args, kwargs)
        return _sized(SandboxedEnvironment.call(__self, __context, __obj, *args, **kwargs))

    def getattr(self, obj: Any, attribute: str) -> Any:
        _tick()
        return super().getattr(obj, attribute)

    def wrap_str_format(self, value: Any) -> Any:
        wrapped = super().wrap_str_format(value)
        if wrapped is None:
            return None
        fmt = value.__self__

        def checked(*args: Any, **kwargs: Any) -> str:
            mapping = args[0] if len(args) == 1 and isinstance(args[0], dict) else {}  # format_map
            _check_format_spec(fmt, (*args, *kwargs.values(), *mapping.values()))
            return _sized(wrapped(*args, **kwargs))

        return checked

    @staticmethod
    def bounded_iter(iterable: Iterable[Any]) -> Iterator[Any]:
        for item in iterable:
            _tick(1)
            yield item

    @staticmethod
    def bounded_concat(parts: list[Any]) -> str:
        _tick()
        texts = [p if isinstance(p, str) else str(p) for p in parts]
        size = sum(len(t) for t in texts)
        if size > MAX_CHARS:
            raise too_big(size, "a `~` concatenation")
        return "".join(texts)
