"""Text that is not valid Unicode (a lone surrogate) never loses a run: replaced where it enters, noted, stored.

A JSON reply may hold `"\\ud83d"`, half of an emoji's UTF-16 pair, which no
UTF-8 file can hold. The policy (harness/core/text_policy.py): pairs are joined
into their character, an unpaired surrogate becomes U+FFFD and the turn says so;
in a suite it is bad input (exit 2 with the location), since the harness never
sends something other than what was written.
"""

from __future__ import annotations

import json

import pytest

from harness.core.result import CaseResult, RunResult, TurnResult, load_run
from harness.core.reply import Completion
from harness.execution.journal import RunFolder, read_journal
from harness.report.outputs import write_run_outputs

LONE = "\ud83d"


def reply_body(content: str, **extra) -> bytes:
    """A chat completion body as a server sends it: JSON, surrogates as \\u escapes (valid JSON)."""
    message = {"role": "assistant", "content": content, **extra}
    return json.dumps({"id": "x", "model": "m", "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
                       "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}}).encode()  # fmt: skip


def test_storable_joins_pairs_and_replaces_lone_surrogates():
    from harness.core.text_policy import storable

    assert storable("plain") == ("plain", 0)
    assert storable("ok \ud83d\ude00") == ("ok \U0001f600", 0)  # a pair is the character it spells
    assert storable(f"ok {LONE} and \udc00!") == ("ok \ufffd and \ufffd!", 2)
    assert storable(f"{LONE}{LONE}\ude00") == ("\ufffd\U0001f600", 1)


@pytest.mark.parametrize("mode", ["off", "record"])
def test_a_reply_with_a_lone_surrogate_is_stored_replaced_and_noted(mode, fake_server, harness_cli, write_suite,
                                                                    tmp_path):  # fmt: skip
    """The issue's reproduction: on main, "cannot append to journal.jsonl", a traceback, exit 1, no results."""
    suite = write_suite("suite: s\nmodel: m\ncases:\n  - {id: a, turns: [{user: hi}, {user: more}]}\n"
                        "  - {id: b, turns: [{user: ho, expect: [{contains: ok}]}]}\n")  # fmt: skip
    fake_server.responder = lambda request: (200, reply_body(f"ok {LONE}"))
    r = harness_cli("run", suite, "--cassettes", mode, "--base-url", fake_server.base_url, "--out", "out")
    assert r.code == 0, r.err
    assert "Traceback" not in r.err and "warning" not in r.err
    out = tmp_path / "out"
    results = json.loads((out / "results.json").read_text(encoding="utf-8"))
    first = results["cases"][0]["turns"][0]
    assert first["reply"]["content"] == "ok \ufffd"
    assert any("1 unpaired surrogate" in note and "U+FFFD" in note for note in first["notes"]), first["notes"]
    second = results["cases"][0]["turns"][1]
    assert second["messages"][-2] == {"role": "assistant", "content": "ok \ufffd"}  # the history holds what was stored
    assert [c["status"] for c in results["cases"]] == ["passed", "passed"]
    assert len(read_journal(out / "journal.jsonl").cases) == 2
    for name in ("report.html", "summary.md", "junit.xml"):
        (out / name).read_text(encoding="utf-8")  # written, and valid UTF-8
    if mode == "record":
        fake_server.responder = None
        replay = harness_cli("run", suite, "--out", "replayed")
        assert replay.code == 0, replay.err
        again = json.loads((tmp_path / "replayed/results.json").read_text(encoding="utf-8"))
        assert again["cases"][0]["turns"][0]["reply"]["content"] == "ok \ufffd"

    # --resume of the finished run sends nothing again (on main it re-sent every case and crashed again)
    sent = len(fake_server.requests)
    resumed = harness_cli("run", "--resume", "out")
    assert resumed.code == 0, resumed.err
    assert len(fake_server.requests) == sent
    assert "nothing to resume: every case of out already finished" in resumed.err


def test_surrogates_in_tool_calls_refusals_and_error_messages_are_replaced(fake_server, harness_cli, write_suite,
                                                                           tmp_path):  # fmt: skip
    suite = write_suite("model: m\ncases:\n  - {id: tool, turns: [{user: t}]}\n  - {id: err, turns: [{user: e}]}\n")

    def respond(request):
        if request.body["messages"][-1]["content"] == "e":
            return 400, json.dumps({"error": {"message": f"bad {LONE} request"}}).encode()
        call = {"id": f"c{LONE}", "type": "function", "function": {"name": f"f{LONE}", "arguments": f'{{"a": "{LONE}"}}'}}
        return 200, reply_body(None, tool_calls=[call], refusal=f"no {LONE}")

    fake_server.responder = respond
    r = harness_cli("run", suite, "--cassettes", "off", "--base-url", fake_server.base_url)
    assert r.code == 3, r.err
    assert "Traceback" not in r.err + r.out
    cases = {c["id"]: c for c in json.loads((tmp_path / "reports/latest/results.json").read_text())["cases"]}
    reply = cases["tool"]["turns"][0]["reply"]
    assert reply["tool_calls"][0]["name"] == "f\ufffd" and reply["refusal"] == "no \ufffd"
    assert cases["err"]["status"] == "error" and "bad \ufffd request" in cases["err"]["error"]


@pytest.mark.parametrize("where, yaml_text", [
    ("case id", 'model: m\ncases: [{id: "a\\ud83d", turns: [{user: hi}]}]\n'),
    ("user message", 'model: m\ncases: [{id: a, turns: [{user: "hi \\ud83d"}]}]\n'),
    ("a var a template renders", 'model: m\nvars: {x: "\\udc00"}\ncases: [{id: a, turns: [{user: "{{ x }}"}]}]\n'),
    ("a param", 'model: m\nparams: {stop: ["\\ud83d"]}\ncases: [{id: a, turns: [{user: hi}]}]\n'),
])  # fmt: skip
def test_a_lone_surrogate_in_a_suite_is_exit_2_with_the_location(where, yaml_text, fake_server, harness_cli,
                                                                 write_suite):  # fmt: skip
    """On main the case id passed `validate` and crashed `run`; the user message was "internal error" (exit 3)."""
    suite = write_suite(yaml_text)
    for command in (["validate"], ["run", "--cassettes", "off", "--base-url", fake_server.base_url]):
        r = harness_cli(command[0], suite, *command[1:])
        assert r.code == 2, (where, r.out, r.err)
        assert f"error: {suite.name}:2:" in r.err and "unpaired surrogate" in r.err and "\\U0001F600" in r.err, r.err
        assert "Traceback" not in r.err
    assert fake_server.requests == []


def test_a_surrogate_pair_in_a_suite_is_the_character_it_spells(fake_server, harness_cli, write_suite):
    suite = write_suite('model: m\ncases: [{id: a, turns: [{user: "smile \\ud83d\\ude00"}]}]\n')
    r = harness_cli("run", suite, "--cassettes", "off", "--base-url", fake_server.base_url)
    assert r.code == 0, r.err
    assert fake_server.requests[0].body["messages"][-1]["content"] == "smile \U0001f600"


def test_the_writers_cannot_fail_on_unencodable_text(tmp_path):
    """A last line of defence: text that slipped past the policy is written with U+FFFD, never raised."""
    bad = f"text {LONE} here"
    case = CaseResult(suite="s", id="a", status="passed", turns=[
        TurnResult(index=1, messages=[{"role": "user", "content": bad}], params={},
                   reply=Completion(content=bad, finish_reason="stop"), notes=[bad])])  # fmt: skip
    out = tmp_path / "out"
    write_run_outputs(RunResult(settings={}, cases=[case]), out)
    assert load_run(out / "results.json").cases[0].turns[0].reply.content == "text \ufffd here"
    for name in ("report.html", "summary.md", "junit.xml"):
        (out / name).read_text(encoding="utf-8")
    journal = RunFolder(tmp_path / "run").start({})
    journal.append(case)
    journal.close()
    assert journal.failed is None and journal.written == 1
    assert read_journal(journal.path).cases[("s", "a", 0)].turns[0].reply.content == "text \ufffd here"


def test_a_10_mb_reply_is_judged_whole_and_stored_cut_with_a_marker(fake_server, harness_cli, write_suite, tmp_path):
    """On main a 10 MB reply went whole into results.json, the journal and report.html (and twice more per later turn)."""
    limit = 1_000_000  # harness.core.text_policy.STORED_TEXT_LIMIT
    huge = "x" * 10_000_000 + " THE-END"
    fake_server.responder = lambda request: (200, reply_body(huge)) if request.body["messages"][-1]["content"] == "big" \
        else None  # fmt: skip
    suite = write_suite("suite: s\nmodel: m\ncases:\n  - id: a\n    turns:\n      - {user: big, expect: [{contains: THE-END}]}\n"
                        "      - {user: after}\n")  # fmt: skip
    r = harness_cli("run", suite, "--cassettes", "record", "--base-url", fake_server.base_url, "--out", "out")
    assert r.code == 0, r.out  # the check saw the whole reply, end included
    out = tmp_path / "out"
    case = json.loads((out / "results.json").read_text())["cases"][0]
    stored = case["turns"][0]["reply"]["content"]
    assert stored.startswith("x" * 1000) and len(stored) < limit + 200
    assert stored.endswith("[... cut by prompt-harness: 10,000,008 characters, the first 1,000,000 are stored]")
    assert any("stored cut to their first 1,000,000 characters" in n for n in case["turns"][0]["notes"])
    later = case["turns"][1]["messages"][-2]["content"]  # the history of the next turn: the same cut
    assert later == stored
    for name in ("results.json", "journal.jsonl", "report.html"):
        assert (out / name).stat().st_size < 4 * limit, name
    assert "THE-END" in (tmp_path / "cassettes/s/a.yaml").read_text()  # the cassette keeps it whole, to replay it
    fake_server.responder = None
    replay = harness_cli("run", suite, "--out", "replayed")
    assert replay.code == 0, replay.out


@pytest.mark.parametrize("mode", ["off", "record"])
def test_a_lone_surrogate_in_a_responses_output_item_is_repaired_before_it_is_sent_back(mode, fake_server, harness_cli,
                                                                                        write_suite, tmp_path):  # fmt: skip
    """Found by the Responses reply fuzz: `history: resend` sends the model's own output items back, and one whose
    id held a lone surrogate made the next request "internal error: UnicodeEncodeError"."""
    item = {"type": "message", "id": f"msg_{LONE}", "role": "assistant", "status": "completed",
            "content": [{"type": "output_text", "text": "ok", "annotations": []}]}  # fmt: skip
    body = json.dumps({"id": "resp_1", "object": "response", "status": "completed", "model": "m", "output": [item],
                       "usage": {"input_tokens": 3, "output_tokens": 2, "total_tokens": 5}}).encode()  # fmt: skip
    fake_server.responder = lambda request: (200, body) if "hi" in json.dumps(request.body) and "more" not in json.dumps(
        request.body) else None  # fmt: skip
    suite = write_suite("suite: s\nmodel: m\napi: responses\nhistory: resend\n"
                        "cases: [{id: a, turns: [{user: hi}, {user: more}]}]\n")  # fmt: skip
    r = harness_cli("run", suite, "--cassettes", mode, "--base-url", fake_server.base_url, "--out", "out")

    assert r.code == 0, r.out + r.err
    turns = json.loads((tmp_path / "out/results.json").read_text(encoding="utf-8"))["cases"][0]["turns"]
    assert turns[0]["reply"]["content"] == "ok" and "1 unpaired surrogate" in " ".join(turns[0]["notes"])
    resent = fake_server.requests[-1].body["input"]
    assert {"type": "message", "id": "msg_\ufffd", "role": "assistant", "status": "completed",
            "content": [{"type": "output_text", "text": "ok", "annotations": []}]} in resent  # fmt: skip
