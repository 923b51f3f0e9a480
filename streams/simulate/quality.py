"""The composite ``quality_score`` over arrays: the simulator's vectorised
:func:`streams.producer.quality.composite_quality` (same weights, same rules)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from streams.producer.quality import (
    EFFICIENCY_HORIZON_SECONDS,
    WEIGHT_BEHAVIORAL,
    WEIGHT_EFFICIENCY,
    WEIGHT_SUCCESS,
    WEIGHT_VERIFICATION,
)


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
