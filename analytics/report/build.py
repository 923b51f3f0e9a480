"""Build a :class:`Report` from executions: run the statistics, draw, summarise.

This module composes; it computes no statistic itself. Rates and intervals
come from :mod:`analytics.rates`, comparisons from :mod:`analytics.multiple`,
discrimination from :mod:`analytics.discrimination`, trends and change points
from :mod:`analytics.trends`, correlations from :mod:`analytics.correlation`,
and so on; this module picks what to show, in which order, with which words.
The only arithmetic here is bookkeeping (sums of cost, counts).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pandas as pd

from analytics import figures
from analytics.correlation import CorrelationResult, correlations
from analytics.discrimination import DiscriminationResult, discrimination_power
from analytics.load import Selection
from analytics.multiple import MultipleComparisons, compare_templates
from analytics.rates import RateTable, success_rates
from analytics.report.model import Headline, Recommendation, Report, Section, Table
from analytics.report.recommend import recommendations_and_risks
from analytics.trends import ChangeDetection, Trend, detect_changes, trends_by_template
from rev_analytics.errors import NothingToReportError

DEFAULT_TARGET = 0.80
"""Success rate below which a template is a risk (the alert rule's default threshold)."""
TOP_N = 5
MAX_COMPARISON_ROWS = 30

StepProgress = Callable[[str, int, int], None]
"""Called as ``progress(step_description, steps_done, steps_total)``."""


@dataclass(slots=True)
class Analysis:
    """The typed statistics a report is made of (kept typed for the figures)."""

    alpha: float
    target: float
    overall: RateTable
    templates: RateTable
    models: RateTable
    cells: RateTable
    comparisons: MultipleComparisons
    discrimination: DiscriminationResult
    trends: list[Trend]
    changes: ChangeDetection
    correlation: CorrelationResult
    cost: pd.DataFrame
    timings: dict[str, float] = field(default_factory=dict)


_STEPS = ("success rates", "template comparisons", "discrimination", "trends",
          "change points", "correlations", "cost", "figures", "recommendations")


class _Clock:
    def __init__(self, progress: StepProgress | None) -> None:
        self.timings: dict[str, float] = {}
        self._progress = progress
        self._done = 0

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        if self._progress is not None:
            self._progress(name, self._done, len(_STEPS))
        start = time.perf_counter()
        yield
        self.timings[name] = round(time.perf_counter() - start, 4)
        self._done += 1
        if self._progress is not None:
            self._progress(name, self._done, len(_STEPS))


def cost_effectiveness(frame: pd.DataFrame, by: str = "template_id") -> pd.DataFrame:
    """Cost per successful execution for each group (bookkeeping, not inference).

    ``cost_per_success`` is total reported cost / successes; it is missing
    (NaN) when a group had no success or reported no cost, never 0.
    """
    grouped = frame.groupby(by, observed=True, dropna=False).agg(
        executions=("success", "size"), successes=("success", "sum"),
        total_cost=("cost", "sum"), cost_reported=("cost", "count"))
    grouped["total_cost"] = grouped["total_cost"].where(grouped["cost_reported"] > 0)
    grouped["cost_per_success"] = grouped["total_cost"] / grouped["successes"].where(
        grouped["successes"] > 0)
    return grouped.reset_index().sort_values("cost_per_success", na_position="last",
                                             kind="stable")


def analyse(frame: pd.DataFrame, *, alpha: float = 0.05, target: float = DEFAULT_TARGET,
            clock: _Clock | None = None) -> Analysis:
    """Run every statistic the report shows on ``frame`` (one call per module)."""
    clock = clock or _Clock(None)
    with clock.step("success rates"):
        overall = success_rates(frame.assign(scope="all"), ("scope",), alpha=alpha)
        templates = success_rates(frame, ("template_id",), alpha=alpha)
        models = success_rates(frame, ("model_id",), alpha=alpha)
        cells = success_rates(frame, ("template_id", "model_id"), alpha=alpha)
    with clock.step("template comparisons"):
        comparisons = compare_templates(frame, correction="holm", alpha=alpha)
    with clock.step("discrimination"):
        discrimination = discrimination_power(frame, alpha=alpha)
    with clock.step("trends"):
        trends = trends_by_template(frame, alpha=alpha)
    with clock.step("change points"):
        changes = detect_changes(frame, alpha=alpha)
    with clock.step("correlations"):
        correlation = correlations(frame, alpha=alpha)
    with clock.step("cost"):
        cost = cost_effectiveness(frame)
    return Analysis(alpha, target, overall, templates, models, cells, comparisons,
                    discrimination, trends, changes, correlation, cost, clock.timings)


def _pct(value: Any) -> str:
    return "n/a" if value is None or pd.isna(value) else f"{float(value):.1%}"


def interval_text(rate: float, low: float | None, high: float | None, n: int,
                  confidence: float) -> str:
    """'72.0% (95% CI 65.1-78.0%, n=180)' — how every rate appears in prose."""
    return (f"{_pct(rate)} ({confidence:.0%} CI {_pct(low)}–{_pct(high)}, n={n:,})")


_RATE_COLUMNS = {"n": "executions", "successes": "successes", "rate": "success rate",
                 "ci_low": "CI low", "ci_high": "CI high"}


def _rate_table(table: RateTable, keys: dict[str, str], caption: str,
                rows: list[dict[str, Any]] | None = None) -> Table:
    records = rows if rows is not None else [row.to_dict() for row in table.rows]
    return Table({**keys, **_RATE_COLUMNS}, records, caption)


def _ranked(analysis: Analysis) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Top templates (by lower bound) and under-performers (upper bound below overall)."""
    rows = [row.to_dict() for row in analysis.templates.rows]
    overall = analysis.overall.rows[0]
    top = sorted(rows, key=lambda r: (-(r["ci_low"] or 0.0), -r["n"]))[:TOP_N]
    under = [r for r in rows if r["ci_high"] is not None and r["ci_high"] < overall.rate]
    under.sort(key=lambda r: (r["ci_high"], r["rate"]))
    return top, under


def _headline(frame: pd.DataFrame, analysis: Analysis) -> Headline:
    overall = analysis.overall.rows[0]
    cost = frame["cost"] if "cost" in frame else pd.Series(dtype=float)
    total_cost = float(cost.sum()) if cost.notna().any() else None
    return Headline(
        executions=overall.n, successes=overall.successes, success_rate=overall.rate,
        ci_low=overall.ci_low, ci_high=overall.ci_high,
        templates=int(frame["template_id"].nunique()), models=int(frame["model_id"].nunique()),
        first_event=frame["timestamp"].min().to_pydatetime(),
        last_event=frame["timestamp"].max().to_pydatetime(),
        total_cost=total_cost,
        cost_per_success=(total_cost / overall.successes
                          if total_cost is not None and overall.successes else None),
        confidence=1.0 - analysis.alpha,
    )


def _sections(analysis: Analysis, drawn: set[str]) -> list[Section]:
    confidence = 1.0 - analysis.alpha
    top, under = _ranked(analysis)
    overall = analysis.overall.rows[0]
    overall_text = interval_text(overall.rate, overall.ci_low, overall.ci_high, overall.n,
                                 confidence)
    template_keys = {"template_id": "template"}
    sections = [
        Section(
            "templates", "Top and under-performing templates",
            [f"Templates ranked by the lower end of their {confidence:.0%} Wilson interval, so a "
             "template with few executions cannot top the list by luck. Under-performing: the "
             f"whole interval lies below the overall rate {overall_text}."
             + ("" if under else " No template is credibly below the overall rate.")],
            [_rate_table(analysis.templates, template_keys, "Top templates", top),
             _rate_table(analysis.templates, template_keys, "Under-performing templates", under),
             _rate_table(analysis.templates, template_keys, "All templates")],
            data={"top": top, "underperforming": under,
                  "all": analysis.templates.to_dict()},
        ),
        Section(
            "models", "Model comparison",
            ["Success rate per model across all templates in the range. Models differ in "
             "which templates they ran, so compare cells of the heatmap for like with like."],
            [_rate_table(analysis.models, {"model_id": "model"}, "Models")],
            figures=[name for name in ("latency_cost_distributions",) if name in drawn],
            data=analysis.models.to_dict(),
        ),
        Section(
            "heatmap", "Template x model",
            ["Each cell is one template on one model. A grey hatched cell means that "
             "combination never ran in the range — it is missing data, not 0 %."],
            [_rate_table(analysis.cells, {"template_id": "template", "model_id": "model"},
                         "Template x model cells")],
            figures=[name for name in ("success_heatmap", "network_graph") if name in drawn],
            data=analysis.cells.to_dict(),
        ),
        _discrimination_section(analysis),
        _trends_section(analysis, drawn),
        _cost_section(analysis),
        _comparisons_section(analysis),
        _correlation_section(analysis),
    ]
    return sections


def _discrimination_section(analysis: Analysis) -> Section:
    rows = [row.to_dict() for row in analysis.discrimination.templates]
    columns = {"template_id": "template", "n": "executions", "models": "models",
               "cramers_v": "Cramér's V", "v_ci_low": "V CI low", "v_ci_high": "V CI high",
               "p_adjusted": "p (Holm)", "mean_score": "mean discrimination score",
               "note": "note"}
    return Section(
        "discrimination", "Discrimination ranking",
        ["How strongly each template's outcome depends on the model (REV keeps templates "
         "that separate models): chi-square test of success x model, effect size Cramér's V "
         "with its interval, p-values Holm-corrected across templates."],
        [Table(columns, rows, "Templates ranked by Cramér's V")],
        data=analysis.discrimination.to_dict(),
        available=bool(rows),
    )


def _trends_section(analysis: Analysis, drawn: set[str]) -> Section:
    trend_columns = {"key": "series", "n": "executions", "bucket": "bucket",
                     "rate_change_per_day": "rate change / day", "p_value": "p",
                     "direction": "direction", "note": "note"}
    trend_rows = [{k: v for k, v in t.to_dict().items() if k != "buckets"}
                  for t in analysis.trends]
    change_columns = {"template_id": "template", "n": "executions",
                      "changed_at": "changed at (UTC)", "rate_before": "rate before",
                      "rate_after": "rate after", "p_adjusted": "p (Holm)",
                      "direction": "direction"}
    changes = [c.to_dict() for c in analysis.changes.changes]
    return Section(
        "trends", "Trends and detected changes",
        ["Trend: success over event time (quasi-binomial regression on time, buckets weighted "
         "by their executions). Changes: the most likely shift in each template's success rate "
         "(CUSUM), Holm-corrected; 'degraded' means a significant drop."],
        [Table(trend_columns, trend_rows, "Trends (first row: all executions)"),
         Table(change_columns, changes, "Detected changes")],
        figures=[name for name in ("success_time_series",) if name in drawn],
        data={"trends": [t.to_dict() for t in analysis.trends],
              "changes": analysis.changes.to_dict()},
    )


def _cost_section(analysis: Analysis) -> Section:
    rows = [{str(k): v for k, v in row.items()} for row in analysis.cost.to_dict("records")]
    columns = {"template_id": "template", "executions": "executions",
               "successes": "successes", "total_cost": "total cost (USD)",
               "cost_per_success": "cost per success (USD)"}
    reported = bool(analysis.cost["cost_reported"].sum())
    return Section(
        "cost", "Cost effectiveness",
        ["Cost per successful execution: total reported cost divided by successes "
         "(cheapest first). Missing when a template had no success or reported no cost."
         if reported else "No execution in the range reported a cost."],
        [Table(columns, rows, "Cost per successful execution")],
        data=rows, available=reported,
    )


def _comparisons_section(analysis: Analysis) -> Section:
    family = analysis.comparisons
    rows = [c.to_dict() for c in family.comparisons]
    rows.sort(key=lambda r: (r["p_adjusted"], -abs(r["difference"])))
    shown = rows[:MAX_COMPARISON_ROWS]
    columns = {"a": "template A", "b": "template B", "n_a": "n A", "n_b": "n B",
               "rate_a": "rate A", "rate_b": "rate B", "difference": "B - A",
               "p_value": "p", "p_adjusted": "p (Holm)", "significant": "significant"}
    found = sum(1 for r in rows if r["significant"])
    return Section(
        "ab_tests", "A/B comparisons between templates",
        [f"All {len(rows)} template pairs compared with the pooled two-proportion z-test; "
         f"p-values Holm-corrected for the {len(rows)} comparisons. {found} difference(s) "
         f"remain significant at alpha = {analysis.alpha:g}. Showing the "
         f"{len(shown)} most significant. Pairs mix models: for a decision, run "
         "`rev-analytics ab-test` on two templates (stratified by model)."],
        [Table(columns, shown, "Template pairs (most significant first)")],
        data=family.to_dict(), available=bool(rows),
    )


def _correlation_section(analysis: Analysis) -> Section:
    rows = [f.to_dict() for f in analysis.correlation.features]
    columns = {"feature": "feature", "n": "executions", "r": "r", "ci_low": "CI low",
               "ci_high": "CI high", "p_adjusted": "p (BH)", "significant": "significant",
               "note": "note"}
    return Section(
        "correlations", "What goes with success",
        ["Point-biserial correlation of each numeric field with success, Benjamini-Hochberg "
         "corrected. Association, not cause; fields computed from the outcome are flagged."],
        [Table(columns, rows, "Correlation with success")],
        data=analysis.correlation.to_dict(), available=bool(rows),
    )


def _figures(frame: pd.DataFrame, analysis: Analysis) -> list[figures.Figure]:
    drawn = [figures.success_heatmap(analysis.cells), figures.network_graph(analysis.cells)]
    series = [t.buckets.assign(template_id=t.key) for t in analysis.trends[1:]]
    if series:
        bucket = {"h": "hour", "D": "day", "W": "week"}.get(analysis.trends[0].freq, "bucket")
        drawn.append(figures.success_time_series(pd.concat(series, ignore_index=True),
                                                 bucket=bucket))
    drawn.append(figures.distributions(frame))
    return drawn


def selection_dict(selection: Selection | None) -> dict[str, Any]:
    chosen = selection or Selection()
    return {"since": chosen.since, "until": chosen.until,
            "templates": list(chosen.templates or []) or None,
            "models": list(chosen.models or []) or None}


def build_report(
    frame: pd.DataFrame, *, selection: Selection | None = None, alpha: float = 0.05,
    target: float = DEFAULT_TARGET, progress: StepProgress | None = None,
    now: datetime | None = None,
) -> Report:
    """The whole report for the executions in ``frame`` (typed as by ``load_executions``).

    Raises :class:`NothingToReportError` when ``frame`` is empty.
    """
    if frame.empty:
        raise NothingToReportError("nothing to report: no executions in the selected range")
    clock = _Clock(progress)
    analysis = analyse(frame, alpha=alpha, target=target, clock=clock)
    with clock.step("figures"):
        drawn = _figures(frame, analysis)
    with clock.step("recommendations"):
        headline = _headline(frame, analysis)
        top, under = _ranked(analysis)
        recommendations, risks = recommendations_and_risks(analysis, headline, top, under)
        sections = _sections(analysis, {f.name for f in drawn})
    generated = now or datetime.now(UTC)
    return Report(
        report_id=f"report-{generated:%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:8]}",
        generated_at=generated, selection=selection_dict(selection), headline=headline,
        risks=risks, recommendations=recommendations, sections=sections, figures=drawn,
        timings=clock.timings,
    )


__all__ = ["DEFAULT_TARGET", "Analysis", "Recommendation", "analyse", "build_report",
           "cost_effectiveness", "interval_text"]
