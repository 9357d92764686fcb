"""Model-graded checks (llm_rubric, factuality, similar) against the fake server.

The fake server grades deterministically (tests/fake_openai.py `_grade`): a
rubric passes when each 'quoted' word appears in the reply; a reference is
compared by word sets; embeddings are bag-of-letters vectors. Directives in a
rubric steer the grader itself ([[error:500]], [[reply:...]]).
"""

from __future__ import annotations

import asyncio
import json
import math

import pytest

from harness.assertions import CheckContext, run_check, run_check_async
from harness.assertions.graded import FACTUALITY_PROMPT, RUBRIC_PROMPT, Verdict, parse_verdict
from harness.core.reply import Completion, Embeddings, Usage
from harness.core.result import load_run
from harness.core.specs import GraderSpec
from tests.conftest import FAKE_KEY
from tests.fake_openai import FakeOpenAI

GRADED = """
suite: graded
model: fake-model
grader: {model: gpt-4o-mini, embedding_model: text-embedding-3-small}
cases:
  - id: rubric-pass
    turns:
      - user: "Sorry, here is a refund"
        expect:
          - llm_rubric: "Says 'sorry' and offers a 'refund'"
  - id: rubric-fail
    turns:
      - user: "Sorry, here is a refund"
        expect:
          - llm_rubric: "Offers a 'voucher'"
  - id: rubric-threshold
    turns:
      - user: "Sorry, here is a refund"
        expect:
          - llm_rubric: {rubric: "Says 'sorry' and offers a 'voucher'", threshold: 0.5}
          - not_llm_rubric: {rubric: "Says 'sorry' and offers a 'voucher'", threshold: 0.6}
  - id: fact-pass
    turns:
      - user: "Paris is the capital of France."
        expect:
          - factuality: "Paris is the capital of France."
  - id: fact-fail
    turns:
      - user: "Lyon is the capital of France."
        expect:
          - factuality: {reference: "Paris is the capital of France."}
  - id: fact-strict
    turns:
      - user: "Paris is the capital of France."
        expect:
          - factuality: {reference: "Paris is the capital of France.", accept: [same]}
  - id: similar-pass
    turns:
      - user: "Restart the router"
        expect:
          - similar: {reference: "Restart the router", threshold: 0.9}
  - id: similar-fail
    turns:
      - user: "zzz qqq"
        expect:
          - similar: "Restart the router"
"""

EXPECTED = {"rubric-pass": "passed", "rubric-fail": "failed", "rubric-threshold": "passed", "fact-pass": "passed",
            "fact-fail": "failed", "fact-strict": "failed", "similar-pass": "passed", "similar-fail": "failed"}  # fmt: skip


def bag(text: str) -> list[float]:
    """The fake server's embedding: letter counts."""
    return [float(text.lower().count(chr(97 + i))) for i in range(26)]


def cos(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b)) / (math.hypot(*a) * math.hypot(*b))


def checks_by_case(data: dict) -> dict[str, list[dict]]:
    return {c["id"]: [k for t in c["turns"] for k in t["checks"] if not k.get("implicit")] for c in data["cases"]}


