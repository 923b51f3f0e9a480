"""Issue 6, item 4: SQLite refuses writes for a while; nothing is acked, lost or doubled.

Two faults, injected from a connection the consumer does not own (so no mock
stands in for SQLite):

* a lock: ``BEGIN EXCLUSIVE`` held for several seconds, longer than the
  consumer's ``--sqlite-busy-timeout``, so its commits fail with
  "database is locked";
* a failing write: a ``BEFORE INSERT`` trigger that raises "simulated full
  disk" (as root, chmod cannot make the file read-only, and max_page_count
  is per connection, so a trigger is the honest way to make another
  process's insert fail), dropped again later.

While a fault lasts the test checks that nothing of the affected window is
acknowledged (entries stay pending), no row appears, ``rev_storage_healthy``
is 0 and ``rev_storage_write_failures_total`` grows, and that the failure is
logged once, not once per retry. After the fault clears, everything is
stored exactly once, dead letters are written once, and the health gauge is
back to 1.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from storage.sqlite.schema import LATEST_VERSION
from tests.consumer_support import ConsumerProcess, row_count, wait_for
from tests.reliability.support import (
    MetricsConsumer,
    Workload,
    assert_dead_lettered,
    assert_stored_exactly_once,
    consume_args,
    metric_or,
    mixed_workload,
    pending,
    publish_workload,
)

FAULT_SECONDS = 3.0


@pytest.fixture
def outsider(db_path: Path) -> Iterator[sqlite3.Connection]:
    """Another connection to the consumer's database, in autocommit mode."""
    conn = sqlite3.connect(db_path, timeout=30, isolation_level=None)
    yield conn
    conn.close()


def _hold_fault_and_check_nothing_moves(
    proc: MetricsConsumer, client: redis.Redis, stream: str, db: Path, rows_before: int,
    failures_before: float,
) -> float:
    """Wait for the fault to show, keep it FAULT_SECONDS, check the window stays pending."""
    wait_for(lambda: metric_or(proc, "rev_storage_healthy") == 0, 20,
             "rev_storage_healthy to drop to 0")
    shown = time.monotonic()
    while time.monotonic() - shown < FAULT_SECONDS:
        assert pending(client, stream) > 0  # read, not committed: not acknowledged
        assert row_count(db) == rows_before
        time.sleep(0.25)
    failures = sum(
        metric_or(proc, "rev_storage_write_failures_total", 0.0, error=kind)
        for kind in ("OperationalError", "IntegrityError", "DatabaseError")
    )
    assert failures >= failures_before + 2, "the window was not retried"
    assert metric_or(proc, "rev_storage_healthy") == 0
    return failures


def _drain(proc: MetricsConsumer, client: redis.Redis, stream: str, db: Path,
           workload: Workload) -> None:
    wait_for(lambda: row_count(db) >= len(workload.valid_ids), 60, "the retried windows")
    wait_for(lambda: pending(client, stream) == 0, 30, "every entry acknowledged")
    wait_for(lambda: metric_or(proc, "rev_storage_healthy") == 1, 10, "healthy again")


def test_locked_database_then_failing_writes_delay_but_never_lose_or_double(
    redis_url: str, redis_client: redis.Redis, stream_key: str, db_path: Path,
    tmp_path: Path, processes: list[ConsumerProcess], outsider: sqlite3.Connection,
) -> None:
    proc = MetricsConsumer(tmp_path / "c1.log", *consume_args(
        redis_url, db_path, stream_key, "c1", "--sqlite-busy-timeout", "0.2",
        "--batch-within", "0.1"))
    processes.append(proc.start())
    workload = publish_workload(redis_client, stream_key, mixed_workload(2_000))
    _drain(proc, redis_client, stream_key, db_path, workload)

    # Fault 1: another process holds the write lock for several seconds.
    outsider.execute("BEGIN EXCLUSIVE")
    publish_workload(redis_client, stream_key, mixed_workload(2_000, offset=2_000), workload)
    failures = _hold_fault_and_check_nothing_moves(
        proc, redis_client, stream_key, db_path, 2_000 - 20, 0)
    outsider.execute("ROLLBACK")
    _drain(proc, redis_client, stream_key, db_path, workload)
    assert "database is locked" in proc.log

    # Fault 2: every insert fails, as on a full disk, until the trigger goes.
    outsider.execute(
        "CREATE TRIGGER simulated_full_disk BEFORE INSERT ON prompt_metrics "
        "BEGIN SELECT RAISE(ABORT, 'simulated full disk'); END"
    )
    publish_workload(redis_client, stream_key, mixed_workload(2_000, offset=4_000), workload)
    _hold_fault_and_check_nothing_moves(
        proc, redis_client, stream_key, db_path, 4_000 - 40, failures)
    outsider.execute("DROP TRIGGER simulated_full_disk")
    _drain(proc, redis_client, stream_key, db_path, workload)

    assert proc.stop() == 0, proc.log
    log = proc.log
    # Once per fault, not once per retry; and the recovery is said once per fault too.
    assert log.count("simulated full disk") == 1, log
    assert log.count("commit succeeded again") == 2, log
    assert_stored_exactly_once(db_path, workload)
    assert_dead_lettered(redis_client, stream_key, workload)


