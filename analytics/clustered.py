"""Statistics whose unit is the prompt: cluster-robust variances, paired tests, the ICC.

REV runs a fixed set of prompts per template, each prompt many times, and the
same prompts on several models. Executions of one prompt are correlated
(prompts differ in difficulty), so a test that counts executions as
independent overstates its certainty: with 50 prompts x 20 runs per arm the
pooled z-test calls about 36 % of equal pairs "significant" at alpha 0.05.
Following Miller, "Adding Error Bars to Evals" (arXiv 2411.00640), the
building blocks here treat the prompt as the unit:

* :func:`clustered_difference`: a difference of two success rates with the
  cluster-robust (CR1) variance, clusters = prompts. It is exactly statsmodels'
  ``OLS(success, [1, is_b]).fit(cov_type="cluster", cov_kwds={"groups": prompt},
  use_t=True)``: small-sample factor G/(G-1) * (N-1)/(N-2), Student t with G-1
  degrees of freedom. Where the arms share prompts the clusters span both arms,
  which makes it the paired analysis: with every prompt run equally often in
  both arms it is the paired t-test on per-prompt rate differences.
* :func:`mcnemar` and :func:`paired_score_interval`: one run per prompt in
  each arm on the same prompts (McNemar's test and Tango's score interval,
  which inverts it, so the interval and the test agree).
* :func:`cell_covariance`: the cluster-robust covariance of several cell
  means at once (the models of a template, the templates of a family).
* :func:`intraclass_correlation`: the one-way ANOVA estimator of how much of
  the variance in success lies between prompts.
* :func:`clustered_rates`: success rates with Wilson intervals on the
  effective sample size (n / design effect, Korn-Graubard degrees of freedom).

Every function takes plain arrays; :func:`clustered_difference` is vectorised
over leading axes (the last axis is the prompt), so a null simulation of
thousands of experiments runs the production code in one call.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import sparse
from scipy.stats import binom, norm
from scipy.stats import t as t_dist

from analytics.intervals import wilson_interval

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

CR1_METHOD = (
    "cluster-robust (CR1) linear-probability difference, clusters = prompt_id, "
    "factor G/(G-1)*(N-1)/(N-2), Student t with G-1 df (statsmodels OLS cov_type='cluster')"
)
PAIRED_CR1_METHOD = (
    "paired: cluster-robust (CR1) difference with each prompt's executions in both arms "
    "as one cluster (the paired t-test on per-prompt rate differences when every prompt "
    "ran equally often), Student t with G-1 df"
)
MCNEMAR_METHOD = "McNemar's test on the prompts both arms ran once (no continuity correction)"
EXACT_MCNEMAR_METHOD = "exact McNemar test (binomial on the discordant prompts)"
TANGO_CI_METHOD = "Tango score interval for paired proportions (inverts McNemar's z)"
WALD_T_CI_METHOD = "difference +/- t(G-1) x cluster-robust standard error"


class ClusteredDifference(NamedTuple):
    """``b - a`` with its variances; every field has the batch shape of the inputs.

    ``variance`` is CR1 with clusters spanning both arms (paired where prompts
    are shared); ``unpaired_variance`` is CR1 with each arm's prompts as
    separate clusters (what an analysis ignoring the pairing would use);
    ``naive_variance`` is the binomial p(1-p)/n of each arm, summed (executions
    as independent). ``clusters`` counts prompts with executions in either arm.
    """

    rate_a: FloatArray
    rate_b: FloatArray
    difference: FloatArray
    variance: FloatArray
    unpaired_variance: FloatArray
    naive_variance: FloatArray
    clusters: IntArray

    @property
    def df(self) -> IntArray:
        """Degrees of freedom of the t reference: clusters - 1."""
        return self.clusters - 1


def _cr1_factor(clusters: ArrayLike, nobs: ArrayLike, params: int) -> FloatArray:
    g = np.asarray(clusters, dtype=np.float64)
    n = np.asarray(nobs, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.asarray(g / (g - 1.0) * (n - 1.0) / (n - params), dtype=np.float64)


def clustered_difference(
    n_a: ArrayLike, s_a: ArrayLike, n_b: ArrayLike, s_b: ArrayLike
) -> ClusteredDifference:
    """Cluster-robust ``rate_b - rate_a`` from per-prompt counts aligned on the last axis.

    Position ``i`` of the last axis is one prompt in both arms: ``n_a[..., i]``
    executions and ``s_a[..., i]`` successes in arm A (0 where the prompt did
    not run in A), the same for B. Both arms need executions.
    """
    na, sa = np.asarray(n_a, dtype=np.float64), np.asarray(s_a, dtype=np.float64)
    nb, sb = np.asarray(n_b, dtype=np.float64), np.asarray(s_b, dtype=np.float64)
    total_a, total_b = na.sum(axis=-1), nb.sum(axis=-1)
    if np.any(total_a <= 0) or np.any(total_b <= 0):
        raise ValueError("clustered_difference needs executions in both arms")
    rate_a, rate_b = sa.sum(axis=-1) / total_a, sb.sum(axis=-1) / total_b
    # Each prompt's share of the estimate's error (the OLS influence of its cluster).
    u_a = (sa - rate_a[..., None] * na) / total_a[..., None]
    u_b = (sb - rate_b[..., None] * nb) / total_b[..., None]
    clusters = np.count_nonzero((na + nb) > 0, axis=-1)
    nobs = total_a + total_b
    variance = _cr1_factor(clusters, nobs, 2) * np.sum((u_b - u_a) ** 2, axis=-1)
    separate = np.count_nonzero(na > 0, axis=-1) + np.count_nonzero(nb > 0, axis=-1)
    unpaired = _cr1_factor(separate, nobs, 2) * (
        np.sum(u_a**2, axis=-1) + np.sum(u_b**2, axis=-1))
    naive = rate_a * (1.0 - rate_a) / total_a + rate_b * (1.0 - rate_b) / total_b
    return ClusteredDifference(
        rate_a=rate_a, rate_b=rate_b, difference=rate_b - rate_a,
        variance=np.where(clusters > 1, variance, 0.0), unpaired_variance=unpaired,
        naive_variance=naive, clusters=clusters.astype(np.int64),
    )


def t_test(
    difference: ArrayLike, variance: ArrayLike, df: ArrayLike
) -> tuple[FloatArray, FloatArray]:
    """t statistic and two-sided p; (0, 1) where the variance is 0 (nothing varies)."""
    d = np.asarray(difference, dtype=np.float64)
    v = np.asarray(variance, dtype=np.float64)
    dof = np.maximum(np.asarray(df, dtype=np.float64), 1.0)
    usable = v > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        statistic = np.where(usable, d / np.sqrt(np.where(usable, v, 1.0)), 0.0)
    return statistic, np.where(usable, 2.0 * t_dist.sf(np.abs(statistic), dof), 1.0)


def t_critical(alpha: float, df: float) -> float:
    """The two-sided critical value of Student t (normal when ``df`` is infinite)."""
    if not math.isfinite(df):
        return float(norm.ppf(1.0 - alpha / 2.0))
    return float(t_dist.ppf(1.0 - alpha / 2.0, max(df, 1.0)))


def arm_correlation(
    n_a: ArrayLike, s_a: ArrayLike, n_b: ArrayLike, s_b: ArrayLike
) -> float | None:
    """Pearson correlation of per-prompt success rates over the prompts both arms ran.

    With one run per prompt this is the phi coefficient of the paired table.
    ``None`` with fewer than three shared prompts or no variation in an arm.
    """
    na, nb = np.asarray(n_a, dtype=np.float64), np.asarray(n_b, dtype=np.float64)
    shared = (na > 0) & (nb > 0)
    if np.count_nonzero(shared) < 3:
        return None
    rate_a = np.asarray(s_a, dtype=np.float64)[shared] / na[shared]
    rate_b = np.asarray(s_b, dtype=np.float64)[shared] / nb[shared]
    if rate_a.std() == 0 or rate_b.std() == 0:
        return None
    return float(np.corrcoef(rate_a, rate_b)[0, 1])


# -- one run per prompt in both arms ---------------------------------------------------------

MCNEMAR_EXACT_BELOW = 25
"""Discordant prompts below which McNemar's binomial (exact) form decides."""


