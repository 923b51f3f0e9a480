"""The unit of analysis follows the data: independent executions, prompts, or pairs.

Two arms (two templates, or two models) are compared with the test their
data calls for (CONTRACT.md section 3, ``design``):

* ``independent``: no prompt_id occurs twice in an arm and the arms share no
  prompt. Executions are the unit: the pooled two-proportion z-test with the
  Mee score interval that inverts it, or Fisher's exact test when an expected
  cell count is below 5 (exactly what ``ab-test`` always did).
* ``paired``: the arms ran the same prompts. "The same" means at least
  :data:`PAIRED_SHARE` of each arm's executions are on prompts the other arm
  also ran, with at least two such prompts. One run per prompt on exactly the
  same prompts: McNemar's test with Tango's score interval. Otherwise the
  cluster-robust difference whose clusters span both arms (the paired
  analysis; prompts only one arm ran stay in as unpaired clusters).
* ``clustered``: everything else with repeated prompts (a prompt run several
  times within an arm, or fewer shared prompts than pairing needs): the
  cluster-robust difference with the prompt as the unit.

Whatever the design, ``pooled`` keeps the naive pooled z-test for reference,
and the interval for the difference comes from the same test as the p-value.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from scipy.stats import fisher_exact, norm

from analytics import clustered as cl
from analytics.intervals import DIFFERENCE_CI_METHOD, difference_interval, score_statistic
from analytics.jsonsafe import jsonable

DesignKind = Literal["independent", "clustered", "paired"]
PAIRED_SHARE = 0.5
"""Share of each arm's executions on shared prompts from which the arms count as paired."""
FEW_PROMPTS = 10
"""Below this many prompts in an arm, cluster-robust p-values run somewhat small."""
MIN_EXPECTED_COUNT = 5.0
"""Cochran's rule: below this expected count in a cell, Fisher's exact test decides."""
POOLED_METHOD = "pooled two-proportion z-test (executions as independent)"
FISHER_METHOD = "Fisher's exact test (executions as independent)"


@dataclass(frozen=True, slots=True)
class PromptArms:
    """Per-prompt counts of both arms aligned on the union of their prompts.

    ``None`` prompts mean the counts carry no prompt_id: every execution is its
    own prompt, and only the totals are kept (``n_a`` etc. are then length 1).
    """

    n_a: NDArray[np.float64]
    s_a: NDArray[np.float64]
    n_b: NDArray[np.float64]
    s_b: NDArray[np.float64]
    has_prompts: bool

    @classmethod
    def from_counts(cls, counts: pd.DataFrame, column: str, a: str, b: str) -> PromptArms:
        """From rows of ``column``, optional ``prompt_id``, ``n``, ``successes``."""
        rows = counts[counts[column].isin([a, b])]
        if "prompt_id" not in rows:
            totals = rows.groupby(column, observed=True)[["n", "successes"]].sum()
            def arm(name: str, value: str) -> NDArray[np.float64]:
                return np.array([float(totals[value].get(name, 0))])
            return cls(arm(a, "n"), arm(a, "successes"), arm(b, "n"), arm(b, "successes"),
                       has_prompts=False)
        codes, _ = pd.factorize(rows["prompt_id"], sort=False)
        size = int(codes.max()) + 1 if codes.size else 0
        is_a = (rows[column] == a).to_numpy()
        n = rows["n"].to_numpy(dtype=np.float64)
        s = rows["successes"].to_numpy(dtype=np.float64)

        def spread(mask: NDArray[np.bool_], values: NDArray[np.float64]) -> NDArray[np.float64]:
            return np.bincount(codes[mask], values[mask], minlength=size).astype(np.float64)

        return cls(spread(is_a, n), spread(is_a, s), spread(~is_a, n), spread(~is_a, s),
                   has_prompts=True)

    @property
    def total_a(self) -> int:
        return int(self.n_a.sum())

    @property
    def total_b(self) -> int:
        return int(self.n_b.sum())


