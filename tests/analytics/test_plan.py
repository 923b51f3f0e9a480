"""The planner: prompts and runs per prompt for a given power, checked by simulation
with the production cluster-robust test."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy.stats import beta, norm

from analytics import clustered as cl
from analytics.plan import PlanInputs, measure, minimum_detectable_effect, plan, power_of
from rev_analytics.core.errors import AnalysisError

ICC = 0.19  # Beta(mean 0.7, sd 0.2) prompts


def beta_prompts(rng: np.random.Generator, mean: float, icc: float, shape: tuple[int, ...]
                 ) -> np.ndarray:
    total = 1.0 / icc - 1.0  # Beta(a, b) with a + b = 1/ICC - 1 has this ICC at any mean
    return rng.beta(mean * total, (1 - mean) * total, shape)


def correlated_prompts(rng: np.random.Generator, effect: float, latent: float,
                       shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Both arms' per-prompt rates: Beta marginals (ICC 0.19, means 0.7 and 0.7 + effect)
    joined by a Gaussian copula with correlation ``latent``."""
    z = rng.standard_normal((2, *shape))
    z_b = latent * z[0] + np.sqrt(1 - latent**2) * z[1]
    total = 1.0 / ICC - 1.0
    q_a = beta.ppf(norm.cdf(z[0]), 0.7 * total, 0.3 * total)
    q_b = beta.ppf(norm.cdf(z_b), (0.7 + effect) * total, (0.3 - effect) * total)
    return q_a, q_b


def simulated_power(rng: np.random.Generator, prompts: int, runs: int, effect: float, *,
                    paired: bool, reps: int = 2000) -> float:
    n = np.full((reps, prompts), float(runs))
    if paired:
        q_a, q_b = correlated_prompts(rng, effect, 0.9, n.shape)
        s_a, s_b = rng.binomial(runs, q_a), rng.binomial(runs, q_b)
        moments = cl.clustered_difference(n, s_a, n, s_b)
    else:
        s_a = rng.binomial(runs, beta_prompts(rng, 0.7, ICC, n.shape))
        s_b = rng.binomial(runs, beta_prompts(rng, 0.7 + effect, ICC, n.shape))
        zero = np.zeros_like(n)
        moments = cl.clustered_difference(np.c_[n, zero], np.c_[s_a, zero], np.c_[zero, n],
                                          np.c_[zero, s_b])
    p = cl.t_test(moments.difference, moments.variance, moments.df)[1]
    return float(np.mean(p < 0.05))


