"""Several hosts sharing one PostgreSQL store: a host killed, another cut off, mid-stream.

Five network namespaces on one bridge (:mod:`tests.reliability.netns`):
Redis, PostgreSQL and three consumer hosts, each consumer with its own
stable ``--consumer`` name. While a workload (valid events plus contract
violations) is being published, host 1's consumer is killed with SIGKILL
and host 2's link is cut for longer than ``--claim-idle``, then restored.
Then: every valid event is stored exactly once, every malformed entry is
dead-lettered, nothing is left pending, and host 1's entries were reclaimed
by the survivors.
"""

from __future__ import annotations

import collections
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from rev_analytics.cli.embedded_redis import redis_server_binary
from tests.consumer_support import ROOT, wait_for
from tests.postgres_server import MISSING_POSTGRES, PostgresServer, postgres_bin_dir
from tests.reliability import netns
from tests.reliability.support import (
    Workload,
    assert_dead_lettered,
    mixed_workload,
    pending,
    publish_workload,
)

pytestmark = pytest.mark.slow
STREAM = "rev:prompt_executions"
EVENTS = 24_000
CLAIM_IDLE = 3.0


@pytest.fixture
def network() -> Iterator[netns.Network]:
    reason = netns.available()
    if reason:
        pytest.fail(f"network namespaces unavailable: {reason} (this test needs root and "
                    "iproute2; .ci/run installs iproute2)")
    if postgres_bin_dir() is None:
        pytest.fail(MISSING_POSTGRES)
    net = netns.Network()
    try:
        yield net
    finally:
        net.close()


class Service:
    """A process inside a host's namespace, logging to a file; killed at the end."""

    def __init__(self, host: netns.Host, log: Path, *args: str) -> None:
        self.log = log
        with log.open("ab") as out:
            self.process = subprocess.Popen(
                host.command(*args), stdout=out, stderr=subprocess.STDOUT,
                env=dict(os.environ, PYTHONPATH=str(ROOT)))

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def ensure_stopped(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(30)


def stored_ids(url: str) -> list[str]:
    import psycopg

    try:
        with psycopg.connect(url, connect_timeout=5) as conn:
            return [row[0] for row in conn.execute("SELECT event_id FROM prompt_metrics")]
    except psycopg.errors.UndefinedTable:  # no consumer has created the schema yet
        return []


def test_three_hosts_one_killed_one_cut_off_store_every_event_once(
        network: netns.Network, tmp_path: Path) -> None:
    redis_host, pg_host = network.add("redis"), network.add("pg")
    hosts = [network.add(f"h{i}") for i in (1, 2, 3)]
    services: list[Service] = []
    postgres = PostgresServer(port=5432, listen=pg_host.address, prefix=pg_host.command(),
                              trust_network=f"{network.subnet}.0/24")
    try:
        services.append(Service(
            redis_host, tmp_path / "redis.log", redis_server_binary(prefer_system=True),
            "--bind", redis_host.address,
            "--port", "6379", "--save", "", "--appendonly", "no", "--protected-mode", "no"))
        postgres.start()
        db = postgres.url("postgres")
        client = redis.Redis(host=redis_host.address, port=6379, protocol=2)
        wait_for(lambda: _pings(client), 10, "redis in its namespace")
        consumers = []
        for number, host in enumerate(hosts, 1):
            consumers.append(Service(
                host, tmp_path / f"consumer-{number}.log", sys.executable, "-m", "rev_analytics",
                "consume", "--no-metrics", "--redis-url", f"redis://{redis_host.address}:6379/0",
                "--db", db, "--consumer", f"host-{number}", "--claim-idle", str(CLAIM_IDLE),
                "--batch-within", "0.2"))
        services.extend(consumers)

        # Publish at a steady pace from the root namespace while faults happen.
        workload = Workload()
        entries = mixed_workload(EVENTS, malformed_every=97)

        def publish() -> None:
            for _ in range(EVENTS // 1000):
                publish_workload(client, STREAM, (next(entries) for _ in range(1000)),
                                 workload, chunk=1000)
                time.sleep(0.35)

        publisher = threading.Thread(target=publish)
        publisher.start()

        wait_for(lambda: len(stored_ids(db)) > 3000, 60, "the first windows committed")
        # Killed while it holds entries read but not yet acknowledged.
        wait_for(lambda: pending(client, STREAM, "host-1") >= 50, 30, "host 1 holding entries")
        consumers[0].process.send_signal(signal.SIGKILL)
        consumers[0].process.wait(10)
        orphaned = pending(client, STREAM, "host-1")

        wait_for(lambda: len(stored_ids(db)) > 8000, 60, "more windows committed")
        wait_for(lambda: pending(client, STREAM, "host-2") > 0, 30, "host 2 holding entries")
        hosts[1].cut()
        cut_holding = pending(client, STREAM, "host-2")
        # Longer than --claim-idle: host 3 takes over what host 2 held when cut off. If
        # host 2 was cut in the middle of a commit, its row locks hold host 3's commits
        # until the server drops the dead session (keepalives, ~11 s).
        wait_for(lambda: pending(client, STREAM, "host-2") == 0, 45,
                 "host 2's entries reclaimed while it is cut off")
        # ...and until host 2 has noticed the outage itself (its calls time out).
        wait_for(lambda: "unreachable" in consumers[1].text()
                 or "failed" in consumers[1].text(), 30, "host 2 noticing the cut")
        hosts[1].restore()

        publisher.join(120)
        assert not publisher.is_alive()
        wait_for(lambda: pending(client, STREAM) == 0 and len(stored_ids(db)) >= len(
            workload.valid_ids), 120, "every entry stored and acknowledged")
        time.sleep(1.0)  # a late duplicate insert would show now

        ids = stored_ids(db)
        doubled = [i for i, n in collections.Counter(ids).items() if n > 1]
        assert not doubled, f"stored twice: {doubled[:5]}"
        assert set(ids) == workload.valid_ids
        assert_dead_lettered(client, STREAM, workload, allow_repeats=True)
        assert orphaned > 0, "host 1 was killed holding no entries: the test proved nothing"
        assert pending(client, STREAM, "host-1") == 0  # reclaimed by a survivor
        assert cut_holding > 0
        wait_for(lambda: "reachable again" in consumers[1].text()
                 or "succeeded again" in consumers[1].text(), 30, "host 2 recovering")

        for consumer in consumers[1:]:
            consumer.process.send_signal(signal.SIGTERM)
        for consumer in consumers[1:]:
            assert consumer.process.wait(60) == 0, consumer.text()[-3000:]
        assert "all acknowledged" in consumers[2].text()
    finally:
        for service in services:
            service.ensure_stopped()
        postgres.cleanup()


def _pings(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except redis.ConnectionError:
        return False
