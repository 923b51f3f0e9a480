"""The compiled fast path agrees with the rule book on every input, and really is taken."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rev_analytics.core import decode
from rev_analytics.core.decode import decode_entry, decode_fields
from rev_analytics.core.encode import encode_event
from rev_analytics.core.errors import InvalidEventError
from rev_analytics.core.event import KNOWN_FIELDS
from tests.core.test_event import BASE, ENTRY_ID, NOW, RULES, _full_event, _nasty_text

NOW_MICROS = round(NOW * 1_000_000)


def _as_consumer_reads(value: str | bytes) -> str:
    """What the consumer's client hands over: text, with non-UTF-8 bytes surrogate-escaped."""
    return value.decode("utf-8", "surrogateescape") if isinstance(value, bytes) else value


def _outcome(decoder: Any, fields: dict[str, str]) -> Any:
    try:
        return decoder(ENTRY_ID, fields, now=NOW)
    except InvalidEventError as exc:
        return ("invalid", exc.field, exc.reason, str(exc))


def assert_agree(fields: dict[str, str]) -> None:
    assert _outcome(decode_fields, fields) == _outcome(decode_entry, fields)


@pytest.mark.parametrize(("field", "value", "named", "reason"), RULES,
                         ids=[f"{f}={v!r:.24}" for f, v, _, _ in RULES])
def test_every_broken_rule_gives_the_rule_books_dead_letter(
    field: str, value: str | bytes | None, named: str, reason: str
) -> None:
    fields = dict(BASE)
    if value is None:
        fields.pop(field, None)
    else:
        fields[field] = _as_consumer_reads(value)
    outcome = _outcome(decode_fields, fields)
    assert outcome[:3] == ("invalid", named, reason)
    assert outcome == _outcome(decode_entry, fields)


def test_a_field_name_that_is_not_utf8_is_an_entry_error() -> None:
    fields = {**BASE, _as_consumer_reads(b"\xff\xfe"): "x"}
    assert _outcome(decode_fields, fields)[:3] == ("invalid", "entry", "bad_encoding")


@pytest.mark.parametrize("fields", [
    encode_event(_full_event()),
    BASE,
    {**BASE, "timestamp": "1780221600.5", "cost": "0", "quality_score": "1"},
    {**BASE, "success": "FALSE", "difficulty_level": "5", "response_length": "-0"},
    {**BASE, "domain": "", "event_id": "", "metadata": "", "timestamp": ""},  # "" = absent
    {**BASE, "domain": "ünïcødé ✓", "metadata": '{"k": "ü", "n": [1, 2.5, null]}'},
])
def test_ordinary_events_take_the_fast_path(fields: dict[str, str]) -> None:
    # Decided by msgspec alone: no fallback to the rule book.
    fast = decode._fast_decode(ENTRY_ID, fields, NOW_MICROS)
    assert fast == decode_entry(ENTRY_ID, fields, now=NOW)


@pytest.mark.parametrize("fields", [
    {**BASE, "response_length": "1.0"},      # msgspec alone would read these as integers
    {**BASE, "difficulty_level": "3e0"},
    {**BASE, "success": " true "},             # the rule book strips; msgspec does not
    {**BASE, "success": "-0"},                 # msgspec reads it as false; the contract does not
    {**BASE, "behavioral_score": "NULL"},      # msgspec reads "null" as absent
    {**BASE, "response_length": " 12 "},
    {**BASE, "cost": ""},
    {**BASE, "gpu": "a100"},                   # unknown extra field
    {**BASE, "schema_version": "2"},
    {**BASE, "metadata": json.dumps({"blob": "é" * (33 * 1024)})},
    {**BASE, "prompt_id": "tab\there"},
    {**BASE, "timestamp": "2026-05-31T10:00:00"},  # naive
])
def test_what_the_fast_path_cannot_decide_goes_to_the_rule_book(fields: dict[str, str]) -> None:
    with pytest.raises((decode._Undecided, ValueError, UnicodeError)):
        decode._fast_decode(ENTRY_ID, fields, NOW_MICROS)
    assert_agree(fields)


_names = st.one_of(st.sampled_from(sorted(KNOWN_FIELDS)), st.text(max_size=12))
_numbers = st.one_of(
    st.from_regex(r"[+-]?\d{1,25}(\.\d{0,20})?([eE][+-]?\d{1,4})?", fullmatch=True),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(-(2**70), 2**70).map(str),
)
_values = st.one_of(_nasty_text, _numbers,
                    st.binary(max_size=20).map(lambda b: b.decode("utf-8", "surrogateescape")))


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(_names, _values, max_size=14), st.booleans())
def test_fast_and_rule_book_agree_on_arbitrary_entries(fields: dict[str, str],
                                                       on_base: bool) -> None:
    assert_agree({**BASE, **fields} if on_base else fields)


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(["response_length", "difficulty_level", "execution_time", "cost",
                        "discrimination_score", "behavioral_score", "quality_score",
                        "schema_version", "success", "timestamp"]), _numbers)
def test_numbers_parse_to_the_same_value_either_way(name: str, text: str) -> None:
    assert_agree({**BASE, name: text})


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=60))
def test_metadata_text_is_judged_the_same_either_way(text: str) -> None:
    assert_agree({**BASE, "metadata": text})
