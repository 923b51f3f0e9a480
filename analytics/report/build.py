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

from analytics import figures, formatting
from analytics.analyze import (
    ASSUMES_INDEPENDENCE,
    SECTIONS,
    AnalysisReport,
    Overview,
    run_analysis,
)
from analytics.defaults import DEFAULT_MIN_EFFECT, DEFAULT_SUCCESS_TARGET, MIN_RANKED_EXECUTIONS
from analytics.experiments import ExperimentChange, ExperimentView, experiment_view
from analytics.formatting import P_FLOOR, points
from analytics.load import Selection
from analytics.rates import RateTable
from analytics.report.model import Headline, Kind, Recommendation, Report, Section, Table
from analytics.report.recommend import p_text, recommendations_and_risks
from rev_analytics.core.errors import NothingToReportError

DEFAULT_TARGET = DEFAULT_SUCCESS_TARGET
"""Success rate below which a template is a risk (the alert rule's default threshold)."""
TOP_N = 5
MAX_COMPARISON_ROWS = 30

StepProgress = Callable[[str, int, int], None]
"""Called as ``progress(step_description, steps_done, steps_total)``."""


@dataclass(slots=True)
class Analysis:
    """The statistics a report is made of: ``run_analysis``'s typed result plus cost.

    Kept typed (not ``to_dict()``-ed) because the figures draw from the typed
    results. A section the data could not support is ``None`` in ``result``
    with the reason in ``result.notes``.
    """

    result: AnalysisReport
    target: float
    cost: pd.DataFrame
    timings: dict[str, float] = field(default_factory=dict)
    min_effect: float = DEFAULT_MIN_EFFECT
    """Smallest difference in success rate that an alarm or a ranking acts on."""
    experiments: ExperimentView | None = None
    """The per-experiment view; ``None`` when no execution carries an experiment_id."""

    @property
    def alpha(self) -> float:
        return self.result.alpha

    @property
    def overall(self) -> Overview:
        return self.result.overview

    def rates(self, grouping: str) -> RateTable:
        return self.result.rates[grouping]

    @property
    def templates(self) -> RateTable:
        return self.rates("template")

    @property
    def models(self) -> RateTable:
        return self.rates("model")

    @property
    def cells(self) -> RateTable:
        return self.rates("template_model")

    def note(self, section: str) -> str:
        return self.result.notes.get(section, "not enough data for this analysis")


_STEPS = (*SECTIONS, "cost", "experiments", "figures", "recommendations")


class _Clock:
    """Times each step and reports progress as ``(step, done, total)``."""

    def __init__(self, progress: StepProgress | None) -> None:
        self.timings: dict[str, float] = {}
        self._progress = progress
        self._done = 0

    def starting(self, name: str) -> None:
        if self._progress is not None:
            self._progress(name, self._done, len(_STEPS))
        self._done += 1

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        self.starting(name)
        start = time.perf_counter()
        yield
        self.timings[name] = round(time.perf_counter() - start, 4)


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
            seed: int = 0, clock: _Clock | None = None,
            min_effect: float = DEFAULT_MIN_EFFECT) -> Analysis:
    """Every statistic the report shows: :func:`run_analysis` plus cost per success."""
    clock = clock or _Clock(None)
    result = run_analysis(frame, alpha=alpha, progress=clock.starting, seed=seed,
                          min_effect=min_effect)
    clock.timings.update(result.timings)
    with clock.step("cost"):
        cost = cost_effectiveness(frame)
    with clock.step("experiments"):
        experiments = (experiment_view(frame, alpha=alpha)
                       if {"experiment_id", "timestamp"} <= set(frame.columns) else None)
    return Analysis(result, target, cost, clock.timings, min_effect, experiments)


def _pct(value: Any) -> str:
    return "n/a" if value is None or pd.isna(value) else f"{float(value):.1%}"


