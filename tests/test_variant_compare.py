"""`harness compare RUN --base-variant A --head-variant B`: two variants of one run, judged like two runs."""

from __future__ import annotations

from harness.core.policy import CasePolicy
from harness.core.reply import Completion, Usage
from harness.core.result import FAILED, PASSED, CaseResult, RunResult, TurnResult, save_run


def _repeats(cid: str, variant: str, outcomes: str) -> list[CaseResult]:
    policy = CasePolicy(repeats=len(outcomes))
    return [CaseResult("s", cid, PASSED if o == "p" else FAILED, file="s.yaml", repeat=i, policy=policy,
                       variant=variant, turns=[TurnResult(1, [{"role": "user", "content": "hi"}], {},
                                                          Completion(f"{variant} {o}", "stop", Usage(5, 5, 10)))])
            for i, o in enumerate(outcomes)]  # fmt: skip


def _save(tmp_path, name: str, cases: list[CaseResult]):
    path = tmp_path / name / "results.json"
    save_run(RunResult({"model": "m"}, cases), path)
    return path.parent


def test_a_significant_drop_between_variants_fails_the_gate(harness_cli, tmp_path):
    run = _save(tmp_path, "run", _repeats("a", "good", "pppppppp") + _repeats("a", "bad", "ffffffff")
                + _repeats("b", "good", "pppp") + _repeats("b", "bad", "pppp"))  # fmt: skip
    r = harness_cli("compare", run, "--base-variant", "good", "--head-variant", "bad", "--out", "cmp")
    assert r.code == 1, r.out + r.err
    assert "1 case regressed" in r.out
    html = (tmp_path / "cmp/diff.html").read_text()
    assert "run [good]" in html and "run [bad]" in html
    back = harness_cli("compare", run, "--base-variant", "bad", "--head-variant", "good", "--out", "cmp2")
    assert back.code == 0, back.out  # the other way round it is a fix


def test_an_insignificant_difference_passes_with_the_same_statistics_as_two_runs(harness_cli, tmp_path):
    a = _repeats("a", "x", "pppppp") + _repeats("b", "x", "pppp")
    b = _repeats("a", "y", "ppppfp") + _repeats("b", "y", "pppp")
    run = _save(tmp_path, "run", a + b)
    r = harness_cli("compare", run, "--base-variant", "x", "--head-variant", "y", "--out", "cmp")
    assert r.code == 0, r.out + r.err
    for c in a + b:
        c.variant = ""
    two = harness_cli("compare", _save(tmp_path, "x", a), _save(tmp_path, "y", b), "--out", "cmp2")
    assert two.code == 0
    strip = lambda text: [line for line in text.splitlines() if "run" not in line and "cmp" not in line]  # noqa: E731
    assert strip(r.out) == strip(two.out)  # the same p-values, intervals and verdict
    assert "p = " in r.out or "p=" in r.out


def test_wrong_variant_flags_are_exit_2_with_the_variants_the_run_holds(harness_cli, tmp_path):
    run = _save(tmp_path, "run", _repeats("a", "x", "p") + _repeats("a", "y", "p"))
    r = harness_cli("compare", run, "--base-variant", "x", "--head-variant", "z")
    assert r.code == 2 and "no variant named 'z' in this run; it holds x, y" in r.err
    run = _save(tmp_path, "named", _repeats("a", "chat", "p") + _repeats("a", "responses", "p"))
    r = harness_cli("compare", run, "--base-variant", "chat", "--head-variant", "respnses")
    assert "no variant named 'respnses' in this run (did you mean 'responses'?); it holds chat, responses" in r.err
    r = harness_cli("compare", run, "--base-variant", "x")
    assert r.code == 2 and "--base-variant and --head-variant go together" in r.err
    r = harness_cli("compare", run, run, "--base-variant", "x", "--head-variant", "y")
    assert r.code == 2 and "give one run, not BASE and HEAD" in r.err
    plain = _save(tmp_path, "plain", [CaseResult("s", "a", PASSED)])
    r = harness_cli("compare", plain, "--base-variant", "x", "--head-variant", "y")
    assert r.code == 2 and "it has no variants" in r.err
    r = harness_cli("compare", run)
    assert r.code == 2 and "give BASE and HEAD" in r.err
