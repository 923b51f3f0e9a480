"""The consumer as a real process: signals, crashes, Redis outages."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import redis

from tests.consumer_support import (
    ConsumerProcess,
    pending_count,
    publish,
    row_count,
    stored_rows,
    valid_fields,
    wait_for,
)
from tests.redis_server import RedisServer

GROUP = "rev-analytics"


def consumer(
    processes: list[ConsumerProcess], tmp_path: Path, url: str, db: Path, stream: str,
    name: str, *extra: str,
) -> ConsumerProcess:
    process = ConsumerProcess(
        tmp_path / f"{name}.log", "--redis-url", url, "--db", str(db), "--stream", stream,
        "--consumer", name, *extra,
    )
    processes.append(process)
    return process.start()


def test_sigterm_flushes_the_open_window_acks_it_and_exits_0(
    redis_url: str, redis_client: redis.Redis, stream_key: str, db_path: Path,
    tmp_path: Path, processes: list[ConsumerProcess],
) -> None:
    # A 60 s window: without a flush on SIGTERM nothing would be committed.
    proc = consumer(processes, tmp_path, redis_url, db_path, stream_key, "c1",
                    "--batch-within", "60")
    publish(redis_client, stream_key, [valid_fields(i) for i in range(300)])
    wait_for(lambda: redis_client.exists(stream_key) and _pending(redis_client, stream_key) == 300,
             30, "the consumer to read all entries")
    assert row_count(db_path) == 0

    started = time.monotonic()
    code = proc.stop(timeout=30)

    assert code == 0, proc.log
    assert time.monotonic() - started < 10
    assert row_count(db_path) == 300
    assert pending_count(redis_client, stream_key, GROUP) == 0
    assert "all acknowledged" in proc.log


def _pending(client: redis.Redis, stream: str) -> int:
    try:
        return pending_count(client, stream, GROUP)
    except redis.ResponseError:  # group not created yet
        return -1


def test_sigkill_mid_stream_then_restart_stores_every_event_exactly_once(
    redis_url: str, redis_client: redis.Redis, stream_key: str, db_path: Path,
    tmp_path: Path, processes: list[ConsumerProcess],
) -> None:
    total = 60_000
    publish(redis_client, stream_key, [valid_fields(i) for i in range(total)])
    proc = consumer(processes, tmp_path, redis_url, db_path, stream_key, "c1",
                    "--batch-max", "2000", "--read-count", "500")
    wait_for(lambda: row_count(db_path) >= 5_000, 60, "some rows")

    proc.kill()  # SIGKILL: no flush, no ack of the window in hand
    left = row_count(db_path)
    assert left < total, "the crash came too late to test anything"

    restarted = consumer(processes, tmp_path, redis_url, db_path, stream_key, "c1")
    wait_for(lambda: row_count(db_path) >= total, 120, "all rows after the restart")
    assert restarted.stop() == 0

    ids = [r[0] for r in stored_rows(db_path)]
    assert len(ids) == total
    assert set(ids) == {f"evt-{i:08d}" for i in range(total)}
    assert pending_count(redis_client, stream_key, GROUP) == 0


def test_a_sibling_killed_for_good_has_its_entries_reclaimed(
    redis_url: str, redis_client: redis.Redis, stream_key: str, db_path: Path,
    tmp_path: Path, processes: list[ConsumerProcess],
) -> None:
    total = 40_000
    publish(redis_client, stream_key, [valid_fields(i) for i in range(total)])
    doomed = consumer(processes, tmp_path, redis_url, db_path, stream_key, "doomed",
                      "--claim-idle", "1", "--read-count", "500")
    wait_for(lambda: row_count(db_path) >= 2_000, 60, "the first consumer to start")
    doomed.kill()
    survivor = consumer(processes, tmp_path, redis_url, db_path, stream_key, "survivor",
                        "--claim-idle", "1", "--read-count", "500")

    wait_for(lambda: row_count(db_path) >= total, 120, "all rows via the survivor")
    assert survivor.stop() == 0

    assert len({r[0] for r in stored_rows(db_path)}) == len(stored_rows(db_path)) == total
    assert pending_count(redis_client, stream_key, GROUP) == 0
    assert "reclaimed" in survivor.log


def test_redis_restart_loses_nothing_and_is_logged_once(
    stream_key: str, db_path: Path, tmp_path: Path, processes: list[ConsumerProcess],
) -> None:
    with RedisServer(appendonly=True) as server:
        client = server.client()
        proc = consumer(processes, tmp_path, server.url, db_path, stream_key, "c1")
        publish(client, stream_key, [valid_fields(i) for i in range(5_000)])
        wait_for(lambda: row_count(db_path) >= 5_000, 60, "the first half")

        server.stop()
        time.sleep(3)  # the consumer keeps retrying, with backoff
        server.start()
        client = server.client()
        publish(client, stream_key, [valid_fields(i) for i in range(5_000, 10_000)])
        wait_for(lambda: row_count(db_path) >= 10_000, 60, "the second half")
        assert proc.stop() == 0

        assert len(stored_rows(db_path)) == 10_000
        assert pending_count(client, stream_key, GROUP) == 0
    log = proc.log
    assert log.count("unreachable") == 1, log
    assert log.count("reachable again") == 1, log


def test_unreachable_redis_at_start_keeps_retrying_and_sigterm_exits_0(
    db_path: Path, tmp_path: Path, processes: list[ConsumerProcess],
) -> None:
    from tests.redis_server import free_port

    url = f"redis://:hunter2@127.0.0.1:{free_port()}/0"
    proc = consumer(processes, tmp_path, url, db_path, "s", "c1")
    wait_for(lambda: "unreachable" in proc.log, 30, "the outage to be logged")
    time.sleep(1)
    assert proc.process is not None and proc.process.poll() is None  # still retrying

    proc.signal(signal.SIGTERM)
    assert proc.process.wait(30) == 0
    assert "hunter2" not in proc.log  # the password never reaches the log


def test_sigterm_during_start_up_is_a_clean_exit_0(
    redis_url: str, db_path: Path, tmp_path: Path,
) -> None:
    import subprocess
    import sys

    from tests.consumer_support import ROOT

    log_path = tmp_path / "early.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "rev_analytics", "consume", "--redis-url", redis_url,
             "--db", str(db_path), "--metrics-addr", "127.0.0.1", "--metrics-port", "0"],
            stdout=log, stderr=subprocess.STDOUT, cwd=ROOT,
        )
    try:
        # The metrics endpoint is up before Faust and the consumer have started:
        # a signal now lands in the middle of start-up.
        wait_for(lambda: "serving metrics on" in log_path.read_text(), 60, "start-up")
        process.send_signal(signal.SIGTERM)
        assert process.wait(30) == 0, log_path.read_text()
    finally:
        if process.poll() is None:
            process.kill()
    assert "Traceback" not in log_path.read_text()
