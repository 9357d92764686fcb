"""A report too large for one file (issue #19): the table in report.html, transcripts in report-data/.

Written from a run read back from its journal, as `harness run` writes it, and driven in headless
Chromium: it opens, filters and searches, and a case's transcript loads from its chunk when opened.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.execution.journal import RunFolder
from harness.report import write_run_reports
from harness.report.html_split import CHUNK, DATA_DIR
from tests.synthetic import synthetic_run
from tests import test_report_browser


pytestmark = pytest.mark.browser
browser, open_page = test_report_browser.browser, test_report_browser.open_page  # headless Chromium fixtures

CASES = 20_000


def _journaled(run, folder: Path):  # type: ignore[no-untyped-def]
    """The run as `harness run` hands it to the reports: its cases read back from journal.jsonl."""
    journal = RunFolder(folder).start(run.settings)
    for case in run.cases:
        journal.append(case)
    journal.close()
    run.cases = journal.cases([journal.find(c.key) for c in run.cases])
    return run


@pytest.fixture(scope="module")
def big_report(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("split")
    write_run_reports(_journaled(synthetic_run(CASES), out), out)
    return out


def test_a_large_run_splits_its_report_and_every_case_still_opens(open_page, big_report):
    chunks = sorted(p.name for p in (big_report / DATA_DIR).iterdir())
    assert chunks == [f"cases-{n:05d}.js" for n in range(CASES // CHUNK)]
    page_mb = (big_report / "report.html").stat().st_size / 1e6
    assert page_mb < 12, f"{page_mb:.1f} MB"  # the table only: the transcripts are in the chunks
    page = open_page(big_report / "report.html")
    assert page.locator("#range").inner_text() == "1\u2013100 of 20,000"
    assert page.locator("#rows tr.row").count() == 100
    page.locator("#rows tr.row").first.click()
    page.wait_for_selector("tr.detail .chat")
    assert page.locator("tr.detail .msg").count() >= 2  # system, user (errored first): loaded from cases-00000.js
    page.click("#filters [data-filter=passed]")  # passes sort last
    page.click("#next")
    assert page.locator("#rows tr.row .pill").first.inner_text() == "passed"
    page.locator("#rows tr.row").first.click()
    page.wait_for_selector("tr.detail .chat")
    assert page.locator("tr.detail .msg.kind-reply").count() >= 1  # another chunk, loaded when this case opened
    page.click("#filters [data-filter=all]")
    page.fill("#search", "case-19999")  # the search covers ids, statuses and reasons
    page.wait_for_function("() => document.querySelectorAll('#rows tr.row').length === 1")
    page.locator("#rows tr.row").first.click()
    page.wait_for_selector("tr.detail .chat")
    assert page.locator("tr.detail .msg").count() >= 2
    assert page.errors == []


def test_a_case_whose_chunk_is_missing_says_so(open_page, big_report, tmp_path):
    copy = tmp_path / "moved"
    copy.mkdir()
    (copy / "report.html").write_bytes((big_report / "report.html").read_bytes())  # without report-data/
    page = open_page(copy / "report.html")
    page.locator("#rows tr.row").first.click()
    page.wait_for_selector("tr.detail .errbox")
    assert "keep the report-data folder next to report.html" in page.locator("tr.detail .errbox").inner_text()
    assert page.locator("#rows tr.row").count() == 100  # the table still works


def test_a_small_run_written_over_a_split_report_is_one_file_again(tmp_path, monkeypatch):
    import harness.report.html_split as html_split

    out = tmp_path / "out"
    monkeypatch.setattr(html_split, "SPLIT_ABOVE", 40)  # splitting is by size: make 41 cases "large"
    write_run_reports(synthetic_run(41), out)
    assert (out / DATA_DIR).is_dir()
    split_page = (out / "report.html").read_text(encoding="utf-8")
    assert "with the report-data folder beside it" in split_page and "Self-contained" not in split_page  # footer
    write_run_reports(synthetic_run(30), out)
    assert not (out / DATA_DIR).exists()
    text = (out / "report.html").read_text(encoding="utf-8")
    assert "Self-contained: opens from disk, loads nothing from the network" in text
    data = json.loads(text.split('<script type="application/json" id="data">')[1].split("</script>")[0])
    assert "split" not in data and len(data["cases"]) == 30 and "tx" in data["cases"][0]
