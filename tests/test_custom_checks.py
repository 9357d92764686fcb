"""`python: module:function` checks: loaded beside the suite, verdict shapes, errors reported not raised."""

from __future__ import annotations

import textwrap

CHECKS = '''
def mentions_name(reply, conversation, completion):
    return ("Dana" in reply, f"reply was {reply!r}")

def scored(reply, conversation, completion):
    return {"pass": len(conversation) == 1, "reason": f"{len(conversation)} messages", "score": 0.9}

def explodes(reply, conversation, completion):
    raise RuntimeError("boom in user code")

def half(reply, conversation, completion):
    return 0.25
'''


def write(tmp_path, write_suite, checks_name):
    (tmp_path / f"{checks_name}.py").write_text(textwrap.dedent(CHECKS))
    return write_suite(f"""
        model: m
        cases:
          - id: named
            turns: [{{user: "hi Dana", expect: [{{python: {checks_name}:mentions_name}}, {{python: {checks_name}:scored}}]}}]
          - id: unnamed
            turns: [{{user: "hi", expect: [{{python: {checks_name}:mentions_name}}]}}]
          - id: crash
            turns: [{{user: "hi", expect: [{{python: {checks_name}:explodes}}]}}]
          - id: low-score
            turns: [{{user: "hi", expect: [{{python: {checks_name}:half}}]}}]
    """)


def test_custom_checks_run_beside_the_suite(fake_server, harness_cli, write_suite, tmp_path):
    suite = write(tmp_path, write_suite, "mychecks_a")
    r = harness_cli("run", suite, "--cassettes", "off", "--base-url", fake_server.base_url, "-q")
    assert r.code == 1
    cases = {c["id"]: c for c in r.results(tmp_path / "reports/latest")["cases"]}
    assert cases["named"]["status"] == "passed"
    assert cases["named"]["turns"][0]["checks"][1]["reason"] == "mychecks_a:scored: 1 messages (score 0.9)"
    assert cases["unnamed"]["status"] == "failed"
    assert "reply was 'echo: hi'" in cases["unnamed"]["turns"][0]["checks"][0]["reason"]
    crash = cases["crash"]["turns"][0]["checks"][0]
    assert cases["crash"]["status"] == "failed" and "RuntimeError: boom in user code" in crash["reason"]
    assert "scored 0.25" in cases["low-score"]["turns"][0]["checks"][0]["reason"]


def test_missing_function_is_bad_input(fake_server, harness_cli, write_suite, tmp_path):
    (tmp_path / "mychecks_b.py").write_text("def other(reply, **kw):\n    return True\n")
    suite = write_suite("""
        model: m
        cases: [{id: a, turns: [{user: hi, expect: [{python: "mychecks_b:nope"}]}]}]
    """)
    r = harness_cli("run", suite, "--cassettes", "off", "--base-url", fake_server.base_url)
    assert r.code == 2
    assert "has no function 'nope'" in r.err and f"{suite.name}:2:" in r.err
    assert fake_server.requests == []