class McNemarResult(NamedTuple):
    """``b_only``: prompts only B got right; ``a_only``: only A. ``z`` > 0 when B is better."""

    a_only: int
    b_only: int
    z: float
    p_value: float
    exact: bool


def mcnemar_many(
    a_only: ArrayLike, b_only: ArrayLike, *, exact: bool | None = None
) -> tuple[FloatArray, FloatArray, NDArray[np.bool_]]:
    """Vectorised McNemar: signed z, p and whether the exact form decided, element-wise.

    ``exact=None`` chooses the binomial form below :data:`MCNEMAR_EXACT_BELOW`
    discordant pairs. ``z`` is always the asymptotic signed statistic
    (b_only - a_only) / sqrt(b_only + a_only); no discordant pair gives z = 0, p = 1.
    """
    a = np.asarray(a_only, dtype=np.float64)
    b = np.asarray(b_only, dtype=np.float64)
    discordant = a + b
    some = discordant > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(some, (b - a) / np.sqrt(np.where(some, discordant, 1.0)), 0.0)
    use_exact = (discordant < MCNEMAR_EXACT_BELOW) if exact is None else np.full(
        discordant.shape, exact)
    exact_p = np.minimum(1.0, 2.0 * binom.cdf(np.minimum(a, b), discordant, 0.5))
    p = np.where(some, np.where(use_exact, exact_p, 2.0 * norm.sf(np.abs(z))), 1.0)
    return z, p, use_exact & some