@dataclass(frozen=True, slots=True)
class Design:
    """What the two arms' prompts look like, and the design that follows."""

    kind: DesignKind
    clusters_a: int
    clusters_b: int
    pairs: int
    repeated: bool
    shared_share_a: float
    shared_share_b: float

    @property
    def complete_pairs(self) -> bool:
        """Every prompt ran in both arms."""
        return self.pairs == self.clusters_a == self.clusters_b

    @property
    def single_runs(self) -> bool:
        return not self.repeated


def detect_design(arms: PromptArms) -> Design:
    """The design rule of the module docstring applied to ``arms``."""
    if not arms.has_prompts:
        return Design("independent", arms.total_a, arms.total_b, 0, False, 0.0, 0.0)
    in_a, in_b = arms.n_a > 0, arms.n_b > 0
    shared = in_a & in_b
    pairs = int(np.count_nonzero(shared))
    repeated = bool(np.any(arms.n_a > 1) or np.any(arms.n_b > 1))
    share_a = float(arms.n_a[shared].sum() / arms.n_a.sum()) if arms.n_a.sum() else 0.0
    share_b = float(arms.n_b[shared].sum() / arms.n_b.sum()) if arms.n_b.sum() else 0.0
    kind: DesignKind
    if pairs >= 2 and min(share_a, share_b) >= PAIRED_SHARE:
        kind = "paired"
    elif repeated or pairs:
        kind = "clustered"
    else:
        kind = "independent"
    return Design(kind, int(np.count_nonzero(in_a)), int(np.count_nonzero(in_b)), pairs,
                  repeated, share_a, share_b)


@dataclass(frozen=True, slots=True)
class DesignTest:
    """The design's test of ``rate_b - rate_a`` and what it says about the data.

    ``statistic`` is z (independent, McNemar) or t with ``df`` degrees of
    freedom (cluster-robust). ``variance`` is the variance of the difference
    the test and interval use; ``naive_variance`` what treating executions as
    independent would use; ``design_effect`` their ratio. For paired data
    ``correlation`` is the correlation of per-prompt rates between the arms and
    ``gain`` how many times more data an unpaired analysis would need for the
    same precision (its variance over the paired one).
    """

    design: Design
    test: str
    method: str
    statistic: float
    statistic_p_value: float
    p_value: float
    df: int | None
    ci_low: float
    ci_high: float
    ci_method: str
    variance: float
    naive_variance: float
    pooled_z: float
    pooled_p_value: float
    fisher_p_value: float | None = None
    correlation: float | None = None
    gain: float | None = None
    unpaired: tuple[float, float] | None = None
    """Paired designs: (z or t, p) of the same data analysed as if unpaired."""
    notes: tuple[str, ...] = ()

    @property
    def standard_error(self) -> float:
        return math.sqrt(self.variance) if self.variance > 0 else 0.0

    @property
    def design_effect(self) -> float | None:
        if self.design.kind == "independent":
            return 1.0
        if self.naive_variance <= 0 or self.variance <= 0:
            return None
        return self.variance / self.naive_variance

    def minimum_detectable_effect(self, alpha: float, power: float) -> float | None:
        """The difference this data would detect with ``power`` (normal approximation)."""
        if self.variance <= 0:
            return None
        return float((norm.ppf(1.0 - alpha / 2.0) + norm.ppf(power)) * self.standard_error)

    def to_dict(self) -> dict[str, Any]:
        return jsonable({
            "design": self.design.kind, "method": self.method, "df": self.df,
            "standard_error": self.standard_error, "design_effect": self.design_effect,
            "clusters": {"a": self.design.clusters_a, "b": self.design.clusters_b},
            "pairs": self.design.pairs,
            "pooled": {"z": self.pooled_z, "p_value": self.pooled_p_value},
            "correlation": self.correlation, "gain": self.gain,
            "unpaired": None if self.unpaired is None else {
                "z": self.unpaired[0], "p_value": self.unpaired[1]},
        })


