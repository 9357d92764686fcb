"""Custom checks written in Python: `python: package.module:function`.

The function receives the reply and the conversation and returns a verdict;
anything it raises becomes that check's failure, never a crashed run.
"""

from __future__ import annotations

import importlib
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from harness.assertions.registry import CheckContext, Outcome, check

_REF = re.compile(r"[A-Za-z_][\w.]*:[A-Za-z_]\w*")


def _valid_ref(arg: Any) -> str | None:
    if isinstance(arg, str) and _REF.fullmatch(arg):
        return None
    return "expects `package.module:function`, e.g. `python: checks.tone:is_polite`"


def resolve_function(ref: str, search_dir: Path | None = None) -> Callable[..., Any]:
    """Import ``module:function``, looking beside the suite file first; raise ImportError with the fix."""
    module_name, _, attr = ref.partition(":")
    if search_dir is not None and str(search_dir) not in sys.path:
        sys.path.insert(0, str(search_dir))
    try:
        module = importlib.import_module(module_name)
    except ImportError as e:
        raise ImportError(f"cannot import module {module_name!r} for `python: {ref}` ({e}); "
                          "put it beside the suite file or on PYTHONPATH") from None  # fmt: skip
    except Exception as e:
        raise ImportError(f"importing {module_name!r} for `python: {ref}` failed: {type(e).__name__}: {e}") from None
    func = getattr(module, attr, None)
    if not callable(func):
        raise ImportError(f"module {module_name!r} has no function {attr!r} (from `python: {ref}`)")
    return func


def interpret(result: Any, ref: str) -> Outcome:
    """Accept the verdict shapes users write: bool, (bool, reason), {pass, reason, score}, or a 0..1 score."""
    if isinstance(result, bool):
        return Outcome(result, f"{ref} returned {result}")
    if isinstance(result, tuple) and len(result) == 2 and isinstance(result[0], bool):
        return Outcome(result[0], f"{ref}: {result[1]}")
    if isinstance(result, dict) and isinstance(result.get("pass"), bool):
        score = f" (score {result['score']})" if "score" in result else ""
        return Outcome(result["pass"], f"{ref}: {result.get('reason', 'no reason given')}{score}")
    if isinstance(result, (int, float)):
        passed = result >= 0.5
        return Outcome(passed, f"{ref} scored {result:g} ({'>=' if passed else '<'} 0.5)")
    return Outcome(False, f"{ref} returned {type(result).__name__}; return a bool, (bool, reason), "
                          "{'pass': bool, 'reason': str} or a score from 0 to 1")  # fmt: skip


@check("python", validate=_valid_ref, example="python: checks.tone:is_polite")
def python_check(ctx: CheckContext, arg: str) -> Outcome:
    """A function of yours, called as fn(reply_text, conversation=messages, completion=reply), passes."""
    func = resolve_function(arg)
    try:
        result = func(ctx.reply.text, conversation=ctx.messages, completion=ctx.reply)
    except Exception as e:
        return Outcome(False, f"{arg} raised {type(e).__name__}: {e}")
    return interpret(result, arg)
