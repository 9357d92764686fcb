"""An independent project (tests/projects/triage): a system prompt in prompts/ with an include, cases from a CSV,
suite defaults and a grader on a second endpoint. It runs live against two fake OpenAI servers on 127.0.0.1,
then replays offline with identical outcomes, and its reports show the generated cases by their data ids."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

from tests.fake_openai import FakeOpenAI
from tests.test_report import embedded

PROJECT = Path(__file__).parent / "projects" / "triage"
JUDGE_KEY = "sk-judge-SECRET-5d0c9b8a7f6e4d3c"
MODEL_KEY = "sk-model-SECRET-0a1b2c3d4e5f6a7b"
IDS = ["greeting", "T-100", "T-101", "T-102", "T-103"]


def verdicts(out: Path) -> list:
    """Each case's id, status, checks (name, passed, from the defaults) and replies: what must replay identically."""
    data = json.loads((out / "results.json").read_text())
    return [(c["id"], c["status"], [[(k["name"], k["passed"], k.get("default", False)) for k in t["checks"]]
                                     for t in c["turns"]], [t["reply"]["content"] for t in c["turns"]])
            for c in data["cases"]]  # fmt: skip


def test_the_project_runs_live_on_two_servers_and_replays_offline_identically(harness_cli, tmp_path, monkeypatch):
    shutil.copytree(PROJECT, tmp_path, dirs_exist_ok=True)
    suite = tmp_path / "evals/triage.yaml"
    with FakeOpenAI() as model, FakeOpenAI() as judge:
        suite.write_text(re.sub(r"http://127\.0\.0\.1:\d+/v1", judge.base_url, suite.read_text()))
        monkeypatch.setenv("OPENAI_API_KEY", MODEL_KEY)
        monkeypatch.setenv("JUDGE_API_KEY", JUDGE_KEY)
        live = harness_cli("run", "evals/", "--cassettes", "record", "--base-url", model.base_url, "--out", "live")
        assert live.code == 0, live.out + live.err
        # The model's server got every case; the judge's server every grading request, each with its own key.
        assert len(model.requests) == 5 and len(judge.requests) == 4
        assert {q.headers["authorization"] for q in model.requests} == {f"Bearer {MODEL_KEY}"}
        assert {q.headers["authorization"] for q in judge.requests} == {f"Bearer {JUDGE_KEY}"}
        assert {q.body["model"] for q in judge.requests} == {"judge-model"}
        system = model.requests[0].body["messages"][0]
        assert system == {"role": "system", "content": "You triage support tickets for the Acme X200 router.\nName the "
                          "ticket's intent in one word: repair, refund, howto or account.\nSign every reply as \"Acme "
                          "Support\".\n\n"}  # fmt: skip
        sent = sorted(q.body["messages"][-1]["content"] for q in model.requests)
        assert "Ticket T-101 (normal): I was charged twice, I want a refund" in sent

    monkeypatch.delenv("OPENAI_API_KEY")
    monkeypatch.delenv("JUDGE_API_KEY")
    replay = harness_cli("run", "evals/", "--out", "replay")  # both servers are gone: cassettes only
    assert replay.code == 0, replay.out + replay.err
    assert verdicts(tmp_path / "replay") == verdicts(tmp_path / "live")

    found = verdicts(tmp_path / "replay")
    assert [case[0] for case in found] == IDS
    assert found[1][2] == [[("icontains", True, False), ("llm_rubric", True, False), ("not_icontains", True, True),
                            ("max_completion_tokens", True, True), ("not_truncated", True, False)]]  # fmt: skip
    assert found[0][2] == [[("contains", True, False), ("not_truncated", True, False)]]  # `defaults: false`
    page = embedded((tmp_path / "replay/report.html").read_text())
    assert sorted(c["i"] for c in page["cases"]) == sorted(IDS)
    assert next(c for c in page["cases"] if c["i"] == "T-100")["pf"] == {"system": ["prompts/system.md",
                                                                                     "prompts/signature.md"]}
    cassette = next((tmp_path / "cassettes/triage").glob("t-100*.yaml")).read_text()
    assert "x-harness-endpoint:\n      - judge" in cassette  # the grader's recording replays only for `judge`
    for path in tmp_path.rglob("*"):
        if path.is_file() and path.suffix in (".yaml", ".json", ".jsonl", ".html", ".md", ".xml"):
            text = path.read_text()
            assert JUDGE_KEY not in text and MODEL_KEY not in text, path
