"""The composite ``quality_score`` of one execution, as the design document defines it.

The REV integration of the design document scores an execution as a weighted
mean of four parts: success (0.4), Merkle verification confidence (0.3),
behavioural-analysis score (0.2) and efficiency (0.1, ``1 - seconds / 60``
for executions that took between 0 and 60 s). A part that is unknown is left
out and the remaining weights are renormalised, so a missing analysis does not
read as a bad one.

Because ``success`` is part of it, ``quality_score`` must never be used as a
feature to *predict* success (target leakage); it is a summary, not a cause.
The producer's REV mapping uses it and the simulator its vectorised twin
(:mod:`streams.simulate.quality`), so stored scores mean the same thing
whichever way they were produced.
"""

from __future__ import annotations

import math

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