def test_graded_checks_pass_and_fail_then_replay_offline(harness_cli, write_suite, tmp_path, monkeypatch):
    write_suite(GRADED)
    monkeypatch.setenv("OPENAI_API_KEY", FAKE_KEY)
    with FakeOpenAI() as server:
        r = harness_cli("run", "suite.yaml", "--cassettes", "record-missing", "--base-url", server.base_url,
                        "--out", "recorded", "-q")  # fmt: skip
        sent = len(server.requests)
    assert r.code == 1, r.err + r.out
    assert sent == 17  # 8 replies + 7 grader requests + 2 embeddings requests
    recorded = json.loads((tmp_path / "recorded/results.json").read_text())
    assert {c["id"]: c["status"] for c in recorded["cases"]} == EXPECTED
    checks = checks_by_case(recorded)

    ok = checks["rubric-pass"][0]
    assert ok["reason"] == "grader gpt-4o-mini: pass, score 1: the reply has ['sorry', 'refund']"
    assert ok["details"] | {"usage": None, "cost_usd": None} == {
        "pass": True, "score": 1.0, "reasoning": "the reply has ['sorry', 'refund']", "grader_model": "gpt-4o-mini",
        "usage": None, "cost_usd": None}  # fmt: skip
    assert checks["rubric-fail"][0]["reason"] == "grader gpt-4o-mini: fail, score 0: the reply lacks ['voucher']"
    # The threshold decides, not the grader's own pass: half the quoted words are there (score 0.5).
    at_half, above_half = checks["rubric-threshold"]
    assert at_half["passed"] and at_half["reason"].startswith("grader gpt-4o-mini: score 0.5 >= threshold 0.5: ")
    assert above_half["passed"] and "score 0.5 < threshold 0.6" in above_half["reason"]  # negated: passes

    assert checks["fact-pass"][0]["reason"].startswith("grader gpt-4o-mini: superset (the reply is a superset")
    assert checks["fact-pass"][0]["details"]["category"] == "superset"
    disagree = checks["fact-fail"][0]
    assert not disagree["passed"] and disagree["reason"].startswith("grader gpt-4o-mini: disagree (the reply contradicts")
    assert "missing ['paris'], extra ['echo', 'lyon']" in disagree["reason"]  # the grader's reasoning is in the reason
    assert "; accepted: same" in checks["fact-strict"][0]["reason"]

    near, far = checks["similar-pass"][0], checks["similar-fail"][0]
    expected_near = cos(bag("echo: Restart the router"), bag("Restart the router"))
    expected_far = cos(bag("echo: zzz qqq"), bag("Restart the router"))
    assert near["details"]["similarity"] == pytest.approx(expected_near, abs=1e-6) and expected_near >= 0.9
    assert far["details"]["similarity"] == pytest.approx(expected_far, abs=1e-6) and expected_far < 0.8
    assert near["reason"].startswith(f"cosine similarity {expected_near:.3f} >= threshold 0.9 (text-embedding-3-small)")
    assert far["reason"].startswith(f"cosine similarity {expected_far:.3f} < threshold 0.8 ")  # the default threshold

    # Replay with the server gone and no key: every grader and embeddings request comes from the cassettes.
    monkeypatch.delenv("OPENAI_API_KEY")
    r = harness_cli("run", "suite.yaml", "--base-url", server.base_url, "--out", "replayed", "-q")
    assert r.code == 1, r.err + r.out
    replayed = json.loads((tmp_path / "replayed/results.json").read_text())
    assert {c["id"]: c["status"] for c in replayed["cases"]} == EXPECTED
    assert checks_by_case(replayed) == checks
    assert replayed["summary"] == recorded["summary"]


def test_a_changed_rubric_no_longer_matches_its_recording(harness_cli, write_suite, tmp_path, monkeypatch):
    suite = """
        model: fake-model
        grader: {model: gpt-4o-mini}
        cases:
          - id: a
            turns:
              - user: "Sorry"
                expect: [{llm_rubric: "Says 'sorry'"}]
    """
    write_suite(suite)
    with FakeOpenAI() as server:
        assert harness_cli("run", "suite.yaml", "--cassettes", "record-missing", "--base-url", server.base_url,
                           "-q").code == 0  # fmt: skip
    write_suite(suite.replace("Says 'sorry'", "Says 'sorry' politely"))
    r = harness_cli("run", "suite.yaml", "-q")
    assert r.code == 3
    error = json.loads((tmp_path / "reports/latest/results.json").read_text())["cases"][0]["error"]
    assert error.startswith("turn 1: check `llm_rubric` could not be graded: the request no longer matches")
    assert "politely" in error and "--cassettes record-missing" in error


def fake_prompt_tokens(messages: list[dict]) -> int:
    """How the fake server bills a prompt: (words + 3) per message + 3."""
    return sum(len(m["content"].split()) + 3 for m in messages) + 3


