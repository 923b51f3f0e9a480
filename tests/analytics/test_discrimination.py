"""Discrimination power: chi-square homogeneity across models, Cramer's V with a CI."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from scipy.stats import chi2, chi2_contingency

from analytics.discrimination import cramers_v_interval, discrimination_power, rao_scott
from tests.analytics._frames import arms, bernoulli


def test_chi_square_and_v_match_scipy_and_rank_the_separating_template_first() -> None:
    frame = bernoulli({("sep", "strong"): 0.9, ("sep", "weak"): 0.3,
                       ("flat", "strong"): 0.7, ("flat", "weak"): 0.7}, 400, seed=1)
    frame["discrimination_score"] = np.where(frame["template_id"] == "sep", 0.8, 0.2)
    result = discrimination_power(frame)
    best, other = result.templates
    assert best.template_id == "sep" and best.p_adjusted < 1e-6
    table = pd.crosstab(frame[frame.template_id == "sep"]["model_id"],
                        frame[frame.template_id == "sep"]["success"])
    ref = chi2_contingency(table.to_numpy(), correction=False)
    assert best.chi2 == pytest.approx(ref.statistic) and best.p_value == pytest.approx(ref.pvalue)
    assert best.cramers_v == pytest.approx(math.sqrt(ref.statistic / 800))
    assert best.v_ci_low < best.cramers_v < best.v_ci_high
    assert best.mean_score == pytest.approx(0.8)
    assert other.p_adjusted > 0.01  # equal rates: not a discriminating template
    assert json.dumps(result.to_dict(), allow_nan=False)


def test_v_interval_narrows_with_more_data() -> None:
    small = cramers_v_interval(chi2=9.0, n=100, dof=1, k=2)
    large = cramers_v_interval(chi2=900.0, n=10000, dof=1, k=2)  # same V = 0.3
    assert small[1] - small[0] > 2 * (large[1] - large[0])
    assert small[0] < 0.3 < small[1] and large[0] < 0.3 < large[1]


def test_degenerate_templates_get_notes_not_nan() -> None:
    frame = arms([("one_model", "m1", 20, 10), ("all_pass", "m1", 20, 20),
                  ("all_pass", "m2", 20, 20)])
    result = {row.template_id: row for row in discrimination_power(frame).templates}
    assert result["one_model"].note and result["one_model"].p_value == 1.0
    assert result["all_pass"].note and result["all_pass"].cramers_v == 0.0
    assert result["all_pass"].mean_score is None
    assert json.dumps(discrimination_power(frame).to_dict(), allow_nan=False)


def test_a_five_execution_template_never_ranks_above_a_solid_one() -> None:
    # The design document's implementation ranked by V alone: a 5-execution
    # template (V 0.41, CI [0, 1], p_adj 1) came first, above a real separator.
    tiny = arms([("tiny", "strong", 2, 2), ("tiny", "weak", 3, 2)])
    solid = bernoulli({("solid", "strong"): 0.75, ("solid", "weak"): 0.6}, 1500, seed=2)
    result = discrimination_power(pd.concat([tiny, solid], ignore_index=True))
    first, second = result.templates
    small = second
    assert small.template_id == "tiny" and small.cramers_v > first.cramers_v
    assert small.cramers_v == pytest.approx(0.41, abs=0.02) and small.p_adjusted > 0.3
    assert first.template_id == "solid" and first.discriminates and not small.discriminates
    assert small.note is not None and "insufficient data" in small.note
    assert [t.template_id for t in result.discriminating] == ["solid"]


def test_a_significant_but_negligible_spread_does_not_count_as_discriminating() -> None:
    frame = bernoulli({("close", "m1"): 0.70, ("close", "m2"): 0.72}, 40_000, seed=4)
    row = discrimination_power(frame, min_effect=0.05).templates[0]
    assert row.p_adjusted < 0.05 and row.rate_spread < 0.05 and not row.discriminates


def model_rows(rng: np.random.Generator, prompts: int, models: int, runs: int, layout: str,
               shift: float = 0.0) -> tuple[np.ndarray, ...]:
    """(model, prompt, n, s) rows for one template; Beta(0.7, sd 0.2) prompt difficulty."""
    q = rng.beta(0.7 * 4.25, 0.3 * 4.25, prompts)
    if layout == "shared":  # every prompt runs `runs` times on every model
        n = np.full((prompts, models), runs)
    elif layout == "random":  # each execution picks its model at random
        n = rng.multinomial(runs * models, [1 / models] * models, size=prompts)
    else:  # "disjoint": each prompt runs on one model only
        n = np.zeros((prompts, models), dtype=int)
        n[np.arange(prompts), np.arange(prompts) % models] = runs * models
    logit = np.log(q / (1 - q))[:, None] + shift * np.arange(models)[None, :]
    s = rng.binomial(n, 1 / (1 + np.exp(-logit)))
    prompt, model = np.nonzero(n)
    return model, prompt, n[prompt, model].astype(float), s[prompt, model].astype(float)


@pytest.mark.parametrize(("layout", "prompts"), [("disjoint", 100), ("random", 50),
                                                 ("shared", 50)])
def test_rao_scott_holds_alpha_when_prompts_repeat(layout: str, prompts: int) -> None:
    rng = np.random.default_rng({"disjoint": 31, "random": 32, "shared": 33}[layout])
    p_rs, p_pearson = [], []
    for _ in range(1500):
        model, prompt, n, s = model_rows(rng, prompts, 5, 4, layout)
        result = rao_scott(model, prompt, n, s, 5)
        assert result is not None
        p_rs.append(result.p_value)
        p_pearson.append(chi2.sf(result.chi2, 4))
    rate, naive = np.mean(np.array(p_rs) < 0.05), np.mean(np.array(p_pearson) < 0.05)
    print(f"\ndiscrimination, {layout} {prompts} prompts x 5 models: false positives "
          f"Rao-Scott {rate:.1%}, Pearson {naive:.1%}")
    assert abs(rate - 0.05) <= 0.015
    if layout == "disjoint":
        assert naive > 0.5  # models on different prompts: prompt difficulty looks like skill
    if layout == "shared":
        assert naive < 0.04  # the same prompts on every model: Pearson is too cautious


def test_rao_scott_matches_pearson_and_gains_power_on_shared_prompts() -> None:
    rng = np.random.default_rng(34)
    model, prompt, n, s = model_rows(rng, 50, 5, 4, "shared")
    table = np.array([[np.sum(n[model == m] - s[model == m]), np.sum(s[model == m])]
                      for m in range(5)])
    result = rao_scott(model, prompt, n, s, 5)
    assert result is not None
    assert result.chi2 == pytest.approx(chi2_contingency(table, correction=False).statistic)
    assert result.design_effect < 1.0  # shared prompts cancel out of model differences
    hits_rs = hits_pearson = 0
    for _ in range(400):
        rows = model_rows(rng, 50, 5, 4, "shared", shift=0.08)
        found = rao_scott(*rows, 5)
        assert found is not None
        hits_rs += found.p_value < 0.05
        hits_pearson += chi2.sf(found.chi2, 4) < 0.05
    print(f"\ndiscrimination power, shared prompts, +0.08 logit per model: Rao-Scott "
          f"{hits_rs / 400:.1%}, Pearson {hits_pearson / 400:.1%}")
    assert hits_rs > hits_pearson


def test_prompt_ids_switch_the_test_only_where_prompts_repeat() -> None:
    frame = bernoulli({("sep", "strong"): 0.9, ("sep", "weak"): 0.3}, 400, seed=1)
    plain = discrimination_power(frame).templates[0]
    unique = discrimination_power(frame.assign(prompt_id=[f"p{i}" for i in range(len(frame))]))
    assert unique.templates[0].design == "independent"
    assert unique.templates[0].p_value == pytest.approx(plain.p_value)
    repeated = frame.assign(prompt_id=[f"p{i % 40}" for i in range(len(frame))])
    clustered = discrimination_power(repeated)
    assert clustered.templates[0].design == "clustered"
    assert clustered.templates[0].prompts == 40
    assert "Rao-Scott" in clustered.to_dict()["test"]
    assert json.dumps(clustered.to_dict(), allow_nan=False)
