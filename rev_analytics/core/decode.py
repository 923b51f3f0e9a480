"""From a stream entry to a :class:`PromptEvent`, by the rules of CONTRACT.md section 1.

Two paths that always agree:

* :func:`decode_entry` is the rule book: plain Python, one check per field of
  :data:`~rev_analytics.core.event.FIELDS` by its kind, raising
  :class:`InvalidEventError` whose message names the field (that message is
  what a dead letter carries) and whose ``reason`` is one of
  :data:`DEAD_LETTER_REASONS`;
* :func:`decode_fields` is what the consumer and the producer call: the
  entry goes first through msgspec, which coerces and bounds-checks every
  field in C (a struct derived from the same table), plus the few rules
  msgspec cannot express. Whatever that fast path does not accept outright
  (a broken rule, an empty optional field, unknown extra fields, text that is
  not UTF-8) is handed to :func:`decode_entry`, which decides and explains.
  The fast path only ever accepts events the rule book accepts, with equal
  values (``tests/core/test_decode.py`` checks this on random input).

Decisions where the contract is silent (documented in the README): empty
strings in optional fields mean "absent"; numbers are plain ASCII decimal;
text timestamps need an explicit UTC offset and lie between 2000-01-01 and
24 h ahead; unknown extra fields are kept under ``metadata["_extra"]``.
"""

from __future__ import annotations

import json
import math
import re
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from operator import attrgetter
from typing import Annotated, Any

import msgspec

from rev_analytics.core.errors import InvalidEventError
from rev_analytics.core.event import FIELD, KNOWN_FIELDS, SCHEMA_VERSION, WIRE_FIELDS, PromptEvent
from rev_analytics.core.fields import (
    MAX_INTEGER,
    MAX_METADATA_BYTES,
    MAX_TEXT_LENGTH,
    Field,
    Kind,
)
from rev_analytics.core.timefmt import (
    MICROS,
    describe_micros,
    entry_id_micros,
    micros_from_datetime,
    parse_event_time,
)

MAX_FUTURE_MICROS = 24 * 3600 * MICROS
MIN_TIMESTAMP_MICROS = micros_from_datetime(datetime(2000, 1, 1, tzinfo=UTC))
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
_DOUBLE_MAX = 1.7976931348623157e308


def _preview(raw: str, limit: int = 40) -> str:
    shown = raw if len(raw) <= limit else raw[:limit] + "..."
    return repr(shown)


def _reject_json_constant(name: str) -> None:
    raise ValueError(f"{name} is not a JSON value")


# One decoder for all events: json.loads(..., parse_constant=...) builds a new
# decoder per call, which cost more than the parse itself for small objects.
_JSON_DECODER = json.JSONDecoder(parse_constant=_reject_json_constant)


# --- the rule book ------------------------------------------------------------------------


def _text_fields(raw_fields: Mapping[Any, Any]) -> dict[str, str]:
    """The entry as text; bytes that are not UTF-8 (or str holding their
    surrogate escapes) are a ``bad_encoding`` error naming the field."""
    fields: dict[str, str] = {}
    for name, value in raw_fields.items():
        try:
            key = name.decode() if isinstance(name, bytes) else str(name)
            key.encode()
        except UnicodeError as exc:
            raise InvalidEventError(
                "entry", "a field name is not valid UTF-8", REASON_ENCODING
            ) from exc
        try:
            text = value.decode() if isinstance(value, bytes) else str(value)
            text.encode()
        except UnicodeError as exc:
            raise InvalidEventError(key, "value is not valid UTF-8", REASON_ENCODING) from exc
        fields[key] = text
    return fields


def _too_long(field: Field, value: str) -> InvalidEventError:
    return InvalidEventError(
        field.name, f"is {len(value)} characters long, at most {MAX_TEXT_LENGTH} allowed",
        REASON_TOO_LARGE,
    )


def _identifier(field: Field, value: str | None) -> str | None:
    if value is None:
        if field.required:
            raise InvalidEventError(field.name, "is required", REASON_MISSING)
        return None
    if not value:
        if field.required:
            raise InvalidEventError(field.name, "must not be empty", REASON_MISSING)
        return None
    if len(value) > MAX_TEXT_LENGTH:
        raise _too_long(field, value)
    if _CONTROL_CHARS.search(value):
        raise InvalidEventError(field.name, "must not contain control characters")
    return value


