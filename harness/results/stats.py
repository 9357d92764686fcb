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
