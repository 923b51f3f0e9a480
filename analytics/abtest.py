"""Two-template A/B test on success rate (CONTRACT.md section 3).

What it reports and why:

* the pooled two-proportion z-test (the contract's ``z``/``p_value``), or
  Fisher's exact test when an expected cell count is below 5, where the
  normal approximation is poor (``test`` says which one decided);
* a confidence interval for ``b.rate - a.rate`` that inverts the same pooled
  score test (Mee), so the interval excludes 0 exactly when the z-test rejects;
* Cohen's h, relative lift, practical significance against ``min_effect`` and
  the per-arm sample size that would detect the observed effect at 80 % power;
* without ``model``: a Cochran-Mantel-Haenszel test stratified by model beside
  the pooled test, because templates run on different model mixes can show a
  pooled difference that reverses inside every model (Simpson's paradox);
* optionally an always-valid sequential p-value for people who peek.

Degenerate data never yields NaN: identical arms at 0 % or 100 % give z = 0,
p = 1 and a note; an arm with no executions is an :class:`AnalysisError`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import fisher_exact, norm
from statsmodels.stats.contingency_tables import StratifiedTable

from analytics.intervals import DIFFERENCE_CI_METHOD, difference_interval, score_statistic
from analytics.jsonsafe import finite_or_none, jsonable
from analytics.load import Selection, load_executions, load_outcome_counts
from analytics.sequential import SequentialResult, sequential_test
from rev_analytics.core.errors import AnalysisError

POWER = 0.8
# Below this expected count in any cell of the 2x2 table the z-test's normal
# approximation is unreliable (Cochran's rule); Fisher's exact test decides.
MIN_EXPECTED_COUNT = 5.0
AB_COLUMNS = ("template_id", "model_id", "timestamp", "success")


@dataclass(frozen=True, slots=True)
class ArmSummary:
    """One arm: a template's executions (within the model filter, if any)."""

    template_id: str
    n: int
    successes: int

    @property
    def rate(self) -> float:
        return self.successes / self.n if self.n else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"template_id": self.template_id, "n": self.n, "successes": self.successes,
                "rate": self.rate}


@dataclass(frozen=True, slots=True)
class Stratum:
    """Both arms inside one model."""

    model_id: str
    a: ArmSummary
    b: ArmSummary

    def to_dict(self) -> dict[str, Any]:
        return {"model_id": self.model_id, "a": self.a.to_dict(), "b": self.b.to_dict(),
                "difference": self.b.rate - self.a.rate}


@dataclass(frozen=True, slots=True)
class StratifiedResult:
    """Cochran-Mantel-Haenszel comparison of the arms with models as strata.

    ``adjusted_difference`` is the Mantel-Haenszel weighted risk difference
    (weights n_a*n_b/(n_a+n_b) per model); ``odds_ratio`` is the MH pooled odds
    ratio of success for B vs A with its CI (``None`` when undefined, e.g. every
    execution succeeded). ``homogeneity_p_value`` is Breslow-Day's test that
    the odds ratio is the same in every model. ``reverses_pooled`` flags
    Simpson's paradox: the within-model direction differs from the pooled one.
    """

    strata: tuple[Stratum, ...]
    adjusted_difference: float
    odds_ratio: float | None
    odds_ratio_ci: tuple[float | None, float | None]
    statistic: float
    p_value: float
    homogeneity_p_value: float | None
    significant: bool
    reverses_pooled: bool
    method: str = "Cochran-Mantel-Haenszel (no continuity correction), strata = model_id"

    def to_dict(self) -> dict[str, Any]:
        return jsonable({
            "method": self.method, "strata": [s.to_dict() for s in self.strata],
            "adjusted_difference": self.adjusted_difference, "odds_ratio": self.odds_ratio,
            "odds_ratio_ci_low": self.odds_ratio_ci[0], "odds_ratio_ci_high": self.odds_ratio_ci[1],
            "statistic": self.statistic, "p_value": self.p_value,
            "homogeneity_p_value": self.homogeneity_p_value, "significant": self.significant,
            "reverses_pooled": self.reverses_pooled,
        })


