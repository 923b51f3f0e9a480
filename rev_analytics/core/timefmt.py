"""Event time: integer microseconds since the Unix epoch (UTC), and its spellings.

Integers because they are exact (a float of seconds cannot hold every
microsecond of this century), sort and compare cheaply in every store, and
convert to Arrow and pandas timestamps without parsing.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

MICROS = 1_000_000
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_MICRO = timedelta(microseconds=1)
MAX_EPOCH_SECONDS = 1e15
"""Beyond this (some 30 million years) epoch seconds are not a time at all."""


def micros_from_datetime(moment: datetime) -> int:
    """Exact microseconds since the epoch of an aware ``moment``."""
    return (moment - EPOCH) // _ONE_MICRO


def micros_from_seconds(seconds: float) -> int:
    """Unix seconds (int or float) as microseconds, rounded to the nearest one."""
    return round(seconds * MICROS)


def datetime_from_micros(micros: int) -> datetime:
    """The aware UTC datetime of ``micros`` (exact)."""
    return EPOCH + timedelta(microseconds=micros)


def rfc3339(micros: int) -> str:
    """``micros`` as RFC 3339 text in UTC, e.g. ``2026-05-30T08:15:30.123456+00:00``."""
    return datetime_from_micros(micros).isoformat()


def entry_id_micros(entry_id: str) -> int:
    """The time (microseconds) at which Redis created the entry ``entry_id``."""
    return int(entry_id.split("-", 1)[0]) * 1000


def parse_event_time(text: str) -> int:
    """An RFC 3339 timestamp (with an offset) or Unix epoch seconds, as microseconds.

    Raises ``ValueError`` with the reason for anything else, including text
    without a UTC offset (a naive time would be a guess) and non-finite numbers.
    """
    text = text.strip()
    if ":" not in text:  # no clock time: epoch seconds (saves a failed float() per ISO text)
        try:
            seconds = float(text)
        except ValueError:
            raise ValueError("must be RFC 3339 or Unix epoch seconds") from None
        if not math.isfinite(seconds):
            raise ValueError("must be finite")
        if abs(seconds) > MAX_EPOCH_SECONDS:
            raise ValueError("is far outside any usable time")
        return micros_from_seconds(seconds)
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError("must be RFC 3339 or Unix epoch seconds") from None
    if parsed.tzinfo is None:
        raise ValueError("needs a UTC offset such as 'Z' or '+02:00'")
    return micros_from_datetime(parsed)


def describe_micros(micros: int) -> str:
    """``micros`` for a message: RFC 3339 when representable, else the raw number."""
    try:
        return rfc3339(micros)
    except (OverflowError, OSError, ValueError):
        return f"{micros / MICROS:g} (epoch seconds)"
