"""``consume --workers N``: N named processes in one group, a dead one restarted, one clean stop."""

from __future__ import annotations

import signal
from pathlib import Path

import psutil
import pytest
import redis

from tests.consumer_support import ConsumerProcess, row_count, wait_for
from tests.reliability.support import (
    Workload,
    assert_stored_exactly_once,
    mixed_workload,
    publish_workload,
)


def _workers(supervisor: ConsumerProcess) -> list[psutil.Process]:
    assert supervisor.process is not None
    return psutil.Process(supervisor.process.pid).children()


def _consumer_names(client: redis.Redis, stream: str) -> set[str]:
    return {c["name"].decode() for c in client.xinfo_consumers(stream, "rev-analytics")}


@pytest.mark.slow
def test_workers_share_the_stream_survive_a_kill_and_stop_together(
    redis_url: str, redis_client: redis.Redis, stream_key: str, tmp_path: Path,
    processes: list[ConsumerProcess],
) -> None:
    db = tmp_path / "store.db"
    workload = publish_workload(redis_client, stream_key, mixed_workload(20_000), Workload())
    supervisor = ConsumerProcess(
        tmp_path / "workers.log", "--redis-url", redis_url, "--db", str(db),
        "--stream", stream_key, "--consumer", "w", "--workers", "2", "--claim-idle", "2",
        "--batch-within", "0.2", cwd=tmp_path)
    processes.append(supervisor.start())
    wait_for(lambda: len(_workers(supervisor)) == 2, 30, "two workers")
    wait_for(lambda: row_count(db) > 0, 60, "the first commit")

    # SIGKILL one worker mid-stream: the supervisor starts it again under its name.
    victim = _workers(supervisor)[0]
    victim.send_signal(signal.SIGKILL)
    victim.wait(10)
    wait_for(lambda: len(_workers(supervisor)) == 2
             and victim.pid not in {w.pid for w in _workers(supervisor)}, 30, "the restart")
    wait_for(lambda: row_count(db) >= len(workload.valid_ids), 120, "every valid event stored")
    assert _consumer_names(redis_client, stream_key) == {"w-1", "w-2"}
    assert "restarting it" in supervisor.log

    children = _workers(supervisor)
    assert supervisor.stop() == 0
    assert all(not child.is_running() or child.status() == psutil.STATUS_ZOMBIE
               for child in children)
    assert_stored_exactly_once(db, workload)
    assert int(redis_client.xpending(stream_key, "rev-analytics")["pending"]) == 0
    # Nothing but what it was asked to write (the store, with SQLite's -wal/-shm while this
    # test still holds connections) is left in the working directory: no Faust data folder.
    left = {p.name for p in tmp_path.iterdir()} - {"workers.log"}
    assert left <= {"store.db", "store.db-wal", "store.db-shm"} and "store.db" in left


def test_a_bad_option_is_exit_2_before_any_worker_starts(tmp_path: Path) -> None:
    supervisor = ConsumerProcess(
        tmp_path / "bad.log", "--redis-url", "http://nope", "--db", str(tmp_path / "x.db"),
        "--workers", "3", cwd=tmp_path)
    supervisor.start()
    assert supervisor.wait() == 2
    assert "must start with redis://" in supervisor.log
    assert list(tmp_path.iterdir()) == [tmp_path / "bad.log"]
