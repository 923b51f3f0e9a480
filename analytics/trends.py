"""Success over event time: a weighted trend and change-point detection.

Trend: a quasi-binomial GLM of each bucket's successes out of its executions
on the bucket's *time* (days since the first bucket), so buckets count in
proportion to their size, gaps in time are gaps, and the overdispersion
between buckets widens the interval instead of being ignored.

Where prompts repeat (``prompt_id`` in the frame, some prompt run more than
once), the same slope also gets a prompt-clustered standard error: the binomial
GLM on (bucket, prompt) cells with a cluster-robust (CR1, clusters = prompt_id)
covariance and t(G-1) reference, which stays honest when a prompt's runs span
several buckets. The larger of the two errors is used, so neither bucket-level
shocks nor repeated prompts can make the trend look surer than it is.
A trend whose interval spans more than :data:`MAX_TREND_HALF_WIDTH` of success
rate over the observed range (or that has fewer than
:data:`analytics.defaults.MIN_RANKED_EXECUTIONS` executions or three buckets)
is "insufficient data": ``to_dict`` gives no numbers for it.

Change points: the CUSUM of ``success - overall rate`` in event-time order.
Its maximum, scaled by sqrt(n p (1 - p)), converges under "no change" to the
supremum of a Brownian bridge (Kolmogorov's distribution), which gives a
p-value; the argmax names when the rate shifted. With repeated prompts the
scale is widened by :func:`analytics.clustered.order_inflation` (the ICC times
how far prompts bunch in time; 1 when they are interleaved at random), so a
hard prompt run many times in a row is not a change point. p-values are
Holm-corrected across templates, and a template "degraded" when its corrected
p < alpha and its rate after the change is lower by at least the minimum effect.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import statsmodels.api as sm
from scipy.stats import kstwobign, norm
from scipy.stats import t as t_dist

from analytics import clustered as cl
from analytics.defaults import DEFAULT_MIN_EFFECT, MIN_RANKED_EXECUTIONS
from analytics.intervals import wilson_interval
from analytics.jsonsafe import jsonable
from analytics.multiple import adjust_p_values

MIN_CHANGE_EXECUTIONS = 30
MAX_TREND_HALF_WIDTH = 0.5
"""A trend interval wider than +/- 50 points of success over the range says nothing."""
QUASI_METHOD = "quasi-binomial GLM of bucket successes on days (buckets weighted by size)"
CLUSTERED_METHOD = (
    QUASI_METHOD + "; standard error the larger of that and the prompt-clustered (CR1 by "
    "prompt_id, t(G-1)) binomial GLM on (bucket, prompt) cells"
)
_DAY = pd.Timedelta(days=1)


def bucket_frequency(start: pd.Timestamp, end: pd.Timestamp) -> str:
    """Bucket size giving enough points for a trend: hours, days or weeks.

    Uses pandas' lower-case aliases ('h', 'D', 'W'): 'H' is gone in pandas 3.
    """
    span = end - start
    if span <= pd.Timedelta(days=3):
        return "h"
    if span <= pd.Timedelta(days=120):
        return "D"
    return "W"


def _bucket_start(stamps: pd.Series, freq: str) -> pd.Series:
    if freq == "W":  # weeks start on Monday 00:00 UTC
        days = stamps.dt.floor("D")
        return days - pd.to_timedelta(days.dt.day_of_week, unit="D")
    return stamps.dt.floor(freq)


def bucket_counts(frame: pd.DataFrame, freq: str, start: pd.Series | None = None
                  ) -> pd.DataFrame:
    """Executions and successes per event-time bucket (empty buckets omitted).

    ``start`` is each row's bucket start when the caller already has it.
    """
    if start is None:
        start = _bucket_start(frame["timestamp"], freq)
    counts = frame.groupby(start, observed=True)["success"].agg(["size", "sum"])
    counts.index.name = "bucket"
    result = counts.rename(columns={"size": "n", "sum": "successes"}).reset_index()
    result["n"] = result["n"].astype("int64")
    result["successes"] = result["successes"].astype("int64")
    result["rate"] = result["successes"] / result["n"]
    low, high = wilson_interval(result["successes"].to_numpy(), result["n"].to_numpy())
    result["ci_low"], result["ci_high"] = low, high
    return result


@dataclass(frozen=True, slots=True)
class Trend:
    """Trend of one series: ``slope`` in log-odds per day; ``rate_change_per_day``
    approximates it on the rate scale at the mean rate."""

    key: str
    n: int
    freq: str
    buckets: pd.DataFrame
    slope: float
    slope_ci_low: float
    slope_ci_high: float
    p_value: float
    rate_change_per_day: float
    significant: bool
    note: str | None = None
    insufficient: bool = False
    """Too little precision to say anything: no numbers are reported."""
    method: str = QUASI_METHOD
    span_days: float = 0.0

    @property
    def direction(self) -> str:
        if self.insufficient:
            return "insufficient data"
        if not self.significant:
            return "flat"
        return "improving" if self.slope > 0 else "declining"

    def to_dict(self) -> dict[str, Any]:
        shown = not self.insufficient
        return jsonable({
            "key": self.key, "n": self.n, "bucket": self.freq,
            "slope_log_odds_per_day": self.slope if shown else None,
            "slope_ci_low": self.slope_ci_low if shown else None,
            "slope_ci_high": self.slope_ci_high if shown else None,
            "p_value": self.p_value if shown else None,
            "rate_change_per_day": self.rate_change_per_day if shown else None,
            "significant": self.significant, "direction": self.direction, "note": self.note,
            "method": self.method, "span_days": self.span_days,
            "buckets": self.buckets.to_dict("records"),
        })


def _prompt_clustered_error(frame: pd.DataFrame, start: pd.Series, x0: pd.Timestamp
                            ) -> tuple[float, int] | None:
    """Slope standard error of the binomial GLM on (bucket, prompt) cells, CR1 by prompt."""
    cells = frame.groupby([start.rename("bucket"), frame["prompt_id"]], observed=True)[
        "success"].agg(["size", "sum"]).reset_index()
    prompts = pd.factorize(cells["prompt_id"])[0]
    groups = int(prompts.max()) + 1
    if groups < 2:
        return None
    days = ((cells["bucket"] - x0) / _DAY).to_numpy(dtype=float)
    endog = np.column_stack([cells["sum"], cells["size"] - cells["sum"]])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = sm.GLM(endog, sm.add_constant(days), family=sm.families.Binomial()).fit(
            cov_type="cluster", cov_kwds={"groups": prompts}, use_t=True)
    error = float(fit.bse[1])
    return (error, groups - 1) if math.isfinite(error) else None


def success_trend(
    frame: pd.DataFrame, *, key: str = "all", freq: str | None = None, alpha: float = 0.05,
    min_n: int = MIN_RANKED_EXECUTIONS,
) -> Trend:
    """The quasi-binomial trend of success over event time for ``frame``."""
    if frame.empty:
        raise ValueError("success_trend needs executions")
    freq = freq or bucket_frequency(frame["timestamp"].min(), frame["timestamp"].max())
    start = _bucket_start(frame["timestamp"], freq)
    buckets = bucket_counts(frame, freq, start)
    n = int(buckets["n"].sum())
    mean_rate = float(buckets["successes"].sum()) / n
    span = float((buckets["bucket"].iloc[-1] - buckets["bucket"].iloc[0]) / _DAY)

    def flat(note: str, insufficient: bool = False) -> Trend:
        return Trend(key, n, freq, buckets, 0.0, 0.0, 0.0, 1.0, 0.0, False, note,
                     insufficient=insufficient, span_days=span)

    if len(buckets) < 3:
        return flat("insufficient data: fewer than three time buckets", insufficient=True)
    if mean_rate in (0.0, 1.0):
        return flat("every execution had the same outcome: the rate cannot trend")
    days = ((buckets["bucket"] - buckets["bucket"].iloc[0]) / _DAY).to_numpy(dtype=float)
    endog = np.column_stack([buckets["successes"], buckets["n"] - buckets["successes"]])
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fit = sm.GLM(endog, sm.add_constant(days), family=sm.families.Binomial()).fit()
    except Exception as exc:  # e.g. perfect separation: no usable estimate, say why
        return flat(f"insufficient data: the trend model did not fit ({exc})",
                    insufficient=True)
    # Quasi-binomial: widen (never narrow) the binomial errors by the Pearson
    # dispersion when buckets vary more than binomial noise explains.
    # (statsmodels' scale="X2" misestimates this for (successes, failures) endog.)
    dispersion = max(1.0, float(fit.pearson_chi2) / max(1, int(fit.df_resid)))
    slope = float(fit.params[1])
    error = float(fit.bse[1]) * math.sqrt(dispersion)
    reference = t_dist(int(fit.df_resid)) if dispersion > 1.0 else norm
    method = QUASI_METHOD
    if "prompt_id" in frame and frame["prompt_id"].nunique() < n:
        method = CLUSTERED_METHOD
        clustered = _prompt_clustered_error(frame, start, buckets["bucket"].iloc[0])
        if clustered is not None and clustered[0] > error:
            error, reference = clustered[0], t_dist(clustered[1])
    critical = float(reference.ppf(1.0 - alpha / 2.0))
    low, high = slope - critical * error, slope + critical * error
    p_value = float(2.0 * reference.sf(abs(slope) / error)) if error > 0 else 1.0
    if not all(math.isfinite(v) for v in (slope, low, high, p_value)):
        return flat("insufficient data: the trend model gave no finite estimate",
                    insufficient=True)
    half_width = (high - low) / 2.0 * max(span, 1.0 / 24.0) * mean_rate * (1.0 - mean_rate)
    insufficient, note = False, None
    if n < min_n:
        insufficient, note = True, f"insufficient data: {n} executions (fewer than {min_n})"
    elif half_width > MAX_TREND_HALF_WIDTH:
        insufficient, note = True, (
            f"insufficient data: the interval spans +/-{half_width:.0%} of success over "
            f"the range (more than +/-{MAX_TREND_HALF_WIDTH:.0%})")
    return Trend(
        key, n, freq, buckets, slope, low, high, p_value,
        slope * mean_rate * (1.0 - mean_rate), p_value < alpha and not insufficient, note,
        insufficient=insufficient, method=method, span_days=span,
    )


def trends_by_template(
    frame: pd.DataFrame, *, alpha: float = 0.05, freq: str | None = None
) -> list[Trend]:
    """Overall trend first, then one per template, on a shared bucket size."""
    if frame.empty:
        return []
    freq = freq or bucket_frequency(frame["timestamp"].min(), frame["timestamp"].max())
    trends = [success_trend(frame, key="all", freq=freq, alpha=alpha)]
    for template_id, group in frame.groupby("template_id", observed=True, sort=True):
        trends.append(success_trend(group, key=str(template_id), freq=freq, alpha=alpha))
    return trends


def cusum_statistic(outcomes: np.ndarray) -> tuple[float, int]:
    """Scaled CUSUM maximum and the change index (first execution after the shift).

    Returns ``(0.0, 0)`` when the series is constant (no variance, no change).
    """
    x = np.asarray(outcomes, dtype=np.float64)
    n = x.size
    if n < 2:
        return 0.0, 0
    p = x.mean()
    if p in (0.0, 1.0):
        return 0.0, 0
    path = np.cumsum(x - p)[:-1]
    index = int(np.argmax(np.abs(path)))
    return float(abs(path[index]) / math.sqrt(n * p * (1.0 - p))), index + 1


@dataclass(frozen=True, slots=True)
class ChangePoint:
    """The most likely shift in one template's success rate."""

    template_id: str
    n: int
    statistic: float
    p_value: float
    p_adjusted: float
    changed_at: pd.Timestamp | None
    rate_before: float
    rate_after: float
    n_before: int
    n_after: int
    significant: bool
    variance_inflation: float = 1.0
    min_effect: float = 0.0

    @property
    def direction(self) -> str:
        if not self.significant:
            return "stable"
        if abs(self.rate_after - self.rate_before) < self.min_effect:
            return "small change"
        return "degraded" if self.rate_after < self.rate_before else "improved"

    def to_dict(self) -> dict[str, Any]:
        values = {name: getattr(self, name) for name in self.__slots__}
        values["direction"] = self.direction
        return jsonable(values)


