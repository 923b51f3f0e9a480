"""The poison catalogue of issue 6, item 5, and the streams built from it.

Shared by ``tests/reliability/test_poison.py`` (every entry dead-lettered with
its reason, every valid event stored once) and ``benchmarks/bench_poison.py``
(valid throughput with the poison against without it).

The poison is everything the contract forbids plus what a broken or malicious
producer can send through Redis: binary garbage (in names and values), 10 MB
values, 10 000 fields in one entry, metadata nested deeper than any parser's
stack, unicode edge cases and timestamps far in the past and future. Unicode
that *is* valid (emoji sequences, bidi overrides, a BOM, noncharacters, 4-byte
characters up to the 256-character limit) must be stored verbatim instead.
"""

from __future__ import annotations

import asyncio
import os
import random
import time
from collections.abc import Iterator
from pathlib import Path

from streams.consumer.runner import Consumer
from streams.consumer.settings import ConsumerSettings
from tests.consumer_support import valid_fields
from tests.reliability.support import FieldMap, contract_violations

VALID = 100_000
MB10 = 10 * 1024 * 1024


def _base(index: int) -> dict[str | bytes, str | bytes]:
    return {k: v for k, v in valid_fields(index).items()}


def _with(index: int, **overrides: str | bytes) -> dict[str | bytes, str | bytes]:
    fields = _base(index)
    fields.update(overrides)
    return fields


def hostile_entries(index: int) -> list[tuple[str, dict[str | bytes, str | bytes], str]]:
    """(label, fields, field the error must name) for input beyond the contract's list."""
    rng = random.Random(index)
    nested_object = '{"a":' * 10_000 + "1" + "}" * 10_000  # 60 KB: under the size cap
    many_fields = _base(index)
    many_fields.update({f"extra_{n}": str(n) for n in range(10_000)})
    garbage_names: dict[str | bytes, str | bytes] = {
        os.urandom(8) + b"\xff": os.urandom(32) for _ in range(20)
    }
    return [
        ("binary garbage only", {b"\xff\x00" + os.urandom(16): os.urandom(64)}, ""),
        ("binary names in a valid event", {**_base(index), **garbage_names}, "entry"),
        ("binary prompt_id", _with(index, prompt_id=os.urandom(40) + b"\xfe"), "prompt_id"),
        ("10 MB prompt_id", _with(index, prompt_id="p" * MB10), "prompt_id"),
        ("10 MB metadata", _with(index, metadata='{"a":"' + "m" * MB10 + '"}'), "metadata"),
        ("10 MB unknown field", _with(index, notes="n" * MB10), "metadata"),
        ("10 000 fields", many_fields, "metadata"),
        ("deeply nested array", _with(index, metadata="[" * 60_000), "metadata"),
        ("deeply nested object", _with(index, metadata=nested_object), "metadata"),
        ("huge integer in metadata", _with(index, metadata='{"a":' + "9" * 5000 + "}"),
         "metadata"),
        ("overlong UTF-8", _with(index, template_id=b"\xc0\xaf"), "template_id"),
        ("UTF-8 surrogate", _with(index, model_id=b"\xed\xa0\x80"), "model_id"),
        ("NUL in id", _with(index, prompt_id="a\x00b"), "prompt_id"),
        ("C1 control in id", _with(index, prompt_id="a\u0085b"), "prompt_id"),
        ("257 emoji id", _with(index, template_id="😀" * 257), "template_id"),
        ("year 1 with +14:00", _with(index, timestamp="0001-01-01T00:00:00+14:00"), "timestamp"),
        ("year 9999 with -14:00", _with(index, timestamp="9999-12-31T23:59:59-14:00"),
         "timestamp"),
        ("epoch 1e300", _with(index, timestamp="1e300"), "timestamp"),
        ("epoch -1e300", _with(index, timestamp="-1e300"), "timestamp"),
        ("5000-digit epoch", _with(index, timestamp="9" * 5000), "timestamp"),
        ("epoch NaN", _with(index, timestamp="nan"), "timestamp"),
        ("epoch 0", _with(index, timestamp="0"), "timestamp"),
        ("random bytes timestamp", _with(index, timestamp=bytes(rng.randrange(256)
                                                                for _ in range(30))), ""),
    ]


# Valid though odd: stored verbatim, never dead-lettered.
VALID_UNICODE: list[dict[str, str]] = [
    {"prompt_id": "👩‍💻 zwj sequence", "template_id": "tmpl-\u202eevil-rtl", "model_id": "m"},
    {"prompt_id": "\ufeffbom", "template_id": "e\u0301\u0301\u0301 combining", "model_id": "m"},
    {"prompt_id": "\uffff nonchar", "template_id": "line\u2028sep", "model_id": "𝔐𝔬𝔡𝔢𝔩"},
    {"prompt_id": "😀" * 256, "template_id": "t", "model_id": "m"},  # 256 chars, 1 KiB
    {"prompt_id": "p", "template_id": "t", "model_id": "m",
     "metadata": '{"lone":"\\ud800","ok":"\\u00e9"}', "rev_extra": "kept"},
]


def poisoned_stream(count: int) -> Iterator[tuple[FieldMap, str | None, str | None]]:
    """``count`` valid events with the whole poison catalogue spread evenly through them."""
    poison = [(fields, expected) for _, fields, expected in contract_violations(10**7)]
    poison += [(fields, expected) for _, fields, expected in hostile_entries(10**7)]
    every = count // (len(poison) + len(VALID_UNICODE) + 1)
    extras = iter(VALID_UNICODE)
    for n in range(count):
        if n % every == every // 2 and poison:
            fields, expected = poison.pop()
            yield fields, None, expected
        elif n % every == 0 and n:
            odd = next(extras, None)
            if odd is not None:
                yield {**valid_fields(n), **odd, "event_id": f"unicode-{n}"}, f"unicode-{n}", None
        yield valid_fields(n), f"evt-{n:08d}", None
    assert not poison, "the stream was too short for the catalogue"


def clean_stream(count: int) -> Iterator[tuple[FieldMap, str | None, str | None]]:
    for n in range(count):
        fields = valid_fields(n)
        yield fields, fields["event_id"], None


def drain_seconds(url: str, stream: str, db: Path, group: str, total: int) -> float:
    """Seconds a fresh in-process consumer takes to settle ``total`` entries."""

    async def run() -> float:
        consumer = Consumer(ConsumerSettings(
            redis_url=url, db=str(db), stream=stream, group=group, consumer="c1",
            batch_within=0.1, metrics_enabled=False,
        ))
        await consumer.start()
        started = time.perf_counter()
        try:
            deadline = started + 120
            processor = consumer.processor
            while processor.events_committed + processor.dead_lettered < total:
                assert time.perf_counter() < deadline, "the consumer stalled on the poison"
                await asyncio.sleep(0.005)
            return time.perf_counter() - started
        finally:
            await consumer.stop()

    return asyncio.run(run())