def pooled_test(x_a: int, n_a: int, x_b: int, n_b: int) -> tuple[float, float]:
    """Pooled two-proportion z (b - a) and two-sided p; (0, 1) when undefined."""
    z = float(score_statistic(x_b, n_b, x_a, n_a, 0.0)[0])
    if not math.isfinite(z):
        # Unreachable for n > 0 at delta 0 (pooled variance 0 means equal rates),
        # kept as a guard so NaN/inf can never reach the JSON.
        return 0.0, 1.0
    return z, float(2.0 * norm.sf(abs(z)))


def _small_counts(x_a: int, n_a: int, x_b: int, n_b: int) -> bool:
    total = n_a + n_b
    successes = x_a + x_b
    smallest = min(n_a, n_b) * min(successes, total - successes) / total
    return smallest < MIN_EXPECTED_COUNT


def _independent(design: Design, x_a: int, n_a: int, x_b: int, n_b: int, alpha: float,
                 naive: float, pooled: tuple[float, float]) -> DesignTest:
    z, z_p = pooled
    low, high = difference_interval(x_b, n_b, x_a, n_a, alpha)
    if _small_counts(x_a, n_a, x_b, n_b):
        fisher = float(fisher_exact([[x_b, n_b - x_b], [x_a, n_a - x_a]]).pvalue)
        return DesignTest(
            design, "Fisher's exact test", FISHER_METHOD, z, z_p, fisher, None, low, high,
            DIFFERENCE_CI_METHOD, naive, naive, z, z_p, fisher_p_value=fisher,
            notes=("an expected cell count is below 5, so Fisher's exact test decides; "
                   "z and the interval are approximate",))
    return DesignTest(design, "pooled z-test", POOLED_METHOD, z, z_p, z_p, None, low, high,
                      DIFFERENCE_CI_METHOD, naive, naive, z, z_p)


def _mcnemar(design: Design, arms: PromptArms, alpha: float, naive: float,
             pooled: tuple[float, float], unpaired: float) -> DesignTest:
    a_won = arms.s_a > 0
    b_won = arms.s_b > 0
    b_only = int(np.count_nonzero(b_won & ~a_won))
    a_only = int(np.count_nonzero(a_won & ~b_won))
    pairs = design.pairs
    result = cl.mcnemar(a_only, b_only)
    low, high = cl.paired_score_interval(b_only, a_only, pairs, alpha)
    d = (b_only - a_only) / pairs
    wald = (b_only + a_only - pairs * d * d) / pairs**2
    notes = []
    if result.exact:
        notes.append(f"{a_only + b_only} discordant prompt(s), fewer than "
                     f"{cl.MCNEMAR_EXACT_BELOW}: the exact McNemar test decides; z and the "
                     "interval are approximate")
    test = "exact McNemar test" if result.exact else "McNemar's test"
    method = cl.EXACT_MCNEMAR_METHOD if result.exact else cl.MCNEMAR_METHOD
    z_p = float(2.0 * norm.sf(abs(result.z)))
    return DesignTest(
        design, test, method, result.z, z_p, result.p_value, None, low, high,
        cl.TANGO_CI_METHOD, max(wald, 0.0), naive, *pooled,
        correlation=cl.arm_correlation(arms.n_a, arms.s_a, arms.n_b, arms.s_b),
        gain=(unpaired / wald) if wald > 0 and unpaired > 0 else None, unpaired=pooled,
        notes=tuple(notes))


