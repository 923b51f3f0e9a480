"""Many-template comparisons with Holm / Benjamini-Hochberg correction."""

from __future__ import annotations

from itertools import combinations

import numpy as np
import pytest
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import proportions_ztest

from analytics.multiple import adjust_p_values, compare_templates, pooled_z_many
from tests.analytics._frames import arms


def test_corrections_match_statsmodels_reference_values() -> None:
    p = [0.01, 0.04, 0.03, 0.005]
    assert adjust_p_values(p, "holm")[1] == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert adjust_p_values(p, "fdr_bh")[1] == pytest.approx([0.02, 0.04, 0.04, 0.02])
    rng = np.random.default_rng(0)
    for size in (1, 7, 50):
        for _ in range(2):
            values = rng.random(size) ** 3
            values[rng.random(size) < 0.2] = values[0]  # ties
            for method in ("holm", "fdr_bh"):
                reject, adjusted = adjust_p_values(values, method)  # type: ignore[arg-type]
                ref = multipletests(values, alpha=0.05, method=method)
                assert adjusted == pytest.approx(ref[1])
                assert (reject == ref[0]).all()
    assert adjust_p_values([], "holm")[1].size == 0


def test_pairwise_family_uses_pooled_z_and_holm() -> None:
    frame = arms([("t1", "m", 40, 30), ("t2", "m", 40, 20), ("t3", "m", 40, 21)])
    result = compare_templates(frame, correction="holm")
    assert result.mode == "pairwise" and len(result.comparisons) == 3
    first = result.comparisons[0]
    assert (first.a, first.b) == ("t1", "t2")
    z, p = proportions_ztest([20, 30], [40, 40])
    assert (first.z, first.p_value) == pytest.approx((z, p))
    expected = multipletests([c.p_value for c in result.comparisons], method="holm")[1]
    assert [c.p_adjusted for c in result.comparisons] == pytest.approx(expected)


def test_baseline_mode_and_bh() -> None:
    frame = arms([("base", "m", 400, 200), ("good", "m", 400, 280), ("same", "m", 400, 204)])
    result = compare_templates(frame, baseline="base", correction="fdr_bh")
    assert [(c.a, c.b) for c in result.comparisons] == [("base", "good"), ("base", "same")]
    assert [c.significant for c in result.comparisons] == [True, False]
    with pytest.raises(KeyError):
        compare_templates(frame, baseline="missing")


def test_identical_arms_at_100_percent_are_not_nan() -> None:
    result = compare_templates(arms([("a", "m", 10, 10), ("b", "m", 10, 10)]))
    assert (result.comparisons[0].z, result.comparisons[0].p_value) == (0.0, 1.0)


def test_family_wise_error_rate_is_controlled_with_ten_equal_templates() -> None:
    # 45 uncorrected tests of equal templates find "something" most of the
    # time; Holm keeps any false positive near alpha. Vectorised over runs on
    # the same statistic compare_templates uses (checked on the last run).
    rng = np.random.default_rng(3)
    runs, n = 400, 200
    pairs = np.array(list(combinations(range(10), 2)))
    successes = rng.binomial(n, 0.7, size=(runs, 10)).astype(float)
    trials = np.full(len(pairs), float(n))
    raw_hits = holm_hits = 0
    for run in range(runs):
        _, p = pooled_z_many(successes[run, pairs[:, 0]], trials,
                             successes[run, pairs[:, 1]], trials)
        raw_hits += bool((p < 0.05).any())
        holm_hits += bool(adjust_p_values(p, "holm")[0].any())
    assert raw_hits / runs > 0.4
    assert holm_hits / runs <= 0.07
    last = arms([(f"t{i}", "m", n, int(successes[-1, i])) for i in range(10)])
    result = compare_templates(last)
    assert [c.p_value for c in result.comparisons] == pytest.approx(p.tolist())
