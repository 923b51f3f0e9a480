"""Discrimination power: chi-square homogeneity across models, Cramer's V with a CI."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from scipy.stats import chi2_contingency

from analytics.discrimination import cramers_v_interval, discrimination_power
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
