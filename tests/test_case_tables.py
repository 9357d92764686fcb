"""`cases_from:`: cases generated from CSV, JSON Lines, YAML and JSON tables (harness/suites/case_tables.py and
harness/suites/data_tables.py), through the real CLI and the fake OpenAI server."""

from __future__ import annotations

import json
import shutil
import textwrap
from pathlib import Path

import pytest

SUITE = """
suite: tickets
model: fake-model
cases_from:
  file: data/tickets.csv
  id: "{{ ticket_id }}"
  turns:
    - user: "Ticket {{ ticket_id }}: {{ text }}"
      expect:
        - contains: "{{ intent }}"
"""
CSV = "ticket_id,text,intent\nT-1,please repair my router,repair\nT-2,\"I want a refund, now\",refund\nT-3,hello,refund\n"


def write(tmp_path: Path, suite: str = SUITE, **tables: str) -> None:
    """evals/tickets.yaml and its data files (file name -> text) under evals/data/."""
    (tmp_path / "evals/data").mkdir(parents=True, exist_ok=True)
    for name, text in ({"tickets.csv": CSV} | tables).items():
        (tmp_path / "evals/data" / name).write_text(text)
    (tmp_path / "evals/tickets.yaml").write_text(textwrap.dedent(suite).lstrip())


def live(harness_cli, fake_server, *args: str):
    return harness_cli("run", "evals/", "--cassettes", "off", "--base-url", fake_server.base_url, "-q", *args)


def results(tmp_path: Path, out: str = "reports/latest") -> dict:
    return json.loads((tmp_path / out / "results.json").read_text())


def test_each_row_is_a_case_named_by_its_data_id_with_the_columns_as_vars(harness_cli, fake_server, tmp_path):
    write(tmp_path)
    r = live(harness_cli, fake_server)
    assert r.code == 1  # T-3 says hello, not refund
    cases = {c["id"]: c for c in results(tmp_path)["cases"]}
    assert list(cases) == ["T-1", "T-2", "T-3"]
    assert [c["status"] for c in cases.values()] == ["passed", "passed", "failed"]
    sent = sorted(req.body["messages"][-1]["content"] for req in fake_server.requests)  # cases run concurrently
    assert sent == ["Ticket T-1: please repair my router", "Ticket T-2: I want a refund, now", "Ticket T-3: hello"]
    assert "expected reply to contain 'refund'" in cases["T-3"]["turns"][0]["checks"][0]["reason"]
    assert [line.split()[1] for line in harness_cli("list", "evals/").out.splitlines()[2:]] == ["T-1", "T-2", "T-3"]


@pytest.mark.parametrize("name, text", [
    ("tickets.jsonl", '{"ticket_id": "T-1", "text": "repair it", "intent": "repair"}\n\n'
                      '{"ticket_id": "T-2", "text": "refund me", "intent": "refund"}\n'),
    ("tickets.yaml", "- {ticket_id: T-1, text: repair it, intent: repair}\n"
                     "- {ticket_id: T-2, text: refund me, intent: refund}\n"),
    ("tickets.json", '[\n  {"ticket_id": "T-1", "text": "repair it", "intent": "repair"},\n'
                     '  {"ticket_id": "T-2", "text": "refund me", "intent": "refund"}\n]\n'),
])  # fmt: skip
def test_jsonl_yaml_and_json_tables_work_like_csv(name, text, harness_cli, fake_server, tmp_path):
    write(tmp_path, SUITE.replace("tickets.csv", name), **{name: text})
    assert live(harness_cli, fake_server).code == 0
    assert [c["id"] for c in results(tmp_path)["cases"]] == ["T-1", "T-2"]


def test_a_yaml_table_beside_the_suites_is_read_as_data_not_as_a_suite(harness_cli, fake_server, tmp_path):
    write(tmp_path, SUITE.replace("tickets.csv", "tickets.yaml"), **{"tickets.yaml": "- {ticket_id: A, text: a, intent: a}\n"})
    r = harness_cli("validate", "evals/")
    assert r.code == 0 and r.out.startswith("ok: 1 suite, 1 case"), r.err


