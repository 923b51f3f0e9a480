"""Prompt-level building blocks against statsmodels: CR1 differences, cell covariances,
McNemar, Tango's interval, the ICC and clustered rate intervals."""

from __future__ import annotations

import numpy as np
import pytest
import statsmodels.api as sm
from statsmodels.stats.contingency_tables import mcnemar as sm_mcnemar
from statsmodels.stats.proportion import proportion_confint

from analytics import clustered as cl


def prompts(rng: np.random.Generator, count: int, runs: tuple[int, int], mean: float = 0.7
            ) -> tuple[np.ndarray, np.ndarray]:
    """Per-prompt (n, s) with Beta-distributed prompt difficulty (sd about 0.2)."""
    n = rng.integers(runs[0], runs[1] + 1, count)
    q = rng.beta(mean * 4.25, (1 - mean) * 4.25, count)
    return n.astype(float), rng.binomial(n, q).astype(float)


def executions(n: np.ndarray, s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One row per execution: (success, prompt index)."""
    y = np.concatenate([np.r_[np.ones(int(k)), np.zeros(int(m - k))]
                        for m, k in zip(n, s, strict=True)])
    g = np.repeat(np.arange(n.size), n.astype(int))
    return y, g


def statsmodels_difference(n_a: np.ndarray, s_a: np.ndarray, n_b: np.ndarray,
                           s_b: np.ndarray) -> sm.regression.linear_model.RegressionResults:
    """OLS of success on [1, is_b] clustered by prompt, as the module docstring promises."""
    y_a, g_a = executions(n_a, s_a)
    y_b, g_b = executions(n_b, s_b)
    y = np.r_[y_a, y_b]
    x = sm.add_constant(np.r_[np.zeros(y_a.size), np.ones(y_b.size)])
    return sm.OLS(y, x).fit(cov_type="cluster", cov_kwds={"groups": np.r_[g_a, g_b]},
                            use_t=True)


@pytest.mark.parametrize("layout", ["disjoint", "shared", "partly_shared"])
def test_clustered_difference_is_statsmodels_cluster_robust_ols(layout: str) -> None:
    rng = np.random.default_rng({"disjoint": 1, "shared": 2, "partly_shared": 3}[layout])
    n_a, s_a = prompts(rng, 40, (1, 12))
    n_b, s_b = prompts(rng, 40, (1, 12), mean=0.6)
    zeros = np.zeros(40)
    if layout == "disjoint":  # prompt i of A and prompt i of B are different prompts
        n_a, s_a, n_b, s_b = (np.r_[n_a, zeros], np.r_[s_a, zeros], np.r_[zeros, n_b],
                              np.r_[zeros, s_b])
    elif layout == "partly_shared":  # the last 10 prompts of each arm ran in that arm only
        n_a, s_a = np.r_[n_a, zeros[:10]], np.r_[s_a, zeros[:10]]
        n_b, s_b = np.r_[n_b[:30], zeros[:10], n_b[30:]], np.r_[s_b[:30], zeros[:10], s_b[30:]]
    ours = cl.clustered_difference(n_a, s_a, n_b, s_b)
    ref = statsmodels_difference(n_a, s_a, n_b, s_b)
    assert float(ours.difference) == pytest.approx(ref.params[1], abs=1e-12)
    assert np.sqrt(float(ours.variance)) == pytest.approx(ref.bse[1], rel=1e-9)
    t, p = cl.t_test(ours.difference, ours.variance, ours.df)
    assert float(t) == pytest.approx(ref.tvalues[1], rel=1e-9)
    assert float(p) == pytest.approx(ref.pvalues[1], abs=1e-9)
    assert int(ours.df) == ref.df_resid_inference
    low, high = ref.conf_int(alpha=0.05)[1]
    half = cl.t_critical(0.05, float(ours.df)) * np.sqrt(float(ours.variance))
    assert (float(ours.difference) - half, float(ours.difference) + half) == pytest.approx(
        (low, high), abs=1e-9)


def test_clustered_difference_is_vectorised_over_experiments() -> None:
    rng = np.random.default_rng(4)
    n_a, s_a = prompts(rng, 5 * 30, (3, 3))
    n_b, s_b = prompts(rng, 5 * 30, (3, 3))
    batch = cl.clustered_difference(*(x.reshape(5, 30) for x in (n_a, s_a, n_b, s_b)))
    for row in range(5):
        one = cl.clustered_difference(*(x.reshape(5, 30)[row] for x in (n_a, s_a, n_b, s_b)))
        assert float(one.variance) == pytest.approx(batch.variance[row], rel=1e-12)
    with pytest.raises(ValueError):
        cl.clustered_difference([0, 0], [0, 0], [1, 2], [1, 1])


def test_paired_cluster_robust_is_the_paired_t_test_when_balanced() -> None:
    # Every prompt run K times in both arms: CR1 = paired t on per-prompt rate
    # differences, up to the (N-1)/(N-2) factor.
    rng = np.random.default_rng(5)
    k, count = 8, 60
    q = rng.beta(3, 1.3, count)
    n = np.full(count, float(k))
    s_a, s_b = rng.binomial(k, q).astype(float), rng.binomial(k, q * 0.95).astype(float)
    ours = cl.clustered_difference(n, s_a, n, s_b)
    d = (s_b - s_a) / k
    total = 2 * k * count
    paired_variance = d.var(ddof=1) / count
    assert float(ours.variance) == pytest.approx(
        paired_variance * (total - 1) / (total - 2), rel=1e-12)
    assert float(ours.difference) == pytest.approx(d.mean(), abs=1e-12)


def test_cell_covariance_is_statsmodels_cluster_covariance_of_cell_dummies() -> None:
    rng = np.random.default_rng(6)
    rows = []  # (cell, prompt, n, s): 3 cells sharing 25 prompts, some missing
    for prompt in range(25):
        q = rng.beta(3, 1.5)
        for cell in range(3):
            if rng.random() < 0.8:
                n = int(rng.integers(1, 6))
                rows.append((cell, prompt, n, int(rng.binomial(n, q * (1 - 0.1 * cell)))))
    cell, prompt, n, s = (np.array(col) for col in zip(*rows, strict=True))
    moments = cl.cell_covariance(cell, prompt * 7 + 3, n, s, cells=3)  # any cluster codes
    y = np.concatenate([np.r_[np.ones(k), np.zeros(m - k)] for m, k in zip(n, s, strict=True)])
    cells = np.repeat(cell, n)
    x = (cells[:, None] == np.arange(3)[None, :]).astype(float)
    ref = sm.OLS(y, x).fit(cov_type="cluster", cov_kwds={"groups": np.repeat(prompt, n)},
                           use_t=True)
    assert moments.means == pytest.approx(ref.params, abs=1e-12)
    assert moments.cov == pytest.approx(ref.cov_params(), rel=1e-9, abs=1e-15)
    assert moments.clusters == 25
    contrast = np.array([0.5, 0.5, -1.0])
    t, p = cl.t_test(contrast @ moments.means, cl.contrast_variance(moments, contrast),
                     moments.clusters - 1)
    ref_t = ref.t_test(contrast)
    assert float(t) == pytest.approx(float(np.squeeze(ref_t.tvalue)), rel=1e-9)
    assert float(p) == pytest.approx(float(np.squeeze(ref_t.pvalue)), abs=1e-9)


@pytest.mark.parametrize("table", [[[10, 3], [9, 30]], [[50, 40], [20, 60]],
                                   [[200, 31], [52, 117]], [[4, 0], [1, 9]]])
def test_mcnemar_matches_statsmodels(table: list[list[int]]) -> None:
    # Rows: A right / A wrong; columns: B right / B wrong.
    a_only, b_only = table[0][1], table[1][0]
    for exact in (True, False):
        ref = sm_mcnemar(table, exact=exact, correction=False)
        ours = cl.mcnemar(a_only, b_only, exact=exact)
        assert ours.p_value == pytest.approx(ref.pvalue, abs=1e-12)
        if not exact:
            assert ours.z**2 == pytest.approx(ref.statistic, rel=1e-12)
    assert cl.mcnemar(a_only, b_only).exact == (a_only + b_only < cl.MCNEMAR_EXACT_BELOW)
    assert cl.mcnemar(0, 0)[2:4] == (0.0, 1.0)


def test_tango_interval_inverts_mcnemar() -> None:
    # The interval excludes 0 exactly when the asymptotic McNemar test rejects,
    # its ends sit where the score z crosses the critical value, and at
    # delta = 0 the score statistic is McNemar's z.
    rng = np.random.default_rng(7)
    for _ in range(200):
        pairs = int(rng.integers(5, 300))
        discordant = rng.multinomial(pairs, [0.15, 0.2, 0.65])
        b_only, a_only = int(discordant[0]), int(discordant[1])
        low, high = cl.paired_score_interval(b_only, a_only, pairs)
        test = cl.mcnemar(a_only, b_only, exact=False)
        observed = (b_only - a_only) / pairs
        assert low <= observed <= high
        assert (low > 0 or high < 0) == (test.p_value < 0.05)
        assert cl.paired_score_statistic(b_only, a_only, pairs, 0.0) == pytest.approx(test.z)
        for edge in (low, high):
            if -1 < edge < 1:
                z = cl.paired_score_statistic(b_only, a_only, pairs, edge)
                assert abs(z) == pytest.approx(1.959964, abs=1e-4)
    # No discordant pair: an interval around 0 that still says how large a gap is possible.
    low, high = cl.paired_score_interval(0, 0, 40)
    assert low < 0 < high and high == pytest.approx(1.959964**2 / (40 + 1.959964**2), rel=1e-6)


def test_icc_recovers_the_between_prompt_share_of_variance() -> None:
    # Beta(mean 0.7, sd 0.2) prompts: ICC = 0.04 / 0.21 = 0.19.
    rng = np.random.default_rng(8)
    estimates = []
    for _ in range(30):
        n, s = prompts(rng, 300, (10, 10))
        estimates.append(cl.intraclass_correlation(n, s))
    assert np.mean(estimates) == pytest.approx(0.19, abs=0.02)
    # Independent executions: about 0; no prompt run twice: not estimable.
    n = np.full(500, 10.0)
    assert cl.intraclass_correlation(n, rng.binomial(10, 0.7, 500)) < 0.02
    assert cl.intraclass_correlation(np.ones(50), rng.integers(0, 2, 50)) is None
    # Strata: two templates of different difficulty are not prompt variance.
    n = np.full(400, 10.0)
    s = np.r_[rng.binomial(10, 0.9, 200), rng.binomial(10, 0.3, 200)].astype(float)
    strata = np.r_[np.zeros(200), np.ones(200)]
    assert cl.intraclass_correlation(n, s) > 0.3
    assert cl.intraclass_correlation(n, s, strata) < 0.02


def test_clustered_rates_are_plain_wilson_without_repeats_and_statsmodels_variance_with() -> None:
    # Group 0: 40 prompts once each (plain Wilson); group 1: 30 prompts x 10 runs.
    rng = np.random.default_rng(9)
    n1, s1 = prompts(rng, 30, (10, 10))
    group = np.r_[np.zeros(40, int), np.ones(30, int)]
    n = np.r_[np.ones(40), n1]
    s = np.r_[np.r_[np.ones(30), np.zeros(10)], s1]
    rates = cl.clustered_rates(group, n, s, groups=2)
    assert (rates.ci_low[0], rates.ci_high[0]) == pytest.approx(
        proportion_confint(30, 40, method="wilson"), abs=1e-12)
    assert not rates.adjusted[0] and rates.adjusted[1]
    y, g = executions(n1, s1)
    ref = sm.OLS(y, np.ones((y.size, 1))).fit(cov_type="cluster", cov_kwds={"groups": g})
    p = s1.sum() / n1.sum()
    assert rates.design_effect[1] == pytest.approx(
        max(1.0, ref.bse[0] ** 2 / (p * (1 - p) / n1.sum())), rel=1e-9)
    plain = proportion_confint(s1.sum(), n1.sum(), method="wilson")
    widening = (rates.ci_high[1] - rates.ci_low[1]) / (plain[1] - plain[0])
    assert widening > 1.0 and widening == pytest.approx(np.sqrt(rates.design_effect[1]), rel=0.1)


def test_clustered_rate_intervals_cover_where_wilson_does_not() -> None:
    # 2000 simulated templates (one group each, in one vectorised call) of 40
    # prompts x 15 runs around a true rate of 0.7.
    rng = np.random.default_rng(10)
    groups, count, runs = 2000, 40, 15
    q = rng.beta(0.7 * 4.25, 0.3 * 4.25, (groups, count))
    s = rng.binomial(runs, q).astype(float).ravel()
    n = np.full(s.size, float(runs))
    group = np.repeat(np.arange(groups), count)
    rates = cl.clustered_rates(group, n, s, groups=groups)
    covered = np.mean((rates.ci_low <= 0.7) & (rates.ci_high >= 0.7))
    low, high = proportion_confint(rates.successes, rates.n, method="wilson")
    naive = np.mean((low <= 0.7) & (high >= 0.7))
    assert 0.935 <= covered <= 0.965
    assert naive < 0.75  # design effect ~3.7: z / 1.9 covers about 69 %


def test_design_effect_formula() -> None:
    assert cl.design_effect(20, 0.19) == pytest.approx(4.61)
    assert cl.design_effect(1, 0.5) == 1.0
