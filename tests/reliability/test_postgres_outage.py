"""PostgreSQL outages: a server that starts after its consumer, and one that crashes mid-stream.

As with Redis outages, the consumer retries with backoff, acknowledges
nothing it has not committed, and ends with every valid event stored once.
"""

from __future__ import annotations

import collections
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import redis

from tests.consumer_support import ConsumerProcess, wait_for
from tests.postgres_server import MISSING_POSTGRES, PostgresServer, free_port, postgres_bin_dir
from tests.reliability.support import (
    assert_dead_lettered,
    mixed_workload,
    pending,
    publish_workload,
)

pytestmark = pytest.mark.slow
STREAM = "rev:prompt_executions"


@pytest.fixture
def server() -> Iterator[PostgresServer]:
    if postgres_bin_dir() is None:
        pytest.fail(MISSING_POSTGRES)
    pg = PostgresServer(port=free_port())
    yield pg
    pg.cleanup()


def stored(url: str) -> list[str]:
    try:
        with psycopg.connect(url, connect_timeout=3) as conn:
            return [r[0] for r in conn.execute("SELECT event_id FROM prompt_metrics")]
    except (psycopg.OperationalError, psycopg.errors.UndefinedTable):
        return []


def test_a_server_that_starts_late_and_one_that_crashes_lose_and_double_nothing(
        server: PostgresServer, redis_url: str, redis_client: redis.Redis,
        tmp_path: Path, processes: list[ConsumerProcess]) -> None:
    url = server.url()
    first = publish_workload(redis_client, STREAM, mixed_workload(5000, malformed_every=50))
    consumer = ConsumerProcess(tmp_path / "consumer.log", "--redis-url", redis_url, "--db", url,
                               "--consumer", "c1").start()
    processes.append(consumer)
    wait_for(lambda: "cannot open the store" in consumer.log, 30, "the consumer waiting")
    assert pending(redis_client, STREAM) == 0  # nothing read before the store opened
    server.start()
    wait_for(lambda: len(stored(url)) == len(first.valid_ids), 60, "the first workload")

    # A crash mid-stream (immediate stop = no checkpoint, as a power cut), then back.
    before = len(first.valid_ids)
    entries = mixed_workload(30_000, malformed_every=50, offset=5000)

    def publish() -> None:
        for _ in range(30):
            publish_workload(redis_client, STREAM, (next(entries) for _ in range(1000)), first,
                             chunk=1000)
            time.sleep(0.1)

    publisher = threading.Thread(target=publish)
    publisher.start()
    wait_for(lambda: len(stored(url)) > before + 2000, 60, "some of the second workload")
    server.stop()
    time.sleep(2.0)
    server.start()
    publisher.join(60)
    workload = first
    wait_for(lambda: pending(redis_client, STREAM) == 0
             and len(stored(url)) >= len(workload.valid_ids), 90, "everything after the crash")

    ids = stored(url)
    assert not [i for i, n in collections.Counter(ids).items() if n > 1]
    assert set(ids) == workload.valid_ids
    assert_dead_lettered(redis_client, STREAM, workload, allow_repeats=True)
    assert consumer.stop() == 0, consumer.log[-3000:]
    assert "commit succeeded again" in consumer.log
