"""The original ``ReportingSystem`` and its report (``PromptAnalysisReport``).

Reports are :func:`analytics.report.build_report`'s; :class:`ComprehensiveReport`
shows them under the original's field names: ``total_prompts``,
``unique_templates``, ``models_tested``, ``overall_success_rate``,
``avg_discrimination_power`` (the mean stored ``discrimination_score``, from
:func:`analytics.discrimination.discrimination_power`; ``nan`` when none was
recorded), ``top_performers``/``underperformers`` (ranked by the lower end of
their interval), ``trends``, ``recommendations`` (text), ``statistical_tests``
(one dict per analysis: ``test_type`` and ``results``, or ``error`` saying why
it could not run) and ``export_data``. An empty range raises ``NoDataError``
(a ``ValueError`` saying "No data").
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pandas as pd

from analytics.discrimination import discrimination_power
from analytics.jsonsafe import jsonable
from analytics.load import Selection
from analytics.report import Report, build_report
from analytics.report.render import render_summary_markdown
from rev_analytics.prompt_analytics.errors import ConfigValueError, compatible

if TYPE_CHECKING:
    from rev_analytics.prompt_analytics.system import PromptAnalyticsSystem

# The original's test types, then the sections that hold them.
STATISTICAL_TESTS = (("correlation_analysis", "correlations"),
                     ("success_prediction", "prediction"),
                     ("ab_tests", "ab_tests"), ("discrimination", "discrimination"))


@dataclass(frozen=True, slots=True)
class ComprehensiveReport:
    """The original report's attributes over the real :class:`Report` (``report``)."""

    report: Report
    days: float
    avg_discrimination_power: float
    """Mean stored ``discrimination_score`` of the range; ``nan`` when none was recorded."""

    @property
    def report_id(self) -> str:
        return self.report.report_id

    @property
    def generation_time(self) -> datetime:
        return self.report.generated_at

    @property
    def time_period(self) -> tuple[datetime, datetime]:
        return (self.report.generated_at - timedelta(days=self.days), self.report.generated_at)

    @property
    def total_prompts(self) -> int:
        return self.report.headline.executions

    @property
    def unique_templates(self) -> int:
        return self.report.headline.templates

    @property
    def models_tested(self) -> list[str]:
        rows = self.report.section("models").data["rows"]
        return [str(row["model_id"]) for row in rows]

    @property
    def overall_success_rate(self) -> float:
        return self.report.headline.success_rate

    @property
    def top_performers(self) -> list[dict[str, Any]]:
        """Templates by the lower end of their interval, with ``success_rate`` and ``count``."""
        return [{**row, "success_rate": row["rate"], "count": row["n"]}
                for row in self.report.section("templates").data["top"]]

    @property
    def underperformers(self) -> list[dict[str, Any]]:
        return [{**row, "success_rate": row["rate"], "count": row["n"]}
                for row in self.report.section("templates").data["underperforming"]]

    @property
    def trends(self) -> dict[str, Any]:
        data = self.report.section("trends").data or {}
        return {t["key"]: t for t in data.get("trends", [])}

    @property
    def recommendations(self) -> list[str]:
        return [f"{r.action} ({r.evidence})" for r in self.report.recommendations]

    @property
    def statistical_tests(self) -> list[dict[str, Any]]:
        tests = []
        for test_type, section_id in STATISTICAL_TESTS:
            section = self.report.section(section_id)
            if section.available and section.data is not None:
                tests.append({"test_type": test_type, "results": section.data})
            else:
                tests.append({"test_type": test_type, "error": " ".join(section.paragraphs)})
        return tests

    @property
    def export_data(self) -> dict[str, Any]:
        """The template table and summary figures (the rows: ``export_historical_data``)."""
        return {
            "template_performance": self.report.section("templates").data["all"]["rows"],
            "summary_statistics": {
                "total_prompts": self.total_prompts, "unique_templates": self.unique_templates,
                "models_tested": self.models_tested,
                "overall_success_rate": self.overall_success_rate,
                "avg_discrimination_power": self.avg_discrimination_power,
                "time_period_days": self.days,
            },
        }

    def to_dict(self) -> dict[str, Any]:
        """report.json's content with the original's fields on top (JSON-safe).

        ``recommendations`` are the original's strings; report.json's structured
        ones are ``recommendation_details``.
        """
        real = self.report.to_dict()
        real["recommendation_details"] = real.pop("recommendations")
        original = {
            "report_id": self.report_id, "generation_time": self.generation_time,
            "time_period": self.time_period, "total_prompts": self.total_prompts,
            "unique_templates": self.unique_templates, "models_tested": self.models_tested,
            "overall_success_rate": self.overall_success_rate,
            "avg_discrimination_power": self.avg_discrimination_power,
            "top_performers": self.top_performers, "underperformers": self.underperformers,
            "trends": self.trends, "recommendations": self.recommendations,
            "statistical_tests": self.statistical_tests, "export_data": self.export_data,
        }
        return dict(jsonable({**real, **original}))


