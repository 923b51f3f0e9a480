"""Shared pieces of the fault-injection suite: workloads, checks, metrics scrapes.

Every fault test follows one pattern: publish a known workload (valid events
with known ``event_id`` values plus malformed entries of known stream IDs),
inject a fault, then prove the three promises of issue 6 with the helpers
here: every valid event stored exactly once (:func:`assert_stored_exactly_once`),
every malformed entry dead-lettered with a reason (:func:`assert_dead_lettered`),
and the consumer healthy again (it drains, acknowledges everything and exits 0
on SIGTERM).
"""

from __future__ import annotations

import collections
import itertools
import random
import re
import sys
import urllib.request
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis

from tests.consumer_support import ROOT, ConsumerProcess, stored_rows, valid_fields
from tests.redis_server import free_port

GROUP = "rev-analytics"

FieldMap = Mapping[Any, Any]  # str or bytes names and values

# One entry per malformed kind of CONTRACT.md section 1: (label, fields,
# the field the dead-letter error must name). Each is a complete event with
# exactly one rule broken, so the error can only come from that rule.
_LONG = "x" * 257


def _broken(index: int, **overrides: str | bytes) -> dict[str | bytes, str | bytes]:
    fields: dict[str | bytes, str | bytes] = {k: v for k, v in valid_fields(index).items()}
    for name, value in overrides.items():
        if value == "<absent>":
            del fields[name]
        else:
            fields[name] = value
    return fields


def contract_violations(index: int) -> list[tuple[str, dict[str | bytes, str | bytes], str]]:
    """Every malformed kind the contract names, built around event ``index``."""
    i = index
    cases: list[tuple[str, dict[str | bytes, str | bytes], str]] = [
        ("missing prompt_id", _broken(i, prompt_id="<absent>"), "prompt_id"),
        ("missing template_id", _broken(i, template_id="<absent>"), "template_id"),
        ("missing model_id", _broken(i, model_id="<absent>"), "model_id"),
        ("missing success", _broken(i, success="<absent>"), "success"),
        ("empty model_id", _broken(i, model_id=""), "model_id"),
        ("id too long", _broken(i, template_id=_LONG), "template_id"),
        ("control char in id", _broken(i, prompt_id="a\x07b"), "prompt_id"),
        ("bad success", _broken(i, success="yes"), "success"),
        ("naive timestamp", _broken(i, timestamp="2026-01-01T00:00:00"), "timestamp"),
        ("garbage timestamp", _broken(i, timestamp="yesterday"), "timestamp"),
        ("future timestamp", _broken(i, timestamp="2999-01-01T00:00:00Z"), "timestamp"),
        ("negative response_length", _broken(i, response_length="-1"), "response_length"),
        ("fractional response_length", _broken(i, response_length="2.5"), "response_length"),
        ("negative execution_time", _broken(i, execution_time="-0.1"), "execution_time"),
        ("infinite execution_time", _broken(i, execution_time="inf"), "execution_time"),
        ("score above 1", _broken(i, quality_score="1.01"), "quality_score"),
        ("NaN score", _broken(i, behavioral_score="nan"), "behavioral_score"),
        ("score below 0", _broken(i, discrimination_score="-0.5"), "discrimination_score"),
        ("difficulty 6", _broken(i, difficulty_level="6"), "difficulty_level"),
        ("domain too long", _broken(i, domain=_LONG), "domain"),
        ("error_type too long", _broken(i, error_type=_LONG), "error_type"),
        ("response_hash too long", _broken(i, response_hash=_LONG), "response_hash"),
        ("negative cost", _broken(i, cost="-1"), "cost"),
        ("metadata not JSON", _broken(i, metadata="{not json"), "metadata"),
        ("metadata not an object", _broken(i, metadata="[1, 2]"), "metadata"),
        ("metadata too large", _broken(i, metadata='{"a": "' + "y" * 70_000 + '"}'), "metadata"),
        ("metadata with NaN", _broken(i, metadata='{"a": NaN}'), "metadata"),
        ("newer schema_version", _broken(i, schema_version="2"), "schema_version"),
        ("event_id with control char", _broken(i, event_id="evt\n1"), "event_id"),
        ("value not UTF-8", _broken(i, model_id=b"\xff\xfe\xfd"), "model_id"),
    ]
    return cases