@dataclass(frozen=True, slots=True)
class ABTestResult:
    """Everything ``rev-analytics ab-test`` reports; ``to_dict()`` is the contract JSON."""

    a: ArmSummary
    b: ArmSummary
    model: str | None
    alpha: float
    min_effect: float
    difference: float
    ci_low: float
    ci_high: float
    z: float
    z_p_value: float
    fisher_p_value: float | None
    test: str
    p_value: float
    cohens_h: float
    relative_lift: float | None
    significant: bool
    practically_significant: bool
    required_n_per_arm: int | None
    recommendation: str
    notes: tuple[str, ...] = ()
    stratified: StratifiedResult | None = None
    sequential: SequentialResult | None = None
    ci_method: str = DIFFERENCE_CI_METHOD
    extras: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The contract keys first, then the extras; JSON-safe (no NaN anywhere)."""
        return jsonable({
            "a": self.a.to_dict(), "b": self.b.to_dict(),
            "difference": self.difference, "ci_low": self.ci_low, "ci_high": self.ci_high,
            "z": self.z, "p_value": self.p_value, "cohens_h": self.cohens_h,
            "significant": self.significant,
            "practically_significant": self.practically_significant,
            "recommendation": self.recommendation,
            "note": "; ".join(self.notes) or None,
            "model": self.model, "alpha": self.alpha, "confidence": 1.0 - self.alpha,
            "min_effect": self.min_effect, "test": self.test, "z_p_value": self.z_p_value,
            "fisher_p_value": self.fisher_p_value, "ci_method": self.ci_method,
            "relative_lift": self.relative_lift, "power": POWER,
            "required_n_per_arm": self.required_n_per_arm, "notes": list(self.notes),
            "stratified": self.stratified.to_dict() if self.stratified else None,
            "sequential": self.sequential.to_dict() if self.sequential else None,
        })


def cohens_h(rate_b: float, rate_a: float) -> float:
    """Cohen's h = 2 asin(sqrt(b)) - 2 asin(sqrt(a)) (statsmodels' proportion_effectsize)."""
    return 2.0 * math.asin(math.sqrt(rate_b)) - 2.0 * math.asin(math.sqrt(rate_a))


def required_sample_size(h: float, alpha: float = 0.05, power: float = POWER) -> int | None:
    """Executions per arm to detect effect size ``h`` two-sided at ``alpha`` with ``power``.

    The normal approximation on the arcsine scale: each arm's 2 asin(sqrt(p))
    has variance 1/n, their difference 2/n, so n = 2 ((z_{1-alpha/2} + z_power) / h)^2
    (Cohen's tables; what statsmodels' NormalIndPower solves, minus the
    negligible far tail).
    ``None`` when h = 0: no sample size detects a zero effect.
    """
    if abs(h) < 1e-12:
        return None
    n = 2.0 * ((norm.ppf(1.0 - alpha / 2.0) + norm.ppf(power)) / abs(h)) ** 2
    return math.ceil(n)


def pooled_z(a: ArmSummary, b: ArmSummary) -> tuple[float, float]:
    """Pooled two-proportion z (b - a) and two-sided p; (0, 1) when undefined."""
    z = float(score_statistic(b.successes, b.n, a.successes, a.n, 0.0)[0])
    if not math.isfinite(z):
        # Unreachable for n > 0 at delta 0 (pooled variance 0 means equal rates),
        # kept as a guard so NaN/inf can never reach the JSON.
        return 0.0, 1.0
    return z, float(2.0 * norm.sf(abs(z)))


def outcome_counts(frame: pd.DataFrame) -> pd.DataFrame:
    """Executions and successes per (template_id, model_id): all the z/CMH tests need."""
    keys = ["template_id", "model_id"] if "model_id" in frame else ["template_id"]
    counts = (
        frame.groupby(keys, observed=True)["success"].agg(["size", "sum"])
        .rename(columns={"size": "n", "sum": "successes"}).reset_index()
    )
    if "model_id" not in counts:
        counts["model_id"] = None
    return counts.astype({"n": "int64", "successes": "int64"})


def _arm(counts: pd.DataFrame, template: str) -> ArmSummary:
    rows = counts[counts["template_id"] == template]
    return ArmSummary(template, int(rows["n"].sum()), int(rows["successes"].sum()))


def _small_counts(a: ArmSummary, b: ArmSummary) -> bool:
    total = a.n + b.n
    successes = a.successes + b.successes
    failures = total - successes
    smallest = min(a.n, b.n) * min(successes, failures) / total
    return smallest < MIN_EXPECTED_COUNT


def stratified_by_model(
    counts: pd.DataFrame, a_template: str, b_template: str, *, alpha: float,
    pooled_difference: float,
) -> StratifiedResult | None:
    """CMH test across models; ``None`` when fewer than two models ran both templates.

    ``counts`` is :func:`outcome_counts` output.
    """
    strata: list[Stratum] = []
    for model_id, per_model in counts.dropna(subset=["model_id"]).groupby("model_id", sort=True):
        a_arm, b_arm = _arm(per_model, a_template), _arm(per_model, b_template)
        if a_arm.n and b_arm.n:
            strata.append(Stratum(str(model_id), a_arm, b_arm))
    if len(strata) < 2:
        return None
    weights = np.array([s.a.n * s.b.n / (s.a.n + s.b.n) for s in strata])
    diffs = np.array([s.b.rate - s.a.rate for s in strata])
    adjusted = float(np.sum(weights * diffs) / np.sum(weights))
    tables = np.array([
        [[s.b.successes, s.b.n - s.b.successes], [s.a.successes, s.a.n - s.a.successes]]
        for s in strata
    ], dtype=np.float64).transpose(1, 2, 0)
    table = StratifiedTable(tables)
    with np.errstate(divide="ignore", invalid="ignore"):
        null = table.test_null_odds(correction=False)
        statistic, p_value = finite_or_none(null.statistic), finite_or_none(null.pvalue)
        odds_ratio = finite_or_none(table.oddsratio_pooled)
        ci: tuple[float | None, float | None] = (None, None)
        homogeneity = None
        if odds_ratio is not None and odds_ratio > 0:
            low, high = table.oddsratio_pooled_confint(alpha=alpha)
            ci = (finite_or_none(low), finite_or_none(high))
            homogeneity = finite_or_none(table.test_equal_odds().pvalue)
    if statistic is None or p_value is None:
        # No discordant information in any stratum (e.g. everything succeeded).
        statistic, p_value = 0.0, 1.0
    reverses = (
        abs(pooled_difference) > 1e-12 and abs(adjusted) > 1e-12
        and np.sign(pooled_difference) != np.sign(adjusted)
    )
    return StratifiedResult(
        strata=tuple(strata), adjusted_difference=adjusted, odds_ratio=odds_ratio,
        odds_ratio_ci=ci, statistic=statistic, p_value=p_value,
        homogeneity_p_value=homogeneity, significant=p_value < alpha,
        reverses_pooled=bool(reverses),
    )


def _recommend(
    a: ArmSummary, b: ArmSummary, *, significant: bool, practical: bool, ci: tuple[float, float],
    min_effect: float, alpha: float, required_n: int | None,
    stratified: StratifiedResult | None,
) -> str:
    better, worse = (b, a) if b.rate > a.rate else (a, b)
    confidence = f"{(1 - alpha) * 100:g} %"
    gap = f"{abs(b.rate - a.rate) * 100:.1f} points"
    if stratified is not None and stratified.reverses_pooled:
        return (
            f"Do not decide on the pooled numbers: within models the direction reverses "
            f"(model-adjusted difference {stratified.adjusted_difference * 100:+.1f} points, "
            f"CMH p = {stratified.p_value:.3g}). The templates ran on different model mixes; "
            f"compare them per model (--model) or on a balanced allocation."
        )
    if significant and practical:
        text = (
            f"Prefer {better.template_id}: its success rate is {gap} higher than "
            f"{worse.template_id} ({better.rate:.1%} vs {worse.rate:.1%}), statistically "
            f"significant at {confidence} and at least the {min_effect * 100:g}-point "
            f"minimum effect."
        )
    elif significant:
        text = (
            f"{better.template_id} is better by {gap}, a real but small difference (below the "
            f"{min_effect * 100:g}-point minimum effect): keep whichever is cheaper or simpler."
        )
    elif -min_effect < ci[0] and ci[1] < min_effect:
        text = (
            f"No meaningful difference: the {confidence} interval "
            f"[{ci[0] * 100:+.1f}, {ci[1] * 100:+.1f}] points lies within "
            f"+/-{min_effect * 100:g} points; treat the templates as equivalent."
        )
    else:
        need = (
            f" About {required_n:,} executions per arm would detect the observed difference "
            f"at {POWER:.0%} power." if required_n else ""
        )
        text = (
            f"Inconclusive: not significant at {confidence}, but the interval "
            f"[{ci[0] * 100:+.1f}, {ci[1] * 100:+.1f}] points still allows a difference of "
            f"{min_effect * 100:g} points or more. Keep collecting data.{need}"
        )
    if stratified is not None and stratified.homogeneity_p_value is not None and (
        stratified.homogeneity_p_value < alpha
    ):
        text += " The effect differs between models (Breslow-Day); check the per-model strata."
    return text


def ab_test(
    frame: pd.DataFrame,
    a: str,
    b: str,
    *,
    model: str | None = None,
    alpha: float = 0.05,
    min_effect: float = 0.05,
    sequential: bool = False,
) -> ABTestResult:
    """Compare template ``b`` against template ``a`` on success rate.

    ``frame`` needs ``template_id``, ``success`` and, for the stratified and
    sequential parts, ``model_id`` and ``timestamp``; other templates are
    ignored. ``model`` restricts both arms to one model.
    """
    data = frame[frame["template_id"].isin([a, b])]
    if model is not None:
        data = data[data["model_id"] == model]
    result = ab_test_counts(
        outcome_counts(data), a, b, model=model, alpha=alpha, min_effect=min_effect
    )
    if sequential:
        result = replace(result, sequential=sequential_test(
            data, b, alpha=alpha, tau=max(min_effect, 0.01)
        ))
    return result


def ab_test_counts(
    counts: pd.DataFrame,
    a: str,
    b: str,
    *,
    model: str | None = None,
    alpha: float = 0.05,
    min_effect: float = 0.05,
) -> ABTestResult:
    """:func:`ab_test` on per-(template, model) counts (``template_id, model_id, n, successes``).

    What the CLI uses: the store aggregates, so no execution rows are loaded.
    """
    if not 0.0 < alpha < 1.0:
        raise AnalysisError(f"alpha must be between 0 and 1, got {alpha}")
    if not 0.0 <= min_effect < 1.0:
        raise AnalysisError(f"min-effect must be in [0, 1), got {min_effect}")
    if a == b:
        raise AnalysisError("the two arms must be different templates")
    if model is not None:
        counts = counts[counts["model_id"] == model]
    arm_a, arm_b = _arm(counts, a), _arm(counts, b)
    scope = f" on model {model}" if model is not None else ""
    for arm in (arm_a, arm_b):
        if arm.n == 0:
            raise AnalysisError(f"template {arm.template_id!r} has no executions{scope} in range")

    notes: list[str] = []
    difference = arm_b.rate - arm_a.rate
    z, z_p = pooled_z(arm_a, arm_b)
    if arm_a.successes + arm_b.successes in (0, arm_a.n + arm_b.n):
        level = "0 %" if arm_a.successes == 0 else "100 %"
        notes.append(
            f"both arms are at {level}: the data cannot show a difference (z = 0, p = 1); "
            f"the interval says how large a difference is still possible"
        )
    ci_low, ci_high = difference_interval(
        arm_b.successes, arm_b.n, arm_a.successes, arm_a.n, alpha
    )
    fisher_p: float | None = None
    test = "pooled z-test"
    p_value = z_p
    if _small_counts(arm_a, arm_b):
        fisher_p = float(fisher_exact(
            [[arm_b.successes, arm_b.n - arm_b.successes],
             [arm_a.successes, arm_a.n - arm_a.successes]]
        ).pvalue)
        test = "Fisher's exact test"
        p_value = fisher_p
        notes.append(
            "an expected cell count is below 5, so Fisher's exact test decides; "
            "z and the interval are approximate"
        )
    significant = p_value < alpha
    h = cohens_h(arm_b.rate, arm_a.rate)
    practical = significant and abs(difference) >= min_effect
    required = required_sample_size(h, alpha)
    stratified = None
    if model is None:
        stratified = stratified_by_model(
            counts, a, b, alpha=alpha, pooled_difference=difference
        )
        if stratified is not None and stratified.reverses_pooled:
            notes.append(
                "Simpson's paradox: the model-stratified direction differs from the pooled one"
            )
    return ABTestResult(
        a=arm_a, b=arm_b, model=model, alpha=alpha, min_effect=min_effect,
        difference=difference, ci_low=ci_low, ci_high=ci_high, z=z, z_p_value=z_p,
        fisher_p_value=fisher_p, test=test, p_value=p_value, cohens_h=h,
        relative_lift=(difference / arm_a.rate) if arm_a.rate > 0 else None,
        significant=significant, practically_significant=practical,
        required_n_per_arm=required,
        recommendation=_recommend(
            arm_a, arm_b, significant=significant, practical=practical,
            ci=(ci_low, ci_high), min_effect=min_effect, alpha=alpha,
            required_n=required, stratified=stratified,
        ),
        notes=tuple(notes), stratified=stratified,
    )


def run_ab_test(
    db_path: str | Path,
    a: str,
    b: str,
    *,
    selection: Selection | None = None,
    model: str | None = None,
    alpha: float = 0.05,
    min_effect: float = 0.05,
    sequential: bool = False,
) -> ABTestResult:
    """Run :func:`ab_test` on the store.

    Without ``sequential`` only per-(template, model) counts are read (SQLite
    aggregates over its template index); the sequential test needs every
    execution of the two templates in event-time order.
    """
    base = selection or Selection()
    narrowed = Selection(
        since=base.since, until=base.until, templates=[a, b],
        models=[model] if model is not None else base.models, domains=base.domains,
    )
    if sequential:
        frame = load_executions(db_path, narrowed, columns=AB_COLUMNS)
        return ab_test(frame, a, b, model=model, alpha=alpha, min_effect=min_effect,
                       sequential=True)
    counts = load_outcome_counts(db_path, narrowed)
    return ab_test_counts(counts, a, b, model=model, alpha=alpha, min_effect=min_effect)
