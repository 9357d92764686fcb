"""Sandboxed Jinja2 rendering of a suite's message text: inline templates and prompt files.

Every template in every case is rendered before the first request, so a missing
variable (or a template past the size and time limits of
harness/suites/template_limits.py) is a load-time error (exit 2) naming the
variable, case and file, never a half-finished, half-paid run. Prompt files (`{file: path}`) and
`{% include "path" %}` are read through a loader that keeps every path inside
the project, relative to the suite file; an error inside a prompt file points
at that file's line, and each rendering says which files it read, so reports
can name them beside a prompt change.
"""

from __future__ import annotations

import contextvars
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2
from jinja2 import meta

from harness.core.locations import Loc
from harness.core.suite import PromptFile
from harness.suites.project_files import ProjectPathError, project_file, read_text, shown
from harness.core.problems import did_you_mean
from harness.suites.template_limits import MAX_CHARS, BoundedEnvironment, TemplateLimit, render_bounded, too_big

_ENV = BoundedEnvironment(undefined=jinja2.StrictUndefined, autoescape=False, keep_trailing_newline=True)
_UNDEFINED = re.compile(r"^'([^']+)' is undefined$")
# The files read by the rendering in progress (prompt file, then its includes), when someone is listening.
_reading: contextvars.ContextVar[list[str] | None] = contextvars.ContextVar("harness_template_files", default=None)


_GLOBALS = dict(_ENV.globals)


_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
_NOT_NAMES = {"true", "false", "none", "True", "False", "None"}  # Jinja literals, not variables


@lru_cache(maxsize=4096)
def _compile(source: str) -> tuple[jinja2.Template, tuple[str, ...], list[str] | None]:
    """The compiled template, the variables it reads (the key of its rendered text), and, for text whose only
    template syntax is `{{ name }}` placeholders, its pieces: literal text and names, alternately."""
    pieces: list[str] | None = _PLACEHOLDER.split(source)
    literal = "".join(pieces[::2])
    if any(mark in literal for mark in ("{{", "{%", "{#")) or set(pieces[1::2]) & _NOT_NAMES:
        pieces = None
    return _ENV.from_string(source), tuple(sorted(meta.find_undeclared_variables(_ENV.parse(source)))), pieces


class TemplateProblem(Exception):
    """A template that cannot be rendered; ``loc`` is set when the error is inside a prompt file."""

    def __init__(self, message: str, loc: Loc | None = None, undefined: str | None = None):
        super().__init__(message)
        self.message = message
        self.loc = loc
        self.undefined = undefined  # the missing variable's name, when that is the problem


def render(source: str, variables: dict[str, Any]) -> str:
    """Render one template string in the sandbox, with no files; raise TemplateProblem with a readable message.

    A template whose variables have the same values as in an earlier call is not rendered again: a suite's
    system prompt is the same text for each of 10,000 generated cases.
    """
    if "{{" not in source and "{%" not in source and "{#" not in source:
        return source
    try:
        template, names, pieces = _compile(source)
    except Exception as e:  # noqa: BLE001 (a syntax error)
        raise _problem(e, set(), variables) from None
    if pieces is not None and all(name in variables for name in pieces[1::2]):
        # Only placeholders: what Jinja would render (str of each value), without a render context. A
        # 10,000-row table's "{{ ticket_id }}" and "{{ text }}" are this; anything else, or a missing
        # variable (for Jinja's own error), takes the full path.
        parts = [piece if i % 2 == 0 else str(variables[piece]) for i, piece in enumerate(pieces)]
        if sum(len(part) for part in parts) > MAX_CHARS:  # `{{ doc }}` written many times over
            raise _problem(too_big(sum(len(part) for part in parts), "its output"), set(), variables)
        return "".join(parts)
    try:
        key = (source, tuple(variables.get(name, _MISSING) for name in names))
        cached = _rendered.get(key)
    except TypeError:  # a value that cannot be a key (a list, a mapping): render it every time
        key = cached = None
    if cached is not None:
        return cached
    try:
        text = _render_fast(template, variables)
    except Exception as e:  # noqa: BLE001 (every failure becomes a readable problem)
        raise _problem(e, set(), variables) from None
    if key is not None:
        if len(_rendered) >= _RENDERED_MAX:
            _rendered.clear()
        _rendered[key] = text
    return text


_MISSING = object()
_RENDERED_MAX = 4096
_rendered: dict[tuple[Any, ...], str] = {}


def _render_fast(template: jinja2.Template, variables: dict[str, Any]) -> str:
    """``template.render(variables)`` within the limits, without merging the environment's globals (a ChainMap)
    on every call, which was half the time of rendering a 10,000-row table; errors are raised as ``render``
    raises them."""
    context = template.new_context({**_GLOBALS, **variables}, shared=True)
    try:
        return render_bounded(template.root_render_func(context))  # type: ignore[attr-defined]
    except Exception:  # noqa: BLE001
        template.environment.handle_exception()
        raise


