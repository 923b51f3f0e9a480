"""The original ``StatisticalAnalysis`` and ``ABTestResult``.

``run_ab_test`` keeps the original's conventions where migrated code reads
them: ``effect_size`` (Cohen's h), ``difference`` and ``confidence_interval``
are **A minus B** (positive when variant A is better), ``min_sample_size``
(default 30) refuses a thinner arm with a ``ValueError`` saying "sample size",
no data is a ``ValueError`` saying "No data". The statistics are
:func:`analytics.abtest.ab_test`'s (design-aware test, stratified by model,
interval for the difference, never NaN), whose own result keeps the project's
B-minus-A convention: it is ``result.details`` (``to_dict()["details"]``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pandas as pd

from analytics.abtest import ABTestResult as Comparison
from analytics.abtest import ab_test
from analytics.correlation import correlations
from analytics.load import Selection, load_outcome_counts
from analytics.prediction import predict_success
from rev_analytics.prompt_analytics.errors import (
    InsufficientSampleError,
    NoDataError,
    compatible,
)

if TYPE_CHECKING:
    from rev_analytics.prompt_analytics.system import PromptAnalyticsSystem


@dataclass(frozen=True, slots=True)
class ABTestResult:
    """The original's ``ABTestResult`` fields over the real comparison (``details``)."""

    details: Comparison
    test_id: str
    start_time: datetime
    end_time: datetime

    @property
    def result(self) -> Comparison:
        """The real comparison (B minus A), as ``ab-test --json`` reports it."""
        return self.details

    @property
    def variant_a_id(self) -> str:
        return self.details.a.template_id

    @property
    def variant_b_id(self) -> str:
        return self.details.b.template_id

    @property
    def sample_size_a(self) -> int:
        return self.details.a.n

    @property
    def sample_size_b(self) -> int:
        return self.details.b.n

    @property
    def success_rate_a(self) -> float:
        return self.details.a.rate

    @property
    def success_rate_b(self) -> float:
        return self.details.b.rate

    @property
    def p_value(self) -> float:
        return self.details.p_value

    @property
    def difference(self) -> float:
        """Success rate of A minus B (the original's sign)."""
        return -self.details.difference

    @property
    def effect_size(self) -> float:
        """Cohen's h of A against B: 2 asin sqrt(a) - 2 asin sqrt(b) (the original's sign)."""
        return -self.details.cohens_h

    @property
    def confidence_interval(self) -> tuple[float, float]:
        """Interval for A minus B at ``1 - significance_level`` (the original's sign)."""
        return (-self.details.ci_high, -self.details.ci_low)

    @property
    def statistical_significance(self) -> bool:
        return self.details.significant

    @property
    def practical_significance(self) -> bool:
        return self.details.practically_significant

    @property
    def recommendation(self) -> str:
        return self.details.recommendation

    def to_dict(self) -> dict[str, Any]:
        """The original's fields (A minus B), then ``details``: the contract JSON (B minus A)."""
        return {
            "test_id": self.test_id, "variant_a_id": self.variant_a_id,
            "variant_b_id": self.variant_b_id, "start_time": self.start_time,
            "end_time": self.end_time, "sample_size_a": self.sample_size_a,
            "sample_size_b": self.sample_size_b, "success_rate_a": self.success_rate_a,
            "success_rate_b": self.success_rate_b, "p_value": self.p_value,
            "effect_size": self.effect_size, "confidence_interval": self.confidence_interval,
            "statistical_significance": self.statistical_significance,
            "practical_significance": self.practical_significance,
            "recommendation": self.recommendation, "details": self.details.to_dict(),
        }


ABTestView = ABTestResult
"""The facade's earlier name for :class:`ABTestResult`."""


