"""Two-arm comparison on success rate: two templates (``ab-test``) or two models
(``compare-models``), CONTRACT.md section 3.

What it reports and why:

* the test the data's design calls for (:mod:`analytics.design`): the pooled
  two-proportion z-test when every execution is its own prompt (Fisher's exact
  test when an expected cell count is below 5), a cluster-robust test whose
  unit is the prompt when prompts repeat, a paired test (McNemar's, or the
  cluster-robust difference with clusters spanning both arms) when the arms ran
  the same prompts. ``z``, ``p_value``, the interval, ``significant`` and the
  recommendation all follow that test; ``pooled`` keeps the naive z-test;
* a confidence interval for ``b.rate - a.rate`` from the same test, so the
  interval excludes 0 exactly when the test rejects (Mee's score interval for
  the pooled z-test, Tango's for McNemar's, t(G-1) x the cluster-robust
  standard error otherwise);
* Cohen's h, relative lift, practical significance against ``min_effect``, the
  sample size that would detect the observed effect at 80 % power (inflated by
  the design effect, and in prompts where prompts repeat) and the minimum
  effect this data can detect;
* a comparison stratified by the other dimension (models for templates,
  templates for models): arms run on different mixes can show a pooled
  difference that reverses inside every stratum (Simpson's paradox). Flagged
  only when the stratified result is itself significant;
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
from scipy.stats import f as f_dist
from scipy.stats import norm
from statsmodels.stats.contingency_tables import StratifiedTable

from analytics import clustered as cl
from analytics.design import DesignTest, PromptArms, design_test, pooled_test
from analytics.intervals import DIFFERENCE_CI_METHOD
from analytics.jsonsafe import finite_or_none, jsonable
from analytics.load import Selection, load_executions, load_outcome_counts
from analytics.sequential import SequentialResult, sequential_test
from rev_analytics.core.errors import AnalysisError

POWER = 0.8
AB_COLUMNS = ("template_id", "model_id", "prompt_id", "timestamp", "success")
COUNT_KEYS = ("template_id", "model_id", "prompt_id")
_NOUNS = {"template_id": "template", "model_id": "model"}


@dataclass(frozen=True, slots=True)
class ArmSummary:
    """One arm: a template's (or a model's) executions within the filter, if any."""

    arm_id: str
    n: int
    successes: int
    column: str = "template_id"

    @property
    def template_id(self) -> str:
        """The arm's id (named for the template arms of ``ab-test``)."""
        return self.arm_id

    @property
    def rate(self) -> float:
        return self.successes / self.n if self.n else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {self.column: self.arm_id, "n": self.n, "successes": self.successes,
                "rate": self.rate}


@dataclass(frozen=True, slots=True)
class Stratum:
    """Both arms inside one stratum (a model for templates, a template for models)."""

    stratum_id: str
    a: ArmSummary
    b: ArmSummary
    column: str = "model_id"

    @property
    def model_id(self) -> str:
        return self.stratum_id

    def to_dict(self) -> dict[str, Any]:
        return {self.column: self.stratum_id, "a": self.a.to_dict(), "b": self.b.to_dict(),
                "difference": self.b.rate - self.a.rate}


CMH_METHOD = "Cochran-Mantel-Haenszel (no continuity correction), strata = {column}"
CLUSTERED_STRATA_METHOD = (
    "Mantel-Haenszel risk difference over strata = {column} with a cluster-robust (CR1, "
    "clusters = prompt_id) variance, Student t with G-1 df; homogeneity: cluster-robust "
    "Wald F test that every stratum's difference is the same"
)


