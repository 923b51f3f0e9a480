"""The wire format: one prompt execution = one Redis Streams entry.

:class:`PromptEvent` is the immutable, validated record every later stage
works with. :func:`decode_entry` is the only way to build one from a stream
entry; it either returns an event or raises :class:`InvalidEventError` whose
message names the field and the rule (that message is what the dead-letter
entry carries). :func:`encode_event` is its inverse, used by producers.

The rules are those of CONTRACT.md section 1; the few places where the
contract is silent are decided here and documented in the README:

* empty strings in *optional* fields mean "absent" (producers in other
  languages often send ``""`` for a missing value);
* timestamps need an explicit UTC offset when given as text, and must lie
  between 2000-01-01 and 24 h into the future;
* unknown extra fields are kept, under ``metadata["_extra"]``, so they can
  never collide with the producer's own metadata keys.
"""

from __future__ import annotations

import json
import math
import re
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, NamedTuple

from rev_analytics.core.errors import InvalidEventError

SCHEMA_VERSION = 1
"""The newest wire schema version this consumer understands."""

MAX_ID_LENGTH = 256
MAX_TEXT_LENGTH = 256
MAX_METADATA_BYTES = 64 * 1024
MAX_FUTURE_SECONDS = 24 * 3600
MIN_TIMESTAMP = datetime(2000, 1, 1, tzinfo=UTC).timestamp()
MAX_INTEGER = 2**63 - 1  # SQLite INTEGER is 64-bit signed
EXTRA_FIELDS_KEY = "_extra"

# Dead-letter reasons are a small fixed set: they become a Prometheus label.
REASON_MISSING = "missing_field"
REASON_INVALID = "invalid_value"
REASON_ENCODING = "bad_encoding"
REASON_TOO_LARGE = "too_large"
REASON_VERSION = "unsupported_schema_version"
DEAD_LETTER_REASONS = (REASON_MISSING, REASON_INVALID, REASON_ENCODING, REASON_TOO_LARGE,
                       REASON_VERSION)

_CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f-\x9f]")
# Python's int()/float() also accept "1_000" and non-ASCII digits such as "٣";
# the wire format is plain ASCII decimal, as every other client writes it.
_INTEGER = re.compile(r"\s*[+-]?[0-9]+\s*", re.ASCII)
_TRUE = frozenset({"1", "true"})
_FALSE = frozenset({"0", "false"})


class PromptEvent(NamedTuple):
    """One validated prompt execution.

    A ``NamedTuple`` rather than a dataclass: it is immutable, cheap to build
    (the consumer makes tens of thousands a second) and unpacks straight into
    SQL parameters. ``timestamp`` is event time in Unix seconds (UTC);
    ``metadata`` is compact JSON text of an object, or ``None``.
    """

    event_id: str
    stream_id: str
    prompt_id: str
    template_id: str
    model_id: str
    timestamp: float
    success: bool
    response_length: int | None = None
    execution_time: float | None = None
    discrimination_score: float | None = None
    behavioral_score: float | None = None
    quality_score: float | None = None
    difficulty_level: int | None = None
    domain: str | None = None
    cost: float | None = None
    error_type: str | None = None
    response_hash: str | None = None
    metadata: str | None = None
    schema_version: int = SCHEMA_VERSION


# Field names of the wire format, in the order producers write them.
KNOWN_FIELDS = frozenset(
    {
        "schema_version", "event_id", "prompt_id", "template_id", "model_id", "success",
        "timestamp", "response_length", "execution_time", "discrimination_score",
        "behavioral_score", "quality_score", "difficulty_level", "domain", "error_type",
        "response_hash", "cost", "metadata",
    }
)
_OPTIONAL_FLOAT_FIELDS = ("execution_time", "cost")
_SCORE_FIELDS = ("discrimination_score", "behavioral_score", "quality_score")
_OPTIONAL_TEXT_FIELDS = ("domain", "error_type", "response_hash")


def entry_id_seconds(entry_id: str) -> float:
    """The Unix time (seconds) at which Redis created the entry ``entry_id``."""
    return int(entry_id.split("-", 1)[0]) / 1000.0


