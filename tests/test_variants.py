"""Variants: every case of a suite runs once per named override of its model, params, system or vars."""

from __future__ import annotations

import json

from harness.core.result import load_run

VARIANTS = """
suite: shop
model: base-model
params: {temperature: 0.5, max_tokens: 50}
system: "You sell {{ product }}."
vars: {product: routers}
variants:
  - name: baseline
  - name: terse
    system: "Be terse about {{ product }}. [[reply:ok]]"
  - name: mini
    model: mini-model
    params: {temperature: 0}
    vars: {product: modems}
cases:
  - id: greet
    turns:
      - user: "Hello"
        expect: [{contains: "o"}]
  - id: price
    turns:
      - user: "How much?"
        expect: [{contains: "How"}]
"""


def _bodies(server):
    return [r.body for r in server.requests]


def test_every_case_runs_under_every_variant_with_its_overrides(fake_server, harness_cli, write_suite, tmp_path):
    suite = write_suite(VARIANTS)
    r = harness_cli("run", suite, "--cassettes", "record-missing", "--base-url", fake_server.base_url, "-q")
    assert r.code == 1, r.err  # `price` fails under `terse`, whose system prompt makes the reply "ok"
    bodies = _bodies(fake_server)
    assert len(bodies) == 6
    seen = {(b["model"], b["messages"][0]["content"], b["temperature"], b["max_tokens"]) for b in bodies}
    assert seen == {("base-model", "You sell routers.", 0.5, 50),
                    ("base-model", "Be terse about routers. [[reply:ok]]", 0.5, 50),
                    ("mini-model", "You sell modems.", 0, 50)}  # params merged, vars and model overridden
    data = r.results(tmp_path / "reports/latest")
    assert data["schema_version"] == 4
    got = sorted((c["id"], c["variant"], c["status"]) for c in data["cases"])
    assert got == [("greet", "baseline", "passed"), ("greet", "mini", "passed"), ("greet", "terse", "passed"),
                   ("price", "baseline", "passed"), ("price", "mini", "passed"), ("price", "terse", "failed")]
    assert data["summary"]["total"] == 6 and data["summary"]["failed"] == 1
    assert {o["variant"] for o in data["outcomes"]} == {"baseline", "terse", "mini"}
    # cassettes/<suite>/<variant>/<case>.yaml
    found = sorted(p.relative_to(tmp_path / "cassettes").as_posix() for p in (tmp_path / "cassettes").rglob("*.yaml"))
    assert found == [f"shop/{v}/{c}.yaml" for v in ("baseline", "mini", "terse") for c in ("greet", "price")]
    assert "price [terse]" in r.out  # the failure names its variant

    # offline replay gives the same results, case for case
    fake_server.requests.clear()
    again = harness_cli("run", suite, "--out", "reports/replay", "-q")
    assert again.code == 1 and fake_server.requests == []
    replayed = again.results(tmp_path / "reports/replay")
    assert [(c["id"], c["variant"], c["status"], c["turns"][0]["reply"]["content"]) for c in replayed["cases"]] == \
        [(c["id"], c["variant"], c["status"], c["turns"][0]["reply"]["content"]) for c in data["cases"]]


def test_variant_flag_selects_some_and_a_typo_is_exit_2_before_sending(fake_server, harness_cli, write_suite, tmp_path):
    suite = write_suite(VARIANTS)
    r = harness_cli("run", suite, "--cassettes", "off", "--base-url", fake_server.base_url, "-q",
                    "--variant", "mini", "--variant", "baseline")
    assert r.code == 0, r.err
    data = r.results(tmp_path / "reports/latest")
    assert sorted({c["variant"] for c in data["cases"]}) == ["baseline", "mini"] and len(data["cases"]) == 4
    fake_server.requests.clear()
    bad = harness_cli("run", suite, "--cassettes", "off", "--base-url", fake_server.base_url, "--variant", "terce")
    assert bad.code == 2 and fake_server.requests == []
    assert "no suite declares a variant named 'terce'; did you mean 'terse'?" in bad.err


def test_suites_without_variants_keep_their_cassette_paths_and_result_shape(fake_server, harness_cli, write_suite, tmp_path):
    suite = write_suite("model: m\ncases:\n  - id: a\n    turns: [{user: hi}]\n", name="plain.yaml")
    r = harness_cli("run", suite, "--cassettes", "record-missing", "--base-url", fake_server.base_url, "-q")
    assert r.code == 0, r.err
    assert (tmp_path / "cassettes/plain/a.yaml").is_file()
    case = r.results(tmp_path / "reports/latest")["cases"][0]
    assert "variant" not in case


def test_bad_variants_are_reported_all_at_once_with_positions(harness_cli, write_suite):
    suite = write_suite("""
        model: m
        variants:
          - name: a
          - name: a
          - model: x
          - name: "has space"
          - name: b
            modle: y
            params: {temprature: 1}
          - just-a-string
        cases:
          - id: c
            turns: [{user: hi}]
        """)
    r = harness_cli("validate", suite)
    assert r.code == 2
    err = r.err
    assert "suite.yaml:4:11: duplicate variant name 'a' (first used at line 3)" in err
    assert "suite.yaml:5:5: variant 3 needs a `name:`" in err
    assert "suite.yaml:6:11: `name` of variant 4 must be a word" in err
    assert "suite.yaml:8:5: unknown key 'modle' in variant 'b'; did you mean 'model'?" in err
    assert "suite.yaml:9:14: unknown request parameter 'temprature'" in err
    assert "suite.yaml:10:5: variant 6 must be a mapping" in err
    assert "6 problems found" in err


def test_results_without_variants_from_version_2_still_load(tmp_path):
    old = tmp_path / "v2.json"
    old.write_text(json.dumps({"schema_version": 2, "cases": [{"suite": "s", "id": "a", "status": "passed"}]}))
    run = load_run(old)
    assert run.cases[0].variant == "" and run.summary.passed == 1


def test_validate_and_list_show_what_the_variants_multiply(harness_cli, write_suite):
    suite = write_suite("""
        model: m
        variants: [{name: terse, system: Be terse.}, {name: warm, system: Be warm.}, {name: plain}]
        cases:
          - {id: c1, turns: [{user: hi}]}
          - {id: c2, turns: [{user: hi}, {user: yo}]}
    """)
    r = harness_cli("validate", suite)
    assert r.code == 0 and r.out.strip() == "ok: 1 suite, 2 cases (6 with the variants), 3 turns"
    listed = harness_cli("list", suite).out.splitlines()
    assert listed[0].split() == ["suite", "case", "variants", "turns", "checks", "model", "file"]
    assert "terse, warm, plain" in listed[2]