def interval_text(rate: float, low: float | None, high: float | None, n: int,
                  confidence: float) -> str:
    """'72.0% (95% CI 65.1-78.0%, n=180)' — how every rate appears in prose."""
    return (f"{_pct(rate)} ({confidence:.0%} CI {_pct(low)}–{_pct(high)}, n={n:,})")


_RATE_COLUMNS = {"n": "executions", "prompts": "prompts", "successes": "successes",
                 "rate": "success rate", "ci_low": "CI low", "ci_high": "CI high"}


def _rate_table(table: RateTable, keys: dict[str, str], caption: str,
                rows: list[dict[str, Any]] | None = None) -> Table:
    records = rows if rows is not None else [row.to_dict() for row in table.rows]
    return Table({**keys, **_RATE_COLUMNS}, records, caption)


def _ranked(analysis: Analysis) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Top templates and under-performers; small samples never lead.

    Top: templates with at least :data:`MIN_RANKED_EXECUTIONS` executions, by the
    lower bound of their interval. Under-performing: enough executions, the
    whole interval below the overall rate, and at least the minimum effect below it.
    """
    rows = [row.to_dict() for row in analysis.templates.rows]
    overall_rate = analysis.overall.rate
    sized = [r for r in rows if r["n"] >= MIN_RANKED_EXECUTIONS]
    top = sorted(sized, key=lambda r: (-(r["ci_low"] or 0.0), -r["n"]))[:TOP_N]
    under = [r for r in sized if r["ci_high"] is not None and r["ci_high"] < overall_rate
             and overall_rate - r["rate"] >= analysis.min_effect]
    under.sort(key=lambda r: (r["ci_high"], r["rate"]))
    return top, under


def _headline(frame: pd.DataFrame, analysis: Analysis) -> Headline:
    overall = analysis.overall
    cost = frame["cost"] if "cost" in frame else pd.Series(dtype=float)
    total_cost = float(cost.sum()) if cost.notna().any() else None
    return Headline(
        executions=overall.n, successes=overall.successes, success_rate=overall.rate,
        ci_low=overall.ci_low, ci_high=overall.ci_high,
        templates=overall.templates, models=overall.models,
        first_event=overall.start.to_pydatetime(), last_event=overall.end.to_pydatetime(),
        total_cost=total_cost,
        cost_per_success=(total_cost / overall.successes
                          if total_cost is not None and overall.successes else None),
        confidence=1.0 - analysis.alpha,
    )


def _unavailable(section_id: str, title: str, analysis: Analysis, key: str) -> Section:
    return Section(section_id, title, [f"Not available for this range: {analysis.note(key)}."],
                   available=False)


def _sections(analysis: Analysis, drawn: set[str]) -> list[Section]:
    confidence = 1.0 - analysis.alpha
    top, under = _ranked(analysis)
    overall = analysis.overall
    overall_text = interval_text(overall.rate, overall.ci_low, overall.ci_high, overall.n,
                                 confidence)
    template_keys = {"template_id": "template"}
    return [
        Section(
            "templates", "Top and under-performing templates",
            [f"Templates with at least {MIN_RANKED_EXECUTIONS} executions, ranked by the lower "
             f"end of their {confidence:.0%} interval ({_interval_kind(analysis)}), so a "
             "template with few executions cannot top the list by luck. Under-performing: the "
             f"whole interval lies below the overall rate {overall_text}, and the rate is at "
             f"least {analysis.min_effect * 100:g} points below it."
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
        experiments_section(analysis.experiments, confidence),
        _cost_section(analysis),
        _comparisons_section(analysis),
        _correlation_section(analysis),
        _prediction_section(analysis),
        _identification_section(analysis, drawn),
    ]


def _independence_caveat(analysis: Analysis, section: str) -> list[str]:
    """The sentence saying a section still counts executions as independent, if prompts repeat."""
    if analysis.overall.design != "clustered":
        return []
    return [f"Not adjusted for repeated prompts: {ASSUMES_INDEPENDENCE[section]}."]


def _interval_kind(analysis: Analysis) -> str:
    if analysis.templates.clustered:
        return "Wilson on the effective sample size where prompts repeat"
    return "Wilson"


def _discrimination_section(analysis: Analysis) -> Section:
    result = analysis.result.discrimination
    title = "Discrimination ranking"
    if result is None or not result.templates:
        return _unavailable("discrimination", title, analysis, "discrimination")
    columns = {"template_id": "template", "n": "executions", "models": "models",
               "cramers_v": "Cramér's V", "v_ci_low": "V CI low", "v_ci_high": "V CI high",
               "p_adjusted": "p (Holm)", "rate_spread": "model spread",
               "discriminates": "discriminates", "mean_score": "mean discrimination score",
               "note": "note"}
    correction = (" (Rao-Scott corrected where prompts repeat)"
                  if any(t.design == "clustered" for t in result.templates) else "")
    return Section(
        "discrimination", title,
        ["How strongly each template's outcome depends on the model (REV keeps templates "
         f"that separate models): chi-square test of success x model{correction}, effect "
         "size Cramér's V with its interval, p-values Holm-corrected across templates. "
         f"Templates that discriminate (at least {result.min_n} executions, significant, "
         f"best and worst model at least {result.min_effect * 100:g} points apart) come "
         "first, each group by the lower end of V's interval."],
        [Table(columns, [row.to_dict() for row in result.templates],
               "Templates ranked by Cramér's V")],
        data=result.to_dict(),
    )


def _trends_section(analysis: Analysis, drawn: set[str]) -> Section:
    trends, changes = analysis.result.trends, analysis.result.changes
    title = "Trends and detected changes"
    if not trends and changes is None:
        return _unavailable("trends", title, analysis, "trends")
    trend_columns = {"key": "series", "n": "executions", "bucket": "bucket",
                     "rate_change_per_day": "rate change / day", "p_value": "p",
                     "direction": "direction", "note": "note"}
    trend_rows = [{k: v for k, v in t.to_dict().items() if k != "buckets"} for t in trends]
    change_columns = {"template_id": "template", "n": "executions",
                      "changed_at": "changed at (UTC)", "rate_before": "rate before",
                      "rate_after": "rate after", "p_adjusted": "p (Holm)",
                      "direction": "direction"}
    change_rows = [c.to_dict() for c in changes.changes] if changes else []
    change_rows.sort(key=lambda row: (not row["significant"], row["p_adjusted"]))
    return Section(
        "trends", title,
        ["Trend: success over event time (quasi-binomial regression on time, buckets weighted "
         "by their executions; the standard error is widened where prompts repeat across "
         "buckets). A trend whose interval is too wide to mean anything says 'insufficient "
         "data' instead of numbers. Changes: the most likely shift in each template's success "
         "rate (CUSUM, widened where prompts bunch in time), Holm-corrected; 'degraded' means "
         f"a significant drop of at least {analysis.min_effect * 100:g} points."],
        [Table(trend_columns, trend_rows, "Trends (first row: all executions)"),
         Table(change_columns, change_rows,
               "Most likely change point per template (significant ones first; 'stable' "
               "means no real change)")],
        figures=[name for name in ("success_time_series",) if name in drawn],
        data={"trends": [t.to_dict() for t in trends],
              "changes": changes.to_dict() if changes else None},
    )


def change_sentence(change: ExperimentChange, confidence: float) -> str:
    """What changed from one experiment to the next, in one or two sentences."""
    parts = []
    for label, ids in (("templates added", change.templates_added),
                       ("templates dropped", change.templates_removed),
                       ("models added", change.models_added),
                       ("models dropped", change.models_removed)):
        if ids:
            parts.append(f"{label}: {', '.join(ids)}")
    ran = "; ".join(parts) if parts else "same templates and models"
    found = []
    for template in change.significant_templates:
        d = change.per_template[template]
        found.append(f"{template} {points(d.difference)} ({confidence:.0%} CI "
                     f"{points(d.ci_low)} to {points(d.ci_high)}, {d.design}, "
                     f"{formatting.p_text(d.p_adjusted)} Holm)")
    outcome = ("significant change: " + "; ".join(found) if found else
               f"no template changed significantly ({len(change.per_template)} compared)")
    return f"{change.experiment_id} against {change.previous_id}: {ran}; {outcome}."


def experiments_section(view: ExperimentView | None, confidence: float) -> Section:
    """Each experiment's templates, models and success, and what changed since the one before."""
    title = "Experiments"
    if view is None:
        return Section("experiments", title,
                       ["No execution in the range carries an experiment_id, so there is no "
                        "per-experiment view."], available=False)
    summary_columns = {"experiment_id": "experiment", "first_event": "first event",
                       "last_event": "last event", "n": "executions", "prompts": "prompts",
                       "rate": "success rate", "ci_low": "CI low", "ci_high": "CI high"}
    summary_rows = [{"experiment_id": e.experiment_id, "first_event": e.first_event,
                     "last_event": e.last_event, **e.overall.to_dict()}
                    for e in view.experiments]
    change_columns = {"experiment_id": "experiment", "template_id": "template",
                      "rate_before": "rate before", "rate_after": "rate after",
                      "difference": "difference",
                      "ci_low": "CI low", "ci_high": "CI high", "design": "design",
                      "p_adjusted": "p (Holm)", "significant": "significant"}
    change_rows = []
    for change in view.changes:
        rows = [("all templates", change.overall)] if change.overall else []
        rows += sorted(change.per_template.items(),
                       key=lambda item: (not item[1].significant, item[1].p_value))
        for template, d in rows:
            change_rows.append({
                "experiment_id": change.experiment_id, "previous_id": change.previous_id,
                "template_id": template, "rate_before": d.previous_rate,
                "rate_after": d.current_rate, "difference": d.difference,
                "ci_low": d.ci_low, "ci_high": d.ci_high, "design": d.design,
                "p_value": d.p_value,
                "p_adjusted": d.p_adjusted, "significant": d.significant,
            })
    ran_columns = {"experiment_id": "experiment", "templates": "templates",
                   "models": "models"}
    ran_rows = [{"experiment_id": e.experiment_id, "templates": ", ".join(e.templates),
                 "models": ", ".join(e.models)} for e in view.experiments]
    paragraphs = [
        f"{len(view.experiments)} experiment{'' if len(view.experiments) == 1 else 's'}, "
        "in the order they started. Success rates "
        f"with {confidence:.0%} intervals ({view.rate_method}). Each experiment is compared "
        "with the one before: the difference in success rate (later minus earlier, in "
        "percentage points) for every template both ran, with the test the data calls for "
        "(paired when both experiments ran the same prompts) and Holm-adjusted p-values "
        "across those templates; 'all templates' mixes templates and is only a guide.",
        *(change_sentence(c, confidence) for c in view.changes),
        *view.notes,
    ]
    return Section(
        "experiments", title, paragraphs,
        [Table(summary_columns, summary_rows, "Experiments",
               kinds={"prompts": Kind.COUNT}),
         Table(change_columns, change_rows,
               "Change against the previous experiment, per template (significant first)",
               kinds={"ci_low": Kind.POINTS, "ci_high": Kind.POINTS, "design": Kind.ID,
                      "template_id": Kind.ID}),
         Table(ran_columns, ran_rows, "What each experiment ran",
               kinds={"templates": Kind.TEXT, "models": Kind.TEXT})],
        data=view.to_dict(),
    )


