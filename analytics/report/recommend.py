"""Recommendations and risks, each with the evidence that triggered it.

Rules read the typed statistics and never re-test anything: a template is
called under-performing only when its whole confidence interval lies below
the overall rate, a change is reported only when the corrected CUSUM test
flagged it, an A/B preference only when it survived the Holm correction.
The wording says what to do; ``evidence`` says why, with numbers.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import pandas as pd

from analytics.formatting import points
from analytics.report.model import Headline, Recommendation

if TYPE_CHECKING:
    from analytics.report.build import Analysis

MAX_ITEMS = 12
_CORRECTIONS = {"holm": "Holm", "fdr_bh": "Benjamini-Hochberg", "bonferroni": "Bonferroni"}


def _pct(value: Any) -> str:
    return "n/a" if value is None or pd.isna(value) else f"{float(value):.1%}"


def p_text(value: float) -> str:
    """'p = 0.012', or 'p < 0.0001' (a printed 0 or 1e-140 claims precision nobody has)."""
    return "p < 0.0001" if value < 1e-4 else f"p = {value:.2g}"


def _interval(row: dict[str, Any], confidence: float) -> str:
    return (f"{_pct(row['rate'])} ({confidence:.0%} CI {_pct(row['ci_low'])}–"
            f"{_pct(row['ci_high'])}, n={int(row['n']):,})")


def recommendations_and_risks(
    analysis: Analysis, headline: Headline, top: list[dict[str, Any]],
    under: list[dict[str, Any]],
) -> tuple[list[Recommendation], list[Recommendation]]:
    """``(recommendations, risks)``, most severe first, at most :data:`MAX_ITEMS` each."""
    confidence = 1.0 - analysis.alpha
    target = analysis.target
    overall = {"rate": headline.success_rate, "ci_low": headline.ci_low,
               "ci_high": headline.ci_high, "n": headline.executions}
    actions: list[Recommendation] = []
    risks: list[Recommendation] = []

    if headline.ci_high is not None and headline.ci_high < target:
        risks.append(Recommendation(
            f"Overall success is below the {target:.0%} target",
            f"overall success {_interval(overall, confidence)}", "high"))
    elif headline.success_rate < target:
        risks.append(Recommendation(
            f"Overall success may be below the {target:.0%} target",
            f"overall success {_interval(overall, confidence)}; the interval still reaches "
            "the target", "medium"))

    for row in under:
        below_target = row["ci_high"] is not None and row["ci_high"] < target
        severity = "high" if below_target else "medium"
        evidence = (f"success {_interval(row, confidence)} vs overall "
                    f"{_pct(headline.success_rate)}")
        risks.append(Recommendation(f"Template {row['template_id']} under-performs", evidence,
                                    severity, row["template_id"]))
        actions.append(Recommendation(
            f"Revise or retire template {row['template_id']}", evidence, severity,
            row["template_id"]))

    changes = analysis.result.changes
    for change in (changes.degraded if changes else []):
        evidence = (f"success fell from {_pct(change.rate_before)} (n={change.n_before:,}) to "
                    f"{_pct(change.rate_after)} (n={change.n_after:,}) around "
                    f"{change.changed_at:%Y-%m-%d %H:%M} UTC; CUSUM {p_text(change.p_adjusted)} "
                    "(Holm)" if change.changed_at is not None else
                    f"CUSUM {p_text(change.p_adjusted)} (Holm)")
        risks.append(Recommendation(f"Template {change.template_id} degraded", evidence,
                                    "high", change.template_id))
        actions.append(Recommendation(
            f"Find what changed for template {change.template_id}", evidence, "high",
            change.template_id))

    for trend in analysis.result.trends[1:]:
        if trend.direction == "declining":
            risks.append(Recommendation(
                f"Template {trend.key} is declining",
                f"trend {points(trend.rate_change_per_day, 2)} per day ({p_text(trend.p_value)})",
                "medium", trend.key))

    for row in (r.to_dict() for r in analysis.models.rows):
        if row["ci_high"] is not None and row["ci_high"] < target:
            risks.append(Recommendation(
                f"Model {row['model_id']} is below the {target:.0%} target",
                f"success {_interval(row, confidence)}", "medium", row["model_id"]))

    family = analysis.result.comparisons
    discoveries = sorted(family.discoveries if family else [], key=lambda c: c.p_adjusted)
    for comparison in discoveries[:3]:
        b_wins = comparison.difference > 0
        better, worse = (comparison.b, comparison.a) if b_wins else (comparison.a, comparison.b)
        rates = (comparison.rate_b, comparison.rate_a) if b_wins else \
            (comparison.rate_a, comparison.rate_b)
        counts = (comparison.n_b, comparison.n_a) if b_wins else (comparison.n_a, comparison.n_b)
        actions.append(Recommendation(
            f"Prefer template {better} over {worse}",
            f"{_pct(rates[0])} (n={counts[0]:,}) vs {_pct(rates[1])} (n={counts[1]:,}), "
            f"difference {points(abs(comparison.difference), signed=False)}; "
            f"{p_text(comparison.p_adjusted)} after "
            f"{_CORRECTIONS.get(family.correction, family.correction) if family else ''} "
            "correction",
            "medium", better))

    if top:
        best = top[0]
        actions.append(Recommendation(
            f"Use template {best['template_id']} as the pattern for new prompts",
            f"highest credible success: {_interval(best, confidence)}", "info",
            best["template_id"]))

    cost = analysis.cost.dropna(subset=["cost_per_success"])
    if len(cost) >= 2:
        priciest = cost.iloc[-1]
        median = float(cost["cost_per_success"].median())
        if float(priciest["cost_per_success"]) > 2 * median:
            actions.append(Recommendation(
                f"Review the cost of template {priciest['template_id']}",
                f"${float(priciest['cost_per_success']):.4f} per successful execution, "
                f"{float(priciest['cost_per_success']) / median:.1f}x the median template "
                f"(${median:.4f})", "medium", str(priciest["template_id"])))

    discrimination = analysis.result.discrimination
    testable = [t for t in (discrimination.templates if discrimination else ())
                if t.p_adjusted < analysis.alpha
                and all(math.isfinite(v) for v in (t.cramers_v, t.v_ci_low, t.v_ci_high))]
    if testable:
        best_v = testable[0]
        actions.append(Recommendation(
            f"Keep template {best_v.template_id} for telling models apart",
            f"Cramér's V {best_v.cramers_v:.2f} (CI {best_v.v_ci_low:.2f}–"
            f"{best_v.v_ci_high:.2f}), {p_text(best_v.p_adjusted)} (Holm)", "info",
            best_v.template_id))

    templates = analysis.cells.frame["template_id"].nunique()
    models = analysis.cells.frame["model_id"].nunique()
    missing = templates * models - len(analysis.cells.frame)
    if missing > 0:
        actions.append(Recommendation(
            f"Run the {missing} template x model combination(s) never tested",
            f"{len(analysis.cells.frame)} of {templates * models} combinations have "
            "executions; the heatmap shows the gaps", "info"))

    order = {"high": 0, "medium": 1, "info": 2}
    actions.sort(key=lambda r: order[r.severity])
    risks.sort(key=lambda r: order[r.severity])
    return actions[:MAX_ITEMS], risks[:MAX_ITEMS]
