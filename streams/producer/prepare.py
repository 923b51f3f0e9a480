"""One event, made ready for ``XADD``: ids and times fixed, encoded, validated.

Every event gets a time-ordered UUIDv7 ``event_id`` when it has none
(time-ordered ids keep the store's unique index fast, see FINDINGS) and an
event time of the call when it has none, so both are fixed before the first
attempt and a retry re-sends exactly the same fields. Validation uses the
consumer's own decoder, so a producer bug raises :class:`InvalidEventError`
at its source instead of becoming a dead letter later.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any

import uuid6

from rev_analytics.core.decode import decode_fields
from rev_analytics.core.encode import encode_event, time_text
from rev_analytics.core.errors import InvalidEventError
from rev_analytics.core.event import SCHEMA_VERSION, PromptEvent
from rev_analytics.core.timefmt import micros_from_seconds, rfc3339

EventLike = Mapping[str, Any] | PromptEvent
_VERSION_TEXT = str(SCHEMA_VERSION)


def new_event_id() -> str:
    """A new time-ordered UUIDv7, as text."""
    return str(uuid6.uuid7())


def _merge(event: EventLike | None, fields: Mapping[str, Any]) -> dict[str, Any]:
    if event is None:
        merged: dict[str, Any] = {}
    elif isinstance(event, PromptEvent):
        merged = encode_event(event)  # its timestamp is microseconds: spell it out first
    elif isinstance(event, Mapping):
        merged = dict(event)
    else:
        raise TypeError(f"an event is a mapping or a PromptEvent, not {type(event).__name__}")
    merged.update(fields)
    return merged


def prepare(
    event: EventLike | None = None,
    *,
    validate: bool = True,
    now: float | None = None,
    **fields: Any,
) -> tuple[str, dict[str, str]]:
    """The ``event_id`` and the wire fields of one event, ready for ``XADD``.

    Fills in ``event_id`` (UUIDv7), ``timestamp`` (``now``, default the wall
    clock) and ``schema_version`` when absent; accepts ``timestamp`` as a
    tz-aware datetime or Unix seconds and ``metadata`` as a mapping. With
    ``validate`` (the default) the result is checked with the consumer's
    decoder; any broken rule raises :class:`InvalidEventError` naming the field.
    """
    merged = _merge(event, fields)
    clock = time.time() if now is None else now
    if merged.get("event_id") in (None, ""):
        merged["event_id"] = new_event_id()
    if merged.get("timestamp") is None:
        merged["timestamp"] = rfc3339(micros_from_seconds(clock))
    else:
        try:
            merged["timestamp"] = time_text(merged["timestamp"])
        except ValueError as exc:
            raise InvalidEventError("timestamp", str(exc).removeprefix("timestamp: ")) from None
    if merged.get("schema_version") is None:
        merged["schema_version"] = _VERSION_TEXT
    metadata = merged.get("metadata")
    if metadata is not None and not isinstance(metadata, str):
        try:
            merged["metadata"] = json.dumps(
                metadata, separators=(",", ":"), ensure_ascii=False, allow_nan=False
            )
        except (TypeError, ValueError, RecursionError) as exc:
            raise InvalidEventError("metadata", f"is not JSON-serialisable: {exc}") from None
    try:
        # Fields that are already wire text (e.g. from the simulator) need no encoding.
        wire = merged if all(type(v) is str for v in merged.values()) else encode_event(merged)
    except (OverflowError, OSError, ValueError) as exc:
        raise InvalidEventError("timestamp", f"{merged['timestamp']!r} is not a usable time: "
                                f"{exc}") from None
    if validate:
        decode_fields(f"{int(clock * 1000)}-0", wire, now=clock)
    return wire["event_id"], wire