@dataclass
class Workload:
    """What a test published: valid event ids and malformed entries' stream IDs."""

    valid_ids: set[str] = field(default_factory=set)
    malformed: dict[str, str] = field(default_factory=dict)
    """stream ID -> the field its dead-letter error must name ("" = any)."""

    @property
    def total(self) -> int:
        return len(self.valid_ids) + len(self.malformed)


def mixed_workload(
    count: int, *, malformed_every: int = 100, seed: int = 6, offset: int = 0
) -> Iterator[tuple[dict[str | bytes, str | bytes], str | None, str | None]]:
    """``count`` entries: valid events, and one contract violation every ``malformed_every``.

    Yields ``(fields, event_id, expected_error_field)``; exactly one of the
    last two is set. Kinds rotate so each appears many times in a long stream.
    """
    rng = random.Random(seed)
    kinds = contract_violations(0)
    for n in range(offset, offset + count):
        if malformed_every and n % malformed_every == malformed_every - 1:
            label, _, expected = kinds[rng.randrange(len(kinds))]
            broken = next(c for c in contract_violations(n) if c[0] == label)[1]
            yield broken, None, expected
        else:
            fields: dict[str | bytes, str | bytes] = {k: v for k, v in valid_fields(n).items()}
            yield fields, f"evt-{n:08d}", None


def publish_workload(
    client: redis.Redis,
    stream: str,
    entries: Iterable[tuple[FieldMap, str | None, str | None]],
    workload: Workload | None = None,
    *,
    chunk: int = 5000,
) -> Workload:
    """XADD ``entries`` in pipelines of ``chunk``; record what must come out where."""
    workload = workload or Workload()
    pipe = client.pipeline(transaction=False)
    expected: list[tuple[str | None, str | None]] = []

    def flush() -> None:
        for entry_id, (event_id, error_field) in zip(pipe.execute(), expected, strict=True):
            sid = entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)
            if event_id is not None:
                workload.valid_ids.add(event_id)
            else:
                workload.malformed[sid] = error_field or ""
        expected.clear()

    for fields, event_id, error_field in entries:
        pipe.xadd(stream, dict(fields))
        expected.append((event_id, error_field))
        if len(expected) >= chunk:
            flush()
    flush()
    return workload


def assert_stored_exactly_once(db: Path | str, workload: Workload) -> None:
    """Every valid event of ``workload`` has exactly one row, and nothing else does."""
    ids = [row[0] for row in stored_rows(db)]
    counts = collections.Counter(ids)
    doubled = [i for i, n in counts.items() if n > 1]
    assert not doubled, f"{len(doubled)} event ids stored twice, e.g. {doubled[:5]}"
    missing = workload.valid_ids - counts.keys()
    assert not missing, f"{len(missing)} events lost, e.g. {sorted(missing)[:5]}"
    extra = counts.keys() - workload.valid_ids
    assert not extra, f"{len(extra)} unexpected rows, e.g. {sorted(extra)[:5]}"


def dead_letters(client: redis.Redis, stream: str) -> list[dict[bytes, bytes]]:
    """Every entry of ``<stream>:dead``, read in pages (some are huge)."""
    out: list[dict[bytes, bytes]] = []
    start = "-"
    while True:
        page = client.xrange(f"{stream}:dead", min=start, count=500)
        if not page:
            return out
        out.extend(fields for _, fields in page)  # type: ignore[misc]
        last = page[-1][0].decode()  # type: ignore[union-attr]
        millis, seq = last.split("-")
        start = f"{millis}-{int(seq) + 1}"


