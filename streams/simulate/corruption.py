"""Malformed entries for the dead-letter path: one way to break an event per kind."""

from __future__ import annotations

import time

from rev_analytics.core.event import SCHEMA_VERSION

INVALID_KINDS: tuple[str, ...] = (
    "missing_template_id",
    "empty_model_id",
    "bad_success",
    "score_out_of_range",
    "negative_execution_time",
    "future_timestamp",
    "metadata_not_json",
    "difficulty_out_of_range",
    "newer_schema_version",
    "control_character_in_prompt_id",
    "prompt_id_too_long",
)
"""The kinds of malformed entries the workload can inject."""


def corrupt(fields: dict[str, str], kind: str) -> None:
    """Break the wire entry ``fields`` in place the way ``kind`` says."""
    if kind == "missing_template_id":
        del fields["template_id"]
    elif kind == "empty_model_id":
        fields["model_id"] = ""
    elif kind == "bad_success":
        fields["success"] = "maybe"
    elif kind == "score_out_of_range":
        fields["quality_score"] = "1.7"
    elif kind == "negative_execution_time":
        fields["execution_time"] = "-3.2"
    elif kind == "future_timestamp":
        fields["timestamp"] = repr(time.time() + 3 * 86400.0)
    elif kind == "metadata_not_json":
        fields["metadata"] = "{not json"
    elif kind == "difficulty_out_of_range":
        fields["difficulty_level"] = "9"
    elif kind == "newer_schema_version":
        fields["schema_version"] = str(SCHEMA_VERSION + 98)
    elif kind == "control_character_in_prompt_id":
        fields["prompt_id"] = fields["prompt_id"] + "\x07"
    elif kind == "prompt_id_too_long":
        fields["prompt_id"] = fields["prompt_id"] + "/" + "x" * 300
    else:
        raise ValueError(f"unknown corruption kind {kind!r}")