def correlation_dict(frame: pd.DataFrame) -> dict[str, Any]:
    """:func:`analytics.correlation.correlations` with the original's keys added.

    ``correlations`` maps each feature to r, ``significant_correlations`` those
    significant after the Benjamini-Hochberg correction (``p_value`` is the
    adjusted one), ``sample_size`` the executions analysed.
    """
    real = correlations(frame)
    defined = [f for f in real.features if f.r is not None]
    r = {f.feature: float(f.r) for f in defined if f.r is not None}
    significant = {
        f.feature: {"correlation": f.r, "p_value": f.p_adjusted,
                    "significance": "significant" if f.p_adjusted < 0.01
                    else "marginally_significant"}
        for f in defined if f.significant}
    return {
        **real.to_dict(),
        "correlations": r,
        "significant_correlations": significant,
        "sample_size": len(frame),
        "strongest_positive": max(r, key=r.__getitem__) if r else None,
        "strongest_negative": min(r, key=r.__getitem__) if r else None,
    }


def prediction_dict(frame: pd.DataFrame) -> dict[str, Any]:
    """:func:`analytics.prediction.predict_success` with the original's keys.

    ``models`` maps each classifier's name to its scores, with the original's
    ``cv_mean_auc``/``cv_std_auc``/``feature_importance`` (permutation
    importance) beside the real ones; ``feature_columns`` are the features used
    (outcome-derived ones such as ``quality_score`` are in ``excluded_features``).
    """
    real = predict_success(frame)
    data = real.to_dict()
    data["models"] = {
        model.name: {**model.to_dict(), "cv_mean_auc": model.roc_auc,
                     "cv_std_auc": model.roc_auc_fold_sd,
                     "feature_importance": dict(model.importances)}
        for model in real.models}
    data["feature_columns"] = list(real.features)
    return data


class StatisticalAnalysis:
    """A/B tests, correlations and success prediction over the last ``days``."""

    def __init__(self, system: PromptAnalyticsSystem) -> None:
        self.system = system

    def _frame(self, days: float) -> pd.DataFrame:
        frame = self.system.load(days)
        if frame.empty:
            raise NoDataError(f"No data available: no executions in the last {days:g} day(s)")
        return frame

    @compatible
    def run_ab_test(self, variant_a_id: str, variant_b_id: str,
                    significance_level: float = 0.05,
                    practical_significance_threshold: float = 0.05,
                    min_sample_size: int = 30, *, days: float = 7,
                    model: str | None = None) -> ABTestResult:
        """Compare two templates over the last ``days`` (A minus B; see the module)."""
        end = datetime.now(UTC)
        start = end - timedelta(days=days)
        selection = Selection(since=start, templates=[variant_a_id, variant_b_id],
                              models=[model] if model is not None else None)
        with self.system.lock:
            counts = load_outcome_counts(self.system.store.conn, selection, by=("template_id",))
        sizes = dict(zip(counts["template_id"], counts["n"], strict=True))
        if not sizes:
            raise NoDataError(f"No data found for specified variants {variant_a_id!r} and "
                              f"{variant_b_id!r} in the last {days:g} day(s)")
        n_a, n_b = (int(sizes.get(v, 0)) for v in (variant_a_id, variant_b_id))
        if min(n_a, n_b) < min_sample_size:
            raise InsufficientSampleError(
                f"Insufficient sample size. Need at least {min_sample_size} per variant; "
                f"{variant_a_id!r} has {n_a}, {variant_b_id!r} has {n_b}")
        frame = self.system.load(days, templates=[variant_a_id, variant_b_id])
        details = ab_test(frame, variant_a_id, variant_b_id, model=model,
                          alpha=significance_level,
                          min_effect=practical_significance_threshold)
        return ABTestResult(details, f"ab_test_{variant_a_id}_vs_{variant_b_id}_{int(time.time())}",
                            start, datetime.now(UTC))

    @compatible
    def correlation_analysis(self, days: float = 30) -> dict[str, Any]:
        """Correlation of each numeric field with success (JSON-safe dict)."""
        return correlation_dict(self._frame(days))

    @compatible
    def build_success_prediction_model(self, days: float = 30) -> dict[str, Any]:
        """Cross-validated success prediction without leaking features (JSON-safe dict)."""
        return prediction_dict(self._frame(days))


__all__ = ["ABTestResult", "ABTestView", "StatisticalAnalysis", "correlation_dict",
           "prediction_dict"]
