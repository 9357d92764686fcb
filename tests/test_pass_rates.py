"""`harness compare` on repeated runs: a drop is a regression only if significant (harness/results/pass_rates.py)."""

from __future__ import annotations

import json
import math
import re
from fractions import Fraction

import pytest

from harness.core.policy import CasePolicy
from harness.core.reply import Completion, Usage
from harness.core.result import CaseResult, CheckResult, RunResult, TurnResult, save_run


def fisher_tail(base_pass: int, base_total: int, head_pass: int, head_total: int) -> Fraction:
    """Independent of harness.results.stats: P(head passes <= observed) under the hypergeometric law, in exact fractions."""
    passes = base_pass + head_pass
    tables = math.comb(base_total + head_total, passes)
    return sum((Fraction(math.comb(head_total, k) * math.comb(base_total, passes - k), tables)
                for k in range(head_pass + 1) if 0 <= passes - k <= base_total), Fraction(0))  # fmt: skip


def shown(p: Fraction) -> str:
    return f"p = {float(p):.3g}"


def _repeat(case_id: str, k: int, passed: bool, n: int = 5) -> CaseResult:
    reply = "yes, a refund" if passed else "no"
    check = CheckResult("contains", passed, "ok" if passed else "expected reply to contain 'refund', got 'no'")
    turn = TurnResult(
        1, [{"role": "user", "content": "refund?"}], {}, Completion(reply, "stop", Usage(3, 2, 5)), [check]
    )
    return CaseResult("shop", case_id, "passed" if passed else "failed", turns=[turn], repeat=k,
                      policy=CasePolicy(repeats=n))  # fmt: skip


def _run(path, passes: dict[str, int], n: int = 5):
    cases = [_repeat(cid, k, k < p, n) for cid, p in passes.items() for k in range(n)]
    save_run(RunResult({"cassettes": "replay"}, cases, duration_ms=10.0), path)
    return path


def test_compare_flags_a_significant_drop_and_not_one_repeat_of_five(harness_cli, tmp_path):
    base = _run(tmp_path / "base.json", {"drop": 5, "noise": 5, "same": 3})
    head = _run(tmp_path / "head.json", {"drop": 0, "noise": 4, "same": 3})
    r = harness_cli("compare", base, head, "--out", "cmp")
    assert r.code == 1, r.out + r.err  # the drop regressed
    p_drop, p_noise = fisher_tail(5, 5, 0, 5), fisher_tail(5, 5, 4, 5)
    assert p_drop == Fraction(1, 252) and p_noise == Fraction(1, 2)  # the independent computation itself

    out = r.out
    assert re.search(r"^REGRESSED\s+shop / drop\s+\(passed -> failed\)", out, re.M)
    assert f"pass rate 5/5 \u2192 0/5, {shown(p_drop)} (significant at 0.05)" in out
    assert re.search(r"^CHANGED\s+shop / noise\s+\(passed -> failed\)", out, re.M)  # its outcome flipped: noise
    assert f"pass rate 5/5 \u2192 4/5, {shown(p_noise)} (not significant at 0.05)" in out
    assert re.search(r"^STILL FAILING\s+shop / same", out, re.M)  # 3/5 -> 3/5 fails `pass_if: all` on both sides
    assert (
        f"pass rate 3/5 \u2192 3/5, {shown(fisher_tail(3, 5, 3, 5))} (not significant at 0.05); repeat 4 shown" in out
    )
    assert "1 regressed" in out and "gate failed: 1 case regressed" in out
    assert "one-sided Fisher exact test, \u03b1 = 0.05" in out

    md = (tmp_path / "cmp/summary.md").read_text()
    assert f"{shown(p_drop)} (significant at 0.05)" in md and f"{shown(p_noise)} (not significant at 0.05)" in md
    assert md.index("#### Regressed (1)") < md.index("- **shop / drop**") < md.index("#### Changed (1)")
    assert "| shop | 13/15 = 86.7% [62.1%, 96.3%] | 7/15 = 46.7% [24.8%, 69.9%] |" in md  # Wilson per run

    html = (tmp_path / "cmp/diff.html").read_text()
    assert f"<td>{float(p_drop):.3g}</td>" in html and f"<td>{float(p_noise):.3g}</td>" in html
    data = json.loads(re.search(r'id="data">(.*?)</script>', html, re.S).group(1))
    rows = {c["i"]: c for c in data["cases"]}
    assert len(data["cases"]) == 3  # one row per case, not per repeat
    assert rows["drop"]["ch"] == "regressed" and shown(p_drop) in rows["drop"]["sx"]
    assert rows["noise"]["ch"] == "changed" and shown(p_noise) in rows["noise"]["sx"]
    assert (rows["drop"]["bs"], rows["drop"]["hs"]) == ("passed", "failed")


def test_suite_pass_rate_change_has_a_newcombe_interval(harness_cli, tmp_path):
    from harness.results.stats import newcombe_difference

    base = _run(tmp_path / "base.json", {"a": 5, "b": 5})
    head = _run(tmp_path / "head.json", {"a": 1, "b": 5})
    r = harness_cli("compare", base, head, "--out", "cmp")
    ci = newcombe_difference(10, 10, 6, 10)
    expected = f"{100 * (0.6 - 1.0):+.1f} pp [{100 * ci.low:+.1f}, {100 * ci.high:+.1f}]"
    assert ci.low < -0.4 < ci.high < 0
    assert f"change {expected}" in r.out
    assert expected in (tmp_path / "cmp/summary.md").read_text()
    assert expected in (tmp_path / "cmp/diff.html").read_text()


def test_alpha_sets_the_significance_level(harness_cli, tmp_path):
    base = _run(tmp_path / "base.json", {"drop": 5})
    head = _run(tmp_path / "head.json", {"drop": 0})
    r = harness_cli("compare", base, head, "--out", "cmp", "--alpha", "0.001")
    assert r.code == 0, r.out  # p = 0.00397 is not below 0.001
    assert "(not significant at 0.001)" in r.out and re.search(r"^CHANGED\s+shop / drop", r.out, re.M)
    with pytest.raises(SystemExit) as exit_info:
        harness_cli("compare", base, head, "--alpha", "2")
    assert exit_info.value.code == 2


def test_without_repeats_compare_falls_back_to_status_and_says_so(harness_cli, tmp_path):
    base = _run(tmp_path / "base.json", {"a": 1, "b": 1}, n=1)
    head = _run(tmp_path / "head.json", {"a": 0, "b": 1}, n=1)
    r = harness_cli("compare", base, head, "--out", "cmp")
    assert r.code == 1 and re.search(r"^REGRESSED\s+shop / a\s+\(passed -> failed\)", r.out, re.M)
    note = "No case has repeats in both runs, so cases are compared by status"
    assert note in r.out and note in (tmp_path / "cmp/summary.md").read_text()
    assert note in (tmp_path / "cmp/diff.html").read_text()
    assert "p = " not in r.out
