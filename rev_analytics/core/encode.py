"""From an event to the flat string fields a producer writes with ``XADD``.

The inverse of :mod:`rev_analytics.core.decode`, field by field of
:data:`~rev_analytics.core.event.WIRE_FIELDS` by kind: ``None`` is left out,
booleans become ``1``/``0``, floats keep full precision (``repr``), a
``metadata`` mapping becomes compact JSON and event time becomes RFC 3339 in
UTC. Fields that are not wire fields (``stream_id``) are dropped; unknown
keys of a mapping pass through as text (the consumer keeps them in
``metadata["_extra"]``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from rev_analytics.core.event import FIELD, PromptEvent
from rev_analytics.core.fields import Kind, Origin
from rev_analytics.core.timefmt import micros_from_seconds, rfc3339


def time_text(value: Any) -> Any:
    """RFC 3339 for an aware datetime; text is left for the decoder to judge.

    Numbers in a :class:`PromptEvent` are microseconds; in a mapping (what
    people pass to a producer) they are Unix seconds, as on the wire.
    """
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("timestamp: a datetime needs a timezone (use UTC)")
        return value.isoformat()
    return value


def _is_boolean(value: Any) -> bool:
    # numpy's bool_ is not a bool subclass, but is what REV code often holds.
    return isinstance(value, bool) or getattr(getattr(value, "dtype", None), "kind", "") == "b"


def _text(kind: Kind, value: Any) -> str:
    if _is_boolean(value):
        return "1" if value else "0"
    if isinstance(value, float):
        return repr(value)
    if kind is Kind.JSON and not isinstance(value, str):
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return str(value)


def encode_event(event: PromptEvent | Mapping[str, Any]) -> dict[str, str]:
    """The wire fields of ``event`` (a :class:`PromptEvent` or a mapping of field names)."""
    if isinstance(event, PromptEvent):
        items = event._asdict()
        items["timestamp"] = rfc3339(event.timestamp)
    else:
        items = dict(event)
        moment = items.get("timestamp")
        if isinstance(moment, int | float) and not isinstance(moment, bool):
            items["timestamp"] = rfc3339(micros_from_seconds(moment))
        elif moment is not None:
            items["timestamp"] = time_text(moment)
    out: dict[str, str] = {}
    for name, value in items.items():
        if value is None:
            continue
        field = FIELD.get(name)
        if field is not None and field.origin is not Origin.WIRE:
            continue
        out[name] = _text(field.kind if field else Kind.TEXT, value)
    return out
