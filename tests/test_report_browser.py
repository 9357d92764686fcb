"""report.html and diff.html in headless Chromium: filters, search, untrusted markup, scale, screenshots.

Set HARNESS_UPDATE_SCREENSHOTS=1 to write docs/report.png and docs/diff.png
(the README's pictures) instead of copies under the test's tmp_path; then
shrink them with `pngquant --quality 70-90 --strip --ext .png --force docs/*.png`.
"""

from __future__ import annotations

import os
import struct
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from harness.core.result import CheckResult, load_run, save_run
from harness.report import write_compare_reports, write_run_reports
from harness.results.compare import compare_runs
from tests.synthetic import synthetic_run
from tests.test_compare import AFTER, BEFORE, _case, _record_and_run, _run
from tests.test_report import XSS, run_suite

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]  # fmt: skip
READY = "() => window.harnessReady"


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.skip(f"Chromium not found at {CHROMIUM}: install Debian's `chromium` package (.ci/run does)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


@pytest.fixture
def open_page(browser):
    """Open a local file in a fresh context; collects console errors and uncaught exceptions."""
    contexts = []

    def open_(path: Path, width: int = 1280, bypass_csp: bool = False, hash: str = ""):
        context = browser.new_context(viewport={"width": width, "height": 900}, bypass_csp=bypass_csp)
        contexts.append(context)
        page = context.new_page()
        page.errors = []
        page.on("console", lambda m: page.errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: page.errors.append(str(e)))
        page.goto(path.as_uri() + hash)
        page.wait_for_function(READY, timeout=20_000)
        return page

    yield open_
    for c in contexts:
        c.close()


def off_loop(fn, *args):
    """Run harness code in a thread: Playwright's sync API keeps an event loop running in this one."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(fn, *args).result()


def row_ids(page) -> list[str]:
    return page.locator("#rows tr.row .cid").all_inner_texts()


def test_report_loads_clean_and_filters_and_search_work(open_page, fake_server, harness_cli, write_suite):
    page = open_page(off_loop(run_suite, harness_cli, write_suite, fake_server) / "report.html")
    assert page.errors == []
    assert row_ids(page) == ["broken", "hello", "fine"]  # errors, failures, then passes
    assert "2 of 3 cases need attention" in page.locator("h1").inner_text()
    page.click("#filters [data-filter=failed]")
    assert row_ids(page) == ["hello"]
    page.click("#filters [data-filter=error]")
    assert row_ids(page) == ["broken"]
    page.click("#filters [data-filter=passed]")
    assert row_ids(page) == ["fine"]
    page.click("#filters [data-filter=all]")
    page.fill("#search", "hello THERE")  # every word, any case, anywhere in the transcript
    page.wait_for_function("() => document.querySelectorAll('#rows tr.row').length === 1")
    assert row_ids(page) == ["hello"]
    page.fill("#search", "no case says this")
    page.wait_for_function("() => !document.getElementById('empty').hidden")
    assert page.locator("#range").inner_text() == "0 cases"
    page.fill("#search", "")
    page.wait_for_function("() => document.querySelectorAll('#rows tr.row').length === 3")
    page.locator("#rows tr.row", has_text="broken").click()
    assert "injected error 400" in page.locator("tr.detail").inner_text()
    assert page.errors == []


def test_markup_in_a_reply_is_shown_as_text_and_never_runs(open_page, fake_server, harness_cli, write_suite):
    # CSP off: the page's own discipline (textContent, escaped JSON) is what is under test
    page = open_page(off_loop(run_suite, harness_cli, write_suite, fake_server) / "report.html", bypass_csp=True)
    page.locator("#rows tr.row", has_text="hello").click()
    reply = page.locator(".msg.kind-reply .text").last
    reply.wait_for()
    assert reply.inner_text() == XSS
    assert page.locator("#rows img, #rows script").count() == 0
    page.wait_for_timeout(300)
    assert page.evaluate("() => typeof window.__pwned") == "undefined"
    system = page.locator(".msg.kind-system .text").inner_text()
    assert system == "You sell <b>routers</b>."
    assert page.errors == []


def test_a_link_to_a_case_opens_it_and_the_page_fits_a_phone(open_page, fake_server, harness_cli, write_suite):
    out = off_loop(run_suite, harness_cli, write_suite, fake_server)
    page = open_page(out / "report.html", width=390, hash="#shop%2Fhello")
    assert page.locator("tr.row.open .cid").inner_text() == "hello"
    assert page.locator("tr.detail .msg").count() >= 6
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 391  # no sideways scrolling
    assert page.errors == []


@pytest.mark.parametrize("fragment", ["#%", "#%E0%A4%A", "#shop%2F%zz"])
def test_a_malformed_link_fragment_still_shows_the_whole_report(fragment, open_page, fake_server, harness_cli,
                                                                write_suite):  # fmt: skip
    """On main `#%` threw URIError before the table was drawn: an empty page."""
    out = off_loop(run_suite, harness_cli, write_suite, fake_server)
    page = open_page(out / "report.html", hash=fragment)
    assert row_ids(page) == ["broken", "hello", "fine"]
    assert page.locator("tr.row.open").count() == 0
    assert page.errors == []


def test_diff_html_shows_prompt_change_reply_diff_and_flipped_checks(open_page, fake_server, harness_cli, write_suite,
                                                                    tmp_path):  # fmt: skip
    assert off_loop(_record_and_run, harness_cli, write_suite, fake_server, BEFORE, "base").code == 0
    assert off_loop(_record_and_run, harness_cli, write_suite, fake_server, AFTER, "head").code == 1
    assert harness_cli("compare", "base", "head").code == 1
    page = open_page(tmp_path / "reports/compare/diff.html")
    assert page.errors == []
    assert "Gate failed" in page.locator("#verdict").inner_text()
    assert "1 case regressed (allowed: 0)" in page.locator("#verdict").inner_text()
    page.click("#filters [data-filter=regressed]")
    assert row_ids(page) == ["wifi"]
    page.locator("#rows tr.row").first.click()
    detail = page.locator("tr.detail")
    assert "Be brief." in detail.locator(".change", has_text="system prompt").locator("ins").all_inner_texts()[0]
    turn1 = detail.locator(".change", has_text="turn 1").first
    assert "".join(turn1.locator("del").all_inner_texts()).strip() == "restart the router and"
    assert turn1.locator(".diff").inner_text() == "Please restart the router and wait a minute."
    flipped = detail.locator("table.kv tr", has_text="contains").inner_text()
    assert "✓ pass" in flipped and "✗ fail" in flipped and "expected reply to contain 'restart'" in flipped
    assert page.errors == []


def test_10k_case_report_becomes_interactive_within_budget(open_page, tmp_path):
    paths = write_run_reports(synthetic_run(10_000), tmp_path)
    t0 = time.perf_counter()
    page = open_page(paths["report.html"])
    elapsed = time.perf_counter() - t0
    assert elapsed < 10, f"took {elapsed:.1f} s"  # generous; benchmarks/report_bench.py measures it
    assert page.locator("#rows tr.row").count() == 100  # one page of rows, not 10,000
    page.click("#filters [data-filter=failed]")
    assert page.locator("#rows tr.row .pill").first.inner_text() == "failed"
    assert " of " in page.locator("#range").inner_text()
    page.locator("#rows tr.row").first.click()
    assert page.locator("tr.detail .msg").count() >= 3
    assert page.errors == []


def _png_size(path: Path) -> tuple[int, int]:
    return struct.unpack(">II", path.read_bytes()[16:24])


def test_screenshots_of_the_examples(open_page, harness_cli, monkeypatch, tmp_path):
    """The README's pictures: the examples replayed (base) against a re-recorded edit of the support prompt."""
    monkeypatch.chdir(ROOT)  # replay reads evals/ and cassettes/ and writes only to tmp_path
    base = off_loop(harness_cli, "run", "evals/", "--out", tmp_path / "base", "-q")
    assert base.code == 0, base.out + base.err
    head = load_run(ROOT / "tests/data/examples-head-french.json")  # support's prompt edited; recorded by hand
    write_run_reports(head, tmp_path / "head")
    base = load_run(tmp_path / "base/results.json")
    comparison = compare_runs(base, head, base_name="main: evals/", head_name="edit: answer in French")
    write_compare_reports(comparison, tmp_path / "cmp")
    where = ROOT / "docs" if os.environ.get("HARNESS_UPDATE_SCREENSHOTS") else tmp_path / "docs"
    where.mkdir(exist_ok=True)
    for name, page_path in (("report.png", tmp_path / "head/report.html"), ("diff.png", tmp_path / "cmp/diff.html")):
        page = open_page(page_path, width=1200)
        page.locator("#rows tr.row").first.click()
        page.wait_for_selector("tr.detail")
        page.screenshot(path=str(where / name), full_page=True)
        assert page.errors == []
        assert _png_size(where / name)[0] == 1200


def test_diff_html_shows_a_forgotten_re_record_as_not_run_and_strikes_nothing(open_page, fake_server, harness_cli,
                                                                             write_suite, tmp_path):  # fmt: skip
    from tests.test_compare_gate import EDIT, SUPPORT

    suite = write_suite(SUPPORT, "evals/support.yaml")
    record = ("run", "evals", "--cassettes", "record-missing", "--base-url", fake_server.base_url, "--out", "base", "-q")
    assert off_loop(harness_cli, *record).code == 0
    suite.write_text(suite.read_text().replace(*EDIT))
    assert off_loop(harness_cli, "run", "evals", "--out", "head", "-q").code == 3
    assert harness_cli("compare", "base", "head", "--out", "cmp").code == 3
    page = open_page(tmp_path / "cmp/diff.html")
    assert page.errors == []
    assert page.locator("h1").inner_text() == "3 need re-record, 0 regressed, 0 fixed, 0 still failing"
    command = page.locator("#rerecord pre").inner_text()
    assert command.startswith("harness run evals/support.yaml --case wifi-drops --case greeting --case known-bad")
    page.click("#filters [data-filter='needs re-record']")
    assert row_ids(page) == ["wifi-drops", "greeting", "known-bad"]
    page.locator("#rows tr.row").first.click()
    detail = page.locator("tr.detail")
    assert detail.locator("del").count() == 0  # no reply, no turn is struck through
    assert detail.locator("ins").all_inner_texts() == [" Be warm."]  # the prompt's own edit is all that is marked
    assert detail.locator(".change", has_text="turn 3").locator(".pill").inner_text() == "not run"
    assert detail.locator(".pill", has_text="removed").count() == 0 and "turn 2 user" not in detail.inner_text()
    page.screenshot(path=str(tmp_path / "needs-re-record.png"), full_page=True)
    assert page.errors == []


def test_diff_html_says_when_a_flipped_check_was_itself_edited(open_page, harness_cli, tmp_path):
    for side, expected, passed in (("base", "TOK-C", True), ("head", "<b>TOK-C3</b>", False)):
        case = _case("passed" if passed else "failed", "a", reply="TOK-C", passed=passed)
        case.turns[0].checks[0] = CheckResult("contains", passed, "ok" if passed else "not in the reply", expected=expected)
        save_run(_run(case), tmp_path / side / "results.json")
    assert harness_cli("compare", "base", "head", "--out", "cmp").code == 1
    page = open_page(tmp_path / "cmp/diff.html")
    page.locator("#rows tr.row").first.click()
    flipped = page.locator("tr.detail table.kv tr", has_text="contains")
    assert flipped.locator(".note").inner_text() == "check edited: expected 'TOK-C' -> '<b>TOK-C3</b>'"  # as text
    assert page.errors == []
