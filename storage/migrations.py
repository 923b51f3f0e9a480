"""Schema migrations for the SQLite store.

Each migration is a list of statements applied in one transaction, and the
version reached is recorded in ``schema_version``. Adding a migration means
appending to :data:`MIGRATIONS`; never edit one that has shipped.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime

MIGRATIONS: list[list[str]] = [
    # 1: the design document's table plus event_id/stream_id for exactly-once storage.
    [
        """
        CREATE TABLE prompt_metrics (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            event_id TEXT NOT NULL UNIQUE,
            stream_id TEXT,
            schema_version INTEGER NOT NULL DEFAULT 1,
            prompt_id TEXT NOT NULL,
            template_id TEXT NOT NULL,
            model_id TEXT NOT NULL,
            timestamp DATETIME NOT NULL,
            success BOOLEAN NOT NULL CHECK (success IN (0, 1)),
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
            ingested_at DATETIME
        )
        """,
        "CREATE INDEX idx_prompt_timestamp ON prompt_metrics(timestamp)",
        "CREATE INDEX idx_template_id ON prompt_metrics(template_id, timestamp)",
        "CREATE INDEX idx_model_id ON prompt_metrics(model_id, timestamp)",
    ],
]

LATEST_VERSION = len(MIGRATIONS)


def current_version(conn: sqlite3.Connection) -> int:
    """The schema version recorded in ``conn``'s database (0 for a new one)."""
    exists = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'"
    ).fetchone()
    if not exists:
        return 0
    row = conn.execute("SELECT MAX(version) FROM schema_version").fetchone()
    return int(row[0] or 0)


def migrate(conn: sqlite3.Connection) -> int:
    """Bring ``conn``'s database to :data:`LATEST_VERSION`; return the version reached.

    Each step commits on its own, so an interrupted upgrade resumes where it
    stopped. A database newer than this code is refused by the caller.
    Each step takes the write lock (``BEGIN IMMEDIATE``) *before* reading the
    version it starts from: several consumers opening a new database at the
    same moment then apply each step once instead of racing to create the
    same table.
    """
    version = current_version(conn)
    while version < LATEST_VERSION:
        conn.execute("BEGIN IMMEDIATE")
        try:
            version = current_version(conn)
            if version < LATEST_VERSION:
                number = version + 1
                conn.execute(
                    "CREATE TABLE IF NOT EXISTS schema_version ("
                    " version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)"
                )
                for statement in MIGRATIONS[number - 1]:
                    conn.execute(statement)
                conn.execute(
                    "INSERT INTO schema_version (version, applied_at) VALUES (?, ?)",
                    (number, datetime.now(UTC).isoformat()),
                )
                version = number
            conn.commit()
        except BaseException:
            conn.rollback()
            raise
    return version
