"""report.html for a run too large for one file: the table in the page, each case's detail beside it.

Up to ``SPLIT_ABOVE`` cases report.html stays one self-contained file (harness/report/html.py).
Above that, one file would be hundreds of megabytes that the browser must parse before the
first row shows, and writing it would hold every case's transcript at once. So the page embeds
only the table's fields (status, id, tokens, reason...) and the transcripts and checks go to
``report-data/cases-NNNNN.js`` next to it, ``CHUNK`` cases a file, which the page loads when a
case in that chunk is opened (a ``<script src>``: it works from disk, where fetch() does not).
Both files are written one case at a time, so memory does not grow with the run.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import IO, Any

from markupsafe import Markup

from harness import __version__
from harness.core.atomic_files import write_atomic
from harness.core.outcomes import light
from harness.core.result import RunResult
from harness.core.text_policy import STORABLE_ERRORS
from harness.report.outcome_text import RunView
from harness.report.payload import STATUS_ORDER, case_payload

SPLIT_ABOVE = 10_000  # cases (one row per repeat); up to this report.html is one file
CHUNK = 1_000  # cases per detail file
DATA_DIR = "report-data"
_MARK = "\x00harness-data\x00"


def _json(data: Any) -> str:
    """JSON safe inside <script type="application/json"> (as html.embed_json)."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"), default=str)
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


def needs_split(run: RunResult) -> bool:
    return len(run.cases) > SPLIT_ABOVE


def write_split_run_html(run: RunResult, out_dir: Path, title: str = "prompt-harness report") -> Path:
    """Write report.html and report-data/ (replacing both whole); return the page's path."""
    from harness.report.html import _rows_context, _summary_context, environment, run_models
    from harness.results.variant_table import has_variants, variant_table
    from harness.report.variant_text import first_rows, grid_payload

    out_dir = Path(out_dir)
    heads = list(light(run.cases))
    rank = {s: i for i, s in enumerate(STATUS_ORDER)}
    order = sorted(range(len(heads)), key=lambda i: rank.get(heads[i].status, len(rank)))  # as run_payload sorts
    cases = run.cases.reordered(order) if hasattr(run.cases, "reordered") else [run.cases[i] for i in order]
    ordered_heads = [heads[i] for i in order]
    view = RunView.of(run)
    variants = has_variants(run.cases)
    page = environment().get_template("report.html").render(
        title=title, version=__version__, run=run, models=run_models(run),
        mode=run.settings.get("cassettes") or "\u2014", **_summary_context(run.summary), **_rows_context(run),
        data=Markup(_MARK), variants=variants, split=True,
    )  # fmt: skip
    head, tail = page.split(_MARK)
    out_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{DATA_DIR}.", dir=out_dir))
    try:
        def fill(f: IO[str]) -> None:
            f.write(head)
            f.write(_json({"kind": "run", "split": {"dir": DATA_DIR, "size": CHUNK}})[:-1] + ',"cases":[')
            details: list[dict[str, Any]] = []
            chunks = 0
            for i, c in enumerate(cases):
                row = case_payload(c)
                details.append({"tx": row.pop("tx"), "t": row.pop("t")})
                o = view.outcome(c)
                if o is not None and (o.repeats > 1 or o.tolerated):
                    row["ag"] = [o.passed, o.repeats, o.status, o.flaky, view.note(c)]
                f.write(("," if i else "") + _json(row))
                if len(details) == CHUNK:
                    _write_chunk(staging, chunks, details)
                    chunks, details = chunks + 1, []
            if details:
                _write_chunk(staging, chunks, details)
            f.write("]")
            if variants:
                f.write(',"grid":' + _json(grid_payload(variant_table(run.cases), first_rows(ordered_heads, ordered_heads))))
            f.write(',"outcomes":[')
            for j, o in enumerate(view.outcomes):
                f.write(("," if j else "") + _json({"s": o.suite, "i": o.label, "n": o.repeats, "p": o.passed,
                                                    "st": o.status, "rate": o.pass_rate, "fl": o.flaky,
                                                    "af": o.allow_fail, "tol": o.tolerated, "sc": o.score}))  # fmt: skip
            f.write("]}")
            f.write(tail)

        path = out_dir / "report.html"
        final = out_dir / DATA_DIR
        write_atomic(path, fill)
        old = None
        if final.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{DATA_DIR}.old.", dir=out_dir))
            final.rename(old / DATA_DIR)
        staging.rename(final)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return path


def _write_chunk(folder: Path, number: int, details: list[dict[str, Any]]) -> None:
    text = f"H.chunk({number},{json.dumps(details, ensure_ascii=False, separators=(',', ':'), default=str)});\n"
    (folder / f"cases-{number:05d}.js").write_text(text, encoding="utf-8", errors=STORABLE_ERRORS)


def remove_split_data(out_dir: Path) -> None:
    """A report written in one file replaces a split one: drop the old detail files (only if that is all the
    folder holds: nothing else is ever deleted)."""
    folder = Path(out_dir) / DATA_DIR
    try:
        names = [p.name for p in folder.iterdir()]
    except OSError:
        return
    if all(n.startswith("cases-") and n.endswith(".js") for n in names):
        shutil.rmtree(folder, ignore_errors=True)
