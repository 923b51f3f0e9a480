"""Wilson and Mee score intervals against published and statsmodels reference values."""

from __future__ import annotations

import numpy as np
import pytest
from statsmodels.stats.proportion import (
    confint_proportions_2indep,
    proportion_confint,
    proportions_ztest,
)

from analytics.intervals import difference_interval, score_statistic, wilson_interval


def test_wilson_matches_statsmodels_reference() -> None:
    low, high = wilson_interval(30, 40)
    assert (float(low), float(high)) == pytest.approx((0.598060, 0.858129), abs=1e-6)


def test_wilson_no_data_is_nan_not_zero_and_zero_successes_is_a_real_interval() -> None:
    low, high = wilson_interval([0, 0], [0, 20])
    assert np.isnan(low[0]) and np.isnan(high[0])
    assert low[1] == 0.0 and 0.1 < high[1] < 0.2
    ref = proportion_confint(0, 20, method="wilson")
    assert high[1] == pytest.approx(ref[1])


# Newcombe (1998), Statistics in Medicine 17:873-890, Table II, method 10 (Mee score).
NEWCOMBE_MEE = [
    ((56, 70, 48, 80), (0.0533, 0.3377)),
    ((9, 10, 3, 10), (0.1821, 0.8370)),
    ((6, 7, 2, 7), (0.0544, 0.8478)),
    ((5, 56, 0, 29), (-0.0313, 0.1926)),
    ((0, 10, 0, 20), (-0.1611, 0.2775)),
    ((10, 10, 0, 20), (0.7225, 1.0)),
]


@pytest.mark.parametrize(("counts", "expected"), NEWCOMBE_MEE)
def test_mee_interval_matches_newcombe_table(counts: tuple[int, int, int, int],
                                             expected: tuple[float, float]) -> None:
    assert difference_interval(*counts) == pytest.approx(expected, abs=6e-5)


def test_score_statistic_at_zero_is_the_pooled_z() -> None:
    for counts, nobs, z_ref in (([30, 20], [40, 40], 2.309401), ([5, 12], [83, 99], -1.407830),
                                ([1200, 1100], [10000, 10000], 2.216483)):
        z = score_statistic(counts[0], nobs[0], counts[1], nobs[1])[0]
        assert z == pytest.approx(z_ref, abs=1e-6)
        assert z == pytest.approx(proportions_ztest(counts, nobs)[0], abs=1e-9)


def test_interval_excludes_zero_exactly_when_pooled_z_rejects() -> None:
    # The original implementation paired a pooled z-test with an unpooled Wald
    # interval, which can disagree; the Mee interval inverts the same test.
    rng = np.random.default_rng(7)
    disagreements = 0
    for _ in range(200):
        n1, n2 = rng.integers(5, 400, size=2)
        x1, x2 = rng.integers(0, n1 + 1), rng.integers(0, n2 + 1)
        z = score_statistic(int(x1), int(n1), int(x2), int(n2))[0]
        rejects = abs(z) > 1.959963984540054
        low, high = difference_interval(int(x1), int(n1), int(x2), int(n2))
        disagreements += rejects != (low > 0 or high < 0)
    assert disagreements == 0


def test_the_original_wald_pairing_disagrees_where_ours_does_not() -> None:
    # FINDINGS reference values, then the fault: 2/20 vs 7/20 has pooled
    # p = 0.058 (not significant) while the unpooled Wald interval excludes 0.
    wald = confint_proportions_2indep(30, 40, 20, 40, method="wald")
    assert wald == pytest.approx((0.045022, 0.454978), abs=1e-6)
    assert proportions_ztest([2, 7], [20, 20])[1] == pytest.approx(0.0583305, abs=1e-6)
    assert confint_proportions_2indep(2, 20, 7, 20, method="wald")[1] < 0
    low, high = difference_interval(2, 20, 7, 20)
    assert low < 0 < high


@pytest.mark.parametrize(
    "counts", [(40, 40, 40, 40), (0, 40, 0, 40), (40, 40, 0, 40), (0, 1, 1, 1)]
)
def test_degenerate_counts_give_finite_symmetric_sensible_bounds(
    counts: tuple[int, int, int, int],
) -> None:
    low, high = difference_interval(*counts)
    assert np.isfinite([low, high]).all() and -1.0 <= low <= high <= 1.0
    observed = counts[0] / counts[1] - counts[2] / counts[3]
    assert low <= observed <= high
    assert np.isfinite(score_statistic(*counts)).all()
    if counts[0] / counts[1] == counts[2] / counts[3]:
        assert low == pytest.approx(-high)
