"""Discrimination power: how well a template separates the models.

REV keeps templates whose outcomes differ between models. Per template this
reports a chi-square test of homogeneity of success across models, its effect
size (Cramer's V, with a confidence interval from the noncentral chi-square),
and the mean stored ``discrimination_score`` with a t interval. p-values are
Holm-corrected across templates.

Where the template's prompts repeat (each prompt run several times, or on
several models), executions are not independent and the Pearson chi-square
misstates its certainty: too sure when models ran different prompts, too
unsure when they ran the same ones. The test is then Rao and Scott's
second-order correction (Rao & Scott 1984): the generalized design effects are
the eigenvalues of the cluster-robust covariance of the model rates (clusters =
prompt_id, each model's scores with its own G/(G-1)) against the binomial one;
X^2 / (mean effect * (1 + a^2)) is referred to chi-square with
(models - 1) / (1 + a^2) degrees of freedom, and V's interval is inverted on
that scaled statistic with n / (mean effect * (1 + a^2)) executions.

Small samples never lead: templates are ranked by the lower bound of V's
interval, and only a template that ``discriminates`` (enough executions, a
Holm-significant test, and a spread between its best and worst model of at
least the minimum effect) is ranked above one that does not.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
from scipy.optimize import brentq
from scipy.stats import chi2, chi2_contingency, ncx2, t

from analytics.clustered import cell_covariance
from analytics.defaults import DEFAULT_MIN_EFFECT, MIN_RANKED_EXECUTIONS
from analytics.jsonsafe import jsonable
from analytics.multiple import adjust_p_values

RAO_SCOTT_TEST = (
    "chi-square test of homogeneity (success x model), Rao-Scott second-order corrected "
    "for prompts that repeat (cluster-robust by prompt_id), Holm-corrected"
)
PEARSON_TEST = "chi-square test of homogeneity (success x model), Holm-corrected"


@dataclass(frozen=True, slots=True)
class TemplateDiscrimination:
    """One template's separation of models; V is ``None`` when not testable."""

    template_id: str
    n: int
    models: int
    chi2: float
    dof: int
    p_value: float
    p_adjusted: float
    cramers_v: float
    v_ci_low: float
    v_ci_high: float
    mean_score: float | None
    score_ci_low: float | None
    score_ci_high: float | None
    score_n: int
    note: str | None = None
    design: str = "independent"
    prompts: int | None = None
    design_effect: float | None = None
    """Rao-Scott mean generalized design effect (``None`` when not adjusted)."""
    rate_spread: float = 0.0
    """Best minus worst model's success rate."""
    discriminates: bool = False

    def to_dict(self) -> dict[str, Any]:
        return jsonable({name: getattr(self, name) for name in self.__slots__})


@dataclass(frozen=True, slots=True)
class DiscriminationResult:
    """Templates ranked: those that discriminate first, each group by V's lower bound."""

    alpha: float
    templates: tuple[TemplateDiscrimination, ...]
    min_effect: float = DEFAULT_MIN_EFFECT
    min_n: int = MIN_RANKED_EXECUTIONS

    @property
    def discriminating(self) -> list[TemplateDiscrimination]:
        return [row for row in self.templates if row.discriminates]

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame([row.to_dict() for row in self.templates])

    def to_dict(self) -> dict[str, Any]:
        clustered = any(row.design == "clustered" for row in self.templates)
        return {
            "alpha": self.alpha,
            "test": RAO_SCOTT_TEST if clustered else PEARSON_TEST,
            "effect_size": "Cramer's V, noncentral chi-square CI",
            "ranking": (f"templates that discriminate (n >= {self.min_n}, Holm p < alpha, "
                        f"model spread >= {self.min_effect:g}) first, then by V's lower bound"),
            "templates": [row.to_dict() for row in self.templates],
        }


