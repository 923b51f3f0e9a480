"""The original ``MetricsCollector``: recording, and its three per-template figures.

Every figure is read from the store over event time (the original kept an
in-memory buffer of what this process recorded, so a fresh process saw
nothing) and computed by the analytics modules:

* ``get_template_success_rate``: :func:`analytics.rates.success_rates`; no
  executions in the window is ``nan``, never 0.0;
* ``get_discrimination_power``: the mean over the pairs of ``|rate_a - rate_b|``
  (the original's definition), each difference from
  :func:`analytics.abtest.compare_models` on that template; pairs where a model
  did not run are skipped (as in the original); none left is ``nan``;
* ``get_temporal_trends``: :func:`analytics.trends.success_trend` (a
  quasi-binomial trend over event time, not a regression on bucket index).
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from analytics.abtest import compare_models
from analytics.load import Selection, load_outcome_counts
from analytics.rates import success_rates
from analytics.trends import success_trend
from rev_analytics.core.decode import decode_fields
from rev_analytics.core.errors import AnalysisError
from rev_analytics.prompt_analytics._common import aware
from rev_analytics.prompt_analytics.errors import compatible
from streams.producer import prepare

if TYPE_CHECKING:
    from rev_analytics.prompt_analytics.system import PromptAnalyticsSystem

_DIRECTIONS = {"flat": "stable", "insufficient data": "insufficient_data"}


class MetricsCollector:
    """Records executions: to the stream (with a Redis URL) or straight into the store."""

    def __init__(self, system: PromptAnalyticsSystem) -> None:
        self.system = system
        self.collection_start = datetime.now(UTC)

    @compatible
    def record_prompt_execution(self, prompt_id: str, template_id: str, model_id: str,
                                success: bool, response_length: int | None = None,
                                execution_time: float | None = None,
                                discrimination_score: float | None = None,
                                behavioral_score: float | None = None,
                                quality_score: float | None = None,
                                difficulty_level: int | None = None,
                                domain: str | None = None, cost: float | None = None,
                                error_type: str | None = None,
                                response_hash: str | None = None,
                                metadata: dict[str, Any] | None = None,
                                **fields: Any) -> str:
        """Record one execution; return its ``event_id``.

        The original's parameters, in its order; a measurement not given stays
        absent (not 0.0). ``fields`` are the wire contract's other optional
        fields: ``timestamp`` (event time, a naive datetime is local time;
        default now), ``event_id``,
        ``experiment_id``. Invalid values raise ``InvalidExecutionError`` (a
        ``ValueError`` and an ``InvalidEventError``) naming the field, before
        anything is written.
        """
        given = {"response_length": response_length, "execution_time": execution_time,
                 "discrimination_score": discrimination_score,
                 "behavioral_score": behavioral_score, "quality_score": quality_score,
                 "difficulty_level": difficulty_level, "domain": domain, "cost": cost,
                 "error_type": error_type, "response_hash": response_hash,
                 "metadata": metadata, **fields}
        if isinstance(given.get("timestamp"), datetime):
            given["timestamp"] = aware(given["timestamp"])  # naive = local, as originally
        event = {"prompt_id": prompt_id, "template_id": template_id, "model_id": model_id,
                 "success": success, **{k: v for k, v in given.items() if v is not None}}
        if self.system.producer is not None:
            return self.system.producer.publish(event)
        now = time.time()
        event_id, wire = prepare(event, validate=False, now=now)
        # The consumer's own decoder: the same rules as events arriving through Redis.
        decoded = decode_fields(f"{int(now * 1000)}-0", wire, now=now)
        with self.system.lock:
            # Written directly: no stream entry, so no stream id.
            self.system.store.insert_events([decoded._replace(stream_id=None)])
        return event_id

    @compatible
    def get_template_success_rate(self, template_id: str,
                                  time_window_hours: float = 24) -> float:
        """Success rate of ``template_id`` over the last ``time_window_hours``; ``nan``
        when it has no executions there."""
        frame = self.system.load(time_window_hours / 24, templates=[template_id])
        if frame.empty:
            return math.nan
        row = success_rates(frame, ("template_id",)).lookup(template_id=template_id)
        return math.nan if row is None else float(row.rate)

    @compatible
    def get_discrimination_power(self, template_id: str,
                                 model_pairs: Sequence[tuple[str, str]],
                                 time_window_hours: float = 24) -> float:
        """Mean ``|rate_a - rate_b|`` on ``template_id`` over ``model_pairs``."""
        models = sorted({model for pair in model_pairs for model in pair})
        since = datetime.now(UTC) - timedelta(hours=time_window_hours)
        with self.system.lock:
            counts = load_outcome_counts(
                self.system.store.conn,
                Selection(since=since, templates=[template_id], models=models or None),
                by=("template_id", "model_id", "prompt_id"))
        gaps = []
        for model_a, model_b in model_pairs:
            try:
                result = compare_models(counts, model_a, model_b, template=template_id)
            except AnalysisError:  # a model without executions here: skipped, as originally
                continue
            gaps.append(abs(result.difference))
        return float(sum(gaps) / len(gaps)) if gaps else math.nan

    @compatible
    def get_temporal_trends(self, template_id: str, days: float = 7) -> dict[str, Any]:
        """The original's keys over :func:`analytics.trends.success_trend`.

        ``trend`` is ``improving``/``declining`` (significant), ``stable`` or
        ``insufficient_data``; ``slope`` is the change of the success rate per
        day (``slope_log_odds_per_day`` and ``slope_ci`` the model's own
        scale); ``r2`` is ``nan`` (the trend is a quasi-binomial model, not a
        least-squares line: read ``p_value`` and the interval instead);
        ``data_points`` counts event-time buckets (``bucket`` names their size).
        """
        frame = self.system.load(days, templates=[template_id])
        if frame.empty:
            return {"trend": "insufficient_data", "slope": math.nan, "r2": math.nan,
                    "data_points": 0, "note": f"no executions in the last {days:g} day(s)"}
        trend = success_trend(frame, key=template_id)
        overall = success_rates(frame, ("template_id",)).rows[0]
        shown = not trend.insufficient
        buckets = trend.buckets
        return {
            "trend": _DIRECTIONS.get(trend.direction, trend.direction),
            "slope": trend.rate_change_per_day if shown else math.nan,
            "slope_log_odds_per_day": trend.slope if shown else math.nan,
            "slope_ci": (trend.slope_ci_low, trend.slope_ci_high) if shown else None,
            "r2": math.nan,
            "p_value": trend.p_value if shown else math.nan,
            "significant": trend.significant,
            "data_points": len(buckets), "bucket": trend.freq,
            "current_success_rate": float(buckets["rate"].iloc[-1]),
            "avg_success_rate": overall.rate,
            "avg_success_rate_ci": (overall.ci_low, overall.ci_high),
            "executions": trend.n, "note": trend.note,
        }


__all__ = ["MetricsCollector"]
