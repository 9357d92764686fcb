"""Shards (`harness run --shard K/N`) and merging them (`harness merge`), end to end and as pure functions."""

from __future__ import annotations

import json
import random
import textwrap
from pathlib import Path
from types import SimpleNamespace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.core.result import CaseResult, RunResult, load_run
from harness.results.sharding import MergeError, Shard, ShardError, merge_runs, parse_shard, select_shard
from tests.conftest import FAKE_KEY

CASES = 200


def _big_suite(path: Path) -> list[str]:
    """A 200-case suite with passing, failing and (once a cassette is removed) erroring cases, ids unsorted."""
    ids = [f"case-{i:03d}" for i in range(CASES)]
    random.Random(7).shuffle(ids)
    lines = ["suite: big", "model: fake-model", "params: {temperature: 0, max_tokens: 20}", "cases:"]
    for case_id in ids:
        n = int(case_id.split("-")[1])
        check = "contains: never-in-the-reply" if n % 10 == 3 else f"contains: '{case_id}'"
        lines += [f"  - id: {case_id}", "    turns:", f"      - user: 'hello from {case_id}'",
                  "        expect:", f"          - {check}"]  # fmt: skip
        if n % 40 == 5:  # a second turn, so multi-turn cassettes are sharded too
            lines += ["      - user: 'and again'", "        expect:", "          - contains: again"]
    path.write_text("\n".join(lines) + "\n")
    return ids


def _outcomes(results: dict) -> dict[tuple[str, str, int], dict]:
    """Each case's result without its wall-clock duration: what must be equal however the run was split."""
    out = {}
    for case in results["cases"]:
        key = (case["suite"], case["id"], case["repeat"])
        assert key not in out, f"{key} appears twice"
        out[key] = {k: v for k, v in case.items() if k != "duration_ms"}
    return out


def test_four_shards_merged_equal_the_unsharded_run(fake_server, harness_cli, tmp_path, monkeypatch):
    suite = tmp_path / "evals" / "big.yaml"
    suite.parent.mkdir()
    _big_suite(suite)
    monkeypatch.setenv("OPENAI_API_KEY", FAKE_KEY)
    r = harness_cli("run", "evals", "--cassettes", "record-missing", "--base-url", fake_server.base_url,
                    "--out", "recorded", "-q")  # fmt: skip
    assert r.code == 1, r.err  # the failing checks
    monkeypatch.delenv("OPENAI_API_KEY")
    for n in range(5, CASES, 40):  # these cases become errors: their recordings are gone
        (tmp_path / "cassettes" / "big" / f"case-{n:03d}.yaml").unlink()
    requests_while_recording = len(fake_server.requests)

    whole = harness_cli("run", "evals", "--out", "whole", "-q")
    assert whole.code == 3, whole.err
    for k in range(1, 5):
        r = harness_cli("run", "evals", "--shard", f"{k}/4", "--out", f"shards/{k}", "-q")
        assert r.code in (0, 1, 3), r.err  # a shard's exit code is its own cases' verdict
    merged = harness_cli("merge", *(f"shards/{k}" for k in range(1, 5)), "--out", "merged")
    assert merged.code == 3, merged.err
    assert "warning" not in merged.err
    assert len(fake_server.requests) == requests_while_recording  # replay never touched the network

    expected = _outcomes(whole.results(tmp_path / "whole"))
    got = _outcomes(merged.results(tmp_path / "merged"))
    assert len(expected) == CASES
    assert got.keys() == expected.keys()
    for key in expected:
        assert got[key] == expected[key], key
    statuses = [c["status"] for c in expected.values()]
    assert (statuses.count("passed"), statuses.count("failed"), statuses.count("error")) == (175, 20, 5)
    summary = merged.results(tmp_path / "merged")["summary"]
    assert (summary["passed"], summary["failed"], summary["errored"], summary["total"]) == (175, 20, 5, 200)

    shard_ids = [{c["id"] for c in json.loads((tmp_path / f"shards/{k}/results.json").read_text())["cases"]}
                 for k in range(1, 5)]  # fmt: skip
    assert [len(s) for s in shard_ids] == [50, 50, 50, 50]
    assert set().union(*shard_ids) == {key[1] for key in expected}
    # round-robin over the sorted ids: shard 1 holds the 1st, 5th, 9th... case in (suite, id) order
    assert sorted(shard_ids[0])[:3] == ["case-000", "case-004", "case-008"]
    assert json.loads((tmp_path / "shards/2/results.json").read_text())["settings"]["shard"] == "2/4"


def test_shards_are_stable_across_runs_and_file_order(tmp_path):
    ids = _big_suite(tmp_path / "a.yaml")
    reordered = tmp_path / "b" / "a.yaml"
    reordered.parent.mkdir()
    # the same cases, written in a different order
    text = (tmp_path / "a.yaml").read_text()
    head, _, body = text.partition("cases:\n")
    blocks = ["  - id:" + b for b in body.split("  - id:")[1:]]
    reordered.write_text(head + "cases:\n" + "".join(reversed(blocks)))
    from harness.suites.planning import load_plans

    _, plans_a = load_plans([str(tmp_path / "a.yaml")])
    _, plans_b = load_plans([str(reordered)])
    for k in range(1, 4):
        shard = Shard(k, 3)
        assert {p.case.id for p in select_shard(plans_a, shard)} == {p.case.id for p in select_shard(plans_b, shard)}
    assert len(ids) == CASES


