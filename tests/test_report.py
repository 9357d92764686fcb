"""The reports a run leaves behind (report.html, summary.md, junit.xml), without a browser."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

from harness.core.result import load_run
from harness.report import write_compare_reports, write_run_reports
from harness.report.html import render_run_html
from harness.report.markdown import LIMIT, compare_summary, md_text, run_summary
from harness.results.compare import compare_runs
from harness.results.transcript import transcript
from tests.synthetic import synthetic_run

XSS = '<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2"> & </script>'
SUITE = f"""
suite: shop
model: fake-model
system: "You sell <b>routers</b>."
cases:
  - id: hello
    messages:
      - {{role: user, content: "Earlier question"}}
      - {{role: assistant, content: "Earlier answer"}}
    turns:
      - user: "Hi [[reply:Hello there]]"
        expect: [{{contains: Hello}}]
      - user: 'Reply with markup [[reply:{XSS}]]'
        expect: [{{contains: never-there}}]
  - id: broken
    turns:
      - user: "[[error:400]]"
  - id: fine
    turns:
      - user: "ok [[reply:fine \\x1b[31mred\\0]]"
"""


def embedded(page: str) -> dict:
    blob = page.split('<script type="application/json" id="data">')[1].split("</script>")[0]
    return json.loads(blob)


def run_suite(harness_cli, write_suite, fake_server) -> Path:
    suite = write_suite(SUITE)
    r = harness_cli("run", suite, "--cassettes", "off", "--base-url", fake_server.base_url, "-q", "--out", "out")
    assert r.code == 3, r.out + r.err
    return suite.parent / "out"


def test_run_writes_all_reports_next_to_results(fake_server, harness_cli, write_suite):
    out = run_suite(harness_cli, write_suite, fake_server)
    assert {"junit.xml", "report.html", "results.json", "summary.md"} <= {p.name for p in out.iterdir()}


def test_report_html_is_self_contained_and_never_breaks_out_of_its_data(fake_server, harness_cli, write_suite):
    page = (run_suite(harness_cli, write_suite, fake_server) / "report.html").read_text()
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page), "no network resources"
    assert "@import" not in page and "url(" not in page
    assert page.count("</script>") == 2  # the data blob and the code: the reply's </script> is escaped
    assert "<script>window.__pwned" not in page and "<img src=x" not in page
    data = embedded(page)
    hello = next(c for c in data["cases"] if c["i"] == "hello")
    assert hello["st"] == "failed"
    kinds = [(e[1], e[2], e[3]) for e in hello["tx"]]
    assert kinds[:4] == [("system", "system", "You sell <b>routers</b>."), ("history", "user", "Earlier question"),
                         ("history", "assistant", "Earlier answer"), ("input", "user", "Hi [[reply:Hello there]]")]
    assert kinds[4] == ("reply", "assistant", "Hello there")
    assert kinds[-1] == ("reply", "assistant", XSS)  # the text survives exactly, to be shown as text
    assert [c[0:2] for c in hello["t"][1]["ck"]] == [["contains", False], ["not_truncated", True]]
    assert hello["why"].startswith("turn 2 contains: expected reply to contain 'never-there'")
    assert data["cases"][0]["st"] == "error"  # attention first: errors, then failures, then passes


def test_report_header_totals_are_escaped(fake_server, harness_cli, write_suite):
    page = (run_suite(harness_cli, write_suite, fake_server) / "report.html").read_text()
    header = page.split('<section class="cases"')[0]
    assert "2 of 3 cases need attention" in header
    assert re.search(r'class="v">1</span><span class="k">passed', header)
    assert "fake-model" in header and "off" in header


def test_embedded_json_cannot_close_its_script_element():
    from harness.report.html import embed_json

    text = str(embed_json({"a": "</script><!-- \u2028 & '"}))
    assert "<" not in text and ">" not in text and "&" not in text and "\u2028" not in text
    assert json.loads(text) == {"a": "</script><!-- \u2028 & '"}


def test_transcript_keeps_each_message_once():
    run = load_run(Path(__file__).parent / "data/examples-head-french.json")
    wifi = next(c for c in run.cases if c.id == "wifi-drops")
    entries = transcript(wifi.turns)
    assert [(e.turn, e.kind, e.role) for e in entries] == [
        (1, "system", "system"), (1, "input", "user"), (1, "reply", "assistant"),
        (2, "input", "user"), (2, "reply", "assistant"), (3, "input", "user"), (3, "reply", "assistant"),
    ]  # fmt: skip
    tools = next(c for c in run.cases if c.id == "weather-paris")
    roles = [(e.turn, e.kind, e.role) for e in transcript(tools.turns)]
    assert roles[:3] == [(1, "input", "user"), (1, "reply", "assistant"), (2, "input", "tool")]
    assert transcript(tools.turns)[1].text.startswith("get_weather(")


def test_summary_md_lists_failures_with_reasons_and_escapes_markup(fake_server, harness_cli, write_suite):
    summary = (run_suite(harness_cli, write_suite, fake_server) / "summary.md").read_text()
    assert summary.startswith("### ❌ prompt-harness: 1 passed, 1 failed, 1 errored of 3 cases")
    assert summary.index("#### Errored (1)") < summary.index("#### Failed (1)")
    assert "**shop / broken** — error: turn 1: " in summary
    assert "turn 2 `contains`: expected reply to contain 'never-there'" in summary
    assert "<script" not in summary and "<img" not in summary and "&lt;img src=x onerror=" in summary


def test_md_text_neutralises_markdown_and_html():
    assert md_text("a|b *c* <i>x</i> [l](http://x) `c`") == (
        "a\\|b \\*c\\* &lt;i&gt;x&lt;/i&gt; \\[l\\](http://x) \\`c\\`")
    assert md_text("x" * 500, 50).endswith("…") and len(md_text("x" * 500, 50)) == 50


def test_summary_md_stays_under_the_limit_with_a_note_for_large_runs():
    base, head = synthetic_run(3_000), synthetic_run(3_000, variant=True)
    run_md = run_summary(head)
    assert len(run_md.encode()) < LIMIT
    assert re.search(r"_… [\d,]+ more cases not shown to keep this summary short; see report.html._", run_md)
    cmp_md = compare_summary(compare_runs(base, head))
    assert len(cmp_md.encode()) < LIMIT
    assert cmp_md.index("#### Regressed") < cmp_md.index("more cases not shown")


def test_junit_xml_has_a_testcase_per_case_with_reasons_and_errors(fake_server, harness_cli, write_suite):
    root = ET.parse(run_suite(harness_cli, write_suite, fake_server) / "junit.xml").getroot()
    assert (root.tag, root.get("tests"), root.get("failures"), root.get("errors")) == ("testsuites", "3", "1", "1")
    cases = {tc.get("name"): tc for tc in root.iter("testcase")}
    assert set(cases) == {"hello", "broken", "fine"}
    failure = cases["hello"].find("failure")
    assert failure is not None and "turn 2 contains: expected reply to contain 'never-there'" in failure.get("message")
    assert "<script>window.__pwned" in cases["hello"].find("system-out").text  # escaped by XML, readable in CI
    error = cases["broken"].find("error")
    assert error is not None and "400" in error.get("message")
    assert cases["fine"].find("failure") is None and cases["fine"].get("classname") == "shop"


def test_compare_reports_write_their_three_files(tmp_path):
    run = load_run(Path(__file__).parent / "data/examples-head-french.json")
    files = write_compare_reports(compare_runs(run, run), tmp_path)
    assert sorted(files) == ["diff.html", "junit.xml", "summary.md"]
    assert all(p.exists() for p in files.values())
    assert ET.parse(files["junit.xml"]).getroot().get("failures") == "0"


def test_large_run_renders_quickly_enough_to_embed(tmp_path):
    run = synthetic_run(2_000)
    paths = write_run_reports(run, tmp_path)
    page = paths["report.html"].read_text()
    assert len(embedded(page)["cases"]) == 2_000
    assert "<script>window.__pwned" not in render_run_html(run)


def test_repeats_are_counted_from_1_for_people_and_from_0_in_results_json(fake_server, harness_cli, write_suite):
    suite = write_suite("""
        model: m
        repeat: 2
        cases:
          - id: bad
            turns: [{user: hi, expect: [{contains: nope}]}]
          - id: good
            turns: [{user: hi}]
    """)
    r = harness_cli("run", suite, "--cassettes", "off", "--base-url", fake_server.base_url, "-q", "--out", "out")
    assert r.code == 1, r.out + r.err
    assert "bad [repeat 1]" in r.out and "bad [repeat 2]" in r.out and "[repeat 0]" not in r.out
    lines = r.out.splitlines()
    header = next(i for i, line in enumerate(lines) if "pass_if" in line)  # the pass rates over repeats
    assert lines[header].split()[-1] == "pass_if"
    assert len(lines[header + 1].split()) == 6  # one rule per column: no empty columns after pass_if
    junit = {tc.get("name") for tc in ET.parse(suite.parent / "out/junit.xml").getroot().iter("testcase")}
    assert {"bad [repeat 1]", "bad [repeat 2]"} <= junit
    data = json.loads((suite.parent / "out/results.json").read_text())
    assert sorted(c["repeat"] for c in data["cases"] if c["id"] == "bad") == [0, 1]  # the JSON field stays 0-based


TOOL_SUITE = """
suite: weather
model: fake-model
cases:
  - id: paris
    turns:
      - user: 'Weather? [[tool:get_weather {"city": "Paris"}]]'
        expect: [{tool_call: get_weather}]
      - tool_results: {get_weather: "18 C, cloudy"}
        user: "Umbrella?"
"""


def test_a_tool_message_is_titled_by_its_function_not_its_call_id(fake_server, harness_cli, write_suite, tmp_path):
    suite = write_suite(TOOL_SUITE)
    r = harness_cli("run", suite, "--cassettes", "off", "--base-url", fake_server.base_url, "-q", "--out", "a")
    assert r.code == 0, r.out + r.err
    case = load_run(tmp_path / "a/results.json").cases[0]
    tool = next(e for e in transcript(case.turns) if e.role == "tool")
    assert (tool.name, tool.text) == ("get_weather", "18 C, cloudy")
    row = embedded((tmp_path / "a/report.html").read_text())["cases"][0]
    assert ["get_weather"] == [e[4] for e in row["tx"] if e[2] == "tool"]
    # a second run gets other call ids from the server: compare sees the same tool message, not a new one
    assert harness_cli("run", suite, "--cassettes", "off", "--base-url", fake_server.base_url, "-q",
                       "--out", "b").code == 0  # fmt: skip
    cmp = compare_runs(load_run(tmp_path / "a/results.json"), load_run(tmp_path / "b/results.json"))
    assert cmp.cases[0].prompt == []
