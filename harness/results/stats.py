"""Exact statistics for telling a real regression from noise.

A pass rate from a handful of repeats is noisy: 4 of 5 after 5 of 5 is not
evidence of anything. ``harness compare`` calls a case regressed only when a
one-sided Fisher exact test says the drop is unlikely under "nothing changed",
and reports suite pass rates with Wilson score intervals, which behave well at
small counts and near 0 % and 100 %.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist


def _log_comb(n: int, k: int) -> float:
    return math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)


def fisher_drop_p_value(base_pass: int, base_total: int, head_pass: int, head_total: int) -> float:
    """One-sided Fisher exact p-value that head's pass rate is lower than base's.

    The 2x2 table is (passes, failures) x (base, head). Under the null
    hypothesis the passes are spread between the runs by the hypergeometric
    distribution; the p-value is the probability of head getting ``head_pass``
    passes or fewer.
    """
    _check_counts(base_pass, base_total)
    _check_counts(head_pass, head_total)
    passes = base_pass + head_pass
    total = base_total + head_total
    if total == 0 or passes == 0 or passes == total:
        return 1.0
    low = max(0, passes - base_total)
    denom = _log_comb(total, passes)
    p = 0.0
    for k in range(low, head_pass + 1):
        p += math.exp(_log_comb(head_total, k) + _log_comb(base_total, passes - k) - denom)
    return min(1.0, p)


def _check_counts(passed: int, total: int) -> None:
    if total < 0 or passed < 0 or passed > total:
        raise ValueError(f"invalid counts: {passed} passed of {total}")


@dataclass(frozen=True)
class Interval:
    low: float
    high: float


def wilson_interval(passed: int, total: int, confidence: float = 0.95) -> Interval:
    """Wilson score interval for a pass rate; (0, 1) when there is no data."""
    _check_counts(passed, total)
    if total == 0:
        return Interval(0.0, 1.0)
    z = NormalDist().inv_cdf(1 - (1 - confidence) / 2)
    p = passed / total
    denom = 1 + z * z / total
    centre = (p + z * z / (2 * total)) / denom
    half = z * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total)) / denom
    return Interval(max(0.0, centre - half), min(1.0, centre + half))


def newcombe_difference(base_pass: int, base_total: int, head_pass: int, head_total: int,
                        confidence: float = 0.95) -> Interval:  # fmt: skip
    """Interval for head's pass rate minus base's (Newcombe's method 10, from two Wilson intervals)."""
    b = wilson_interval(base_pass, base_total, confidence)
    h = wilson_interval(head_pass, head_total, confidence)
    pb = base_pass / base_total if base_total else 0.0
    ph = head_pass / head_total if head_total else 0.0
    d = ph - pb
    low = d - math.sqrt((ph - h.low) ** 2 + (b.high - pb) ** 2)
    high = d + math.sqrt((h.high - ph) ** 2 + (pb - b.low) ** 2)
    return Interval(max(-1.0, low), min(1.0, high))


# --- Student's t, for the interval of a mean over repeats (harness/results/usage_gate.py) ------------------


def _beta_fraction(a: float, b: float, x: float) -> float:
    """The continued fraction of the regularized incomplete beta function (modified Lentz's method)."""
    tiny, qab, qap, qam = 1e-300, a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 400):
        m2 = 2 * m
        for numerator in (m * (b - m) * x / ((qam + m2) * (a + m2)), -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))):
            d = 1.0 + numerator * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + numerator / c
            c = c if abs(c) > tiny else tiny
            h *= d * c
        if abs(d * c - 1.0) < 1e-15:
            break
    return h


def _regularized_beta(a: float, b: float, x: float) -> float:
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    front = math.exp(math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x))
    if x < (a + 1.0) / (a + b + 2.0):
        return front * _beta_fraction(a, b, x) / a
    return 1.0 - front * _beta_fraction(b, a, 1.0 - x) / b


def student_t_cdf(t: float, df: float) -> float:
    """P(T <= t) for Student's t with ``df`` degrees of freedom (any positive df, as Welch's are)."""
    if df <= 0:
        raise ValueError(f"degrees of freedom must be positive, got {df}")
    tail = 0.5 * _regularized_beta(df / 2.0, 0.5, df / (df + t * t))
    return 1.0 - tail if t >= 0 else tail


def student_t_quantile(p: float, df: float) -> float:
    """The t with P(T <= t) = p: 2.132 for p = 0.95 and 4 degrees of freedom. Bisection, exact to ~1e-10."""
    if not 0.0 < p < 1.0:
        raise ValueError(f"p must be between 0 and 1, got {p}")
    if p < 0.5:
        return -student_t_quantile(1.0 - p, df)
    low, high = 0.0, 1.0
    while student_t_cdf(high, df) < p:
        low, high = high, high * 2.0
    for _ in range(200):
        mid = (low + high) / 2.0
        if student_t_cdf(mid, df) < p:
            low = mid
        else:
            high = mid
        if high - low < 1e-12 * max(1.0, high):
            break
    return (low + high) / 2.0


@dataclass(frozen=True)
class Sample:
    """What a mean over repeats needs: how many values, their mean and their sample variance."""

    n: int
    mean: float
    variance: float

    @classmethod
    def of(cls, values: list[float]) -> Sample:
        n = len(values)
        if not n:
            raise ValueError("a sample needs at least one value")
        mean = math.fsum(values) / n
        variance = math.fsum((v - mean) ** 2 for v in values) / (n - 1) if n > 1 else 0.0
        return cls(n, mean, variance)


def welch_lower_bound(base: list[Sample], head: list[Sample], confidence: float) -> tuple[float, float | None]:
    """One-sided lower confidence bound of sum(head means) - sum(base means), and its Welch degrees of freedom.

    Each sample's mean has variance s^2/n; the difference's standard error adds them up, and the
    Welch-Satterthwaite equation gives the degrees of freedom of the t quantile. With no spread at
    all (every repeat the same) the bound is the difference itself and there are no degrees of freedom.
    """
    if any(s.n < 2 for s in base + head):
        raise ValueError("every sample needs at least two values for an interval")
    difference = math.fsum(s.mean for s in head) - math.fsum(s.mean for s in base)
    parts = [s.variance / s.n for s in base + head]
    se2 = math.fsum(parts)
    if se2 <= 0.0:
        return difference, None
    df = se2 * se2 / math.fsum(v * v / (s.n - 1) for v, s in zip(parts, base + head))
    return difference - student_t_quantile(confidence, df) * math.sqrt(se2), df
