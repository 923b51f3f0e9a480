"""The SQLite schema: created at the latest version, or upgraded step by step.

A new file gets :func:`latest_schema` (derived from :mod:`storage.columns`)
in one transaction. A file of an older version goes through the
:data:`UPGRADES` after it, each in its own transaction, so an interrupted
upgrade resumes where it stopped. Upgrades are history: never edit one that
has shipped; ``tests/storage/test_sqlite_schema.py`` checks that upgrading a
version-1 file ends in exactly the schema a new file gets.

Layout (version 2), chosen for ingest and for the batch reads (README,
"Storage layout"): rows in arrival order under an integer row id (no
AUTOINCREMENT bookkeeping); ``event_id`` unique (exactly once); event time
as integer microseconds; no secondary index on ``prompt_metrics``: batch
jobs scan it, and every index costs a random B-tree write per row when event
times arrive out of order. What A/B tests and model comparisons need,
executions and successes per (template, model, prompt, experiment), lives in
the small ``prompt_outcomes`` table, brought up to date in the same
transaction as the rows (:data:`CATCH_UP_OUTCOMES`).
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime

from storage.columns import (
    OUTCOME_KEYS,
    OUTCOMES_TABLE,
    SQLITE_TYPES,
    TABLE,
    column_definitions,
)

LATEST_VERSION = 2

INGESTED_AT_DEFAULT = "(CAST((julianday('now') - 2440587.5) * 86400000000 AS INTEGER))"
"""The store's clock in integer microseconds (SQLite's 'now' has millisecond resolution)."""

_KEYS = ", ".join(OUTCOME_KEYS)
_NEW_KEYS = ", ".join(
    f"coalesce(NEW.{k}, '')" if k == "experiment_id" else f"NEW.{k}" for k in OUTCOME_KEYS)
_OLD_MATCH = " AND ".join(
    f"{k} = coalesce(OLD.{k}, '')" if k == "experiment_id" else f"{k} = OLD.{k}"
    for k in OUTCOME_KEYS)

OUTCOMES_THROUGH_TABLE = f"{OUTCOMES_TABLE}_through"
"""One row: the highest ``prompt_metrics.id`` that ``prompt_outcomes`` counts."""

_THROUGH = f"(SELECT through FROM {OUTCOMES_THROUGH_TABLE})"

# Why a watermark and not an AFTER INSERT trigger: a row trigger runs one
# upsert program per inserted row, about 5 us of the writer thread's CPU per
# event (measured beside the plain insert); the catch-up below counts a whole
# window with one GROUP BY over the new rows (a range of the integer key) and
# one upsert per key. It also counts rows that something other than the store
# inserted, at the next store write; until then readers see the watermark
# behind and count from the rows themselves (storage.reader).
OUTCOME_STATEMENTS: tuple[str, ...] = (
    f"""CREATE TABLE {OUTCOMES_TABLE} (
        template_id TEXT NOT NULL, model_id TEXT NOT NULL, prompt_id TEXT NOT NULL,
        experiment_id TEXT NOT NULL DEFAULT '',
        executions INTEGER NOT NULL, successes INTEGER NOT NULL,
        PRIMARY KEY ({_KEYS})
    ) WITHOUT ROWID""",
    f"""CREATE TABLE {OUTCOMES_THROUGH_TABLE} (
        only_row INTEGER PRIMARY KEY CHECK (only_row = 1),
        through INTEGER NOT NULL
    )""",
    f"INSERT INTO {OUTCOMES_THROUGH_TABLE} (only_row, through) VALUES (1, 0)",
    # Rows up to the watermark are counted: a delete or an update of one of them
    # corrects the counts at once. Deleting the newest rows lowers the watermark
    # to the newest row left, because SQLite gives the next insert max(id) + 1,
    # which must lie above it to be counted.
    f"""CREATE TRIGGER {OUTCOMES_TABLE}_delete AFTER DELETE ON {TABLE}
    WHEN OLD.id <= {_THROUGH} BEGIN
        UPDATE {OUTCOMES_TABLE} SET executions = executions - 1,
                                    successes = successes - OLD.success
        WHERE {_OLD_MATCH};
        UPDATE {OUTCOMES_THROUGH_TABLE}
        SET through = min(through, (SELECT coalesce(max(id), 0) FROM {TABLE}));
    END""",
    f"""CREATE TRIGGER {OUTCOMES_TABLE}_update
    AFTER UPDATE OF {_KEYS}, success ON {TABLE} WHEN OLD.id <= {_THROUGH} BEGIN
        UPDATE {OUTCOMES_TABLE} SET executions = executions - 1,
                                    successes = successes - OLD.success
        WHERE {_OLD_MATCH};
        INSERT INTO {OUTCOMES_TABLE} ({_KEYS}, executions, successes)
        VALUES ({_NEW_KEYS}, 1, NEW.success)
        ON CONFLICT DO UPDATE SET executions = executions + 1,
                                  successes = successes + excluded.successes;
    END""",
)

CATCH_UP_OUTCOMES: tuple[str, ...] = (
    # "WHERE id > ..." also keeps SQLite's parser from reading ON CONFLICT as a join.
    f"""INSERT INTO {OUTCOMES_TABLE} ({_KEYS}, executions, successes)
        SELECT template_id, model_id, prompt_id, coalesce(experiment_id, ''),
               COUNT(*), SUM(success)
        FROM {TABLE} WHERE id > {_THROUGH}
        GROUP BY template_id, model_id, prompt_id, experiment_id
        ON CONFLICT DO UPDATE SET executions = executions + excluded.executions,
                                  successes = successes + excluded.successes""",
    f"""UPDATE {OUTCOMES_THROUGH_TABLE}
        SET through = (SELECT coalesce(max(id), 0) FROM {TABLE})
        WHERE through < (SELECT coalesce(max(id), 0) FROM {TABLE})""",
)
"""Count the rows above the watermark and move it up: run in the transaction
that inserted them, after the inserts (the transaction holds the write lock,
so no other writer's rows can slip between the count and the new mark)."""

OUTCOMES_CURRENT = (f"SELECT {_THROUGH} >= (SELECT coalesce(max(id), 0) FROM {TABLE})")
"""1 when ``prompt_outcomes`` counts every row (two B-tree lookups)."""


def latest_schema() -> list[str]:
    """The statements that create a new store at :data:`LATEST_VERSION`."""
    columns = ",\n    ".join(
        ["id INTEGER PRIMARY KEY", *column_definitions(SQLITE_TYPES, INGESTED_AT_DEFAULT)])
    return [f"CREATE TABLE {TABLE} (\n    {columns}\n)", *OUTCOME_STATEMENTS]


# Version 1 kept event time as 'YYYY-MM-DD HH:MM:SS.ffffff' text (UTC) and had
# AUTOINCREMENT plus three indexes on that text. The conversion is exact:
# whole seconds through strftime('%s'), microseconds from the text.
_V1_MICROS = ("(CAST(strftime('%s', substr({0}, 1, 19)) AS INTEGER) * 1000000"
              " + CAST(substr({0}, 21, 6) AS INTEGER))")
_V2_TABLE = f"""CREATE TABLE {TABLE}_v2 (
    id INTEGER PRIMARY KEY,
    event_id TEXT NOT NULL UNIQUE,
    stream_id TEXT,
    prompt_id TEXT NOT NULL,
    template_id TEXT NOT NULL,
    model_id TEXT NOT NULL,
    timestamp INTEGER NOT NULL,
    success INTEGER NOT NULL CHECK (success IN (0, 1)),
    response_length INTEGER,
    execution_time REAL,
    discrimination_score REAL,
    behavioral_score REAL,
    quality_score REAL,
    difficulty_level INTEGER,
    domain TEXT,
    cost REAL,
    error_type TEXT,
    response_hash TEXT,
    metadata TEXT,
    experiment_id TEXT,
    schema_version INTEGER NOT NULL DEFAULT 1,
    ingested_at INTEGER NOT NULL DEFAULT {INGESTED_AT_DEFAULT}
)"""
_V1_COPIED = ("id, event_id, stream_id, prompt_id, template_id, model_id, success, "
              "response_length, execution_time, discrimination_score, behavioral_score, "
              "quality_score, difficulty_level, domain, cost, error_type, response_hash, "
              "metadata, schema_version")

UPGRADES: dict[int, list[str]] = {
    # 1 -> 2: integer event time, no AUTOINCREMENT, no secondary indexes, experiment_id,
    # and the prompt_outcomes table.
    2: [
        _V2_TABLE,
        f"""INSERT INTO {TABLE}_v2 ({_V1_COPIED}, timestamp, ingested_at)
            SELECT {_V1_COPIED}, {_V1_MICROS.format('timestamp')},
                   coalesce({_V1_MICROS.format('ingested_at')}, {INGESTED_AT_DEFAULT})
            FROM {TABLE} ORDER BY id""",
        f"DROP TABLE {TABLE}",
        f"ALTER TABLE {TABLE}_v2 RENAME TO {TABLE}",
        *OUTCOME_STATEMENTS,
        *CATCH_UP_OUTCOMES,
    ],
}


def current_version(conn: sqlite3.Connection) -> int:
    """The schema version recorded in ``conn``'s database (0 for a new one)."""
    exists = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'"
    ).fetchone()
    if not exists:
        return 0
    row = conn.execute("SELECT MAX(version) FROM schema_version").fetchone()
    return int(row[0] or 0)


