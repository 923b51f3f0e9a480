"""mSPRT: the always-valid p-value survives continuous peeking; a fixed z-test does not."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import norm

from analytics.abtest import ab_test
from analytics.sequential import always_valid_p_values
from tests.analytics._frames import bernoulli


def peeking_z_rejects(is_b: np.ndarray, success: np.ndarray, every: int = 50) -> bool:
    """What people do with a fixed-horizon test: look every ``every`` events, stop at p < .05."""
    n_b, n_a = np.cumsum(is_b), np.cumsum(~is_b)
    s_b, s_a = np.cumsum(success & is_b), np.cumsum(success & ~is_b)
    look = np.arange(every, len(is_b), every)
    pooled = (s_a[look] + s_b[look]) / (n_a[look] + n_b[look])
    var = pooled * (1 - pooled) * (1 / n_a[look] + 1 / n_b[look])
    with np.errstate(divide="ignore", invalid="ignore"):
        z = (s_b[look] / n_b[look] - s_a[look] / n_a[look]) / np.sqrt(var)
    return bool(np.any(2 * norm.sf(np.abs(np.nan_to_num(z))) < 0.05))


def test_always_valid_under_continuous_monitoring() -> None:
    rng = np.random.default_rng(5)
    runs, n = 300, 2000
    msprt_false, peeking_false = 0, 0
    for _ in range(runs):
        is_b = rng.random(n) < 0.5
        success = rng.random(n) < 0.6
        msprt_false += always_valid_p_values(is_b, success, tau=0.05)[-1] < 0.05
        peeking_false += peeking_z_rejects(is_b, success)
    assert msprt_false / runs <= 0.05
    assert peeking_false / runs > 0.12  # why the sequential mode exists


def test_sequential_detects_a_real_effect_and_names_when() -> None:
    frame = bernoulli({("A", "m"): 0.5, ("B", "m"): 0.65}, 1500, seed=2)
    result = ab_test(frame, "A", "B", sequential=True)
    seq = result.sequential
    assert seq is not None and seq.significant and seq.decided_at is not None
    assert frame["timestamp"].min() <= seq.decided_at <= frame["timestamp"].max()
    assert 0 < seq.looks <= len(frame)
    assert seq.p_value >= result.z_p_value  # the price of peeking safely


def test_p_values_are_monotone_and_one_before_enough_data() -> None:
    rng = np.random.default_rng(1)
    p = always_valid_p_values(rng.random(500) < 0.5, rng.random(500) < 0.5, tau=0.1)
    assert np.all(np.diff(p) <= 0) and p[0] == 1.0 and np.all((p > 0) & (p <= 1))


def test_repeated_prompts_inflate_the_variance_by_the_design_effect() -> None:
    # Two templates of 40 prompts x 25 runs, equal in truth, watched in random
    # order: the plain mSPRT counts executions as independent and stops on
    # prompt difficulty; with the fixed-sample test's design effect it holds.
    from analytics import clustered as cl

    rng = np.random.default_rng(6)
    reps, prompts, runs = 1000, 40, 25
    plain = inflated = 0
    for _ in range(reps):
        q = rng.beta(0.7 * 4.25, 0.3 * 4.25, 2 * prompts)
        prompt = np.repeat(np.arange(2 * prompts), runs)
        order = rng.permutation(prompt.size)
        prompt = prompt[order]
        success = rng.random(prompt.size) < q[prompt]
        is_b = prompt >= prompts
        n = np.bincount(prompt, minlength=2 * prompts).astype(float)
        s = np.bincount(prompt, success, minlength=2 * prompts)
        zero = np.zeros(prompts)
        moments = cl.clustered_difference(np.r_[n[:prompts], zero], np.r_[s[:prompts], zero],
                                          np.r_[zero, n[prompts:]], np.r_[zero, s[prompts:]])
        deff = max(1.0, float(moments.variance / moments.naive_variance))
        plain += always_valid_p_values(is_b, success, tau=0.05)[-1] < 0.05
        inflated += always_valid_p_values(is_b, success, tau=0.05,
                                          variance_inflation=deff)[-1] < 0.05
    print(f"\nmSPRT, 40 prompts x 25 runs per arm: false positives {inflated / reps:.1%} "
          f"with the design effect, {plain / reps:.1%} without")
    assert inflated / reps <= 0.05 + 0.015
    assert plain / reps > 0.1


def test_ab_test_passes_its_design_effect_to_the_sequential_test() -> None:
    rng = np.random.default_rng(7)
    frame = bernoulli({("A", "m"): 0.6, ("B", "m"): 0.6}, 1000, seed=8)
    prompt = rng.integers(0, 20, len(frame))
    difficulty = rng.beta(2.0, 1.5, 20)  # prompts differ: success follows the prompt
    frame["success"] = rng.random(len(frame)) < difficulty[prompt]
    frame["prompt_id"] = frame["template_id"] + ":" + pd.Series(prompt).astype(str)
    result = ab_test(frame, "A", "B", sequential=True)
    assert result.sequential is not None and result.design is not None
    assert "design effect" in result.sequential.method
    plain = ab_test(frame.drop(columns="prompt_id"), "A", "B", sequential=True)
    assert plain.sequential is not None and "design effect" not in plain.sequential.method
    assert result.sequential.p_value >= plain.sequential.p_value