def test_grader_tokens_and_cost_are_in_the_turn_case_and_run_totals(fake_server, harness_cli, write_suite, tmp_path):
    write_suite("""
        model: fake-model
        grader: {model: gpt-4o-mini, embedding_model: text-embedding-3-small}
        pricing:
          text-embedding-3-small: {input: 0.02, output: 0}
        cases:
          - id: a
            budget: {max_total_tokens: 60}
            turns:
              - user: "Restart the router"
                expect:
                  - llm_rubric: "Says 'restart'"
                  - similar: "Restart the router"
    """)
    r = harness_cli("run", "suite.yaml", "--cassettes", "off", "--base-url", fake_server.base_url, "-q")
    grading = [q.body for q in fake_server.requests if q.body.get("model") == "gpt-4o-mini"]
    assert len(grading) == 1
    # The grading request, exactly: the fixed prompt, then the user's message, the reply and the rubric in tags.
    assert grading[0]["messages"] == [
        {"role": "system", "content": RUBRIC_PROMPT},
        {"role": "user", "content": "<user_message>\nRestart the router\n</user_message>\n\n"
                                    "<reply>\necho: Restart the router\n</reply>\n\n<rubric>\nSays 'restart'\n</rubric>"},
    ]  # fmt: skip
    assert grading[0]["temperature"] == 0 and grading[0]["response_format"] == {"type": "json_object"}
    embedding = next(q.body for q in fake_server.requests if q.path.endswith("/embeddings"))
    assert embedding == {"model": "text-embedding-3-small", "input": ["echo: Restart the router", "Restart the router"],
                         "encoding_format": "float"}  # fmt: skip

    # By hand: gpt-4o-mini is $0.15 / $0.60 per 1M tokens; the embeddings model $0.02 per 1M (the suite's price).
    grader_prompt = fake_prompt_tokens(grading[0]["messages"])
    grader_reply = json.dumps({"pass": True, "score": 1.0, "reasoning": "the reply has ['restart']"})
    grader_completion = len(grader_reply.split())
    embed_tokens = 4 + 3  # the fake bills embeddings by words: "echo: Restart the router" + "Restart the router"
    grader_cost = (grader_prompt * 0.15 + grader_completion * 0.60) / 1e6
    embed_cost = embed_tokens * 0.02 / 1e6
    reply_tokens = (3 + 3 + 3) + 4  # "Restart the router" -> "echo: Restart the router"; fake-model has no price

    data = json.loads((tmp_path / "reports/latest/results.json").read_text())
    case = data["cases"][0]
    turn = case["turns"][0]
    rubric, similar = turn["checks"][:2]
    assert rubric["passed"] and similar["passed"]
    assert rubric["details"]["usage"]["prompt_tokens"] == grader_prompt
    assert rubric["details"]["cost_usd"] == pytest.approx(grader_cost)
    assert similar["details"]["cost_usd"] == pytest.approx(embed_cost)
    assert turn["grader_usage"] == {"prompt_tokens": grader_prompt + embed_tokens,
                                    "completion_tokens": grader_completion,
                                    "total_tokens": grader_prompt + grader_completion + embed_tokens, "cached_tokens": 0,
                                    "reasoning_tokens": 0}  # fmt: skip
    total_tokens = reply_tokens + grader_prompt + grader_completion + embed_tokens
    assert turn["usage"]["total_tokens"] == case["usage"]["total_tokens"] == total_tokens
    assert turn["grader_cost_usd"] == pytest.approx(grader_cost + embed_cost)
    assert turn["cost_usd"] == case["cost_usd"] == pytest.approx(grader_cost + embed_cost)
    assert data["summary"]["total_tokens"] == total_tokens
    assert data["summary"]["cost_usd"] == pytest.approx(grader_cost + embed_cost, abs=1e-8)
    # The case budget counts the grading requests too: the reply alone (13 tokens) was well within 60.
    budget = next(c for c in turn["checks"] if c["name"] == "budget")
    assert not budget["passed"] and f"case 'a' used {total_tokens:,}, over its max_total_tokens 60" in budget["reason"]
    assert r.code == 1

    # results.json reads back with the grading fields intact (compare, merge and resume rely on it).
    loaded = load_run(tmp_path / "reports/latest/results.json").cases[0].turns[0]
    assert loaded.grader_usage == Usage(grader_prompt + embed_tokens, grader_completion,
                                        grader_prompt + grader_completion + embed_tokens, 0, 0)  # fmt: skip
    assert loaded.checks[0].details == rubric["details"]


