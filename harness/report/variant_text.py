"""The per-variant table in every format: the terminal, summary.md and the grid's JSON in report.html.

The figures come from harness/results/variant_table.py; this module only lays them out.
Variant names and case ids are user text: escaped for Markdown here, and inserted with
textContent by the page (grid.js), never as markup.
"""

from __future__ import annotations

from typing import Any

from harness.core.result import CaseResult
from harness.report.numbers import fmt_cost, fmt_ms, fmt_num
from harness.results.variant_table import VariantColumn, VariantTable

HEADERS = ["variant", "model", "passed", "pass rate (95% CI)", "tokens", "cost", "p50 latency", "p95 latency"]


def rate_text(col: VariantColumn) -> str:
    """'83% (70-91%)': the pass rate and its 95% Wilson interval."""
    if col.rate is None or col.interval is None:
        return "\u2014"
    i = col.interval
    return f"{col.rate:.0%} ({i.low:.0%}\u2013{i.high:.0%})"


def _cells(col: VariantColumn) -> list[str]:
    return [col.name, ", ".join(col.models) or "\u2014", f"{col.passed:,}/{col.evaluated:,}", rate_text(col),
            fmt_num(col.tokens), fmt_cost(col.cost_usd), fmt_ms(col.p50_ms), fmt_ms(col.p95_ms)]  # fmt: skip


def terminal_table(table: VariantTable) -> list[str]:
    """The per-variant table and how many cases the variants disagree on, for the terminal summary."""
    from tabulate import tabulate

    lines = [tabulate([_cells(c) for c in table.columns], headers=HEADERS, tablefmt="simple")]
    lines.append(f"variants disagree on {table.disagreeing:,} of {len(table.rows):,} cases; "
                 "report.html shows them side by side")  # fmt: skip
    return lines + [""]


def markdown_table(table: VariantTable, escape: Any) -> list[str]:
    """The per-variant table for summary.md; ``escape`` makes user text safe in a Markdown cell."""
    lines = ["", "#### Variants", "", "| " + " | ".join(HEADERS) + " |", "|---|---|---:|---:|---:|---:|---:|---:|"]
    for c in table.columns:
        cells = _cells(c)
        cells[0], cells[1] = escape(cells[0], 80), escape(cells[1], 80)
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", f"Variants disagree on {table.disagreeing:,} of {len(table.rows):,} cases."]
    return lines


def grid_payload(table: VariantTable, first_row: dict[tuple[str, str, str], int]) -> dict[str, Any]:
    """The grid for report.html: per column its figures, per row each cell's outcome and case row.

    ``first_row`` maps (suite, id, variant) to the index of the case's first repeat in the page's
    case list, so a cell opens that case's reply without a second copy of it.
    """
    columns = []
    for c in table.columns:
        i = c.interval
        columns.append({"n": c.name, "m": ", ".join(c.models), "p": c.passed, "ev": c.evaluated, "k": c.cases,
                        "rate": c.rate, "lo": i.low if i else None, "hi": i.high if i else None, "tok": c.tokens,
                        "c": c.cost_usd, "p50": c.p50_ms, "p95": c.p95_ms})  # fmt: skip
    names = [c.name for c in table.columns]
    rows = []
    for r in table.rows:
        cells = [None if o is None else [o.status, first_row.get((r.suite, r.id, name), -1), o.passed, o.repeats]
                 for o, name in zip(r.cells, names)]  # fmt: skip
        rows.append([r.suite, r.id, cells])
    return {"cols": columns, "rows": rows}


def first_rows(cases: list[dict[str, Any]], results: list[CaseResult]) -> dict[tuple[str, str, str], int]:
    """(suite, id, variant) -> index of its first repeat among the page's case rows (same order as ``results``)."""
    out: dict[tuple[str, str, str], int] = {}
    best: dict[tuple[str, str, str], int] = {}
    for i, (row, c) in enumerate(zip(cases, results)):
        key = (c.suite, c.id, c.variant)
        if key not in out or c.repeat < best[key]:
            out[key], best[key] = i, c.repeat
    return out
