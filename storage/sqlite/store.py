"""The SQLite store: one table of prompt executions, idempotent on ``event_id``.

One :class:`SqliteStore` owns one connection. That keeps ``:memory:``
databases working (every new connection to ``:memory:`` would be a new, empty
database) and lets the consumer hand the store to a single writer thread.
"""

from __future__ import annotations

import functools
import sqlite3
import time
from collections.abc import Iterable, Sequence
from itertools import chain
from pathlib import Path

from rev_analytics.core.errors import StorageError
from rev_analytics.core.event import PromptEvent
from rev_analytics.core.timefmt import micros_from_seconds
from storage.base import Closing
from storage.columns import EVENT_COLUMNS, TABLE
from storage.sqlite.schema import CATCH_UP_OUTCOMES, LATEST_VERSION, current_version, migrate

ROWS_PER_STATEMENT = 1500
"""Rows one INSERT carries (its VALUES list): 1500 x 21 parameters, under SQLite's 32,766."""


def statement_sizes(rows: int) -> list[int]:
    """How ``rows`` rows are split into INSERTs: full statements, then powers of two.

    Python's sqlite3 keeps the last 128 prepared statements, and a prepared
    1,500-row INSERT is about a megabyte of SQLite program. Windows of any
    size (a live stream closes them by time) with the remainder in one
    statement made up to 128 such programs of different lengths: a consumer
    following a live stream sat at ~370 MiB where one draining a backlog (full
    windows) needed 130. Powers of two keep the distinct statements to 12.
    """
    sizes = [ROWS_PER_STATEMENT] * (rows // ROWS_PER_STATEMENT)
    rest = rows % ROWS_PER_STATEMENT
    while rest:
        size = 1 << (rest.bit_length() - 1)
        sizes.append(size)
        rest -= size
    return sizes


@functools.cache
def _insert(rows: int, stamped: bool) -> str:
    """``INSERT OR IGNORE`` of ``rows`` events (plus ``ingested_at`` when ``stamped``).

    Many rows per statement, not ``executemany``: Python's sqlite3 releases the
    GIL around every step, and a step per row let the consumer's event loop,
    busy decoding the next window, take the GIL back after each row, so that
    each row waited for a GIL switch interval (5 ms). One step per 256 rows
    runs the B-tree work of all of them without the GIL. ``ingested_at``
    otherwise comes from the column's default (the store's clock).
    """
    columns = [*EVENT_COLUMNS, "ingested_at"] if stamped else list(EVENT_COLUMNS)
    row = f"({', '.join('?' for _ in columns)})"
    return f"INSERT OR IGNORE INTO {TABLE} ({', '.join(columns)}) VALUES " + ", ".join(
        [row] * rows)


def _enable_wal(conn: sqlite3.Connection, timeout: float) -> None:
    """``PRAGMA journal_mode=WAL``, retried for up to ``timeout`` seconds.

    While another connection is switching the same new file to WAL, SQLite
    answers "database is locked" at once, without waiting in its busy
    handler: consumers started together on a new database failed on it.
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


class SqliteStore(Closing):
    """A SQLite database holding the ``prompt_metrics`` table.

    ``path`` is a file path or ``":memory:"``. Opening creates or migrates
    the schema. ``synchronous`` is FULL by default: a commit is on disk
    before the consumer acknowledges the entries it holds.
    """

    transient_errors: tuple[type[BaseException], ...] = (sqlite3.Error,)

    def __init__(
        self,
        path: str | Path,
        *,
        busy_timeout: float = 5.0,
        synchronous: str = "FULL",
        read_only: bool = False,
    ) -> None:
        self.path = str(path)
        try:
            if read_only:
                if self.path == ":memory:" or not Path(self.path).exists():
                    raise StorageError(f"no database at {self.path}")
                uri = Path(self.path).resolve().as_uri() + "?mode=ro"
                self.conn = sqlite3.connect(
                    uri, uri=True, timeout=busy_timeout, check_same_thread=False
                )
            else:
                if self.path != ":memory:":
                    Path(self.path).parent.mkdir(parents=True, exist_ok=True)
                self.conn = sqlite3.connect(
                    self.path, timeout=busy_timeout, check_same_thread=False
                )
                _enable_wal(self.conn, busy_timeout)
                self.conn.execute(f"PRAGMA synchronous={synchronous}")
            version = current_version(self.conn)
            if version > LATEST_VERSION:
                raise StorageError(
                    f"{self.path} has schema version {version}, newer than this "
                    f"rev-analytics understands ({LATEST_VERSION}); upgrade rev-analytics"
                )
            if not read_only:
                migrate(self.conn)
            elif version == 0:
                raise StorageError(f"{self.path} is not a rev-analytics database")
        except sqlite3.OperationalError as exc:
            if "locked" in str(exc) or "busy" in str(exc):
                # Another process holds the database: a runtime condition
                # (exit 1), not bad input (StorageError, exit 2).
                raise
            raise StorageError(f"cannot open database {self.path}: {exc}") from exc
        except sqlite3.DatabaseError as exc:
            raise StorageError(f"cannot open database {self.path}: {exc}") from exc

    def insert_events(
        self, events: Iterable[PromptEvent], ingested_at: float | None = None
    ) -> int:
        """Insert ``events`` in one transaction; return how many rows were new.

        Events whose ``event_id`` is already stored are skipped, which makes a
        redelivered entry or a producer's retry harmless. On any error the
        transaction is rolled back and the error propagates: the caller must
        not acknowledge anything from this batch. ``ingested_at`` (Unix
        seconds) overrides the store's clock, for reproducible test data.
        """
        # A generator is welcome (the simulator's workloads are generators); the
        # multi-row statements below slice, so it is materialised once.
        rows: Sequence[tuple[object, ...]] = (
            events if isinstance(events, Sequence) else list(events))
        if ingested_at is not None:
            stamp = micros_from_seconds(ingested_at)
            rows = [(*event, stamp) for event in rows]
        inserted = 0
        with self.conn:
            start = 0
            for size in statement_sizes(len(rows)):
                chunk = rows[start:start + size]
                start += size
                cursor = self.conn.execute(_insert(size, ingested_at is not None),
                                           list(chain.from_iterable(chunk)))
                # rowcount: rows this INSERT added (a skipped duplicate adds none).
                inserted += max(cursor.rowcount, 0)
            # The per-prompt counts, in the same transaction: exact with the rows.
            for statement in CATCH_UP_OUTCOMES:
                self.conn.execute(statement)
        return inserted

    def count(self) -> int:
        """Number of stored executions."""
        return int(self.conn.execute(f"SELECT COUNT(*) FROM {TABLE}").fetchone()[0])

    def close(self) -> None:
        self.conn.close()
