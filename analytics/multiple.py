"""Many templates at once: pairwise or all-vs-baseline tests with multiplicity correction.

Comparing 10 templates pairwise is 45 tests; at alpha = 0.05 about two would
come out "significant" by chance alone. Holm controls the family-wise error
rate (any false positive); Benjamini-Hochberg controls the false discovery
rate (the share of false positives among the discoveries) and has more power.
Each comparison is the same pooled two-proportion z-test the A/B test uses.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import combinations
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy.stats import norm

from analytics.jsonsafe import jsonable

Correction = Literal["holm", "fdr_bh"]
CORRECTIONS: dict[str, str] = {"holm": "Holm (family-wise error rate)",
                               "fdr_bh": "Benjamini-Hochberg (false discovery rate)"}


@dataclass(frozen=True, slots=True)
class Comparison:
    """One pair: ``difference`` = rate(b) - rate(a)."""

    a: str
    b: str
    n_a: int
    n_b: int
    rate_a: float
    rate_b: float
    difference: float
    z: float
    p_value: float
    p_adjusted: float
    significant: bool

    def to_dict(self) -> dict[str, Any]:
        return jsonable({name: getattr(self, name) for name in self.__slots__})


@dataclass(frozen=True, slots=True)
class MultipleComparisons:
    """All comparisons of one family, with the correction that was applied."""

    mode: str
    baseline: str | None
    correction: str
    alpha: float
    comparisons: tuple[Comparison, ...]

    @property
    def discoveries(self) -> list[Comparison]:
        return [c for c in self.comparisons if c.significant]

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame([c.to_dict() for c in self.comparisons])

    def to_dict(self) -> dict[str, Any]:
        return jsonable({
            "mode": self.mode, "baseline": self.baseline, "correction": self.correction,
            "correction_method": CORRECTIONS[self.correction], "alpha": self.alpha,
            "tests": len(self.comparisons), "discoveries": len(self.discoveries),
            "comparisons": [c.to_dict() for c in self.comparisons],
        })


def adjust_p_values(
    p_values: Sequence[float] | np.ndarray, method: Correction = "holm", alpha: float = 0.05
) -> tuple[np.ndarray, np.ndarray]:
    """Holm or Benjamini-Hochberg adjusted p-values and the rejections at ``alpha``.

    The same numbers as ``statsmodels.stats.multitest.multipletests`` (checked
    in the tests), without its ``gc.collect()`` per call, which costs ~0.1 s
    in a process holding a million-row frame.
    """
    p = np.asarray(p_values, dtype=np.float64)
    m = p.size
    if m == 0:
        return np.zeros(0, dtype=bool), np.zeros(0)
    order = np.argsort(p, kind="stable")
    ranked = p[order]
    if method == "holm":
        stepped = np.maximum.accumulate((m - np.arange(m)) * ranked)
    elif method == "fdr_bh":
        stepped = np.minimum.accumulate((m / np.arange(m, 0, -1)) * ranked[::-1])[::-1]
    else:
        raise ValueError(f"correction must be one of {sorted(CORRECTIONS)}")
    adjusted = np.empty(m)
    adjusted[order] = np.minimum(stepped, 1.0)
    return adjusted <= alpha, adjusted


def pooled_z_many(
    s_a: np.ndarray, n_a: np.ndarray, s_b: np.ndarray, n_b: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Vectorised pooled z (b - a) and two-sided p; z = 0, p = 1 where undefined."""
    pooled = (s_a + s_b) / (n_a + n_b)
    variance = pooled * (1.0 - pooled) * (1.0 / n_a + 1.0 / n_b)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = (s_b / n_b - s_a / n_a) / np.sqrt(variance)
    z = np.where(variance > 0, z, 0.0)
    return z, 2.0 * norm.sf(np.abs(z))


def compare_templates(
    frame: pd.DataFrame,
    *,
    baseline: str | None = None,
    correction: Correction = "holm",
    alpha: float = 0.05,
    column: str = "template_id",
) -> MultipleComparisons:
    """All pairs of ``column`` values, or each against ``baseline``, corrected.

    Raises ``KeyError`` if ``baseline`` has no executions in ``frame``.
    """
    if correction not in CORRECTIONS:
        raise ValueError(f"correction must be one of {sorted(CORRECTIONS)}")
    counts = frame.groupby(column, observed=True)["success"].agg(["size", "sum"])
    names = sorted(str(name) for name in counts.index)
    if baseline is not None:
        if baseline not in counts.index:
            raise KeyError(f"baseline {baseline!r} has no executions")
        pairs = [(baseline, name) for name in names if name != baseline]
        mode = "vs_baseline"
    else:
        pairs = list(combinations(names, 2))
        mode = "pairwise"
    if not pairs:
        return MultipleComparisons(mode, baseline, correction, alpha, ())
    left = [a for a, _ in pairs]
    right = [b for _, b in pairs]
    n_a = counts.loc[left, "size"].to_numpy(dtype=float)
    s_a = counts.loc[left, "sum"].to_numpy(dtype=float)
    n_b = counts.loc[right, "size"].to_numpy(dtype=float)
    s_b = counts.loc[right, "sum"].to_numpy(dtype=float)
    z, p = pooled_z_many(s_a, n_a, s_b, n_b)
    reject, adjusted = adjust_p_values(p, correction, alpha)
    comparisons = tuple(
        Comparison(
            a=pa, b=pb, n_a=int(na), n_b=int(nb), rate_a=sa / na, rate_b=sb / nb,
            difference=sb / nb - sa / na, z=float(zz), p_value=float(pp),
            p_adjusted=float(pq), significant=bool(rj),
        )
        for pa, pb, na, nb, sa, sb, zz, pp, pq, rj in zip(
            left, right, n_a, n_b, s_a, s_b, z, p, adjusted, reject, strict=True
        )
    )
    return MultipleComparisons(mode, baseline, correction, alpha, comparisons)
