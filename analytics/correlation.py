"""Which numeric features go with success: point-biserial correlations, FDR-corrected.

The point-biserial correlation is Pearson's r between a feature and the 0/1
outcome; its p-value is the t-test of r = 0 (as scipy.stats.pointbiserialr).
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
from scipy.stats import norm
from scipy.stats import t as t_dist

from analytics.jsonsafe import jsonable
from analytics.multiple import adjust_p_values

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


def point_biserial(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Pearson r of ``x`` with the 0/1 float array ``y`` and its two-sided t-test p-value.

    Equal to ``scipy.stats.pointbiserialr``, computed from sums (dot products,
    no temporary arrays): on a million rows scipy's per-call copies dominate.
    ``x`` is shifted by its first value first, which keeps the sums exact
    enough for features far from zero.
    """
    n = x.size
    shifted = x - x[0] if abs(x[0]) > 1e3 else x
    sx, sy = float(shifted.sum()), float(y.sum())
    sxx, sxy = float(np.dot(shifted, shifted)), float(np.dot(shifted, y))
    covariance = sxy - sx * sy / n
    var_x, var_y = sxx - sx * sx / n, sy - sy * sy / n
    r = max(-1.0, min(1.0, covariance / math.sqrt(var_x * var_y)))
    if abs(r) == 1.0:
        return r, 0.0
    statistic = r * math.sqrt((n - 2) / (1.0 - r * r))
    return r, float(2.0 * t_dist.sf(abs(statistic), n - 2))


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
        if present.all():  # no copies for complete columns
            x, y = values, outcome
        else:
            x, y = values[present], outcome[present]
        row: dict[str, Any] = {"feature": feature, "n": int(x.size),
                               "outcome_derived": feature in OUTCOME_DERIVED, "note": None}
        if x.size < MIN_PAIRS:
            row.update(r=None, ci_low=None, ci_high=None, p_value=1.0,
                       note=f"fewer than {MIN_PAIRS} executions carry this feature")
        elif x.min() == x.max() or y.min() == y.max():
            row.update(r=None, ci_low=None, ci_high=None, p_value=1.0,
                       note="constant feature or outcome: correlation undefined")
        else:
            r, p_value = point_biserial(x, y)
            low, high = _fisher_interval(r, int(x.size), alpha)
            row.update(r=r, ci_low=low, ci_high=high, p_value=p_value)
        if row["outcome_derived"] and row["note"] is None:
            row["note"] = "may be computed from success: describes the scoring, not a cause"
        rows.append(row)
    if rows:
        reject, adjusted = adjust_p_values([r["p_value"] for r in rows], "fdr_bh", alpha)
        for row, flag, value in zip(rows, reject, adjusted, strict=True):
            row["p_adjusted"] = float(value)
            row["significant"] = bool(flag and row["r"] is not None)
    rows.sort(key=lambda row: (row["r"] is None, -abs(row["r"] or 0.0)))
    return CorrelationResult(alpha, tuple(FeatureCorrelation(**row) for row in rows))