def _cost_section(analysis: Analysis) -> Section:
    rows = [{str(k): v for k, v in row.items()} for row in analysis.cost.to_dict("records")]
    columns = {"template_id": "template", "executions": "executions",
               "successes": "successes", "total_cost": "total cost (USD)",
               "cost_per_success": "cost per success (USD)"}
    if not analysis.cost["cost_reported"].sum():
        return Section("cost", "Cost effectiveness",
                       ["No execution in the range reported a cost."], available=False)
    return Section(
        "cost", "Cost effectiveness",
        ["Cost per successful execution: total reported cost divided by successes "
         "(cheapest first). Missing when a template had no success or reported no cost."],
        [Table(columns, rows, "Cost per successful execution")], data=rows,
    )


def _comparisons_section(analysis: Analysis) -> Section:
    family = analysis.result.comparisons
    title = "A/B comparisons between templates"
    if family is None or not family.comparisons:
        return Section("ab_tests", title, ["Fewer than two templates: nothing to compare."
                                           if family is not None else
                                           f"Not available: {analysis.note('comparisons')}."],
                       available=False)
    rows = [c.to_dict() for c in family.comparisons]
    # Among pairs that all read "p < 0.0001", the largest difference comes first.
    rows.sort(key=lambda r: (max(r["p_adjusted"], P_FLOOR), -abs(r["difference"])))
    shown = rows[:MAX_COMPARISON_ROWS]
    columns = {"a": "template A", "b": "template B", "n_a": "n A", "n_b": "n B",
               "rate_a": "rate A", "rate_b": "rate B", "difference": "B − A",
               "design": "design", "p_value": "p", "p_adjusted": f"p ({family.correction})",
               "significant": "significant"}
    found = sum(1 for r in rows if r["significant"])
    showing = (f"Showing all {len(rows)}." if len(shown) == len(rows) else
               f"Showing the {len(shown)} most significant of {len(rows)} (report.json has all).")
    return Section(
        "ab_tests", title,
        [f"{len(rows)} template comparison(s), each with the test its data calls for (pooled "
         "z-test for independent executions, prompt-clustered or paired tests where prompts "
         f"repeat or are shared); p-values corrected ({family.correction}) for the "
         f"{len(rows)} comparisons. {found} "
         f"difference(s) remain significant at alpha = {analysis.alpha:g}. {showing} "
         "Differences are in percentage points (pp). Pairs mix models: for a decision, run "
         "`rev-analytics ab-test` on two templates (stratified by model)."],
        [Table(columns, shown, "Template pairs (most significant first)")],
        data=family.to_dict(),
    )


