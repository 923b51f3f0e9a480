"""The SQLite layout: upgrades from release 0.1 files, prompt_outcomes, and the query plans."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from analytics.load import load_executions, load_outcome_counts
from rev_analytics.core.event import PromptEvent
from rev_analytics.core.timefmt import micros_from_datetime
from storage import open_store, query
from storage.selection import Selection
from storage.sqlite.schema import LATEST_VERSION
from storage.sqlite.store import SqliteStore

# What release 0.1 created (schema version 1): event time as UTC text.
VERSION_1 = [
    """CREATE TABLE prompt_metrics (
        id INTEGER PRIMARY KEY AUTOINCREMENT, event_id TEXT NOT NULL UNIQUE, stream_id TEXT,
        schema_version INTEGER NOT NULL DEFAULT 1, prompt_id TEXT NOT NULL,
        template_id TEXT NOT NULL, model_id TEXT NOT NULL, timestamp DATETIME NOT NULL,
        success BOOLEAN NOT NULL CHECK (success IN (0, 1)), response_length INTEGER,
        execution_time REAL, discrimination_score REAL, behavioral_score REAL,
        quality_score REAL, difficulty_level INTEGER, domain TEXT, cost REAL, error_type TEXT,
        response_hash TEXT, metadata TEXT, ingested_at DATETIME)""",
    "CREATE INDEX idx_prompt_timestamp ON prompt_metrics(timestamp)",
    "CREATE INDEX idx_template_id ON prompt_metrics(template_id, timestamp)",
    "CREATE INDEX idx_model_id ON prompt_metrics(model_id, timestamp)",
    "CREATE TABLE schema_version (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)",
    "INSERT INTO schema_version VALUES (1, '2026-11-01T00:00:00+00:00')",
]


def version_1_file(path: Path, rows: int = 300) -> Path:
    conn = sqlite3.connect(path)
    for statement in VERSION_1:
        conn.execute(statement)
    conn.executemany(
        "INSERT INTO prompt_metrics (event_id, stream_id, prompt_id, template_id, model_id, "
        "timestamp, success, execution_time, metadata, ingested_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [(f"e{i}", f"{i}-0", f"p{i % 7}", f"t{i % 3}", f"m{i % 2}",
          f"2026-10-{1 + i % 28:02d} {i % 24:02d}:{i % 60:02d}:07.{i:06d}", i % 3 != 0,
          0.25 * (i % 5), '{"a":1}' if i % 2 else None,
          "2026-11-01 00:00:00.000001" if i % 4 else None)
         for i in range(rows)],
    )
    conn.commit()
    conn.close()
    return path


def layout(path: Path) -> dict[str, Any]:
    """Columns (name, type, not null, default, pk), indexes and triggers of our tables."""
    conn = sqlite3.connect(path)
    try:
        tables = {}
        for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' "
                                    "AND name NOT LIKE 'sqlite_%' ORDER BY name"):
            columns = [row[1:] for row in conn.execute(f"PRAGMA table_info({name})")]
            indexes = sorted((row[1], row[2]) for row in conn.execute(f"PRAGMA index_list({name})"))
            tables[name] = (columns, indexes)
        triggers = [row[0] for row in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'trigger' ORDER BY name")]
        return {"tables": tables, "triggers": triggers}
    finally:
        conn.close()


def test_a_version_1_file_upgrades_to_exactly_the_new_layout(tmp_path: Path) -> None:
    old = version_1_file(tmp_path / "old.db")
    SqliteStore(old).close()
    SqliteStore(tmp_path / "new.db").close()
    assert layout(old) == layout(tmp_path / "new.db")
    with sqlite3.connect(old) as conn:
        versions = [v for (v,) in conn.execute("SELECT version FROM schema_version ORDER BY 1")]
        row = conn.execute("SELECT timestamp, ingested_at, success FROM prompt_metrics "
                           "WHERE event_id = 'e5'").fetchone()
        indexes = conn.execute("SELECT name FROM sqlite_master WHERE type = 'index' "
                               "AND tbl_name = 'prompt_metrics' AND sql IS NOT NULL").fetchall()
    assert versions == list(range(1, LATEST_VERSION + 1))
    # exact to the microsecond: 2026-10-06 05:05:07.000005 UTC
    assert row[0] == micros_from_datetime(datetime(2026, 10, 6, 5, 5, 7, 5, tzinfo=UTC))
    assert row[1] == micros_from_datetime(datetime(2026, 11, 1, 0, 0, 0, 1, tzinfo=UTC))
    assert row[2] == 1 and indexes == []


def test_an_upgraded_file_reads_and_counts_like_a_new_one(tmp_path: Path) -> None:
    old = version_1_file(tmp_path / "old.db")
    # A batch command on an old file upgrades it once, then reads it.
    frame = load_executions(old)
    assert len(frame) == 300 and frame["timestamp"].is_monotonic_increasing
    assert frame["timestamp"].min() == datetime(2026, 10, 1, 0, 0, 7, tzinfo=UTC)
    counts = load_outcome_counts(old, by=("template_id", "model_id", "prompt_id"))
    assert counts["n"].sum() == 300
    assert counts["successes"].sum() == int(frame["success"].sum())
    with SqliteStore(old) as store:  # and it keeps working as a store
        new = PromptEvent("fresh", None, "p1", "t0", "m0", 1_790_000_000_000_000, True)
        assert store.insert_events([new]) == 1 and store.count() == 301


def test_an_interrupted_upgrade_changes_nothing_and_resumes(tmp_path: Path) -> None:
    old = version_1_file(tmp_path / "old.db")
    conn = sqlite3.connect(old)
    conn.execute("CREATE TABLE prompt_metrics_v2 (blocker INTEGER)")  # the upgrade's name
    conn.commit()
    conn.close()
    with pytest.raises(Exception, match="already exists"):
        SqliteStore(old)
    with sqlite3.connect(old) as conn:
        assert conn.execute("SELECT MAX(version) FROM schema_version").fetchone() == (1,)
        assert conn.execute("SELECT COUNT(*) FROM prompt_metrics").fetchone() == (300,)
        conn.execute("DROP TABLE prompt_metrics_v2")
    SqliteStore(old).close()
    assert layout(old) == layout(open_new(tmp_path / "fresh.db"))


def open_new(path: Path) -> Path:
    SqliteStore(path).close()
    return path


def _event(i: int, **overrides: Any) -> PromptEvent:
    base = PromptEvent(f"e{i}", f"{i}-0", f"p{i % 5}", f"t{i % 2}", f"m{i % 3}",
                       1_790_000_000_000_000 + i, i % 4 != 0,
                       experiment_id=None if i % 3 else f"exp-{i % 2}")
    return base._replace(**overrides)


def _outcomes(store: SqliteStore) -> list[tuple[Any, ...]]:
    return store.conn.execute(
        "SELECT template_id, model_id, prompt_id, experiment_id, executions, successes "
        "FROM prompt_outcomes WHERE executions > 0 ORDER BY 1, 2, 3, 4").fetchall()


def _recounted(store: SqliteStore) -> list[tuple[Any, ...]]:
    return store.conn.execute(
        "SELECT template_id, model_id, prompt_id, coalesce(experiment_id, ''), COUNT(*), "
        "SUM(success) FROM prompt_metrics GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4").fetchall()


def test_prompt_outcomes_stay_exact_through_duplicates_deletes_and_updates(db_path: Path) -> None:
    with open_store(db_path) as store:
        assert isinstance(store, SqliteStore)
        assert store.insert_events([_event(i) for i in range(200)]) == 200
        # a redelivered window: nothing new, nothing counted twice
        assert store.insert_events([_event(i) for i in range(150, 260)]) == 60
        assert _outcomes(store) == _recounted(store) and sum(r[4] for r in _outcomes(store)) == 260
        with store.conn:
            store.conn.execute("DELETE FROM prompt_metrics WHERE event_id IN ('e1', 'e2')")
            store.conn.execute("UPDATE prompt_metrics SET success = 1 - success, "
                               "template_id = 'moved' WHERE event_id = 'e7'")
        assert _outcomes(store) == _recounted(store)


def _counts_read(path: Path) -> list[tuple[Any, ...]]:
    counts = load_outcome_counts(path, by=("template_id", "model_id", "prompt_id"))
    return sorted(counts.itertuples(index=False, name=None))


def _counts_recounted(store: SqliteStore) -> list[tuple[Any, ...]]:
    return sorted(store.conn.execute(
        "SELECT template_id, model_id, prompt_id, COUNT(*), SUM(success) FROM prompt_metrics "
        "GROUP BY 1, 2, 3").fetchall())


def test_rows_inserted_behind_the_stores_back_are_counted_by_readers_and_the_next_write(
        db_path: Path) -> None:
    """prompt_outcomes is brought up to date by the store's writes; a row some other
    program inserted is counted from the rows until then, never silently missed."""
    with open_store(db_path) as store:
        assert isinstance(store, SqliteStore)
        store.insert_events([_event(i) for i in range(100)])
        columns = ", ".join(PromptEvent._fields)
        with store.conn:
            store.conn.execute(
                f"INSERT INTO prompt_metrics ({columns}) VALUES "
                f"({', '.join('?' for _ in PromptEvent._fields)})",
                tuple(_event(500, template_id="t-raw")))
        assert ("t-raw", "m2", "p0", 1, 0) in _counts_read(db_path)
        assert _counts_read(db_path) == _counts_recounted(store)
        store.insert_events([_event(100)])
        assert _outcomes(store) == _recounted(store)
        assert ("t-raw", "m2", "p0", "", 1, 0) in _outcomes(store)


def test_deleting_the_newest_rows_keeps_later_inserts_counted(db_path: Path) -> None:
    """SQLite reuses ids above the largest left: the watermark must come down with it."""
    with open_store(db_path) as store:
        assert isinstance(store, SqliteStore)
        store.insert_events([_event(i) for i in range(50)])
        with store.conn:
            store.conn.execute("DELETE FROM prompt_metrics WHERE id > 40")
        store.insert_events([_event(i) for i in range(60, 70)])
        assert _outcomes(store) == _recounted(store)
        assert sum(row[4] for row in _outcomes(store)) == 50
        assert _counts_read(db_path) == _counts_recounted(store)


def _plan(store: SqliteStore, sql: str, params: list[Any]) -> str:
    rows = store.conn.execute(f"EXPLAIN QUERY PLAN {sql}", params).fetchall()
    return " | ".join(row[-1] for row in rows)


def test_query_plans_of_the_batch_reads(db_path: Path) -> None:
    """What each batch query costs, read from SQLite's own plan (README, Storage layout)."""
    with SqliteStore(db_path) as store:
        store.insert_events([_event(i) for i in range(100)])
        since = datetime(2026, 1, 1, tzinfo=UTC)
        ab = query.outcome_counts(("template_id", "model_id", "prompt_id"),
                                  Selection(templates=["t0", "t1"]), query.SQLITE)
        models = query.outcome_counts(("template_id", "model_id", "prompt_id"),
                                      Selection(models=["m0", "m1"]), query.SQLITE)
        ranged = query.outcome_counts(("template_id", "model_id"),
                                      Selection(since=since, templates=["t0"]), query.SQLITE)
        load = query.rows(("template_id", "success"), Selection(since=since), query.SQLITE,
                          ordered=False)
        export = query.rows(("event_id",), None, query.SQLITE, ordered=True)
        # A/B tests: a range of the small table's primary key, never the big table.
        assert _plan(store, *ab) == "SEARCH prompt_outcomes USING PRIMARY KEY (template_id=?)"
        assert "SCAN prompt_outcomes" in _plan(store, *models)
        assert "prompt_metrics" not in _plan(store, *models)
        # With a time range, and for loads and exports: one sequential scan of the rows.
        assert _plan(store, *ranged).startswith("SCAN prompt_metrics")
        assert _plan(store, *load) == "SCAN prompt_metrics"
        assert _plan(store, *export).startswith("SCAN prompt_metrics")