def mcnemar(a_only: int, b_only: int, *, exact: bool | None = None) -> McNemarResult:
    """McNemar's test on the discordant pairs (what ``statsmodels...mcnemar`` computes).

    See :func:`mcnemar_many` for the rule that picks the exact form.
    """
    z, p, used = mcnemar_many(a_only, b_only, exact=exact)
    return McNemarResult(a_only, b_only, float(z), float(p), bool(used))


def paired_score_statistic(b_only: int, a_only: int, pairs: int, delta: float) -> float:
    """Tango's score z for ``H0: rate_b - rate_a = delta`` on ``pairs`` paired single runs.

    At ``delta = 0`` it is McNemar's z. (Tango 1998, Stat Med 17:891; the
    constrained MLE of the discordant cell in closed form.)
    """
    n = float(pairs)
    x12, x21 = float(b_only), float(a_only)  # x12: B right, A wrong
    a = 2.0 * n
    b = -x12 - x21 + (2.0 * n - x12 + x21) * delta
    c = -x21 * delta * (1.0 - delta)
    q21 = (math.sqrt(max(b * b - 4.0 * a * c, 0.0)) - b) / (2.0 * a)
    numerator = x12 - x21 - n * delta
    variance = n * (2.0 * q21 + delta * (1.0 - delta))
    if variance <= 0.0:
        return 0.0 if abs(numerator) < 1e-12 else math.copysign(math.inf, numerator)
    return numerator / math.sqrt(variance)


def paired_score_interval(
    b_only: int, a_only: int, pairs: int, alpha: float = 0.05
) -> tuple[float, float]:
    """Tango's interval for ``rate_b - rate_a``: the deltas McNemar's score test keeps."""
    if pairs <= 0:
        raise ValueError("paired_score_interval needs at least one pair")
    critical = float(norm.ppf(1.0 - alpha / 2.0))
    observed = (b_only - a_only) / pairs

    def inside(delta: float) -> bool:
        return abs(paired_score_statistic(b_only, a_only, pairs, delta)) <= critical

    def edge(outside: float) -> float:
        if inside(outside):
            return outside
        inner = observed
        for _ in range(60):  # z(delta) is monotone on each side of the estimate
            mid = (outside + inner) / 2.0
            outside, inner = (outside, mid) if inside(mid) else (mid, inner)
        return inner

    return float(edge(-1.0)), float(edge(1.0))


# -- several cells at once ---------------------------------------------------------------------

class CellMoments(NamedTuple):
    """Cell means and their cluster-robust covariance (``cov[i, j]`` for cells i, j)."""

    n: FloatArray
    successes: FloatArray
    means: FloatArray
    cov: FloatArray
    clusters: int
    clusters_per_cell: IntArray

    @property
    def nobs(self) -> float:
        return float(self.n.sum())


