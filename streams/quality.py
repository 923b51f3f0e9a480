"""The composite ``quality_score`` of one execution, as the design document defines it.

The REV integration of the design document scores an execution as a weighted
mean of four parts: success (0.4), Merkle verification confidence (0.3),
behavioural-analysis score (0.2) and efficiency (0.1, ``1 - seconds / 60``
for executions that took between 0 and 60 s). A part that is unknown is left
out and the remaining weights are renormalised, so a missing analysis does not
read as a bad one.

Because ``success`` is part of it, ``quality_score`` must never be used as a
feature to *predict* success (target leakage); it is a summary, not a cause.
Both the producer's REV mapping and the simulator use this module, so stored
scores mean the same thing whichever way they were produced.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

WEIGHT_SUCCESS = 0.4
WEIGHT_VERIFICATION = 0.3
WEIGHT_BEHAVIORAL = 0.2
WEIGHT_EFFICIENCY = 0.1
EFFICIENCY_HORIZON_SECONDS = 60.0


def composite_quality(
    success: bool,
    verification_confidence: float | None = None,
    behavioral_score: float | None = None,
    execution_time: float | None = None,
) -> float:
    """The weighted quality score in [0, 1] of one execution (parts may be ``None``)."""
    total = WEIGHT_SUCCESS * (1.0 if success else 0.0)
    weight = WEIGHT_SUCCESS
    if verification_confidence is not None:
        total += WEIGHT_VERIFICATION * verification_confidence
        weight += WEIGHT_VERIFICATION
    if behavioral_score is not None:
        total += WEIGHT_BEHAVIORAL * behavioral_score
        weight += WEIGHT_BEHAVIORAL
    if (
        execution_time is not None
        and math.isfinite(execution_time)
        and 0.0 < execution_time < EFFICIENCY_HORIZON_SECONDS
    ):
        total += WEIGHT_EFFICIENCY * (1.0 - execution_time / EFFICIENCY_HORIZON_SECONDS)
        weight += WEIGHT_EFFICIENCY
    return min(1.0, max(0.0, total / weight))


def composite_quality_array(
    success: npt.NDArray[np.bool_],
    verification_confidence: npt.NDArray[np.float64],
    behavioral_score: npt.NDArray[np.float64],
    execution_time: npt.NDArray[np.float64],
) -> npt.NDArray[np.float64]:
    """:func:`composite_quality` over arrays; NaN marks an unknown part."""
    total = WEIGHT_SUCCESS * success.astype(np.float64)
    weight = np.full(success.shape, WEIGHT_SUCCESS)
    for values, part_weight in (
        (verification_confidence, WEIGHT_VERIFICATION),
        (behavioral_score, WEIGHT_BEHAVIORAL),
    ):
        known = ~np.isnan(values)
        total += np.where(known, part_weight * np.nan_to_num(values), 0.0)
        weight += np.where(known, part_weight, 0.0)
    in_horizon = (execution_time > 0.0) & (execution_time < EFFICIENCY_HORIZON_SECONDS)
    efficiency = 1.0 - np.nan_to_num(execution_time) / EFFICIENCY_HORIZON_SECONDS
    total += np.where(in_horizon, WEIGHT_EFFICIENCY * efficiency, 0.0)
    weight += np.where(in_horizon, WEIGHT_EFFICIENCY, 0.0)
    return np.clip(total / weight, 0.0, 1.0)
