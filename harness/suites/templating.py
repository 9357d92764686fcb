"""Sandboxed Jinja2 rendering of suites into conversation plans.

Every template in every case is rendered before the first request, so a missing
variable is a load-time error (exit 2) naming the variable, case and file,
never a half-finished, half-paid run.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import jinja2
from jinja2.sandbox import SandboxedEnvironment

_ENV = SandboxedEnvironment(undefined=jinja2.StrictUndefined, autoescape=False, keep_trailing_newline=True)


@lru_cache(maxsize=4096)
def _compile(source: str) -> jinja2.Template:
    return _ENV.from_string(source)


class TemplateProblem(Exception):
    pass


def render(source: str, variables: dict[str, Any]) -> str:
    """Render one template string in the sandbox; raise TemplateProblem with a readable message."""
    if "{{" not in source and "{%" not in source and "{#" not in source:
        return source
    try:
        return _compile(source).render(variables)
    except jinja2.UndefinedError as e:
        raise TemplateProblem(f"template variable error: {e.message}; define it under `vars:` in the case or suite") from None
    except jinja2.TemplateSyntaxError as e:
        raise TemplateProblem(f"template syntax error: {e.message} (template line {e.lineno})") from None
    except jinja2.exceptions.SecurityError as e:
        raise TemplateProblem(f"template tried an unsafe operation: {e}") from None
    except TypeError as e:
        if "no loader" not in str(e):
            raise TemplateProblem(f"template failed: TypeError: {e}") from None
        raise TemplateProblem("templates cannot include, import or extend files; put shared text in `vars:`") from None
    except jinja2.TemplateError as e:
        raise TemplateProblem(f"template error: {e}") from None
    except Exception as e:  # a filter given the wrong type, a division by zero, ...
        raise TemplateProblem(f"template failed: {type(e).__name__}: {e}") from None