def cell_covariance(
    cell: ArrayLike, cluster: ArrayLike, n: ArrayLike, s: ArrayLike, *, cells: int,
    per_cell_factor: bool = False,
) -> CellMoments:
    """Means of ``cells`` cells and their CR covariance from per-(cell, cluster) counts.

    Rows give a cell code in ``range(cells)``, a cluster code, executions ``n``
    and successes ``s`` (repeated (cell, cluster) rows are summed). The
    covariance is statsmodels' CR1 for ``OLS(success, cell dummies)`` clustered
    by ``cluster`` (factor G/(G-1) * (N-1)/(N-C), C = cells with executions);
    with ``per_cell_factor`` each cell's scores get its own G_c/(G_c-1) instead,
    which keeps a cell estimated from few prompts honest when the others have
    many. Cells without executions have mean NaN and zero (co)variance.
    """
    cell_codes = np.asarray(cell, dtype=np.int64)
    cluster_codes = np.asarray(cluster, dtype=np.int64)
    counts = np.asarray(n, dtype=np.float64)
    wins = np.asarray(s, dtype=np.float64)
    totals = np.bincount(cell_codes, counts, minlength=cells).astype(np.float64)
    successes = np.bincount(cell_codes, wins, minlength=cells).astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        means = successes / totals
        scores = (wins - np.nan_to_num(means)[cell_codes] * counts) / totals[cell_codes]
    _, dense_clusters = np.unique(cluster_codes, return_inverse=True)
    groups = int(dense_clusters.max()) + 1 if dense_clusters.size else 0
    matrix = sparse.coo_matrix(
        (np.nan_to_num(scores), (dense_clusters, cell_codes)), shape=(groups, cells)
    ).tocsc()
    matrix.sum_duplicates()
    presence = sparse.coo_matrix(
        (counts > 0, (dense_clusters, cell_codes)), shape=(groups, cells)).tocsc()
    presence.sum_duplicates()
    per_cell = np.asarray((presence > 0).sum(axis=0)).ravel().astype(np.int64)
    if per_cell_factor:
        with np.errstate(divide="ignore", invalid="ignore"):
            scale = np.where(per_cell > 1, np.sqrt(per_cell / (per_cell - 1.0)), 1.0)
        matrix = matrix @ sparse.diags(scale)
        factor = 1.0
    else:
        used = int(np.count_nonzero(totals > 0))
        factor = float(_cr1_factor(groups, totals.sum(), used)) if groups > 1 else 0.0
    cov = factor * (matrix.T @ matrix).toarray()
    return CellMoments(totals, successes, means, cov, groups, per_cell)


def contrast_variance(moments: CellMoments, weights: ArrayLike) -> float:
    """Variance of ``weights @ means`` under the cells' cluster-robust covariance."""
    w = np.asarray(weights, dtype=np.float64)
    return float(w @ moments.cov @ w)


# -- how much of the variance lies between prompts ---------------------------------------------

def intraclass_correlation(
    n: ArrayLike, s: ArrayLike, strata: ArrayLike | None = None
) -> float | None:
    """One-way ANOVA estimate of the intra-prompt correlation of success, in [0, 1].

    Rows are prompts (``n`` executions, ``s`` successes); with ``strata`` (e.g.
    a template code per prompt) the between-prompt part is measured within
    each stratum, so differences between templates do not count as prompt
    difficulty. ``None`` when it cannot be estimated: no prompt ran twice, or
    fewer prompts than strata plus one.
    """
    counts = np.asarray(n, dtype=np.float64)
    wins = np.asarray(s, dtype=np.float64)
    keep = counts > 0
    counts, wins = counts[keep], wins[keep]
    codes = (np.zeros(counts.size, dtype=np.int64) if strata is None
             else np.unique(np.asarray(strata)[keep], return_inverse=True)[1])
    total, prompts = counts.sum(), counts.size
    groups = int(codes.max()) + 1 if codes.size else 0
    df_within, df_between = total - prompts, prompts - groups
    if df_within <= 0 or df_between <= 0:
        return None
    stratum_n = np.bincount(codes, counts)
    stratum_s = np.bincount(codes, wins)
    within = float(np.sum(wins - wins**2 / counts)) / df_within
    between = float(np.sum(wins**2 / counts) - np.sum(stratum_s**2 / stratum_n)) / df_between
    n0 = float(total - np.sum(np.bincount(codes, counts**2) / stratum_n)) / df_between
    denominator = between + (n0 - 1.0) * within
    if denominator <= 0.0:
        return 0.0  # every execution had the same outcome within its stratum
    return float(min(1.0, max(0.0, (between - within) / denominator)))


def design_effect(runs_per_prompt: float, icc: float) -> float:
    """Kish's variance inflation 1 + (m - 1) * ICC for ``m`` runs per prompt."""
    return 1.0 + max(runs_per_prompt - 1.0, 0.0) * icc


# -- success rates per group -------------------------------------------------------------------

CLUSTERED_RATE_METHOD = (
    "Wilson on the effective sample size n / design effect (cluster-robust variance by "
    "prompt_id, Korn-Graubard t(G-1) adjustment) where prompts repeat; plain Wilson elsewhere"
)


class GroupRates(NamedTuple):
    """Per group: rate, interval, prompts and design effect (NaN where not adjusted)."""

    n: FloatArray
    successes: FloatArray
    ci_low: FloatArray
    ci_high: FloatArray
    prompts: IntArray
    design_effect: FloatArray
    adjusted: NDArray[np.bool_]