def test_grader_params_and_per_check_model_override(fake_server, harness_cli, write_suite):
    write_suite("""
        model: fake-model
        grader: {model: gpt-4o-mini, params: {temperature: 0.2, seed: 7}}
        cases:
          - id: a
            turns:
              - user: "Paris is the capital of France."
                expect:
                  - factuality: {reference: "Paris is the capital of France.", model: gpt-4.1, params: {seed: 9}}
    """)
    r = harness_cli("run", "suite.yaml", "--cassettes", "off", "--base-url", fake_server.base_url, "-q")
    assert r.code == 0, r.err + r.out
    body = fake_server.requests[1].body
    assert (body["model"], body["temperature"], body["seed"]) == ("gpt-4.1", 0.2, 9)
    assert body["messages"][0]["content"] == FACTUALITY_PROMPT
    assert "<reference>\nParis is the capital of France.\n</reference>" in body["messages"][1]["content"]


def test_invalid_grader_json_is_a_failed_check_not_a_crash(fake_server, harness_cli, write_suite, tmp_path):
    write_suite("""
        model: fake-model
        grader: {model: gpt-4o-mini}
        cases:
          - id: a
            turns:
              - user: "Sorry"
                expect:
                  - llm_rubric: "[[reply:I think it passes.]] Says 'sorry'"
                  - contains: Sorry
    """)
    r = harness_cli("run", "suite.yaml", "--cassettes", "off", "--base-url", fake_server.base_url, "-q")
    assert r.code == 1, r.err + r.out
    case = json.loads((tmp_path / "reports/latest/results.json").read_text())["cases"][0]
    assert case["status"] == "failed"
    rubric, contains = case["turns"][0]["checks"][:2]
    assert not rubric["passed"] and contains["passed"]
    assert rubric["reason"] == ("the grader (gpt-4o-mini) reply is not valid JSON (Expecting value): "
                                "'I think it passes.'")  # fmt: skip
    assert rubric["details"]["grader_reply"] == "I think it passes."


def test_grader_api_error_after_retries_makes_the_case_an_error(fake_server, harness_cli, write_suite, tmp_path):
    write_suite("""
        model: fake-model
        grader: {model: gpt-4o-mini}
        retry: {max_retries: 2, base_delay: 0}
        cases:
          - id: a
            turns:
              - user: "Sorry"
                expect:
                  - llm_rubric: "[[error:503]] Says 'sorry'"
    """)
    r = harness_cli("run", "suite.yaml", "--cassettes", "off", "--base-url", fake_server.base_url, "-q")
    assert r.code == 3, r.err + r.out
    assert len(fake_server.requests) == 1 + 3  # the reply, then the grader request and its two retries
    case = json.loads((tmp_path / "reports/latest/results.json").read_text())["cases"][0]
    assert case["status"] == "error"
    assert case["error"] == ("turn 1: check `llm_rubric` could not be graded: HTTP 503: injected error 503 "
                             "(gave up after 2 retries)")  # fmt: skip
    assert case["turns"][0]["reply"]["content"] == "echo: Sorry"  # the reply is kept


@pytest.mark.parametrize("check, fix", [
    ("llm_rubric: \"Is polite\"", "needs a grader model: add `grader: {model: gpt-4o-mini}` to the suite"),
    ("factuality: \"Paris\"", "`factuality: {reference: ..., model: gpt-4o-mini}`"),
    ("similar: \"Paris\"", "needs an embeddings model: add `grader: {embedding_model: text-embedding-3-small}`"),
])  # fmt: skip
def test_a_graded_check_without_a_model_is_bad_input(fake_server, harness_cli, write_suite, check, fix):
    write_suite(f"""
        model: fake-model
        grader: {{params: {{temperature: 0}}}}
        cases:
          - id: a
            turns:
              - user: "hi"
                expect:
                  - {check}
    """)
    r = harness_cli("run", "suite.yaml", "--cassettes", "off", "--base-url", fake_server.base_url)
    assert r.code == 2
    name = check.split(":")[0]
    assert f"error: suite.yaml:8:13: check `{name}` in turn 1 of case 'a' " in r.err
    assert fix in r.err and "nothing was sent" in r.err
    assert fake_server.requests == []


