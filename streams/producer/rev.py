"""The design document's REV integration: one REV execution result -> event fields."""

from __future__ import annotations

import json
import numbers
from collections.abc import Mapping
from typing import Any

from rev_analytics.core.decode import REASON_MISSING
from rev_analytics.core.errors import InvalidEventError
from streams.producer.quality import composite_quality

_REQUIRED_REV_KEYS = ("prompt_id", "template_id", "model_id", "success")
_PASSED_THROUGH = (
    "execution_time", "difficulty_level", "domain", "cost", "error_type", "response_hash",
    "timestamp", "event_id", "experiment_id",
)


def _score(source: Mapping[str, Any] | None, key: str, part: str) -> float | None:
    if not source:
        return None
    value = source.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise InvalidEventError(part, f"{key} must be a number, got {value!r}")
    return float(value)


def event_from_rev_result(
    rev_result: Mapping[str, Any],
    merkle_verification: Mapping[str, Any] | None = None,
    behavioral_analysis: Mapping[str, Any] | None = None,
    **overrides: Any,
) -> dict[str, Any]:
    """Event fields for one REV prompt execution, the design document's way.

    ``rev_result`` (the REV execution result) must have ``prompt_id``,
    ``template_id``, ``model_id`` and ``success``; it may have
    ``execution_time`` (s), ``response_length`` or else ``response`` (its
    length is used), ``difficulty_level``, ``domain``, ``cost`` (USD),
    ``error_type``, ``response_hash``, ``timestamp`` (tz-aware datetime or
    Unix seconds; default: publish time), ``event_id``, ``experiment_id``, and ``segment_count``
    / ``memory_usage`` (kept in metadata).

    ``merkle_verification`` may have ``verification_confidence`` (becomes
    ``discrimination_score``) and ``tree_depth`` (metadata);
    ``behavioral_analysis`` may have ``overall_score`` (becomes
    ``behavioral_score``) and ``features`` (metadata). ``quality_score`` is the
    composite of :mod:`streams.producer.quality` over the parts that are present.

    Unlike the original integration, a missing part stays *absent* instead of
    becoming 0.0 (no verification is not zero confidence) and a missing id is
    an error instead of ``'unknown'``: raises :class:`InvalidEventError`
    naming the missing key. ``overrides`` replace any resulting field.
    """
    for key in _REQUIRED_REV_KEYS:
        if rev_result.get(key) in (None, ""):
            raise InvalidEventError(
                key, f"rev_result has no {key!r} (needed for the event)", REASON_MISSING
            )
    success = rev_result["success"]
    if isinstance(success, str) or success not in (0, 1):  # bools, 0/1, numpy bools
        raise InvalidEventError("success", f"rev_result success must be a bool, got {success!r}")

    fields: dict[str, Any] = {key: rev_result[key] for key in _REQUIRED_REV_KEYS}
    fields["success"] = bool(success)
    for key in _PASSED_THROUGH:
        if rev_result.get(key) is not None:
            fields[key] = rev_result[key]
    if rev_result.get("response_length") is not None:
        fields["response_length"] = rev_result["response_length"]
    elif rev_result.get("response") is not None:
        fields["response_length"] = len(rev_result["response"])

    confidence = _score(merkle_verification, "verification_confidence", "discrimination_score")
    behavioral = _score(behavioral_analysis, "overall_score", "behavioral_score")
    if confidence is not None:
        fields["discrimination_score"] = confidence
    if behavioral is not None:
        fields["behavioral_score"] = behavioral
    execution_time = _score(rev_result, "execution_time", "execution_time")
    fields["quality_score"] = composite_quality(
        fields["success"], confidence, behavioral, execution_time
    )

    metadata: dict[str, Any] = {}
    for key in ("segment_count", "memory_usage"):
        if rev_result.get(key) is not None:
            metadata[key] = rev_result[key]
    if merkle_verification and merkle_verification.get("tree_depth") is not None:
        metadata["merkle_depth"] = merkle_verification["tree_depth"]
    if behavioral_analysis and behavioral_analysis.get("features"):
        metadata["behavioral_features"] = behavioral_analysis["features"]
    if isinstance(rev_result.get("metadata"), Mapping):
        metadata.update(rev_result["metadata"])
    if metadata:
        try:
            json.dumps(metadata)
        except (TypeError, ValueError) as exc:
            raise InvalidEventError("metadata", f"is not JSON-serialisable: {exc}") from exc
        fields["metadata"] = metadata
    fields.update(overrides)
    return fields