def _correlation_section(analysis: Analysis) -> Section:
    result = analysis.result.correlations
    title = "What goes with success"
    if result is None or not result.features:
        return _unavailable("correlations", title, analysis, "correlations")
    columns = {"feature": "feature", "n": "executions", "r": "r", "ci_low": "CI low",
               "ci_high": "CI high", "p_adjusted": "p (BH)", "significant": "significant",
               "note": "note"}
    return Section(
        "correlations", title,
        ["Point-biserial correlation of each numeric field with success, Benjamini-Hochberg "
         "corrected. Association, not cause; fields computed from the outcome are flagged.",
         *_independence_caveat(analysis, "correlations")],
        [Table(columns, [f.to_dict() for f in result.features], "Correlation with success",
               kinds=dict.fromkeys(("r", "ci_low", "ci_high"), Kind.CORRELATION))],
        data=result.to_dict(),
    )


def _prediction_section(analysis: Analysis) -> Section:
    result = analysis.result.prediction
    title = "Success prediction"
    if result is None:
        return _unavailable("prediction", title, analysis, "prediction")
    models = [{"name": m.name, "roc_auc": m.roc_auc, "roc_auc_fold_sd": m.roc_auc_fold_sd,
               "brier": m.brier} for m in result.models]
    best = max(result.models, key=lambda m: m.roc_auc) if result.models else None
    importances = [{"feature": name, "importance": value} for name, value in
                   sorted(best.importances.items(), key=lambda kv: -kv[1])] if best else []
    excluded = [{"feature": k, "reason": v} for k, v in result.excluded.items()]
    return Section(
        "prediction", title,
        [f"Can success be predicted before the outcome is known? {result.folds}-fold "
         f"cross-validated on {result.sample_size:,} of {result.n:,} executions (base rate "
         f"{_pct(result.base_rate)}). ROC-AUC 0.5 is chance. Features derived from the "
         "outcome are excluded (listed below), so the score is not inflated by leakage.",
         *_independence_caveat(analysis, "prediction")],
        [Table({"name": "model", "roc_auc": "ROC-AUC", "roc_auc_fold_sd": "AUC fold sd",
                "brier": "Brier score"}, models, "Classifiers"),
         Table({"feature": "feature", "importance": "permutation importance"}, importances,
               f"Feature importance ({best.name if best else 'n/a'})"),
         Table({"feature": "feature", "reason": "why excluded"}, excluded,
               "Excluded features")],
        data=result.to_dict(),
    )


