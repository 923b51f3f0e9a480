"""The consumer in-process against a real Redis and a real SQLite file."""

from __future__ import annotations

import gc
import json
import logging
from datetime import UTC, datetime
from pathlib import Path

import pytest
import redis

from rev_analytics.core.event import PromptEvent
from rev_analytics.core.timefmt import micros_from_datetime
from streams.consumer.observer import NullObserver
from streams.consumer.settings import ConsumerSettings
from tests.consumer_support import (
    pending_count,
    publish,
    row_count,
    run_consumer_until,
    stored_rows,
    valid_fields,
)
from tests.redis_server import free_port

GROUP = "rev-analytics"


def settings(url: str, db: Path, stream: str, **overrides: object) -> ConsumerSettings:
    options: dict[str, object] = {
        "redis_url": url, "db": str(db), "stream": stream, "consumer": "c1",
        "batch_within": 0.1,
    }
    options.update(overrides)
    return ConsumerSettings(**options)  # type: ignore[arg-type]


def test_valid_events_stored_once_and_invalid_ones_dead_lettered_with_reason(
    redis_url: str, redis_client: redis.Redis, stream_key: str, db_path: Path
) -> None:
    good = [valid_fields(i) for i in range(3000)]
    bad = [
        valid_fields(90_001, success="maybe"),
        valid_fields(90_002, template_id=""),
        valid_fields(90_003, quality_score="1.5"),
        {"prompt_id": "p", "model_id": "m", "success": "1"},  # template_id missing
    ]
    bad_ids = publish(redis_client, stream_key, good[:1500] + bad + good[1500:])[1500:1504]

    stats = run_consumer_until(
        settings(redis_url, db_path, stream_key),
        lambda c: c.processor.events_committed + c.processor.dead_lettered >= 3004,
    )

    assert stats.clean_stop
    assert sorted(r[0] for r in stored_rows(db_path)) == sorted(f["event_id"] for f in good)
    dead = redis_client.xrange(f"{stream_key}:dead")
    assert [entry[b"source_id"].decode() for _, entry in dead] == bad_ids
    errors = [entry[b"error"].decode() for _, entry in dead]
    assert errors[0].startswith("success:")
    assert errors[1].startswith("template_id:")
    assert errors[2].startswith("quality_score:")
    assert errors[3].startswith("template_id:")
    # The dead letter keeps every original field, untouched.
    assert dead[0][1][b"success"] == b"maybe"
    assert dead[0][1][b"event_id"] == b"evt-00090001"
    assert pending_count(redis_client, stream_key, GROUP) == 0


def test_events_published_before_the_group_existed_are_processed(
    redis_url: str, redis_client: redis.Redis, stream_key: str, db_path: Path
) -> None:
    publish(redis_client, stream_key, [valid_fields(i) for i in range(10)])
    assert not redis_client.exists(f"{stream_key}:dead")

    run_consumer_until(
        settings(redis_url, db_path, stream_key), lambda c: c.processor.events_committed >= 10
    )

    assert len(stored_rows(db_path)) == 10


def test_repeated_event_id_is_stored_once(
    redis_url: str, redis_client: redis.Redis, stream_key: str, db_path: Path
) -> None:
    # A producer retry re-sends the same event_id: two entries, one row.
    publish(redis_client, stream_key, [valid_fields(7), valid_fields(7), valid_fields(8)])

    stats = run_consumer_until(
        settings(redis_url, db_path, stream_key), lambda c: c.processor.events_committed >= 3
    )

    assert stats.rows_inserted == 2
    assert sorted(stored_rows(db_path)) == [("evt-00000007",), ("evt-00000008",)]


