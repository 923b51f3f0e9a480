"""The producer API against a real Redis: ids, validation at the source, retries."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import pytest
import redis

from rev_analytics.core.decode import decode_entry
from rev_analytics.core.errors import ConfigError, InvalidEventError
from rev_analytics.core.timefmt import micros_from_datetime
from storage import open_store
from streams.producer import AsyncProducer, Producer, event_from_rev_result, prepare
from streams.producer.quality import composite_quality
from tests.redis_server import RedisServer


def _event(**overrides: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "prompt_id": "probe-001",
        "template_id": "math_reasoning",
        "model_id": "llama_70b",
        "success": True,
        "execution_time": 2.3,
        "quality_score": 0.82,
    }
    fields.update(overrides)
    return fields


Entries = list[tuple[bytes, dict[bytes, bytes]]]


def _entries(client: redis.Redis, stream: str) -> Entries:
    return cast(Entries, client.xrange(stream))


def test_publish_returns_the_event_id_that_lands_in_the_stream(
    redis_url: str, redis_client: redis.Redis, stream_key: str
) -> None:
    with Producer(redis_url, stream_key) as producer:
        event_id = producer.publish(_event(), domain="math")
    [(entry_id, fields)] = _entries(redis_client, stream_key)
    decoded = decode_entry(entry_id, fields)
    assert decoded.event_id == event_id
    assert decoded.domain == "math"  # keyword fields merge into the mapping
    assert decoded.execution_time == 2.3
    assert decoded.schema_version == 1


def test_generated_event_ids_are_uuid7_and_time_ordered(
    redis_url: str, stream_key: str
) -> None:
    with Producer(redis_url, stream_key) as producer:
        ids = [producer.publish(_event(prompt_id=f"p{i}")) for i in range(50)]
    parsed = [uuid.UUID(event_id) for event_id in ids]
    assert all(u.version == 7 for u in parsed)
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)


def test_a_given_event_id_and_timestamp_are_kept(
    redis_url: str, redis_client: redis.Redis, stream_key: str
) -> None:
    moment = datetime(2026, 3, 1, 12, 30, 15, 250000, tzinfo=UTC)
    with Producer(redis_client, stream_key) as producer:
        assert producer.publish(_event(event_id="rev-42", timestamp=moment)) == "rev-42"
        producer.publish(_event(event_id="rev-43", timestamp=moment.timestamp() + 1))
    first, second = (decode_entry(i, f) for i, f in _entries(redis_client, stream_key))
    assert first.timestamp == micros_from_datetime(moment)  # to the microsecond
    assert second.timestamp == micros_from_datetime(moment) + 1_000_000
    redis_client.ping()  # a client passed in is not closed by the producer


def test_publish_many_uses_one_pipeline_per_chunk_and_keeps_order(
    redis_url: str, redis_client: redis.Redis, stream_key: str
) -> None:
    events = [_event(prompt_id=f"p{i}", success=i % 3 == 0) for i in range(1234)]
    with Producer(redis_url, stream_key, chunk_size=100) as producer:
        ids = producer.publish_many(events)
    entries = _entries(redis_client, stream_key)
    assert len(ids) == len(entries) == 1234
    decoded = [decode_entry(i, f) for i, f in entries]
    assert [e.event_id for e in decoded] == ids
    assert [e.prompt_id for e in decoded] == [f"p{i}" for i in range(1234)]
    assert sum(e.success for e in decoded) == sum(1 for i in range(1234) if i % 3 == 0)


def test_invalid_event_raises_before_anything_is_written(
    redis_url: str, redis_client: redis.Redis, stream_key: str
) -> None:
    with Producer(redis_url, stream_key) as producer:
        with pytest.raises(InvalidEventError, match="quality_score") as info:
            producer.publish(_event(quality_score=1.5))
        assert info.value.field == "quality_score"
        with pytest.raises(InvalidEventError, match="template_id"):
            producer.publish(_event(template_id=""))
        with pytest.raises(InvalidEventError, match="timestamp"):
            producer.publish(_event(timestamp=datetime(2026, 1, 1)))  # naive
        with pytest.raises(InvalidEventError, match="metadata"):
            producer.publish(_event(metadata={"x": object()}))
        with pytest.raises(InvalidEventError, match="metadata"):
            producer.publish(_event(metadata=[1, 2]))  # JSON, but not an object
    assert redis_client.exists(stream_key) == 0


def test_publish_many_names_the_bad_event_and_sends_nothing_of_its_chunk(
    redis_url: str, redis_client: redis.Redis, stream_key: str
) -> None:
    events = [_event(prompt_id=f"p{i}") for i in range(25)]
    events[17]["success"] = "maybe"
    with (
        Producer(redis_url, stream_key, chunk_size=10) as producer,
        pytest.raises(InvalidEventError, match=r"success.*event #17"),
    ):
        producer.publish_many(events)
    assert redis_client.xlen(stream_key) == 10  # the first chunk only


def test_validation_can_be_switched_off_for_dead_letter_demos(
    redis_url: str, redis_client: redis.Redis, stream_key: str
) -> None:
    with Producer(redis_url, stream_key, validate=False) as producer:
        producer.publish(_event(success="maybe"))
    [(entry_id, fields)] = _entries(redis_client, stream_key)
    with pytest.raises(InvalidEventError, match="success"):
        decode_entry(entry_id, fields)


def test_async_producer_publishes_single_and_many(
    redis_url: str, redis_client: redis.Redis, stream_key: str
) -> None:
    async def run() -> tuple[str, list[str]]:
        async with AsyncProducer(redis_url, stream_key, chunk_size=7) as producer:
            one = await producer.publish(_event(prompt_id="single"))
            many = await producer.publish_many(_event(prompt_id=f"m{i}") for i in range(20))
            with pytest.raises(InvalidEventError, match="difficulty_level"):
                await producer.publish(_event(difficulty_level=6))
            return one, many

    one, many = asyncio.run(run())
    decoded = [decode_entry(i, f) for i, f in _entries(redis_client, stream_key)]
    assert [e.event_id for e in decoded] == [one, *many]
    assert decoded[0].prompt_id == "single"
    assert [e.prompt_id for e in decoded[1:]] == [f"m{i}" for i in range(20)]


def test_a_resent_event_id_is_stored_once(
    redis_url: str, redis_client: redis.Redis, stream_key: str, db_path: Path
) -> None:
    # What a retry after a lost reply looks like: the same event twice in the stream.
    event_id, wire = prepare(_event())
    redis_client.xadd(stream_key, wire)  # type: ignore[arg-type]
    redis_client.xadd(stream_key, wire)  # type: ignore[arg-type]
    entries = _entries(redis_client, stream_key)
    assert len(entries) == 2
    decoded = [decode_entry(i, f) for i, f in entries]
    assert {e.event_id for e in decoded} == {event_id}
    assert decoded[0].stream_id != decoded[1].stream_id
    with open_store(db_path) as store:
        assert store.insert_events(decoded[:1]) == 1
        assert store.insert_events(decoded[1:]) == 0
        assert store.count() == 1


def test_producer_blocks_through_a_redis_restart_and_publishes_once() -> None:
    with RedisServer() as server:
        producer = Producer(server.url, "retry:stream", retries=12, backoff=0.05,
                            max_backoff=0.5)
        producer.publish(_event(prompt_id="before"))  # connection established
        server.stop()
        restarter = threading.Timer(0.8, server.start)
        restarter.start()
        began = time.monotonic()
        try:
            event_id = producer.publish(_event(prompt_id="during"))
        finally:
            restarter.join()
        waited = time.monotonic() - began
        client = server.client()
        entries = _entries(client, "retry:stream")  # a fresh server: only what came after
        producer.close()
        client.close()
    assert waited >= 0.7  # it really waited for the server to come back
    ids = [decode_entry(i, f).event_id for i, f in entries]
    assert ids == [event_id]


def test_producer_gives_up_after_its_retries() -> None:
    with RedisServer() as server:
        url = server.url
    producer = Producer(url, "gone", retries=2, backoff=0.01)
    began = time.monotonic()
    with pytest.raises(redis.ConnectionError):
        producer.publish(_event())
    assert time.monotonic() - began < 5
    producer.close()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"retries": -1}, "retries"),
        ({"backoff": -0.1}, "backoff"),
        ({"chunk_size": 0}, "chunk size"),
        ({"maxlen": 0}, "maxlen"),
    ],
)
def test_bad_producer_settings_are_config_errors(
    redis_url: str, kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        Producer(redis_url, "s", **kwargs)


def test_maxlen_trims_the_stream_approximately(
    redis_url: str, redis_client: redis.Redis, stream_key: str
) -> None:
    with Producer(redis_url, stream_key, maxlen=100) as producer:
        producer.publish_many(_event(prompt_id=f"p{i}") for i in range(2000))
    assert 100 <= redis_client.xlen(stream_key) < 2000


# --- event_from_rev_result ------------------------------------------------------------


def _rev_result(**overrides: Any) -> dict[str, Any]:
    result: dict[str, Any] = {
        "prompt_id": "behavioral_probe_001",
        "template_id": "math_reasoning_template",
        "model_id": "llama_70b",
        "success": True,
        "response": "x" * 245,
        "execution_time": 2.3,
        "difficulty_level": 4,
        "domain": "mathematical_reasoning",
        "cost": 0.15,
        "segment_count": 3,
    }
    result.update(overrides)
    return result


def test_rev_result_maps_like_the_design_document(
    redis_url: str, redis_client: redis.Redis, stream_key: str
) -> None:
    fields = event_from_rev_result(
        _rev_result(),
        merkle_verification={"verification_confidence": 0.89, "tree_depth": 7},
        behavioral_analysis={"overall_score": 0.76, "features": {"hedging": 0.2}},
    )
    assert fields["discrimination_score"] == 0.89
    assert fields["behavioral_score"] == 0.76
    assert fields["response_length"] == 245
    expected = (0.4 * 1 + 0.3 * 0.89 + 0.2 * 0.76 + 0.1 * (1 - 2.3 / 60)) / 1.0
    assert fields["quality_score"] == pytest.approx(expected)
    assert fields["metadata"] == {
        "segment_count": 3, "merkle_depth": 7, "behavioral_features": {"hedging": 0.2},
    }
    with Producer(redis_url, stream_key) as producer:
        event_id = producer.publish(fields)
    [(entry_id, raw)] = _entries(redis_client, stream_key)
    decoded = decode_entry(entry_id, raw)
    assert decoded.event_id == event_id
    assert (decoded.difficulty_level, decoded.domain, decoded.cost) == (4, "mathematical_reasoning",
                                                                         0.15)
    assert decoded.quality_score == pytest.approx(expected)


def test_rev_result_without_analyses_leaves_scores_absent_not_zero() -> None:
    fields = event_from_rev_result(_rev_result(success=False, execution_time=None))
    assert "discrimination_score" not in fields
    assert "behavioral_score" not in fields
    assert fields["quality_score"] == composite_quality(False) == 0.0
    fields = event_from_rev_result(_rev_result(), None, {"overall_score": 1.0})
    assert fields["quality_score"] == pytest.approx((0.4 + 0.2 + 0.1 * (1 - 2.3 / 60)) / 0.7)


def test_rev_result_overrides_and_timestamps() -> None:
    moment = datetime.now(UTC) - timedelta(hours=1)
    fields = event_from_rev_result(_rev_result(timestamp=moment), domain="override")
    assert fields["domain"] == "override"
    _, wire = prepare(fields)
    assert decode_entry("1-0", wire).timestamp == micros_from_datetime(moment)


@pytest.mark.parametrize("missing", ["prompt_id", "template_id", "model_id", "success"])
def test_rev_result_missing_required_key_is_named(missing: str) -> None:
    result = _rev_result()
    del result[missing]
    with pytest.raises(InvalidEventError, match=missing) as info:
        event_from_rev_result(result)
    assert info.value.field == missing


def test_rev_result_rejects_non_numeric_confidence() -> None:
    with pytest.raises(InvalidEventError, match="verification_confidence"):
        event_from_rev_result(_rev_result(), {"verification_confidence": "high"})


def test_async_producer_retries_through_a_redis_restart() -> None:
    async def run(server: RedisServer) -> str:
        async with AsyncProducer(server.url, "retry:async", retries=12, backoff=0.05,
                                 max_backoff=0.5) as producer:
            await producer.publish(_event(prompt_id="before"))
            server.stop()
            loop = asyncio.get_running_loop()

            def restart_later() -> None:
                time.sleep(0.8)
                server.start()

            restart = loop.run_in_executor(None, restart_later)
            event_id = await producer.publish(_event(prompt_id="during"))
            await restart
            return event_id

    with RedisServer() as server:
        began = time.monotonic()
        event_id = asyncio.run(run(server))
        waited = time.monotonic() - began
        client = server.client()
        entries = _entries(client, "retry:async")
        client.close()
    assert waited >= 0.7
    assert [decode_entry(i, f).event_id for i, f in entries] == [event_id]


def test_rev_result_accepts_numpy_numbers() -> None:
    import numpy as np

    fields = event_from_rev_result(
        _rev_result(success=np.bool_(True)), {"verification_confidence": np.float32(0.5)}
    )
    assert fields["success"] is True
    assert fields["discrimination_score"] == 0.5
    with pytest.raises(InvalidEventError, match="success"):
        event_from_rev_result(_rev_result(success="yes"))
