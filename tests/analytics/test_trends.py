"""Trends on event time (not bucket index, weighted) and CUSUM change detection."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from scipy.stats import kstwobign

from analytics.trends import bucket_counts, cusum_statistic, detect_changes, success_trend
from tests.analytics._frames import START


def frame_at(days: list[float], n: list[int], rates: list[float], template: str = "t",
             seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    parts = [pd.DataFrame({
        "template_id": template, "model_id": "m",
        "success": rng.random(count) < rate,
        "timestamp": START + pd.to_timedelta(day, unit="D")
        + pd.to_timedelta(rng.uniform(0, 3600, count), unit="s"),
    }) for day, count, rate in zip(days, n, rates, strict=True)]
    return pd.concat(parts, ignore_index=True).sort_values("timestamp", ignore_index=True)


def test_hourly_buckets_use_the_pandas3_alias() -> None:
    # The original floor('H') raises on pandas 3; the trend code must not.
    frame = frame_at([0, 0.5, 1], [10, 10, 10], [0.5, 0.5, 0.5])
    with pytest.raises(ValueError):
        frame["timestamp"].dt.floor("H")
    buckets = bucket_counts(frame, "h")
    assert buckets["n"].sum() == 30 and len(buckets) == 3


def test_bucket_size_follows_the_span_and_weeks_start_on_monday() -> None:
    from analytics.trends import bucket_frequency

    assert bucket_frequency(START, START + pd.Timedelta(days=2)) == "h"
    assert bucket_frequency(START, START + pd.Timedelta(days=30)) == "D"
    assert bucket_frequency(START, START + pd.Timedelta(days=400)) == "W"
    frame = frame_at([0, 3, 9, 200], [10, 10, 10, 10], [0.5] * 4)
    weeks = bucket_counts(frame, "W")
    assert (weeks["bucket"].dt.day_of_week == 0).all() and weeks["n"].sum() == 40
    assert success_trend(frame).freq == "W"


def test_trend_regresses_on_time_with_bucket_sizes_as_weights() -> None:
    # Uneven gaps and sizes: the slope must be per day of event time and equal
    # to an execution-level logistic regression on the bucket time.
    days, n, rates = [0, 1, 2, 10], [500, 50, 500, 200], [0.8, 0.75, 0.78, 0.6]
    frame = frame_at(days, n, rates)
    trend = success_trend(frame, freq="D")
    x = ((frame["timestamp"].dt.floor("D") - START) / pd.Timedelta(days=1)).to_numpy()
    logit = sm.Logit(frame["success"].astype(float).to_numpy(), sm.add_constant(x)).fit(disp=0)
    assert trend.slope == pytest.approx(logit.params[1], rel=1e-6)
    assert trend.slope < 0 and trend.direction in ("declining", "flat")
    index_slope = np.polyfit(np.arange(4), trend.buckets["rate"], 1)[0]
    assert abs(index_slope) > 3 * abs(trend.rate_change_per_day)  # index != time
    assert json.dumps(trend.to_dict(), allow_nan=False)


def test_flat_series_is_not_significant_and_degenerate_series_is_flat() -> None:
    flat = success_trend(frame_at(list(range(10)), [300] * 10, [0.7] * 10, seed=4), freq="D")
    assert not flat.significant
    constant = success_trend(frame_at(list(range(5)), [20] * 5, [1.0] * 5), freq="D")
    assert constant.p_value == 1.0 and constant.note


def test_change_point_found_near_the_true_time() -> None:
    days = list(range(20))
    frame = frame_at(days, [200] * 20, [0.9] * 12 + [0.7] * 8, template="drifting", seed=2)
    stable = frame_at(days, [200] * 20, [0.9] * 20, template="stable", seed=3)
    result = detect_changes(pd.concat([frame, stable], ignore_index=True))
    by_template = {c.template_id: c for c in result.changes}
    change = by_template["drifting"]
    assert change.direction == "degraded" and change.significant
    assert change.changed_at is not None
    # events arrive in one hour per day: +/- one day is +/- 200 executions
    assert abs(change.changed_at - (START + pd.Timedelta(days=12))) < pd.Timedelta(hours=36)
    assert change.rate_before == pytest.approx(0.9, abs=0.03)
    assert change.rate_after == pytest.approx(0.7, abs=0.04)
    assert by_template["stable"].direction == "stable"
    assert [c.template_id for c in result.degraded] == ["drifting"]


def test_change_detection_uses_event_time_not_row_order() -> None:
    days = list(range(10))
    frame = frame_at(days, [200] * 10, [0.9] * 5 + [0.6] * 5, seed=5)
    shuffled = frame.sample(frac=1.0, random_state=1)  # arrival order != event order
    change = detect_changes(shuffled).changes[0]
    assert change.significant
    assert abs(change.changed_at - (START + pd.Timedelta(days=5))) < pd.Timedelta(hours=36)


def test_cusum_false_positive_rate_stays_near_alpha() -> None:
    rng = np.random.default_rng(9)
    p_values = np.array([kstwobign.sf(cusum_statistic(rng.random(1000) < 0.8)[0])
                         for _ in range(1000)])
    assert np.mean(p_values < 0.05) <= 0.065  # the asymptotic test is slightly conservative
    assert np.mean(p_values < 0.5) > 0.3  # and not trivially never rejecting