def cramers_v_interval(
    chi2: float, n: float, dof: float, k: int, alpha: float = 0.05
) -> tuple[float, float]:
    """CI for Cramer's V by inverting the noncentral chi-square in its noncentrality.

    ``k`` is min(rows, columns); V = sqrt(lambda / (n (k - 1))). ``n`` and
    ``dof`` may be fractional (a Rao-Scott scaled statistic).
    """
    if n <= 0 or dof <= 0 or k < 2:
        return 0.0, 0.0
    scale = n * (k - 1)

    def solve(target: float) -> float:
        # cdf(chi2; dof, lambda) decreases in lambda; find where it equals target.
        if ncx2.cdf(chi2, dof, 1e-9) <= target:
            return 0.0
        upper = max(10.0, 2.0 * chi2 + 50.0 * math.sqrt(chi2 + dof))
        return float(brentq(lambda lam: ncx2.cdf(chi2, dof, lam) - target, 1e-9, upper))

    lam_low = solve(1.0 - alpha / 2.0)
    lam_high = solve(alpha / 2.0)
    return min(1.0, math.sqrt(lam_low / scale)), min(1.0, math.sqrt(lam_high / scale))


OptionalFloat = float | None


def _mean_interval(
    values: np.ndarray, alpha: float
) -> tuple[OptionalFloat, OptionalFloat, OptionalFloat]:
    values = values[np.isfinite(values)]
    if values.size == 0:
        return None, None, None
    mean = float(values.mean())
    if values.size < 2:
        return mean, None, None
    spread = values.std(ddof=1) / math.sqrt(values.size)
    half = float(t.ppf(1.0 - alpha / 2.0, values.size - 1) * spread)
    return mean, max(0.0, mean - half), min(1.0, mean + half)


class ClusteredChi2(NamedTuple):
    """Rao-Scott second-order result: ``statistic`` ~ chi-square(``dof``) under equal rates."""

    chi2: float
    statistic: float
    dof: float
    effective_n: float
    design_effect: float
    p_value: float


def rao_scott(
    model: np.ndarray, prompt: np.ndarray, n: np.ndarray, s: np.ndarray, models: int,
) -> ClusteredChi2 | None:
    """The model x success homogeneity test corrected for repeated prompts.

    Rows are (model code in ``range(models)``, prompt code, executions,
    successes). ``chi2`` is Pearson's (as ``chi2_contingency`` without
    correction). ``None`` when the design effects cannot be estimated (no
    variation, a model without executions, or fewer than two prompts).
    """
    moments = cell_covariance(model, prompt, n, s, cells=models, per_cell_factor=True)
    rate = float(moments.successes.sum() / moments.n.sum())
    if moments.clusters < 2 or not 0.0 < rate < 1.0 or np.any(moments.n <= 0):
        return None
    pearson = float(np.sum(moments.n * (moments.means - rate) ** 2) / (rate * (1.0 - rate)))
    contrasts = np.hstack([np.eye(models - 1), -np.ones((models - 1, 1))])
    robust = contrasts @ moments.cov @ contrasts.T
    binomial = contrasts @ np.diag(rate * (1.0 - rate) / moments.n) @ contrasts.T
    try:
        effects = np.linalg.eigvals(np.linalg.solve(binomial, robust)).real
    except np.linalg.LinAlgError:
        return None
    mean = float(effects.mean())
    if not (math.isfinite(mean) and mean > 0):
        return None
    second = float(np.mean(effects**2) / mean**2)  # 1 + a^2
    statistic, dof = pearson / (mean * second), (models - 1) / second
    return ClusteredChi2(pearson, statistic, dof, float(moments.n.sum()) / (mean * second),
                         mean, float(chi2.sf(statistic, dof)))


