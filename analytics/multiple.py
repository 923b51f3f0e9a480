"""Many templates at once: pairwise or all-vs-baseline tests with multiplicity correction.

Comparing 10 templates pairwise is 45 tests; at alpha = 0.05 about two would
come out "significant" by chance alone. Holm controls the family-wise error
rate (any false positive); Benjamini-Hochberg controls the false discovery
rate (the share of false positives among the discoveries) and has more power.

Each comparison is the test its pair's design calls for, as in the A/B test
(:mod:`analytics.design`), in its asymptotic form: the pooled two-proportion
z-test when neither template repeats a prompt and they share none; McNemar's z
on the same prompts run once each; otherwise the cluster-robust (CR1,
clusters = prompt_id) difference, paired where the templates share prompts.
The corrections work on those p-values; ``pooled_p_value`` keeps the naive one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import combinations
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy import sparse
from scipy.stats import norm
from scipy.stats import t as t_dist

from analytics.design import PAIRED_SHARE
from analytics.jsonsafe import jsonable

Correction = Literal["holm", "fdr_bh"]
FAMILY_TEST = ("per pair, the test of its design: pooled z (independent), McNemar z "
               "(same prompts, one run each), else cluster-robust CR1 t by prompt_id "
               "(paired where prompts are shared)")
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
    design: str = "independent"
    pooled_p_value: float | None = None

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
            "test": FAMILY_TEST,
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
    pooled_p = p
    designs = np.full(len(pairs), "independent", dtype=object)
    if "prompt_id" in frame:
        position = {name: k for k, name in enumerate(names)}
        designs, z, p = pair_tests(
            frame, column, np.array([position[a] for a in left]),
            np.array([position[b] for b in right]), names, z, p)
    reject, adjusted = adjust_p_values(p, correction, alpha)
    comparisons = tuple(
        Comparison(
            a=pa, b=pb, n_a=int(na), n_b=int(nb), rate_a=sa / na, rate_b=sb / nb,
            difference=sb / nb - sa / na, z=float(zz), p_value=float(pp),
            p_adjusted=float(pq), significant=bool(rj), design=str(dd),
            pooled_p_value=float(pn),
        )
        for pa, pb, na, nb, sa, sb, zz, pp, pq, rj, dd, pn in zip(
            left, right, n_a, n_b, s_a, s_b, z, p, adjusted, reject, designs, pooled_p,
            strict=True,
        )
    )
    return MultipleComparisons(mode, baseline, correction, alpha, comparisons)


def pair_tests(
    frame: pd.DataFrame, column: str, left: np.ndarray, right: np.ndarray,
    names: Sequence[str], pooled_z: np.ndarray, pooled_p: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each pair's design and its test (designs, z or t, p), all pairs at once.

    The same rule and statistics as :func:`analytics.design.design_test`,
    vectorised: per-prompt counts become sparse prompt x template matrices, and
    every pair's cluster-robust variance, shared prompts and discordant counts
    are entries of their products. Independent pairs keep ``pooled_z``/``pooled_p``.
    """
    per = frame.groupby([column, "prompt_id"], observed=True)["success"].agg(["size", "sum"])
    per = per.reset_index()
    template = pd.Categorical(per[column].astype(str), categories=list(names)).codes
    prompt = pd.factorize(per["prompt_id"])[0]
    n = per["size"].to_numpy(dtype=float)
    s = per["sum"].to_numpy(dtype=float)
    shape = (int(prompt.max()) + 1, len(names))

    def matrix(values: np.ndarray) -> sparse.csc_matrix:
        return sparse.csc_matrix((values, (prompt, template)), shape=shape)

    totals = np.bincount(template, n, minlength=len(names))
    rates = np.bincount(template, s, minlength=len(names)) / totals
    counts, wins, present = matrix(n), matrix(s), matrix(np.ones_like(n))
    scores = matrix((s - rates[template] * n) / totals[template])

    def products(x: sparse.csc_matrix, y: sparse.csc_matrix) -> np.ndarray:
        return np.asarray((x.T @ y).toarray())

    uu, shared, on_shared = products(scores, scores), products(present, present), products(
        counts, present)
    wins_on_other, both_won = products(wins, present), products(wins, wins)
    repeated = np.asarray(counts.max(axis=0).toarray()).ravel() > 1
    a, b = left, right
    prompts_a, prompts_b, pairs = shared[a, a], shared[b, b], shared[a, b]
    share = np.minimum(on_shared[a, b] / totals[a], on_shared[b, a] / totals[b])
    paired = (pairs >= 2) & (share >= PAIRED_SHARE)
    clustered = ~paired & (repeated[a] | repeated[b] | (pairs > 0))
    single = paired & ~repeated[a] & ~repeated[b] & (pairs == prompts_a) & (pairs == prompts_b)
    # McNemar on complete single-run pairs: only-B and only-A right among shared prompts.
    b_only = wins_on_other[b, a] - both_won[a, b]
    a_only = wins_on_other[a, b] - both_won[a, b]
    discordant = a_only + b_only
    with np.errstate(divide="ignore", invalid="ignore"):
        mcnemar_z = np.where(discordant > 0, (b_only - a_only) / np.sqrt(discordant), 0.0)
        clusters = prompts_a + prompts_b - pairs
        nobs = totals[a] + totals[b]
        variance = clusters / (clusters - 1) * (nobs - 1) / (nobs - 2) * (
            uu[a, a] + uu[b, b] - 2 * uu[a, b])
        difference = rates[b] - rates[a]
        usable = (clusters > 1) & (variance > 0)
        t = np.where(usable, difference / np.sqrt(np.where(usable, variance, 1.0)), 0.0)
    t_p = 2.0 * t_dist.sf(np.abs(t), np.maximum(clusters - 1, 1))
    # No spread to estimate a variance from (e.g. 0 % against 100 %): the pooled test decides.
    robust = (paired | clustered) & ~single & usable
    designs = np.where(paired, "paired", np.where(clustered, "clustered", "independent"))
    z = np.where(single, mcnemar_z, np.where(robust, t, pooled_z))
    p = np.where(single, 2.0 * norm.sf(np.abs(mcnemar_z)), np.where(robust, t_p, pooled_p))
    return designs.astype(object), z, p
