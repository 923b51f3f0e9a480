"""The stored table's columns, derived from the event's field table.

``prompt_metrics`` holds one row per event: the fields of
:class:`~rev_analytics.core.event.PromptEvent` in that order, plus
``ingested_at`` (when the store wrote it). Each backend maps a field's
:class:`~rev_analytics.core.fields.Kind` to its own column type here, and the
Arrow schema every reader returns (:mod:`storage.arrow`) comes from the same
table, so the DDL, the loaders and the exports can never disagree about a column.
"""

from __future__ import annotations

from rev_analytics.core.event import FIELDS
from rev_analytics.core.fields import Field, Kind, Origin

TABLE = "prompt_metrics"
OUTCOMES_TABLE = "prompt_outcomes"
"""Executions and successes per (template, model, prompt, experiment), kept by the store
in the same transaction as the rows: what A/B tests and model comparisons read."""

INGESTED_AT = Field(Kind.TIME, "when the store wrote the row (arrival, not event time)",
                    origin=Origin.STORE, name="ingested_at")
STORED_FIELDS: tuple[Field, ...] = (*FIELDS, INGESTED_AT)
COLUMNS: tuple[str, ...] = tuple(f.name for f in STORED_FIELDS)
"""Every stored column (the internal row id aside), in table order."""
EVENT_COLUMNS: tuple[str, ...] = tuple(f.name for f in FIELDS)
"""The columns an insert writes: a :class:`PromptEvent` is one row of them as it is."""
STORED: dict[str, Field] = {f.name: f for f in STORED_FIELDS}
TIME_COLUMNS = frozenset(f.name for f in STORED_FIELDS if f.kind is Kind.TIME)
NUMERIC_COLUMNS = tuple(f.name for f in FIELDS if f.kind in (Kind.INT, Kind.FLOAT)
                        and f.origin is Origin.WIRE and f.name != "schema_version")
"""Measurements (analysed as floats, NaN for "not given")."""
OUTCOME_KEYS = ("template_id", "model_id", "prompt_id", "experiment_id")

SQLITE_TYPES: dict[Kind, str] = {
    Kind.ID: "TEXT", Kind.TEXT: "TEXT", Kind.JSON: "TEXT", Kind.BOOL: "INTEGER",
    Kind.INT: "INTEGER", Kind.FLOAT: "REAL", Kind.TIME: "INTEGER",
}
"""SQLite: event time as integer microseconds since the Unix epoch (UTC)."""
POSTGRES_TYPES: dict[Kind, str] = {
    Kind.ID: "text", Kind.TEXT: "text", Kind.JSON: "text", Kind.BOOL: "smallint",
    Kind.INT: "bigint", Kind.FLOAT: "double precision", Kind.TIME: "timestamptz",
}


def column_definitions(types: dict[Kind, str], ingested_default: str) -> list[str]:
    """``name TYPE [NOT NULL] [constraints]`` for every stored column, in table order."""
    lines = []
    for field in STORED_FIELDS:
        parts = [field.name, types[field.kind]]
        if not field.nullable:
            parts.append("NOT NULL")
        if field.name == "event_id":
            parts.append("UNIQUE")
        if field.kind is Kind.BOOL:
            parts.append(f"CHECK ({field.name} IN (0, 1))")
        if field.name == "ingested_at":
            parts.append(f"DEFAULT {ingested_default}")
        if field.name == "schema_version":
            parts.append("DEFAULT 1")
        lines.append(" ".join(parts))
    return lines
