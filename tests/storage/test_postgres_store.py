"""The PostgreSQL store behaves as the SQLite one: same table, same exactly-once rule.

Every test gets a new database on the worker's private server
(``tests/postgres_server.py``, never the machine's own on 5432).
"""

from __future__ import annotations

import multiprocessing
import sqlite3
from pathlib import Path
from typing import Any

import psycopg
import pytest

from rev_analytics.core.errors import ConfigError, StorageError
from rev_analytics.core.timefmt import datetime_from_micros
from storage import open_store
from storage.columns import COLUMNS
from storage.postgres.schema import LATEST_VERSION
from storage.postgres.store import PostgresStore
from storage.reader import open_reader
from storage.selection import Selection
from tests.storage.test_sqlite_store import event


def rows(url: str, sql: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(url) as conn:
        return conn.execute(sql).fetchall()


def test_insert_is_idempotent_on_event_id(pg_url: str) -> None:
    with open_store(pg_url) as store:
        assert isinstance(store, PostgresStore)
        assert store.insert_events([event("a"), event("b")]) == 2
        assert store.insert_events([event("b"), event("c"), event("c")]) == 1
        assert store.insert_events([]) == 0
        assert store.count() == 3


def test_same_columns_as_the_sqlite_store(pg_url: str, db_path: Path) -> None:
    open_store(pg_url).close()
    open_store(db_path).close()
    with sqlite3.connect(db_path) as conn:
        lite = [r[1] for r in conn.execute("PRAGMA table_info(prompt_metrics)")]
    pg = [r[0] for r in rows(pg_url, "SELECT column_name FROM information_schema.columns WHERE "
                                     "table_name = 'prompt_metrics' ORDER BY ordinal_position")]
    assert pg == lite == ["id", *COLUMNS]


def test_event_time_is_exact_to_the_microsecond_and_success_is_0_or_1(pg_url: str) -> None:
    times = [1764316341_500001, 0, -1_500_000, 4_102_444_799_999_999, 1]
    with open_store(pg_url) as store:
        store.insert_events([event(f"e{i}", timestamp=t, success=i % 2 == 0)
                             for i, t in enumerate(times)])
        store.insert_events([event("stamped")], ingested_at=1_700_000_000.25)
    stored = rows(pg_url, "SELECT (extract(epoch FROM timestamp) * 1000000)::bigint, success "
                          "FROM prompt_metrics WHERE event_id <> 'stamped' ORDER BY id")
    assert stored == [(t, int(i % 2 == 0)) for i, t in enumerate(times)]
    (stamp,), = rows(pg_url, "SELECT extract(epoch FROM ingested_at) FROM prompt_metrics "
                             "WHERE event_id = 'stamped'")
    assert float(stamp) == 1_700_000_000.25


def test_hostile_ids_and_metadata_are_stored_verbatim(pg_url: str) -> None:
    hostile = "x'); DROP TABLE prompt_metrics; --\t\\N\\.\n<script>\"é😀"
    with open_store(pg_url) as store:
        store.insert_events([event("h", template_id=hostile, model_id=hostile,
                                   metadata='{"k": "\\\\N\\t"}')])
    assert rows(pg_url, "SELECT template_id, model_id, metadata FROM prompt_metrics") == [
        (hostile, hostile, '{"k": "\\\\N\\t"}')]


def test_outcomes_stay_exact_through_inserts_duplicates_updates_and_deletes(pg_url: str) -> None:
    events = [event(f"e{i}", template_id=f"t{i % 3}", prompt_id=f"p{i % 5}",
                    experiment_id=None if i % 4 else "x", success=i % 3 == 0)
              for i in range(300)]
    with open_store(pg_url) as store:
        store.insert_events(events[:200])
        store.insert_events(events[100:])  # half of them duplicates
    with psycopg.connect(pg_url) as conn:
        conn.execute("DELETE FROM prompt_metrics WHERE event_id LIKE 'e1%'")
        conn.execute("UPDATE prompt_metrics SET success = 1 - success, template_id = 'moved' "
                     "WHERE event_id LIKE 'e2%'")
    truth = rows(pg_url, "SELECT template_id, model_id, prompt_id, coalesce(experiment_id, ''), "
                         "COUNT(*), SUM(success) FROM prompt_metrics GROUP BY 1, 2, 3, 4 "
                         "ORDER BY 1, 2, 3, 4")
    kept = rows(pg_url, "SELECT template_id, model_id, prompt_id, experiment_id, executions, "
                        "successes FROM prompt_outcomes WHERE executions > 0 ORDER BY 1, 2, 3, 4")
    assert kept == truth


def test_schema_version_is_recorded_and_a_newer_one_is_refused(pg_url: str) -> None:
    open_store(pg_url).close()
    open_store(pg_url).close()
    assert [v for (v,) in rows(pg_url, "SELECT version FROM schema_version")] == list(
        range(1, LATEST_VERSION + 1))
    with psycopg.connect(pg_url) as conn:
        conn.execute("INSERT INTO schema_version VALUES (%s, now())", (LATEST_VERSION + 1,))
    with pytest.raises(StorageError, match="newer than this"):
        open_store(pg_url)


def _open_and_insert(url: str, index: int, start: Any) -> None:
    start.wait()
    with open_store(url) as store:
        store.insert_events([event(f"p{index}-{i}") for i in range(10)])


def test_consumers_starting_at_once_migrate_a_new_database_once(pg_url: str) -> None:
    context = multiprocessing.get_context("spawn")
    start = context.Event()
    children = [context.Process(target=_open_and_insert, args=(pg_url, i, start))
                for i in range(6)]
    for child in children:
        child.start()
    start.set()
    for child in children:
        child.join(60)
    assert [child.exitcode for child in children] == [0] * 6
    assert rows(pg_url, "SELECT COUNT(*) FROM schema_version") == [(LATEST_VERSION,)]
    assert rows(pg_url, "SELECT COUNT(*) FROM prompt_metrics") == [(60,)]


def test_a_lost_connection_is_transient_and_the_next_write_reconnects(pg_url: str) -> None:
    with open_store(pg_url) as store:
        store.insert_events([event("before")])
        with psycopg.connect(pg_url, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                          "WHERE application_name = 'rev-analytics'")
        with pytest.raises(store.transient_errors):
            store.insert_events([event("lost")])
        assert store.insert_events([event("lost"), event("after")]) == 2
        assert store.count() == 3


def test_a_failed_transaction_leaves_nothing_behind(pg_url: str) -> None:
    with open_store(pg_url) as store, psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("""CREATE FUNCTION fail() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN IF NEW.event_id = 'bad' THEN RAISE EXCEPTION 'simulated'; END IF;
            RETURN NEW; END $$""")
        conn.execute("CREATE TRIGGER fail BEFORE INSERT ON prompt_metrics "
                     "FOR EACH ROW EXECUTE FUNCTION fail()")
        with pytest.raises(psycopg.Error):
            store.insert_events([event("good"), event("bad")])
        assert store.count() == 0
        assert rows(pg_url, "SELECT COUNT(*) FROM prompt_outcomes") == [(0,)]
        assert store.insert_events([event("good")]) == 1


def test_the_reader_returns_what_the_sqlite_reader_returns(pg_url: str, db_path: Path) -> None:
    events = [event(f"e{i}", template_id=f"t{i % 3}", model_id=f"m{i % 2}",
                    timestamp=1764316341_000000 + i * 1_000_003, success=i % 3 != 0,
                    response_length=i if i % 5 else None, cost=i / 7 if i % 2 else None,
                    domain=None if i % 4 else "math", difficulty_level=1 + i % 5,
                    experiment_id="x" if i % 2 else None, metadata=f'{{"i": {i}}}')
               for i in range(500)]
    for db in (pg_url, db_path):
        with open_store(db) as store:
            store.insert_events(events, ingested_at=1_764_400_000.0)
    selections = [None, Selection(templates=["t1", "t2"], models=["m0"]),
                  Selection(since=datetime_from_micros(events[100].timestamp), experiments=["x"]),
                  Selection(domains=["math"])]
    with open_reader(pg_url) as pg, open_reader(db_path) as lite:
        for selection in selections:
            assert pg.table(selection=selection).equals(lite.table(selection=selection))
            assert pg.total(selection) == lite.total(selection)
            for by in (["template_id"], ["template_id", "model_id", "experiment_id"],
                       ["domain", "difficulty_level"]):
                assert sorted(pg.outcome_counts(by, selection), key=repr) == sorted(
                    lite.outcome_counts(by, selection), key=repr)
        chunks = list(pg.batches(("event_id", "timestamp"), chunk_rows=64))
        assert max(c.num_rows for c in chunks) <= 64
        ordered = [r["event_id"] for c in chunks for r in c.to_pylist()]
        assert ordered == [e.event_id for e in events]


def test_a_missing_driver_is_one_line_naming_the_pip_install(
        pg_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "psycopg" else real(name, *a))
    with pytest.raises(ConfigError, match=r"pip install 'rev-analytics\[postgresql\]'"):
        open_store(pg_url)