@dataclass(frozen=True, slots=True)
class StratifiedResult:
    """The arms compared within strata and combined.

    ``adjusted_difference`` is the Mantel-Haenszel weighted risk difference
    (weights n_a*n_b/(n_a+n_b) per stratum); ``odds_ratio`` is the MH pooled odds
    ratio of success for B vs A with its CI (``None`` when undefined, or when
    prompts repeat: the interval assumes independent executions).
    ``p_value`` is CMH's with independent executions and the cluster-robust
    test of the adjusted difference when prompts repeat;
    ``homogeneity_p_value`` tests that the effect is the same in every stratum
    (Breslow-Day, or its cluster-robust Wald counterpart). ``reverses_pooled``
    flags Simpson's paradox: the stratified direction is significant and differs
    from the pooled one.
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
    method: str = CMH_METHOD.format(column="model_id")

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
    """Everything ``ab-test``/``compare-models`` report; ``to_dict()`` is the contract JSON."""

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
    design: DesignTest | None = None
    template: str | None = None
    required_prompts_per_arm: int | None = None
    minimum_detectable_effect: float | None = None
    extras: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The contract keys first, then the extras; JSON-safe (no NaN anywhere)."""
        design = self.design.to_dict() if self.design is not None else {}
        return jsonable({
            "a": self.a.to_dict(), "b": self.b.to_dict(),
            "difference": self.difference, "ci_low": self.ci_low, "ci_high": self.ci_high,
            "z": self.z, "p_value": self.p_value, "cohens_h": self.cohens_h,
            "significant": self.significant,
            "practically_significant": self.practically_significant,
            "recommendation": self.recommendation,
            "design": design.get("design"), "method": design.get("method"),
            "clusters": design.get("clusters"), "design_effect": design.get("design_effect"),
            "pairs": design.get("pairs"), "pooled": design.get("pooled"),
            "note": "; ".join(self.notes) or None,
            "model": self.model, "template": self.template, "alpha": self.alpha,
            "confidence": 1.0 - self.alpha,
            "min_effect": self.min_effect, "test": self.test, "z_p_value": self.z_p_value,
            "df": design.get("df"), "standard_error": design.get("standard_error"),
            "correlation": design.get("correlation"), "gain": design.get("gain"),
            "unpaired": design.get("unpaired"),
            "fisher_p_value": self.fisher_p_value, "ci_method": self.ci_method,
            "relative_lift": self.relative_lift, "power": POWER,
            "required_n_per_arm": self.required_n_per_arm,
            "required_prompts_per_arm": self.required_prompts_per_arm,
            "minimum_detectable_effect": self.minimum_detectable_effect,
            "notes": list(self.notes),
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
    negligible far tail). For independent executions; multiply by the design
    effect where prompts repeat.
    ``None`` when h = 0: no sample size detects a zero effect.
    """
    if abs(h) < 1e-12:
        return None
    n = 2.0 * ((norm.ppf(1.0 - alpha / 2.0) + norm.ppf(power)) / abs(h)) ** 2
    return math.ceil(n)


def pooled_z(a: ArmSummary, b: ArmSummary) -> tuple[float, float]:
    """Pooled two-proportion z (b - a) and two-sided p; (0, 1) when undefined."""
    return pooled_test(a.successes, a.n, b.successes, b.n)


def outcome_counts(frame: pd.DataFrame) -> pd.DataFrame:
    """Executions and successes per template, model and prompt (those ``frame`` has)."""
    keys = [key for key in COUNT_KEYS if key in frame]
    counts = (
        frame.groupby(keys, observed=True)["success"].agg(["size", "sum"])
        .rename(columns={"size": "n", "sum": "successes"}).reset_index()
    )
    for key in ("template_id", "model_id"):
        if key not in counts:
            counts[key] = None
    return counts.astype({"n": "int64", "successes": "int64"})


def _arm(counts: pd.DataFrame, column: str, arm_id: str) -> ArmSummary:
    rows = counts[counts[column] == arm_id]
    return ArmSummary(arm_id, int(rows["n"].sum()), int(rows["successes"].sum()), column)


def _strata(counts: pd.DataFrame, column: str, stratum: str, a: str, b: str,
            ) -> list[Stratum]:
    strata: list[Stratum] = []
    for stratum_id, rows in counts.dropna(subset=[stratum]).groupby(stratum, sort=True):
        a_arm, b_arm = _arm(rows, column, a), _arm(rows, column, b)
        if a_arm.n and b_arm.n:
            strata.append(Stratum(str(stratum_id), a_arm, b_arm, stratum))
    return strata


def _mh_weights(strata: list[Stratum]) -> tuple[np.ndarray, float]:
    weights = np.array([s.a.n * s.b.n / (s.a.n + s.b.n) for s in strata])
    diffs = np.array([s.b.rate - s.a.rate for s in strata])
    return weights, float(np.sum(weights * diffs) / np.sum(weights))


def _reverses(pooled_difference: float, adjusted: float, significant: bool) -> bool:
    return bool(significant and abs(pooled_difference) > 1e-12 and abs(adjusted) > 1e-12
                and np.sign(pooled_difference) != np.sign(adjusted))


def stratified_comparison(
    counts: pd.DataFrame, column: str, stratum: str, a: str, b: str, *, alpha: float,
    pooled_difference: float, clustered: bool = False,
) -> StratifiedResult | None:
    """The arms compared within each ``stratum`` value; ``None`` with fewer than two strata.

    ``counts`` has ``column``, ``stratum``, ``n``, ``successes`` and, with
    ``clustered``, ``prompt_id`` (the cluster-robust form is then used).
    """
    strata = _strata(counts, column, stratum, a, b)
    if len(strata) < 2:
        return None
    if clustered:
        return _stratified_clustered(counts, column, stratum, a, b, strata, alpha=alpha,
                                     pooled_difference=pooled_difference)
    _, adjusted = _mh_weights(strata)
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
    significant = p_value < alpha
    return StratifiedResult(
        strata=tuple(strata), adjusted_difference=adjusted, odds_ratio=odds_ratio,
        odds_ratio_ci=ci, statistic=statistic, p_value=p_value,
        homogeneity_p_value=homogeneity, significant=significant,
        reverses_pooled=_reverses(pooled_difference, adjusted, significant),
        method=CMH_METHOD.format(column=stratum),
    )


def _stratified_clustered(
    counts: pd.DataFrame, column: str, stratum: str, a: str, b: str, strata: list[Stratum],
    *, alpha: float, pooled_difference: float,
) -> StratifiedResult:
    """MH risk difference and homogeneity with prompt-clustered variances.

    The cells are (stratum, arm); their means' CR1 covariance is statsmodels'
    for OLS on cell dummies clustered by prompt, and the MH difference is a
    fixed linear combination of them (weights from the cell sizes).
    """
    names = [s.stratum_id for s in strata]
    rows = counts[counts[column].isin([a, b]) & counts[stratum].astype(str).isin(names)]
    position = {name: k for k, name in enumerate(names)}
    cell = (rows[stratum].astype(str).map(position).to_numpy(dtype=np.int64) * 2
            + (rows[column] == b).to_numpy(dtype=np.int64))
    prompts, _ = pd.factorize(rows["prompt_id"])
    moments = cl.cell_covariance(cell, prompts, rows["n"], rows["successes"],
                                 cells=2 * len(strata))
    weights, adjusted = _mh_weights(strata)
    contrast = np.zeros(2 * len(strata))
    contrast[1::2] = weights / weights.sum()
    contrast[0::2] = -weights / weights.sum()
    variance = cl.contrast_variance(moments, contrast)
    df = moments.clusters - 1
    statistic, p_value = (float(v) for v in cl.t_test(adjusted, variance, df))
    # Homogeneity: every stratum's difference equal (K - 1 contrasts of the K differences).
    k = len(strata)
    differences = np.zeros((k, 2 * k))
    differences[np.arange(k), 2 * np.arange(k) + 1] = 1.0
    differences[np.arange(k), 2 * np.arange(k)] = -1.0
    equal = differences[:-1] - differences[-1]
    homogeneity = _wald_f_p(equal, moments, df)
    significant = p_value < alpha
    return StratifiedResult(
        strata=tuple(strata), adjusted_difference=adjusted, odds_ratio=None,
        odds_ratio_ci=(None, None), statistic=statistic, p_value=p_value,
        homogeneity_p_value=homogeneity, significant=significant,
        reverses_pooled=_reverses(pooled_difference, adjusted, significant),
        method=CLUSTERED_STRATA_METHOD.format(column=stratum),
    )


def _wald_f_p(restriction: np.ndarray, moments: cl.CellMoments, df: int) -> float | None:
    """p of the cluster-robust Wald F test that ``restriction @ means = 0``.

    ``None`` when the restricted covariance is singular (fewer prompts than the
    test has constraints, or no variation): the test cannot be computed.
    """
    q = restriction.shape[0]
    if q == 0 or df < 1:
        return None
    values = restriction @ np.nan_to_num(moments.means)
    cov = restriction @ moments.cov @ restriction.T
    if np.linalg.matrix_rank(cov) < q:
        return None
    wald = float(values @ np.linalg.solve(cov, values))
    return finite_or_none(float(f_dist.sf(wald / q, q, df)))


def _recommend(
    a: ArmSummary, b: ArmSummary, *, significant: bool, practical: bool, ci: tuple[float, float],
    min_effect: float, alpha: float, required_n: int | None, required_prompts: int | None,
    runs_per_prompt: float, stratified: StratifiedResult | None,
) -> str:
    better, worse = (b, a) if b.rate > a.rate else (a, b)
    noun = _NOUNS.get(a.column, "arm")
    confidence = f"{(1 - alpha) * 100:g} %"
    gap = f"{abs(b.rate - a.rate) * 100:.1f} points"
    if stratified is not None and stratified.reverses_pooled:
        within = _NOUNS.get(stratified.strata[0].column, "stratum")
        return (
            f"Do not decide on the pooled numbers: within {within}s the direction reverses "
            f"({within}-adjusted difference {stratified.adjusted_difference * 100:+.1f} points, "
            f"p = {stratified.p_value:.3g}). The {noun}s ran on different {within} mixes; "
            f"compare them per {within} (--{within}) or on a balanced allocation."
        )
    if significant and practical:
        text = (
            f"Prefer {better.arm_id}: its success rate is {gap} higher than "
            f"{worse.arm_id} ({better.rate:.1%} vs {worse.rate:.1%}), statistically "
            f"significant at {confidence} and at least the {min_effect * 100:g}-point "
            f"minimum effect."
        )
    elif significant:
        text = (
            f"{better.arm_id} is better by {gap}, a real but small difference (below the "
            f"{min_effect * 100:g}-point minimum effect): keep whichever is cheaper or simpler."
        )
    elif -min_effect < ci[0] and ci[1] < min_effect:
        text = (
            f"No meaningful difference: the {confidence} interval "
            f"[{ci[0] * 100:+.1f}, {ci[1] * 100:+.1f}] points lies within "
            f"+/-{min_effect * 100:g} points; treat the {noun}s as equivalent."
        )
    else:
        if required_prompts is not None:
            need = (f" About {required_prompts:,} prompts per arm at {runs_per_prompt:.3g} "
                    f"runs each would detect the observed difference at {POWER:.0%} power.")
        elif required_n:
            need = (f" About {required_n:,} executions per arm would detect the observed "
                    f"difference at {POWER:.0%} power.")
        else:
            need = ""
        text = (
            f"Inconclusive: not significant at {confidence}, but the interval "
            f"[{ci[0] * 100:+.1f}, {ci[1] * 100:+.1f}] points still allows a difference of "
            f"{min_effect * 100:g} points or more. Keep collecting data.{need}"
        )
    if stratified is not None and stratified.homogeneity_p_value is not None and (
        stratified.homogeneity_p_value < alpha
    ):
        within = _NOUNS.get(stratified.strata[0].column, "stratum")
        text += f" The effect differs between {within}s; check the per-{within} strata."
    return text


def _check(alpha: float, min_effect: float, a: str, b: str, noun: str) -> None:
    if not 0.0 < alpha < 1.0:
        raise AnalysisError(f"alpha must be between 0 and 1, got {alpha}")
    if not 0.0 <= min_effect < 1.0:
        raise AnalysisError(f"min-effect must be in [0, 1), got {min_effect}")
    if a == b:
        raise AnalysisError(f"the two arms must be different {noun}s")


def compare_arms(
    counts: pd.DataFrame,
    column: str,
    a: str,
    b: str,
    *,
    within: tuple[str, str] | None = None,
    stratum: str | None = None,
    alpha: float = 0.05,
    min_effect: float = 0.05,
) -> ABTestResult:
    """Compare arm ``b`` against arm ``a`` of ``column`` on success rate.

    ``counts`` has ``column``, ``n``, ``successes`` and optionally
    ``prompt_id`` (without it every execution counts as its own prompt) and the
    ``stratum`` column. ``within = (column, value)`` restricts both arms (e.g.
    one model); ``stratum`` names the column to stratify by when not restricted.
    """
    noun = _NOUNS.get(column, "arm")
    _check(alpha, min_effect, a, b, noun)
    scope = ""
    if within is not None:
        counts = counts[counts[within[0]] == within[1]]
        scope = f" on {_NOUNS.get(within[0], within[0])} {within[1]}"
    arm_a, arm_b = _arm(counts, column, a), _arm(counts, column, b)
    for arm in (arm_a, arm_b):
        if arm.n == 0:
            raise AnalysisError(f"{noun} {arm.arm_id!r} has no executions{scope} in range")
    arms = PromptArms.from_counts(counts, column, a, b)
    tested = design_test(arms, alpha=alpha)
    notes: list[str] = []
    difference = arm_b.rate - arm_a.rate
    if arm_a.successes + arm_b.successes in (0, arm_a.n + arm_b.n):
        level = "0 %" if arm_a.successes == 0 else "100 %"
        notes.append(
            f"both arms are at {level}: the data cannot show a difference (z = 0, p = 1); "
            f"the interval says how large a difference is still possible"
        )
    notes.extend(tested.notes)
    significant = tested.p_value < alpha
    h = cohens_h(arm_b.rate, arm_a.rate)
    practical = significant and abs(difference) >= min_effect
    naive_n = required_sample_size(h, alpha)
    kind = tested.design.kind
    deff = tested.design_effect
    required, required_prompts, runs = naive_n, None, 1.0
    if kind != "independent" and naive_n is not None and deff is not None:
        required = math.ceil(naive_n * deff)
        runs = (arm_a.n + arm_b.n) / max(tested.design.clusters_a + tested.design.clusters_b, 1)
        required_prompts = math.ceil(required / runs)
    stratified = None
    if within is None and stratum is not None and stratum in counts:
        stratified = stratified_comparison(
            counts, column, stratum, a, b, alpha=alpha, pooled_difference=difference,
            clustered=kind != "independent",
        )
        if stratified is not None and stratified.reverses_pooled:
            notes.append(
                f"Simpson's paradox: the {_NOUNS.get(stratum, stratum)}-stratified direction "
                "is significant and differs from the pooled one"
            )
    return ABTestResult(
        a=arm_a, b=arm_b, model=within[1] if within and within[0] == "model_id" else None,
        template=within[1] if within and within[0] == "template_id" else None,
        alpha=alpha, min_effect=min_effect, difference=difference,
        ci_low=tested.ci_low, ci_high=tested.ci_high, z=tested.statistic,
        z_p_value=tested.statistic_p_value, fisher_p_value=tested.fisher_p_value,
        test=tested.test, p_value=tested.p_value, cohens_h=h,
        relative_lift=(difference / arm_a.rate) if arm_a.rate > 0 else None,
        significant=significant, practically_significant=practical,
        required_n_per_arm=required,
        recommendation=_recommend(
            arm_a, arm_b, significant=significant, practical=practical,
            ci=(tested.ci_low, tested.ci_high), min_effect=min_effect, alpha=alpha,
            required_n=required, required_prompts=required_prompts, runs_per_prompt=runs,
            stratified=stratified,
        ),
        notes=tuple(notes), stratified=stratified, ci_method=tested.ci_method,
        design=tested, required_prompts_per_arm=required_prompts,
        minimum_detectable_effect=tested.minimum_detectable_effect(alpha, POWER),
    )


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

    ``frame`` needs ``template_id``, ``success`` and, for the design,
    ``prompt_id`` (without it every execution is its own prompt), for the
    stratified and sequential parts ``model_id`` and ``timestamp``; other
    templates are ignored. ``model`` restricts both arms to one model.
    """
    data = frame[frame["template_id"].isin([a, b])]
    if model is not None:
        data = data[data["model_id"] == model]
    result = ab_test_counts(
        outcome_counts(data), a, b, model=model, alpha=alpha, min_effect=min_effect
    )
    if sequential:
        result = _with_sequential(result, data, "template_id", b, alpha, min_effect)
    return result


def _with_sequential(result: ABTestResult, data: pd.DataFrame, column: str, b: str,
                     alpha: float, min_effect: float) -> ABTestResult:
    deff = result.design.design_effect if result.design is not None else None
    inflation = max(1.0, deff) if deff is not None else 1.0
    return replace(result, sequential=sequential_test(
        data, b, column=column, alpha=alpha, tau=max(min_effect, 0.01),
        variance_inflation=inflation,
    ))


def ab_test_counts(
    counts: pd.DataFrame,
    a: str,
    b: str,
    *,
    model: str | None = None,
    alpha: float = 0.05,
    min_effect: float = 0.05,
) -> ABTestResult:
    """:func:`ab_test` on counts (``template_id, model_id[, prompt_id], n, successes``).

    What the CLI uses: the store aggregates, so no execution rows are loaded.
    """
    return compare_arms(
        counts, "template_id", a, b, within=("model_id", model) if model is not None else None,
        stratum="model_id", alpha=alpha, min_effect=min_effect,
    )


def compare_models(
    counts: pd.DataFrame,
    a: str,
    b: str,
    *,
    template: str | None = None,
    alpha: float = 0.05,
    min_effect: float = 0.05,
) -> ABTestResult:
    """Model ``b`` against model ``a``, paired on the prompts both ran.

    ``counts`` as for :func:`ab_test_counts`; ``template`` restricts both arms
    to one template, otherwise the comparison is also stratified by template.
    """
    return compare_arms(
        counts, "model_id", a, b,
        within=("template_id", template) if template is not None else None,
        stratum="template_id", alpha=alpha, min_effect=min_effect,
    )


def _narrowed(selection: Selection | None, *, templates: list[str] | None,
              models: list[str] | None) -> Selection:
    base = selection or Selection()
    return Selection(since=base.since, until=base.until,
                     templates=templates if templates is not None else base.templates,
                     models=models if models is not None else base.models,
                     domains=base.domains)


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

    Without ``sequential`` only per-(template, model, prompt) counts are read
    (the store aggregates); the sequential test needs every execution of the
    two templates in event-time order.
    """
    narrowed = _narrowed(selection, templates=[a, b],
                         models=[model] if model is not None else None)
    counts = load_outcome_counts(db_path, narrowed, by=COUNT_KEYS)
    result = ab_test_counts(counts, a, b, model=model, alpha=alpha, min_effect=min_effect)
    if sequential:
        frame = load_executions(db_path, narrowed, columns=AB_COLUMNS)
        result = _with_sequential(result, frame, "template_id", b, alpha, min_effect)
    return result


def run_compare_models(
    db_path: str | Path,
    a: str,
    b: str,
    *,
    selection: Selection | None = None,
    template: str | None = None,
    alpha: float = 0.05,
    min_effect: float = 0.05,
    sequential: bool = False,
) -> ABTestResult:
    """Run :func:`compare_models` on the store (counts aggregated by the store)."""
    narrowed = _narrowed(selection, models=[a, b],
                         templates=[template] if template is not None else None)
    counts = load_outcome_counts(db_path, narrowed, by=COUNT_KEYS)
    result = compare_models(counts, a, b, template=template, alpha=alpha,
                            min_effect=min_effect)
    if sequential:
        frame = load_executions(db_path, narrowed, columns=AB_COLUMNS)
        result = _with_sequential(result, frame, "model_id", b, alpha, min_effect)
    return result