def test_sigterm_while_the_database_stays_locked_leaves_the_window_pending_for_the_next_run(
    redis_url: str, redis_client: redis.Redis, stream_key: str, db_path: Path,
    tmp_path: Path, processes: list[ConsumerProcess], outsider: sqlite3.Connection,
) -> None:
    args = consume_args(redis_url, db_path, stream_key, "c1", "--sqlite-busy-timeout", "0.2",
                        "--batch-within", "0.1")
    first = MetricsConsumer(tmp_path / "first.log", *args)
    processes.append(first.start())
    wait_for(lambda: "consuming" in first.log, 30, "the consumer to open the store")
    outsider.execute("BEGIN EXCLUSIVE")
    workload = publish_workload(redis_client, stream_key, mixed_workload(1_000))
    wait_for(lambda: metric_or(first, "rev_storage_healthy") == 0, 20, "the commit to fail")

    # The stop waits for the lock up to its drain timeout (batch-within + 30 s),
    # so free the lock only after the stop began: the flush then succeeds.
    assert first.process is not None
    first.process.terminate()
    time.sleep(1.0)
    assert first.process.poll() is None, "stopped without settling the window"
    assert row_count(db_path) == 0 and pending(redis_client, stream_key) == 1_000
    outsider.execute("ROLLBACK")
    assert first.process.wait(60) == 0, first.log
    assert "all acknowledged" in first.log
    assert_stored_exactly_once(db_path, workload)
    assert_dead_lettered(redis_client, stream_key, workload)
    assert pending(redis_client, stream_key) == 0


def test_database_locked_at_start_up_is_a_prompt_one_line_error(
    redis_url: str, db_path: Path, outsider: sqlite3.Connection,
) -> None:
    import subprocess
    import sys

    from tests.consumer_support import ROOT

    outsider.execute("BEGIN EXCLUSIVE")  # the file is new: even opening it needs the lock
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "rev_analytics", "consume", "--no-metrics",
         *consume_args(redis_url, db_path, "s", "c1", "--sqlite-busy-timeout", "0.2")],
        capture_output=True, text=True, timeout=60, cwd=ROOT,
    )
    elapsed = time.monotonic() - started
    outsider.execute("ROLLBACK")

    # A locked database is a runtime condition (exit 1), not bad input (exit 2).
    assert done.returncode == 1, done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("rev-analytics")]
    assert len(errors) == 1 and "database is locked" in errors[0], done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    assert elapsed < 15, f"took {elapsed:.1f} s to give up (it used to hang 30 s)"


def _open_new_store(path: str, start_at: float) -> str:
    from storage import open_store

    time.sleep(max(0.0, start_at - time.time()))
    try:
        with open_store(path) as store:
            return f"ok {store.count()}"
    except Exception as exc:  # reported, not raised: the parent asserts on it
        return f"{type(exc).__name__}: {exc}"


def test_consumers_opening_a_new_database_at_the_same_moment_all_succeed(tmp_path: Path) -> None:
    # Three consumers started together on a fresh file used to race to create
    # the table ("table prompt_metrics already exists", exit 2).
    from concurrent.futures import ProcessPoolExecutor

    for attempt in range(5):
        path = str(tmp_path / f"new-{attempt}.db")
        start_at = time.time() + 0.5
        with ProcessPoolExecutor(4) as pool:
            results = list(pool.map(_open_new_store, [path] * 4, [start_at] * 4))
        assert results == ["ok 0"] * 4, results
        with sqlite3.connect(path) as conn:
            versions = conn.execute("SELECT version FROM schema_version ORDER BY 1").fetchall()
            assert [v for (v,) in versions] == list(range(1, LATEST_VERSION + 1))