def test_several_tables_and_written_cases_sit_together(harness_cli, fake_server, tmp_path):
    write(tmp_path, """
        suite: tickets
        model: fake-model
        cases:
          - id: written
            turns: [{user: hi}]
        cases_from:
          - file: data/tickets.csv
            id: "{{ ticket_id }}"
            turns: [{user: "{{ text }}"}]
          - file: data/more.jsonl
            id: "more-{{ n }}"
            vars: {greeting: Hello}
            turns: [{user: "{{ greeting }} {{ n }}"}]
    """, **{"more.jsonl": '{"n": 1}\n{"n": 2}\n'})
    assert live(harness_cli, fake_server).code == 0
    assert [c["id"] for c in results(tmp_path)["cases"]] == ["written", "T-1", "T-2", "T-3", "more-1", "more-2"]
    assert "Hello 2" in {req.body["messages"][-1]["content"] for req in fake_server.requests}


def test_ids_stay_put_when_rows_are_reordered_so_cassettes_do_not_churn(harness_cli, fake_server, tmp_path):
    write(tmp_path, SUITE.replace('  id: "{{ ticket_id }}"\n', ""))  # no id template: ids from the row's content
    assert harness_cli("run", "evals/", "--cassettes", "record", "--base-url", fake_server.base_url, "-q").code == 1
    before = sorted(p.name for p in (tmp_path / "cassettes/tickets").iterdir())
    header, *rows = CSV.splitlines()
    (tmp_path / "evals/data/tickets.csv").write_text("\n".join([header, *reversed(rows)]) + "\n")
    r = harness_cli("run", "evals/", "-q")  # replay: every reordered row finds its cassette
    assert r.code == 1, r.out + r.err  # the same verdicts, nothing missing
    assert sorted(p.name for p in (tmp_path / "cassettes/tickets").iterdir()) == before
    assert [c["status"] for c in results(tmp_path)["cases"]] == ["failed", "passed", "passed"]


BAD_TABLES = [
    pytest.param("ticket_id,text,intent\nT-1,a,repair\nT-2,b,refund\nT-1,c,refund\n", SUITE,
                 ["evals/data/tickets.csv:4: duplicate id 'T-1' (first at row 2); ids must be unique"], id="duplicate-id"),
    pytest.param("ticket_id,text\nT-1,a\nT-2,b\n", SUITE,
                 ["evals/data/tickets.csv:1: no column 'intent' in the `cases_from` file, but the cases use "
                  "{{ intent }}; its columns are ticket_id, text. Add the column"], id="missing-column"),
    pytest.param("ticket_id,text,intent\nT-1,a,b,c\n", SUITE,
                 ["evals/data/tickets.csv:2: this row has 4 cells but the header has 3 columns"], id="ragged-row"),
    pytest.param("ticket_id,ticket_id,text\n", SUITE, ["evals/data/tickets.csv:1: the header names column "
                                                       "'ticket_id' twice"], id="duplicate-column"),
    pytest.param("ticket_id,text,intent\n", SUITE, ["evals/data/tickets.csv: the `cases_from` file has no rows; add "
                                                    "rows below the header"], id="no-rows"),
    pytest.param(CSV, SUITE.replace("data/tickets.csv", "../../tickets.csv"),
                 ["evals/tickets.yaml:4:9: the `cases_from` file path '../../tickets.csv' is a path that leads "
                  "outside the project"], id="outside"),
    pytest.param(CSV, SUITE.replace("data/tickets.csv", "data/tickets.xlsx"),
                 ["evals/tickets.yaml:4:9: the `cases_from` file 'data/tickets.xlsx' does not exist"], id="missing-file"),
    pytest.param(CSV, SUITE.replace("  turns:", "  trns:"),
                 ["evals/tickets.yaml:6:3: unknown key 'trns' in `cases_from` data/tickets.csv; did you mean 'turns'?",
                  "evals/tickets.yaml:4:3: `cases_from` data/tickets.csv has no `turns:`"], id="unknown-key"),
    pytest.param(CSV, SUITE.replace('id: "{{ ticket_id }}"', 'id: "{{ ticket }}"'),
                 ["evals/data/tickets.csv:1: no column 'ticket' in the `cases_from` file"], id="id-column"),
    pytest.param(CSV, "model: m\ncases_from: data/tickets.csv\n",
                 ["evals/tickets.yaml:2:13: `cases_from` must be a mapping like {file: data/tickets.csv"], id="not-a-mapping"),
]