def _text(field: Field, value: str | None) -> str | None:
    if not value:
        return None
    if len(value) > MAX_TEXT_LENGTH:
        raise _too_long(field, value)
    return value


def _boolean(field: Field, value: str | None) -> bool:
    if value is None or value == "":
        raise InvalidEventError(field.name, "is required", REASON_MISSING)
    folded = value.strip().lower()
    if folded in _TRUE:
        return True
    if folded in _FALSE:
        return False
    raise InvalidEventError(field.name, f"must be 1, 0, true or false, got {_preview(value)}")


def _integer(field: Field, value: str | None) -> int | None:
    if not value:
        return None
    low, high = int(field.low or 0), int(field.high or MAX_INTEGER)
    if not _INTEGER.fullmatch(value):
        raise InvalidEventError(field.name, f"must be an integer, got {_preview(value)}")
    if len(value) > 40:  # far beyond 64 bits; int() refuses > 4300 digits anyway
        raise InvalidEventError(
            field.name, f"must be between {low} and {high}, got {_preview(value)}")
    number = int(value)
    if not low <= number <= high:
        raise InvalidEventError(field.name, f"must be between {low} and {high}, got {number}")
    return number


def _number(field: Field, value: str | None) -> float | None:
    if not value:
        return None
    low = field.low or 0.0
    high = math.inf if field.high is None else field.high
    try:
        if not value.isascii() or "_" in value:
            raise ValueError
        number = float(value)
    except ValueError:
        raise InvalidEventError(field.name, f"must be a number, got {_preview(value)}") from None
    if not math.isfinite(number):
        raise InvalidEventError(field.name, f"must be finite, got {_preview(value)}")
    if not low <= number <= high:
        bound = f"in [{low:g}, {high:g}]" if math.isfinite(high) else f">= {low:g}"
        raise InvalidEventError(field.name, f"must be {bound}, got {number:g}")
    return number


def check_event_time(micros: int, now_micros: int) -> int:
    """``micros`` if it lies between 2000-01-01 and 24 h after ``now_micros``."""
    if micros > now_micros + MAX_FUTURE_MICROS:
        raise InvalidEventError(
            "timestamp", f"{describe_micros(micros)} is more than 24 h in the future")
    if micros < MIN_TIMESTAMP_MICROS:
        raise InvalidEventError("timestamp", f"{describe_micros(micros)} is before 2000-01-01")
    return micros


def _event_time(value: str | None, stream_id: str, now_micros: int) -> int:
    if not value:
        micros = entry_id_micros(stream_id)
    else:
        try:
            micros = parse_event_time(value)
        except ValueError as exc:
            raise InvalidEventError("timestamp", f"{exc}, got {_preview(value)}") from None
    return check_event_time(micros, now_micros)


def _metadata_too_large(extras: Mapping[str, str]) -> InvalidEventError:
    return InvalidEventError(
        "metadata",
        f"with {len(extras)} unknown extra field(s) kept in it, is larger than "
        f"{MAX_METADATA_BYTES // 1024} KiB",
        REASON_TOO_LARGE,
    )


def _metadata(raw: str | None, extras: dict[str, str]) -> str | None:
    if not raw and not extras:
        return None
    document: dict[str, Any] = {}
    if extras and sum(len(k) + len(v) for k, v in extras.items()) > MAX_METADATA_BYTES:
        # A lower bound of their JSON size: reject 10 MB or 10 000 extra fields
        # without building the JSON text first (that cost ~50 ms per entry).
        raise _metadata_too_large(extras)
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
        raise _metadata_too_large(extras)
    return text


_SIMPLE_RULES: dict[Kind, Callable[[Field, str | None], Any]] = {
    Kind.ID: _identifier,
    Kind.TEXT: _text,
    Kind.BOOL: _boolean,
    Kind.INT: _integer,
    Kind.FLOAT: _number,
}
_VERSION = FIELD["schema_version"]