PromptAnalysisReport = ComprehensiveReport
"""The original's name for the report."""


def mean_discrimination_score(frame: pd.DataFrame) -> float:
    """The range's mean ``discrimination_score`` (one group of
    :func:`analytics.discrimination.discrimination_power`)."""
    result = discrimination_power(frame.assign(template_id="all"))
    mean = result.templates[0].mean_score if result.templates else None
    return math.nan if mean is None else float(mean)


class ReportingSystem:
    """Comprehensive reports, executive summaries and report exports."""

    def __init__(self, system: PromptAnalyticsSystem) -> None:
        self.system = system

    @compatible
    def generate_comprehensive_report(self, days: float = 7,
                                      models: Sequence[str] | None = None,
                                      templates: Sequence[str] | None = None
                                      ) -> ComprehensiveReport:
        """The full report for the last ``days``; an empty range raises ``NoDataError``."""
        frame = self.system.load(days, templates=templates, models=models)
        since = datetime.now(UTC) - timedelta(days=days)
        report = build_report(frame, selection=Selection(since=since, templates=templates,
                                                         models=models))
        return ComprehensiveReport(report, days, mean_discrimination_score(frame))

    def generate_executive_summary(self, report: ComprehensiveReport | Report) -> str:
        """The executive summary as Markdown (what ``summary.md`` holds)."""
        real = report.report if isinstance(report, ComprehensiveReport) else report
        return render_summary_markdown(real)

    @compatible
    def export_report(self, report: ComprehensiveReport | Report,
                      format: str = "json",
                      filepath: str | None = None) -> str:
        """Write the report: ``json`` (:meth:`ComprehensiveReport.to_dict`, or report.json's
        content for a bare ``Report``), or the template table as ``csv``/``parquet``.
        Returns the path."""
        real = report.report if isinstance(report, ComprehensiveReport) else report
        fmt = format.lower()
        if fmt not in ("json", "csv", "parquet"):
            raise ConfigValueError(
                f"Unsupported export format: {format!r}; use json, csv or parquet")
        path = self.system.output_path(filepath, f"prompt_analysis_{real.report_id}.{fmt}")
        if fmt == "json":
            data = report.to_dict()
            path.write_text(json.dumps(data, indent=2, ensure_ascii=False, allow_nan=False),
                            encoding="utf-8")
            return str(path)
        table = pd.DataFrame(real.section("templates").data["all"]["rows"])
        cost = pd.DataFrame(real.section("cost").data or [])
        if not cost.empty:
            table = table.merge(cost[["template_id", "total_cost", "cost_per_success"]],
                                on="template_id", how="left")
        if fmt == "csv":
            table.to_csv(path, index=False)
        else:
            table.to_parquet(path, index=False)
        return str(path)


__all__ = ["ComprehensiveReport", "PromptAnalysisReport", "ReportingSystem",
           "mean_discrimination_score"]