@dataclass(frozen=True, slots=True)
class ChangeDetection:
    """Change points for every template with enough executions."""

    alpha: float
    changes: tuple[ChangePoint, ...]
    method: str = ("CUSUM with Brownian-bridge (Kolmogorov) p-value, scale widened for prompts "
                   "that repeat close together in time, Holm-corrected")

    @property
    def degraded(self) -> list[ChangePoint]:
        return [c for c in self.changes if c.direction == "degraded"]

    def to_dict(self) -> dict[str, Any]:
        return {"alpha": self.alpha, "method": self.method,
                "changes": [c.to_dict() for c in self.changes]}


def prompt_inflation(prompts: np.ndarray, outcomes: np.ndarray) -> float:
    """:func:`analytics.clustered.order_inflation` of one series (prompt ids in time order).

    1 when no prompt repeats or the ICC is 0 (nothing to widen).
    """
    codes = pd.factorize(prompts)[0]
    n = np.bincount(codes).astype(np.float64)
    if n.size == codes.size:
        return 1.0
    icc = cl.intraclass_correlation(n, np.bincount(codes, outcomes))
    return cl.order_inflation(codes, icc) if icc else 1.0


def detect_changes(
    frame: pd.DataFrame, *, alpha: float = 0.05, min_effect: float = DEFAULT_MIN_EFFECT,
) -> ChangeDetection:
    """One CUSUM change point per template (in event-time order)."""
    rows: list[dict[str, Any]] = []
    ordered = frame.sort_values("timestamp", kind="stable")
    for template_id, group in ordered.groupby("template_id", observed=True, sort=True):
        outcomes = group["success"].to_numpy(dtype=np.float64)
        if outcomes.size < MIN_CHANGE_EXECUTIONS:
            continue
        statistic, index = cusum_statistic(outcomes)
        inflation = (prompt_inflation(group["prompt_id"].to_numpy(), outcomes)
                     if "prompt_id" in group else 1.0)
        scaled = statistic / math.sqrt(inflation)
        p_value = float(kstwobign.sf(scaled)) if statistic > 0 else 1.0
        before, after = outcomes[:index], outcomes[index:]
        rows.append({
            "template_id": str(template_id), "n": int(outcomes.size), "statistic": scaled,
            "p_value": min(1.0, p_value),
            "changed_at": group["timestamp"].iloc[index] if statistic > 0 else None,
            "rate_before": float(before.mean()) if before.size else float(outcomes.mean()),
            "rate_after": float(after.mean()) if after.size else float(outcomes.mean()),
            "n_before": int(before.size), "n_after": int(after.size),
            "variance_inflation": inflation, "min_effect": min_effect,
        })
    if rows:
        reject, adjusted = adjust_p_values([r["p_value"] for r in rows], "holm", alpha)
        for row, flag, value in zip(rows, reject, adjusted, strict=True):
            row["p_adjusted"], row["significant"] = float(value), bool(flag)
    return ChangeDetection(alpha, tuple(ChangePoint(**row) for row in rows))
