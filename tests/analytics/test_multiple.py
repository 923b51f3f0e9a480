"""Many-template comparisons with Holm / Benjamini-Hochberg correction."""

from __future__ import annotations

from itertools import combinations

import numpy as np
import pandas as pd
import pytest
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import proportions_ztest

from analytics.abtest import ab_test
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


def prompt_frame(spec: dict[str, tuple[str, int, int, float]], seed: int) -> pd.DataFrame:
    """Rows per template from (prompt prefix, prompts, runs, mean rate); Beta prompts."""
    rng = np.random.default_rng(seed)
    parts = []
    for template, (prefix, prompts, runs, mean) in spec.items():
        q = rng.beta(mean * 4.25, (1 - mean) * 4.25, prompts)
        outcomes = rng.random((prompts, runs)) < q[:, None]
        parts.append(pd.DataFrame({
            "template_id": template, "model_id": "m",
            "prompt_id": np.repeat([f"{prefix}{i}" for i in range(prompts)], runs),
            "success": outcomes.ravel(),
        }))
    return pd.concat(parts, ignore_index=True)


def test_each_pair_gets_the_test_of_its_design_as_in_ab_test() -> None:
    frame = prompt_frame({
        "once_a": ("x", 300, 1, 0.6), "once_b": ("y", 300, 1, 0.7),   # independent
        "rep_a": ("r", 40, 8, 0.6), "rep_b": ("s", 40, 8, 0.7),       # clustered
        "same_a": ("p", 40, 6, 0.6), "same_b": ("p", 40, 6, 0.7),     # paired (shared ids)
        "mc_a": ("q", 200, 1, 0.6), "mc_b": ("q", 200, 1, 0.7),       # paired, single runs
    }, seed=5)
    family = compare_templates(frame)
    by_pair = {(c.a, c.b): c for c in family.comparisons}
    expected = {("once_a", "once_b"): "independent", ("rep_a", "rep_b"): "clustered",
                ("same_a", "same_b"): "paired", ("mc_a", "mc_b"): "paired",
                ("once_a", "rep_a"): "clustered"}
    for (a, b), design in expected.items():
        comparison = by_pair[(a, b)]
        single = ab_test(frame, a, b)
        assert comparison.design == design == single.to_dict()["design"], (a, b)
        if single.test in ("pooled z-test", "McNemar's test", "cluster-robust t-test",
                           "paired cluster-robust t-test"):
            assert comparison.p_value == pytest.approx(single.z_p_value, rel=1e-9), (a, b)
        assert comparison.pooled_p_value == pytest.approx(
            single.to_dict()["pooled"]["p_value"], rel=1e-9)
    data = family.to_dict()
    assert "cluster-robust" in data["test"] and data["comparisons"][0]["design"]


def test_holm_on_design_p_values_controls_the_family_with_repeated_prompts() -> None:
    # Ten equal templates, 30 prompts x 10 runs each: pooled z p-values make
    # Holm find "something" most of the time; on the cluster-robust ones the
    # family-wise error stays near alpha.
    runs, templates = 200, 10
    spec = {f"t{i}": (f"p{i}_", 30, 10, 0.7) for i in range(templates)}
    robust_hits = naive_hits = 0
    for run in range(runs):
        family = compare_templates(prompt_frame(spec, seed=100 + run))
        robust_hits += bool(family.discoveries)
        pooled = np.array([c.pooled_p_value for c in family.comparisons])
        naive_hits += bool(adjust_p_values(pooled, "holm")[0].any())
    print(f"\nfamily of 45 pairs (30 prompts x 10 runs): Holm FWER {robust_hits / runs:.1%} "
          f"on design p-values, {naive_hits / runs:.1%} on pooled z")
    assert robust_hits / runs <= 0.08
    assert naive_hits / runs >= 0.5
