"""The SQLite store on real files (and :memory:)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from rev_analytics.core.errors import StorageError
from rev_analytics.core.event import PromptEvent
from rev_analytics.core.timefmt import micros_from_seconds
from storage import open_store
from storage.sqlite.schema import LATEST_VERSION


def event(event_id: str, **overrides: object) -> PromptEvent:
    values: dict[str, object] = {
        "event_id": event_id, "stream_id": "1764316341000-0", "prompt_id": "p",
        "template_id": "t", "model_id": "m", "timestamp": 1764316341_500000, "success": True,
    }
    values.update(overrides)
    return PromptEvent(**values)  # type: ignore[arg-type]


def test_insert_is_idempotent_on_event_id(db_path: Path) -> None:
    with open_store(db_path) as store:
        assert store.insert_events([event("a"), event("b")]) == 2
        assert store.insert_events([event("b"), event("c"), event("c")]) == 1
        assert store.count() == 3


def test_insert_takes_any_iterable_of_events(db_path: Path) -> None:
    """A generator (the simulator's workloads are generators) inserts like a list."""
    with open_store(db_path) as store:
        assert store.insert_events(event(f"g{i}") for i in range(3001)) == 3001
        assert store.insert_events(iter([event("g0"), event("x")]), ingested_at=1.0) == 1
        assert store.count() == 3002


def test_memory_database_keeps_its_rows_across_calls() -> None:
    # The design document's implementation opened a new connection per call,
    # so ":memory:" lost everything between calls.
    with open_store(":memory:") as store:
        store.insert_events([event("a")])
        store.insert_events([event("b")])
        assert store.count() == 2


def test_rows_hold_integer_microseconds_and_success_as_0_or_1(db_path: Path) -> None:
    with open_store(db_path) as store:
        store.insert_events([event("a", success=False, timestamp=1764316341_500001)])
        row = store.conn.execute(
            "SELECT timestamp, typeof(timestamp), success, ingested_at FROM prompt_metrics"
        ).fetchone()
    assert row[:3] == (1764316341_500001, "integer", 0)
    import time
    assert abs(row[3] / 1e6 - time.time()) < 60  # the store's own clock, in microseconds


def test_plain_sql_date_arithmetic_works_on_the_timestamp_column(db_path: Path) -> None:
    import time

    with open_store(db_path) as store:
        store.insert_events([event("old", timestamp=micros_from_seconds(time.time() - 10 * 86400)),
                             event("new", timestamp=micros_from_seconds(time.time() - 3600))])
        recent = store.conn.execute(
            "SELECT event_id, datetime(timestamp / 1000000, 'unixepoch') FROM prompt_metrics "
            "WHERE timestamp > unixepoch('now', '-7 days') * 1000000"
        ).fetchall()
    assert [row[0] for row in recent] == ["new"] and recent[0][1].startswith("20")


def test_hostile_ids_are_stored_verbatim(db_path: Path) -> None:
    hostile = "x'); DROP TABLE prompt_metrics; --<script>alert(1)</script>\"é😀"
    with open_store(db_path) as store:
        store.insert_events([event("h", template_id=hostile, model_id=hostile)])
        assert store.conn.execute("SELECT template_id, model_id FROM prompt_metrics").fetchone() \
            == (hostile, hostile)


def test_schema_version_is_recorded_and_reopening_does_not_migrate_again(db_path: Path) -> None:
    open_store(db_path).close()
    with open_store(db_path) as store:
        versions = store.conn.execute("SELECT version FROM schema_version").fetchall()
    assert [v for (v,) in versions] == list(range(1, LATEST_VERSION + 1))


def test_a_database_from_a_newer_release_is_refused(db_path: Path) -> None:
    open_store(db_path).close()
    with sqlite3.connect(db_path) as conn:
        conn.execute("INSERT INTO schema_version VALUES (?, 'future')", (LATEST_VERSION + 1,))
    with pytest.raises(StorageError, match="newer than this"):
        open_store(db_path)


def test_read_only_open_never_creates_a_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.db"
    with pytest.raises(StorageError, match="no database"):
        open_store(missing, read_only=True)
    assert not missing.exists()


def test_a_file_that_is_not_sqlite_is_a_clear_error(tmp_path: Path) -> None:
    bogus = tmp_path / "bogus.db"
    bogus.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StorageError, match="cannot open database"):
        open_store(bogus)


def test_failed_transaction_leaves_nothing_behind(db_path: Path) -> None:
    with open_store(db_path) as store:
        store.conn.execute(
            "CREATE TRIGGER fail BEFORE INSERT ON prompt_metrics WHEN NEW.event_id = 'bad' "
            "BEGIN SELECT RAISE(ABORT, 'simulated failure'); END"
        )
        with pytest.raises(sqlite3.DatabaseError):
            store.insert_events([event("good"), event("bad")])
        assert store.count() == 0


def test_windows_of_any_size_use_a_dozen_distinct_insert_statements() -> None:
    """Each distinct row count is a prepared statement of up to ~1 MB in sqlite3's cache
    of 128: live windows of every size must not fill it (storage.sqlite.store)."""
    from storage.sqlite.store import ROWS_PER_STATEMENT, statement_sizes

    sizes: set[int] = set()
    for rows in range(0, 20_001):
        split = statement_sizes(rows)
        assert sum(split) == rows and all(0 < size <= ROWS_PER_STATEMENT for size in split)
        sizes.update(split)
    assert len(sizes) <= 12


def test_a_window_split_into_many_statements_stores_every_row(db_path: Path) -> None:
    with open_store(db_path) as store:
        assert store.insert_events([event(f"w{i}") for i in range(3007)]) == 3007
        assert store.insert_events([event(f"w{i}") for i in range(3000, 3011)]) == 4
        assert store.count() == 3011