def _cluster_robust(design: Design, arms: PromptArms, alpha: float,
                    moments: cl.ClusteredDifference, pooled: tuple[float, float]) -> DesignTest:
    d = float(moments.difference)
    variance = float(moments.variance)
    df = int(moments.df)
    notes = []
    for label, count, total in (("A", design.clusters_a, arms.total_a),
                                ("B", design.clusters_b, arms.total_b)):
        if count == 1 and total > 1:
            notes.append(f"arm {label} ran a single prompt: how its success varies across "
                         "prompts cannot be estimated, so the test speaks for that prompt, "
                         "not for the whole arm")
        elif count < FEW_PROMPTS and total > count:
            notes.append(f"arm {label} has only {count} prompts: with fewer than "
                         f"{FEW_PROMPTS} per arm cluster-robust p-values run somewhat small")
    paired = design.kind == "paired"
    if paired and not design.complete_pairs:
        unshared = design.clusters_a + design.clusters_b - 2 * design.pairs
        notes.append(f"{unshared} prompt(s) ran in one arm only; they stay in the test as "
                     "unpaired clusters")
    method = cl.PAIRED_CR1_METHOD if paired else cl.CR1_METHOD
    test = "paired cluster-robust t-test" if paired else "cluster-robust t-test"
    correlation = (cl.arm_correlation(arms.n_a, arms.s_a, arms.n_b, arms.s_b)
                   if paired else None)
    unpaired = float(moments.unpaired_variance)
    gain = unpaired / variance if paired and variance > 0 and unpaired > 0 else None
    unpaired_test = None
    if paired:
        separate = design.clusters_a + design.clusters_b
        u_stat, u_p = cl.t_test(d, unpaired, separate - 1)
        unpaired_test = (float(u_stat), float(u_p))
    naive = float(moments.naive_variance)
    if variance <= 0.0 and abs(d) > 1e-12:
        # Every execution matched its arm's rate (e.g. 0 % against 100 %): no
        # spread to estimate a variance from; the pooled test still has one.
        z, z_p = pooled
        low, high = difference_interval(int(arms.s_b.sum()), arms.total_b,
                                        int(arms.s_a.sum()), arms.total_a, alpha)
        notes.append("no execution differs from its arm's rate, so the cluster-robust "
                     "variance is 0: the pooled z-test and its score interval decide")
        return DesignTest(design, "pooled z-test", POOLED_METHOD, z, z_p, z_p, None, low, high,
                          DIFFERENCE_CI_METHOD, naive, naive, *pooled, correlation=correlation,
                          notes=tuple(notes))
    statistic, p = cl.t_test(d, variance, df)
    half = cl.t_critical(alpha, df) * math.sqrt(max(variance, 0.0))
    return DesignTest(
        design, test, method, float(statistic), float(p), float(p), df,
        max(-1.0, d - half), min(1.0, d + half), cl.WALD_T_CI_METHOD, variance, naive, *pooled,
        correlation=correlation, gain=gain, unpaired=unpaired_test, notes=tuple(notes))


def design_test(arms: PromptArms, *, alpha: float = 0.05) -> DesignTest:
    """Detect the design of ``arms`` and run its test of ``rate_b - rate_a``."""
    design = detect_design(arms)
    x_a, n_a = int(arms.s_a.sum()), arms.total_a
    x_b, n_b = int(arms.s_b.sum()), arms.total_b
    if n_a <= 0 or n_b <= 0:
        raise ValueError("design_test needs executions in both arms")
    pooled = pooled_test(x_a, n_a, x_b, n_b)
    rate_a, rate_b = x_a / n_a, x_b / n_b
    naive = rate_a * (1 - rate_a) / n_a + rate_b * (1 - rate_b) / n_b
    if design.kind == "independent":
        return _independent(design, x_a, n_a, x_b, n_b, alpha, naive, pooled)
    moments = cl.clustered_difference(arms.n_a, arms.s_a, arms.n_b, arms.s_b)
    if design.kind == "paired" and design.single_runs and design.complete_pairs:
        return _mcnemar(design, arms, alpha, naive, pooled, float(moments.unpaired_variance))
    return _cluster_robust(design, arms, alpha, moments, pooled)