def test_planned_prompts_give_the_planned_power_in_simulation() -> None:
    rng = np.random.default_rng(21)
    result = plan(0.1, PlanInputs(rate=0.7, icc=ICC), power=0.8)
    option = next(o for o in result.options if o.runs_per_prompt == 10)
    power = simulated_power(rng, option.prompts_per_arm, 10, 0.1, paired=False)
    print(f"\nplan: {option.prompts_per_arm} prompts x 10 runs per arm; simulated power "
          f"{power:.1%} (planned 80 %)")
    assert 0.77 <= power <= 0.86
    # A quarter of those prompts falls well short: the plan is not generous by accident.
    assert simulated_power(rng, option.prompts_per_arm // 4, 10, 0.1, paired=False) < 0.4


def test_paired_plan_matches_simulation_and_needs_fewer_prompts() -> None:
    # Same prompts in both arms, the arms' prompt effects correlated (Gaussian
    # copula 0.9; their Pearson correlation measured on a large sample).
    rng = np.random.default_rng(22)
    q_a, q_b = correlated_prompts(rng, 0.05, 0.9, (200_000,))
    inputs = PlanInputs(rate=0.7, icc=ICC, prompt_correlation=float(np.corrcoef(q_a, q_b)[0, 1]))
    paired = plan(0.05, inputs, paired=True)
    unpaired = plan(0.05, inputs)
    for p_opt, u_opt in zip(paired.options, unpaired.options, strict=True):
        assert p_opt.prompts_per_arm < u_opt.prompts_per_arm
    option = next(o for o in paired.options if o.runs_per_prompt == 5)
    power = simulated_power(rng, option.prompts_per_arm, 5, 0.05, paired=True)
    print(f"\npaired plan: {option.prompts_per_arm} prompts x 5 runs; simulated power "
          f"{power:.1%} (planned 80 %)")
    assert 0.75 <= power <= 0.87


def test_more_runs_cannot_replace_prompts() -> None:
    result = plan(0.05, PlanInputs(rate=0.7, icc=ICC, prompts_per_arm=100))
    prompts = [o.prompts_per_arm for o in result.options]
    assert prompts == sorted(prompts, reverse=True)
    z = norm.ppf(0.975) + norm.ppf(0.8)
    floor = z * z * ICC * (0.7 * 0.3 + 0.75 * 0.25) / 0.05**2
    assert result.minimum_prompts_per_arm == pytest.approx(floor, rel=0.03)
    assert all(p >= result.minimum_prompts_per_arm for p in prompts)
    assert any("write more prompts" in note for note in result.notes)


def test_no_prompt_correlation_and_one_run_is_the_classic_sample_size() -> None:
    result = plan(0.1, PlanInputs(rate=0.5, icc=0.0), runs_grid=(1,))
    classic = (norm.ppf(0.975) + norm.ppf(0.8)) ** 2 * (0.25 + 0.6 * 0.4) / 0.01
    # The t(2P - 1) quantiles add at most one prompt at this size.
    assert result.options[0].prompts_per_arm - math.ceil(classic) in (0, 1)


def test_minimum_detectable_effect_is_where_power_reaches_the_target() -> None:
    mde = minimum_detectable_effect(rate=0.7, icc=ICC, runs=20, prompts=50)
    assert power_of(mde, rate=0.7, icc=ICC, runs=20, prompts=50) == pytest.approx(0.8, abs=1e-4)
    result = plan(0.05, PlanInputs(rate=0.7, icc=ICC, runs_per_prompt=20, prompts_per_arm=50))
    assert result.minimum_detectable_effect == pytest.approx(mde)
    assert 20 in [o.runs_per_prompt for o in result.options]


def test_measure_recovers_rate_icc_and_runs_from_counts() -> None:
    rng = np.random.default_rng(23)
    rows = []
    for template, mean in (("t1", 0.6), ("t2", 0.8)):
        q = beta_prompts(rng, mean, ICC, (400,))
        for prompt, value in enumerate(q):
            for model in ("m_a", "m_b"):
                rows.append((template, model, f"{template}:{prompt}", 6,
                             int(rng.binomial(6, value))))
    counts = pd.DataFrame(rows, columns=["template_id", "model_id", "prompt_id", "n",
                                         "successes"])
    inputs = measure(counts, paired_models=("m_a", "m_b"))
    assert inputs.icc == pytest.approx(ICC, abs=0.03)
    assert inputs.runs_per_prompt == 12.0 and inputs.prompts_per_arm == 400
    assert inputs.rate == pytest.approx(0.7, abs=0.02)
    assert inputs.prompt_correlation == pytest.approx(1.0, abs=0.15)  # same q for both
    assert inputs.sources["icc"] == "store"


@pytest.mark.parametrize("bad", [
    {"effect": 0.0}, {"effect": 1.2}, {"rate": 1.0}, {"icc": 1.5}, {"alpha": 0.0},
])
def test_bad_plan_inputs_are_analysis_errors(bad: dict[str, float]) -> None:
    args = {"effect": 0.05, "rate": 0.7, "icc": 0.1, "alpha": 0.05} | bad
    with pytest.raises(AnalysisError):
        plan(args["effect"], PlanInputs(rate=args["rate"], icc=args["icc"]),
             alpha=args["alpha"])
    with pytest.raises(AnalysisError, match="prompt correlation"):
        plan(0.05, PlanInputs(rate=0.7, icc=0.1), paired=True)
