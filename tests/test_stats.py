"""The statistics behind `harness compare`, against published values and an independent computation."""

from __future__ import annotations

import math
from fractions import Fraction

import pytest

from harness.results.stats import fisher_drop_p_value, newcombe_difference, wilson_interval


def exact_lower_tail(base_pass: int, base_total: int, head_pass: int, head_total: int) -> Fraction:
    """Independent: enumerate every 2x2 table with the observed margins, in exact fractions."""
    passes = base_pass + head_pass
    total = math.comb(base_total + head_total, passes)
    tail = Fraction(0)
    for k in range(0, head_pass + 1):
        if 0 <= passes - k <= base_total and k <= head_total:
            tail += Fraction(math.comb(head_total, k) * math.comb(base_total, passes - k), total)
    return tail


def test_lady_tasting_tea_published_value():
    # Fisher's own example: 3 of 4 right against 1 of 4; one-sided p = 17/70.
    assert fisher_drop_p_value(3, 4, 1, 4) == pytest.approx(17 / 70, rel=1e-12)


@pytest.mark.parametrize(
    "counts",
    [(5, 5, 4, 5), (5, 5, 0, 5), (10, 10, 3, 10), (8, 10, 5, 10), (20, 20, 15, 20), (3, 7, 1, 9), (50, 60, 20, 40)],
)
def test_fisher_matches_exact_enumeration(counts):
    assert fisher_drop_p_value(*counts) == pytest.approx(float(exact_lower_tail(*counts)), rel=1e-9)


def test_one_repeat_out_of_five_is_not_significant_but_a_collapse_is():
    assert fisher_drop_p_value(5, 5, 4, 5) == pytest.approx(0.5)  # 4/5 after 5/5: pure noise
    assert fisher_drop_p_value(5, 5, 0, 5) < 0.01  # 0/5 after 5/5: a real regression


def test_no_drop_gives_p_near_one():
    assert fisher_drop_p_value(2, 5, 5, 5) == 1.0
    assert fisher_drop_p_value(5, 5, 5, 5) == 1.0


def test_invalid_counts_are_rejected():
    with pytest.raises(ValueError):
        fisher_drop_p_value(6, 5, 1, 5)


def independent_wilson(k: int, n: int, z: float = 1.959963984540054) -> tuple[float, float]:
    """Wilson's interval as the roots of the quadratic (p - k/n)^2 = z^2 p (1 - p) / n."""
    phat = k / n
    a = 1 + z * z / n
    b = -(2 * phat + z * z / n)
    c = phat * phat
    disc = math.sqrt(b * b - 4 * a * c)
    return (-b - disc) / (2 * a), (-b + disc) / (2 * a)


@pytest.mark.parametrize("k,n", [(8, 10), (0, 10), (10, 10), (81, 263), (1, 3)])
def test_wilson_matches_quadratic_roots(k, n):
    low, high = independent_wilson(k, n)
    got = wilson_interval(k, n)
    assert got.low == pytest.approx(max(0.0, low), abs=1e-12)
    assert got.high == pytest.approx(min(1.0, high), abs=1e-12)


def test_wilson_published_example():
    # Newcombe (1998), example: 81 of 263 gives 0.2553 to 0.3662.
    got = wilson_interval(81, 263)
    assert (round(got.low, 4), round(got.high, 4)) == (0.2553, 0.3662)


def test_difference_interval_contains_observed_difference():
    d = newcombe_difference(18, 20, 10, 20)
    assert d.low < -0.4 < d.high < 0
    same = newcombe_difference(10, 20, 10, 20)
    assert same.low < 0 < same.high


@pytest.mark.parametrize(("p", "df", "published"), [
    (0.95, 1, 6.3138), (0.95, 2, 2.9200), (0.975, 2, 4.3027), (0.95, 4, 2.1318), (0.95, 10, 1.8125),
    (0.975, 30, 2.0423), (0.99, 5, 3.3649), (0.95, 1e7, 1.6449), (0.05, 4, -2.1318),
])  # fmt: skip
def test_student_t_quantile_matches_published_tables(p, df, published):
    from harness.results.stats import student_t_quantile

    assert student_t_quantile(p, df) == pytest.approx(published, abs=5e-5)


def test_student_t_handles_welch_fractional_degrees_of_freedom():
    from harness.results.stats import student_t_cdf, student_t_quantile

    t = student_t_quantile(0.95, 4.5)
    assert student_t_quantile(0.95, 5) < t < student_t_quantile(0.95, 4)
    assert student_t_cdf(t, 4.5) == pytest.approx(0.95, abs=1e-10)
    assert student_t_cdf(0.0, 3) == 0.5
    with pytest.raises(ValueError):
        student_t_quantile(1.0, 3)