@dataclass
class Rendered:
    text: str
    files: list[str]  # the project files read, in order: the prompt file, then what it includes


class _ProjectLoader(jinja2.BaseLoader):
    """Template names are paths relative to the suite file, confined to the project."""

    def __init__(self, suite_dir: Path):
        self.suite_dir = suite_dir

    def get_source(self, environment: jinja2.Environment, template: str) -> tuple[str, str, Any]:
        try:
            path = project_file(template, self.suite_dir, "included file")
            text = read_text(path, "included file")
        except ProjectPathError as e:
            raise jinja2.TemplateNotFound(template, str(e)) from None
        stamp = _stamp(path)
        return text, str(path), lambda: _stamp(path) == stamp


def _stamp(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size)


class _SuiteEnvironment(BoundedEnvironment):
    """The sandbox with a project loader; notes every file it loads for the rendering in progress."""

    def get_template(self, name: Any, parent: Any = None, globals: Any = None) -> jinja2.Template:  # noqa: A002
        template = super().get_template(name, parent, globals)
        files = _reading.get()
        if files is not None and template.filename:
            files.append(shown(Path(template.filename)))
        return template


@lru_cache(maxsize=256)
def _environment(suite_dir: Path) -> _SuiteEnvironment:
    return _SuiteEnvironment(loader=_ProjectLoader(suite_dir), undefined=jinja2.StrictUndefined, autoescape=False,
                             keep_trailing_newline=True)  # fmt: skip


@lru_cache(maxsize=4096)
def _compile_in(env: _SuiteEnvironment, source: str) -> jinja2.Template:
    return env.from_string(source)


def render_text(text: str | PromptFile, variables: dict[str, Any], suite_dir: Path) -> Rendered:
    """Render inline text or a prompt file for one case; raise TemplateProblem (with the file's line inside a file)."""
    if isinstance(text, str) and "{%" not in text:
        return Rendered(render(text, variables), [])  # no include possible: the plain, cached path
    env = _environment(suite_dir.resolve())
    files: list[str] = []
    token = _reading.set(files)
    try:
        template = _compile_in(env, text) if isinstance(text, str) else env.get_template(text.path)
        return Rendered(render_bounded(template.generate(variables)), list(dict.fromkeys(files)))
    except Exception as e:  # noqa: BLE001 (every failure becomes a readable problem)
        raise _problem(e, {f for f in files}, variables) from None
    finally:
        _reading.reset(token)


def _problem(e: Exception, files: set[str], variables: dict[str, Any] | None = None) -> TemplateProblem:
    """A readable TemplateProblem for any rendering failure, located in the prompt file where it happened.

    A misspelt variable gets "did you mean" one of ``variables``; any other missing one, where to define it.
    """
    loc = _file_line(e, files)
    if isinstance(e, TemplateLimit):
        return TemplateProblem(f"template too big: {e}; templates are bounded so that a typo cannot build a huge "
                               "request (see docs/suites.md)", loc)  # fmt: skip
    if isinstance(e, jinja2.UndefinedError):
        name = _UNDEFINED.match(e.message or "")
        hint = did_you_mean(name[1], [str(k) for k in variables or {}]) if name else ""
        return TemplateProblem(f"template variable error: {e.message}{hint or '; define it under `vars:` in the case or suite'}",
                               loc, name[1] if name else None)  # fmt: skip
    if isinstance(e, jinja2.TemplateSyntaxError):
        where = "" if loc is not None else f" (template line {e.lineno})"
        return TemplateProblem(f"template syntax error: {e.message}{where}", loc)
    if isinstance(e, jinja2.TemplateNotFound):
        return TemplateProblem(e.message or f"template {e.name!r} not found", loc)
    if isinstance(e, jinja2.exceptions.SecurityError):
        return TemplateProblem(f"template tried an unsafe operation: {e}", loc)
    if isinstance(e, TypeError) and "no loader" in str(e):
        return TemplateProblem("templates cannot include, import or extend files; put shared text in `vars:`")
    if isinstance(e, jinja2.TemplateError):
        return TemplateProblem(f"template error: {e}", loc)
    return TemplateProblem(f"template failed: {type(e).__name__}: {e}", loc)  # a filter given the wrong type, ...


def _file_line(e: Exception, files: set[str]) -> Loc | None:
    """The prompt file and line an error happened in: Jinja names the file in syntax errors, and puts each
    template's own file and line in the traceback of errors raised while rendering."""
    if isinstance(e, jinja2.TemplateSyntaxError) and e.filename:
        return Loc(shown(Path(e.filename)), e.lineno or 1, 0)
    found: Loc | None = None
    tb = e.__traceback__
    while tb is not None:
        name = tb.tb_frame.f_code.co_filename
        if name.startswith("/") or ":" in name[:3]:
            candidate = shown(Path(name))
            if candidate in files:
                found = Loc(candidate, tb.tb_lineno, 0)
        tb = tb.tb_next
    return found
