"""The prompt-execution event: its one definition, the table every other stage derives from.

:class:`PromptEvent` is the immutable, validated record that the consumer
stores, the metrics count and the producer validates against. Each of its
fields carries a :class:`~rev_analytics.core.fields.Field` annotation (kind,
bounds, whether producers must send it); :data:`FIELDS` is that table. The
wire rules (CONTRACT.md section 1) live in :mod:`rev_analytics.core.decode`,
the wire spelling in :mod:`rev_analytics.core.encode`, the stores' columns in
:mod:`storage.columns`: all of them read :data:`FIELDS`, so adding a field
means adding one annotated line here (and a storage migration).
"""

from __future__ import annotations

from typing import Annotated, NamedTuple

from rev_analytics.core.fields import MAX_INTEGER, Field, Kind, Origin, fields_of

SCHEMA_VERSION = 1
"""The newest wire schema version this code understands."""


class PromptEvent(NamedTuple):
    """One validated prompt execution.

    A ``NamedTuple``: immutable, cheap to build (the consumer makes tens of
    thousands a second) and, because its field order is the store's column
    order, a row of SQL parameters as it is. ``timestamp`` is event time in
    integer microseconds since the Unix epoch (UTC); ``metadata`` is the
    compact JSON text of an object, or ``None``.
    """

    event_id: Annotated[str, Field(
        Kind.ID, "producer-chosen unique id (UUIDv7/ULID); a retry re-sends it and is stored "
        "once; absent: the stream entry ID")]
    stream_id: Annotated[str | None, Field(
        Kind.ID, "the stream entry ID the event arrived as (None when written directly)",
        origin=Origin.ENTRY)]
    prompt_id: Annotated[str, Field(Kind.ID, "the prompt that was run", required=True)]
    template_id: Annotated[str, Field(
        Kind.ID, "the prompt template it instantiates", required=True)]
    model_id: Annotated[str, Field(Kind.ID, "the model it ran on", required=True)]
    timestamp: Annotated[int, Field(
        Kind.TIME, "event time; absent: the entry ID's time; at most 24 h in the future")]
    success: Annotated[bool, Field(Kind.BOOL, "whether the execution succeeded", required=True)]
    response_length: Annotated[int | None, Field(
        Kind.INT, "length of the response", low=0, high=MAX_INTEGER)] = None
    execution_time: Annotated[float | None, Field(
        Kind.FLOAT, "seconds the execution took", low=0.0)] = None
    discrimination_score: Annotated[float | None, Field(
        Kind.FLOAT, "Merkle verification confidence", low=0.0, high=1.0)] = None
    behavioral_score: Annotated[float | None, Field(
        Kind.FLOAT, "behavioural-analysis score", low=0.0, high=1.0)] = None
    quality_score: Annotated[float | None, Field(
        Kind.FLOAT, "composite quality (contains success: never a predictor of it)",
        low=0.0, high=1.0)] = None
    difficulty_level: Annotated[int | None, Field(
        Kind.INT, "prompt difficulty", low=1, high=5)] = None
    domain: Annotated[str | None, Field(Kind.TEXT, "subject domain of the prompt")] = None
    cost: Annotated[float | None, Field(Kind.FLOAT, "US dollars", low=0.0)] = None
    error_type: Annotated[str | None, Field(Kind.TEXT, "kind of failure, if any")] = None
    response_hash: Annotated[str | None, Field(Kind.TEXT, "hash of the response")] = None
    metadata: Annotated[str | None, Field(
        Kind.JSON, "a JSON object; unknown extra wire fields are kept under its '_extra' key"
    )] = None
    experiment_id: Annotated[str | None, Field(
        Kind.ID, "the REV experiment this execution belongs to")] = None
    schema_version: Annotated[int, Field(
        Kind.INT, "wire schema version; newer than this code understands is refused",
        low=1, high=MAX_INTEGER)] = SCHEMA_VERSION


FIELDS: tuple[Field, ...] = fields_of(PromptEvent)
"""The event's fields in :class:`PromptEvent` (and stored column) order."""
WIRE_FIELDS: tuple[Field, ...] = tuple(f for f in FIELDS if f.origin is Origin.WIRE)
KNOWN_FIELDS: frozenset[str] = frozenset(f.name for f in WIRE_FIELDS)
"""Wire field names; any other field of an entry is an unknown extra (kept in metadata)."""
FIELD: dict[str, Field] = {f.name: f for f in FIELDS}