def test_all_contract_fields_round_trip_into_the_table(
    redis_url: str, redis_client: redis.Redis, stream_key: str, db_path: Path
) -> None:
    fields = {
        "schema_version": "1", "event_id": "01HZX-full", "prompt_id": "behavioral_probe_001",
        "template_id": "math_reasoning_template", "model_id": "llama_70b", "success": "TRUE",
        "timestamp": "2026-11-27T10:00:00.250+01:00", "response_length": "245",
        "execution_time": "2.3", "discrimination_score": "0.89", "behavioral_score": "0.76",
        "quality_score": "0.82", "difficulty_level": "4", "domain": "mathematical_reasoning",
        "error_type": "timeout", "response_hash": "abc123", "cost": "0.15",
        "metadata": json.dumps({"segment": 3}), "experiment_id": "exp-7", "rev_run": "run-42",
    }
    entry_id = publish(redis_client, stream_key, [fields])[0]

    run_consumer_until(
        settings(redis_url, db_path, stream_key), lambda c: c.processor.events_committed >= 1
    )

    columns = (
        "event_id, stream_id, schema_version, prompt_id, template_id, model_id, timestamp, "
        "success, response_length, execution_time, discrimination_score, behavioral_score, "
        "quality_score, difficulty_level, domain, cost, error_type, response_hash, metadata, "
        "experiment_id"
    )
    (row,) = stored_rows(db_path, columns)
    assert row == (
        "01HZX-full", entry_id, 1, "behavioral_probe_001", "math_reasoning_template",
        "llama_70b", micros_from_datetime(datetime(2026, 11, 27, 9, 0, 0, 250000, tzinfo=UTC)),
        1, 245, 2.3, 0.89, 0.76, 0.82, 4, "mathematical_reasoning", 0.15, "timeout", "abc123",
        json.dumps({"segment": 3, "_extra": {"rev_run": "run-42"}}, separators=(",", ":")),
        "exp-7",
    )


def test_restarted_consumer_resumes_its_own_pending_entries_at_once(
    redis_url: str, redis_client: redis.Redis, stream_key: str, db_path: Path
) -> None:
    publish(redis_client, stream_key, [valid_fields(i) for i in range(50)])
    redis_client.xgroup_create(stream_key, GROUP, id="0")
    # "c1" read them and died before acknowledging: they are pending on c1.
    redis_client.xreadgroup(GROUP, "c1", {stream_key: ">"}, count=100)
    assert pending_count(redis_client, stream_key, GROUP) == 50

    # claim_idle is long: only resuming its own entries can finish this in time.
    run_consumer_until(
        settings(redis_url, db_path, stream_key, consumer="c1", claim_idle=3600),
        lambda c: c.processor.events_committed >= 50, timeout=10,
    )

    assert len(stored_rows(db_path)) == 50
    assert pending_count(redis_client, stream_key, GROUP) == 0


def test_idle_entries_of_a_dead_sibling_are_reclaimed(
    redis_url: str, redis_client: redis.Redis, stream_key: str, db_path: Path
) -> None:
    publish(redis_client, stream_key, [valid_fields(i) for i in range(40)])
    redis_client.xgroup_create(stream_key, GROUP, id="0")
    redis_client.xreadgroup(GROUP, "crashed-sibling", {stream_key: ">"}, count=25)

    class Reclaims(NullObserver):
        claimed = 0

        def record_reclaimed(self, count: int) -> None:
            Reclaims.claimed += count

    run_consumer_until(
        settings(redis_url, db_path, stream_key, consumer="survivor", claim_idle=0.5),
        lambda c: c.processor.events_committed >= 40, observer=Reclaims(),
    )

    assert len(stored_rows(db_path)) == 40
    assert Reclaims.claimed == 25
    assert pending_count(redis_client, stream_key, GROUP) == 0


