"""harness/core/outcomes.py and harness/core/policy.py: pass_if over repeats, flaky cases, gates, and their YAML."""

from __future__ import annotations

import pytest

from harness.core import exit_codes
from harness.core.outcomes import case_outcome, outcomes
from harness.core.policy import CasePolicy, PassPolicy
from harness.core.result import CaseResult, RunResult, Summary, load_run, save_run


def _repeats(statuses: str, case_id: str = "a", suite: str = "s", **policy) -> list[CaseResult]:
    """'ppf' -> passed, passed, failed; e = error, s = skipped, i = interrupted."""
    names = {"p": "passed", "f": "failed", "e": "error", "s": "skipped", "i": "interrupted"}
    pol = CasePolicy(repeats=len(statuses), **policy)
    return [CaseResult(suite, case_id, names[ch], repeat=k, policy=pol) for k, ch in enumerate(statuses)]


@pytest.mark.parametrize(("statuses", "pass_if", "status", "flaky"), [
    ("ppppp", "all", "passed", False),
    ("ppppf", "all", "failed", True),
    ("pppff", "majority", "passed", True),
    ("ppfff", "majority", "failed", True),
    ("ppff", "majority", "failed", True),  # more than half: 2 of 4 is not a majority
    ("ppfff", {"at_least": 2}, "passed", True),
    ("pffff", {"at_least": 2}, "failed", True),
    ("ppppe", "all", "error", False),  # undecided: the errored repeat might have passed
    ("pppfe", "all", "failed", True),  # decided: one failure already breaks `all`
    ("pppee", "majority", "passed", False),  # decided: 3 of 5 passed whatever the errors would have been
    ("ppeee", "majority", "error", False),
    ("sssss", "all", "skipped", False),
    ("ppiii", "majority", "interrupted", False),
    ("f", "all", "failed", False),
])  # fmt: skip
def test_pass_if_over_repeats(statuses, pass_if, status, flaky):
    o = case_outcome(_repeats(statuses, pass_if=pass_if))
    assert (o.status, o.flaky, o.repeats) == (status, flaky, len(statuses))
    evaluated = sum(ch in "pfe" for ch in statuses)
    assert o.pass_rate == (statuses.count("p") / evaluated if evaluated else None)


def test_summary_counts_cases_not_repeats_and_tokens_over_every_repeat():
    cases = _repeats("ppppp", "a") + _repeats("ppfff", "b", pass_if="majority") + _repeats("f", "c", allow_fail=True)
    s = Summary.of(cases)
    assert (s.total, s.repeats, s.passed, s.failed, s.flaky, s.tolerated) == (3, 11, 1, 2, 1, 1)
    assert exit_codes.for_summary(s) == exit_codes.FAILED  # b fails and nothing tolerates it


def test_min_pass_rate_tolerates_failures_only_while_the_gate_holds():
    held = _repeats("p", "a", min_pass_rate=0.5) + _repeats("f", "b", min_pass_rate=0.5)
    assert [o.tolerated for o in outcomes(held)] == [False, True]
    assert exit_codes.for_summary(Summary.of(held)) == exit_codes.OK
    broken = held + _repeats("f", "c", min_pass_rate=0.5)
    assert not any(o.tolerated for o in outcomes(broken))
    errors = _repeats("p", "a", min_pass_rate=0.5) + _repeats("e", "b", min_pass_rate=0.5)
    assert exit_codes.for_summary(Summary.of(errors)) == exit_codes.NOT_EVALUATED  # gates never hide an error


def test_results_json_round_trips_policies_and_still_reads_version_1(tmp_path):
    run = RunResult({}, _repeats("ppf", pass_if="majority", threshold=0.5))
    save_run(run, tmp_path / "r.json")
    back = load_run(tmp_path / "r.json")
    assert back.cases[0].policy == CasePolicy(repeats=3, pass_if="majority", threshold=0.5)
    assert back.summary.passed == 1 and back.schema_version == 4
    old = tmp_path / "v1.json"
    old.write_text('{"schema_version": 1, "cases": [{"suite": "s", "id": "a", "status": "failed"}]}')
    v1 = load_run(old)
    assert v1.cases[0].policy == CasePolicy() and v1.summary.failed == 1


def test_pass_policy_forms():
    assert PassPolicy.from_json({"at_least": 3}).required(5) == 3
    assert PassPolicy.from_json("majority").required(5) == 3 and PassPolicy.from_json("majority").required(1) == 1
    assert str(PassPolicy.from_json({"at_least": 2})) == "at least 2" and PassPolicy().to_json() == "all"


