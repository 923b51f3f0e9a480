"""mSPRT: the always-valid p-value survives continuous peeking; a fixed z-test does not."""

from __future__ import annotations

import numpy as np
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
