"""Model identification: a cross-validated confusion matrix tested against chance."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from analytics.identification import identify_models


def executions(separation: float, n: int = 600, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    models = np.repeat(["m_fast", "m_mid", "m_slow"], [n, n, n // 2])  # unequal sizes
    offset = {"m_fast": 0.0, "m_mid": 1.0, "m_slow": 2.0}
    latency = np.array([offset[m] for m in models]) * separation + rng.normal(0, 1, len(models))
    return pd.DataFrame({
        "model_id": models, "template_id": rng.choice(["t1", "t2"], len(models)),
        "execution_time": latency, "success": rng.random(len(models)) < 0.7,
        "response_length": rng.normal(500, 100, len(models)),
    })


def test_distinguishable_models_are_identified_well_above_chance() -> None:
    frame = executions(separation=3.0)
    result = identify_models(frame, n_estimators=30)
    matrix = np.array(result.matrix)
    # Every execution is classified exactly once (no pairing by truncation).
    assert matrix.sum() == len(frame)
    counts = frame["model_id"].value_counts()
    assert dict(zip(result.labels, matrix.sum(axis=1), strict=True)) == counts.to_dict()
    assert result.chance == counts.max() / len(frame)
    assert result.accuracy > 0.8 and result.p_value < 1e-10
    assert result.accuracy_ci[0] < result.accuracy < result.accuracy_ci[1]
    assert json.dumps(result.to_dict(), allow_nan=False)


def test_indistinguishable_models_stay_at_chance() -> None:
    result = identify_models(executions(separation=0.0, seed=1), n_estimators=30)
    assert result.accuracy < result.chance + 0.05
    assert result.p_value > 0.01
