"""How many prompts, and how many runs of each, a comparison needs.

With prompts of different difficulty, the variance of an arm's success rate
over P prompts run K times each is p (1 - p) (1 + (K - 1) ICC) / (P K)
(Kish's design effect; the ICC is the share of the variance that lies between
prompts). More runs of the same prompts shrink only the within-prompt part:
however large K, the variance never falls below ICC p (1 - p) / P, so past a
point only more prompts help (Miller, arXiv 2411.00640, section 5).

For two arms on different prompts (two templates) the variances add. On the
same prompts (two models) the covariance of the arms' per-prompt rates is
subtracted twice: with ``prompt_correlation`` R (how alike the arms find the
prompts, 1 = the same prompts are hard for both), cov = R ICC sqrt(p_a q_a p_b q_b).

The number of prompts solves (t_{1-alpha/2} + t_{power})^2 Var = effect^2 with
the t reference of the cluster-robust test (df = prompts - 1 in both arms),
iterated from the normal approximation. :func:`measure` takes the rate, ICC and
runs per prompt from per-prompt counts of the store.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import norm
from scipy.stats import t as t_dist

from analytics import clustered as cl
from analytics.jsonsafe import jsonable
from rev_analytics.core.errors import AnalysisError

RUNS_GRID: tuple[int, ...] = (1, 2, 5, 10, 20, 50)
METHOD = (
    "two-sided cluster-robust t-test at the prompt level: per-arm variance "
    "p(1-p)(1+(K-1)ICC)/(P K), paired arms minus 2 cov; t(df) quantiles iterated"
)


@dataclass(frozen=True, slots=True)
class PlanInputs:
    """What the plan assumes; ``sources`` says which came from the store and which from flags."""

    rate: float
    icc: float
    runs_per_prompt: float | None = None
    prompts_per_arm: int | None = None
    prompt_correlation: float | None = None
    sources: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return jsonable({name: getattr(self, name) for name in self.__slots__})


@dataclass(frozen=True, slots=True)
class PlanOption:
    """One way to get the power: ``prompts_per_arm`` prompts, each run ``runs_per_prompt`` times."""

    runs_per_prompt: int
    prompts_per_arm: int
    executions_per_arm: int
    design_effect: float

    def to_dict(self) -> dict[str, Any]:
        return jsonable({name: getattr(self, name) for name in self.__slots__})


@dataclass(frozen=True, slots=True)
class Plan:
    """Sample sizes for detecting ``effect`` and what the data at hand can detect."""

    effect: float
    alpha: float
    power: float
    paired: bool
    inputs: PlanInputs
    options: tuple[PlanOption, ...]
    minimum_prompts_per_arm: int
    """Prompts needed even with unlimited runs per prompt (the between-prompt floor)."""
    minimum_detectable_effect: float | None
    """At the measured prompts and runs per prompt; ``None`` without them."""
    notes: tuple[str, ...] = ()
    method: str = METHOD

    def to_dict(self) -> dict[str, Any]:
        return jsonable({
            "effect": self.effect, "alpha": self.alpha, "power": self.power,
            "design": "paired" if self.paired else "clustered", "method": self.method,
            "inputs": self.inputs.to_dict(), "options": [o.to_dict() for o in self.options],
            "minimum_prompts_per_arm": self.minimum_prompts_per_arm,
            "minimum_detectable_effect": self.minimum_detectable_effect,
            "notes": list(self.notes),
        })


def _per_prompt_variance(rate: float, icc: float, runs: float) -> float:
    """Variance of one prompt's observed rate over ``runs`` runs (between + within)."""
    return rate * (1.0 - rate) * (icc + (1.0 - icc) / runs)


def difference_variance(
    rate_a: float, rate_b: float, *, icc: float, runs: float, prompts: float,
    prompt_correlation: float | None = None,
) -> float:
    """Variance of ``rate_b - rate_a`` with ``prompts`` per arm run ``runs`` times each.

    ``runs = inf`` gives the between-prompt floor. ``prompt_correlation`` set:
    both arms on the same prompts.
    """
    var_a = _per_prompt_variance(rate_a, icc, runs)
    var_b = _per_prompt_variance(rate_b, icc, runs)
    total = var_a + var_b
    if prompt_correlation is not None:
        total -= 2.0 * prompt_correlation * icc * math.sqrt(
            rate_a * (1 - rate_a) * rate_b * (1 - rate_b))
    return max(total, 0.0) / prompts