def _as_text(name: Any, value: Any) -> tuple[str, str]:
    try:
        key = name.decode() if isinstance(name, bytes) else str(name)
    except UnicodeDecodeError as exc:
        raise InvalidEventError(
            "entry", "a field name is not valid UTF-8", REASON_ENCODING
        ) from exc
    try:
        text = value.decode() if isinstance(value, bytes) else str(value)
    except UnicodeDecodeError as exc:
        raise InvalidEventError(key, "value is not valid UTF-8", REASON_ENCODING) from exc
    return key, text


def _identifier(fields: dict[str, str], name: str) -> str:
    value = fields.get(name)
    if value is None:
        raise InvalidEventError(name, "is required", REASON_MISSING)
    if not value:
        raise InvalidEventError(name, "must not be empty", REASON_MISSING)
    if len(value) > MAX_ID_LENGTH:
        raise InvalidEventError(
            name, f"is {len(value)} characters long, at most {MAX_ID_LENGTH} allowed",
            REASON_TOO_LARGE,
        )
    if _CONTROL_CHARS.search(value):
        raise InvalidEventError(name, "must not contain control characters")
    return value


def _optional_int(fields: dict[str, str], name: str, low: int, high: int) -> int | None:
    raw = fields.get(name)
    if not raw:
        return None
    if not _INTEGER.fullmatch(raw):
        raise InvalidEventError(name, f"must be an integer, got {_preview(raw)}")
    if len(raw) > 40:  # far beyond 64 bits; int() refuses > 4300 digits anyway
        raise InvalidEventError(name, f"must be between {low} and {high}, got {_preview(raw)}")
    value = int(raw)
    if not low <= value <= high:
        raise InvalidEventError(name, f"must be between {low} and {high}, got {value}")
    return value


def _optional_float(
    fields: dict[str, str], name: str, low: float = 0.0, high: float = math.inf
) -> float | None:
    raw = fields.get(name)
    if not raw:
        return None
    try:
        if not raw.isascii() or "_" in raw:
            raise ValueError
        value = float(raw)
    except ValueError:
        raise InvalidEventError(name, f"must be a number, got {_preview(raw)}") from None
    if not math.isfinite(value):
        raise InvalidEventError(name, f"must be finite, got {_preview(raw)}")
    if not low <= value <= high:
        bound = f"in [{low:g}, {high:g}]" if math.isfinite(high) else f">= {low:g}"
        raise InvalidEventError(name, f"must be {bound}, got {value:g}")
    return value


def _optional_text(fields: dict[str, str], name: str) -> str | None:
    value = fields.get(name)
    if not value:
        return None
    if len(value) > MAX_TEXT_LENGTH:
        raise InvalidEventError(
            name, f"is {len(value)} characters long, at most {MAX_TEXT_LENGTH} allowed",
            REASON_TOO_LARGE,
        )
    return value


def _success(fields: dict[str, str]) -> bool:
    raw = fields.get("success")
    if raw is None or raw == "":
        raise InvalidEventError("success", "is required", REASON_MISSING)
    folded = raw.strip().lower()
    if folded in _TRUE:
        return True
    if folded in _FALSE:
        return False
    raise InvalidEventError("success", f"must be 1, 0, true or false, got {_preview(raw)}")


def parse_timestamp(raw: str) -> float:
    """Parse an RFC 3339 timestamp or Unix epoch seconds into Unix seconds.

    Raises :class:`InvalidEventError` (field ``timestamp``) for anything else,
    including text without a UTC offset: a naive time would be a guess.
    """
    text = raw.strip()
    try:
        value = float(text)
    except ValueError:
        pass
    else:
        if not math.isfinite(value):
            raise InvalidEventError("timestamp", f"must be finite, got {_preview(raw)}")
        return value
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidEventError(
            "timestamp", f"must be RFC 3339 or Unix epoch seconds, got {_preview(raw)}"
        ) from None
    if parsed.tzinfo is None:
        raise InvalidEventError(
            "timestamp", f"needs a UTC offset such as 'Z' or '+02:00', got {_preview(raw)}"
        )
    return parsed.timestamp()


