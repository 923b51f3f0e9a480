"""Confidence intervals for proportions and for the difference of two proportions.

Two choices, each made so that reported numbers agree with the tests beside them:

* one proportion: the Wilson score interval (good coverage at small n and at
  rates near 0 or 1, unlike the Wald interval, which collapses to a point there);
* a difference ``p1 - p2``: the Mee score interval, i.e. the set of differences
  the (unpooled-under-the-alternative, restricted-MLE) score test does not
  reject. At a hypothesised difference of 0 that score statistic *is* the pooled
  two-proportion z, so "the interval excludes 0" and "the pooled z-test
  rejects" always say the same thing. (statsmodels' ``method="score",
  correction=False`` is the same interval, but it fails on degenerate counts
  such as 40/40 vs 40/40; this implementation handles every count.)
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.optimize import brentq
from scipy.stats import norm
from statsmodels.stats.proportion import proportion_confint

DIFFERENCE_CI_METHOD = "score (Mee): inverts the pooled two-proportion z-test"

FloatArray = NDArray[np.float64]


def wilson_interval(
    successes: ArrayLike, n: ArrayLike, alpha: float = 0.05
) -> tuple[FloatArray, FloatArray]:
    """Wilson score interval bounds, element-wise; NaN where ``n == 0`` (no data)."""
    count = np.asarray(successes, dtype=np.float64)
    nobs = np.asarray(n, dtype=np.float64)
    low = np.full(np.broadcast(count, nobs).shape, np.nan)
    high = low.copy()
    has_data = nobs > 0
    if np.any(has_data):
        lo, hi = proportion_confint(
            np.broadcast_to(count, low.shape)[has_data],
            np.broadcast_to(nobs, low.shape)[has_data],
            alpha=alpha,
            method="wilson",
        )
        low[has_data] = np.clip(lo, 0.0, 1.0)
        high[has_data] = np.clip(hi, 0.0, 1.0)
    return low, high


def _log_likelihood(x: int, n: int, p: float) -> float:
    # 0 * log(0) = 0: an arm at 0 % or 100 % is a boundary, not an error.
    with np.errstate(divide="ignore", invalid="ignore"):
        successes = x * np.log(p) if x else 0.0
        failures = (n - x) * np.log1p(-p) if n - x else 0.0
    return float(successes + failures)


def _restricted_mle(x1: int, n1: int, x2: int, n2: int, delta: float) -> tuple[float, float]:
    """MLE of ``(p1, p2)`` under ``p1 - p2 = delta``.

    The binomial log-likelihood is concave in ``p2`` on the feasible range, so
    its derivative has at most one zero there: find it with ``brentq``, or take
    the end of the range it points to. (The textbook closed-form cubic root
    picks the wrong branch for some counts, and 0 %/100 % arms break it.)
    """
    low, high = max(0.0, -delta), min(1.0, 1.0 - delta)
    if high - low < 1e-12:
        return low + delta, low

    def slope(q2: float) -> float:
        q1 = q2 + delta
        value = 0.0
        if x1:
            value += x1 / q1
        if n1 - x1:
            value -= (n1 - x1) / (1.0 - q1)
        if x2:
            value += x2 / q2
        if n2 - x2:
            value -= (n2 - x2) / (1.0 - q2)
        return value

    span = high - low
    start, stop = low + 1e-12 * span, high - 1e-12 * span
    if slope(start) <= 0.0:
        best = low
    elif slope(stop) >= 0.0:
        best = high
    else:
        best = float(brentq(slope, start, stop, xtol=1e-15, rtol=1e-13))
    return min(max(best + delta, 0.0), 1.0), best


def score_statistic(
    x1: int, n1: int, x2: int, n2: int, delta: ArrayLike = 0.0
) -> FloatArray:
    """Score z for ``H0: p1 - p2 = delta`` (Mee variance, no N/(N-1) factor).

    At ``delta = 0`` this equals the pooled two-proportion z. Where the
    restricted variance is 0 the statistic is 0 if the observed difference
    equals ``delta`` and +/-inf otherwise (never NaN).
    """
    p1, p2 = x1 / n1, x2 / n2
    deltas = np.atleast_1d(np.asarray(delta, dtype=np.float64))
    restricted = np.array([_restricted_mle(x1, n1, x2, n2, float(d)) for d in deltas])
    q1, q2 = restricted[:, 0], restricted[:, 1]
    variance = q1 * (1.0 - q1) / n1 + q2 * (1.0 - q2) / n2
    numerator = (p1 - p2) - deltas
    degenerate = variance <= 0
    with np.errstate(divide="ignore", invalid="ignore"):
        z = numerator / np.sqrt(np.where(degenerate, 1.0, variance))
    with np.errstate(invalid="ignore"):
        at_boundary = np.where(np.abs(numerator) < 1e-12, 0.0, np.sign(numerator) * np.inf)
    return np.where(degenerate, at_boundary, z)


def difference_interval(
    x1: int, n1: int, x2: int, n2: int, alpha: float = 0.05
) -> tuple[float, float]:
    """Mee score interval for ``p1 - p2`` at level ``1 - alpha``; both arms need n > 0."""
    if n1 <= 0 or n2 <= 0:
        raise ValueError("difference_interval needs executions in both arms")
    critical = float(norm.ppf(1.0 - alpha / 2.0))
    observed = x1 / n1 - x2 / n2

    def inside(value: float) -> bool:
        return bool(abs(score_statistic(x1, n1, x2, n2, value)[0]) <= critical)

    # z(delta) is monotone on each side of the observed difference, where it is
    # 0: bisect each side for the point where |z| crosses the critical value.
    low = -1.0
    if not inside(low):
        outside, inner = -1.0, observed
        for _ in range(60):
            mid = (outside + inner) / 2.0
            outside, inner = (outside, mid) if inside(mid) else (mid, inner)
        low = inner
    high = 1.0
    if not inside(high):
        inner, outside = observed, 1.0
        for _ in range(60):
            mid = (outside + inner) / 2.0
            inner, outside = (mid, outside) if inside(mid) else (inner, mid)
        high = inner
    return float(low), float(high)
