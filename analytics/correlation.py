"""Which numeric features go with success: point-biserial correlations, FDR-corrected.

The point-biserial correlation is Pearson's r between a feature and the 0/1
outcome; its p-value is the t-test of r = 0 (scipy.stats.pointbiserialr).
Each feature uses the executions where it is present. With several features
some correlate by chance, so p-values are Benjamini-Hochberg adjusted.
``quality_score`` is flagged: it may be computed from success itself, so its
correlation describes the scoring rule, not a cause.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import norm, pointbiserialr
from statsmodels.stats.multitest import multipletests

from analytics.jsonsafe import jsonable

NUMERIC_FEATURES: tuple[str, ...] = (
    "response_length", "execution_time", "discrimination_score", "behavioral_score",
    "quality_score", "difficulty_level", "cost",
)
# Features that may be derived from the outcome (see prediction.LEAKY_FEATURES).
OUTCOME_DERIVED: frozenset[str] = frozenset({"quality_score"})
MIN_PAIRS = 10


@dataclass(frozen=True, slots=True)
class FeatureCorrelation:
    """r with its Fisher-z interval; ``r is None`` when undefined (constant input)."""

    feature: str
    n: int
    r: float | None
    ci_low: float | None
    ci_high: float | None
    p_value: float
    p_adjusted: float
    significant: bool
    outcome_derived: bool
    note: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return jsonable({name: getattr(self, name) for name in self.__slots__})


@dataclass(frozen=True, slots=True)
class CorrelationResult:
    """Features sorted by |r| (undefined ones last)."""

    alpha: float
    features: tuple[FeatureCorrelation, ...]
    method: str = "point-biserial r (t-test), Benjamini-Hochberg FDR"

    def to_dict(self) -> dict[str, Any]:
        return {"alpha": self.alpha, "method": self.method,
                "features": [f.to_dict() for f in self.features]}


def _fisher_interval(r: float, n: int, alpha: float) -> tuple[float | None, float | None]:
    if n <= 3:
        return None, None
    if abs(r) >= 1.0:
        return r, r
    z, half = math.atanh(r), norm.ppf(1.0 - alpha / 2.0) / math.sqrt(n - 3)
    return math.tanh(z - half), math.tanh(z + half)


def correlations(
    frame: pd.DataFrame, features: Sequence[str] = NUMERIC_FEATURES, *, alpha: float = 0.05
) -> CorrelationResult:
    """Point-biserial correlation of each present numeric feature with success."""
    outcome = frame["success"].to_numpy(dtype=np.float64)
    rows: list[dict[str, Any]] = []
    for feature in features:
        if feature not in frame:
            continue
        values = frame[feature].to_numpy(dtype=np.float64)
        present = np.isfinite(values)
        x, y = values[present], outcome[present]
        row: dict[str, Any] = {"feature": feature, "n": int(x.size),
                               "outcome_derived": feature in OUTCOME_DERIVED, "note": None}
        if x.size < MIN_PAIRS:
            row.update(r=None, ci_low=None, ci_high=None, p_value=1.0,
                       note=f"fewer than {MIN_PAIRS} executions carry this feature")
        elif np.ptp(x) == 0 or np.ptp(y) == 0:
            row.update(r=None, ci_low=None, ci_high=None, p_value=1.0,
                       note="constant feature or outcome: correlation undefined")
        else:
            result = pointbiserialr(y, x)
            r = float(result.statistic)
            low, high = _fisher_interval(r, int(x.size), alpha)
            row.update(r=r, ci_low=low, ci_high=high, p_value=float(result.pvalue))
        if row["outcome_derived"] and row["note"] is None:
            row["note"] = "may be computed from success: describes the scoring, not a cause"
        rows.append(row)
    if rows:
        reject, adjusted, _, _ = multipletests([r["p_value"] for r in rows], alpha, "fdr_bh")
        for row, flag, value in zip(rows, reject, adjusted, strict=True):
            row["p_adjusted"] = float(value)
            row["significant"] = bool(flag and row["r"] is not None)
    rows.sort(key=lambda row: (row["r"] is None, -abs(row["r"] or 0.0)))
    return CorrelationResult(alpha, tuple(FeatureCorrelation(**row) for row in rows))