def test_a_shard_keeps_the_runs_own_order():
    items = [SimpleNamespace(key=("s", i)) for i in ["d", "a", "c", "b", "e"]]
    assert [i.key[1] for i in select_shard(items, Shard(1, 2))] == ["a", "c", "e"]
    assert [i.key[1] for i in select_shard(items, Shard(2, 2))] == ["d", "b"]


@given(st.sets(st.tuples(st.sampled_from(["alpha", "beta", "gamma"]), st.text(min_size=1, max_size=8)), max_size=60),
       st.integers(min_value=1, max_value=9), st.randoms())  # fmt: skip
def test_shards_cover_every_case_exactly_once_and_are_balanced(keys, total, rnd):
    items = [SimpleNamespace(key=k) for k in keys]
    rnd.shuffle(items)
    shards = [select_shard(items, Shard(k, total)) for k in range(1, total + 1)]
    picked = [i.key for shard in shards for i in shard]
    assert sorted(picked) == sorted(keys)
    sizes = [len(s) for s in shards]
    assert max(sizes) - min(sizes) <= 1
    again = list(items)
    rnd.shuffle(again)
    assert [{i.key for i in s} for s in shards] == [{i.key for i in select_shard(again, Shard(k, total))}
                                                     for k in range(1, total + 1)]  # fmt: skip


@pytest.mark.parametrize("text", ["1/1", "2/4", " 4 / 4 "])
def test_parse_shard_accepts_k_of_n(text):
    shard = parse_shard(text)
    assert str(shard) == text.replace(" ", "")


@pytest.mark.parametrize("text", ["0/4", "5/4", "1/0", "2", "a/b", "-1/3", "1/2/3"])
def test_parse_shard_rejects_with_the_fix(text):
    with pytest.raises(ShardError, match="K/N|between 1 and N"):
        parse_shard(text)


def test_bad_shard_flag_is_a_usage_error(harness_cli, write_suite, capsys):
    suite = write_suite("suite: s\nmodel: m\ncases:\n  - id: a\n    turns: [{user: hi}]\n")
    with pytest.raises(SystemExit) as exc:
        harness_cli("run", suite, "--shard", "5/4")
    assert exc.value.code == 2
    assert "shard 5/4 does not exist" in capsys.readouterr().err


def test_more_shards_than_cases_leaves_some_empty(fake_server, harness_cli, write_suite, tmp_path):
    suite = write_suite("suite: s\nmodel: m\ncases:\n  - id: a\n    turns: [{user: hi}]\n  - id: b\n    turns: [{user: yo}]\n")
    r = harness_cli("run", suite, "--shard", "3/3", "--cassettes", "off", "--base-url", fake_server.base_url)
    assert r.code == 0, r.err
    assert "shard 3/3: 0 of 2 cases" in r.err
    assert r.results(tmp_path / "reports/latest")["cases"] == []


def _run(tmp_path: Path, name: str, cases: list[tuple[str, str, str]], shard: str | None = None,
         schema_version: int = 1, model: str | None = None, paths: list[str] | None = None) -> Path:  # fmt: skip
    settings = {"paths": paths or ["evals"], "model": model, "cassettes": "replay"}
    if shard:
        settings["shard"] = shard
    run = RunResult(settings=settings, cases=[CaseResult(suite=s, id=i, status=status) for s, i, status in cases],
                    started_at="2025-01-01T00:00:00+00:00", duration_ms=100.0 * len(cases),
                    schema_version=schema_version)  # fmt: skip
    folder = tmp_path / name
    folder.mkdir(parents=True)
    (folder / "results.json").write_text(json.dumps(run.to_dict()))
    return folder


def test_merge_orders_cases_and_records_its_inputs(harness_cli, tmp_path):
    a = _run(tmp_path, "a", [("s", "z", "passed"), ("s", "b", "failed")], shard="1/2")
    b = _run(tmp_path, "b", [("r", "a", "passed")], shard="2/2")
    r = harness_cli("merge", a, b, "--out", "merged")
    assert r.code == 1, r.err
    data = r.results(tmp_path / "merged")
    assert [(c["suite"], c["id"]) for c in data["cases"]] == [("r", "a"), ("s", "b"), ("s", "z")]
    assert data["settings"]["merged_from"] == [str(a / "results.json"), str(b / "results.json")]
    assert data["settings"]["shards"] == ["1/2", "2/2"] and "shard" not in data["settings"]
    assert data["summary"]["total"] == 3 and data["duration_ms"] == 200.0
    assert load_run(tmp_path / "merged/results.json").summary.failed == 1
    assert "merged 3 cases from 2 results files" in r.out