def _prompts_needed(effect: float, per_prompt: float, alpha: float, power: float,
                    paired: bool) -> int:
    """Smallest P with (t_{1-a/2} + t_power)^2 per_prompt / P <= effect^2."""
    z = norm.ppf(1.0 - alpha / 2.0) + norm.ppf(power)
    prompts = max(2.0, z * z * per_prompt / (effect * effect))
    for _ in range(20):
        df = max(prompts - 1.0 if paired else 2.0 * prompts - 1.0, 1.0)
        t = t_dist.ppf(1.0 - alpha / 2.0, df) + t_dist.ppf(power, df)
        updated = max(2.0, t * t * per_prompt / (effect * effect))
        if abs(updated - prompts) < 1e-6:
            break
        prompts = updated
    return math.ceil(prompts - 1e-9)


def power_of(
    effect: float, *, rate: float, icc: float, runs: float, prompts: int,
    alpha: float = 0.05, prompt_correlation: float | None = None,
) -> float:
    """Power of the two-sided cluster-robust t-test (noncentral approximation)."""
    rate_b = min(max(rate + effect, 0.0), 1.0)
    variance = difference_variance(rate, rate_b, icc=icc, runs=runs, prompts=prompts,
                                   prompt_correlation=prompt_correlation)
    if variance <= 0:
        return 1.0
    df = prompts - 1 if prompt_correlation is not None else 2 * prompts - 1
    shift = abs(effect) / math.sqrt(variance)
    critical = t_dist.ppf(1.0 - alpha / 2.0, df)
    return float(t_dist.sf(critical - shift, df) + t_dist.cdf(-critical - shift, df))


def plan(
    effect: float, inputs: PlanInputs, *, alpha: float = 0.05, power: float = 0.8,
    runs_grid: tuple[int, ...] = RUNS_GRID, paired: bool = False,
) -> Plan:
    """Prompts per arm for each runs-per-prompt choice, to detect ``effect`` (rate points)."""
    if not 0.0 < effect < 1.0:
        raise AnalysisError(f"effect must be between 0 and 1 (a difference in success "
                            f"rate), got {effect}")
    if not 0.0 < alpha < 1.0 or not 0.0 < power < 1.0:
        raise AnalysisError("alpha and power must be between 0 and 1")
    if not 0.0 < inputs.rate < 1.0:
        raise AnalysisError(f"the baseline rate must be strictly between 0 and 1, got "
                            f"{inputs.rate}")
    if not 0.0 <= inputs.icc <= 1.0:
        raise AnalysisError(f"the ICC must be in [0, 1], got {inputs.icc}")
    correlation = inputs.prompt_correlation if paired else None
    if paired and correlation is None:
        raise AnalysisError("a paired plan needs the prompt correlation between the arms")
    if correlation is not None and not -1.0 <= correlation <= 1.0:
        raise AnalysisError(f"the prompt correlation must be in [-1, 1], got {correlation}")
    rate_a = inputs.rate
    notes = []
    rate_b = rate_a + effect
    if rate_b >= 1.0:
        rate_b = rate_a - effect
        if rate_b <= 0.0:
            raise AnalysisError(f"no rate differs from {rate_a:.0%} by {effect:.0%}")
        notes.append(f"{rate_a:.0%} + {effect:.0%} reaches 100 %: planned for a drop instead")
    grid = sorted({*runs_grid, *(
        [max(1, round(inputs.runs_per_prompt))] if inputs.runs_per_prompt else [])})
    options = []
    for runs in grid:
        per_prompt = difference_variance(rate_a, rate_b, icc=inputs.icc, runs=runs, prompts=1,
                                         prompt_correlation=correlation)
        prompts = _prompts_needed(effect, per_prompt, alpha, power, paired)
        options.append(PlanOption(runs, prompts, prompts * runs,
                                  cl.design_effect(runs, inputs.icc)))
    floor_variance = difference_variance(rate_a, rate_b, icc=inputs.icc, runs=math.inf,
                                         prompts=1, prompt_correlation=correlation)
    floor = _prompts_needed(effect, floor_variance, alpha, power, paired) if (
        floor_variance > 0) else 2
    if inputs.prompts_per_arm is not None and options and min(
            o.prompts_per_arm for o in options) > inputs.prompts_per_arm:
        notes.append(f"every option needs more than the {inputs.prompts_per_arm} prompts the "
                     "data has per arm: write more prompts; more runs of the same ones "
                     f"cannot get below {floor} per arm")
    mde = None
    if inputs.prompts_per_arm and inputs.runs_per_prompt:
        mde = minimum_detectable_effect(
            rate=rate_a, icc=inputs.icc, runs=inputs.runs_per_prompt,
            prompts=inputs.prompts_per_arm, alpha=alpha, power=power,
            prompt_correlation=correlation)
    return Plan(effect, alpha, power, paired, inputs, tuple(options), floor, mde, tuple(notes))