@pytest.mark.parametrize("table, suite, expected", BAD_TABLES)
def test_table_mistakes_are_exit_2_with_file_and_row_and_nothing_sent(table, suite, expected, harness_cli,
                                                                      fake_server, tmp_path):  # fmt: skip
    write(tmp_path, suite, **{"tickets.csv": table})
    r = live(harness_cli, fake_server)
    assert r.code == 2, r.out + r.err
    for text in expected:
        assert f"error: {text}" in r.err, r.err
    assert "nothing was sent." in r.err and fake_server.requests == []


def test_a_column_missing_from_some_json_rows_names_the_first_row_and_counts_the_rest(harness_cli, fake_server,
                                                                                     tmp_path):  # fmt: skip
    rows = "".join(json.dumps({"ticket_id": f"T-{i}", "text": "x"} | ({"intent": "y"} if i == 1 else {})) + "\n"
                   for i in range(1, 5))  # fmt: skip
    write(tmp_path, SUITE.replace("tickets.csv", "tickets.jsonl"), **{"tickets.jsonl": rows})
    r = live(harness_cli, fake_server)
    assert r.code == 2
    assert ("error: evals/data/tickets.jsonl:2: no column 'intent' in the `cases_from` file (nor 2 more rows), but "
            "the cases use {{ intent }}; its columns are ticket_id, text.") in r.err  # fmt: skip
    assert r.err.count("no column") == 1


def test_a_column_missing_under_variants_counts_each_row_once(harness_cli, fake_server, tmp_path):
    rows = "".join(json.dumps({"ticket_id": f"T-{i}", "text": "x"} | ({"intent": "y"} if i == 1 else {})) + "\n"
                   for i in range(1, 4))  # fmt: skip
    variants = "variants:\n  - {name: terse, system: Be terse.}\n  - {name: warm, system: Be warm.}\n"
    write(tmp_path, SUITE.replace("tickets.csv", "tickets.jsonl") + variants, **{"tickets.jsonl": rows})
    r = live(harness_cli, fake_server)
    assert r.code == 2
    assert "error: evals/data/tickets.jsonl:2: no column 'intent' in the `cases_from` file (nor 1 more row)," in r.err


def test_a_typo_in_a_prompt_file_is_shown_there_not_blamed_on_the_data(harness_cli, fake_server, tmp_path):
    """`{{ prodcut }}` in a prompt file the table's cases use: the fix is in that file, not a new column."""
    (tmp_path / "evals/prompts").mkdir(parents=True)
    (tmp_path / "evals/prompts/triage.md").write_text("You triage tickets.\nSay which {{ txt }} it is.\n")
    write(tmp_path, SUITE.replace("model: fake-model\n", "model: fake-model\nsystem: {file: prompts/triage.md}\n"))
    r = live(harness_cli, fake_server)
    assert r.code == 2
    assert ("error: evals/prompts/triage.md:2: template variable error: 'txt' is undefined; did you mean 'text'? "
            "(in the cases of `cases_from` evals/data/tickets.csv, whose columns are ticket_id, text, intent)") in r.err
    assert "1 problem found" in r.err and fake_server.requests == []


