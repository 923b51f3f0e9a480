"""Always-valid p-values for an A/B test watched while data arrives (mSPRT).

A fixed-sample z-test is only valid if you look once, at a sample size chosen
in advance; checking it every hour and stopping at the first p < 0.05 inflates
the false-positive rate far above 5 %. The mixture sequential probability ratio
test (Johari, Pekelis, Walsh 2017, normal mixture over the difference with
standard deviation ``tau``) gives a p-value that stays valid under continuous
monitoring: p_t = min(1, min over s <= t of 1/Lambda_s).

The difference of proportions is treated as approximately normal with the
pooled (null) variance, so the first ``min_per_arm`` executions of each arm
are not evaluated. Where prompts repeat, executions are not independent: the
caller passes the design effect of the fixed-sample test as
``variance_inflation`` and every look's variance is multiplied by it. That
effect is estimated from all the data, so the guarantee is approximate then
(``method`` says so).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from analytics.jsonsafe import jsonable

METHOD = "mSPRT, normal mixture (Johari et al. 2017), pooled variance"
INFLATED_METHOD = (
    METHOD + " x design effect {inflation:.3g} (prompts repeat; the effect is estimated "
    "from all the data, so the always-valid guarantee is approximate)"
)


@dataclass(frozen=True, slots=True)
class SequentialResult:
    """Outcome of monitoring the A/B difference continuously in event-time order.

    ``looks`` counts the executions after which the p-value was evaluated
    (every one once both arms had ``min_per_arm``); ``decided_at`` is the event
    time at which the always-valid p-value first fell below ``alpha``.
    """

    p_value: float
    significant: bool
    alpha: float
    tau: float
    looks: int
    decided_at: pd.Timestamp | None
    method: str = METHOD

    def to_dict(self) -> dict[str, Any]:
        return jsonable({
            "method": self.method, "always_valid_p_value": self.p_value,
            "significant": self.significant, "alpha": self.alpha, "tau": self.tau,
            "looks": self.looks, "decided_at": self.decided_at,
        })


def always_valid_p_values(
    is_b: ArrayLike, success: ArrayLike, *, tau: float, min_per_arm: int = 20,
    variance_inflation: float = 1.0,
) -> np.ndarray:
    """The running always-valid p-value after each execution (in the order given).

    Entries before both arms have ``min_per_arm`` executions are 1. Each
    look's variance is multiplied by ``variance_inflation`` (a design effect).
    """
    arm_b = np.asarray(is_b, dtype=bool)
    won = np.asarray(success, dtype=bool)
    n_b = np.cumsum(arm_b)
    n_a = np.cumsum(~arm_b)
    s_b = np.cumsum(won & arm_b)
    s_a = np.cumsum(won & ~arm_b)
    ready = (n_a >= min_per_arm) & (n_b >= min_per_arm)
    with np.errstate(divide="ignore", invalid="ignore"):
        diff = s_b / n_b - s_a / n_a
        pooled = (s_a + s_b) / (n_a + n_b)
        variance = variance_inflation * pooled * (1.0 - pooled) * (1.0 / n_a + 1.0 / n_b)
        tau_sq = tau * tau
        log_lambda = 0.5 * np.log(variance / (variance + tau_sq)) + (
            tau_sq * diff * diff / (2.0 * variance * (variance + tau_sq))
        )
    # A zero variance (all successes or all failures so far) carries no evidence.
    log_lambda = np.where(ready & (variance > 0), log_lambda, 0.0)
    p_each = np.exp(-np.maximum(log_lambda, 0.0))
    return np.minimum.accumulate(np.minimum(p_each, 1.0))


def sequential_test(
    frame: pd.DataFrame, b_arm: str, *, column: str = "template_id", alpha: float = 0.05,
    tau: float = 0.05, min_per_arm: int = 20, variance_inflation: float = 1.0,
) -> SequentialResult:
    """mSPRT over ``frame`` (two arms' executions of ``column``) ordered by event time."""
    if not (math.isfinite(variance_inflation) and variance_inflation > 0):
        raise ValueError(f"variance_inflation must be positive, got {variance_inflation}")
    ordered = frame.sort_values("timestamp", kind="stable") if "timestamp" in frame else frame
    is_b = (ordered[column] == b_arm).to_numpy()
    p_values = always_valid_p_values(
        is_b, ordered["success"].to_numpy(), tau=tau, min_per_arm=min_per_arm,
        variance_inflation=variance_inflation,
    )
    final = float(p_values[-1]) if len(p_values) else 1.0
    crossed = np.flatnonzero(p_values < alpha)
    decided_at = None
    if len(crossed) and "timestamp" in ordered:
        decided_at = pd.Timestamp(ordered["timestamp"].iloc[int(crossed[0])])
    n_b = np.cumsum(is_b)
    n_a = np.arange(1, len(is_b) + 1) - n_b
    looks = int(np.count_nonzero((n_b >= min_per_arm) & (n_a >= min_per_arm)))
    return SequentialResult(
        p_value=final, significant=final < alpha, alpha=alpha, tau=tau,
        looks=looks, decided_at=decided_at,
        method=METHOD if variance_inflation == 1.0 else INFLATED_METHOD.format(
            inflation=variance_inflation),
    )