def discrimination_power(
    frame: pd.DataFrame, *, alpha: float = 0.05, min_effect: float = DEFAULT_MIN_EFFECT,
    min_n: int = MIN_RANKED_EXECUTIONS,
) -> DiscriminationResult:
    """Per-template homogeneity test across models, effect size and mean score."""
    rows: list[dict[str, Any]] = []
    has_score = "discrimination_score" in frame
    has_prompts = "prompt_id" in frame
    for template_id, group in frame.groupby("template_id", observed=True, sort=True):
        table = pd.crosstab(group["model_id"], group["success"]).reindex(
            columns=[False, True], fill_value=0
        )
        n = int(table.to_numpy().sum())
        models = int(table.shape[0])
        note = None
        design, prompts, effect = "independent", None, None
        rates = table[True] / table.sum(axis=1)
        spread = float(rates.max() - rates.min()) if models else 0.0
        if models < 2:
            chi2_value, p_value, dof, v, v_low, v_high = 0.0, 1.0, 0, 0.0, 0.0, 0.0
            note = "only one model ran this template: nothing to separate"
        elif (table.sum(axis=0) == 0).any():
            chi2_value, p_value, dof, v, v_low, v_high = 0.0, 1.0, models - 1, 0.0, 0.0, 0.0
            note = "every execution had the same outcome: no model separates from another"
        else:
            result = chi2_contingency(table.to_numpy(), correction=False)
            chi2_value, p_value = float(result.statistic), float(result.pvalue)
            dof = int(result.dof)
            v = math.sqrt(chi2_value / n)  # min(models, 2) - 1 == 1
            scaled, scaled_n, scaled_dof = chi2_value, float(n), float(dof)
            if has_prompts:
                per = group.groupby(["model_id", "prompt_id"], observed=True)["success"].agg(
                    ["size", "sum"]).reset_index()
                prompts = int(per["prompt_id"].nunique())
                if prompts < n:
                    design = "clustered"
                    model_codes = pd.Categorical(per["model_id"], categories=table.index).codes
                    corrected = rao_scott(model_codes, pd.factorize(per["prompt_id"])[0],
                                          per["size"].to_numpy(float),
                                          per["sum"].to_numpy(float), models)
                    if corrected is None:
                        note = ("prompts repeat but their variation could not be estimated: "
                                "the p-value treats executions as independent")
                    else:
                        effect = corrected.design_effect
                        scaled, scaled_n = corrected.statistic, corrected.effective_n
                        scaled_dof, p_value = corrected.dof, corrected.p_value
            v_low, v_high = cramers_v_interval(scaled, scaled_n, scaled_dof, 2, alpha)
            expected = result.expected_freq
            if note is None and design == "independent" and (expected < 5).any():
                note = "some expected counts are below 5: the chi-square p-value is approximate"
        if n < min_n:
            note = f"insufficient data: {n} executions (fewer than {min_n}) are never ranked"
        scores = group["discrimination_score"].to_numpy(dtype=float) if has_score else np.array([])
        mean, low, high = _mean_interval(scores, alpha)
        rows.append({
            "template_id": str(template_id), "n": n, "models": models, "chi2": chi2_value,
            "dof": dof, "p_value": p_value, "cramers_v": v, "v_ci_low": v_low,
            "v_ci_high": v_high, "mean_score": mean, "score_ci_low": low, "score_ci_high": high,
            "score_n": int(np.isfinite(scores).sum()), "note": note, "design": design,
            "prompts": prompts, "design_effect": effect, "rate_spread": spread,
        })
    if rows:
        adjusted = adjust_p_values([row["p_value"] for row in rows], "holm")[1]
        for row, value in zip(rows, adjusted, strict=True):
            row["p_adjusted"] = float(value)
            row["discriminates"] = bool(row["n"] >= min_n and row["p_adjusted"] < alpha
                                        and row["rate_spread"] >= min_effect)
    rows.sort(key=lambda row: (not row["discriminates"], -row["v_ci_low"], -row["cramers_v"],
                               row["template_id"]))
    return DiscriminationResult(alpha, tuple(TemplateDiscrimination(**row) for row in rows),
                                min_effect, min_n)
