"""The variants grid of report.html in headless Chromium: every cell, filters, side-by-side replies, untrusted markup."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from harness.report import write_run_reports
from tests.synthetic import synthetic_variant_run
from tests.test_report import XSS
from tests.test_report_browser import ROOT, browser, off_loop, open_page  # noqa: F401 (fixtures)

pytestmark = pytest.mark.browser

SUITE = f"""
suite: shop
model: m
system: "You sell routers."
variants:
  - name: baseline
  - name: terse
    system: "Be terse. [[reply:ok]]"
  - name: evil
    system: '[[reply:{XSS} echo]]'
cases:
  - id: greet
    turns:
      - user: "Hello there"
        expect: [{{not_contains: zzz}}]
  - id: price
    turns:
      - user: "How much is it"
        expect: [{{contains: How}}]
"""


def _record(harness_cli, write_suite, fake_server) -> Path:
    suite = write_suite(SUITE)
    r = harness_cli("run", suite, "--cassettes", "record-missing", "--base-url", fake_server.base_url, "-q")
    assert r.code == 1, r.err
    return suite.parent / "reports/latest/report.html"


def test_grid_shows_every_cell_filters_and_replies_side_by_side(open_page, fake_server, harness_cli, write_suite):  # noqa: F811 (the imported fixture)
    page = open_page(off_loop(_record, harness_cli, write_suite, fake_server), bypass_csp=True)
    assert page.errors == []
    heads = page.locator("#vhead th.vcol").all_inner_texts()
    assert [h.splitlines()[0] for h in heads] == ["baseline", "terse", "evil"]
    assert "100%" in heads[0] and "(34%\u2013100%)" in heads[0] and "p50" in heads[0]
    assert "50%" in heads[1]
    assert page.locator("#vrows tr.vrow").count() == 2
    assert page.locator("#vrows td.vcell .pill").count() == 6  # every case under every variant
    page.check("#vdisagree")
    assert page.locator("#vrows tr.vrow .cid").all_inner_texts() == ["price"]
    page.uncheck("#vdisagree")
    page.select_option("#vx", label="terse")
    page.select_option("#vy", label="baseline")
    assert page.locator("#vrows tr.vrow .cid").all_inner_texts() == ["price"]
    page.select_option("#vx", label="baseline")
    assert page.locator("#vrange").inner_text() == "no case matches"
    page.select_option("#vx", index=0)
    page.select_option("#vy", index=0)
    page.locator("#vrows tr.vrow", has_text="price").click()
    panes = page.locator("tr.vdetail .vpane")
    assert panes.count() == 3
    assert panes.nth(0).locator(".vtext").inner_text() == "echo: How much is it"
    assert panes.nth(1).locator("mark.vdiff").all_inner_texts() == ["ok"]  # differs from the reference
    evil = panes.nth(2).locator(".vtext").inner_text()
    assert evil == f"{XSS} echo"  # markup shown as text
    assert page.locator("#variant-grid img, #variant-grid script").count() == 0
    panes.nth(1).locator("button.vrefbtn").click()  # compare to terse instead
    assert page.locator("tr.vdetail .vpane.vref b").inner_text() == "terse"
    page.wait_for_timeout(200)
    assert page.evaluate("() => typeof window.__pwned") == "undefined"
    assert page.errors == []


def test_1000_cases_by_4_variants_open_interactive(open_page, tmp_path):  # noqa: F811 (the imported fixture)
    paths = write_run_reports(synthetic_variant_run(1_000), tmp_path)
    t0 = time.perf_counter()
    page = open_page(paths["report.html"])
    elapsed = time.perf_counter() - t0
    assert elapsed < 10, f"took {elapsed:.1f} s"  # generous; benchmarks/report_bench.py --grid measures it
    assert page.locator("#vrows tr.vrow").count() == 100  # one page of rows
    assert page.locator("#vhead th.vcol").count() == 4
    page.check("#vdisagree")
    assert " of " in page.locator("#vrange").inner_text()
    page.locator("#vrows tr.vrow").first.click()
    assert page.locator("tr.vdetail .vpane").count() == 4
    assert page.errors == []


def test_screenshot_of_the_grid(open_page, harness_cli, monkeypatch, tmp_path):  # noqa: F811 (the imported fixture)
    """docs/grid.png: the variants example of evals/ replayed, one row opened."""
    monkeypatch.chdir(ROOT)
    r = off_loop(harness_cli, "run", "evals/variants.yaml", "--out", tmp_path / "v", "-q")
    assert r.code in (0, 1), r.out + r.err
    where = ROOT / "docs" if os.environ.get("HARNESS_UPDATE_SCREENSHOTS") else tmp_path / "docs"
    where.mkdir(exist_ok=True)
    page = open_page(tmp_path / "v/report.html", width=1200)
    page.check("#vdisagree") if page.locator("#vrange").inner_text() != "no case matches" else None
    page.locator("#vrows tr.vrow").first.click()
    page.wait_for_selector("tr.vdetail")
    page.locator("#variant-grid").screenshot(path=str(where / "grid.png"))
    assert page.errors == []
