"""The original ``REVPipelineIntegration`` and ``integrate_with_rev_pipeline``.

REV results map to events with :func:`streams.producer.event_from_rev_result`
(the original's mapping: verification confidence -> ``discrimination_score``,
behavioural score -> ``behavioral_score``, ...; a missing id is an error, not
``"unknown"``). ``sync_with_experiment_tracking`` reports what the store holds
for one ``experiment_id``: executions, success rate with its interval overall
and per template, model and template x model (:func:`analytics.rates.success_rates`),
first and last event time; an id no stored execution carries raises
``UnknownExperimentError`` (a ``ValueError``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from analytics.rates import success_rates
from rev_analytics.prompt_analytics.errors import (
    ConfigValueError,
    UnknownExperimentError,
    compatible,
)
from streams.producer import event_from_rev_result

if TYPE_CHECKING:
    from rev_analytics.prompt_analytics.system import PromptAnalyticsSystem


class REVPipelineIntegration:
    """Records REV execution results; real-time metrics; experiment sync."""

    def __init__(self, system: PromptAnalyticsSystem) -> None:
        self.system = system

    @compatible
    def on_prompt_execution(self, rev_execution_result: dict[str, Any],
                            merkle_verification: dict[str, Any] | None = None,
                            behavioral_analysis: dict[str, Any] | None = None) -> str:
        """Record one REV execution; return its ``event_id``."""
        fields = event_from_rev_result(rev_execution_result, merkle_verification,
                                       behavioral_analysis)
        return self.system.metrics_collector.record_prompt_execution(**fields)

    def get_real_time_metrics(self) -> dict[str, Any]:
        return self.system.get_real_time_metrics()

    @compatible
    def sync_with_experiment_tracking(self, experiment_id: str) -> dict[str, Any]:
        """What the store holds for ``experiment_id`` (all of its event time)."""
        frame = self.system.load(None, experiments=[experiment_id])
        if frame.empty:
            raise UnknownExperimentError(
                f"No data for experiment {experiment_id!r}: no stored execution carries "
                "this experiment_id (check the id, or whether its events were consumed)")
        overall = success_rates(frame.assign(scope="all"), ("scope",)).rows[0]

        def rows(*by: str) -> list[dict[str, Any]]:
            return [row.to_dict() for row in success_rates(frame, by).rows]

        return {
            "experiment_id": experiment_id, "sync_status": "completed",
            "metrics_synced": True, "timestamp": datetime.now(UTC),
            "executions": overall.n, "successes": overall.successes,
            "success_rate": overall.rate, "success_rate_ci": (overall.ci_low, overall.ci_high),
            "first_event": frame["timestamp"].iloc[0].to_pydatetime(),
            "last_event": frame["timestamp"].iloc[-1].to_pydatetime(),
            "templates": rows("template_id"), "models": rows("model_id"),
            "template_models": rows("template_id", "model_id"),
        }


def integrate_with_rev_pipeline(
    analytics_system: PromptAnalyticsSystem,
    rev_execution_result: dict[str, Any] | None = None,
    merkle_verification: dict[str, Any] | None = None,
    behavioral_analysis: dict[str, Any] | None = None,
    *,
    rev_result: dict[str, Any] | None = None,
    merkle_data: dict[str, Any] | None = None,
    behavioral_data: dict[str, Any] | None = None,
) -> str:
    """Record one REV execution; return its ``event_id``.

    Accepts both spellings the design document uses (``rev_execution_result=``
    / ``merkle_verification=`` / ``behavioral_analysis=`` and ``rev_result=`` /
    ``merkle_data=`` / ``behavioral_data=``), or positional arguments.
    """
    result = rev_execution_result if rev_execution_result is not None else rev_result
    if result is None:
        raise ConfigValueError("integrate_with_rev_pipeline needs the REV execution result")
    return analytics_system.rev_integration.on_prompt_execution(
        result, merkle_verification if merkle_verification is not None else merkle_data,
        behavioral_analysis if behavioral_analysis is not None else behavioral_data)


__all__ = ["REVPipelineIntegration", "integrate_with_rev_pipeline"]
