"""The wire format (CONTRACT.md section 1): round trips, every rule, and fuzzing.

The decoder is the one gate between producers in any language and the store,
so it must never crash: anything it does not accept becomes an
:class:`InvalidEventError` naming the field, which is what a dead letter says.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, cast

import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rev_analytics.core.decode import DEAD_LETTER_REASONS, EXTRA_FIELDS_KEY, decode_entry
from rev_analytics.core.encode import encode_event
from rev_analytics.core.errors import InvalidEventError
from rev_analytics.core.event import KNOWN_FIELDS, SCHEMA_VERSION, PromptEvent
from rev_analytics.core.timefmt import entry_id_micros, micros_from_datetime

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC).timestamp()
ENTRY_ID = f"{int(NOW * 1000) - 5000}-3"
BASE: dict[str, str] = {
    "prompt_id": "probe-001",
    "template_id": "math_reasoning",
    "model_id": "llama_70b",
    "success": "1",
}


def _entries(client: redis.Redis, stream: str) -> list[tuple[bytes, dict[bytes, bytes]]]:
    return cast(list[tuple[bytes, dict[bytes, bytes]]], client.xrange(stream))


def _full_event(stream_id: str = "") -> PromptEvent:
    """An event with every contract field set (non-default values everywhere)."""
    return PromptEvent(
        event_id="01890a5d-ac96-774b-bcce-b302099a8057",
        stream_id=stream_id,
        prompt_id="behavioral_probe_001",
        template_id="math_reasoning_template",
        model_id="llama_70b",
        timestamp=micros_from_datetime(datetime(2026, 5, 30, 8, 15, 30, 123456, tzinfo=UTC)),
        success=True,
        response_length=245,
        execution_time=2.3,
        discrimination_score=0.89,
        behavioral_score=0.76,
        quality_score=0.82,
        difficulty_level=4,
        domain="mathematical_reasoning",
        cost=0.15,
        error_type="timeout",
        response_hash="9f86d081884c7d65",
        metadata='{"segment_count":3,"merkle_depth":7,"note":"ünïcode ✓"}',
        experiment_id="rev-exp-2026-11-a",
        schema_version=1,
    )


def test_every_contract_field_round_trips_through_redis(
    redis_client: redis.Redis, stream_key: str
) -> None:
    original = _full_event()
    fields = encode_event(original)
    assert set(fields) == set(KNOWN_FIELDS)  # nothing missing, nothing extra
    entry_id = cast(bytes, redis_client.xadd(stream_key, fields))  # type: ignore[arg-type]
    [(read_id, raw)] = _entries(redis_client, stream_key)
    assert read_id == entry_id
    decoded = decode_entry(read_id, raw, now=NOW)
    assert decoded == original._replace(stream_id=entry_id.decode())


def test_round_trip_of_a_failure_with_only_required_fields(
    redis_client: redis.Redis, stream_key: str
) -> None:
    fields: dict[Any, Any] = {**BASE, "success": "FALSE"}
    entry_id = cast(bytes, redis_client.xadd(stream_key, fields))
    [(read_id, raw)] = _entries(redis_client, stream_key)
    decoded = decode_entry(read_id, raw)
    assert decoded.success is False
    assert decoded.event_id == decoded.stream_id == entry_id.decode()
    assert decoded.response_length is None and decoded.metadata is None


def test_defaults_come_from_the_entry() -> None:
    event = decode_entry(ENTRY_ID, BASE, now=NOW)
    assert event.schema_version == SCHEMA_VERSION == 1
    assert event.event_id == ENTRY_ID
    assert event.timestamp == entry_id_micros(ENTRY_ID) == (int(NOW * 1000) - 5000) * 1000


@pytest.mark.parametrize(
    ("value", "expected"),
    [("1", True), ("0", False), ("true", True), ("FALSE", False), ("True", True), ("fAlSe", False)],
)
def test_success_spellings(value: str, expected: bool) -> None:
    assert decode_entry(ENTRY_ID, {**BASE, "success": value}, now=NOW).success is expected


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("2026-05-31T10:00:00Z", datetime(2026, 5, 31, 10, tzinfo=UTC).timestamp()),
        ("2026-05-31T12:00:00+02:00", datetime(2026, 5, 31, 10, tzinfo=UTC).timestamp()),
        ("2026-05-31T10:00:00.250000+00:00",
         datetime(2026, 5, 31, 10, 0, 0, 250000, tzinfo=UTC).timestamp()),
        ("1780221600", 1780221600.0),
        ("1780221600.5", 1780221600.5),
    ],
)
def test_timestamps_in_rfc3339_or_epoch_seconds(text: str, seconds: float) -> None:
    assert decode_entry(ENTRY_ID, {**BASE, "timestamp": text}, now=NOW).timestamp == round(
        seconds * 1_000_000)


def test_empty_optional_fields_mean_absent() -> None:
    optional = ("response_length", "execution_time", "discrimination_score", "domain",
                "cost", "metadata", "timestamp", "event_id", "schema_version")
    event = decode_entry(ENTRY_ID, {**BASE, **dict.fromkeys(optional, "")}, now=NOW)
    assert event == decode_entry(ENTRY_ID, BASE, now=NOW)


def test_unknown_fields_are_kept_under_extra_in_metadata() -> None:
    plain = decode_entry(ENTRY_ID, {**BASE, "gpu": "a100", "region": "eu"}, now=NOW)
    assert json.loads(plain.metadata or "") == {EXTRA_FIELDS_KEY: {"gpu": "a100", "region": "eu"}}
    merged = decode_entry(
        ENTRY_ID, {**BASE, "metadata": '{"gpu": "h100"}', "gpu": "a100"}, now=NOW
    )
    assert json.loads(merged.metadata or "") == {"gpu": "h100", EXTRA_FIELDS_KEY: {"gpu": "a100"}}


def test_bytes_and_text_entries_decode_alike() -> None:
    as_bytes = {k.encode(): v.encode() for k, v in BASE.items()}
    assert decode_entry(ENTRY_ID.encode(), as_bytes, now=NOW) == decode_entry(
        ENTRY_ID, BASE, now=NOW
    )


LONG = "x" * 257
FUTURE = NOW + 24 * 3600 + 60

# (field to set or None to delete, value, field named in the error, reason)
RULES: list[tuple[str, str | bytes | None, str, str]] = [
    *[(name, None, name, "missing_field") for name in ("prompt_id", "template_id", "model_id")],
    *[(name, "", name, "missing_field") for name in ("prompt_id", "template_id", "model_id")],
    *[(name, LONG, name, "too_large")
      for name in ("prompt_id", "template_id", "model_id", "event_id", "experiment_id")],
    *[(name, bad, name, "invalid_value")
      for name in ("prompt_id", "template_id", "model_id", "event_id", "experiment_id")
      for bad in ("a\x00b", "line\nbreak", "tab\there", "del\x7f", "c1\x85")],
    ("success", None, "success", "missing_field"),
    ("success", "", "success", "missing_field"),
    *[("success", bad, "success", "invalid_value") for bad in ("yes", "2", "tru", "-1", "1.0")],
    ("timestamp", repr(FUTURE), "timestamp", "invalid_value"),
    ("timestamp", datetime.fromtimestamp(FUTURE, UTC).isoformat(), "timestamp", "invalid_value"),
    ("timestamp", "2026-05-31T10:00:00", "timestamp", "invalid_value"),  # naive
    ("timestamp", "1999-12-31T23:59:59Z", "timestamp", "invalid_value"),
    ("timestamp", "946684799", "timestamp", "invalid_value"),
    ("timestamp", "-5", "timestamp", "invalid_value"),
    ("timestamp", "nan", "timestamp", "invalid_value"),
    ("timestamp", "inf", "timestamp", "invalid_value"),
    ("timestamp", "2E302", "timestamp", "invalid_value"),  # microseconds would overflow
    ("timestamp", "yesterday", "timestamp", "invalid_value"),
    *[(name, bad, name, "invalid_value")
      for name in ("execution_time", "cost")
      for bad in ("-0.001", "-1", "nan", "NaN", "inf", "-inf", "Infinity", "fast", "1e999")],
    *[(name, bad, name, "invalid_value")
      for name in ("discrimination_score", "behavioral_score", "quality_score")
      for bad in ("-0.1", "1.0001", "2", "nan", "inf", "high")],
    *[("difficulty_level", bad, "difficulty_level", "invalid_value")
      for bad in ("0", "6", "-1", "2.5", "hard")],
    *[("response_length", bad, "response_length", "invalid_value")
      for bad in ("-1", "1.5", "long", str(2**63))],
    *[(name, LONG, name, "too_large") for name in ("domain", "error_type", "response_hash")],
    ("metadata", "not json", "metadata", "invalid_value"),
    ("metadata", "{'single': 'quotes'}", "metadata", "invalid_value"),
    ("metadata", "[1, 2]", "metadata", "invalid_value"),
    ("metadata", '"a string"', "metadata", "invalid_value"),
    ("metadata", "null", "metadata", "invalid_value"),
    ("metadata", "42", "metadata", "invalid_value"),
    ("metadata", '{"a": NaN}', "metadata", "invalid_value"),  # not JSON (RFC 8259)
    ("metadata", '{"a": Infinity}', "metadata", "invalid_value"),
    ("metadata", json.dumps({"blob": "x" * (64 * 1024)}), "metadata", "too_large"),
    ("metadata", json.dumps({"blob": "é" * (33 * 1024)}), "metadata", "too_large"),  # bytes
    ("metadata", "[" * 100_000, "metadata", "too_large"),
    ("metadata", "[" * 30_000 + "]" * 30_000, "metadata", "invalid_value"),  # deep, < 64 KiB
    ("metadata", '{"a":' * 10_000 + "1" + "}" * 10_000, "metadata", "invalid_value"),
    ("schema_version", "2", "schema_version", "unsupported_schema_version"),
    ("schema_version", "99", "schema_version", "unsupported_schema_version"),
    ("schema_version", "0", "schema_version", "invalid_value"),
    ("schema_version", "v1", "schema_version", "invalid_value"),
    ("prompt_id", b"caf\xe9", "prompt_id", "bad_encoding"),
    ("metadata", b'{"a": "\xff"}', "metadata", "bad_encoding"),
]


@pytest.mark.parametrize(
    ("field", "value", "named", "reason"),
    RULES,
    ids=[f"{f}={v!r:.24}" for f, v, _, _ in RULES],
)
def test_each_contract_rule_is_rejected_naming_the_field(
    field: str, value: str | bytes | None, named: str, reason: str
) -> None:
    raw: dict[Any, Any] = dict(BASE)
    if value is None:
        raw.pop(field, None)
    else:
        raw[field] = value
    with pytest.raises(InvalidEventError) as info:
        decode_entry(ENTRY_ID, raw, now=NOW)
    error = info.value
    assert error.field == named
    assert str(error).startswith(f"{named}: ")
    assert error.reason == reason
    assert error.reason in DEAD_LETTER_REASONS
    assert len(str(error)) < 300  # a readable one-liner, even for huge inputs
    assert "\n" not in str(error)


def test_non_utf8_field_name_is_an_entry_error() -> None:
    with pytest.raises(InvalidEventError) as info:
        decode_entry(ENTRY_ID, {**{k.encode(): v.encode() for k, v in BASE.items()},
                                b"\xff\xfe": b"x"}, now=NOW)
    assert (info.value.field, info.value.reason) == ("entry", "bad_encoding")


def test_boundaries_that_are_allowed() -> None:
    edge = {
        **BASE,
        "prompt_id": "p" * 256,
        "domain": "d" * 256,
        "execution_time": "0",
        "cost": "0.0",
        "discrimination_score": "0",
        "quality_score": "1",
        "difficulty_level": "5",
        "response_length": "0",
        "timestamp": repr(NOW + 24 * 3600 - 1),
        "metadata": json.dumps({"blob": "x" * (64 * 1024 - 20)}),
    }
    event = decode_entry(ENTRY_ID, edge, now=NOW)
    assert (event.quality_score, event.difficulty_level, event.response_length) == (1.0, 5, 0)
    assert decode_entry(ENTRY_ID, {**BASE, "timestamp": "2000-01-01T00:00:00Z"}, now=NOW)


def test_the_future_rule_uses_the_wall_clock_by_default() -> None:
    soon = {**BASE, "timestamp": repr(time.time() + 3600)}
    assert decode_entry(ENTRY_ID, soon).timestamp > time.time() * 1_000_000
    with pytest.raises(InvalidEventError, match="timestamp"):
        decode_entry(ENTRY_ID, {**BASE, "timestamp": repr(time.time() + 25 * 3600)})


# --- property-based: no input may crash the decoder --------------------------------------

_FIELD_NAMES = sorted(KNOWN_FIELDS)
_nasty_text = st.one_of(
    st.text(max_size=40),
    st.sampled_from(["", " ", "1", "0", "nan", "-inf", "1e999", "true", "{}", "[]", "null",
                     "2026-01-01T00:00:00", "2026-01-01T00:00:00+99:00", "9" * 5000,
                     "[" * 5000, '{"a":' * 3000, "\x00", "1_000", "٣", "0x10"]),
    st.from_regex(r"-?\d{1,20}(\.\d{0,10})?(e-?\d{1,4})?", fullmatch=True),
)


def _decode_or_invalid(raw: dict[Any, Any]) -> None:
    try:
        event = decode_entry(ENTRY_ID, raw, now=NOW)
    except InvalidEventError as exc:
        assert exc.reason in DEAD_LETTER_REASONS
        assert str(exc).startswith(f"{exc.field}: ")
    else:
        assert isinstance(event, PromptEvent)
        if event.metadata is not None:
            assert isinstance(json.loads(event.metadata), dict)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.one_of(st.sampled_from(_FIELD_NAMES), st.binary(max_size=12))
                       .map(lambda k: k.encode() if isinstance(k, str) else k),
                       st.binary(max_size=60), max_size=12),
       st.booleans())
def test_arbitrary_bytes_never_crash_the_decoder(fields: dict[bytes, bytes], on_base: bool) -> None:
    raw: dict[bytes, bytes] = {k.encode(): v.encode() for k, v in BASE.items()} if on_base else {}
    raw.update(fields)
    _decode_or_invalid(raw)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.one_of(st.sampled_from(_FIELD_NAMES), st.text(max_size=12)),
                       _nasty_text, max_size=12),
       st.booleans())
def test_arbitrary_text_never_crashes_the_decoder(fields: dict[str, str], on_base: bool) -> None:
    raw = dict(BASE) if on_base else {}
    raw.update(fields)
    _decode_or_invalid(raw)


_ident = st.text(
    alphabet=st.characters(blacklist_categories=("Cc", "Cs")), min_size=1, max_size=256
)
_json_scalar = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**53), 2**53),
    st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=20),
)
_json_value = st.recursive(
    _json_scalar,
    lambda inner: st.one_of(st.lists(inner, max_size=4),
                            st.dictionaries(st.text(max_size=8), inner, max_size=4)),
    max_leaves=20,
)
_unit = st.floats(min_value=0.0, max_value=1.0)
_amount = st.floats(min_value=0.0, max_value=1e15)
_moment = st.datetimes(
    min_value=datetime(2000, 1, 1, 0, 0, 1), max_value=datetime(2026, 5, 31),
    timezones=st.sampled_from([UTC, timezone(timedelta(hours=5, minutes=30)),
                               timezone(timedelta(hours=-8))]),
)


@st.composite
def _valid_events(draw: st.DrawFn) -> dict[str, Any]:
    event: dict[str, Any] = {
        "prompt_id": draw(_ident),
        "template_id": draw(_ident),
        "model_id": draw(_ident),
        "success": draw(st.booleans()),
    }
    optional: dict[str, st.SearchStrategy[Any]] = {
        "event_id": _ident,
        "schema_version": st.just(1),
        "timestamp": _moment,
        "response_length": st.integers(0, 2**63 - 1),
        "execution_time": _amount,
        "discrimination_score": _unit,
        "behavioral_score": _unit,
        "quality_score": _unit,
        "difficulty_level": st.integers(1, 5),
        "domain": _ident,
        "cost": _amount,
        "error_type": _ident,
        "response_hash": _ident,
        "metadata": st.dictionaries(st.text(max_size=8), _json_value, max_size=5),
        "experiment_id": _ident,
    }
    for name, strategy in optional.items():
        if draw(st.booleans()):
            event[name] = draw(strategy)
    return event


@settings(max_examples=300, deadline=None)
@given(_valid_events(), st.dictionaries(
    st.text(min_size=1, max_size=10).filter(lambda k: k not in KNOWN_FIELDS),
    st.text(max_size=20), max_size=3))
def test_valid_events_decode_to_what_was_encoded(
    event: dict[str, Any], extras: dict[str, str]
) -> None:
    wire = encode_event(event)
    decoded = decode_entry(ENTRY_ID, {**wire, **extras}, now=NOW)

    assert decoded.stream_id == ENTRY_ID
    assert decoded.event_id == event.get("event_id", ENTRY_ID)
    moment = event.get("timestamp")
    assert decoded.timestamp == (
        micros_from_datetime(moment) if moment else entry_id_micros(ENTRY_ID))
    for name in ("prompt_id", "template_id", "model_id", "success", "response_length",
                 "execution_time", "discrimination_score", "behavioral_score", "quality_score",
                 "difficulty_level", "domain", "cost", "error_type", "response_hash",
                 "experiment_id"):
        assert getattr(decoded, name) == event.get(name), name
    assert decoded.schema_version == 1
    expected_metadata = dict(event.get("metadata", {}))
    if extras:
        expected_metadata[EXTRA_FIELDS_KEY] = extras
    if "metadata" in event or extras:
        assert json.loads(decoded.metadata or "") == expected_metadata
    else:
        assert decoded.metadata is None


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"difficulty_level": "٣"}, "difficulty_level"),  # non-ASCII digit
        ({"response_length": "1_000"}, "response_length"),  # Python-only spelling
        ({"cost": "1_0.5"}, "cost"),
        ({"execution_time": "１.５"}, "execution_time"),  # full-width digits
        ({"metadata": '{"_extra": 1}', "rev_run": "r1"}, "metadata"),  # reserved key
        ({"metadata": '{"a": 1e400}', "rev_run": "r1"}, "metadata"),  # no JSON spelling
    ],
)
def test_numbers_and_metadata_are_plain_json_and_ascii(
    overrides: dict[str, str], field: str
) -> None:
    fields = {"prompt_id": "p", "template_id": "t", "model_id": "m", "success": "1", **overrides}
    with pytest.raises(InvalidEventError) as caught:
        decode_entry("1764316341000-0", fields, now=1764316341.0)
    assert caught.value.field == field