def test_a_check_may_name_its_own_model_without_a_suite_grader(harness_cli, write_suite):
    write_suite("""
        model: fake-model
        cases:
          - id: a
            turns:
              - user: "hi"
                expect:
                  - llm_rubric: {rubric: "Is polite", model: gpt-4o-mini}
                  - similar: {reference: "hello", model: text-embedding-3-small}
    """)
    assert harness_cli("validate", "suite.yaml").code == 0


@pytest.mark.parametrize("check, message", [
    ("llm_rubric: {rubric: x, treshold: 0.5}", "unknown key 'treshold' in check `llm_rubric` in turn 1 of case 'a'; did you mean 'threshold'?"),
    ("llm_rubric: {rubric: x, threshold: 7}", "`threshold` must be a number from 0 to 1, got 7"),
    ("llm_rubric: {threshold: 0.5}", "needs `rubric:` (a non-empty string)"),
    ("factuality: {reference: x, accept: [close]}", "`accept` must be a non-empty list of categories"),
    ("similar: [a, b]", "expects a reference (a string) or a mapping with reference, threshold, model, got list"),
])  # fmt: skip
def test_graded_check_arguments_are_validated_at_load(harness_cli, write_suite, check, message):
    write_suite(f"""
        model: fake-model
        grader: {{model: gpt-4o-mini, embedding_model: e}}
        cases:
          - id: a
            turns:
              - user: "hi"
                expect:
                  - {check}
    """)
    r = harness_cli("validate", "suite.yaml")
    assert r.code == 2 and message in r.err


# --- units: the verdict parser and the registry's async path ----------------------------------


@pytest.mark.parametrize("text, verdict", [
    ('{"pass": true, "score": 0.8, "reasoning": "ok"}', Verdict(True, 0.8, "ok")),
    ('```json\n{"pass": false, "score": 0, "reasoning": "no"}\n```', Verdict(False, 0.0, "no")),
    ('Here is my verdict: {"pass": true, "reasoning": "fine"}', Verdict(True, None, "fine")),
    ('{"category": "Superset", "pass": true, "score": 1}', Verdict(True, 1.0, "", "superset")),
    ("not json", "is not valid JSON (Expecting value)"),
    ("[true]", "is JSON but not an object (list)"),
    ('{"pass": "yes"}', "has a `pass` that is not true or false ('yes')"),
    ('{"pass": true, "score": 7}', "has a `score` that is not a number from 0 to 1 (7)"),
])  # fmt: skip
def test_parse_verdict(text, verdict):
    assert parse_verdict(text) == verdict


def test_async_checks_need_the_async_runner_and_a_client():
    ctx = CheckContext(reply=Completion("hi", "stop"), grader=GraderSpec(model="m", embedding_model="e"))
    assert "run_check_async" in run_check("llm_rubric", "Is polite", ctx).reason  # a sync caller gets a clear failure
    outcome = asyncio.run(run_check_async("llm_rubric", "Is polite", ctx))
    assert not outcome.passed and "no model client" in outcome.reason

    async def embed(model: str, inputs: list[str]) -> Embeddings:
        return Embeddings([[1.0, 0.0], [1.0, 0.0]], Usage(2, 0, 2))

    ctx.embed = embed
    result = asyncio.run(run_check_async("not_similar", "hello", ctx))
    assert not result.passed and result.reason.startswith("expected the opposite of similar, but: cosine similarity 1.000")
    assert result.details == {"similarity": 1.0, "threshold": 0.8, "embedding_model": "e"}
