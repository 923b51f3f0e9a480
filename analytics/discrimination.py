"""Discrimination power: how well a template separates the models.

REV keeps templates whose outcomes differ between models. Per template this
reports a chi-square test of homogeneity of success across models, its effect
size (Cramer's V, with a confidence interval from the noncentral chi-square,
so a large V from 30 executions is not ranked above a solid one from 30 000),
and the mean stored ``discrimination_score`` with a t interval. p-values are
Holm-corrected across templates.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy.optimize import brentq
from scipy.stats import chi2_contingency, ncx2, t

from analytics.jsonsafe import jsonable
from analytics.multiple import adjust_p_values


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

    def to_dict(self) -> dict[str, Any]:
        return jsonable({name: getattr(self, name) for name in self.__slots__})


@dataclass(frozen=True, slots=True)
class DiscriminationResult:
    """Templates ranked by Cramer's V (the lower CI bound breaks ties toward certainty)."""

    alpha: float
    templates: tuple[TemplateDiscrimination, ...]

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame([row.to_dict() for row in self.templates])

    def to_dict(self) -> dict[str, Any]:
        return {
            "alpha": self.alpha,
            "test": "chi-square test of homogeneity (success x model), Holm-corrected",
            "effect_size": "Cramer's V, noncentral chi-square CI",
            "templates": [row.to_dict() for row in self.templates],
        }


def cramers_v_interval(
    chi2: float, n: int, dof: int, k: int, alpha: float = 0.05
) -> tuple[float, float]:
    """CI for Cramer's V by inverting the noncentral chi-square in its noncentrality.

    ``k`` is min(rows, columns); V = sqrt(lambda / (n (k - 1))).
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


def discrimination_power(frame: pd.DataFrame, *, alpha: float = 0.05) -> DiscriminationResult:
    """Per-template homogeneity test across models, effect size and mean score."""
    rows: list[dict[str, Any]] = []
    has_score = "discrimination_score" in frame
    for template_id, group in frame.groupby("template_id", observed=True, sort=True):
        table = pd.crosstab(group["model_id"], group["success"]).reindex(
            columns=[False, True], fill_value=0
        )
        n = int(table.to_numpy().sum())
        models = int(table.shape[0])
        note = None
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
            v_low, v_high = cramers_v_interval(chi2_value, n, dof, 2, alpha)
            expected = result.expected_freq
            if (expected < 5).any():
                note = "some expected counts are below 5: the chi-square p-value is approximate"
        scores = group["discrimination_score"].to_numpy(dtype=float) if has_score else np.array([])
        mean, low, high = _mean_interval(scores, alpha)
        rows.append({
            "template_id": str(template_id), "n": n, "models": models, "chi2": chi2_value,
            "dof": dof, "p_value": p_value, "cramers_v": v, "v_ci_low": v_low,
            "v_ci_high": v_high, "mean_score": mean, "score_ci_low": low, "score_ci_high": high,
            "score_n": int(np.isfinite(scores).sum()), "note": note,
        })
    if rows:
        adjusted = adjust_p_values([row["p_value"] for row in rows], "holm")[1]
        for row, value in zip(rows, adjusted, strict=True):
            row["p_adjusted"] = float(value)
    rows.sort(key=lambda row: (-row["cramers_v"], -row["v_ci_low"], row["template_id"]))
    return DiscriminationResult(alpha, tuple(TemplateDiscrimination(**row) for row in rows))