def minimum_detectable_effect(
    *, rate: float, icc: float, runs: float, prompts: int, alpha: float = 0.05,
    power: float = 0.8, prompt_correlation: float | None = None,
) -> float:
    """The smallest increase over ``rate`` detected with ``power`` (solved by bisection)."""
    low, high = 1e-6, 1.0 - rate - 1e-9
    if high <= low or power_of(high, rate=rate, icc=icc, runs=runs, prompts=prompts,
                               alpha=alpha, prompt_correlation=prompt_correlation) < power:
        return float(high)
    for _ in range(60):
        mid = (low + high) / 2.0
        reached = power_of(mid, rate=rate, icc=icc, runs=runs, prompts=prompts, alpha=alpha,
                           prompt_correlation=prompt_correlation) >= power
        low, high = (low, mid) if reached else (mid, high)
    return float(high)


def measure(counts: pd.DataFrame, *, paired_models: tuple[str, str] | None = None
            ) -> PlanInputs:
    """Rate, ICC, runs per prompt and prompts per template from per-prompt counts.

    ``counts`` has ``template_id``, ``prompt_id``, ``n``, ``successes`` (and
    ``model_id`` for ``paired_models``). The ICC is measured within templates
    (a template's prompts are the clusters of an A/B test); ``prompts_per_arm``
    is the median number of prompts per template. With ``paired_models`` the
    prompt correlation between those two models is measured too: the covariance
    of their per-prompt rates (unbiased for the true covariance, the arms'
    binomial noise being independent) over the between-prompt variances.
    """
    if counts.empty or counts["n"].sum() == 0:
        raise AnalysisError("no executions to measure the rate and ICC from")
    per_prompt = counts.groupby(["template_id", "prompt_id"], observed=True)[
        ["n", "successes"]].sum().reset_index()
    n = per_prompt["n"].to_numpy(dtype=float)
    s = per_prompt["successes"].to_numpy(dtype=float)
    strata = pd.factorize(per_prompt["template_id"])[0]
    icc = cl.intraclass_correlation(n, s, strata)
    if icc is None:
        raise AnalysisError("no prompt ran more than once: the ICC cannot be measured; "
                            "give --icc")
    rate = float(s.sum() / n.sum())
    prompts = int(per_prompt.groupby("template_id", observed=True).size().median())
    correlation = None
    if paired_models is not None:
        correlation = _prompt_correlation(counts, paired_models)
    return PlanInputs(rate=rate, icc=icc, runs_per_prompt=float(n.sum() / n.size),
                      prompts_per_arm=prompts, prompt_correlation=correlation,
                      sources={"rate": "store", "icc": "store", "runs_per_prompt": "store",
                               "prompts_per_arm": "store",
                               **({"prompt_correlation": "store"} if correlation is not None
                                  else {})})


def _prompt_correlation(counts: pd.DataFrame, models: tuple[str, str]) -> float:
    rows = counts[counts["model_id"].isin(models)]
    table = rows.pivot_table(index="prompt_id", columns="model_id", values=["n", "successes"],
                             aggfunc="sum", fill_value=0)
    if any(model not in table["n"] for model in models):
        raise AnalysisError(f"models {models[0]!r} and {models[1]!r} share no prompts in range")
    n_a, n_b = (table["n"][m].to_numpy(dtype=float) for m in models)
    s_a, s_b = (table["successes"][m].to_numpy(dtype=float) for m in models)
    shared = (n_a > 0) & (n_b > 0)
    if np.count_nonzero(shared) < 3:
        raise AnalysisError("fewer than three prompts ran on both models: the prompt "
                            "correlation cannot be measured; give --prompt-correlation")
    rate_a, rate_b = s_a[shared] / n_a[shared], s_b[shared] / n_b[shared]
    covariance = float(np.cov(rate_a, rate_b)[0, 1])
    between = []
    for n_arm, s_arm in ((n_a[shared], s_a[shared]), (n_b[shared], s_b[shared])):
        icc = cl.intraclass_correlation(n_arm, s_arm)
        if icc is None:
            raise AnalysisError("the prompt correlation needs prompts run more than once per "
                                "model; give --prompt-correlation")
        p = s_arm.sum() / n_arm.sum()
        between.append(icc * p * (1 - p))
    if min(between) <= 0:
        return 0.0
    return float(min(1.0, max(-1.0, covariance / math.sqrt(between[0] * between[1]))))