def test_merge_refuses_duplicate_cases(harness_cli, tmp_path):
    a = _run(tmp_path, "a", [("s", "x", "passed"), ("s", "y", "passed")])
    b = _run(tmp_path, "b", [("s", "y", "failed")])
    r = harness_cli("merge", a, b, "--out", "merged")
    assert r.code == 2
    assert f"s / y is in both {a / 'results.json'} and {b / 'results.json'}" in r.err
    assert not (tmp_path / "merged").exists()


def test_merge_refuses_mixed_schema_versions():
    old = RunResult(settings={}, cases=[], schema_version=0)
    new = RunResult(settings={}, cases=[], schema_version=1)
    with pytest.raises(MergeError, match="different schema versions .*old has 0, new has 1"):
        merge_runs([("old", old), ("new", new)])


def test_merge_refuses_a_results_file_from_the_future(harness_cli, tmp_path):
    a = _run(tmp_path, "a", [("s", "x", "passed")])
    future = _run(tmp_path, "future", [("s", "y", "passed")], schema_version=99)
    r = harness_cli("merge", a, future)
    assert r.code == 2
    assert "schema_version 99 is newer" in r.err


def test_merge_reports_every_unreadable_input(harness_cli, tmp_path):
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "results.json").write_text('{"cases": [')
    r = harness_cli("merge", broken, tmp_path / "nowhere")
    assert r.code == 2
    assert "not valid JSON" in r.err
    assert "no such results file; pass the folders that hold each shard's results.json" in r.err


def test_merge_warns_about_missing_shards_and_different_models(harness_cli, tmp_path):
    a = _run(tmp_path, "a", [("s", "x", "passed")], shard="1/3", model="m1")
    c = _run(tmp_path, "c", [("s", "z", "passed")], shard="3/3", model="m2")
    r = harness_cli("merge", a, c, "--out", "merged")
    assert r.code == 0
    assert "shard(s) 2/3 not given" in r.err
    assert "different `model` settings" in r.err


def test_merge_help_explains_itself(harness_cli, capsys):
    with pytest.raises(SystemExit):
        harness_cli("merge", "--help")
    text = capsys.readouterr().out
    assert "--shard K/N" in text and "exit 2" in text and "harness merge shards/*" in text


def test_readme_documents_the_ci_matrix_recipe():
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    section = readme.split("## Sharding across CI machines", 1)[1].split("\n## ", 1)[0]
    assert "--shard" in section and "harness merge" in section and "round-robin" in section
    assert textwrap.dedent(section).count("matrix") >= 1


def test_merge_with_expect_shards_fails_when_a_shard_is_missing(harness_cli, tmp_path):
    a = _run(tmp_path, "a", [("s", "x", "passed")], shard="1/3")
    c = _run(tmp_path, "c", [("s", "z", "passed")], shard="3/3")
    r = harness_cli("merge", a, c, "--out", "merged", "--expect-shards", "3")
    assert r.code == 2
    assert "error: expected 3 shards, got 2: shard 2/3 is missing; the merged run would leave its cases out" in r.err
    assert not (tmp_path / "merged/results.json").exists()
    b = _run(tmp_path, "b", [("s", "y", "passed")], shard="2/3")
    assert harness_cli("merge", a, b, c, "--out", "merged", "--expect-shards", "3").code == 0
    wrong = harness_cli("merge", a, b, c, "--out", "merged", "--expect-shards", "4")
    assert wrong.code == 2 and "expected 4 shards, got 3 of a 3-way split" in wrong.err
    unsharded = _run(tmp_path, "u", [("s", "w", "passed")])
    r = harness_cli("merge", unsharded, "--out", "merged", "--expect-shards", "1")
    assert r.code == 2 and f"{unsharded / 'results.json'} was not run with --shard" in r.err


def test_merge_with_expect_shards_refuses_shards_of_different_suites(harness_cli, tmp_path):
    """Shard 3 cut from `evals/support.yaml` and shards 1-2 from `evals/`: each is a k/3, but together they leave
    cases out; the gate must not pass on them."""
    a = _run(tmp_path, "a", [("s", "x", "passed")], shard="1/3")
    b = _run(tmp_path, "b", [("s", "y", "passed")], shard="2/3")
    c = _run(tmp_path, "c", [("s", "z", "passed")], shard="3/3", paths=["evals/support.yaml"])
    r = harness_cli("merge", a, b, c, "--out", "merged", "--expect-shards", "3")
    assert r.code == 2
    assert (f"error: the shards did not run the same suites: their PATH differ ({a / 'results.json'}: ['evals']; "
            f"{b / 'results.json'}: ['evals']; {c / 'results.json'}: ['evals/support.yaml']); cut every shard from the "
            "same run") in r.err  # fmt: skip
    assert not (tmp_path / "merged/results.json").exists()


def test_the_sharding_recipe_merges_with_expect_shards():
    doc = (Path(__file__).parent.parent / "docs/pytest-and-sharding.md").read_text()
    recipe = doc.split("```yaml", 1)[1].split("```", 1)[0]
    assert "shard: [1, 2, 3, 4]" in recipe and "harness merge shards/* --expect-shards 4" in recipe
