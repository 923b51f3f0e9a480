"""Recommendations and risks, each with the evidence that triggered it.

Rules read the typed statistics and never re-test anything, and small samples
never lead: a template is called under-performing only when it has enough
executions, its whole (prompt-clustered where prompts repeat) interval lies
below the overall rate and it is at least the minimum effect below it; a change
is reported only when the corrected CUSUM test flagged a drop of at least the
minimum effect; an A/B preference only when it survived the correction and is at
least the minimum effect; a trend only when it is significant and moves at least
the minimum effect over the range; a cost action only from templates with at
least :data:`analytics.defaults.MIN_COST_SUCCESSES` successes.

Each template gets one recommendation: the rules' findings about it are
reconciled (:func:`reconcile`), so the report never says "retire" and "keep"
about the same template. The wording says what to do; ``evidence`` says why,
with numbers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pandas as pd

from analytics.defaults import MIN_COST_SUCCESSES, MIN_RANKED_EXECUTIONS
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


_SEVERITY = {"high": 0, "medium": 1, "info": 2}
# Which finding about a template decides its recommendation when there are several.
_PRIORITY = {"changed": 0, "retire": 1, "discriminates": 2, "prefer": 3, "cost": 4,
             "pattern": 5}


@dataclass(frozen=True, slots=True)
class Finding:
    """One rule's conclusion about one template: ``kind`` is a key of the priority table;
    ``also`` is how it reads as a clause after another finding's action."""

    kind: str
    subject: str
    action: str
    evidence: str
    severity: str
    also: str


def reconcile(findings: list[Finding]) -> list[Recommendation]:
    """One recommendation per template from all findings about it.

    The most urgent finding leads (a degradation, then retiring, then keeping
    for discrimination, ...) and the others follow as "also ..." with their
    evidence. A template that under-performs on average but tells models apart
    is not retired: separating models is what REV keeps templates for, so it
    is kept for that and not used as a success benchmark.
    """
    grouped: dict[str, list[Finding]] = {}
    for finding in findings:
        grouped.setdefault(finding.subject, []).append(finding)
    merged: list[Recommendation] = []
    for subject, items in grouped.items():
        kinds = {item.kind: item for item in items}
        if "retire" in kinds and "discriminates" in kinds:
            low, keep = kinds["retire"], kinds["discriminates"]
            items = [i for i in items if i.kind not in ("retire", "discriminates")]
            items.append(Finding(
                "discriminates", subject,
                f"Keep template {subject} for telling models apart, not as a success "
                "benchmark", f"{keep.evidence}; but {low.evidence}", "medium",
                "it tells models apart"))
        items.sort(key=lambda item: _PRIORITY[item.kind])
        lead, rest = items[0], items[1:]
        clauses = list(dict.fromkeys(item.also for item in rest))
        action = lead.action + ("; also " + "; ".join(clauses) if clauses else "")
        severity = min((item.severity for item in items), key=_SEVERITY.__getitem__)
        if lead.kind == "discriminates" and severity == "high":
            severity = "medium"  # the reconciled keep-for-discrimination is not an alarm
        merged.append(Recommendation(action, "; ".join(i.evidence for i in items), severity,
                                     subject))
    return merged