def test_a_bad_jsonl_line_points_at_its_line_and_column(harness_cli, fake_server, tmp_path):
    write(tmp_path, SUITE.replace("tickets.csv", "t.jsonl"), **{"t.jsonl": '{"ticket_id": "a", "text": "b", "intent": "c"}\n{"ticket_id": }\n[1]\n'})
    r = live(harness_cli, fake_server)
    assert r.code == 2
    assert "error: evals/data/t.jsonl:2:15: not valid JSON: Expecting value" in r.err
    assert "error: evals/data/t.jsonl:3: each line of a .jsonl file must be a JSON object" in r.err


def test_a_missing_variable_in_one_case_and_schema_errors_in_others_are_reported_in_one_pass(harness_cli,
                                                                                             fake_server, tmp_path):  # fmt: skip
    write(tmp_path, """
        model: fake-model
        cases:
          - id: typo
            turns:
              - user: hi
                expcet: [{contains: x}]
          - id: undefined
            turns: [{user: "Hi {{ customer }}"}]
        cases_from:
          file: data/tickets.csv
          id: "{{ ticket_id }}"
          turns: [{user: "{{ txt }}"}]
    """)
    r = live(harness_cli, fake_server)
    assert r.code == 2
    assert "evals/tickets.yaml:6:9: unknown key 'expcet' in turn 1 of case 'typo'" in r.err
    assert "evals/tickets.yaml:8:20: template variable error: 'customer' is undefined" in r.err
    assert ("evals/tickets.yaml:12:18: template variable error: 'txt' is undefined; did you mean 'text'? (in the cases "
            "of `cases_from` evals/data/tickets.csv, whose columns are ticket_id, text, intent)") in r.err  # fmt: skip
    assert "3 problems found; nothing was sent." in r.err


def test_ids_and_rows_make_the_same_cassette_names_as_written_cases(harness_cli, fake_server, tmp_path):
    write(tmp_path)
    assert harness_cli("run", "evals/", "--cassettes", "record", "--base-url", fake_server.base_url, "-q").code == 1
    shutil.rmtree(tmp_path / "reports")
    assert harness_cli("run", "evals/", "--case", "T-2", "-q").code == 0  # --case selects by the data id


@pytest.mark.parametrize("name, text, message", [
    ("tickets.jsonl", '{"ticket_id": "T-1\\ud83d", "text": "repair it", "intent": "repair"}\n',
     "evals/data/tickets.jsonl:1: `ticket_id`: text holds an unpaired surrogate"),
    ("tickets.jsonl", '{"ticket_id": "T-1", "text": "repair it", "intent": "repair", "score": NaN}\n',
     "evals/data/tickets.jsonl:1: `score` is .nan, which is not a finite number"),
    ("tickets.json", '[{"ticket_id": "T-1", "text": "x", "intent": "y", "w": [1, Infinity]}]\n',
     "evals/data/tickets.json:1: `w[1]` is .inf"),
    ("tickets.yaml", '- {ticket_id: T-1, text: "\\udc00", intent: repair}\n',
     "evals/data/tickets.yaml:1: `text`: text holds an unpaired surrogate"),
])  # fmt: skip
def test_a_table_value_that_cannot_be_sent_is_exit_2_at_its_row(name, text, message, harness_cli, fake_server,
                                                                 tmp_path):  # fmt: skip
    """JSON reads `"\\ud83d"` and `NaN` without complaint; as in a suite, neither can be sent or stored."""
    write(tmp_path, SUITE.replace("tickets.csv", name), **{name: text})
    r = live(harness_cli, fake_server)
    assert r.code == 2 and message in r.err, r.err
    assert fake_server.requests == []


def test_a_surrogate_pair_in_a_table_is_the_character_it_spells(harness_cli, fake_server, tmp_path):
    write(tmp_path, SUITE.replace("tickets.csv", "tickets.jsonl"),
          **{"tickets.jsonl": '{"ticket_id": "T-1", "text": "smile \\ud83d\\ude00", "intent": "smile"}\n'})
    assert live(harness_cli, fake_server).code == 0
    assert fake_server.requests[0].body["messages"][-1]["content"] == "Ticket T-1: smile \U0001f600"