def test_two_consumers_in_one_group_share_the_work(
    redis_url: str, redis_client: redis.Redis, stream_key: str, db_path: Path, tmp_path: Path
) -> None:
    import asyncio

    from streams.consumer.runner import Consumer

    publish(redis_client, stream_key, [valid_fields(i) for i in range(20_000)])

    async def both() -> tuple[int, int]:
        first = Consumer(settings(redis_url, db_path, stream_key, consumer="a", read_count=200))
        second = Consumer(
            settings(redis_url, tmp_path / "b.db", stream_key, consumer="b", read_count=200)
        )
        await first.start()
        await second.start()
        while (first.processor.events_committed + second.processor.events_committed) < 20_000:
            await asyncio.sleep(0.02)
        a, b = await first.stop(), await second.stop()
        return a.events_committed, b.events_committed

    a, b = asyncio.run(both())

    assert a + b == 20_000
    assert a > 0 and b > 0
    ids = {r[0] for r in stored_rows(db_path)} | {r[0] for r in stored_rows(tmp_path / "b.db")}
    assert len(ids) == 20_000


def test_entries_deleted_while_pending_are_acknowledged_not_stuck(
    redis_url: str, redis_client: redis.Redis, stream_key: str, db_path: Path
) -> None:
    ids = publish(redis_client, stream_key, [valid_fields(i) for i in range(5)])
    redis_client.xgroup_create(stream_key, GROUP, id="0")
    redis_client.xreadgroup(GROUP, "c1", {stream_key: ">"}, count=10)
    redis_client.xdel(stream_key, ids[0], ids[1])  # trimmed while pending

    run_consumer_until(
        settings(redis_url, db_path, stream_key, consumer="c1"),
        lambda c: c.processor.events_committed >= 3,
    )

    assert len(stored_rows(db_path)) == 3
    assert pending_count(redis_client, stream_key, GROUP) == 0


def test_dead_letter_stream_is_capped(
    redis_url: str, redis_client: redis.Redis, stream_key: str, db_path: Path
) -> None:
    trimmed: list[int] = []

    class Trims(NullObserver):
        def record_dead_letters_trimmed(self, count: int) -> None:
            trimmed.append(count)

    publish(redis_client, stream_key, [valid_fields(i, success="x") for i in range(3000)])

    run_consumer_until(
        settings(redis_url, db_path, stream_key, dead_letter_maxlen=200),
        lambda c: c.processor.dead_lettered >= 3000, observer=Trims(),
    )

    length = redis_client.xlen(f"{stream_key}:dead")
    # MAXLEN ~ trims whole radix-tree nodes: near the cap, never the full 3000.
    assert 200 <= length < 1000
    assert sum(trimmed) == 3000 - length


def test_an_unreachable_redis_is_reported_while_it_lasts_and_at_the_stop(
    db_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import time

    import streams.consumer.source as source

    monkeypatch.setattr(source, "OUTAGE_REMINDER_SECONDS", 1.0)
    caplog.set_level(logging.WARNING)
    nowhere = f"redis://127.0.0.1:{free_port()}/0"
    began = time.monotonic()
    run_consumer_until(settings(nowhere, db_path, "s"),
                       lambda consumer: time.monotonic() - began > 3.5, timeout=20)
    messages = [record.getMessage() for record in caplog.records]
    assert sum("unreachable during" in m for m in messages) == 1
    assert sum("still unreachable after" in m for m in messages) >= 2
    assert messages[-1].startswith("stopped: Redis at redis://127.0.0.1:")
    assert messages[-1].endswith("was never reachable; nothing was read, committed or "
                                 "acknowledged")


def test_no_committed_window_is_kept_alive_by_a_reference_cycle(
    redis_url: str, redis_client: redis.Redis, stream_key: str, db_path: Path
) -> None:
    """The consumer collects cycles rarely (runner.tune_garbage_collector), so a window
    caught in one (the retry policy's callbacks) would stay in memory until then."""
    publish(redis_client, stream_key, [valid_fields(i) for i in range(6000)])
    gc.collect()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        run_consumer_until(settings(redis_url, db_path, stream_key, batch_max=1000),
                           lambda c: c.processor.events_committed >= 6000)
        gc.collect()
        held = [o for o in gc.garbage if isinstance(o, PromptEvent)]
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
    assert row_count(db_path) == 6000
    assert held == [], f"{len(held)} committed events were only reachable through cycles"