def _identification_section(analysis: Analysis, drawn: set[str]) -> Section:
    result = analysis.result.identification
    title = "Model identification"
    if result is None:
        return _unavailable("identification", title, analysis, "identification")
    recall = [{"model_id": k, "recall": v} for k, v in result.per_model_recall.items()]
    return Section(
        "identification", title,
        [f"Can the model be told from an execution's observable behaviour? Out-of-fold "
         f"accuracy {_pct(result.accuracy)} ({1 - analysis.alpha:.0%} CI "
         f"{_pct(result.accuracy_ci[0])}–{_pct(result.accuracy_ci[1])}) against "
         f"{_pct(result.chance)} by always guessing the commonest model "
         f"({p_text(result.p_value)}); balanced accuracy {_pct(result.balanced_accuracy)}.",
         *_independence_caveat(analysis, "identification")],
        [Table({"model_id": "model", "recall": "share identified"}, recall,
               "Per-model recall")],
        figures=[name for name in ("model_identification_confusion",) if name in drawn],
        data=result.to_dict(),
    )


def _figures(frame: pd.DataFrame, analysis: Analysis) -> list[figures.Figure]:
    drawn = [figures.success_heatmap(analysis.cells), figures.network_graph(analysis.cells)]
    trends = analysis.result.trends
    series = [t.buckets.assign(template_id=t.key) for t in trends[1:]]
    if series:
        bucket = {"h": "hour", "D": "day", "W": "week"}.get(trends[0].freq, "bucket")
        drawn.append(figures.success_time_series(pd.concat(series, ignore_index=True),
                                                 bucket=bucket))
    identification = analysis.result.identification
    if identification is not None:
        drawn.append(figures.confusion_matrix(identification.labels, identification.matrix))
    drawn.append(figures.distributions(frame))
    return drawn


def selection_dict(selection: Selection | None) -> dict[str, Any]:
    chosen = selection or Selection()
    return {"since": chosen.since, "until": chosen.until,
            "templates": list(chosen.templates or []) or None,
            "models": list(chosen.models or []) or None,
            "experiments": list(chosen.experiments or []) or None}


def build_report(
    frame: pd.DataFrame, *, selection: Selection | None = None, alpha: float = 0.05,
    target: float = DEFAULT_TARGET, progress: StepProgress | None = None,
    now: datetime | None = None, min_effect: float = DEFAULT_MIN_EFFECT,
) -> Report:
    """The whole report for the executions in ``frame`` (typed as by ``load_executions``).

    Raises :class:`NothingToReportError` when ``frame`` is empty.
    """
    if frame.empty:
        raise NothingToReportError("nothing to report: no executions in the selected range")
    clock = _Clock(progress)
    analysis = analyse(frame, alpha=alpha, target=target, clock=clock, min_effect=min_effect)
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
        experiments=analysis.experiments.to_dict() if analysis.experiments else None,
    )


__all__ = ["DEFAULT_TARGET", "Analysis", "Recommendation", "analyse", "build_report",
           "cost_effectiveness", "interval_text"]