def _schema_version(fields: Mapping[str, str]) -> int:
    version = _integer(_VERSION, fields.get("schema_version")) or SCHEMA_VERSION
    if version > SCHEMA_VERSION:
        raise InvalidEventError(
            "schema_version",
            f"{version} is newer than this consumer understands ({SCHEMA_VERSION}); "
            "upgrade rev-analytics",
            REASON_VERSION,
        )
    return version


def decode_entry(
    stream_id: str | bytes, raw_fields: Mapping[Any, Any], now: float | None = None
) -> PromptEvent:
    """Validate one stream entry and return its :class:`PromptEvent` (the rule book).

    ``raw_fields`` is the entry as a Redis client returns it (bytes or str
    keys and values). ``now`` (Unix seconds) is the reference for the
    future-timestamp rule; it defaults to the wall clock. Raises
    :class:`InvalidEventError` naming the first field that breaks a rule
    (``schema_version`` first, then the fields in :data:`FIELDS` order).
    Never raises anything else.
    """
    sid = stream_id.decode() if isinstance(stream_id, bytes) else stream_id
    fields = _text_fields(raw_fields)
    now_micros = round((time.time() if now is None else now) * MICROS)
    version = _schema_version(fields)
    extras = {k: v for k, v in fields.items() if k not in KNOWN_FIELDS}
    values: dict[str, Any] = {"stream_id": sid, "schema_version": version}
    for field in WIRE_FIELDS:
        if field.name == "schema_version":
            continue
        raw = fields.get(field.name)
        if field.kind is Kind.TIME:
            values[field.name] = _event_time(raw, sid, now_micros)
        elif field.kind is Kind.JSON:
            values[field.name] = _metadata(raw, extras)
        else:
            values[field.name] = _SIMPLE_RULES[field.kind](field, raw)
    if values["event_id"] is None:
        values["event_id"] = sid
    return PromptEvent(**values)


# --- the fast path ------------------------------------------------------------------------


def _wire_type(field: Field) -> tuple[str, Any, Any]:
    """The msgspec type of ``field`` on the wire: (name, type, default)."""
    kind = field.kind
    if kind is Kind.BOOL:
        return field.name, bool, msgspec.NODEFAULT
    if kind is Kind.ID and field.required:
        bounded = Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_TEXT_LENGTH)]
        return field.name, bounded, msgspec.NODEFAULT
    if kind in (Kind.ID, Kind.TEXT):
        # "" is allowed here and means absent (see _fast_decode).
        text = Annotated[str, msgspec.Meta(max_length=MAX_TEXT_LENGTH)]
        return field.name, text | None, None
    if kind is Kind.INT:
        low, high = int(field.low or 0), int(field.high or MAX_INTEGER)
        return field.name, Annotated[int, msgspec.Meta(ge=low, le=high)] | None, None
    if kind is Kind.FLOAT:
        # le=DBL_MAX refuses "inf"; "nan" fails every bound.
        ceiling = _DOUBLE_MAX if field.high is None else field.high
        ranged = Annotated[float, msgspec.Meta(ge=field.low or 0.0, le=ceiling)]
        return field.name, ranged | None, None
    return field.name, str | None, None  # TIME and JSON: checked after conversion


WireEvent = msgspec.defstruct(
    "WireEvent", [_wire_type(field) for field in WIRE_FIELDS], kw_only=True, frozen=True,
)
"""The wire fields as a msgspec struct, derived from :data:`WIRE_FIELDS`."""

_INT_FIELDS = tuple(f.name for f in WIRE_FIELDS if f.kind is Kind.INT)
(_BOOL_FIELD,) = (f.name for f in WIRE_FIELDS if f.kind is Kind.BOOL)  # success, required
_BOOLEAN_TEXTS = _TRUE | _FALSE
_WIRE_NAMES = [f.name for f in WIRE_FIELDS]
# Optional text fields where "" means absent (timestamp is handled on its own).
_OPTIONAL_TEXT_INDEXES = tuple(
    i for i, f in enumerate(WIRE_FIELDS)
    if f.kind in (Kind.ID, Kind.TEXT, Kind.JSON) and not f.required
)
_EVENT_ID_INDEX = _WIRE_NAMES.index("event_id")
_TIME_INDEX = _WIRE_NAMES.index("timestamp")
_VERSION_INDEX = _WIRE_NAMES.index("schema_version")
# The wire struct holds every event field but the entry's own ID, in event order.
_STREAM_ID_INDEX = PromptEvent._fields.index("stream_id")
assert [*_WIRE_NAMES[:_STREAM_ID_INDEX], "stream_id", *_WIRE_NAMES[_STREAM_ID_INDEX:]] == list(
    PromptEvent._fields)