def _record(conn: sqlite3.Connection, version: int) -> None:
    conn.execute(
        "INSERT INTO schema_version (version, applied_at) VALUES (?, ?)",
        (version, datetime.now(UTC).isoformat()),
    )


def migrate(conn: sqlite3.Connection) -> int:
    """Bring ``conn``'s database to :data:`LATEST_VERSION`; return the version reached.

    Each step takes the write lock (``BEGIN IMMEDIATE``) *before* reading the
    version it starts from: several consumers opening a new database at the
    same moment then apply each step once instead of racing to create the
    same table. A database newer than this code is refused by the caller.
    """
    version = current_version(conn)
    while version < LATEST_VERSION:
        conn.execute("BEGIN IMMEDIATE")
        try:
            version = current_version(conn)
            if version == 0:
                conn.execute("CREATE TABLE schema_version ("
                             " version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)")
                for statement in latest_schema():
                    conn.execute(statement)
                for number in range(1, LATEST_VERSION + 1):
                    _record(conn, number)
                version = LATEST_VERSION
            elif version < LATEST_VERSION:
                number = version + 1
                for statement in UPGRADES[number]:
                    conn.execute(statement)
                _record(conn, number)
                version = number
            conn.commit()
        except BaseException:
            conn.rollback()
            raise
    return version
