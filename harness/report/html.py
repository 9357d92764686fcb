"""report.html and diff.html: one self-contained file each (report.html above 10,000 cases: html_split.py), rendered by Jinja2.

The header (totals) is rendered here with autoescaping on; the case table and
transcripts are built in the browser from one embedded JSON blob, inserting
every user or model text with textContent, so markup in a reply is shown as
text and never runs. No CDN, no network: the CSS and JS are inlined.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup

from harness import __version__
from harness.core.outcomes import light
from harness.core.result import RunResult, Summary
from harness.report.numbers import fmt_cost, fmt_delta, fmt_ms, fmt_num, fmt_pct
from harness.report.outcome_text import RunView, policy_text
from harness.report.payload import compare_payload, run_payload
from harness.report.usage_text import html_context
from harness.results.compare import (  # fmt: skip
    CHANGE_ORDER,
    FIXED,
    NEEDS_RERECORD,
    NOT_RUN,
    REGRESSED,
    STILL_FAILING,
    Comparison,
    Metric,
    count_text,
)
from harness.results.pass_rates import fmt_p
from harness.results.variant_table import has_variants

TEMPLATES = Path(__file__).parent / "templates"


@lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True, undefined=jinja2.StrictUndefined,
        trim_blocks=True, lstrip_blocks=True,
    )  # fmt: skip
    env.filters.update(num=fmt_num, cost=fmt_cost, ms=fmt_ms, pct=fmt_pct, delta=fmt_delta)
    env.globals["asset"] = asset
    return env


@lru_cache(maxsize=None)
def asset(name: str) -> Markup:
    """A CSS or JS file inlined verbatim (our own code, so not escaped; never user text)."""
    return Markup((TEMPLATES / name).read_text(encoding="utf-8"))


def embed_json(data: Any) -> Markup:
    """JSON safe inside <script type="application/json">: no '<' so no '</script>' breakout."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"), default=str)
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    text = text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
    return Markup(text)


def run_models(run: RunResult) -> str:
    models = sorted({c.model for c in light(run.cases) if c.model})
    return run.settings.get("model") or ", ".join(models) or "\u2014"


def _summary_context(s: Summary) -> dict[str, Any]:
    rate = 100.0 * s.passed / s.total if s.total else None
    return {"s": s, "rate": rate}


def _rows_context(run: RunResult) -> dict[str, Any]:
    """Outcomes, gates and metrics for the header; the filter chips count rows (one per repeat)."""
    from collections import Counter

    rows = Counter(c.status for c in light(run.cases))
    return {"view": RunView.of(run), "rows": rows, "policy_text": policy_text}


def render_run_html(run: RunResult, title: str = "prompt-harness report") -> str:
    """The run report: totals, a filterable table of cases, each case's transcript on click."""
    template = environment().get_template("report.html")
    return template.render(
        title=title,
        version=__version__,
        run=run,
        models=run_models(run),
        mode=(run.settings.get("cassettes") or "\u2014") + (" + Batch API (cost at batch prices)" if run.settings.get("batch") else ""),
        **_summary_context(run.summary),
        **_rows_context(run),
        data=embed_json(run_payload(run)),
        variants=has_variants(run.cases),
    )


def _metric_row(label: str, m: Metric, kind: str, better: str = "lower") -> dict[str, Any]:
    fmt = {"num": fmt_num, "cost": fmt_cost, "ms": fmt_ms, "pct": fmt_pct}[kind]
    delta = m.delta
    tone = ""
    if delta:
        good = delta < 0 if better == "lower" else delta > 0
        tone = "good" if good else "bad"
    return {"label": label, "base": fmt(m.base), "head": fmt(m.head),
            "delta": fmt_delta(delta, "pp" if kind == "pct" else kind), "tone": tone}  # fmt: skip


def compare_headline(cmp: Comparison) -> str:
    """'2 need re-record, 0 regressed, 3 new (1 failing), 0 fixed, 1 still failing': what summary.md leads with too."""
    t = cmp.totals
    parts = [count_text(t.counts[c], c) for c in (NEEDS_RERECORD, NOT_RUN) if t.counts[c]]
    parts.append(f"{t.counts[REGRESSED]} regressed")
    if t.new_cases:
        failing = t.new_failing + t.new_failing_allowed
        parts.append(f"{t.new_cases} new" + (f" ({failing} failing)" if failing else ""))
    parts += [f"{t.counts[FIXED]} fixed", f"{t.counts[STILL_FAILING]} still failing"]
    return ", ".join(parts)


def render_compare_html(comparison: Comparison, title: str = "prompt-harness diff") -> str:
    """The diff report: verdict and totals, then per case what changed in request and reply."""
    t = comparison.totals
    rows = [
        _metric_row("passed", Metric(t.base.passed, t.head.passed), "num", "higher"),
        _metric_row("failed", Metric(t.base.failed, t.head.failed), "num"),
        _metric_row("errored", Metric(t.base.errored, t.head.errored), "num"),
        _metric_row("cases", Metric(t.base.total, t.head.total), "num", "none"),
        _metric_row("pass rate", t.pass_rate, "pct", "higher"),
        _metric_row("tokens", t.tokens, "num"),
        _metric_row("cost", t.cost_usd, "cost"),
    ]
    if not comparison.replay:  # a replay's wall time says nothing about the prompt
        rows.append(_metric_row("duration", t.duration_ms, "ms"))
    template = environment().get_template("diff.html")
    return template.render(
        title=title,
        version=__version__,
        cmp=comparison,
        headline=compare_headline(comparison),
        rows=rows,
        usage_rows=html_context(comparison.usage),
        counts=[(c, t.counts.get(c, 0)) for c in CHANGE_ORDER],
        base_models=run_models(comparison.base),
        head_models=run_models(comparison.head),
        fmt_p=fmt_p,
        data=embed_json(compare_payload(comparison)),
    )


def render_runs_index(runs: list[Any], root: str) -> str:
    """`harness view`'s front page: every run under the folder, and forms to diff two runs or two variants."""
    return environment().get_template("runs.html").render(runs=runs, root=root)