_IDS = attrgetter(*(f.name for f in WIRE_FIELDS if f.kind is Kind.ID))
"""Every id field of a wire struct, required and optional, as a tuple."""
_EVENT = tuple.__new__  # PromptEvent._make without its Python-level wrapper
_METADATA_CHECK = msgspec.json.Decoder(dict[str, Any])


class _Undecided(Exception):
    """The fast path cannot accept the entry outright: the rule book decides."""


def _fast_decode(stream_id: str, fields: dict[str, str], now_micros: int) -> PromptEvent:
    if not KNOWN_FIELDS.issuperset(fields):
        raise _Undecided  # unknown extra fields: merged into metadata by the rule book
    joined = "".join(fields.values())
    if not joined.isascii():
        joined.encode()  # lone surrogates (bytes that were not UTF-8) raise here
    try:
        wire: Any = msgspec.convert(fields, WireEvent, strict=False)
    except msgspec.ValidationError:
        raise _Undecided from None
    values = list(msgspec.structs.astuple(wire))
    if len(values) - values.count(None) != len(fields):
        raise _Undecided  # msgspec read a "null" text as absent; the wire format does not
    if values[_VERSION_INDEX] not in (None, SCHEMA_VERSION):
        raise _Undecided
    # msgspec also reads "1.0" and "1e3" as integers and "-0" as a boolean; the wire
    # format does not (and the rule book says so).
    integers = "".join(filter(None, map(fields.get, _INT_FIELDS)))
    if "." in integers or "e" in integers or "E" in integers:
        raise _Undecided
    if fields[_BOOL_FIELD].lower() not in _BOOLEAN_TEXTS:
        raise _Undecided
    ids = "".join(filter(None, _IDS(wire)))
    if not (ids.isascii() and ids.isprintable()) and _CONTROL_CHARS.search(ids):
        raise _Undecided
    raw_time = wire.timestamp
    micros = parse_event_time(raw_time) if raw_time else entry_id_micros(stream_id)
    if not MIN_TIMESTAMP_MICROS <= micros <= now_micros + MAX_FUTURE_MICROS:
        raise _Undecided
    metadata = wire.metadata
    if metadata:
        if len(metadata) * 4 > MAX_METADATA_BYTES and len(metadata.encode()) > MAX_METADATA_BYTES:
            raise _Undecided
        _METADATA_CHECK.decode(metadata)
    if "" in values:
        for index in _OPTIONAL_TEXT_INDEXES:
            if values[index] == "":
                values[index] = None  # "" means absent
    values[_EVENT_ID_INDEX] = values[_EVENT_ID_INDEX] or stream_id
    values[_TIME_INDEX] = micros
    values[_VERSION_INDEX] = SCHEMA_VERSION
    values.insert(_STREAM_ID_INDEX, stream_id)
    return _EVENT(PromptEvent, values)


def decode_fields(
    stream_id: str, fields: dict[str, str], now: float | None = None
) -> PromptEvent:
    """:func:`decode_entry` for an entry already as text, through the compiled fast path.

    ``fields`` may hold surrogate escapes of bytes that were not UTF-8 (a
    client reading with ``errors="surrogateescape"``): those are dead letters
    with reason ``bad_encoding``, as in the rule book.
    """
    now_micros = round((time.time() if now is None else now) * MICROS)
    try:
        return _fast_decode(stream_id, fields, now_micros)
    except (_Undecided, ValueError, UnicodeError, msgspec.DecodeError, RecursionError):
        return decode_entry(stream_id, fields, now)
