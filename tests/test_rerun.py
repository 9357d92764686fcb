"""`harness run --rerun failed|errored --from DIR` (harness/results/rerun.py, harness/cli/rerun.py): only those cases
are sent again, every repeat of each; the results.json written is the whole run, re-run cases marked."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from tests.fake_openai import FakeOpenAI, Faults

SUITE = """
suite: desk
model: fake-model
system: {file: prompts/system.md}
cases:
  - id: a
    turns: [{user: "one", expect: [{contains: one}]}]
  - id: b
    turns: [{user: "two", expect: [{contains: two}]}]
  - id: c
    turns: [{user: "three", expect: [{contains: three}]}]
  - id: d
    turns: [{user: "four", expect: [{contains: four}]}]
"""


def write(tmp_path: Path, suite: str = SUITE) -> None:
    (tmp_path / "prompts").mkdir(exist_ok=True)
    (tmp_path / "prompts/system.md").write_text("You help.")
    (tmp_path / "desk.yaml").write_text(textwrap.dedent(suite).lstrip())


def results(tmp_path: Path, out: str) -> dict:
    return json.loads((tmp_path / out / "results.json").read_text())


def statuses(data: dict) -> dict[str, str]:
    return {c["id"]: c["status"] for c in data["cases"]}


def test_cases_that_need_re_recording_are_not_offered_a_re_run_that_would_replay_them_again(
        harness_cli, tmp_path, fake_server):  # fmt: skip
    write(tmp_path)
    assert harness_cli("run", "desk.yaml", "--cassettes", "record", "--base-url", fake_server.base_url, "-q").code == 0
    (tmp_path / "prompts/system.md").write_text("You help, briefly.")  # every recording is stale now
    r = harness_cli("run", "desk.yaml", "-q", "--out", "head")
    assert r.code == 3
    assert "re-record: harness run desk.yaml --case a --case b --case c --case d --cassettes record-missing" in r.out
    assert "--rerun" not in r.out and "--rerun" not in (tmp_path / "head/summary.md").read_text()
    (tmp_path / "desk.yaml").write_text(SUITE.lstrip().replace("[{contains: two}]", "[{contains: deux}]"))
    harness_cli("run", "desk.yaml", "--cassettes", "record-missing", "--base-url", fake_server.base_url, "-q")
    r = harness_cli("run", "desk.yaml", "-q", "--out", "mixed")  # b fails; a and c were re-recorded, d too
    assert "re-run only those: harness run --rerun failed --from mixed" in r.out


def test_after_an_outage_only_the_errored_cases_are_sent_again(harness_cli, tmp_path):
    write(tmp_path)
    with FakeOpenAI(faults=Faults(rate_503=0.5, seed=1)) as flaky:  # requests 1 and 4 get 503
        r = harness_cli("run", "desk.yaml", "--cassettes", "off", "--base-url", flaky.base_url, "--max-retries", "0",
                        "--concurrency", "1", "-q", "--out", "first")  # fmt: skip
    assert r.code == 3
    first = results(tmp_path, "first")
    assert statuses(first) == {"a": "error", "b": "passed", "c": "passed", "d": "error"}
    assert "re-run only those: harness run --rerun errored --from first" in r.out
    assert "Re-run only the errored cases: `harness run --rerun errored --from first`" in (tmp_path / "first/summary.md").read_text()
    with FakeOpenAI() as healthy:
        r = harness_cli("run", "--rerun", "errored", "--from", "first", "--base-url", healthy.base_url, "--out", "second")
        sent = sorted(q.body["messages"][-1]["content"] for q in healthy.requests)
    assert r.code == 0, r.out + r.err
    assert sent == ["four", "one"]
    assert "re-running 2 cases of first that ended errored; the other 2 cases keep their results" in r.err
    second = results(tmp_path, "second")
    assert statuses(second) == {"a": "passed", "b": "passed", "c": "passed", "d": "passed"}
    assert second["summary"]["total"] == 4 and second["summary"]["passed"] == 4  # every case counted once
    assert [c.get("rerun", False) for c in second["cases"]] == [True, False, False, True]
    kept = {c["id"]: c for c in first["cases"]}
    for case in second["cases"]:
        if not case.get("rerun"):
            assert case == kept[case["id"]]  # carried over as it was
    assert second["rerun"] == {"statuses": ["errored"], "from": "first", "cases": 2,
                               "command": "harness run --rerun errored --from first"}  # fmt: skip
    summary = (tmp_path / "second/summary.md").read_text()
    assert "2 cases re-run (harness run --rerun errored --from first)" in summary


def test_rerun_failed_replays_every_repeat_of_the_failed_cases_only(harness_cli, fake_server, tmp_path):
    write(tmp_path, SUITE.replace('user: "two", expect: [{contains: two}]', 'user: "two", expect: [{contains: deux}]')
          .replace("  - id: b\n", "  - id: b\n    repeat: 3\n"))
    first = harness_cli("run", "desk.yaml", "--cassettes", "off", "--base-url", fake_server.base_url, "-q")
    assert first.code == 1
    before = len(fake_server.requests)
    r = harness_cli("run", "--rerun", "failed", "--from", "reports/latest", "-q")  # its --base-url is the earlier run's
    assert r.code == 1
    assert [q.body["messages"][-1]["content"] for q in fake_server.requests[before:]] == ["two"] * 3
    data = results(tmp_path, "reports/latest")  # written in place over the run it completed
    assert [(c["id"], c["repeat"], c.get("rerun", False)) for c in data["cases"]] == [
        ("a", 0, False), ("b", 0, True), ("b", 1, True), ("b", 2, True), ("c", 0, False), ("d", 0, False)]
    assert data["summary"]["total"] == 4 and data["summary"]["failed"] == 1
    page = (tmp_path / "reports/latest/report.html").read_text()
    assert '"rr":true' in page


@pytest.mark.parametrize("edit", ["desk.yaml", "prompts/system.md"])
def test_rerun_is_refused_when_the_suites_changed_since(edit, harness_cli, fake_server, tmp_path):
    write(tmp_path, SUITE.replace("contains: two", "contains: deux"))
    assert harness_cli("run", "desk.yaml", "--cassettes", "off", "--base-url", fake_server.base_url, "-q").code == 1
    path = tmp_path / edit
    path.write_text(path.read_text() + "\n# edited\n")
    before = len(fake_server.requests)
    r = harness_cli("run", "--rerun", "failed", "--from", "reports/latest")
    assert r.code == 2
    assert ("error: the suites changed since the run in reports/latest, so its results cannot be completed by a "
            "re-run: suite 'desk' (desk.yaml), or a prompt or data file it reads, changed. Run the suites in full "
            "instead: harness run desk.yaml --cassettes off --base-url " + fake_server.base_url) in r.err  # fmt: skip
    assert len(fake_server.requests) == before


@pytest.mark.parametrize("args, message", [
    (["--rerun", "failed"], "--rerun needs --from DIR"),
    (["--from", "first"], "--from needs --rerun failed|errored"),
    (["--rerun", "broken", "--from", "first"], "--rerun takes failed, errored or failed,errored, got 'broken'"),
    (["desk.yaml", "--rerun", "failed", "--from", "first"], "--rerun runs the suites and settings of the run in first; "
                                                             "drop PATH"),
    (["--rerun", "failed", "--from", "first", "--case", "a", "--model", "x"], "drop --model, --case"),
    (["--rerun", "failed", "--from", "nowhere"], "error: --from nowhere: no such run folder; pass the --out folder"),
    (["--resume", "first", "--rerun", "failed", "--from", "first"], "drop --rerun, --from"),
])  # fmt: skip
def test_rerun_flag_mistakes_are_exit_2(args, message, harness_cli, fake_server, tmp_path):
    write(tmp_path)
    assert harness_cli("run", "desk.yaml", "--cassettes", "off", "--base-url", fake_server.base_url, "-q",
                       "--out", "first").code == 0  # fmt: skip
    before = len(fake_server.requests)
    r = harness_cli("run", *args)
    assert r.code == 2 and message in r.err, r.err
    assert len(fake_server.requests) == before


def test_nothing_to_rerun_says_so_and_sends_nothing(harness_cli, fake_server, tmp_path):
    write(tmp_path)
    assert harness_cli("run", "desk.yaml", "--cassettes", "off", "--base-url", fake_server.base_url, "-q").code == 0
    before = len(fake_server.requests)
    r = harness_cli("run", "--rerun", "failed,errored", "--from", "reports/latest")
    assert r.code == 0 and "nothing to re-run: no case of reports/latest ended failed or errored" in r.err
    assert len(fake_server.requests) == before


def test_a_run_without_failures_prints_no_rerun_command(harness_cli, fake_server, tmp_path):
    write(tmp_path)
    r = harness_cli("run", "desk.yaml", "--cassettes", "off", "--base-url", fake_server.base_url, "-q")
    assert "--rerun" not in r.out and "--rerun" not in (tmp_path / "reports/latest/summary.md").read_text()


def test_an_interrupted_rerun_resumes_with_the_kept_cases(harness_cli, fake_server, tmp_path):
    write(tmp_path, SUITE.replace("contains: two", "contains: deux"))
    assert harness_cli("run", "desk.yaml", "--cassettes", "off", "--base-url", fake_server.base_url, "-q",
                       "--out", "first").code == 1  # fmt: skip
    r = harness_cli("run", "--rerun", "failed", "--from", "first", "--out", "again", "-q")
    assert r.code == 1
    journal = (tmp_path / "again/journal.jsonl").read_text().splitlines()
    assert len(journal) == 4  # the three kept cases, then the re-run one
    (tmp_path / "again/journal.jsonl").write_text("\n".join(journal[:3]) + "\n")  # as if killed before b finished
    before = len(fake_server.requests)
    r = harness_cli("run", "--resume", "again", "-q")
    assert r.code == 1
    assert [q.body["messages"][-1]["content"] for q in fake_server.requests[before:]] == ["two"]
    data = results(tmp_path, "again")
    assert [c.get("rerun", False) for c in data["cases"]] == [False, True, False, False]
    assert data["rerun"]["from"] == "first" and data["summary"]["total"] == 4


def test_the_merge_of_shards_can_be_rerun(harness_cli, fake_server, tmp_path):
    write(tmp_path, SUITE.replace("contains: two", "contains: deux"))
    for k in (1, 2):
        harness_cli("run", "desk.yaml", "--cassettes", "off", "--base-url", fake_server.base_url, "-q",
                    "--shard", f"{k}/2", "--out", f"shard-{k}")  # fmt: skip
    assert harness_cli("merge", "shard-1", "shard-2", "--out", "merged").code == 1
    before = len(fake_server.requests)
    r = harness_cli("run", "--rerun", "failed", "--from", "merged", "--base-url", fake_server.base_url, "-q")
    assert r.code == 1, r.err
    assert [q.body["messages"][-1]["content"] for q in fake_server.requests[before:]] == ["two"]
    assert results(tmp_path, "reports/latest")["summary"]["total"] == 4


def test_a_case_of_a_suite_with_variants_is_rerun_per_variant(harness_cli, fake_server, tmp_path):
    write(tmp_path, SUITE.replace("cases:\n", "variants:\n  - {name: plain}\n  - {name: loud, vars: {x: 1}, "
                                  "system: \"[[reply:ONE]]\"}\ncases:\n"))  # loud's replies fail every contains
    assert harness_cli("run", "desk.yaml", "--cassettes", "off", "--base-url", fake_server.base_url, "-q").code == 1
    before = len(fake_server.requests)
    r = harness_cli("run", "--rerun", "failed", "--from", "reports/latest", "-q")
    assert r.code == 1
    assert len(fake_server.requests) - before == 4  # the four cases of `loud`, not those of `plain`
    data = results(tmp_path, "reports/latest")
    assert {(c["id"], c["variant"]) for c in data["cases"] if c.get("rerun")} == {
        ("a", "loud"), ("b", "loud"), ("c", "loud"), ("d", "loud")}
    assert data["summary"]["total"] == 8


def test_a_rerun_split_over_workers_marks_the_same_cases_as_one_process(harness_cli, fake_server, tmp_path):
    """With `--workers` each worker encodes its cases for the journal: the re-run mark must be made there too."""
    write(tmp_path, SUITE.replace("expect: [{contains: two}]", "expect: [{contains: deux}]")
          .replace("expect: [{contains: four}]", "expect: [{contains: quatre}]"))  # fmt: skip
    assert harness_cli("run", "desk.yaml", "--cassettes", "off", "--base-url", fake_server.base_url, "-q",
                       "--out", "first").code == 1  # fmt: skip
    marks = {}
    for workers in ("1", "2"):
        r = harness_cli("run", "--rerun", "failed", "--from", "first", "--workers", workers, "-q", "--out", f"w{workers}")
        assert r.code == 1, r.err
        marks[workers] = [(c["id"], c.get("rerun", False)) for c in results(tmp_path, f"w{workers}")["cases"]]
        journal = (tmp_path / f"w{workers}/journal.jsonl").read_text().splitlines()
        assert sorted((json.loads(line)["id"], json.loads(line).get("rerun", False)) for line in journal) == [
            ("a", False), ("b", True), ("c", False), ("d", True)]  # kept cases journaled unmarked, re-run ones marked
    assert marks["2"] == marks["1"] == [("a", False), ("b", True), ("c", False), ("d", True)]
