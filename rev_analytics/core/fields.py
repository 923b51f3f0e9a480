"""How one field of the event is described: its kind, its bounds, where it comes from.

The event itself (:class:`rev_analytics.core.event.PromptEvent`) annotates each
of its fields with a :class:`Field`; :func:`fields_of` reads those annotations
back. Everything that needs to know the event's fields derives them from
there: the decoder's rules and its compiled fast path, the encoder, the DDL of
each store, the Arrow schema, the loaders and the exports.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace
from typing import Any, get_args, get_type_hints

MAX_TEXT_LENGTH = 256
"""Longest id or text value, in characters (CONTRACT.md section 1)."""
MAX_METADATA_BYTES = 64 * 1024
MAX_INTEGER = 2**63 - 1
"""Both stores keep integers as signed 64-bit values."""


class Kind(enum.Enum):
    """What a field holds, which decides its wire rules and its storage types."""

    ID = "id"
    """Non-empty text of at most 256 characters without control characters."""
    TEXT = "text"
    """Text of at most 256 characters."""
    BOOL = "bool"
    """``1``/``0``/``true``/``false`` on the wire; 0/1 in the store."""
    INT = "int"
    """A plain ASCII decimal integer within the field's bounds."""
    FLOAT = "float"
    """A finite decimal number within the field's bounds."""
    TIME = "time"
    """RFC 3339 with an offset, or Unix epoch seconds, on the wire; integer
    microseconds since the Unix epoch (UTC) in the event and the store."""
    JSON = "json"
    """The compact text of a JSON object of at most 64 KiB."""


class Origin(enum.Enum):
    """Who supplies a field's value."""

    WIRE = "wire"
    """The producer, as a field of the stream entry."""
    ENTRY = "entry"
    """The stream entry itself (its ID), never a wire field."""
    STORE = "store"
    """The store, when it writes the row."""


@dataclass(frozen=True, slots=True)
class Field:
    """One field: ``kind``, wire bounds, whether producers must send it, and why it exists."""

    kind: Kind
    doc: str
    required: bool = False
    low: float | None = None
    high: float | None = None
    origin: Origin = Origin.WIRE
    name: str = ""
    """Filled in by :func:`fields_of` from the attribute the annotation is on."""

    @property
    def nullable(self) -> bool:
        """Whether the stored column may be NULL (the event has no value for it)."""
        return not self.required and self.name not in _ALWAYS_SET

    def with_name(self, name: str) -> Field:
        return replace(self, name=name)


# Optional on the wire, but the decoder always fills them (from the entry ID,
# the entry's time, or the current schema version), so the stored column is NOT NULL.
_ALWAYS_SET = frozenset({"event_id", "timestamp", "schema_version", "ingested_at"})


def fields_of(record: type[Any]) -> tuple[Field, ...]:
    """The :class:`Field` annotations of a NamedTuple's fields, in field order, named."""
    hints = get_type_hints(record, include_extras=True)
    found: list[Field] = []
    for name in record._fields:
        specs = [arg for arg in get_args(hints[name])[1:] if isinstance(arg, Field)]
        if len(specs) != 1:
            raise TypeError(f"{record.__name__}.{name} needs exactly one Field annotation")
        found.append(specs[0].with_name(name))
    return tuple(found)