def _timestamp(fields: dict[str, str], stream_id: str, now: float) -> float:
    raw = fields.get("timestamp")
    value = entry_id_seconds(stream_id) if not raw else parse_timestamp(raw)
    if value > now + MAX_FUTURE_SECONDS:
        raise InvalidEventError(
            "timestamp", f"{_iso(value)} is more than 24 h in the future"
        )
    if value < MIN_TIMESTAMP:
        raise InvalidEventError("timestamp", f"{_iso(value)} is before 2000-01-01")
    return value


def _iso(seconds: float) -> str:
    try:
        return datetime.fromtimestamp(seconds, UTC).isoformat()
    except (OverflowError, OSError, ValueError):
        return f"{seconds:g} (epoch seconds)"


def _metadata(fields: dict[str, str], extras: dict[str, str]) -> str | None:
    raw = fields.get("metadata")
    if not raw and not extras:
        return None
    document: dict[str, Any] = {}
    if extras and sum(len(k) + len(v) for k, v in extras.items()) > MAX_METADATA_BYTES:
        # A lower bound of their JSON size: reject 10 MB or 10 000 extra fields
        # without building the JSON text first (that cost ~50 ms per entry).
        raise InvalidEventError(
            "metadata",
            f"with {len(extras)} unknown extra field(s) kept in it, is larger than "
            f"{MAX_METADATA_BYTES // 1024} KiB",
            REASON_TOO_LARGE,
        )
    if raw:
        if len(raw) > MAX_METADATA_BYTES or len(raw.encode()) > MAX_METADATA_BYTES:
            raise InvalidEventError(
                "metadata", f"is larger than {MAX_METADATA_BYTES // 1024} KiB", REASON_TOO_LARGE
            )
        try:
            # Python's json accepts NaN/Infinity; RFC 8259 and other readers do not.
            loaded = _JSON_DECODER.decode(raw)
        except RecursionError:
            raise InvalidEventError("metadata", "is nested too deeply") from None
        except json.JSONDecodeError as exc:
            raise InvalidEventError("metadata", f"is not valid JSON ({exc.msg})") from None
        except ValueError as exc:  # e.g. integers too long to parse
            raise InvalidEventError("metadata", f"is not valid JSON ({exc})") from None
        if not isinstance(loaded, dict):
            raise InvalidEventError(
                "metadata", f"must be a JSON object, got {type(loaded).__name__}"
            )
        if not extras:
            return raw
        if EXTRA_FIELDS_KEY in loaded:
            raise InvalidEventError(
                "metadata",
                f"key {EXTRA_FIELDS_KEY!r} is reserved for unknown extra fields "
                f"({', '.join(sorted(extras)[:3])}...)",
            )
        document = loaded
    document[EXTRA_FIELDS_KEY] = extras
    try:
        text = json.dumps(document, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except RecursionError:
        raise InvalidEventError("metadata", "is nested too deeply") from None
    except ValueError:  # e.g. 1e400 parsed as inf: it has no JSON spelling
        raise InvalidEventError("metadata", "holds a number out of range") from None
    try:
        size = len(text.encode())
    except UnicodeEncodeError:
        # A "\ud800" escape in the JSON decodes to a lone surrogate, which has
        # no UTF-8 form: keep such strings escaped instead of failing the window.
        text = json.dumps(document, separators=(",", ":"))
        size = len(text)
    if size > MAX_METADATA_BYTES:
        raise InvalidEventError(
            "metadata",
            f"with {len(extras)} unknown extra field(s) kept in it, is larger than "
            f"{MAX_METADATA_BYTES // 1024} KiB",
            REASON_TOO_LARGE,
        )
    return text


def _reject_json_constant(name: str) -> None:
    raise ValueError(f"{name} is not a JSON value")


# One decoder for all events: json.loads(..., parse_constant=...) builds a new
# decoder per call, which cost more than the parse itself for small objects.
_JSON_DECODER = json.JSONDecoder(parse_constant=_reject_json_constant)


def _preview(raw: str, limit: int = 40) -> str:
    shown = raw if len(raw) <= limit else raw[:limit] + "..."
    return repr(shown)


def decode_entry(
    stream_id: str | bytes, raw_fields: Mapping[Any, Any], now: float | None = None
) -> PromptEvent:
    """Validate one stream entry and return its :class:`PromptEvent`.

    ``raw_fields`` is the entry as redis-py returns it (bytes or str keys and
    values). ``now`` (Unix seconds) is the reference for the future-timestamp
    rule; it defaults to the wall clock. Raises :class:`InvalidEventError`
    naming the first field that breaks a rule. Never raises anything else.
    """
    sid = stream_id.decode() if isinstance(stream_id, bytes) else stream_id
    try:
        # Fast path: redis-py hands us bytes; decode everything at once.
        fields = {name.decode(): value.decode() for name, value in raw_fields.items()}
    except (UnicodeDecodeError, AttributeError):
        # Slow path: str values, or bytes that are not UTF-8 (find which field).
        fields = dict(_as_text(name, value) for name, value in raw_fields.items())

    version = _optional_int(fields, "schema_version", 1, MAX_INTEGER) or SCHEMA_VERSION
    if version > SCHEMA_VERSION:
        raise InvalidEventError(
            "schema_version",
            f"{version} is newer than this consumer understands ({SCHEMA_VERSION}); "
            "upgrade rev-analytics",
            REASON_VERSION,
        )

    event_id = _identifier(fields, "event_id") if fields.get("event_id") else sid
    extras = {k: v for k, v in fields.items() if k not in KNOWN_FIELDS}
    return PromptEvent(
        event_id=event_id,
        stream_id=sid,
        prompt_id=_identifier(fields, "prompt_id"),
        template_id=_identifier(fields, "template_id"),
        model_id=_identifier(fields, "model_id"),
        timestamp=_timestamp(fields, sid, time.time() if now is None else now),
        success=_success(fields),
        response_length=_optional_int(fields, "response_length", 0, MAX_INTEGER),
        execution_time=_optional_float(fields, "execution_time"),
        discrimination_score=_optional_float(fields, "discrimination_score", 0.0, 1.0),
        behavioral_score=_optional_float(fields, "behavioral_score", 0.0, 1.0),
        quality_score=_optional_float(fields, "quality_score", 0.0, 1.0),
        difficulty_level=_optional_int(fields, "difficulty_level", 1, 5),
        domain=_optional_text(fields, "domain"),
        cost=_optional_float(fields, "cost"),
        error_type=_optional_text(fields, "error_type"),
        response_hash=_optional_text(fields, "response_hash"),
        metadata=_metadata(fields, extras),
        schema_version=version,
    )


def encode_event(event: PromptEvent | Mapping[str, Any]) -> dict[str, str]:
    """The flat string fields a producer writes with ``XADD`` for ``event``.

    Accepts a :class:`PromptEvent` or a plain mapping with the wire field
    names; ``None`` values are left out, booleans become ``1``/``0``, floats
    keep full precision, a ``metadata`` mapping becomes compact JSON and a
    numeric ``timestamp`` becomes RFC 3339 text. ``stream_id`` is not a wire
    field and is dropped.
    """
    items = event._asdict().items() if isinstance(event, PromptEvent) else event.items()
    out: dict[str, str] = {}
    for name, value in items:
        if value is None or name == "stream_id":
            continue
        if name == "timestamp" and isinstance(value, int | float) and not isinstance(value, bool):
            out[name] = datetime.fromtimestamp(float(value), UTC).isoformat()
        elif name == "timestamp" and isinstance(value, datetime):
            if value.tzinfo is None:
                raise ValueError("timestamp: a datetime needs a timezone (use UTC)")
            out[name] = value.isoformat()
        elif isinstance(value, bool):
            out[name] = "1" if value else "0"
        elif isinstance(value, float):
            out[name] = repr(value)
        elif name == "metadata" and not isinstance(value, str):
            out[name] = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
        else:
            out[name] = str(value)
    return out