def _bad(fake_server, harness_cli, write_suite, text: str) -> str:
    r = harness_cli("run", write_suite(text), "--cassettes", "off", "--base-url", fake_server.base_url)
    assert r.code == 2, r.out + r.err
    assert fake_server.requests == []
    return r.err


def test_new_suite_keys_are_validated_with_file_line_and_did_you_mean(fake_server, harness_cli, write_suite):
    err = _bad(
        fake_server,
        harness_cli,
        write_suite,
        """
        model: m
        repeat: 0
        pass_if: majorty
        min_pass_rate: 90
        threshold: 2
        cases:
          - id: a
            repeat: 3
            pass_if: {atleast: 2}
            allow_fail: maybe
            min_pass_rate: 0.5
            turns:
              - user: hi
                expect:
                  - contains: hi
                    wieght: 2
                  - contains: hi
                    weight: 0
                    metric: [x]
          - id: b
            repeat: 2
            pass_if: {at_least: 3}
            turns: [{user: hi}]
    """,
    )
    for expected in [
        "suite.yaml:2:9: `repeat` in the suite must be a whole number from 1 to 1000",
        "suite.yaml:3:10: `pass_if` in the suite is 'majorty', which is not a policy; did you mean 'majority'?",
        "suite.yaml:4:16: `min_pass_rate` in the suite must be a fraction above 0 and at most 1",
        "got 90; write 0.9 for 90%",
        "suite.yaml:5:12: `threshold` in the suite must be a fraction above 0 and at most 1",
        "suite.yaml:9:24: `pass_if` in case 'a' has unknown key 'atleast'; did you mean 'at_least'?",
        "suite.yaml:10:17: `allow_fail` in case 'a' must be true or false, got 'maybe'",
        "suite.yaml:11:5: unknown key 'min_pass_rate' in case 'a'",
        "suite.yaml:16:13: unknown key 'wieght' beside a check in turn 1 of case 'a'; did you mean 'weight'?",
        "suite.yaml:18:21: `weight` must be a positive number, got 0",
        "suite.yaml:19:21: `metric` must be a name such as `accuracy`, got ['x']",
        "suite.yaml:22:14: `pass_if: {at_least: 3}` can never be met by case 'b', which runs 2 times",
    ]:  # fmt: skip
        assert expected in err, f"missing {expected!r} in:\n{err}"


def test_threshold_and_allow_fail_plan_into_the_case_policy(write_suite):
    from harness.suites.planning import load_plans

    path = write_suite("""
        model: m
        repeat: 4
        threshold: 0.5
        min_pass_rate: 0.9
        cases:
          - {id: a, turns: [{user: hi}]}
          - {id: b, repeat: 2, pass_if: {at_least: 1}, threshold: 0.8, allow_fail: true, turns: [{user: hi}]}
    """)
    _, (a, b) = load_plans([str(path)])
    assert a.policy == CasePolicy(repeats=4, pass_if="all", threshold=0.5, min_pass_rate=0.9)
    assert b.policy == CasePolicy(repeats=2, pass_if={"at_least": 1}, threshold=0.8, allow_fail=True, min_pass_rate=0.9)


@pytest.mark.parametrize("variant", ["", "candidate"])
@pytest.mark.parametrize("pass_if", ["majority", {"at_least": 2}])
def test_the_written_out_to_dicts_equal_dataclasses_asdict_and_copy_what_is_mutable(variant, pass_if):
    # Outcome.to_dict and CasePolicy.to_dict are spelled out field by field for speed; a field added to either
    # dataclass must reach results.json and the fingerprints all the same.
    from dataclasses import asdict

    from harness.core.outcomes import Outcome

    policy = CasePolicy(repeats=3, pass_if=pass_if, threshold=0.5, allow_fail=True, min_pass_rate=0.9,
                        usage_limits={"cost": 10.0}, allow_new_failures=True)  # fmt: skip
    assert policy.to_dict() == asdict(policy)
    assert policy.to_dict()["usage_limits"] is not policy.usage_limits
    outcome = Outcome(suite="s", id="c", status="failed", repeats=3, passed=1, failed=2, errored=0, pass_rate=1 / 3,
                      policy=pass_if, flaky=True, allow_fail=False, tolerated=True, score=0.5, threshold=0.5,
                      file="s.yaml", variant=variant)  # fmt: skip
    expected = asdict(outcome)
    if not variant:
        del expected["variant"]
    assert outcome.to_dict() == expected
    if isinstance(pass_if, dict):
        assert outcome.to_dict()["policy"] is not outcome.policy
