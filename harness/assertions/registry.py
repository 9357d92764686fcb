"""The check protocol and registry.

A check is a small typed function ``(ctx, arg) -> Outcome`` registered under a
name with ``@check``. The registry validates each check's argument when the
suite loads (so mistakes surface before any request) and gives every check a
``not_`` twin that inverts it. A check that needs a model (a grader, embeddings)
is ``async def`` and calls it through ``ctx.grade``/``ctx.embed``, which the
conversation loop provides; ``run_check_async`` awaits it.
"""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from harness.core.errors import RequestFailed
from harness.core.reply import Completion, Embeddings, Usage
from harness.core.result import CheckResult

if TYPE_CHECKING:
    from harness.core.specs import GraderSpec

# How a check reaches a model: the same client, cassette, retries and accounting as the case's own requests.
Grade = Callable[[str, list[dict[str, Any]], dict[str, Any]], Awaitable[Completion]]  # (model, messages, params)
Embed = Callable[[str, list[str]], Awaitable[Embeddings]]  # (model, inputs)

NEGATION_PREFIX = "not_"


@dataclass
class CheckContext:
    """What a check may look at: the reply and the request that produced it.

    ``grade`` and ``embed`` (set by the conversation loop) let a model-graded
    check call a model without knowing the client; ``grader`` is the suite's
    `grader:` settings.
    """

    reply: Completion
    messages: list[dict[str, Any]] = field(default_factory=list)
    model: str = ""
    params: dict[str, Any] = field(default_factory=dict)  # the request's params: its format, its declared tools
    grader: GraderSpec | None = None
    grade: Grade | None = None
    embed: Embed | None = None
    # The reply's tokens as the harness counts them (the budgets' count), for a server that reported no usage
    count_usage: Callable[[], Usage] | None = None


@dataclass(frozen=True)
class Outcome:
    """A check's verdict and its reason.

    ``negated`` is the check's own words for the opposite, said when its `not_` twin
    passes ("the reply does not contain 'x'"): the failure reason ("expected reply to
    contain 'x'") would read like a failure there.
    """

    passed: bool
    reason: str
    details: dict[str, Any] | None = None  # kept in the CheckResult, e.g. a grader's score and full reasoning
    negated: str | None = None


Validator = Callable[[Any], "str | None"]
CheckFunc = Callable[[CheckContext, Any], "Outcome | Awaitable[Outcome]"]


@dataclass(frozen=True)
class CheckSpec:
    name: str
    func: CheckFunc
    validate: Validator
    doc: str
    example: str
    is_async: bool = False  # an `async def` check (it calls a model); run it with run_check_async
    keys: tuple[str, ...] = ()  # the keys its mapping argument may have: a misspelt one gets "did you mean"


REGISTRY: dict[str, CheckSpec] = {}


def check(name: str, *, validate: Validator, example: str, keys: tuple[str, ...] = ()) -> Callable[[CheckFunc], CheckFunc]:
    """Register ``func`` as the check ``name``; ``validate`` returns an error message or None.

    ``keys``: for a check that takes a mapping, the keys it knows (the suite loader
    names an unknown one at its line and column, with a "did you mean").
    """

    def register(func: CheckFunc) -> CheckFunc:
        if name in REGISTRY:
            raise ValueError(f"check {name!r} registered twice")
        doc = (func.__doc__ or "").strip().splitlines()[0] if func.__doc__ else ""
        REGISTRY[name] = CheckSpec(name, func, validate, doc, example, inspect.iscoroutinefunction(func), keys)
        return func

    return register


def all_check_names() -> list[str]:
    return sorted(REGISTRY)


def resolve(name: str) -> tuple[CheckSpec, bool] | None:
    """Find the spec for ``name``; ``not_<check>`` resolves to the check, negated."""
    if name in REGISTRY:
        return REGISTRY[name], False
    if name.startswith(NEGATION_PREFIX) and name[len(NEGATION_PREFIX) :] in REGISTRY:
        return REGISTRY[name[len(NEGATION_PREFIX) :]], True
    return None


# What the Responses API calls what a check already reads (its reply is normalised to the Chat fields).
API_WORDS = {"max_output_tokens": "max_completion_tokens", "max_input_tokens": "max_prompt_tokens",
             "status": "finish_reason"}  # fmt: skip


def suggest(name: str) -> str | None:
    """The closest known check name, for 'did you mean' hints."""
    if name in API_WORDS:
        return API_WORDS[name]
    known = list(REGISTRY) + [NEGATION_PREFIX + n for n in REGISTRY]
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    return close[0] if close else None


def run_check(name: str, arg: Any, ctx: CheckContext) -> CheckResult:
    """Run one (possibly negated) check; an exception inside becomes a failed check."""
    resolved = resolve(name)
    if resolved is None:
        return CheckResult(name, False, f"unknown check {name!r}", arg)
    spec, negate = resolved
    if spec.is_async:
        return CheckResult(name, False, f"check {spec.name!r} calls a model; evaluate it with run_check_async", arg)
    try:
        outcome = spec.func(ctx, arg)
    except Exception as e:  # a bug or odd reply must not crash the run
        return CheckResult(name, False, f"check raised {type(e).__name__}: {e}", arg)
    return _result(name, spec, negate, outcome, arg)


async def run_check_async(name: str, arg: Any, ctx: CheckContext) -> CheckResult:
    """Run any check, awaiting an ``async def`` one.

    A model request that failed after its retries (RequestFailed) is not the
    reply's fault: it propagates, so the case becomes an error, not a failure.
    """
    resolved = resolve(name)
    if resolved is None or not resolved[0].is_async:
        return run_check(name, arg, ctx)
    spec, negate = resolved
    try:
        outcome = await spec.func(ctx, arg)
    except RequestFailed:
        raise
    except Exception as e:  # a bug or odd reply must not crash the run
        return CheckResult(name, False, f"check raised {type(e).__name__}: {e}", arg)
    return _result(name, spec, negate, outcome, arg)


def _result(name: str, spec: CheckSpec, negate: bool, outcome: Outcome, arg: Any) -> CheckResult:
    if not negate:
        return CheckResult(name, outcome.passed, outcome.reason, arg, details=outcome.details)
    if outcome.passed:
        return CheckResult(name, False, f"expected the opposite of {spec.name}, but: {outcome.reason}", arg,
                           details=outcome.details)  # fmt: skip
    said = outcome.negated or f"not {spec.name} (it failed: {outcome.reason})"
    return CheckResult(name, True, f"as required, {said}", arg, details=outcome.details)


def preview(text: str | None, limit: int = 160) -> str:
    """A reply shortened for a reason line, quoted so whitespace is visible."""
    if text is None:
        return "no content"
    if len(text) > limit:
        return repr(text[:limit]) + f"... ({len(text)} chars)"
    return repr(text)


# Argument validators shared by the checks.


def is_str(arg: Any) -> str | None:
    return None if isinstance(arg, str) else f"expects a string, got {type(arg).__name__}"


def is_str_list(arg: Any) -> str | None:
    if isinstance(arg, list) and arg and all(isinstance(x, str) for x in arg):
        return None
    return "expects a non-empty list of strings, e.g. [refund, return]"


def is_non_negative_number(arg: Any) -> str | None:
    if isinstance(arg, bool) or not isinstance(arg, (int, float)) or arg < 0:
        return f"expects a number >= 0, got {arg!r}"
    return None


def is_bool(arg: Any) -> str | None:
    return None if isinstance(arg, bool) else f"expects true or false, got {arg!r}"
