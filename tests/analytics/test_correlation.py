"""Point-biserial correlations with success, FDR-corrected, never NaN."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from scipy.stats import pointbiserialr
from statsmodels.stats.multitest import multipletests

from analytics.correlation import correlations


def sample(n: int = 2000, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    success = rng.random(n) < 0.6
    frame = pd.DataFrame({
        "success": success,
        "execution_time": rng.lognormal(0, 0.5, n) - 0.4 * success,  # related
        "cost": rng.random(n),  # unrelated
        "response_length": 1.0e6 + rng.normal(0, 50, n) + 40 * success,  # far from zero
        "difficulty_level": np.full(n, 3.0),  # constant
        "quality_score": np.clip(0.5 * success + rng.random(n) * 0.5, 0, 1),
    })
    frame.loc[frame.sample(frac=0.3, random_state=1).index, "cost"] = np.nan
    return frame


def test_values_match_scipy_and_bh_matches_statsmodels() -> None:
    frame = sample()
    result = {f.feature: f for f in correlations(frame).features}
    for feature in ("execution_time", "cost", "response_length", "quality_score"):
        present = frame[feature].notna()
        ref = pointbiserialr(frame["success"][present], frame[feature][present])
        assert result[feature].r == pytest.approx(ref.statistic, abs=1e-9)
        assert result[feature].p_value == pytest.approx(ref.pvalue, rel=1e-6, abs=1e-300)
        assert result[feature].n == int(present.sum())
        assert result[feature].ci_low < result[feature].r < result[feature].ci_high
    tested = list(correlations(frame).features)
    adjusted = multipletests([f.p_value for f in tested], method="fdr_bh")[1]
    assert [f.p_adjusted for f in tested] == pytest.approx(adjusted)
    assert result["execution_time"].significant and not result["cost"].significant


def test_constant_features_are_undefined_not_nan_and_leaky_score_flagged() -> None:
    result = {f.feature: f for f in correlations(sample()).features}
    assert result["difficulty_level"].r is None and result["difficulty_level"].p_value == 1.0
    assert result["quality_score"].outcome_derived and "computed from success" in str(
        result["quality_score"].note)
    assert json.dumps(correlations(sample()).to_dict(), allow_nan=False)


def test_false_discoveries_stay_rare_on_pure_noise() -> None:
    hits = 0
    for seed in range(40):
        rng = np.random.default_rng(seed)
        frame = pd.DataFrame({"success": rng.random(500) < 0.5,
                              **{name: rng.random(500) for name in (
                                  "execution_time", "cost", "response_length",
                                  "behavioral_score", "discrimination_score")}})
        hits += any(f.significant for f in correlations(frame).features)
    assert hits / 40 <= 0.125