def assert_dead_lettered(
    client: redis.Redis, stream: str, workload: Workload, *, allow_repeats: bool = False
) -> list[dict[bytes, bytes]]:
    """Every malformed entry is in ``<stream>:dead`` with an error naming its field.

    Each appears once unless ``allow_repeats`` (see docs/guarantees.md: a
    Redis crash between EXEC and its reply can repeat a dead letter).
    """
    letters = dead_letters(client, stream)
    by_source = collections.Counter(letter[b"source_id"].decode() for letter in letters)
    assert by_source.keys() == workload.malformed.keys(), (
        f"dead letters differ: missing {sorted(workload.malformed.keys() - by_source.keys())[:5]},"
        f" unexpected {sorted(by_source.keys() - workload.malformed.keys())[:5]}"
    )
    if not allow_repeats:
        repeated = [sid for sid, n in by_source.items() if n > 1]
        assert not repeated, f"dead-lettered more than once: {repeated[:5]}"
    for letter in letters:
        error = letter[b"error"].decode()
        expected = workload.malformed[letter[b"source_id"].decode()]
        assert error, letter
        if expected:
            assert error.startswith(f"{expected}:"), (expected, error)
    return letters


def pending(client: redis.Redis, stream: str, consumer: str | None = None) -> int:
    """Pending entries of the group (or of one consumer in it)."""
    try:
        if consumer is None:
            return int(client.xpending(stream, GROUP)["pending"])
        rows = client.xpending_range(stream, GROUP, "-", "+", 1_000_000, consumername=consumer)
        return len(rows)
    except redis.ResponseError:  # no group yet
        return 0


class MetricsConsumer(ConsumerProcess):
    """``rev-analytics consume`` with ``/metrics`` on a free loopback port."""

    def __init__(self, log_path: Path, *args: str, env: Mapping[str, str] | None = None) -> None:
        super().__init__(log_path, *args, env=env)
        self.metrics_port = free_port()

    def start(self) -> MetricsConsumer:
        import subprocess

        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "rev_analytics", "consume",
             "--metrics-addr", "127.0.0.1", "--metrics-port", str(self.metrics_port),
             *self.args],
            stdout=log, stderr=subprocess.STDOUT, env=self.env, cwd=ROOT,
        )
        log.close()
        return self

    def scrape(self, timeout: float = 5.0) -> str:
        url = f"http://127.0.0.1:{self.metrics_port}/metrics"
        with urllib.request.urlopen(url, timeout=timeout) as reply:
            return str(reply.read().decode())

    def try_scrape(self) -> str:
        try:
            return self.scrape()
        except OSError:
            return ""


_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$")


def metric(text: str, name: str, **labels: str) -> float | None:
    """The value of sample ``name{labels}`` in a scrape (labels matched as a subset)."""
    for line in text.splitlines():
        match = _SAMPLE.match(line)
        if not match or match.group(1) != name:
            continue
        got = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', match.group(2) or ""))
        if all(got.get(k) == v for k, v in labels.items()):
            return float(match.group(3))
    return None


def metric_or(proc: MetricsConsumer, name: str, default: float = -1.0, **labels: str) -> float:
    value = metric(proc.try_scrape(), name, **labels)
    return default if value is None else value


def consume_args(url: str, db: Path, stream: str, name: str, *extra: str) -> list[str]:
    return ["--redis-url", url, "--db", str(db), "--stream", stream, "--consumer", name, *extra]


def spread(total: int, parts: int, rng: random.Random) -> Sequence[int]:
    """``parts`` sorted random points in (5 %, 80 %) of ``total``, at least 5 % apart."""
    while True:
        points = sorted(rng.randint(total // 20, total * 8 // 10) for _ in range(parts))
        if all(b - a >= total // 20 for a, b in itertools.pairwise(points)):
            return points