def clustered_rates(
    group: ArrayLike, n: ArrayLike, s: ArrayLike, *, groups: int, alpha: float = 0.05
) -> GroupRates:
    """Success rates of ``groups`` groups with prompt-clustered Wilson intervals.

    Rows are (group, prompt) counts: group code, executions ``n``, successes
    ``s``. A group whose prompts each ran once gets the plain Wilson interval
    (the executions are its prompts); a group with repeated prompts gets Wilson
    on n_eff = n / deff * (z / t_{G-1})^2, where deff = CR variance / binomial
    variance (never below 1) and the t factor accounts for estimating the
    variance from G prompts (Korn and Graubard 1998; Dean and Pagano 2015 found
    Wilson on this effective size the best simple choice for clustered
    proportions). A group with a single repeated prompt cannot estimate its
    between-prompt variance: plain Wilson, ``adjusted`` False.
    """
    codes = np.asarray(group, dtype=np.int64)
    counts = np.asarray(n, dtype=np.float64)
    wins = np.asarray(s, dtype=np.float64)
    totals = np.bincount(codes, counts, minlength=groups).astype(np.float64)
    successes = np.bincount(codes, wins, minlength=groups).astype(np.float64)
    prompts = np.bincount(codes, counts > 0, minlength=groups).astype(np.int64)
    with np.errstate(divide="ignore", invalid="ignore"):
        rate = successes / totals
        residual = (wins - rate[codes] * counts) ** 2
        cr = (prompts / (prompts - 1.0)) * np.bincount(codes, residual, minlength=groups) / (
            totals**2)
        binomial = rate * (1.0 - rate) / totals
        deff = np.where(binomial > 0, np.maximum(cr / binomial, 1.0), 1.0)
    repeated = prompts < totals
    adjusted = repeated & (prompts > 1)
    effective = totals.copy()
    if np.any(adjusted):
        z = float(norm.ppf(1.0 - alpha / 2.0))
        t = t_dist.ppf(1.0 - alpha / 2.0, np.maximum(prompts[adjusted] - 1, 1))
        effective[adjusted] = totals[adjusted] / deff[adjusted] * (z / t) ** 2
    # Unadjusted groups keep their integer counts: exactly the plain Wilson interval.
    wins_used = np.where(adjusted, np.nan_to_num(rate) * effective, successes)
    low, high = wilson_interval(wins_used, effective, alpha)
    return GroupRates(
        n=totals, successes=successes, ci_low=low, ci_high=high, prompts=prompts,
        design_effect=np.where(adjusted, deff, np.nan), adjusted=adjusted,
    )


# -- prompts along a time series -------------------------------------------------------------

def order_inflation(prompts_in_order: ArrayLike, icc: float, trim: float = 0.05) -> float:
    """How much repeated prompts can inflate the variance of a CUSUM path, at most.

    The partial sum of ``success - rate`` after a share ``s`` of the series has,
    beyond the binomial part, a prompt part ICC p(1-p) sum_j (a_j(s) - n_j s)^2,
    where prompt j ran n_j times and a_j(s) of them before ``s``. When prompts
    are interleaved at random that sum is about n s (1 - s), as if executions
    were independent; when a prompt's runs bunch together in time it is far
    larger. Returns max over the central ``1 - 2 trim`` of the series of
    1 + ICC (R(s) - 1), R(s) = sum_j (a_j(s) - n_j s)^2 / (n s (1 - s)), never
    below 1 (computed in one pass from each execution's rank within its prompt).
    """
    codes = np.unique(np.asarray(prompts_in_order), return_inverse=True)[1]
    n = codes.size
    if n < 3 or icc <= 0.0:
        return 1.0
    sizes = np.bincount(codes).astype(np.float64)
    order = np.argsort(codes, kind="stable")
    starts = np.concatenate(([0], np.cumsum(sizes)[:-1])).astype(np.int64)
    rank = np.empty(n, dtype=np.float64)
    rank[order] = np.arange(n) - np.repeat(starts, sizes.astype(np.int64))
    k = np.arange(1, n, dtype=np.float64)
    s = k / n
    squares = np.cumsum(2.0 * rank + 1.0)[:-1]        # sum_j a_j(s)^2
    cross = np.cumsum(sizes[codes])[:-1]              # sum_j a_j(s) n_j
    spread = squares - 2.0 * s * cross + s * s * float(np.sum(sizes**2))
    ratio = spread / (n * s * (1.0 - s))
    lo, hi = int(trim * (n - 1)), max(int((1.0 - trim) * (n - 1)), int(trim * (n - 1)) + 1)
    return float(max(1.0, 1.0 + icc * (float(ratio[lo:hi].max()) - 1.0)))