def recommendations_and_risks(
    analysis: Analysis, headline: Headline, top: list[dict[str, Any]],
    under: list[dict[str, Any]],
) -> tuple[list[Recommendation], list[Recommendation]]:
    """``(recommendations, risks)``, most severe first, at most :data:`MAX_ITEMS` each."""
    confidence = 1.0 - analysis.alpha
    target = analysis.target
    min_effect = analysis.min_effect
    overall = {"rate": headline.success_rate, "ci_low": headline.ci_low,
               "ci_high": headline.ci_high, "n": headline.executions}
    findings: list[Finding] = []
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
        findings.append(Finding("retire", row["template_id"],
                                f"Revise or retire template {row['template_id']}", evidence,
                                severity, "its success is below the rest"))

    changes = analysis.result.changes
    for change in (changes.degraded if changes else []):
        evidence = (f"success fell from {_pct(change.rate_before)} (n={change.n_before:,}) to "
                    f"{_pct(change.rate_after)} (n={change.n_after:,}) around "
                    f"{change.changed_at:%Y-%m-%d %H:%M} UTC; CUSUM {p_text(change.p_adjusted)} "
                    "(Holm)" if change.changed_at is not None else
                    f"CUSUM {p_text(change.p_adjusted)} (Holm)")
        risks.append(Recommendation(f"Template {change.template_id} degraded", evidence,
                                    "high", change.template_id))
        findings.append(Finding("changed", change.template_id,
                                f"Find what changed for template {change.template_id}",
                                evidence, "high", "find what changed for it"))

    for trend in analysis.result.trends[1:]:
        over_range = abs(trend.rate_change_per_day) * trend.span_days
        if trend.direction == "declining" and over_range >= min_effect:
            risks.append(Recommendation(
                f"Template {trend.key} is declining",
                f"trend {points(trend.rate_change_per_day, 2)} per day, "
                f"{points(over_range, 1).lstrip('+-')} over {trend.span_days:.0f} days "
                f"({p_text(trend.p_value)})", "medium", trend.key))

    for row in (r.to_dict() for r in analysis.models.rows):
        if row["n"] >= MIN_RANKED_EXECUTIONS and row["ci_high"] is not None and (
                row["ci_high"] < target):
            risks.append(Recommendation(
                f"Model {row['model_id']} is below the {target:.0%} target",
                f"success {_interval(row, confidence)}", "medium", row["model_id"]))

    family = analysis.result.comparisons
    discoveries = sorted((c for c in (family.discoveries if family else [])
                          if abs(c.difference) >= min_effect), key=lambda c: c.p_adjusted)
    for comparison in discoveries[:3]:
        b_wins = comparison.difference > 0
        better, worse = (comparison.b, comparison.a) if b_wins else (comparison.a, comparison.b)
        rates = (comparison.rate_b, comparison.rate_a) if b_wins else \
            (comparison.rate_a, comparison.rate_b)
        counts = (comparison.n_b, comparison.n_a) if b_wins else (comparison.n_a, comparison.n_b)
        findings.append(Finding(
            "prefer", better, f"Prefer template {better} over {worse}",
            f"{_pct(rates[0])} (n={counts[0]:,}) vs {_pct(rates[1])} (n={counts[1]:,}), "
            f"difference {points(abs(comparison.difference), signed=False)}; "
            f"{p_text(comparison.p_adjusted)} after "
            f"{_CORRECTIONS.get(family.correction, family.correction) if family else ''} "
            f"correction ({comparison.design} design)",
            "medium", f"prefer it over {worse}"))

    if top:
        best = top[0]
        findings.append(Finding(
            "pattern", best["template_id"],
            f"Use template {best['template_id']} as the pattern for new prompts",
            f"highest credible success: {_interval(best, confidence)}", "info",
            "use it as the pattern for new prompts"))

    cost = analysis.cost.dropna(subset=["cost_per_success"])
    eligible = cost[cost["successes"] >= MIN_COST_SUCCESSES]
    if len(eligible) >= 2:
        priciest = eligible.iloc[-1]
        median = float(eligible["cost_per_success"].median())
        if float(priciest["cost_per_success"]) > 2 * median:
            skipped = len(cost) - len(eligible)
            findings.append(Finding(
                "cost", str(priciest["template_id"]),
                f"Review the cost of template {priciest['template_id']}",
                f"${float(priciest['cost_per_success']):.4f} per successful execution "
                f"(n={int(priciest['executions']):,}), "
                f"{float(priciest['cost_per_success']) / median:.1f}x the median template "
                f"(${median:.4f})" + (f"; {skipped} template(s) with fewer than "
                                      f"{MIN_COST_SUCCESSES} successes not compared"
                                      if skipped else ""),
                "medium", "review its cost"))

    discrimination = analysis.result.discrimination
    testable = [t for t in (discrimination.discriminating if discrimination else ())
                if all(math.isfinite(v) for v in (t.cramers_v, t.v_ci_low, t.v_ci_high))]
    if testable:
        best_v = testable[0]
        findings.append(Finding(
            "discriminates", best_v.template_id,
            f"Keep template {best_v.template_id} for telling models apart",
            f"Cramér's V {best_v.cramers_v:.2f} (CI {best_v.v_ci_low:.2f}–"
            f"{best_v.v_ci_high:.2f}), {p_text(best_v.p_adjusted)} (Holm), models "
            f"{best_v.rate_spread:.0%} apart", "info", "it tells models apart"))

    actions.extend(reconcile(findings))

    templates = analysis.cells.frame["template_id"].nunique()
    models = analysis.cells.frame["model_id"].nunique()
    missing = templates * models - len(analysis.cells.frame)
    if missing > 0:
        actions.append(Recommendation(
            f"Run the {missing} template x model combination(s) never tested",
            f"{len(analysis.cells.frame)} of {templates * models} combinations have "
            "executions; the heatmap shows the gaps", "info"))

    actions.sort(key=lambda r: _SEVERITY[r.severity])
    risks.sort(key=lambda r: _SEVERITY[r.severity])
    return actions[:MAX_ITEMS], risks[:MAX_ITEMS]
